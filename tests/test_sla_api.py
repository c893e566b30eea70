"""The SLA engine over HTTP: `GET .../contacts/{id}/sla` (each clock live to now), the contact's
SLA fields, at-risk and breach recorded in the request that finds them, and
`GET /v1/sla/at-risk` for the BPO and its supervisors.

The firms here are open round the clock in UTC, so business time is real time and the
expectations can be written relative to when the contact arrived. Their policy: normal
priority answered within 1 h (at risk after 48 min) and resolved within 8 h.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import or_, select

from app.contacts.models import Contact
from app.db import db, utcnow
from app.queues.models import Queue
from app.sla import at_risk
from app.sla import service as sla_service
from app.sla.calendar import WEEKDAYS
from app.sla.models import BusinessCalendar, SlaClock, SlaPolicy
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.factories import Caller, dispatch_events
from tests.http_helpers import assert_problem
from tests.test_contacts_intake import contacts_url, create_contact, queue_of, staffed_agent

HOUR = 3600
ALWAYS = {day: [{"start": "00:00", "end": "00:00"}] for day in WEEKDAYS}


def sla_firm(app, factory, name: str = "Acme", **policy) -> tuple[Tenant, uuid.UUID]:
    """A firm open round the clock in UTC with a default policy, a queue and a webhook."""
    tenant = factory.tenant(name=name)
    with app.app_context(), tenant_scope(tenant.id):
        db.session.add(
            BusinessCalendar(
                effective_from=datetime(2020, 1, 1, tzinfo=UTC),
                time_zone="UTC",
                weekly_hours=ALWAYS,
            )
        )
        db.session.add(
            SlaPolicy(
                name="Standard",
                is_default=True,
                targets=[
                    {
                        "priority": "normal",
                        "channel": None,
                        "category": None,
                        "first_response_seconds": HOUR,
                        "answer_threshold_seconds": None,
                        "resolution_seconds": 8 * HOUR,
                    }
                ],
                **policy,
            )
        )
        queue = Queue(name="General", channels=["voice", "chat", "email", "web", "social"])
        db.session.add(queue)
        db.session.add(
            WebhookEndpoint(
                url="https://hooks.example.test/sla",
                secret="s" * 32,
                event_types=["sla.breached", "sla.at_risk"],
            )
        )
        db.session.commit()
        return tenant, queue.id


def arrived(minutes_ago: int) -> datetime:
    """An arrival instant `minutes_ago` before now, to the second."""
    return (utcnow() - timedelta(minutes=minutes_ago)).replace(microsecond=0)


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def new_contact(client, caller: Caller, tenant, received: datetime, **fields) -> dict:
    return create_contact(client, caller, tenant, received_at=received.isoformat(), **fields)


def read_sla(client, caller: Caller, tenant, contact_id) -> dict:
    response = client.get(contacts_url(tenant, contact_id, "sla"), headers=caller.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def post(client, caller: Caller, tenant, contact_id, action: str, **body) -> dict:
    response = client.post(
        contacts_url(tenant, contact_id, action), json=body, headers=caller.headers
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def sla_actions(client, caller: Caller, tenant, contact_id) -> list[str]:
    response = client.get(contacts_url(tenant, contact_id, "events"), headers=caller.headers)
    assert response.status_code == 200
    return [e["action"] for e in response.get_json() if e["action"].startswith("sla_")]


def turn_back_clocks(app, tenant, contact_id, minutes: int) -> None:
    """Move a contact's clocks `minutes` into the past, as if that much time had gone by."""
    shift = timedelta(minutes=minutes)
    names = ("started_at", "running_since", "paused_since", "at_risk_at", "due_at", "breached_at")
    with app.app_context(), tenant_scope(tenant.id):
        for clock in db.session.scalars(
            select(SlaClock).where(SlaClock.contact_id == uuid.UUID(str(contact_id)))
        ):
            for name in names:
                if getattr(clock, name) is not None:
                    setattr(clock, name, getattr(clock, name) - shift)
        db.session.commit()


@pytest.fixture
def acme(app, factory):
    tenant, queue_id = sla_firm(app, factory)
    return tenant, queue_id, factory.caller("integration", tenant)


