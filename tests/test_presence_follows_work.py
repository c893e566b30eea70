"""Presence follows the work (issue 16): busy at the concurrency cap, available again below it,
after-contact work between the last resolve and the next contact (handle time of that contact's
firm alone), ended by Next, by "Ready" or by a break."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import worker
from app.agents.models import Agent, AgentEvent, AgentTimeSegment
from app.contacts.models import Contact
from app.db import db, utcnow
from tenants.scoping import tenant_scope, unscoped
from tests.http_helpers import assert_problem
from tests.test_agents_api import events_of, make_queue, segments_of
from tests.test_claim_next import add_contact, claim, working_agent

CHATS_OF_TWO = {"channels": ["chat"], "concurrency": {"chat": 2}}


def me(client, caller) -> dict:
    response = client.get("/v1/me", headers=caller.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["agent"]


def presence(client, caller) -> str:
    return me(client, caller)["presence"]


def set_presence(client, caller, value: str):
    return client.put("/v1/me/presence", json={"presence": value}, headers=caller.headers)


def next_contact(client, caller) -> str:
    response = claim(client, caller)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["id"]


def act(client, caller, tenant, contact_id, action, **body):
    response = client.post(
        f"/v1/tenants/{tenant.id}/contacts/{contact_id}/{action}", json=body, headers=caller.headers
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def work_through(client, caller, tenant, contact_id) -> dict:
    """Answer the chat and resolve it, as the agent holding it."""
    act(client, caller, tenant, contact_id, "answer")
    return act(
        client,
        caller,
        tenant,
        contact_id,
        "resolve",
        disposition="information_given",
        resolution_note="Answered.",
    )


def wrapping_up_for(app, agent_id, seconds: int) -> None:
    """Let `seconds` pass in the agent's after-contact work (its start moves back: the
    agent's presence, the event and the time segment that recorded it)."""
    with app.app_context():
        agent = db.session.get(Agent, uuid.UUID(str(agent_id)))
        assert agent.presence == "after_contact_work"
        started = db.session.scalars(
            select(AgentEvent).where(
                AgentEvent.agent_id == agent.id,
                AgentEvent.presence == "after_contact_work",
                AgentEvent.occurred_at == agent.presence_since,
            )
        ).one()
        agent.presence_since -= timedelta(seconds=seconds)
        started.occurred_at = agent.presence_since
        # The test moves the running segment, in whichever firm it is.
        with unscoped():
            for segment in db.session.scalars(
                select(AgentTimeSegment).where(
                    AgentTimeSegment.agent_id == agent.id, AgentTimeSegment.ended_at.is_(None)
                )
            ):
                segment.started_at -= timedelta(seconds=seconds)
        db.session.commit()


def acw_seconds(app, tenant, contact_id) -> int:
    with app.app_context(), tenant_scope(tenant.id):
        return db.session.get(Contact, uuid.UUID(str(contact_id))).acw_seconds


def agent_time(client, reader, tenant) -> dict:
    """The firm's agent-time report from an hour ago to a minute ahead, per agent's id."""
    now = utcnow()
    response = client.get(
        f"/v1/tenants/{tenant.id}/reports/agent-time",
        query_string={
            "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(minutes=1)).isoformat(),
        },
        headers=reader.headers,
    )
    assert response.status_code == 200, response.get_json()
    return {row["agent_id"]: row for row in response.get_json()["agents"]}


def test_an_agent_busy_at_its_chat_cap_is_available_below_it_and_wraps_up_after_the_last(
    app, client, factory
):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    agent, caller = working_agent(client, factory, [queue], **CHATS_OF_TWO)
    for minutes in (9, 8):
        add_contact(app, tenant, queue, channel="chat", waited=timedelta(minutes=minutes))

    first = next_contact(client, caller)
    assert presence(client, caller) == "available"
    second = next_contact(client, caller)
    mine = me(client, caller)
    assert (mine["presence"], mine["presence_auto"]) == ("busy", True)
    # Recorded like any presence change, with the agent who claimed as the actor.
    last = events_of(app, agent["id"])[-1]
    assert (last.kind, last.presence, str(last.actor_user_id)) == (
        "presence",
        "busy",
        agent["user_id"],
    )

    work_through(client, caller, tenant, first)
    mine = me(client, caller)
    assert (mine["presence"], mine["presence_auto"]) == ("available", False)

    work_through(client, caller, tenant, second)
    mine = me(client, caller)
    assert mine["presence"] == "after_contact_work"
    assert (mine["acw_contact_id"], mine["acw_tenant_id"]) == (second, str(tenant.id))
    assert [e.presence for e in events_of(app, agent["id"])][-3:] == [
        "busy",
        "available",
        "after_contact_work",
    ]


