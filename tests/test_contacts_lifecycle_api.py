"""The lifecycle through the API: POST .../contacts/{contact_id}/{action}, each with its event,
timestamps and counters; illegal moves; who may act; the history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from app.contacts.models import Department
from app.db import db, utcnow
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.factories import Caller
from tests.http_helpers import assert_problem
from tests.test_agents_api import set_status
from tests.test_contacts_intake import (
    backdate,
    contacts_url,
    create_contact,
    queue_of,
    staffed_agent,
    stored_events,
)


@dataclass
class Floor:
    """A firm at work: two queues, a supervisor, two agents on the first queue, an integration."""

    tenant: Tenant
    queue_id: uuid.UUID
    other_queue_id: uuid.UUID
    supervisor: Caller
    integration: Caller
    agent: dict
    agent_caller: Caller
    colleague: dict
    colleague_caller: Caller
    department_id: uuid.UUID


@pytest.fixture
def floor(app, client, factory) -> Floor:
    tenant = factory.tenant()
    queue_id = queue_of(app, tenant, "General")
    other_queue_id = queue_of(app, tenant, "Second line")
    admin = factory.caller("bpo_admin")
    agent, agent_caller = staffed_agent(app, client, factory, admin, [queue_id])
    colleague, colleague_caller = staffed_agent(app, client, factory, admin, [queue_id])
    with app.app_context(), tenant_scope(tenant.id):
        department = Department(name="Finance", kind="finance")
        db.session.add(department)
        db.session.commit()
        department_id = department.id
    return Floor(
        tenant,
        queue_id,
        other_queue_id,
        factory.caller("supervisor", tenant),
        factory.caller("integration", tenant),
        agent,
        agent_caller,
        colleague,
        colleague_caller,
        department_id,
    )


def act(client, floor: Floor, contact_id, action: str, caller: Caller | None = None, **body):
    return client.post(
        contacts_url(floor.tenant, contact_id, action),
        json=body,
        headers=(caller or floor.agent_caller).headers,
    )


def ok(response) -> dict:
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def new_contact(client, floor: Floor, **fields) -> dict:
    return create_contact(client, floor.integration, floor.tenant, **fields)


def assigned(client, floor: Floor, **fields) -> dict:
    """A new contact assigned by the supervisor to the floor's agent."""
    contact = new_contact(client, floor, **fields)
    return ok(
        act(
            client,
            floor,
            contact["id"],
            "assign",
            floor.supervisor,
            agent_id=floor.agent["id"],
        )
    )


def active(client, floor: Floor, **fields) -> dict:
    """A new voice contact assigned to the floor's agent and answered."""
    fields.setdefault("channel", "voice")
    contact = assigned(client, floor, **fields)
    return ok(act(client, floor, contact["id"], "answer"))


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# --- the whole journey -----------------------------------------------------------------------


