"""Queues: /v1/tenants/{tenant_id}/queues, and the services onboarding builds on."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from app.agents.models import Agent, Assignment
from app.db import db
from app.queues import service as queues_service
from app.queues.models import Queue
from app.queues.schemas import QueueCreateSchema
from app.vocabulary import CHANNELS
from tenants import service as tenants_service
from tenants.scoping import tenant_scope, unscoped
from tests.http_helpers import assert_problem, audit_actions, audit_entries

QUEUE_IN = {
    "name": "Billing (es)",
    "description": "Invoices and payments, Spanish speakers",
    "channels": ["voice", "email"],
    "categories": ["complaint", "claim"],
    "languages": ["es", "ca"],
    "answer_threshold_seconds": 30,
}


def _url(tenant, queue_id=None) -> str:
    base = f"/v1/tenants/{tenant.id}/queues"
    return base if queue_id is None else f"{base}/{queue_id}"


def _make_queue(app, tenant, **fields) -> uuid.UUID:
    """A queue of `tenant`, made through the service as onboarding would."""
    queue_in = QueueCreateSchema().load(
        {"name": f"Queue {uuid.uuid4().hex[:6]}", "channels": ["voice"], **fields}
    )
    with app.app_context(), tenant_scope(tenant.id):
        queue = queues_service.create(queue_in=queue_in, actor=tenants_service.SYSTEM)
        db.session.commit()
        return queue.id


def _etag(client, caller, url) -> str:
    response = client.get(url, headers=caller.headers)
    assert response.status_code == 200, response.get_json()
    return response.headers["ETag"]


def assign_agent(app, factory, queue_ids: dict[uuid.UUID, uuid.UUID]):
    """An agent caller assigned to queues ({queue_id: tenant_id})."""
    caller = factory.caller("agent")
    with app.app_context():
        # The agent profile belongs to the BPO, not to any tenant.
        with unscoped():
            agent = Agent(user_id=caller.user_id, channels=["voice"], concurrency={"voice": 1})
            db.session.add(agent)
            db.session.flush()
        for queue_id, tenant_id in queue_ids.items():
            with tenant_scope(tenant_id):
                db.session.add(Assignment(agent_id=agent.id, queue_id=queue_id))
        db.session.commit()
    return caller


# --- create ----------------------------------------------------------------------------------


def test_a_bpo_admin_creates_a_queue_and_it_is_audited(app, client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")

    response = client.post(_url(tenant), json=QUEUE_IN, headers=admin.headers)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in QUEUE_IN} == QUEUE_IN
    assert body["is_active"] is True
    assert body["created_at"].endswith("+00:00")
    entries = audit_entries(app, "queue.created")
    assert [(e.tenant_id, e.target_id, e.actor_user_id) for e in entries] == [
        (tenant.id, body["id"], admin.user_id)
    ]
    assert entries[0].details == {"name": "Billing (es)", "channels": ["voice", "email"]}
    assert entries[0].request_id == response.headers["X-Request-ID"]


def test_a_queue_needs_only_a_name_and_channels(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")

    response = client.post(
        _url(tenant), json={"name": "  Chat  ", "channels": ["chat"]}, headers=admin.headers
    )

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["name"] == "Chat"
    assert (body["description"], body["categories"], body["languages"]) == ("", [], [])
    assert body["answer_threshold_seconds"] == 20


def test_language_tags_are_stored_lowercase(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")

    response = client.post(
        _url(tenant),
        json={"name": "Catalan", "channels": ["voice"], "languages": ["CA", "Es"]},
        headers=admin.headers,
    )

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["languages"] == ["ca", "es"]


@pytest.mark.parametrize("role", ["client_admin", "client_viewer", "integration", "supervisor"])
def test_only_the_bpo_admin_creates_queues(client, factory, role):
    tenant = factory.tenant()
    caller = factory.caller(role, tenant)

    response = client.post(_url(tenant), json=QUEUE_IN, headers=caller.headers)

    body = assert_problem(response, 403)
    assert role in body["detail"]
    admin = factory.caller("bpo_admin")
    assert client.get(_url(tenant), headers=admin.headers).get_json() == []


def test_a_duplicate_queue_name_conflicts_and_names_it(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")
    assert client.post(_url(tenant), json=QUEUE_IN, headers=admin.headers).status_code == 201

    response = client.post(
        _url(tenant), json={**QUEUE_IN, "name": "BILLING (ES)"}, headers=admin.headers
    )

    body = assert_problem(response, 409)
    assert "BILLING (ES)" in body["detail"]
    assert len(client.get(_url(tenant), headers=admin.headers).get_json()) == 1


def test_two_firms_may_each_have_a_queue_of_the_same_name(client, factory):
    admin = factory.caller("bpo_admin")
    first, second = factory.tenant(), factory.tenant()

    for tenant in (first, second):
        response = client.post(_url(tenant), json=QUEUE_IN, headers=admin.headers)
        assert response.status_code == 201, response.get_json()


def test_invalid_queue_input_names_every_bad_field(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")
    bad = {
        "name": "   ",
        "channels": ["voice", "fax"],
        "categories": ["complaint", "gossip"],
        "languages": ["es-ES", "english"],
        "answer_threshold_seconds": 3601,
        "tenant_id": str(uuid.uuid4()),
    }

    response = client.post(_url(tenant), json=bad, headers=admin.headers)

    body = assert_problem(response, 422)
    errors = body["errors"]["json"]
    assert set(errors) == {
        "name",
        "channels",
        "categories",
        "languages",
        "answer_threshold_seconds",
        "tenant_id",
    }
    assert "voice, email, chat, web, social" in errors["channels"][0]
    assert set(errors["languages"]) == {"0", "1"}
    for field in ("name", "channels", "categories", "languages", "answer_threshold_seconds"):
        assert field in body["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("channels", []),
        ("channels", ["voice", "voice"]),
        ("channels", "voice"),
        ("categories", ["claim", "claim"]),
        ("languages", ["es", "ES"]),
        ("answer_threshold_seconds", 0),
        ("answer_threshold_seconds", 20.5),
        ("answer_threshold_seconds", "20"),
        ("answer_threshold_seconds", True),
        ("is_active", False),
    ],
)
def test_each_invalid_queue_value_is_refused(client, factory, field, value):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")

    response = client.post(_url(tenant), json={**QUEUE_IN, field: value}, headers=admin.headers)

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {field}


def test_missing_queue_fields_are_each_named(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")

    response = client.post(_url(tenant), json={}, headers=admin.headers)

    assert set(assert_problem(response, 422)["errors"]["json"]) == {"name", "channels"}


# --- read ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role", ["bpo_admin", "supervisor", "client_admin", "client_viewer", "integration"]
)
def test_every_role_of_the_firm_reads_its_queues(app, client, factory, role):
    tenant = factory.tenant()
    queue_id = _make_queue(app, tenant, name="General")
    caller = factory.caller(role, tenant)

    listed = client.get(_url(tenant), headers=caller.headers)
    one = client.get(_url(tenant, queue_id), headers=caller.headers)

    assert listed.status_code == 200
    assert [q["name"] for q in listed.get_json()] == ["General"]
    assert one.status_code == 200
    assert one.get_json()["id"] == str(queue_id)
    assert one.headers["ETag"]


def test_queues_page_by_name(app, client, factory):
    tenant = factory.tenant()
    for name in ("Charlie", "Alpha", "Bravo"):
        _make_queue(app, tenant, name=name)
    viewer = factory.caller("client_viewer", tenant)

    first = client.get(f"{_url(tenant)}?page=1&page_size=2", headers=viewer.headers)
    second = client.get(f"{_url(tenant)}?page=2&page_size=2", headers=viewer.headers)

    assert [q["name"] for q in first.get_json()] == ["Alpha", "Bravo"]
    assert [q["name"] for q in second.get_json()] == ["Charlie"]
    pagination = json.loads(first.headers["X-Pagination"])
    assert (pagination["total"], pagination["total_pages"], pagination["next_page"]) == (3, 2, 2)


def test_an_agent_sees_only_the_queues_assigned_to_them(app, client, factory):
    tenant = factory.tenant()
    mine = _make_queue(app, tenant, name="Mine")
    other = _make_queue(app, tenant, name="Not mine")
    agent = assign_agent(app, factory, {mine: tenant.id})

    listed = client.get(_url(tenant), headers=agent.headers)

    assert [q["id"] for q in listed.get_json()] == [str(mine)]
    assert client.get(_url(tenant, mine), headers=agent.headers).status_code == 200
    assert_problem(client.get(_url(tenant, other), headers=agent.headers), 404)


def test_another_firms_queue_is_not_found_through_this_firm(app, client, factory):
    mine, theirs = factory.tenant(), factory.tenant()
    their_queue = _make_queue(app, theirs)
    admin = factory.caller("bpo_admin")
    etag = _etag(client, admin, _url(theirs, their_queue))
    headers = {**admin.headers, "If-Match": etag}

    assert_problem(client.get(_url(mine, their_queue), headers=admin.headers), 404)
    assert_problem(
        client.patch(_url(mine, their_queue), json={"name": "Taken"}, headers=headers), 404
    )
    assert_problem(client.delete(_url(mine, their_queue), headers=admin.headers), 404)
    assert client.get(_url(theirs, their_queue), headers=admin.headers).get_json()["is_active"]


def test_a_client_user_of_another_firm_gets_404(app, client, factory):
    mine, theirs = factory.tenant(), factory.tenant()
    their_queue = _make_queue(app, theirs)
    client_admin = factory.caller("client_admin", mine)

    assert_problem(client.get(_url(theirs), headers=client_admin.headers), 404)
    assert_problem(client.get(_url(theirs, their_queue), headers=client_admin.headers), 404)


def test_filtering_queues_by_active(app, client, factory):
    tenant = factory.tenant()
    live = _make_queue(app, tenant, name="Live")
    gone = _make_queue(app, tenant, name="Gone")
    admin = factory.caller("bpo_admin")
    assert client.delete(_url(tenant, gone), headers=admin.headers).status_code == 204

    active = client.get(f"{_url(tenant)}?active=true", headers=admin.headers).get_json()
    inactive = client.get(f"{_url(tenant)}?active=false", headers=admin.headers).get_json()
    every = client.get(_url(tenant), headers=admin.headers).get_json()

    assert [q["id"] for q in active] == [str(live)]
    assert [q["id"] for q in inactive] == [str(gone)]
    assert [q["name"] for q in every] == ["Gone", "Live"]


# --- update and deactivate -------------------------------------------------------------------


def test_patching_a_queue_needs_if_match(app, client, factory):
    tenant = factory.tenant()
    queue_id = _make_queue(app, tenant)
    admin = factory.caller("bpo_admin")

    response = client.patch(_url(tenant, queue_id), json={"name": "X"}, headers=admin.headers)

    assert_problem(response, 428)


def test_patching_a_queue_with_a_stale_etag_is_refused(app, client, factory):
    tenant = factory.tenant()
    queue_id = _make_queue(app, tenant)
    admin = factory.caller("bpo_admin")
    headers = {**admin.headers, "If-Match": _etag(client, admin, _url(tenant, queue_id))}
    first = client.patch(_url(tenant, queue_id), json={"name": "One"}, headers=headers)
    assert first.status_code == 200

    response = client.patch(_url(tenant, queue_id), json={"name": "Two"}, headers=headers)

    assert_problem(response, 412)
    assert client.get(_url(tenant, queue_id), headers=admin.headers).get_json()["name"] == "One"


def test_a_bpo_admin_changes_a_queue_and_it_is_audited(app, client, factory):
    tenant = factory.tenant()
    queue_id = _make_queue(app, tenant, name="General", channels=["voice"])
    admin = factory.caller("bpo_admin")
    etag = _etag(client, admin, _url(tenant, queue_id))

    response = client.patch(
        _url(tenant, queue_id),
        json={"channels": ["voice", "chat"], "answer_threshold_seconds": 15, "name": "General"},
        headers={**admin.headers, "If-Match": etag},
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["channels"], body["answer_threshold_seconds"]) == (["voice", "chat"], 15)
    assert response.headers["ETag"] != etag
    entries = audit_entries(app, "queue.updated")
    assert [(e.tenant_id, e.target_id) for e in entries] == [(tenant.id, str(queue_id))]
    assert entries[0].details == {
        "name": "General",
        "changed": ["answer_threshold_seconds", "channels"],
    }


def test_renaming_a_queue_onto_another_conflicts(app, client, factory):
    tenant = factory.tenant()
    _make_queue(app, tenant, name="Sales")
    queue_id = _make_queue(app, tenant, name="Support")
    admin = factory.caller("bpo_admin")
    etag = _etag(client, admin, _url(tenant, queue_id))

    response = client.patch(
        _url(tenant, queue_id), json={"name": "sales"}, headers={**admin.headers, "If-Match": etag}
    )

    assert "sales" in assert_problem(response, 409)["detail"]


def test_a_patch_names_every_bad_field(app, client, factory):
    tenant = factory.tenant()
    queue_id = _make_queue(app, tenant)
    admin = factory.caller("bpo_admin")
    etag = _etag(client, admin, _url(tenant, queue_id))

    response = client.patch(
        _url(tenant, queue_id),
        json={"channels": [], "languages": ["xx-YY"], "answer_threshold_seconds": -1, "id": "x"},
        headers={**admin.headers, "If-Match": etag},
    )

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {
        "channels",
        "languages",
        "answer_threshold_seconds",
        "id",
    }


@pytest.mark.parametrize("role", ["client_admin", "client_viewer", "integration", "supervisor"])
def test_only_the_bpo_admin_changes_or_deactivates_queues(app, client, factory, role):
    tenant = factory.tenant()
    queue_id = _make_queue(app, tenant, name="General")
    caller = factory.caller(role, tenant)
    etag = _etag(client, caller, _url(tenant, queue_id))

    patched = client.patch(
        _url(tenant, queue_id), json={"name": "Mine"}, headers={**caller.headers, "If-Match": etag}
    )
    deleted = client.delete(_url(tenant, queue_id), headers=caller.headers)

    assert_problem(patched, 403)
    assert_problem(deleted, 403)
    body = client.get(_url(tenant, queue_id), headers=caller.headers).get_json()
    assert (body["name"], body["is_active"]) == ("General", True)


def test_deleting_a_queue_deactivates_it_once_and_keeps_it(app, client, factory):
    tenant = factory.tenant()
    queue_id = _make_queue(app, tenant)
    admin = factory.caller("bpo_admin")

    first = client.delete(_url(tenant, queue_id), headers=admin.headers)
    again = client.delete(_url(tenant, queue_id), headers=admin.headers)

    assert (first.status_code, again.status_code) == (204, 204)
    assert first.get_data() == b""
    read = client.get(_url(tenant, queue_id), headers=admin.headers)
    assert read.status_code == 200
    assert read.get_json()["is_active"] is False
    assert audit_actions(app, target_id=queue_id) == ["queue.created", "queue.deactivated"]


def test_a_deactivated_queue_is_reactivated_with_patch(app, client, factory):
    tenant = factory.tenant()
    queue_id = _make_queue(app, tenant)
    admin = factory.caller("bpo_admin")
    client.delete(_url(tenant, queue_id), headers=admin.headers)
    etag = _etag(client, admin, _url(tenant, queue_id))

    response = client.patch(
        _url(tenant, queue_id),
        json={"is_active": True},
        headers={**admin.headers, "If-Match": etag},
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["is_active"] is True
    assert audit_actions(app, target_id=queue_id)[-1] == "queue.activated"


# --- services for onboarding -----------------------------------------------------------------


def test_default_queues_are_valid_input_and_cover_every_channel(app, factory):
    tenant = factory.tenant()
    defaults = queues_service.default_queues_in()

    assert QueueCreateSchema(many=True).load(defaults) == defaults
    with app.app_context(), tenant_scope(tenant.id):
        queues = [
            queues_service.create(queue_in=queue_in, actor=tenants_service.SYSTEM)
            for queue_in in defaults
        ]
        db.session.commit()
        assert [q.name for q in queues] == ["General"]
        assert set(queues[0].channels) == set(CHANNELS)
        assert queues[0].tenant_id == tenant.id


def test_creating_a_queue_twice_in_one_transaction_conflicts(app, factory):
    from app.errors import Conflict

    tenant = factory.tenant()
    queue_in = QueueCreateSchema().load({"name": "General", "channels": ["voice"]})
    with app.app_context(), tenant_scope(tenant.id):
        queues_service.create(queue_in=dict(queue_in), actor=tenants_service.SYSTEM)
        with pytest.raises(Conflict):
            queues_service.create(queue_in=dict(queue_in), actor=tenants_service.SYSTEM)
        db.session.rollback()
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalars(select(Queue)).all() == []


# --- warnings: channels no agent can serve ---------------------------------------------------


def test_creating_and_editing_a_queue_warns_of_channels_no_agent_serves(app, client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")
    agent = client.post(
        "/v1/agents",
        json={
            "email": f"agent-{uuid.uuid4().hex[:8]}@bpo.test",
            "name": "Voice and email",
            "channels": ["voice", "email"],
            "concurrency": {"voice": 1, "email": 3},
        },
        headers=admin.headers,
    ).get_json()

    created = client.post(
        _url(tenant), json={"name": "Care", "channels": ["voice", "email"]}, headers=admin.headers
    )
    queue_id = created.get_json()["id"]
    assigned = client.put(
        f"/v1/agents/{agent['id']}/assignments/{queue_id}", json={}, headers=admin.headers
    )
    url = _url(tenant, queue_id)
    widened = client.patch(
        url,
        json={"channels": ["voice", "email", "social"]},
        headers={**admin.headers, "If-Match": _etag(client, admin, url)},
    )
    narrowed = client.patch(
        url,
        json={"channels": ["voice"]},
        headers={**admin.headers, "If-Match": widened.headers["ETag"]},
    )

    assert created.status_code == 201, created.get_json()
    [new] = created.get_json()["warnings"]
    assert (new["code"], new["queue_id"], new["queue_name"]) == (
        "channels_unserved",
        queue_id,
        "Care",
    )
    assert (new["channels"], new["channels_no_agent_works"]) == (["voice", "email"], [])
    assert assigned.status_code == 200, assigned.get_json()
    assert widened.status_code == 200, widened.get_json()
    [social] = widened.get_json()["warnings"]
    assert (social["channels"], social["channels_no_agent_works"]) == (["social"], ["social"])
    assert "social" in social["message"]
    # The warnings are not the queue's: its ETag is the one a read gives, so edits chain.
    assert narrowed.status_code == 200, narrowed.get_json()
    assert narrowed.get_json()["warnings"] == []
    read = client.get(url, headers=admin.headers)
    assert "warnings" not in read.get_json()
    assert read.headers["ETag"] == narrowed.headers["ETag"]