def test_next_from_after_contact_work_ends_it_claims_and_bills_the_wrap_up_to_the_contact(
    app, client, factory
):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    agent, caller = working_agent(client, factory, [queue], **CHATS_OF_TWO)
    for minutes in (9, 8):
        add_contact(app, tenant, queue, channel="chat", waited=timedelta(minutes=minutes))
    resolved = work_through(client, caller, tenant, next_contact(client, caller))
    assert presence(client, caller) == "after_contact_work"
    wrapping_up_for(app, agent["id"], 90)

    following = next_contact(client, caller)

    assert following != resolved["id"]
    assert presence(client, caller) == "available"
    assert 90 <= acw_seconds(app, tenant, resolved["id"]) - resolved["acw_seconds"] < 95
    # The contact's handle time says so too.
    reader = factory.caller("supervisor", tenant)
    contact = client.get(
        f"/v1/tenants/{tenant.id}/contacts/{resolved['id']}", headers=reader.headers
    ).get_json()
    assert contact["handle_seconds"] >= 90
    # And the wrap-up was working time of the firm.
    row = agent_time(client, reader, tenant)[agent["id"]]
    assert 90 <= row["after_contact_work_seconds"] < 95
    parts = ("available_seconds", "busy_seconds", "after_contact_work_seconds")
    assert row["working_seconds"] == pytest.approx(sum(row[p] for p in parts), abs=0.02)