def test_a_call_goes_from_queue_to_closed_with_every_time_and_counter(app, client, floor):
    tenant = floor.tenant
    contact = new_contact(client, floor, channel="voice", category="information_request")
    cid = contact["id"]
    backdate(app, tenant, cid, 40)

    body = ok(act(client, floor, cid, "assign", floor.supervisor, agent_id=floor.agent["id"]))
    assert (body["status"], body["agent_id"]) == ("assigned", floor.agent["id"])
    assert 40 <= body["queued_seconds"] < 45
    assert body["queue_wait_seconds"] is None  # not answered yet
    assert body["assigned_at"] is not None
    assert body["allowed_actions"] == ["assign", "release", "answer", "transfer"]

    body = ok(act(client, floor, cid, "answer"))
    assert body["status"] == "active" and body["answered_at"] is not None
    answered_at = body["answered_at"]
    backdate(app, tenant, cid, 100)
    body = ok(act(client, floor, cid, "hold", note="Checking the order"))
    assert body["status"] == "on_hold"
    assert 100 <= body["talk_seconds"] < 105
    backdate(app, tenant, cid, 30)
    body = ok(act(client, floor, cid, "resume"))
    assert body["status"] == "active"
    assert 30 <= body["hold_seconds"] < 35
    body = ok(act(client, floor, cid, "wait-customer"))
    assert body["status"] == "waiting_customer"
    body = ok(act(client, floor, cid, "resume"))
    body = ok(
        act(
            client,
            floor,
            cid,
            "escalate",
            department_id=str(floor.department_id),
            note="Refund two months",
        )
    )
    assert (body["status"], body["department_id"]) == ("escalated", str(floor.department_id))
    body = ok(act(client, floor, cid, "resume"))
    assert body["answered_at"] == answered_at  # set once
    # The call ended 50 s ago; the agent wrapped up since.
    backdate(app, tenant, cid, 80)
    ended = utcnow() - timedelta(seconds=50)
    talk_before = body["talk_seconds"]
    body = ok(
        act(
            client,
            floor,
            cid,
            "resolve",
            disposition="information_given",
            resolution_note="Explained the opening hours.",
            ended_at=ended.isoformat(),
        )
    )
    assert body["status"] == "resolved" and body["resolved_at"] is not None
    assert 30 <= body["talk_seconds"] - talk_before < 32
    assert 50 <= body["acw_seconds"] < 55
    assert (
        body["handle_seconds"] == body["talk_seconds"] + body["hold_seconds"] + body["acw_seconds"]
    )
    assert (body["disposition"], body["resolution_note"]) == (
        "information_given",
        "Explained the opening hours.",
    )
    body = ok(act(client, floor, cid, "close"))
    assert body["status"] == "closed" and body["closed_at"] is not None
    body = ok(act(client, floor, cid, "csat", floor.integration, score=4))
    assert (body["status"], body["csat"]) == ("closed", 4)

    events = stored_events(app, tenant, cid)
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("create", None, "queued"),
        ("assign", "queued", "assigned"),
        ("answer", "assigned", "active"),
        ("hold", "active", "on_hold"),
        ("resume", "on_hold", "active"),
        ("wait-customer", "active", "waiting_customer"),
        ("resume", "waiting_customer", "active"),
        ("escalate", "active", "escalated"),
        ("resume", "escalated", "active"),
        ("resolve", "active", "resolved"),
        ("close", "resolved", "closed"),
        ("csat", "closed", "closed"),
    ]
    assign_event, answer_event, hold_event = events[1:4]
    assert assign_event.actor_user_id == floor.supervisor.user_id
    assert assign_event.agent_id == uuid.UUID(floor.agent["id"])
    assert assign_event.details == {"previous_agent_id": None}
    assert answer_event.actor_user_id == floor.agent_caller.user_id
    assert hold_event.note == "Checking the order"
    assert events[7].note == "Refund two months"
    assert events[7].details == {"department_id": str(floor.department_id)}
    assert events[9].details == {
        "disposition": "information_given",
        "ended_at": ended.astimezone(events[9].occurred_at.tzinfo).isoformat(),
    }
    assert events[-1].actor_client_id == floor.integration.client_id
    assert events[-1].details == {"score": 4}

    # The history through the API: oldest first, paginated.
    page = client.get(
        f"{contacts_url(tenant, cid, 'events')}?page_size=5", headers=floor.supervisor.headers
    )
    assert page.status_code == 200
    assert [e["action"] for e in page.get_json()] == [
        "create",
        "assign",
        "answer",
        "hold",
        "resume",
    ]
    assert '"total": 12' in page.headers["X-Pagination"]
    first = page.get_json()[1]
    assert first["from_status"] == "queued" and first["to_status"] == "assigned"
    assert first["actor_user_id"] == str(floor.supervisor.user_id)


def test_an_email_is_responded_to_and_its_first_response_is_kept(client, floor):
    contact = assigned(client, floor, channel="email")

    first = ok(act(client, floor, contact["id"], "respond", note="Asked for the order number"))
    again = ok(act(client, floor, contact["id"], "respond"))

    assert first["status"] == again["status"] == "active"
    assert first["first_response_at"] is not None
    assert again["first_response_at"] == first["first_response_at"]
    assert again["answered_at"] is None


# --- assigning, releasing, transferring ------------------------------------------------------


def test_a_supervisor_reassigns_to_another_agent_of_the_queue(app, client, floor):
    contact = assigned(client, floor)

    body = ok(
        act(
            client,
            floor,
            contact["id"],
            "assign",
            floor.supervisor,
            agent_id=floor.colleague["id"],
        )
    )

    assert (body["status"], body["agent_id"]) == ("assigned", floor.colleague["id"])
    last = stored_events(app, floor.tenant, contact["id"])[-1]
    assert last.details == {"previous_agent_id": floor.agent["id"]}
    assert last.agent_id == uuid.UUID(floor.colleague["id"])
    # The first agent holds it no more.
    assert_problem(act(client, floor, contact["id"], "answer"), 403)


