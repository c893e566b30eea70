"""Claim-next (POST /v1/me/next) and what the agent holds (GET /v1/me/contacts): ordering,
skills, languages, channels and concurrency, presence, suspended firms and unusable queues,
and fairness between the client firms an agent serves."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.agents.models import Agent
from app.contacts.models import PRIORITY_RANK, Contact, ContactEvent
from app.db import db, utcnow
from app.queues.models import Queue
from tenants.scoping import tenant_scope
from tests.http_helpers import assert_problem
from tests.test_agents_api import agent_caller, assign, create_agent, make_queue, set_status

_seq = itertools.count(1)
# Why POST /v1/me/next claimed nothing, when the agent is available.
NOTHING_TO_CLAIM = ("no_active_queue", "nothing_waiting", "needs_unmet")


# --- helpers ---------------------------------------------------------------------------------


def add_contact(app, tenant, queue_id, *, waited: timedelta = timedelta(minutes=5), **fields):
    """A waiting contact of the tenant's queue, written directly; return its id."""
    now = utcnow()
    priority = fields.pop("priority", "normal")
    queued_at = fields.pop("queued_at", now - waited)
    values = {
        "channel": "email",
        "direction": "inbound",
        "category": "information_request",
        "priority": priority,
        "priority_rank": PRIORITY_RANK[priority],
        "subject": f"Contact {next(_seq)}",
        "status": "queued",
        "status_since": queued_at,
        "received_at": queued_at,
        "queued_at": queued_at,
        **fields,
    }
    with app.app_context(), tenant_scope(tenant.id):
        contact = Contact(queue_id=queue_id, **values)
        db.session.add(contact)
        db.session.commit()
        return contact.id


def set_agent(app, agent_id, **fields) -> None:
    """Change an agent's profile directly (e.g. past the API's concurrency limit)."""
    with app.app_context():
        agent = db.session.get(Agent, uuid.UUID(str(agent_id)))
        for key, value in fields.items():
            setattr(agent, key, value)
        db.session.commit()


def working_agent(client, factory, queues, *, presence="available", **fields):
    """An agent assigned to these queues, all active, with a presence; return (body, caller)."""
    admin = factory.caller("bpo_admin")
    agent = create_agent(client, admin, **fields)
    assign(client, admin, agent["id"], queues)
    caller = agent_caller(factory, agent)
    response = client.put(
        "/v1/me/active-queues",
        json={"queue_ids": [str(q[0] if isinstance(q, tuple) else q) for q in queues]},
        headers=caller.headers,
    )
    assert response.status_code == 200, response.get_json()
    response = client.put("/v1/me/presence", json={"presence": presence}, headers=caller.headers)
    assert response.status_code == 200, response.get_json()
    return agent, caller


def claim(client, caller):
    return client.post("/v1/me/next", headers=caller.headers)


def claimed_id(client, caller) -> uuid.UUID | None:
    """Claim the next contact; return its id, or None when there is nothing to claim."""
    response = claim(client, caller)
    if response.status_code == 409:
        assert response.get_json()["reason"] in NOTHING_TO_CLAIM, response.get_json()
        return None
    assert response.status_code == 200, response.get_json()
    return uuid.UUID(response.get_json()["id"])


def drain(client, caller) -> list[uuid.UUID]:
    claimed = []
    while (contact_id := claimed_id(client, caller)) is not None:
        claimed.append(contact_id)
    return claimed


def contact_row(app, tenant, contact_id) -> Contact:
    with app.app_context(), tenant_scope(tenant.id):
        return db.session.get(Contact, contact_id)


# --- what is claimed and what it looks like --------------------------------------------------