def test_a_busy_the_agent_chose_stays_busy_whatever_the_work_does(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    _agent, caller = working_agent(client, factory, [queue], **CHATS_OF_TWO)
    for minutes in (9, 8):
        add_contact(app, tenant, queue, channel="chat", waited=timedelta(minutes=minutes))
    first, second = next_contact(client, caller), next_contact(client, caller)
    assert me(client, caller)["presence_auto"] is True

    chosen = set_presence(client, caller, "busy")
    assert chosen.status_code == 200, chosen.get_json()
    assert (chosen.get_json()["presence"], chosen.get_json()["presence_auto"]) == ("busy", False)

    work_through(client, caller, tenant, first)
    assert presence(client, caller) == "busy"
    work_through(client, caller, tenant, second)
    assert presence(client, caller) == "busy"  # no wrap-up either: the agent said busy
    assert_problem(claim(client, caller), 409)


def test_a_break_ends_after_contact_work_and_its_time_goes_to_the_contact(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    agent, caller = working_agent(client, factory, [queue], **CHATS_OF_TWO)
    add_contact(app, tenant, queue, channel="chat")
    resolved = work_through(client, caller, tenant, next_contact(client, caller))
    wrapping_up_for(app, agent["id"], 60)

    response = set_presence(client, caller, "break")

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["presence"], body["acw_contact_id"], body["acw_tenant_id"]) == (
        "break",
        None,
        None,
    )
    assert 60 <= acw_seconds(app, tenant, resolved["id"]) - resolved["acw_seconds"] < 65
    # Nothing runs on for the firm during the break.
    assert all(s.ended_at is not None for s in segments_of(app, agent["id"]))


def test_a_contact_reopened_during_its_wrap_up_still_gets_the_wrap_up_time(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    agent, caller = working_agent(client, factory, [queue], **CHATS_OF_TWO)
    add_contact(app, tenant, queue, channel="chat")
    resolved = work_through(client, caller, tenant, next_contact(client, caller))
    wrapping_up_for(app, agent["id"], 45)
    # The end customer came back: the firm's integration says so.
    act(client, factory.caller("integration", tenant), tenant, resolved["id"], "reopen")

    ready = set_presence(client, caller, "available")

    assert ready.get_json()["presence"] == "available"
    assert 45 <= acw_seconds(app, tenant, resolved["id"]) - resolved["acw_seconds"] < 50


def test_after_contact_work_is_the_time_of_the_one_firm_whose_contact_it_wraps_up(
    app, client, factory
):
    alpha, beta = factory.tenant(name="Alpha"), factory.tenant(name="Beta")
    queues = [make_queue(app, alpha), make_queue(app, beta)]
    agent, caller = working_agent(client, factory, queues, **CHATS_OF_TWO)
    add_contact(app, alpha, queues[0], channel="chat")
    claimed = next_contact(client, caller)
    work_through(client, caller, alpha, claimed)
    wrapping_up_for(app, agent["id"], 120)

    assert set_presence(client, caller, "available").status_code == 200

    wrap_ups = [s for s in segments_of(app, agent["id"]) if s.presence == "after_contact_work"]
    assert [(s.tenant_id, s.share_bps) for s in wrap_ups] == [(alpha.id, 10000)]
    alpha_row = agent_time(client, factory.caller("supervisor", alpha), alpha)[agent["id"]]
    beta_row = agent_time(client, factory.caller("supervisor", beta), beta)[agent["id"]]
    assert 120 <= alpha_row["after_contact_work_seconds"] < 125
    assert beta_row["after_contact_work_seconds"] == 0
    # Beta's share of the day is its half of the time both firms' queues were active.
    assert beta_row["working_seconds"] < 60


def test_after_contact_work_cannot_be_chosen_by_hand(app, client, factory):
    tenant = factory.tenant()
    _, caller = working_agent(client, factory, [make_queue(app, tenant)], **CHATS_OF_TWO)

    response = set_presence(client, caller, "after_contact_work")

    body = assert_problem(response, 422)
    assert "after_contact_work" in str(body["errors"]["json"]["presence"])
    assert presence(client, caller) == "available"


def test_a_supervisor_resolving_an_agents_last_contact_leaves_it_available(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    _agent, caller = working_agent(client, factory, [queue], **CHATS_OF_TWO)
    add_contact(app, tenant, queue, channel="chat")
    claimed = next_contact(client, caller)
    act(client, caller, tenant, claimed, "answer")
    supervisor = factory.caller("supervisor", tenant)

    act(
        client,
        supervisor,
        tenant,
        claimed,
        "resolve",
        disposition="information_given",
        resolution_note="Closed for the agent.",
    )

    assert presence(client, caller) == "available"


def test_a_supervisor_assigning_a_contact_to_an_agent_wrapping_up_ends_the_wrap_up(
    app, client, factory
):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    agent, caller = working_agent(
        client, factory, [queue], channels=["chat"], concurrency={"chat": 1}
    )
    add_contact(app, tenant, queue, channel="chat", waited=timedelta(minutes=9))
    waiting = add_contact(app, tenant, queue, channel="chat", waited=timedelta(minutes=1))
    resolved = work_through(client, caller, tenant, next_contact(client, caller))
    wrapping_up_for(app, agent["id"], 30)
    supervisor = factory.caller("supervisor", tenant)

    act(client, supervisor, tenant, waiting, "assign", agent_id=agent["id"])

    # Wrap-up over, and at its one-chat cap the agent is busy.
    mine = me(client, caller)
    assert (mine["presence"], mine["presence_auto"]) == ("busy", True)
    assert 30 <= acw_seconds(app, tenant, resolved["id"]) - resolved["acw_seconds"] < 35


def test_the_worker_ends_a_wrap_up_past_the_bpos_maximum_when_it_ran_out(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    agent, caller = working_agent(client, factory, [queue], **CHATS_OF_TWO)
    add_contact(app, tenant, queue, channel="chat")
    resolved = work_through(client, caller, tenant, next_contact(client, caller))
    assert app.config["MAX_WRAP_UP_SECONDS"] == 120
    wrapping_up_for(app, agent["id"], 100)
    with app.app_context():
        assert worker.end_wrap_ups(stop=threading.Event()) == {}
    assert presence(client, caller) == "after_contact_work"
    wrapping_up_for(app, agent["id"], 200)

    with app.app_context():
        assert worker.end_wrap_ups(stop=threading.Event()) == {"ended": 1}

    mine = me(client, caller)
    assert (mine["presence"], mine["acw_contact_id"]) == ("available", None)
    # Ended when the 120 s ran out, not when the worker came by: the contact gets 120 s.
    assert acw_seconds(app, tenant, resolved["id"]) - resolved["acw_seconds"] == 120
    [wrap_up] = [s for s in segments_of(app, agent["id"]) if s.presence == "after_contact_work"]
    assert (wrap_up.ended_at - wrap_up.started_at).total_seconds() == pytest.approx(120, abs=1)
    # Recorded then, as the system's doing.
    ended = [e for e in events_of(app, agent["id"]) if e.occurred_at == wrap_up.ended_at]
    assert [(e.presence, e.actor_user_id) for e in ended] == [("available", None)]


def test_without_a_maximum_the_wrap_up_lasts_until_the_agent_acts(
    app, client, factory, monkeypatch
):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    agent, caller = working_agent(client, factory, [queue], **CHATS_OF_TWO)
    add_contact(app, tenant, queue, channel="chat")
    work_through(client, caller, tenant, next_contact(client, caller))
    wrapping_up_for(app, agent["id"], 3600)
    monkeypatch.setitem(app.config, "MAX_WRAP_UP_SECONDS", 0)

    with app.app_context():
        assert worker.end_wrap_ups(stop=threading.Event()) == {}

    assert presence(client, caller) == "after_contact_work"


def test_an_agent_who_says_available_at_its_cap_is_told_busy(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    _, caller = working_agent(client, factory, [queue], **CHATS_OF_TWO)
    for minutes in (9, 8):
        add_contact(app, tenant, queue, channel="chat", waited=timedelta(minutes=minutes))
    for _ in range(2):
        next_contact(client, caller)
    assert set_presence(client, caller, "busy").get_json()["presence_auto"] is False

    response = set_presence(client, caller, "available")

    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["presence"], response.get_json()["presence_auto"]) == (
        "busy",
        True,
    )


def test_only_the_wrapped_up_contacts_firm_sees_which_contact_it_is(app, client, factory):
    alpha, beta = factory.tenant(name="Alpha"), factory.tenant(name="Beta")
    queues = [make_queue(app, alpha), make_queue(app, beta)]
    agent, caller = working_agent(client, factory, queues, **CHATS_OF_TWO)
    add_contact(app, alpha, queues[0], channel="chat")
    resolved = work_through(client, caller, alpha, next_contact(client, caller))

    def seen_by(tenant) -> dict:
        reader = factory.caller("supervisor", tenant)
        response = client.get(f"/v1/agents/{agent['id']}", headers=reader.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    assert seen_by(alpha)["acw_contact_id"] == resolved["id"]
    beta_view = seen_by(beta)
    assert beta_view["presence"] == "after_contact_work"
    assert (beta_view["acw_contact_id"], beta_view["acw_tenant_id"]) == (None, None)


def test_suspending_the_firm_ends_the_wrap_up_of_its_contact(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    agent, caller = working_agent(client, factory, [queue], **CHATS_OF_TWO)
    add_contact(app, tenant, queue, channel="chat")
    resolved = work_through(client, caller, tenant, next_contact(client, caller))
    wrapping_up_for(app, agent["id"], 30)
    admin = factory.caller("bpo_admin")

    suspended = client.post(f"/v1/tenants/{tenant.id}/suspend", json={}, headers=admin.headers)

    assert suspended.status_code == 200, suspended.get_json()
    assert presence(client, caller) == "available"
    assert 30 <= acw_seconds(app, tenant, resolved["id"]) - resolved["acw_seconds"] < 35
    assert all(s.ended_at is not None for s in segments_of(app, agent["id"]))
