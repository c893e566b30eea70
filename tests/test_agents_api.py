"""The BPO's view of agents: profiles, queue assignments across client firms, supervisors.

The helpers at the top are shared with tests/test_me_api.py and tests/test_agent_time.py.
"""

from __future__ import annotations

import itertools
import json
import uuid

import pytest
from sqlalchemy import select

from app.agents.models import Agent, AgentEvent, AgentTimeSegment, Assignment
from app.db import db
from app.queues.models import Queue
from tenants.models import Membership, Tenant, User
from tenants.scoping import tenant_scope, unscoped
from tenants.service import Actor
from tests.factories import PASSWORD, Caller
from tests.http_helpers import assert_problem, audit_entries

_seq = itertools.count(1)

# --- helpers ---------------------------------------------------------------------------------


def agent_in(**fields) -> dict:
    """A valid body for POST /v1/agents."""
    n = next(_seq)
    return {
        "email": f"agent-{n}-{uuid.uuid4().hex[:6]}@bpo.test",
        "name": f"Agent {n}",
        "password": PASSWORD,
        "skills": [{"name": "lang:es", "level": 5}, {"name": "billing-disputes", "level": 3}],
        "channels": ["voice", "chat", "email"],
        "concurrency": {"voice": 1, "chat": 3, "email": 5},
        "languages": ["es", "en"],
        **fields,
    }


def make_queue(app, tenant: Tenant, name: str | None = None, **fields) -> uuid.UUID:
    """A queue of the tenant, committed; return its id."""
    with app.app_context(), tenant_scope(tenant.id):
        fields.setdefault("channels", ["voice", "chat"])
        queue = Queue(name=name or f"Queue {next(_seq)}", **fields)
        db.session.add(queue)
        db.session.commit()
        return queue.id


def create_agent(client, admin: Caller, **fields) -> dict:
    """An agent created through the API by a BPO admin; return the response body."""
    response = client.post("/v1/agents", json=agent_in(**fields), headers=admin.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def agent_caller(factory, agent: dict) -> Caller:
    """A token for the agent's user, with every scope an agent may hold."""
    with factory.app.app_context():
        user = db.session.get(User, uuid.UUID(agent["user_id"]))
    client_id, secret = factory.user_client(user)
    token = factory.token(client_id, secret)
    return Caller(token, client_id, secret, user_id=user.id, role="agent")


def put_assignments(client, admin: Caller, agent_id, queues: list) -> object:
    """PUT the agent's full assignment list (queue ids, or (queue id, priority) pairs)."""
    current = client.get(f"/v1/agents/{agent_id}/assignments", headers=admin.headers)
    assert current.status_code == 200, current.get_json()
    body = {
        "assignments": [
            {"queue_id": str(q[0]), "priority": q[1]}
            if isinstance(q, tuple)
            else {"queue_id": str(q)}
            for q in queues
        ]
    }
    return client.put(
        f"/v1/agents/{agent_id}/assignments",
        json=body,
        headers={**admin.headers, "If-Match": current.headers["ETag"]},
    )


def assign(client, admin: Caller, agent_id, queues: list) -> dict:
    response = put_assignments(client, admin, agent_id, queues)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def set_status(app, tenant: Tenant, status: str) -> None:
    """Put a tenant in a lifecycle status directly (the lifecycle has its own tests)."""
    with app.app_context():
        db.session.get(Tenant, tenant.id).status = status
        db.session.commit()


def events_of(app, agent_id) -> list[AgentEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AgentEvent)
                .where(AgentEvent.agent_id == uuid.UUID(str(agent_id)))
                .order_by(AgentEvent.occurred_at)
            )
        )


def segments_of(app, agent_id) -> list[AgentTimeSegment]:
    with app.app_context():
        # The test reads the agent's segments in every tenant.
        with unscoped():
            return list(
                db.session.scalars(
                    select(AgentTimeSegment)
                    .where(AgentTimeSegment.agent_id == uuid.UUID(str(agent_id)))
                    .order_by(AgentTimeSegment.started_at, AgentTimeSegment.share_bps.desc())
                )
            )


def service_call(app, fn, agent_id, **kwargs):
    """Call an agents service function for the agent, as its own user, and commit."""
    with app.app_context():
        agent = db.session.get(Agent, uuid.UUID(str(agent_id)))
        result = fn(agent=agent, actor=Actor(user_id=agent.user_id), **kwargs)
        db.session.commit()
        return result


# --- creating and reading agents -------------------------------------------------------------


