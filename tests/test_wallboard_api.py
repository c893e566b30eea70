"""Stories of the wallboard's snapshot (GET /v1/wallboard): a supervisor reads the floor of the
firms it oversees, figures worked out by hand; nobody else reads it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from app.agents.models import Agent, Assignment
from app.contacts import service as contacts_service
from app.db import db, utcnow
from tenants.models import Tenant, User
from tenants.scoping import tenant_scope, unscoped
from tenants.service import SYSTEM
from tests.http_helpers import assert_problem
from tests.test_reports_sla import clock, contact, queue_of, store

URL = "/v1/wallboard"


def noon_zone() -> str:
    """A fixed-offset zone where it is about noon now: "today" then holds the last hours
    whenever the test runs (no contact of a minute ago falls on yesterday)."""
    hours = utcnow().hour - 12  # Etc/GMT+N is N hours behind UTC
    return f"Etc/GMT{'+' if hours >= 0 else '-'}{abs(hours)}"


def ago(seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=seconds)


def agent(app, factory, name: str, presence: str, serves: list[tuple[Tenant, uuid.UUID]]):
    """An agent of the BPO, in `presence`, assigned to these (firm, queue) pairs."""
    user = factory.user("agent")
    with app.app_context():
        # Agent profiles belong to the BPO, not to a tenant.
        with unscoped():
            profile = Agent(
                user_id=user.id,
                channels=["voice", "chat", "email"],
                concurrency={"voice": 1, "chat": 2},
                presence=presence,
                presence_since=ago(300),
            )
            db.session.add(profile)
            db.session.flush()
            db.session.get(User, user.id).name = name
        for tenant, queue_id in serves:
            with tenant_scope(tenant.id):
                db.session.add(Assignment(agent_id=profile.id, queue_id=queue_id))
        db.session.commit()
        return profile.id


@dataclass
class Floor:
    a: Tenant
    b: Tenant
    line: uuid.UUID  # A's queue
    other: uuid.UUID  # B's queue
    ana: uuid.UUID
    bruno: uuid.UUID
    carla: uuid.UUID
    dario: uuid.UUID
    waiting: list  # A's two waiting contacts, oldest first
    held_by_ana: uuid.UUID
    held_by_dario_in_b: uuid.UUID


def a_floor(app, factory) -> Floor:
    """Firm A (queue "Line", T = 20 s, the policy defaults: 80 %, short abandons of 5 s) and
    firm B.

    A's day so far: answered in 10 s (and resolved), answered in 30 s, abandoned after 3 s
    (short), abandoned after 40 s: service level 1 / (2 + 2 - 1) = 0.3333, missed.
    Waiting in A: two contacts, in line for 120 s and 30 s; the older one breached. Ana holds
    an assigned chat of A at risk, due in 5 minutes. Dario serves A and B and holds a B email.
    """
    a = factory.tenant(name="Acme Wall", time_zone=noon_zone())
    b = factory.tenant(name="Beta Wall", time_zone=noon_zone())
    line, other = queue_of(app, a, "Line", threshold=20), queue_of(app, b, "Other B line")
    ana = agent(app, factory, "Ana Wall", "busy", [(a, line)])
    bruno = agent(app, factory, "Bruno Wall", "available", [(a, line)])
    carla = agent(app, factory, "Carla Wall", "break", [(b, other)])
    dario = agent(app, factory, "Dario Wall", "busy", [(a, line), (b, other)])
    start = ago(900)
    done = [
        contact(
            line,
            start,
            status="resolved",
            answered_at=start + timedelta(seconds=10),
            resolved_at=start + timedelta(seconds=200),
            agent_id=ana,
        ),
        contact(line, start, status="active", answered_at=start + timedelta(seconds=30)),
        contact(line, start, status="abandoned", abandoned_at=start + timedelta(seconds=3)),
        contact(line, start, status="abandoned", abandoned_at=start + timedelta(seconds=40)),
    ]
    older, newer = contact(line, ago(120)), contact(line, ago(30))
    older.sla_due_at, older.sla_state = ago(60), "breached"
    held = contact(
        line,
        ago(200),
        channel="chat",
        status="assigned",
        agent_id=ana,
        assigned_at=ago(100),
        status_since=ago(100),
    )
    held.sla_due_at, held.sla_state = ago(-300), "at_risk"
    clocks = [
        clock(older, "first_response", state="breached", due_at=ago(60), running_since=ago(120)),
        clock(
            held,
            "first_response",
            state="at_risk",
            at_risk_at=ago(10),
            due_at=ago(-300),
            running_since=ago(200),
        ),
    ]
    store(app, a, [*done, older, newer, held], clocks)
    in_b = contact(
        other, ago(500), channel="email", status="active", agent_id=dario, status_since=ago(400)
    )
    store(app, b, [in_b, contact(other, ago(50))])
    return Floor(a, b, line, other, ana, bruno, carla, dario, [older, newer], held.id, in_b.id)


def board(client, caller, **query) -> dict:
    response = client.get(URL, headers=caller.headers, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment.astimezone(UTC)


def counts(states: list[dict]) -> dict[str, int]:
    return {item["presence"]: item["count"] for item in states}


def test_a_supervisor_reads_its_firms_figures_worked_out_by_hand(app, client, factory):
    floor = a_floor(app, factory)
    supervisor = factory.caller("supervisor", floor.a)

    body = board(client, supervisor)

    generated = at(body["generated_at"])
    [firm] = body["tenants"]
    assert firm["tenant_id"] == str(floor.a.id) and firm["name"] == "Acme Wall"
    assert firm["service_level_target"] == 0.8
    [line] = firm["queues"]
    assert line["queue_id"] == str(floor.line) and line["answer_threshold_seconds"] == 20
    oldest = floor.waiting[0].queued_at
    assert line["waiting"] == 2
    assert line["longest_wait_seconds"] == int((generated - oldest).total_seconds())
    assert (line["answered"], line["answered_within_threshold"]) == (2, 1)
    assert (line["abandoned"], line["short_abandoned"], line["handled"]) == (2, 1, 1)
    assert line["service_level"] == 0.3333 and line["service_level_state"] == "missed"
    assert (line["at_risk"], line["breached"]) == (1, 1)
    assert counts(line["agents_by_state"]) == {
        "available": 1,
        "busy": 2,
        "after_contact_work": 0,
        "break": 0,
        "offline": 0,
    }
    assert [s["presence"] for s in line["agents_by_state"]][:2] == ["available", "busy"]
    assert sorted(line["agent_ids"]) == sorted(
        str(x) for x in (floor.ana, floor.bruno, floor.dario)
    )
    totals = firm["totals"]
    assert (totals["waiting"], totals["service_level"], totals["agents"]) == (2, 0.3333, 3)
    assert timedelta(0) <= generated - at(firm["day_start"]) < timedelta(days=1)

    agents = {a["name"]: a for a in body["agents"]}
    assert set(agents) == {"Ana Wall", "Bruno Wall", "Dario Wall"}
    assert [a["presence"] for a in body["agents"]] == ["available", "busy", "busy"]
    [work] = agents["Ana Wall"]["working_on"]
    assert work["contact_id"] == str(floor.held_by_ana)
    assert (work["tenant_name"], work["queue_name"]) == ("Acme Wall", "Line")
    assert (work["channel"], work["status"]) == ("chat", "assigned")
    # Dario serves B too: his B work is not the supervisor of A's to see.
    assert agents["Dario Wall"]["working_on"] == []
    assert agents["Dario Wall"]["tenant_ids"] == [str(floor.a.id)]

    breached, at_risk = body["urgent"]
    assert breached["contact_id"] == str(floor.waiting[0].id)
    assert breached["sla_state"] == "breached" and breached["agent_id"] is None
    assert at_risk["sla_state"] == "at_risk" and at_risk["agent_name"] == "Ana Wall"
    assert at(breached["due_at"]) < generated < at(at_risk["due_at"])
    assert body["floor"]["waiting"] == 2 and body["floor"]["breached"] == 1

    text = str(body)
    for secret in (floor.b.id, floor.other, floor.carla, floor.held_by_dario_in_b):
        assert str(secret) not in text
    assert "Beta Wall" not in text and "Carla Wall" not in text


def test_a_contact_abandoned_after_a_read_shows_on_the_next_read(app, client, factory):
    """Today's counts are kept per process between reads (app.wallboard.today); a lifecycle
    action records an event, which must make the next read sum the firm again."""
    floor = a_floor(app, factory)
    supervisor = factory.caller("supervisor", floor.a)
    [line] = board(client, supervisor)["tenants"][0]["queues"]
    assert (line["abandoned"], line["short_abandoned"], line["waiting"]) == (2, 1, 2)

    with app.app_context(), tenant_scope(floor.a.id):
        # The newer waiting contact hangs up after 30 s in line: neither short nor within T.
        waiting = contacts_service.get(contact_id=floor.waiting[1].id, for_update=True)
        contacts_service.act(
            contact=waiting, action="abandon", action_in={}, tenant=floor.a, actor=SYSTEM
        )
        db.session.commit()

    [line] = board(client, supervisor)["tenants"][0]["queues"]
    assert (line["abandoned"], line["short_abandoned"], line["waiting"]) == (3, 1, 1)
    assert line["service_level"] == 0.25  # 1 within T / (2 answered + 3 abandoned - 1 short)


def test_the_bpo_admin_sees_every_firm_and_may_narrow_to_some(app, client, factory):
    floor = a_floor(app, factory)
    admin = factory.caller("bpo_admin")

    everything = board(client, admin)
    narrowed = board(client, admin, tenant_id=str(floor.b.id))

    assert [t["name"] for t in everything["tenants"]] == ["Acme Wall", "Beta Wall"]
    agents = {a["name"]: a for a in everything["agents"]}
    assert [w["contact_id"] for w in agents["Dario Wall"]["working_on"]] == [
        str(floor.held_by_dario_in_b)
    ]
    assert everything["floor"]["waiting"] == 3 and everything["floor"]["agents"] == 4
    assert [t["name"] for t in narrowed["tenants"]] == ["Beta Wall"]
    [other] = narrowed["tenants"][0]["queues"]
    assert other["waiting"] == 1 and other["service_level"] is None


def test_a_supervisor_asking_for_a_firm_it_does_not_oversee_is_shown_nothing_of_it(
    app, client, factory
):
    floor = a_floor(app, factory)
    supervisor = factory.caller("supervisor", floor.a)

    body = board(client, supervisor, tenant_id=[str(floor.b.id)])
    both = board(client, supervisor, tenant_id=[str(floor.a.id), str(floor.b.id)])

    assert body["tenants"] == [] and body["agents"] == [] and body["urgent"] == []
    assert [t["name"] for t in both["tenants"]] == ["Acme Wall"]
    assert str(floor.b.id) not in str(both)


@pytest.mark.parametrize("role", ["agent", "client_admin", "client_viewer", "integration"])
def test_only_supervisors_and_the_bpo_admin_read_the_wallboard(app, client, factory, role):
    firm = factory.tenant()
    caller = factory.caller(role, firm)

    refused = client.get(URL, headers=caller.headers)

    assert_problem(refused, 403)


def test_a_bad_firm_id_is_refused_beside_its_parameter(app, client, factory):
    admin = factory.caller("bpo_admin")

    refused = client.get(URL, headers=admin.headers, query_string={"tenant_id": "nope"})

    body = assert_problem(refused, 422)
    assert "tenant_id" in body["errors"]["query"]


def test_the_wallboards_risk_is_the_at_risk_lists(app, client, factory):
    floor = a_floor(app, factory)
    admin = factory.caller("bpo_admin")

    body = board(client, admin)

    for state in ("at_risk", "breached"):
        listed = client.get(f"/v1/sla/at-risk?state={state}", headers=admin.headers)
        assert listed.status_code == 200
        # The list's count (its items need the firm's calendar, which this floor lacks).
        total = json.loads(listed.headers["X-Pagination"])["total"]
        assert body["floor"][state] == total == 1
        assert len([u for u in body["urgent"] if u["sla_state"] == state]) == total
    assert floor.held_by_ana in {uuid.UUID(u["contact_id"]) for u in body["urgent"]}


def park_with_bruno(app, floor: Floor, how_many: int) -> list:
    """E-mails of A that Bruno holds waiting for their customers, each parked 1 s longer than
    the one before it."""
    parked = [
        contact(
            floor.line,
            ago(3_600 + n),
            channel="email",
            status="waiting_customer",
            agent_id=floor.bruno,
            status_since=ago(1_000 + n),
        )
        for n in range(how_many)
    ]
    store(app, floor.a, parked, [])
    return parked


def test_an_agent_holding_many_parked_contacts_shows_the_longest_held_and_a_count(
    app, client, factory
):
    floor = a_floor(app, factory)
    parked = park_with_bruno(app, floor, 12)
    supervisor = factory.caller("supervisor", floor.a)

    body = board(client, supervisor)

    bruno = next(a for a in body["agents"] if a["name"] == "Bruno Wall")
    assert bruno["working_on_count"] == 12
    # The ten held longest, longest first.
    assert [w["contact_id"] for w in bruno["working_on"]] == [
        str(c.id) for c in reversed(parked[2:])
    ]
    ana = next(a for a in body["agents"] if a["name"] == "Ana Wall")
    assert ana["working_on_count"] == len(ana["working_on"]) == 1