# --- GET .../contacts/{id}/sla ---------------------------------------------------------------


def test_the_sla_view_shows_each_clock_with_its_deadline_and_business_time_used(client, acme):
    tenant, _, integration = acme
    received = arrived(30)
    contact = new_contact(client, integration, tenant, received)

    before = utcnow()
    sla = read_sla(client, integration, tenant, contact["id"])
    after = utcnow()

    used = (before - received).total_seconds(), (after - received).total_seconds() + 1
    assert sla["contact_id"] == contact["id"]
    assert sla["state"] == "ok" and sla["note"] is None
    assert at(sla["due_at"]) == received + timedelta(hours=1)
    assert sla["answer_threshold_seconds"] is None
    first, resolution = sla["clocks"]
    assert first["kind"] == "first_response" and resolution["kind"] == "resolution"
    # Due after 1 h, at risk after 80% of it (48 min); 30 min used so far.
    assert (first["target_seconds"], first["state"], first["paused"]) == (HOUR, "ok", False)
    assert at(first["started_at"]) == received
    assert at(first["due_at"]) == received + timedelta(hours=1)
    assert at(first["at_risk_at"]) == received + timedelta(minutes=48)
    assert used[0] - 1 <= first["elapsed_seconds"] <= used[1]
    assert first["remaining_seconds"] == HOUR - first["elapsed_seconds"]
    assert (first["paused_seconds"], first["stopped_at"], first["breached_at"]) == (0, None, None)
    assert at(resolution["due_at"]) == received + timedelta(hours=8)
    assert resolution["target_seconds"] == 8 * HOUR
    # The contact carries its SLA state and nearest deadline (claim-next orders by it).
    assert (contact["sla_state"], at(contact["sla_due_at"])) == (
        "ok",
        received + timedelta(hours=1),
    )


def test_a_contact_found_at_risk_or_breached_in_a_request_records_it_once(
    app, client, factory, acme
):
    tenant, queue_id, integration = acme
    supervisor = factory.caller("supervisor", tenant)
    agent, _ = staffed_agent(app, client, factory, factory.caller("bpo_admin"), [queue_id])
    # Arrived 50 min ago: past the 48 min at-risk mark when it is taken in.
    contact = new_contact(client, integration, tenant, arrived(50), external_id="ZD-1")
    assert contact["sla_state"] == "at_risk"
    assert sla_actions(client, integration, tenant, contact["id"]) == ["sla_at_risk"]

    # 15 more minutes go by: overdue. A read shows it at once; the contact row does not
    # change on a read.
    turn_back_clocks(app, tenant, contact["id"], 15)
    sla = read_sla(client, integration, tenant, contact["id"])
    assert sla["state"] == "breached"
    assert sla["clocks"][0]["remaining_seconds"] < 0
    assert at(sla["clocks"][0]["breached_at"]) == at(sla["clocks"][0]["due_at"])
    assert (
        client.get(contacts_url(tenant, contact["id"]), headers=integration.headers).get_json()[
            "sla_state"
        ]
        == "at_risk"
    )

    # The next action records the breach, once.
    body = post(client, supervisor, tenant, contact["id"], "assign", agent_id=agent["id"])
    assert body["sla_state"] == "breached"
    post(client, supervisor, tenant, contact["id"], "release")
    # (In either order: the clocks were turned back, the at-risk event was not.)
    assert sorted(sla_actions(client, integration, tenant, contact["id"])) == [
        "sla_at_risk",
        "sla_breached",
    ]
    dispatch_events(app)  # the worker's events job makes the deliveries
    with app.app_context(), tenant_scope(tenant.id):
        sent = db.session.scalars(select(WebhookDelivery.event_type)).all()
    assert sorted(sent) == ["sla.at_risk", "sla.breached"]