def test_only_an_agent_of_the_contacts_queue_can_be_assigned(app, client, factory, floor):
    contact = new_contact(client, floor)
    admin = factory.caller("bpo_admin")
    outsider, _ = staffed_agent(app, client, factory, admin, [floor.other_queue_id])

    for agent_id in (outsider["id"], str(uuid.uuid4())):
        response = act(client, floor, contact["id"], "assign", floor.supervisor, agent_id=agent_id)
        assert "agent_id" in assert_problem(response, 422)["errors"]["json"]
    # Agents do not assign, not even to themselves.
    response = act(client, floor, contact["id"], "assign", agent_id=floor.agent["id"])
    assert_problem(response, 403)


def test_a_released_contact_keeps_its_place_in_line(client, floor):
    contact = assigned(client, floor)

    body = ok(act(client, floor, contact["id"], "release", note="Wrong skill"))

    assert (body["status"], body["agent_id"]) == ("queued", None)
    assert body["queued_at"] == contact["queued_at"]


def test_a_transfer_moves_the_contact_to_another_queue_unassigned(app, client, factory, floor):
    contact = active(client, floor)

    body = ok(act(client, floor, contact["id"], "transfer", queue_id=str(floor.other_queue_id)))

    assert (body["status"], body["queue_id"], body["agent_id"]) == (
        "queued",
        str(floor.other_queue_id),
        None,
    )
    last = stored_events(app, floor.tenant, contact["id"])[-1]
    assert last.details == {
        "from_queue_id": str(floor.queue_id),
        "to_queue_id": str(floor.other_queue_id),
    }
    assert last.agent_id == uuid.UUID(floor.agent["id"])
    # Now outside the agent's queues: it is gone from its sight.
    assert_problem(
        client.get(contacts_url(floor.tenant, contact["id"]), headers=floor.agent_caller.headers),
        404,
    )


def test_a_transfer_needs_an_active_queue_of_the_firm_taking_the_channel(
    app, client, factory, floor
):
    contact = new_contact(client, floor, channel="chat")
    cases = [
        (queue_of(app, floor.tenant, "Off", is_active=False), "deactivated"),
        (queue_of(app, floor.tenant, "Mail only", channels=["email"]), "does not take chat"),
        (queue_of(app, factory.tenant(), "Foreign"), "Not a queue of this client firm"),
        (floor.queue_id, "already in this queue"),
    ]
    for queue_id, reason in cases:
        response = act(
            client, floor, contact["id"], "transfer", floor.supervisor, queue_id=str(queue_id)
        )
        assert reason in assert_problem(response, 422)["errors"]["json"]["queue_id"][0]


# --- escalating and resolving ----------------------------------------------------------------


def test_an_escalation_needs_a_note_and_an_active_department(app, client, floor):
    contact = active(client, floor)
    with app.app_context(), tenant_scope(floor.tenant.id):
        closed = Department(name="Old legal", kind="legal", is_active=False)
        db.session.add(closed)
        db.session.commit()

    no_note = act(client, floor, contact["id"], "escalate", department_id=str(floor.department_id))
    inactive = act(
        client, floor, contact["id"], "escalate", department_id=str(closed.id), note="Sue"
    )
    unknown = act(
        client, floor, contact["id"], "escalate", department_id=str(uuid.uuid4()), note="x"
    )

    assert "note" in assert_problem(no_note, 422)["errors"]["json"]
    assert "department_id" in assert_problem(inactive, 422)["errors"]["json"]
    assert "department_id" in assert_problem(unknown, 422)["errors"]["json"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "outcome"),
        ({"outcome": "granted"}, "compensation_amount"),
        ({"outcome": "granted", "compensation_amount": 12.5}, "compensation_amount"),
        ({"outcome": "denied", "compensation_amount": 100}, "compensation_amount"),
        ({"outcome": "maybe"}, "outcome"),
    ],
)
def test_a_claim_is_resolved_with_its_outcome_and_compensation(client, floor, body, field):
    contact = assigned(client, floor, channel="email", category="claim", remedy_requested="Refund")
    ok(act(client, floor, contact["id"], "respond"))
    resolution = {"disposition": "refunded", "resolution_note": "Done."}

    refused = act(client, floor, contact["id"], "resolve", **resolution, **body)
    granted = act(
        client,
        floor,
        contact["id"],
        "resolve",
        **resolution,
        outcome="granted",
        compensation_amount=4990,
    )

    assert field in assert_problem(refused, 422)["errors"]["json"]
    resolved = ok(granted)
    assert (resolved["outcome"], resolved["compensation_amount"]) == ("granted", 4990)