def test_a_bpo_admin_creates_an_agent_with_its_profile(app, client, factory):
    admin = factory.caller("bpo_admin")
    body_in = agent_in(concurrency={"chat": 3})

    response = client.post("/v1/agents", json=body_in, headers=admin.headers)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["email"] == body_in["email"]
    assert body["name"] == body_in["name"]
    assert body["skills"] == body_in["skills"]
    assert body["channels"] == ["voice", "chat", "email"]
    # Channels left out of concurrency take one contact at a time.
    assert body["concurrency"] == {"voice": 1, "chat": 3, "email": 1}
    assert body["languages"] == ["es", "en"]
    assert body["presence"] == "offline"
    assert body["active_queue_ids"] == []
    assert body["is_active"] is True
    assert "password" not in body
    with app.app_context():
        user = db.session.get(User, uuid.UUID(body["user_id"]))
        assert user.password_hash.startswith("$argon2")
        # The test reads the BPO-wide membership.
        with unscoped():
            roles = db.session.scalars(select(Membership).where(Membership.user_id == user.id))
            assert [(m.role, m.tenant_id) for m in roles] == [("agent", None)]
    [entry] = audit_entries(app, "agent.created")
    assert (entry.tenant_id, entry.target_id, entry.actor_user_id) == (
        None,
        body["id"],
        admin.user_id,
    )
    # The new agent signs in and works with the agent role.
    agent = agent_caller(factory, body)
    me = client.get("/v1/me", headers=agent.headers).get_json()
    assert me["platform_roles"] == ["agent"]
    assert me["agent"]["id"] == body["id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"skills": [{"name": "billing", "level": 1}, {"name": "Billing", "level": 2}]}, "skills"),
        ({"skills": [{"name": "billing", "level": 6}]}, "skills"),
        ({"channels": ["voice", "fax"]}, "channels"),
        ({"channels": []}, "channels"),
        ({"channels": ["chat", "chat"]}, "channels"),
        ({"channels": ["chat"], "concurrency": {"chat": 3, "email": 5}}, "concurrency"),
        ({"concurrency": {"voice": 1, "chat": 21, "email": 5}}, "concurrency"),
        ({"concurrency": {"voice": 0, "chat": 3, "email": 5}}, "concurrency"),
        ({"languages": ["Spanish"]}, "languages"),
        ({"password": "too short"}, "password"),
        ({"email": "not an email"}, "email"),
    ],
)
def test_an_invalid_agent_is_refused_naming_the_field(app, client, factory, change, field):
    admin = factory.caller("bpo_admin")

    response = client.post("/v1/agents", json=agent_in(**change), headers=admin.headers)

    body = assert_problem(response, 422)
    assert field in body["errors"]["json"], body
    with app.app_context():
        assert db.session.scalars(select(Agent)).all() == []


def test_an_agent_needs_channels_an_email_and_a_name(client, factory):
    admin = factory.caller("bpo_admin")

    response = client.post("/v1/agents", json={}, headers=admin.headers)

    body = assert_problem(response, 422)
    assert {"email", "name", "channels"} <= set(body["errors"]["json"])


def test_an_agent_with_an_email_in_use_is_a_conflict(client, factory):
    admin = factory.caller("bpo_admin")
    first = create_agent(client, admin)

    response = client.post(
        "/v1/agents", json=agent_in(email=first["email"].upper()), headers=admin.headers
    )

    assert_problem(response, 409)


def test_a_bpo_admin_pages_through_agents_by_name(client, factory):
    admin = factory.caller("bpo_admin")
    names = ["Carmen", "Ana", "Bruno"]
    for name in names:
        create_agent(client, admin, name=name)

    first = client.get("/v1/agents?page=1&page_size=2", headers=admin.headers)
    second = client.get("/v1/agents?page=2&page_size=2", headers=admin.headers)

    assert [a["name"] for a in first.get_json()] == ["Ana", "Bruno"]
    assert [a["name"] for a in second.get_json()] == ["Carmen"]
    assert json.loads(first.headers["X-Pagination"])["total"] == 3