def test_clocks_pause_while_waiting_on_the_customer(app, client, factory, acme):
    tenant, queue_id, integration = acme
    supervisor = factory.caller("supervisor", tenant)
    agent, agent_caller = staffed_agent(
        app, client, factory, factory.caller("bpo_admin"), [queue_id]
    )
    contact = new_contact(client, integration, tenant, arrived(10))
    post(client, supervisor, tenant, contact["id"], "assign", agent_id=agent["id"])
    post(client, agent_caller, tenant, contact["id"], "respond")

    body = post(client, agent_caller, tenant, contact["id"], "wait-customer")

    assert (body["sla_state"], body["sla_due_at"]) == ("ok", None)
    first, resolution = read_sla(client, agent_caller, tenant, contact["id"])["clocks"]
    assert (first["state"], first["stopped_at"] is not None) == ("met", True)
    assert (resolution["paused"], resolution["due_at"], resolution["at_risk_at"]) == (
        True,
        None,
        None,
    )
    # Resuming sets the deadline again, later by the time spent waiting.
    body = post(client, agent_caller, tenant, contact["id"], "resume")
    resolution = read_sla(client, agent_caller, tenant, contact["id"])["clocks"][1]
    assert resolution["paused"] is False
    assert at(resolution["due_at"]) >= at(contact["received_at"]) + timedelta(hours=8)
    assert at(body["sla_due_at"]) == at(resolution["due_at"])


def test_a_firm_without_a_calendar_or_a_policy_has_no_clocks_and_says_why(app, client, factory):
    bare = factory.tenant()
    queue_of(app, bare, "General")
    integration = factory.caller("integration", bare)
    contact = create_contact(client, integration, bare, channel="voice", category="incident")

    sla = read_sla(client, integration, bare, contact["id"])

    assert (sla["state"], sla["due_at"], sla["policy_id"], sla["clocks"]) == (None, None, None, [])
    assert "no business calendar" in sla["note"]
    # The service level's T is the queue's.
    assert sla["answer_threshold_seconds"] == contact["answer_threshold_seconds"] == 20

    with app.app_context(), tenant_scope(bare.id):
        db.session.add(
            BusinessCalendar(
                effective_from=utcnow() - timedelta(days=1), time_zone="UTC", weekly_hours=ALWAYS
            )
        )
        db.session.commit()
    contact = create_contact(client, integration, bare)
    assert "no default SLA policy" in read_sla(client, integration, bare, contact["id"])["note"]


def test_the_sla_view_is_for_those_who_may_read_the_contact(app, client, factory, acme):
    tenant, queue_id, integration = acme
    other, _ = sla_firm(app, factory, name="Globex")
    theirs = new_contact(client, factory.caller("integration", other), other, arrived(5))
    mine = new_contact(client, integration, tenant, arrived(5))
    admin = factory.caller("bpo_admin")
    _, outsider = staffed_agent(app, client, factory, admin, [queue_of(app, tenant, "Other")])
    _, insider = staffed_agent(app, client, factory, admin, [queue_id])

    for caller in (factory.caller("client_viewer", tenant), insider, admin):
        assert read_sla(client, caller, tenant, mine["id"])["contact_id"] == mine["id"]
    # Another firm's contact, one that does not exist, one outside the agent's queues: 404.
    for caller, contact_id in (
        (integration, theirs["id"]),
        (integration, uuid.uuid4()),
        (outsider, mine["id"]),
    ):
        response = client.get(contacts_url(tenant, contact_id, "sla"), headers=caller.headers)
        assert_problem(response, 404)


# --- GET /v1/sla/at-risk ---------------------------------------------------------------------