def test_a_claim_assigns_the_contact_records_it_and_shows_it_among_held(app, client, factory):
    tenant = factory.tenant(name="Acme")
    queue = make_queue(app, tenant, "Complaints")
    agent, caller = working_agent(client, factory, [queue])
    contact_id = add_contact(app, tenant, queue, waited=timedelta(minutes=3), customer_name="Ana")

    response = claim(client, caller)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["id"] == str(contact_id)
    assert body["status"] == "assigned"
    assert body["agent_id"] == agent["id"]
    assert body["tenant"] == {"id": str(tenant.id), "name": "Acme", "status": "active"}
    assert body["queue_name"] == "Complaints"
    assert body["customer_name"] == "Ana"
    assert 170 <= body["queued_seconds"] <= 200
    assert body["queue_wait_seconds"] is None  # claimed, not answered yet
    row = contact_row(app, tenant, contact_id)
    assert row.agent_id == uuid.UUID(agent["id"])
    assert row.assigned_at == row.status_since
    with app.app_context(), tenant_scope(tenant.id):
        events = db.session.scalars(
            select(ContactEvent).where(ContactEvent.contact_id == contact_id)
        ).all()
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("claim", "queued", "assigned")
    ]
    assert events[0].agent_id == uuid.UUID(agent["id"])
    assert events[0].actor_user_id == caller.user_id

    held = client.get("/v1/me/contacts", headers=caller.headers)
    assert held.status_code == 200
    assert [(c["id"], c["tenant"]["name"]) for c in held.get_json()] == [(str(contact_id), "Acme")]

    # Nothing else waits: a problem that says so.
    empty = assert_problem(claim(client, caller), 409)
    assert empty["reason"] == "nothing_waiting"
    assert empty["waiting"] == {"total": 0, "fitting": 0}