def test_a_bpo_admin_reads_and_changes_an_agent_with_if_match(client, factory):
    admin = factory.caller("bpo_admin")
    agent = create_agent(client, admin)
    url = f"/v1/agents/{agent['id']}"
    read = client.get(url, headers=admin.headers)
    assert read.status_code == 200 and read.headers["ETag"]

    change = {"name": "Renamed", "channels": ["chat", "email"], "concurrency": {"chat": 4}}
    assert_problem(client.patch(url, json=change, headers=admin.headers), 428)
    stale = {**admin.headers, "If-Match": '"stale"'}
    assert_problem(client.patch(url, json=change, headers=stale), 412)
    response = client.patch(
        url, json=change, headers={**admin.headers, "If-Match": read.headers["ETag"]}
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["name"] == "Renamed"
    assert body["channels"] == ["chat", "email"]
    # Merged: chat changed, email kept, voice gone with its channel.
    assert body["concurrency"] == {"chat": 4, "email": 5}
    assert response.headers["ETag"] != read.headers["ETag"]


def test_concurrency_for_a_channel_the_agent_drops_is_refused(client, factory):
    admin = factory.caller("bpo_admin")
    agent = create_agent(client, admin)
    url = f"/v1/agents/{agent['id']}"
    etag = client.get(url, headers=admin.headers).headers["ETag"]

    response = client.patch(
        url,
        json={"channels": ["email"], "concurrency": {"chat": 2}},
        headers={**admin.headers, "If-Match": etag},
    )

    body = assert_problem(response, 422)
    assert "chat" in body["errors"]["json"]["concurrency"]


def test_deactivating_an_agent_takes_it_offline_and_out_of_every_firm(app, client, factory):
    admin = factory.caller("bpo_admin")
    a = factory.tenant()
    queue = make_queue(app, a)
    agent = create_agent(client, admin)
    assign(client, admin, agent["id"], [queue])
    me = agent_caller(factory, agent)
    client.put("/v1/me/active-queues", json={"queue_ids": [str(queue)]}, headers=me.headers)
    client.put("/v1/me/presence", json={"presence": "available"}, headers=me.headers)
    assert client.get(f"/v1/tenants/{a.id}", headers=me.headers).status_code == 200
    url = f"/v1/agents/{agent['id']}"
    etag = client.get(url, headers=admin.headers).headers["ETag"]

    response = client.patch(
        url, json={"is_active": False}, headers={**admin.headers, "If-Match": etag}
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["is_active"], body["presence"], body["active_queue_ids"]) == (False, "offline", [])
    assert [s.ended_at is not None for s in segments_of(app, agent["id"])] == [True]
    assert client.get(f"/v1/tenants/{a.id}", headers=me.headers).status_code == 404
    assert_problem(client.get("/v1/me/queues", headers=me.headers), 403)
    assert [e.action for e in audit_entries(app, "agent.deactivated")] == ["agent.deactivated"]


@pytest.mark.parametrize("role", ["client_admin", "client_viewer", "integration", "agent"])
def test_client_roles_and_agents_may_not_read_or_manage_agents(client, factory, role):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")
    agent = create_agent(client, admin)
    caller = factory.caller(role, tenant)

    assert_problem(client.get("/v1/agents", headers=caller.headers), 403)
    assert_problem(client.get(f"/v1/agents/{agent['id']}", headers=caller.headers), 403)
    assert_problem(client.post("/v1/agents", json=agent_in(), headers=caller.headers), 403)
    assert_problem(client.get(f"/v1/agents/{agent['id']}/timeline", headers=caller.headers), 403)
    assert_problem(
        client.put(
            f"/v1/agents/{agent['id']}/assignments",
            json={"assignments": []},
            headers={**caller.headers, "If-Match": "*"},
        ),
        403,
    )


def test_a_supervisor_reads_only_agents_of_the_firms_they_oversee(app, client, factory):
    admin = factory.caller("bpo_admin")
    a, c = factory.tenant(), factory.tenant()
    queue_a, queue_c = make_queue(app, a), make_queue(app, c)
    shared = create_agent(client, admin, name="Shared")
    elsewhere = create_agent(client, admin, name="Elsewhere")
    create_agent(client, admin, name="Unassigned")
    assign(client, admin, shared["id"], [queue_a, queue_c])
    assign(client, admin, elsewhere["id"], [queue_c])
    me = agent_caller(factory, shared)
    ids = [str(queue_a), str(queue_c)]
    client.put("/v1/me/active-queues", json={"queue_ids": ids}, headers=me.headers)
    supervisor = factory.caller("supervisor", a)

    listed = client.get("/v1/agents", headers=supervisor.headers)
    own = client.get(f"/v1/agents/{shared['id']}", headers=supervisor.headers)
    other = client.get(f"/v1/agents/{elsewhere['id']}", headers=supervisor.headers)
    nowhere = client.get(f"/v1/agents/{uuid.uuid4()}", headers=supervisor.headers)
    assignments = client.get(f"/v1/agents/{shared['id']}/assignments", headers=supervisor.headers)

    assert [x["name"] for x in listed.get_json()] == ["Shared"]
    assert own.status_code == 200
    # The agent's active queue of C is none of the supervisor's business.
    assert listed.get_json()[0]["active_queue_ids"] == [str(queue_a)]
    assert own.get_json()["active_queue_ids"] == [str(queue_a)]
    assert (
        client.get(f"/v1/agents/{shared['id']}", headers=admin.headers).get_json()[
            "active_queue_ids"
        ]
        == ids
    )
    # An agent out of reach answers exactly like one that does not exist.
    assert assert_problem(other, 404)["detail"] == assert_problem(nowhere, 404)["detail"]
    assert [x["queue_id"] for x in assignments.get_json()["assignments"]] == [str(queue_a)]
    for path in (
        f"/v1/agents/{elsewhere['id']}/assignments",
        f"/v1/agents/{elsewhere['id']}/timeline",
    ):
        assert_problem(client.get(path, headers=supervisor.headers), 404)
    # Read-only.
    etag = own.headers["ETag"]
    headers = {**supervisor.headers, "If-Match": etag}
    url = f"/v1/agents/{shared['id']}"
    assert_problem(client.patch(url, json={"name": "X"}, headers=headers), 403)
    assert_problem(client.post("/v1/agents", json=agent_in(), headers=supervisor.headers), 403)
    assert_problem(client.put(f"{url}/assignments", json={"assignments": []}, headers=headers), 403)


# --- assignments -----------------------------------------------------------------------------


def test_assignments_span_firms_and_are_written_and_audited_per_firm(app, client, factory):
    admin = factory.caller("bpo_admin")
    a, b = factory.tenant(name="Alpha"), factory.tenant(name="Beta")
    queue_a, queue_b = make_queue(app, a, "Sales"), make_queue(app, b, "Support")
    agent = create_agent(client, admin)

    body = assign(client, admin, agent["id"], [(queue_b, 2), (queue_a, 1)])

    assert body["agent_id"] == agent["id"]
    assert [
        (x["queue_id"], x["queue_name"], x["tenant"]["name"], x["priority"])
        for x in body["assignments"]
    ] == [(str(queue_a), "Sales", "Alpha", 1), (str(queue_b), "Support", "Beta", 2)]
    with app.app_context():
        # The test reads the assignment rows of both tenants.
        with unscoped():
            rows = db.session.scalars(select(Assignment)).all()
    assert {(r.queue_id, r.tenant_id) for r in rows} == {(queue_a, a.id), (queue_b, b.id)}
    entries = audit_entries(app, "agent.assignments_changed")
    assert sorted((e.tenant_id, e.details["added"][0]) for e in entries) == sorted(
        [(a.id, str(queue_a)), (b.id, str(queue_b))]
    )
    assert {e.target_id for e in entries} == {agent["id"]}
    assert [e.kind for e in events_of(app, agent["id"])] == ["assignments"]

    # Changing one priority and dropping one queue touches those firms only.
    assign(client, admin, agent["id"], [(queue_a, 3)])
    latest = [e for e in audit_entries(app, "agent.assignments_changed") if e not in entries]
    changes = {e.tenant_id: e.details for e in latest}
    assert changes[a.id] == {"added": [], "removed": [], "reprioritised": [str(queue_a)]}
    assert changes[b.id] == {"added": [], "removed": [str(queue_b)], "reprioritised": []}


def test_the_same_assignments_again_change_nothing(app, client, factory):
    admin = factory.caller("bpo_admin")
    queue = make_queue(app, factory.tenant())
    agent = create_agent(client, admin)
    assign(client, admin, agent["id"], [(queue, 2)])

    assign(client, admin, agent["id"], [(queue, 2)])

    assert len(audit_entries(app, "agent.assignments_changed")) == 1
    assert len(events_of(app, agent["id"])) == 1


def test_assignments_need_if_match(client, factory):
    admin = factory.caller("bpo_admin")
    agent = create_agent(client, admin)

    response = client.put(
        f"/v1/agents/{agent['id']}/assignments", json={"assignments": []}, headers=admin.headers
    )

    assert_problem(response, 428)


def test_unknown_queues_are_refused_naming_them(app, client, factory):
    admin = factory.caller("bpo_admin")
    known = make_queue(app, factory.tenant())
    missing = uuid.uuid4()
    agent = create_agent(client, admin)

    response = put_assignments(client, admin, agent["id"], [known, missing])

    body = assert_problem(response, 422)
    assert str(missing) in body["detail"] and str(known) not in body["detail"]
    assert str(missing) in json.dumps(body["errors"])
    assert (
        client.get(f"/v1/agents/{agent['id']}/assignments", headers=admin.headers).get_json()[
            "assignments"
        ]
        == []
    )


@pytest.mark.parametrize(("bad", "priority"), [("duplicate", 1), ("priority", 0), ("priority", 11)])
def test_invalid_assignment_lists_are_refused(app, client, factory, bad, priority):
    admin = factory.caller("bpo_admin")
    queue = make_queue(app, factory.tenant())
    agent = create_agent(client, admin)
    queues = [(queue, priority), (queue, 2)] if bad == "duplicate" else [(queue, priority)]

    body = assert_problem(put_assignments(client, admin, agent["id"], queues), 422)

    assert "assignments" in body["errors"]["json"]


def test_queues_of_a_suspended_firm_or_deactivated_queues_cannot_be_newly_assigned(
    app, client, factory
):
    admin = factory.caller("bpo_admin")
    suspended, active = factory.tenant(name="Paused Ltd"), factory.tenant()
    kept = make_queue(app, suspended)
    new = make_queue(app, suspended)
    closed = make_queue(app, active, is_active=False)
    agent = create_agent(client, admin)
    assign(client, admin, agent["id"], [kept])
    set_status(app, suspended, "suspended")

    refused = put_assignments(client, admin, agent["id"], [kept, new])
    refused_closed = put_assignments(client, admin, agent["id"], [closed])
    # A queue already served may stay while its firm is suspended.
    reprioritised = put_assignments(client, admin, agent["id"], [(kept, 4)])

    detail = assert_problem(refused, 409)["detail"]
    assert "Paused Ltd is suspended" in detail and str(new) in detail and str(kept) not in detail
    assert "deactivated" in assert_problem(refused_closed, 409)["detail"]
    assert reprioritised.status_code == 200, reprioritised.get_json()


# --- supervisors -----------------------------------------------------------------------------


def test_a_bpo_admin_sets_the_firms_a_supervisor_oversees(app, client, factory):
    admin = factory.caller("bpo_admin")
    a, b, c = factory.tenant(name="A"), factory.tenant(name="B"), factory.tenant(name="C")
    supervisor = factory.caller("supervisor", a)
    url = f"/v1/supervisors/{supervisor.user_id}/tenants"
    read = client.get(url, headers=admin.headers)
    assert read.get_json()["tenant_ids"] == [str(a.id)]

    response = client.put(
        url,
        json={"tenant_ids": [str(b.id), str(c.id)]},
        headers={**admin.headers, "If-Match": read.headers["ETag"]},
    )

    assert response.status_code == 200, response.get_json()
    assert [t["name"] for t in response.get_json()["tenants"]] == ["B", "C"]
    assert client.get(f"/v1/tenants/{a.id}", headers=supervisor.headers).status_code == 404
    assert client.get(f"/v1/tenants/{b.id}", headers=supervisor.headers).status_code == 200
    granted = audit_entries(app, "supervisor.granted")
    revoked = audit_entries(app, "supervisor.revoked")
    assert sorted(e.tenant_id for e in granted) == sorted([b.id, c.id])
    assert [e.tenant_id for e in revoked] == [a.id]
    assert {e.target_id for e in granted + revoked} == {str(supervisor.user_id)}

    # Stripped of every firm, the supervisor stays one and can be given firms again.
    etag = response.headers["ETag"]
    emptied = client.put(url, json={"tenant_ids": []}, headers={**admin.headers, "If-Match": etag})
    assert emptied.get_json()["tenants"] == []
    assert client.get(url, headers=admin.headers).status_code == 200


def test_supervisor_firms_must_exist_and_the_user_must_be_a_supervisor(app, client, factory):
    admin = factory.caller("bpo_admin")
    a = factory.tenant()
    supervisor = factory.caller("supervisor", a)
    viewer = factory.caller("client_viewer", a)
    missing = uuid.uuid4()

    unknown = client.put(
        f"/v1/supervisors/{supervisor.user_id}/tenants",
        json={"tenant_ids": [str(a.id), str(missing)]},
        headers={**admin.headers, "If-Match": "*"},
    )
    not_one = client.put(
        f"/v1/supervisors/{viewer.user_id}/tenants",
        json={"tenant_ids": [str(a.id)]},
        headers={**admin.headers, "If-Match": "*"},
    )
    by_supervisor = client.get(
        f"/v1/supervisors/{supervisor.user_id}/tenants", headers=supervisor.headers
    )

    assert str(missing) in assert_problem(unknown, 422)["detail"]
    assert_problem(not_one, 404)
    assert_problem(by_supervisor, 403)
    assert audit_entries(app, "supervisor.granted") == []


# --- one queue at a time, and the list of supervisors ------------------------------------------


def test_a_bpo_admin_adds_and_removes_one_queue_without_resending_the_list(app, client, factory):
    admin = factory.caller("bpo_admin")
    a, b = factory.tenant(name="Alpha"), factory.tenant(name="Beta")
    sales, support = make_queue(app, a, "Sales"), make_queue(app, b, "Support")
    agent = create_agent(client, admin)
    assign(client, admin, agent["id"], [sales])
    url = f"/v1/agents/{agent['id']}/assignments"

    added = client.put(f"{url}/{support}", json={"priority": 2}, headers=admin.headers)
    reprioritised = client.put(f"{url}/{sales}", json={"priority": 3}, headers=admin.headers)
    removed = client.delete(f"{url}/{sales}", headers=admin.headers)

    assert added.status_code == 200, added.get_json()
    assert [(x["queue_name"], x["priority"]) for x in added.get_json()["assignments"]] == [
        ("Sales", 1),
        ("Support", 2),
    ]
    assert reprioritised.status_code == 200, reprioritised.get_json()
    assert [(x["queue_name"], x["priority"]) for x in reprioritised.get_json()["assignments"]] == [
        ("Support", 2),
        ("Sales", 3),
    ]
    assert removed.status_code == 204
    left = client.get(url, headers=admin.headers).get_json()["assignments"]
    assert [x["queue_name"] for x in left] == ["Support"]
    # Audited per firm, as a change of the whole list is.
    changes = [(e.tenant_id, e.details) for e in audit_entries(app, "agent.assignments_changed")]
    assert (b.id, {"added": [str(support)], "removed": [], "reprioritised": []}) in changes
    assert (a.id, {"added": [], "removed": [], "reprioritised": [str(sales)]}) in changes
    assert (a.id, {"added": [], "removed": [str(sales)], "reprioritised": []}) in changes


def test_one_queue_changes_answer_404_for_unknown_or_unserved_queues(app, client, factory):
    admin = factory.caller("bpo_admin")
    queue = make_queue(app, factory.tenant())
    agent = create_agent(client, admin)
    url = f"/v1/agents/{agent['id']}/assignments"

    assert_problem(client.put(f"{url}/{uuid.uuid4()}", json={}, headers=admin.headers), 404)
    assert_problem(client.delete(f"{url}/{queue}", headers=admin.headers), 404)
    assert_problem(client.put(f"{url}/{queue}", json={"priority": 11}, headers=admin.headers), 422)
    assert client.get(url, headers=admin.headers).get_json()["assignments"] == []


def test_a_bpo_admin_lists_the_supervisors_with_their_firms(app, client, factory):
    admin = factory.caller("bpo_admin")
    a, b = factory.tenant(name="Alpha"), factory.tenant(name="Beta")
    first = factory.user("supervisor", a)
    second = factory.user("supervisor", b)
    with app.app_context(), tenant_scope(a.id):
        db.session.add(Membership(user_id=second.id, role="supervisor", tenant_id=a.id))
        db.session.commit()
    factory.user("client_admin", a)  # not a supervisor

    response = client.get("/v1/supervisors", headers=admin.headers)
    paged = client.get("/v1/supervisors?page_size=1&page=2", headers=admin.headers)

    assert response.status_code == 200, response.get_json()
    listed = {s["user_id"]: s for s in response.get_json()}
    assert set(listed) == {str(first.id), str(second.id)}
    assert [t["name"] for t in listed[str(second.id)]["tenants"]] == ["Alpha", "Beta"]
    assert listed[str(first.id)]["tenant_ids"] == [str(a.id)]
    assert listed[str(first.id)]["email"] == first.email
    assert json.loads(paged.headers["X-Pagination"])["total"] == 2
    assert len(paged.get_json()) == 1
    supervisor = factory.caller("supervisor", a)
    assert_problem(client.get("/v1/supervisors", headers=supervisor.headers), 403)
