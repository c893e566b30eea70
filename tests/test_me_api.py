"""The agent's own day: who am I, my queues across client firms, switching, presence."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from app.db import db, utcnow
from app.queues.models import Briefing, Queue
from tenants.scoping import tenant_scope
from tests.http_helpers import assert_problem
from tests.test_agents_api import (
    agent_caller,
    assign,
    create_agent,
    events_of,
    make_queue,
    segments_of,
    set_status,
)


def _briefing(app, tenant, title: str, queue_ids=(), **fields) -> None:
    with app.app_context(), tenant_scope(tenant.id):
        db.session.add(
            Briefing(
                title=title,
                body=f"{title} body",
                effective_from=fields.pop("effective_from", utcnow() - timedelta(hours=1)),
                queue_ids=[str(q) for q in queue_ids],
                **fields,
            )
        )
        db.session.commit()


def _working_agent(app, client, factory, *tenants, admin=None):
    """An agent assigned to one queue of each tenant; return (agent body, caller, queue ids)."""
    admin = admin or factory.caller("bpo_admin")
    queues = [make_queue(app, t, f"Queue of {t.name}") for t in tenants]
    agent = create_agent(client, admin)
    assign(client, admin, agent["id"], queues)
    return agent, agent_caller(factory, agent), queues


def _activate(client, caller, queue_ids):
    return client.put(
        "/v1/me/active-queues",
        json={"queue_ids": [str(q) for q in queue_ids]},
        headers=caller.headers,
    )


def _presence(client, caller, presence):
    return client.put("/v1/me/presence", json={"presence": presence}, headers=caller.headers)


# --- who am I --------------------------------------------------------------------------------


def test_me_describes_a_client_admin(client, factory):
    tenant = factory.tenant(name="Acme")
    caller = factory.caller("client_admin", tenant)

    body = client.get("/v1/me", headers=caller.headers).get_json()

    assert body["user"]["id"] == str(caller.user_id)
    assert body["platform_roles"] == []
    assert body["tenants"] == [
        {"id": str(tenant.id), "name": "Acme", "status": "active", "role": "client_admin"}
    ]
    assert body["agent"] is None
    assert "users:admin" in body["scopes"]


def test_me_describes_an_integration_and_a_bpo_admin(client, factory):
    tenant = factory.tenant()
    integration = factory.caller("integration", tenant)
    admin = factory.caller("bpo_admin")

    machine = client.get("/v1/me", headers=integration.headers).get_json()
    person = client.get("/v1/me", headers=admin.headers).get_json()

    assert machine["user"] is None
    assert machine["client_id"] == integration.client_id
    assert [(t["id"], t["role"]) for t in machine["tenants"]] == [(str(tenant.id), "integration")]
    assert person["platform_roles"] == ["bpo_admin"]
    assert person["tenants"] == [] and person["agent"] is None


def test_me_describes_an_agent_with_the_firms_its_queues_belong_to(app, client, factory):
    a, b = factory.tenant(name="Alpha"), factory.tenant(name="Beta")
    agent, me, _ = _working_agent(app, client, factory, a, b)

    body = client.get("/v1/me", headers=me.headers).get_json()

    assert body["platform_roles"] == ["agent"]
    assert [(t["name"], t["role"]) for t in body["tenants"]] == [
        ("Alpha", "agent"),
        ("Beta", "agent"),
    ]
    assert body["agent"]["id"] == agent["id"]
    assert body["agent"]["channels"] == agent["channels"]


# --- my queues -------------------------------------------------------------------------------


def test_an_agent_sees_its_queues_of_a_and_b_and_never_c(app, client, factory):
    a, b, c = factory.tenant(name="Alpha"), factory.tenant(name="Beta"), factory.tenant(name="Cee")
    _, me, (queue_a, queue_b) = _working_agent(app, client, factory, a, b)
    other_a = make_queue(app, a, "Other of Alpha")
    queue_c = make_queue(app, c, "Queue of Cee")
    _briefing(app, a, "Alpha outage")  # firm-wide: every queue of A
    _briefing(app, a, "Alpha other queue only", [other_a])
    _briefing(app, a, "Alpha expired", effective_to=utcnow() - timedelta(minutes=1))
    _briefing(app, b, "Beta price change", [queue_b])
    _briefing(app, c, "Cee secret")
    _briefing(app, c, "Cee names its queue", [queue_c])

    response = client.get("/v1/me/queues", headers=me.headers)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [(q["queue_id"], q["tenant"]["name"]) for q in body] == [
        (str(queue_a), "Alpha"),
        (str(queue_b), "Beta"),
    ]
    assert body[0]["tenant"] == {"id": str(a.id), "name": "Alpha", "status": "active"}
    assert [x["title"] for x in body[0]["briefings"]] == ["Alpha outage"]
    assert [x["title"] for x in body[1]["briefings"]] == ["Beta price change"]
    assert all(q["waiting_count"] == 0 and q["oldest_wait_seconds"] is None for q in body)
    assert all(q["priority"] == 1 and q["active"] is False for q in body)
    text = response.get_data(as_text=True)
    assert "Cee" not in text and str(c.id) not in text and str(other_a) not in text


def test_an_agent_reaches_its_firms_and_no_other(app, client, factory):
    a, b, c = factory.tenant(), factory.tenant(), factory.tenant()
    _, me, _ = _working_agent(app, client, factory, a, b)

    listed = client.get("/v1/tenants", headers=me.headers).get_json()

    assert client.get(f"/v1/tenants/{a.id}", headers=me.headers).status_code == 200
    assert_problem(client.get(f"/v1/tenants/{c.id}", headers=me.headers), 404)
    assert sorted(t["id"] for t in listed) == sorted([str(a.id), str(b.id)])


@pytest.mark.parametrize("role", ["bpo_admin", "supervisor", "client_admin"])
def test_only_agents_work_as_agents(client, factory, role):
    caller = factory.caller(role, factory.tenant())

    assert_problem(client.get("/v1/me/queues", headers=caller.headers), 403)
    assert_problem(_presence(client, caller, "available"), 403)
    assert_problem(_activate(client, caller, []), 403)


# --- switching and presence ------------------------------------------------------------------


def test_switching_and_presence_are_logged_and_attribute_time(app, client, factory):
    a, b = factory.tenant(), factory.tenant()
    agent, me, (queue_a, queue_b) = _working_agent(app, client, factory, a, b)

    switched = _activate(client, me, [queue_a, queue_b])
    assert switched.status_code == 200, switched.get_json()
    assert switched.get_json()["active_queue_ids"] == [str(queue_a), str(queue_b)]
    # Offline time is nobody's: no segment yet.
    assert segments_of(app, agent["id"]) == []

    available = _presence(client, me, "available")

    assert available.get_json()["presence"] == "available"
    running = segments_of(app, agent["id"])
    assert sorted((s.tenant_id, s.share_bps, s.ended_at) for s in running) == sorted(
        [(a.id, 5000, None), (b.id, 5000, None)]
    )
    queues = client.get("/v1/me/queues", headers=me.headers).get_json()
    assert [q["active"] for q in queues] == [True, True]

    _presence(client, me, "break")

    assert all(s.ended_at is not None for s in segments_of(app, agent["id"]))
    kinds = [(e.kind, e.presence) for e in events_of(app, agent["id"])]
    assert kinds == [
        ("assignments", "offline"),
        ("active_queues", "offline"),
        ("presence", "available"),
        ("presence", "break"),
    ]
    assert {e.actor_user_id for e in events_of(app, agent["id"])[1:]} == {me.user_id}


def test_the_same_presence_or_queues_again_log_nothing(app, client, factory):
    agent, me, (queue,) = _working_agent(app, client, factory, factory.tenant())
    _activate(client, me, [queue])
    _presence(client, me, "available")
    before = len(events_of(app, agent["id"]))

    assert _activate(client, me, [queue]).status_code == 200
    assert _presence(client, me, "available").status_code == 200

    assert len(events_of(app, agent["id"])) == before
    assert len(segments_of(app, agent["id"])) == 1


def test_three_firms_share_the_time_to_exactly_ten_thousand(app, client, factory):
    tenants = [factory.tenant() for _ in range(3)]
    agent, me, queues = _working_agent(app, client, factory, *tenants)
    _activate(client, me, queues)

    _presence(client, me, "busy")

    shares = sorted((s.share_bps for s in segments_of(app, agent["id"])), reverse=True)
    assert shares == [3334, 3333, 3333]
    assert {s.presence for s in segments_of(app, agent["id"])} == {"busy"}


def test_active_queues_must_be_assigned(app, client, factory):
    a = factory.tenant()
    agent, me, (queue,) = _working_agent(app, client, factory, a)
    not_mine = make_queue(app, a)
    missing = uuid.uuid4()

    response = _activate(client, me, [queue, not_mine, missing])

    body = assert_problem(response, 422)
    assert str(not_mine) in body["detail"] and str(missing) in body["detail"]
    assert str(queue) not in body["detail"]
    assert "queue_ids" in body["errors"]["json"]
    assert [e.kind for e in events_of(app, agent["id"])] == ["assignments"]


def test_a_suspended_firms_queues_cannot_be_made_active(app, client, factory):
    a, b = factory.tenant(name="Paused Ltd"), factory.tenant()
    _, me, (queue_a, queue_b) = _working_agent(app, client, factory, a, b)
    set_status(app, a, "suspended")

    response = _activate(client, me, [queue_a, queue_b])

    detail = assert_problem(response, 409)["detail"]
    assert "Paused Ltd is suspended" in detail and str(queue_a) in detail
    assert _activate(client, me, [queue_b]).status_code == 200
    # The suspended firm's queue is still listed, with its status, for the agent to see.
    listed = client.get("/v1/me/queues", headers=me.headers).get_json()
    assert {q["tenant"]["status"] for q in listed} == {"suspended", "active"}


def test_a_deactivated_queue_cannot_be_made_active(app, client, factory):
    a = factory.tenant()
    _, me, (queue,) = _working_agent(app, client, factory, a)
    with app.app_context(), tenant_scope(a.id):
        db.session.get(Queue, queue).is_active = False
        db.session.commit()

    assert "deactivated" in assert_problem(_activate(client, me, [queue]), 409)["detail"]


def test_an_unknown_presence_is_refused(client, factory, app):
    _, me, _ = _working_agent(app, client, factory, factory.tenant())

    body = assert_problem(_presence(client, me, "lunch"), 422)

    assert "presence" in body["errors"]["json"]


def test_unassigning_a_queue_removes_it_from_the_active_queues(app, client, factory):
    admin = factory.caller("bpo_admin")
    a, b = factory.tenant(), factory.tenant()
    agent, me, (queue_a, queue_b) = _working_agent(app, client, factory, a, b, admin=admin)
    _activate(client, me, [queue_a, queue_b])
    _presence(client, me, "available")

    assign(client, admin, agent["id"], [queue_b])

    state = client.get("/v1/me", headers=me.headers).get_json()["agent"]
    assert state["active_queue_ids"] == [str(queue_b)]
    assert [q["queue_id"] for q in client.get("/v1/me/queues", headers=me.headers).get_json()] == [
        str(queue_b)
    ]
    segments = segments_of(app, agent["id"])
    running = [(s.tenant_id, s.share_bps) for s in segments if s.ended_at is None]
    assert running == [(b.id, 10000)]
    assert all(s.ended_at is not None for s in segments if s.tenant_id == a.id)
    last = events_of(app, agent["id"])[-1]
    assert (last.kind, last.active_queue_ids) == ("assignments", [str(queue_b)])
    assert client.get(f"/v1/tenants/{a.id}", headers=me.headers).status_code == 404