def test_claims_go_by_priority_then_sla_deadline_then_age(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    _, caller = working_agent(client, factory, [queue], concurrency={"email": 10})
    now = utcnow()
    old_normal = add_contact(app, tenant, queue, waited=timedelta(hours=2))
    high_no_deadline_newer = add_contact(app, tenant, queue, priority="high")
    high_no_deadline_older = add_contact(
        app, tenant, queue, priority="high", waited=timedelta(minutes=30)
    )
    high_due_later = add_contact(
        app, tenant, queue, priority="high", sla_due_at=now + timedelta(hours=1)
    )
    high_due_soon = add_contact(
        app,
        tenant,
        queue,
        priority="high",
        waited=timedelta(minutes=1),
        sla_due_at=now + timedelta(minutes=20),
    )
    urgent = add_contact(app, tenant, queue, priority="urgent", waited=timedelta(seconds=5))
    low_overdue = add_contact(
        app, tenant, queue, priority="low", sla_due_at=now - timedelta(minutes=5)
    )

    assert drain(client, caller) == [
        urgent,
        high_due_soon,
        high_due_later,
        high_no_deadline_older,
        high_no_deadline_newer,
        old_normal,
        low_overdue,
    ]


def test_a_released_or_reopened_contact_keeps_its_place_by_queued_at(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    _, caller = working_agent(client, factory, [queue], concurrency={"email": 5})
    newer = add_contact(app, tenant, queue, waited=timedelta(minutes=1))
    # Released back to its queue (status queued again, its queued_at as it was) a while ago.
    released = add_contact(
        app,
        tenant,
        queue,
        queued_at=utcnow() - timedelta(minutes=10),
        status_since=utcnow() - timedelta(seconds=30),
    )
    reopened = add_contact(app, tenant, queue, status="reopened", waited=timedelta(minutes=3))

    assert drain(client, caller) == [released, reopened, newer]
    assert contact_row(app, tenant, reopened).status == "assigned"


def test_assignment_priority_breaks_ties_between_queues(app, client, factory):
    tenant = factory.tenant()
    first, second = make_queue(app, tenant), make_queue(app, tenant)
    _, caller = working_agent(client, factory, [(first, 2), (second, 1)], concurrency={"email": 5})
    at = utcnow() - timedelta(minutes=5)
    in_first = add_contact(app, tenant, first, queued_at=at)
    in_second = add_contact(app, tenant, second, queued_at=at)

    assert drain(client, caller) == [in_second, in_first]


# --- what the agent may take -----------------------------------------------------------------


def test_concurrency_per_channel_limits_claims(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    agent, caller = working_agent(
        client,
        factory,
        [queue],
        channels=["chat", "voice"],
        concurrency={"chat": 2, "voice": 1},
    )
    chats = [
        add_contact(app, tenant, queue, channel="chat", waited=timedelta(minutes=m))
        for m in (9, 8, 7)
    ]
    call = add_contact(app, tenant, queue, channel="voice", waited=timedelta(minutes=1))
    add_contact(app, tenant, queue, channel="email", waited=timedelta(hours=1))  # not its channel

    assert drain(client, caller) == [chats[0], chats[1], call]
    held = client.get("/v1/me/contacts", headers=caller.headers).get_json()
    assert sorted(c["id"] for c in held) == sorted(str(c) for c in [chats[0], chats[1], call])

    # Finishing one chat frees a place for the next.
    with app.app_context(), tenant_scope(tenant.id):
        db.session.get(Contact, chats[0]).status = "resolved"
        db.session.commit()
    assert drain(client, caller) == [chats[2]]
    assert contact_row(app, tenant, chats[2]).agent_id == uuid.UUID(agent["id"])


def test_every_held_status_counts_against_concurrency(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    agent, caller = working_agent(client, factory, [queue], concurrency={"email": 5})
    for status in ("assigned", "active", "on_hold", "waiting_customer", "escalated"):
        add_contact(app, tenant, queue, status=status, agent_id=uuid.UUID(agent["id"]))
    add_contact(app, tenant, queue)

    nothing = assert_problem(claim(client, caller), 409)
    assert (nothing["reason"], nothing["needs"]["concurrency"]) == ("needs_unmet", {"email": 1})
    assert len(client.get("/v1/me/contacts", headers=caller.headers).get_json()) == 5


def test_an_agent_with_no_active_queue_is_told_so(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    _, caller = working_agent(client, factory, [queue])
    add_contact(app, tenant, queue)
    switched = client.put("/v1/me/active-queues", json={"queue_ids": []}, headers=caller.headers)
    assert switched.status_code == 200, switched.get_json()

    body = assert_problem(claim(client, caller), 409)

    assert body["reason"] == "no_active_queue"
    assert body["queues"] == {"assigned": 1, "active": 0, "usable": 0}
    assert "PUT /v1/me/active-queues" in body["detail"]


def test_contacts_the_agent_cannot_take_are_counted_by_what_they_need(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    agent, caller = working_agent(
        client,
        factory,
        [queue],
        channels=["email", "chat"],
        concurrency={"email": 1, "chat": 1},
        languages=["es"],
        skills=[],
    )
    add_contact(app, tenant, queue, status="active", agent_id=uuid.UUID(agent["id"]))
    add_contact(app, tenant, queue, channel="voice")  # a channel it does not work
    add_contact(app, tenant, queue, channel="email", language="es")  # email is full
    add_contact(app, tenant, queue, channel="email", language="fr")  # full, and French
    add_contact(app, tenant, queue, channel="chat", language="FR-ca")  # French

    body = assert_problem(claim(client, caller), 409)

    assert body["reason"] == "needs_unmet"
    assert body["waiting"] == {"total": 4, "fitting": 0}
    assert body["needs"] == {
        "channel": {"voice": 1},
        "concurrency": {"email": 2},
        "language": {"fr": 1, "fr-ca": 1},
    }
    assert "4 contacts wait" in body["detail"] and "voice" in body["detail"]


def test_only_contacts_in_a_language_the_agent_speaks(app, client, factory):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    _, caller = working_agent(
        client,
        factory,
        [queue],
        languages=["en"],
        skills=[{"name": "lang:fr", "level": 4}],
        concurrency={"email": 10},
    )
    german = add_contact(app, tenant, queue, language="de", waited=timedelta(hours=1))
    english_gb = add_contact(app, tenant, queue, language="en-GB", waited=timedelta(minutes=9))
    french = add_contact(app, tenant, queue, language="FR", waited=timedelta(minutes=8))
    any_language = add_contact(app, tenant, queue, waited=timedelta(minutes=7))

    assert drain(client, caller) == [english_gb, french, any_language]
    assert contact_row(app, tenant, german).status == "queued"


@pytest.mark.parametrize("presence", ["break", "offline", "busy"])
def test_presence_other_than_available_refuses_claims(app, client, factory, presence):
    tenant = factory.tenant()
    queue = make_queue(app, tenant)
    _, caller = working_agent(client, factory, [queue], presence=presence)
    contact_id = add_contact(app, tenant, queue)

    body = assert_problem(claim(client, caller), 409)

    assert presence in body["detail"]
    assert "set presence to available" in body["detail"]
    assert (body["reason"], body["presence"]) == ("presence_not_available", presence)
    row = contact_row(app, tenant, contact_id)
    assert (row.status, row.agent_id) == ("queued", None)


def test_no_claims_from_suspended_firms_or_unusable_queues(app, client, factory):
    suspended = factory.tenant(name="Suspended")
    tenant = factory.tenant(name="Active")
    suspended_queue = make_queue(app, suspended)
    active_queue, inactive_queue, inactive_assignment = (make_queue(app, tenant) for _ in "abc")
    unassigned_queue = make_queue(app, tenant)
    _, caller = working_agent(
        client,
        factory,
        [suspended_queue, active_queue, inactive_queue, inactive_assignment],
        concurrency={"email": 10},
    )
    # Take one queue out of the agent's active ones; deactivate another and suspend a firm,
    # directly, so that claim-next's own checks are what keeps their contacts out.
    response = client.put(
        "/v1/me/active-queues",
        json={"queue_ids": [str(q) for q in (suspended_queue, active_queue, inactive_queue)]},
        headers=caller.headers,
    )
    assert response.status_code == 200
    with app.app_context(), tenant_scope(tenant.id):
        db.session.get(Queue, inactive_queue).is_active = False
        db.session.commit()
    set_status(app, suspended, "suspended")
    old = timedelta(hours=1)
    out_of_reach = [
        add_contact(app, suspended, suspended_queue, waited=old, priority="urgent"),
        add_contact(app, tenant, inactive_queue, waited=old, priority="urgent"),
        add_contact(app, tenant, inactive_assignment, waited=old, priority="urgent"),
        add_contact(app, tenant, unassigned_queue, waited=old, priority="urgent"),
    ]
    reachable = add_contact(app, tenant, active_queue)

    assert drain(client, caller) == [reachable]
    with app.app_context():
        for owner, contact_id in zip(
            [suspended, tenant, tenant, tenant], out_of_reach, strict=True
        ):
            with tenant_scope(owner.id):
                row = db.session.get(Contact, contact_id)
                assert (row.status, row.agent_id) == ("queued", None)


def test_only_agents_may_claim(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("client_admin", tenant)
    assert_problem(claim(client, admin), 403)
    assert_problem(client.get("/v1/me/contacts", headers=admin.headers), 403)


def test_held_contacts_span_firms_and_leave_out_finished_ones(app, client, factory):
    acme, globex = factory.tenant(name="Acme"), factory.tenant(name="Globex")
    acme_queue, globex_queue = make_queue(app, acme), make_queue(app, globex)
    agent, caller = working_agent(client, factory, [acme_queue, globex_queue])
    mine = uuid.UUID(agent["id"])
    now = utcnow()
    in_acme = add_contact(
        app, acme, acme_queue, status="active", agent_id=mine, assigned_at=now - timedelta(hours=1)
    )
    in_globex = add_contact(
        app, globex, globex_queue, status="on_hold", agent_id=mine, assigned_at=now
    )
    add_contact(app, globex, globex_queue, status="resolved", agent_id=mine, assigned_at=now)
    add_contact(app, acme, acme_queue)  # waiting, not held

    held = client.get("/v1/me/contacts", headers=caller.headers).get_json()

    assert [(c["id"], c["tenant"]["name"], c["status"]) for c in held] == [
        (str(in_acme), "Acme", "active"),
        (str(in_globex), "Globex", "on_hold"),
    ]


# --- fairness between firms ------------------------------------------------------------------


def test_a_small_firm_is_served_beside_a_large_firms_backlog(app, client, factory):
    big, small = factory.tenant(name="Big"), factory.tenant(name="Small")
    big_queue, small_queue = make_queue(app, big), make_queue(app, small)
    agent, caller = working_agent(client, factory, [big_queue, small_queue])
    set_agent(app, agent["id"], concurrency={"email": 500})
    backlog = [
        add_contact(app, big, big_queue, waited=timedelta(hours=5, minutes=-i)) for i in range(50)
    ]

    # Each time the small firm gets a new contact, the agent serves it within two claims,
    # though every contact of the big firm is hours older.
    served_from_backlog = []
    for _ in range(5):
        arrived = add_contact(app, small, small_queue, waited=timedelta(seconds=1))
        claims = [claimed_id(client, caller), claimed_id(client, caller)]
        assert arrived in claims
        served_from_backlog += [c for c in claims if c != arrived]
    # The backlog is still served oldest first meanwhile.
    assert served_from_backlog == backlog[: len(served_from_backlog)]
    assert len(served_from_backlog) >= 4


def test_firms_are_served_in_turn_by_time_since_last_served(db_app, db_client, db_factory):
    # On both databases: the firms' turns are one UNION ALL of a branch per firm.
    app, client, factory = db_app, db_client, db_factory
    firms = [factory.tenant(name=f"Firm {n}") for n in range(3)]
    queues = [make_queue(app, firm) for firm in firms]
    agent, caller = working_agent(client, factory, queues)
    set_agent(app, agent["id"], concurrency={"email": 500})
    per_firm = {
        firm.id: [
            add_contact(app, firm, queue, waited=timedelta(minutes=60 - 10 * f - i))
            for i in range(3)
        ]
        for f, (firm, queue) in enumerate(zip(firms, queues, strict=True))
    }
    owner = {c: firm for firm, contacts in per_firm.items() for c in contacts}

    order = [owner[c] for c in drain(client, caller)]

    # Round robin: never the same firm twice running while another firm waits.
    assert order == [f.id for f in firms] * 3


def test_sla_risk_comes_before_turn_taking(app, client, factory):
    big, small = factory.tenant(name="Big"), factory.tenant(name="Small")
    big_queue, small_queue = make_queue(app, big), make_queue(app, small)
    _, caller = working_agent(client, factory, [big_queue, small_queue])
    now = utcnow()
    big_contact = add_contact(
        app, big, big_queue, waited=timedelta(hours=1), sla_due_at=now + timedelta(hours=4)
    )
    small_contact = add_contact(
        app, small, small_queue, waited=timedelta(minutes=1), sla_due_at=now + timedelta(minutes=5)
    )

    # Neither firm was served before; the small firm's newer contact is due soon, so it goes first.
    assert drain(client, caller) == [small_contact, big_contact]


def test_firms_equally_at_risk_take_turns_so_an_overdue_backlog_starves_nobody(
    app, client, factory
):
    big, small = factory.tenant(name="Big"), factory.tenant(name="Small")
    big_queue, small_queue = make_queue(app, big), make_queue(app, small)
    agent, caller = working_agent(client, factory, [big_queue, small_queue])
    set_agent(app, agent["id"], concurrency={"email": 500})
    now = utcnow()
    backlog = [
        add_contact(
            app,
            big,
            big_queue,
            waited=timedelta(hours=3),
            sla_due_at=now - timedelta(hours=2, minutes=-i),
        )
        for i in range(10)
    ]
    first = claimed_id(client, caller)
    assert first == backlog[0]
    small_contact = add_contact(
        app, small, small_queue, waited=timedelta(seconds=1), sla_due_at=now + timedelta(minutes=2)
    )

    assert claimed_id(client, caller) == small_contact
    assert claimed_id(client, caller) == backlog[1]


def test_an_agent_sees_and_claims_nothing_outside_its_assigned_queues(app, client, factory):
    mine, other = factory.tenant(name="Mine"), factory.tenant(name="Other")
    my_queue, left_queue = make_queue(app, mine), make_queue(app, mine)
    other_queue = make_queue(app, other)
    agent, caller = working_agent(client, factory, [my_queue], concurrency={"email": 10})
    me = uuid.UUID(agent["id"])
    # Held before the agent lost these queues (or written by mistake): still not shown.
    add_contact(app, mine, left_queue, status="active", agent_id=me, assigned_at=utcnow())
    add_contact(app, other, other_queue, status="active", agent_id=me, assigned_at=utcnow())
    add_contact(app, other, other_queue, priority="urgent", waited=timedelta(hours=3))
    add_contact(app, mine, left_queue, priority="urgent", waited=timedelta(hours=3))
    held_here = add_contact(app, mine, my_queue, status="assigned", agent_id=me)

    held = client.get("/v1/me/contacts", headers=caller.headers).get_json()

    assert [c["id"] for c in held] == [str(held_here)]
    assert assert_problem(claim(client, caller), 409)["reason"] == "nothing_waiting"


def test_an_agent_given_a_second_firm_mid_transaction_is_seen_serving_it(app, client, factory):
    # A claim reads the agent's firms once while it holds the agent's lock; a change of its
    # assignments in the same transaction must not leave that reading stale.
    from app.agents import common as agents_common
    from app.agents import queue_assignments
    from tenants import service as tenants_service

    first, second = factory.tenant(), factory.tenant()
    queue = make_queue(app, first)
    other = make_queue(app, second)
    agent, _caller = working_agent(client, factory, [queue])
    agent_id = uuid.UUID(agent["id"])
    with app.app_context():
        locked = agents_common.lock_id(agent_id)
        before = agents_common.assigned_tenant_ids(agent_id)
        queue_assignments.set_assignments(
            agent=locked,
            assignments_in=[{"queue_id": queue, "priority": 1}, {"queue_id": other, "priority": 2}],
            actor=tenants_service.SYSTEM,
        )
        after = agents_common.assigned_tenant_ids(agent_id)
        db.session.rollback()
        # A new transaction holds no lock and remembers nothing.
        again = agents_common.assigned_tenant_ids(agent_id)
    assert before == {first.id}
    assert after == {first.id, second.id}
    assert again == {first.id}