def test_the_at_risk_list_shows_open_contacts_at_risk_or_breached_nearest_deadline_first(
    app, client, factory
):
    acme, acme_queue = sla_firm(app, factory, name="Acme")
    globex, _ = sla_firm(app, factory, name="Globex")
    acme_in = factory.caller("integration", acme)
    globex_in = factory.caller("integration", globex)
    # Overdue by an hour; at risk, due in 10 min; fine, due in 50 min.
    breached = new_contact(
        client, acme_in, acme, arrived(120), external_id="A-1", priority="normal"
    )
    at_risk = new_contact(client, acme_in, acme, arrived(50), channel="chat", category="incident")
    new_contact(client, acme_in, acme, arrived(10))
    # Globex's at risk, due in 5 min.
    theirs = new_contact(client, globex_in, globex, arrived(55))
    # Answered late but resolved: nothing open to act on.
    supervisor = factory.caller("supervisor", acme)
    agent, agent_caller = staffed_agent(
        app, client, factory, factory.caller("bpo_admin"), [acme_queue]
    )
    done = new_contact(client, acme_in, acme, arrived(120))
    post(client, supervisor, acme, done["id"], "assign", agent_id=agent["id"])
    post(client, agent_caller, acme, done["id"], "respond")
    post(client, agent_caller, acme, done["id"], "resolve", disposition="ok", resolution_note="Ok")

    response = client.get("/v1/sla/at-risk", headers=factory.caller("bpo_admin").headers)

    assert response.status_code == 200, response.get_json()
    items = response.get_json()
    assert [i["contact_id"] for i in items] == [breached["id"], theirs["id"], at_risk["id"]]
    first = items[0]
    assert {k: first[k] for k in ("tenant_id", "tenant_name", "external_id", "status")} == {
        "tenant_id": str(acme.id),
        "tenant_name": "Acme",
        "external_id": "A-1",
        "status": "queued",
    }
    assert (first["channel"], first["category"], first["priority"]) == (
        "email",
        "complaint",
        "normal",
    )
    assert (first["queue_id"], first["agent_id"], first["sla_state"]) == (
        str(acme_queue),
        None,
        "breached",
    )
    assert first["clock"]["kind"] == "first_response"
    assert first["clock"]["state"] == "breached"
    assert first["clock"]["remaining_seconds"] <= -HOUR
    assert at(first["sla_due_at"]) == at(breached["received_at"]) + timedelta(hours=1)
    assert (items[2]["sla_state"], items[2]["clock"]["state"]) == ("at_risk", "at_risk")
    assert '"total": 3' in response.headers["X-Pagination"]

    # A supervisor of Acme sees Acme only; filters narrow it.
    def listed(**query) -> list[str]:
        got = client.get("/v1/sla/at-risk", query_string=query, headers=supervisor.headers)
        assert got.status_code == 200, got.get_json()
        return [i["contact_id"] for i in got.get_json()]

    assert listed() == [breached["id"], at_risk["id"]]
    assert listed(state="breached") == [breached["id"]]
    assert listed(state="at_risk") == [at_risk["id"]]
    assert listed(channel="chat") == [at_risk["id"]]
    assert listed(queue_id=str(acme_queue)) == [breached["id"], at_risk["id"]]
    assert listed(tenant_id=str(globex.id)) == []
    assert listed(page_size=1) == [breached["id"]]


def test_the_at_risk_list_read_from_the_contacts_agrees_with_their_clocks_at_every_moment(
    app, client, factory
):
    tenant, queue_id = sla_firm(app, factory)
    integration = factory.caller("integration", tenant)
    supervisor = factory.caller("supervisor", tenant)
    agent, agent_caller = staffed_agent(
        app, client, factory, factory.caller("bpo_admin"), [queue_id]
    )
    fresh = new_contact(client, integration, tenant, arrived(5))
    risky = new_contact(client, integration, tenant, arrived(50))
    late = new_contact(client, integration, tenant, arrived(70))
    # Answered late, then waiting on the customer: its breached clock is met-late and stopped,
    # the resolution clock paused (no instants); answered in time: only resolution runs.
    waiting = new_contact(client, integration, tenant, arrived(65))
    answered = new_contact(client, integration, tenant, arrived(20))
    for contact in (waiting, answered):
        post(client, supervisor, tenant, contact["id"], "assign", agent_id=agent["id"])
        post(client, agent_caller, tenant, contact["id"], "respond")
    post(client, agent_caller, tenant, waiting["id"], "wait-customer")
    done = new_contact(client, integration, tenant, arrived(90))
    post(client, supervisor, tenant, done["id"], "assign", agent_id=agent["id"])
    post(client, agent_caller, tenant, done["id"], "respond")
    post(client, agent_caller, tenant, done["id"], "resolve", disposition="ok", resolution_note="-")

    def by_clocks(now, state):
        breached, at_risk = sla_service.risk_now(now)
        rule = {"breached": breached, "at_risk": at_risk}.get(state, or_(breached, at_risk))
        # The worst open clock's state, for the state filter: a breached one outranks.
        open_clock = select(SlaClock.contact_id).where(SlaClock.stopped_at.is_(None))
        ids = set(db.session.scalars(open_clock.where(rule)))
        if state == "at_risk":
            ids -= set(db.session.scalars(open_clock.where(breached)))
        return ids

    base = utcnow()
    with app.app_context(), tenant_scope(tenant.id):
        finished = set(
            db.session.scalars(
                select(Contact.id).where(Contact.status.in_(sla_service.FINISHED_STATUSES))
            )
        )
        for minutes in range(0, 9 * 60, 10):
            now = base + timedelta(minutes=minutes)
            for state in (None, "at_risk", "breached"):
                listed = set(
                    db.session.scalars(
                        at_risk.list_at_risk(now=now, state=state).with_only_columns(Contact.id)
                    )
                )
                assert listed == by_clocks(now, state) - finished, (minutes, state)
        # And the moments are not all alike: the story goes through every kind of answer.
        assert uuid.UUID(risky["id"]) in by_clocks(base, "at_risk")
        assert uuid.UUID(late["id"]) in by_clocks(base, "breached")
        assert uuid.UUID(fresh["id"]) not in by_clocks(base, None)
        assert uuid.UUID(fresh["id"]) in by_clocks(base + timedelta(hours=1), "breached")
        assert uuid.UUID(waiting["id"]) not in by_clocks(base + timedelta(hours=9), None)
        assert uuid.UUID(answered["id"]) in by_clocks(base + timedelta(hours=8), "breached")


