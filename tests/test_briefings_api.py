"""Briefings: /v1/tenants/{tenant_id}/briefings, and those in force for an agent's queues."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.db import db, utcnow
from app.queues import service as queues_service
from tenants import service as tenants_service
from tenants.scoping import tenant_scope, tenants_scope
from tests.http_helpers import assert_problem, audit_actions, audit_entries
from tests.test_queues_api import _make_queue, assign_agent

DAY = timedelta(days=1)


def _url(tenant, briefing_id=None) -> str:
    base = f"/v1/tenants/{tenant.id}/briefings"
    return base if briefing_id is None else f"{base}/{briefing_id}"


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _make_briefing(app, tenant, *, title=None, start=None, end=None, queue_ids=()) -> uuid.UUID:
    """A briefing of `tenant`, made through the service."""
    with app.app_context(), tenant_scope(tenant.id):
        briefing = queues_service.create_briefing(
            briefing_in={
                "title": title or f"Notice {uuid.uuid4().hex[:6]}",
                "body": "Read me.",
                "effective_from": start or utcnow() - DAY,
                "effective_to": end,
                "queue_ids": list(queue_ids),
            },
            actor=tenants_service.SYSTEM,
        )
        db.session.commit()
        return briefing.id


def _titles(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [b["title"] for b in response.get_json()]


# --- create ----------------------------------------------------------------------------------


def test_a_client_admin_posts_a_briefing_and_it_is_audited(app, client, factory):
    tenant = factory.tenant()
    queue_id = _make_queue(app, tenant)
    client_admin = factory.caller("client_admin", tenant)
    briefing_in = {
        "title": "Fibre outage",
        "body": "Madrid north is down until 18:00.",
        "effective_from": "2026-12-01T09:00:00+01:00",
        "effective_to": "2026-12-01T18:00:00+01:00",
        "queue_ids": [str(queue_id)],
    }

    response = client.post(_url(tenant), json=briefing_in, headers=client_admin.headers)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["title"] == "Fibre outage"
    assert body["effective_from"] == "2026-12-01T08:00:00+00:00"
    assert body["effective_to"] == "2026-12-01T17:00:00+00:00"
    assert body["queue_ids"] == [str(queue_id)]
    assert body["created_by_user_id"] == str(client_admin.user_id)
    entries = audit_entries(app, "briefing.created")
    assert [(e.tenant_id, e.target_id, e.actor_user_id) for e in entries] == [
        (tenant.id, body["id"], client_admin.user_id)
    ]
    assert entries[0].details == {"title": "Fibre outage"}


def test_a_briefing_starts_now_for_every_queue_unless_told_otherwise(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")
    before = utcnow()

    response = client.post(
        _url(tenant), json={"title": "Price change", "body": "From Monday."}, headers=admin.headers
    )

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert before <= datetime.fromisoformat(body["effective_from"]) <= utcnow()
    assert (body["effective_to"], body["queue_ids"]) == (None, [])


@pytest.mark.parametrize("role", ["client_viewer", "integration", "supervisor"])
def test_readers_may_not_post_briefings(client, factory, role):
    tenant = factory.tenant()
    caller = factory.caller(role, tenant)

    response = client.post(_url(tenant), json={"title": "T", "body": "B"}, headers=caller.headers)

    assert role in assert_problem(response, 403)["detail"]


def test_invalid_briefing_input_names_every_bad_field(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    bad = {
        "title": "",
        "effective_from": "2026-12-01T09:00:00",  # no offset
        "effective_to": "yesterday",
        "queue_ids": ["not-a-uuid"],
        "created_by_user_id": str(uuid.uuid4()),
    }

    response = client.post(_url(tenant), json=bad, headers=client_admin.headers)

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {
        "title",
        "body",
        "effective_from",
        "effective_to",
        "queue_ids",
        "created_by_user_id",
    }


def test_a_briefing_must_end_after_it_starts(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)

    response = client.post(
        _url(tenant),
        json={
            "title": "Backwards",
            "body": "B",
            "effective_from": "2026-12-01T09:00:00+00:00",
            "effective_to": "2026-12-01T09:00:00+00:00",
        },
        headers=client_admin.headers,
    )

    body = assert_problem(response, 422)
    assert body["errors"]["json"] == {"effective_to": ["Must be after effective_from."]}


def test_queue_ids_must_be_queues_of_this_firm_and_the_bad_ones_are_named(app, client, factory):
    mine, theirs = factory.tenant(), factory.tenant()
    my_queue = _make_queue(app, mine)
    their_queue = _make_queue(app, theirs)
    nowhere = uuid.uuid4()
    client_admin = factory.caller("client_admin", mine)

    response = client.post(
        _url(mine),
        json={
            "title": "T",
            "body": "B",
            "queue_ids": [str(my_queue), str(their_queue), str(nowhere)],
        },
        headers=client_admin.headers,
    )

    body = assert_problem(response, 422)
    message = body["errors"]["json"]["queue_ids"][0]
    assert str(their_queue) in message and str(nowhere) in message
    assert str(my_queue) not in message
    assert "queue_ids" in body["detail"]
    assert client.get(_url(mine), headers=client_admin.headers).get_json() == []


def test_a_queue_listed_twice_is_refused(app, client, factory):
    tenant = factory.tenant()
    queue_id = str(_make_queue(app, tenant))
    client_admin = factory.caller("client_admin", tenant)

    response = client.post(
        _url(tenant),
        json={"title": "T", "body": "B", "queue_ids": [queue_id, queue_id]},
        headers=client_admin.headers,
    )

    assert set(assert_problem(response, 422)["errors"]["json"]) == {"queue_ids"}


# --- read and filter -------------------------------------------------------------------------


def test_the_current_filter_returns_briefings_in_force_now(app, client, factory):
    tenant = factory.tenant()
    now = utcnow()
    _make_briefing(app, tenant, title="ended", start=now - 3 * DAY, end=now - DAY)
    _make_briefing(app, tenant, title="running", start=now - DAY, end=now + DAY)
    _make_briefing(app, tenant, title="open-ended", start=now - 2 * DAY)
    _make_briefing(app, tenant, title="scheduled", start=now + DAY, end=now + 2 * DAY)
    viewer = factory.caller("client_viewer", tenant)

    current = client.get(f"{_url(tenant)}?current=true", headers=viewer.headers)
    not_current = client.get(f"{_url(tenant)}?current=false", headers=viewer.headers)
    every = client.get(_url(tenant), headers=viewer.headers)

    assert _titles(current) == ["running", "open-ended"]
    assert _titles(not_current) == ["scheduled", "ended"]
    assert _titles(every) == ["scheduled", "running", "open-ended", "ended"]


def test_the_queue_filter_includes_firm_wide_briefings(app, client, factory):
    tenant = factory.tenant()
    first, second = _make_queue(app, tenant), _make_queue(app, tenant)
    now = utcnow()
    _make_briefing(app, tenant, title="first only", start=now - DAY, queue_ids=[first])
    _make_briefing(app, tenant, title="second only", start=now - 2 * DAY, queue_ids=[second])
    _make_briefing(app, tenant, title="both", start=now - 3 * DAY, queue_ids=[first, second])
    _make_briefing(app, tenant, title="firm-wide", start=now - 4 * DAY)
    integration = factory.caller("integration", tenant)

    response = client.get(f"{_url(tenant)}?queue_id={first}", headers=integration.headers)
    unknown = client.get(f"{_url(tenant)}?queue_id={uuid.uuid4()}", headers=integration.headers)
    combined = client.get(
        f"{_url(tenant)}?queue_id={second}&current=true", headers=integration.headers
    )

    assert _titles(response) == ["first only", "both", "firm-wide"]
    assert _titles(unknown) == []
    assert _titles(combined) == ["second only", "both", "firm-wide"]


def test_briefings_page_latest_first(app, client, factory):
    tenant = factory.tenant()
    now = utcnow()
    for days in (3, 1, 2):
        _make_briefing(app, tenant, title=f"{days} days ago", start=now - days * DAY)
    viewer = factory.caller("client_viewer", tenant)

    first = client.get(f"{_url(tenant)}?page=1&page_size=2", headers=viewer.headers)
    second = client.get(f"{_url(tenant)}?page=2&page_size=2", headers=viewer.headers)

    assert _titles(first) == ["1 days ago", "2 days ago"]
    assert _titles(second) == ["3 days ago"]
    assert json.loads(first.headers["X-Pagination"])["total"] == 3


def test_an_agent_sees_only_briefings_of_their_queues(app, client, factory):
    tenant = factory.tenant()
    mine, other = _make_queue(app, tenant), _make_queue(app, tenant)
    mine_id = _make_briefing(app, tenant, title="mine", queue_ids=[mine])
    other_id = _make_briefing(app, tenant, title="other", queue_ids=[other])
    _make_briefing(app, tenant, title="firm-wide", start=utcnow() - 2 * DAY)
    agent = assign_agent(app, factory, {mine: tenant.id})

    assert _titles(client.get(_url(tenant), headers=agent.headers)) == ["mine", "firm-wide"]
    assert _titles(client.get(f"{_url(tenant)}?queue_id={other}", headers=agent.headers)) == []
    assert client.get(_url(tenant, mine_id), headers=agent.headers).status_code == 200
    assert_problem(client.get(_url(tenant, other_id), headers=agent.headers), 404)


def test_another_firms_briefing_is_not_found_through_this_firm(app, client, factory):
    mine, theirs = factory.tenant(), factory.tenant()
    their_briefing = _make_briefing(app, theirs)
    admin = factory.caller("bpo_admin")
    etag = client.get(_url(theirs, their_briefing), headers=admin.headers).headers["ETag"]

    assert_problem(client.get(_url(mine, their_briefing), headers=admin.headers), 404)
    assert_problem(
        client.patch(
            _url(mine, their_briefing),
            json={"title": "Taken"},
            headers={**admin.headers, "If-Match": etag},
        ),
        404,
    )
    assert_problem(client.delete(_url(mine, their_briefing), headers=admin.headers), 404)
    assert client.get(_url(theirs, their_briefing), headers=admin.headers).status_code == 200
    client_admin = factory.caller("client_admin", mine)
    assert_problem(client.get(_url(theirs, their_briefing), headers=client_admin.headers), 404)


# --- update and delete -----------------------------------------------------------------------


def test_patching_a_briefing_needs_a_fresh_if_match(app, client, factory):
    tenant = factory.tenant()
    briefing_id = _make_briefing(app, tenant, title="Old")
    client_admin = factory.caller("client_admin", tenant)
    etag = client.get(_url(tenant, briefing_id), headers=client_admin.headers).headers["ETag"]
    headers = {**client_admin.headers, "If-Match": etag}

    missing = client.patch(
        _url(tenant, briefing_id), json={"title": "New"}, headers=client_admin.headers
    )
    first = client.patch(_url(tenant, briefing_id), json={"title": "New"}, headers=headers)
    stale = client.patch(_url(tenant, briefing_id), json={"title": "Newer"}, headers=headers)

    assert_problem(missing, 428)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["title"] == "New"
    assert_problem(stale, 412)
    entries = audit_entries(app, "briefing.updated")
    assert [(e.target_id, e.details) for e in entries] == [
        (str(briefing_id), {"title": "New", "changed": ["title"]})
    ]


def test_a_patch_is_checked_against_the_stored_period_and_queues(app, client, factory):
    tenant = factory.tenant()
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    briefing_id = _make_briefing(app, tenant, start=start, end=start + DAY)
    client_admin = factory.caller("client_admin", tenant)
    etag = client.get(_url(tenant, briefing_id), headers=client_admin.headers).headers["ETag"]

    response = client.patch(
        _url(tenant, briefing_id),
        json={"effective_to": _iso(start - DAY), "queue_ids": [str(uuid.uuid4())]},
        headers={**client_admin.headers, "If-Match": etag},
    )

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {"effective_to", "queue_ids"}


def test_moving_the_start_past_the_stored_end_names_the_start(app, client, factory):
    tenant = factory.tenant()
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    briefing_id = _make_briefing(app, tenant, start=start, end=start + DAY)
    client_admin = factory.caller("client_admin", tenant)
    etag = client.get(_url(tenant, briefing_id), headers=client_admin.headers).headers["ETag"]

    response = client.patch(
        _url(tenant, briefing_id),
        json={"effective_from": _iso(start + 2 * DAY)},
        headers={**client_admin.headers, "If-Match": etag},
    )

    body = assert_problem(response, 422)
    assert body["errors"]["json"] == {
        "effective_from": ["Must be before effective_to (2026-12-02T09:00:00+00:00)."]
    }


def test_a_patch_moves_a_briefing_to_other_queues_and_opens_its_end(app, client, factory):
    tenant = factory.tenant()
    queue_id = _make_queue(app, tenant)
    briefing_id = _make_briefing(app, tenant, end=utcnow() + DAY)
    client_admin = factory.caller("client_admin", tenant)
    etag = client.get(_url(tenant, briefing_id), headers=client_admin.headers).headers["ETag"]

    response = client.patch(
        _url(tenant, briefing_id),
        json={"effective_to": None, "queue_ids": [str(queue_id)]},
        headers={**client_admin.headers, "If-Match": etag},
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["effective_to"] is None
    assert response.get_json()["queue_ids"] == [str(queue_id)]


def test_a_client_admin_deletes_a_briefing_and_it_is_audited(app, client, factory):
    tenant = factory.tenant()
    briefing_id = _make_briefing(app, tenant, title="Gone soon")
    client_admin = factory.caller("client_admin", tenant)

    response = client.delete(_url(tenant, briefing_id), headers=client_admin.headers)

    assert response.status_code == 204
    assert_problem(client.get(_url(tenant, briefing_id), headers=client_admin.headers), 404)
    assert audit_actions(app, target_id=briefing_id) == ["briefing.created", "briefing.deleted"]
    assert audit_entries(app, "briefing.deleted")[0].details["title"] == "Gone soon"


@pytest.mark.parametrize("role", ["client_viewer", "integration", "supervisor"])
def test_readers_may_not_change_or_delete_briefings(app, client, factory, role):
    tenant = factory.tenant()
    briefing_id = _make_briefing(app, tenant, title="Kept")
    caller = factory.caller(role, tenant)
    etag = client.get(_url(tenant, briefing_id), headers=caller.headers).headers["ETag"]

    patched = client.patch(
        _url(tenant, briefing_id), json={"title": "X"}, headers={**caller.headers, "If-Match": etag}
    )
    deleted = client.delete(_url(tenant, briefing_id), headers=caller.headers)

    assert_problem(patched, 403)
    assert_problem(deleted, 403)
    assert client.get(_url(tenant, briefing_id), headers=caller.headers).get_json()["title"] == (
        "Kept"
    )


# --- current_briefings, across tenants -------------------------------------------------------


def test_current_briefings_span_the_tenants_in_scope(app, factory):
    a, b, c = factory.tenant(), factory.tenant(), factory.tenant()
    a_served, a_unserved = _make_queue(app, a), _make_queue(app, a)
    b_served = _make_queue(app, b)
    c_queue = _make_queue(app, c)
    now = utcnow()
    expected = {
        _make_briefing(app, a, title="A firm-wide"),
        _make_briefing(app, a, title="A served", queue_ids=[a_served, a_unserved]),
        _make_briefing(app, b, title="B served", queue_ids=[b_served]),
        _make_briefing(app, b, title="B firm-wide", start=now - 2 * DAY, end=now + DAY),
    }
    _make_briefing(app, a, title="A unserved", queue_ids=[a_unserved])
    _make_briefing(app, a, title="A ended", start=now - 2 * DAY, end=now - DAY)
    _make_briefing(app, b, title="B scheduled", start=now + DAY)
    _make_briefing(app, c, title="C firm-wide")

    with app.app_context(), tenants_scope([a.id, b.id]):
        found = queues_service.current_briefings(queue_ids=[a_served, b_served, c_queue], at=now)
        earlier = queues_service.current_briefings(queue_ids=[a_served], at=now - 3 * DAY)
        later = queues_service.current_briefings(queue_ids=[b_served], at=now + DAY)
        none = queues_service.current_briefings(queue_ids=[], at=now)

    assert {b.id for b in found} == expected
    assert earlier == []
    assert [b.title for b in later] == ["B scheduled", "B served"]
    assert none == []