def test_a_complaint_has_no_outcome_and_needs_its_disposition(client, floor):
    contact = active(client, floor)

    with_outcome = act(
        client,
        floor,
        contact["id"],
        "resolve",
        disposition="x",
        resolution_note="y",
        outcome="granted",
        compensation_amount=1,
    )
    bare = act(client, floor, contact["id"], "resolve")
    too_early = act(
        client,
        floor,
        contact["id"],
        "resolve",
        disposition="x",
        resolution_note="y",
        ended_at=(utcnow() - timedelta(days=1)).isoformat(),
    )

    assert "outcome" in assert_problem(with_outcome, 422)["errors"]["json"]
    assert {"disposition", "resolution_note"} <= set(assert_problem(bare, 422)["errors"]["json"])
    assert "ended_at" in assert_problem(too_early, 422)["errors"]["json"]


# --- reopening, abandoning, satisfaction -----------------------------------------------------


def _resolved(client, floor: Floor) -> dict:
    contact = active(client, floor)
    return ok(
        act(client, floor, contact["id"], "resolve", disposition="done", resolution_note="Done.")
    )


def test_a_resolved_contact_reopens_within_the_window_back_to_its_queue(app, client, floor):
    contact = _resolved(client, floor)

    body = ok(act(client, floor, contact["id"], "reopen", floor.integration, note="Still broken"))

    assert (body["status"], body["agent_id"], body["reopen_count"]) == ("reopened", None, 1)
    assert at(body["queued_at"]) > at(contact["queued_at"])
    assert body["allowed_actions"] == ["assign", "transfer"]
    again = ok(
        act(client, floor, contact["id"], "assign", floor.supervisor, agent_id=floor.agent["id"])
    )
    assert again["status"] == "assigned"


def test_a_calls_queue_wait_runs_to_the_answer_and_is_what_the_asa_averages(app, client, floor):
    call = new_contact(client, floor, channel="voice")
    backdate(app, floor.tenant, call["id"], 40, "received_at", "queued_at")  # 40 s in line
    ok(act(client, floor, call["id"], "assign", floor.supervisor, agent_id=floor.agent["id"]))
    backdate(app, floor.tenant, call["id"], 20, "received_at", "queued_at", "assigned_at")

    body = ok(act(client, floor, call["id"], "answer"))  # ringing 20 s after assignment
    report = client.get(
        f"/v1/tenants/{floor.tenant.id}/reports/sla",
        query_string={
            "from": (utcnow() - timedelta(days=1)).isoformat(),
            "to": (utcnow() + timedelta(days=1)).isoformat(),
        },
        headers=floor.supervisor.headers,
    ).get_json()

    wait = (at(body["answered_at"]) - at(body["received_at"])).total_seconds()
    assert body["queue_wait_seconds"] == round(wait, 3)
    assert 60 <= body["queue_wait_seconds"] < 65
    assert 40 <= body["queued_seconds"] < 45  # time in line stops at the assignment
    assert report["totals"]["answered"] == 1
    # The report rounds the exact mean to hundredths, the contact its wait to milliseconds:
    # the same figure, each rounded once (60.0654 s is 60.07 there and 60.065 here).
    assert abs(report["totals"]["asa_seconds"] - wait) <= 0.005 + 1e-9


def test_a_contact_closed_before_the_window_cannot_reopen(app, client, floor):
    with app.app_context():
        db.session.get(Tenant, floor.tenant.id).reopen_window_days = 7
        db.session.commit()
    contact = _resolved(client, floor)
    ok(act(client, floor, contact["id"], "close"))
    backdate(app, floor.tenant, contact["id"], 8 * 86400, "closed_at", "resolved_at")

    response = act(client, floor, contact["id"], "reopen")

    body = assert_problem(response, 409)
    assert "reopen window (7 days)" in body["detail"]
    assert body["allowed_actions"] == ["csat"]
    assert body["contact_status"] == "closed"


def test_a_waiting_call_is_abandoned_by_the_telephony_integration(app, client, floor):
    contact = new_contact(client, floor, channel="voice")
    backdate(app, floor.tenant, contact["id"], 25)

    body = ok(act(client, floor, contact["id"], "abandon", floor.integration))

    assert body["status"] == "abandoned" and body["abandoned_at"] is not None
    assert 25 <= body["queued_seconds"] < 30
    assert body["queue_wait_seconds"] is None  # never answered
    assert body["allowed_actions"] == []


def test_an_email_cannot_be_abandoned_nor_answered(client, floor):
    email = assigned(client, floor, channel="email")
    queued = new_contact(client, floor, channel="email")

    answered = assert_problem(act(client, floor, email["id"], "answer"), 409)
    abandoned = assert_problem(act(client, floor, queued["id"], "abandon", floor.supervisor), 409)

    assert answered["detail"].startswith("A email contact cannot answer.")
    assert answered["allowed_actions"] == ["assign", "release", "respond", "transfer"]
    assert abandoned["allowed_actions"] == ["assign", "transfer"]