@pytest.mark.parametrize("role", ["agent", "client_admin", "client_viewer", "integration"])
def test_only_the_bpo_and_its_supervisors_watch_sla_risk(client, factory, acme, role):
    tenant, _, _ = acme
    caller = factory.caller(role, tenant)

    assert_problem(client.get("/v1/sla/at-risk", headers=caller.headers), 403)


def test_the_at_risk_list_refuses_a_bad_filter(client, factory):
    admin = factory.caller("bpo_admin")

    response = client.get("/v1/sla/at-risk?state=met", headers=admin.headers)

    assert "state" in assert_problem(response, 422)["errors"]["query"]


# --- claim-next --------------------------------------------------------------------------------


def test_claim_next_serves_first_the_firm_whose_contact_the_engine_finds_at_risk(
    app, client, factory
):
    from tests.test_claim_next import add_contact, claimed_id, working_agent

    # Small's policy is at risk halfway: its contact arrived 35 min ago, at risk since 30 min,
    # due in 25 min. Big's contact is due sooner (15 min) but not at risk by its own terms, and
    # neither is within claim-next's fixed 10-minute horizon.
    small, small_queue = sla_firm(app, factory, name="Small", at_risk_bps=5000)
    big = factory.tenant(name="Big")
    big_queue = queue_of(app, big, "Big queue")
    _, caller = working_agent(client, factory, [big_queue, small_queue])
    big_contact = add_contact(
        app, big, big_queue, waited=timedelta(hours=2), sla_due_at=utcnow() + timedelta(minutes=15)
    )
    small_contact = new_contact(client, factory.caller("integration", small), small, arrived(35))
    assert small_contact["sla_state"] == "at_risk"

    assert claimed_id(client, caller) == uuid.UUID(small_contact["id"])
    assert claimed_id(client, caller) == big_contact


def test_a_claim_records_what_came_due_on_the_contacts_clocks(app, client, factory, acme):
    from tests.test_claim_next import claimed_id, working_agent

    tenant, queue_id, integration = acme
    _, caller = working_agent(client, factory, [queue_id])
    contact = new_contact(client, integration, tenant, arrived(20))
    # 30 more minutes go by: 50 min in all, past the 48 min at-risk mark, not yet recorded.
    turn_back_clocks(app, tenant, contact["id"], 30)
    assert sla_actions(client, integration, tenant, contact["id"]) == []

    assert claimed_id(client, caller) == uuid.UUID(contact["id"])

    assert sla_actions(client, integration, tenant, contact["id"]) == ["sla_at_risk"]
    read = client.get(contacts_url(tenant, contact["id"]), headers=integration.headers)
    assert (read.get_json()["status"], read.get_json()["sla_state"]) == ("assigned", "at_risk")