def test_satisfaction_is_scored_once_and_only_when_resolved(client, floor):
    contact = active(client, floor)

    early = act(client, floor, contact["id"], "csat", floor.integration, score=5)
    ok(act(client, floor, contact["id"], "resolve", disposition="done", resolution_note="Done."))
    out_of_range = act(client, floor, contact["id"], "csat", floor.integration, score=6)
    first = act(client, floor, contact["id"], "csat", floor.integration, score=2)
    second = act(client, floor, contact["id"], "csat", floor.integration, score=5)

    assert assert_problem(early, 409)["allowed_actions"] == [
        "hold",
        "wait-customer",
        "escalate",
        "transfer",
        "resolve",
    ]
    assert "score" in assert_problem(out_of_range, 422)["errors"]["json"]
    assert ok(first)["csat"] == 2
    assert "already has a CSAT score (2)" in assert_problem(second, 409)["detail"]


# --- illegal moves ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("answer", {}),
        ("respond", {}),
        ("hold", {}),
        ("resume", {}),
        ("wait-customer", {}),
        ("release", {}),
        ("resolve", {"disposition": "x", "resolution_note": "y"}),
        ("close", {}),
        ("reopen", {}),
        ("csat", {"score": 3}),
    ],
)
def test_an_illegal_move_on_a_queued_contact_is_409_listing_the_allowed(
    app, client, floor, action, body
):
    contact = new_contact(client, floor, channel="chat")

    response = act(client, floor, contact["id"], action, floor.supervisor, **body)

    problem = assert_problem(response, 409)
    assert problem["allowed_actions"] == ["assign", "transfer", "abandon"]
    assert problem["contact_status"] == "queued"
    assert problem["detail"].endswith("Allowed now: assign, transfer, abandon.")
    assert len(stored_events(app, floor.tenant, contact["id"])) == 1


# --- who may act -----------------------------------------------------------------------------


def test_an_agent_acts_only_on_what_it_holds(client, floor):
    held_by_colleague = new_contact(client, floor, channel="voice")
    ok(
        act(
            client,
            floor,
            held_by_colleague["id"],
            "assign",
            floor.supervisor,
            agent_id=floor.colleague["id"],
        )
    )
    unassigned = new_contact(client, floor, channel="voice")

    assert_problem(act(client, floor, held_by_colleague["id"], "answer"), 403)
    assert_problem(act(client, floor, unassigned["id"], "abandon"), 403)
    assert_problem(
        act(client, floor, unassigned["id"], "transfer", queue_id=str(floor.other_queue_id)), 403
    )
    ok(act(client, floor, held_by_colleague["id"], "answer", floor.colleague_caller))


def test_an_agent_gets_404_for_a_contact_outside_its_queues(client, floor):
    elsewhere = new_contact(client, floor, queue_id=str(floor.other_queue_id), channel="voice")

    response = act(client, floor, elsewhere["id"], "abandon")

    assert_problem(response, 404)


@pytest.mark.parametrize(
    ("role", "action", "status"),
    [
        ("client_viewer", "abandon", 403),
        ("client_admin", "abandon", 403),
        ("integration", "release", 403),
        ("integration", "assign", 403),
        ("supervisor", "abandon", 200),
        ("bpo_admin", "abandon", 200),
    ],
)
def test_roles_that_may_not_act_get_403(app, client, factory, floor, role, action, status):
    contact = new_contact(client, floor, channel="voice")
    caller = floor.integration if role == "integration" else factory.caller(role, floor.tenant)
    body = {"agent_id": floor.agent["id"]} if action == "assign" else {}

    response = act(client, floor, contact["id"], action, caller, **body)

    if status == 200:
        assert ok(response)["status"] == "abandoned"
    else:
        assert_problem(response, status)
        assert len(stored_events(app, floor.tenant, contact["id"])) == 1


def test_another_firms_contact_cannot_be_acted_on(app, client, factory, floor):
    other = factory.tenant()
    queue_of(app, other, "General")
    theirs = create_contact(client, factory.caller("integration", other), other, channel="voice")

    response = act(client, floor, theirs["id"], "abandon", floor.supervisor)

    assert_problem(response, 404)
    assert [e.action for e in stored_events(app, other, theirs["id"])] == ["create"]


def test_work_in_progress_finishes_at_a_suspended_firm(app, client, floor):
    contact = active(client, floor)
    set_status(app, floor.tenant, "suspended")

    body = ok(
        act(client, floor, contact["id"], "resolve", disposition="done", resolution_note="Done.")
    )

    assert body["status"] == "resolved"
