"""Mass assignment: a body cannot set what its caller may not (tenant, ids, status, amounts).

Every create and update route is found in the URL map, so a new one is covered without anyone
remembering to add it here (a route without a plausible body fails until one is added). Each
is sent a valid body plus one field nobody may set through it; the answer is a 422 problem
naming the field, and the database proves nothing was stored: no row carries the smuggled
values and the other firm's rows are unchanged.
"""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
from sqlalchemy import select

from app.agents.models import Agent
from app.db import db
from tenants.models import Membership, User
from tenants.scoping import unscoped
from tests.http_helpers import assert_problem
from tests.test_isolation import BODIES, _agent_of, _firm, _snapshot

BODY_METHODS = {"POST", "PUT", "PATCH"}
_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

# Distinctive values, so that a scan of every table shows whether any was stored.
SMUGGLED_ID = "5a5a5a5a-0000-4000-8000-00000000dead"
SMUGGLED_TIME = "1999-12-31T23:59:59+00:00"
SMUGGLED_AMOUNT = 987654321
SMUGGLED_FIELDS = {
    "tenant_id": None,  # the other firm's id, filled in by the test
    "id": SMUGGLED_ID,
    "created_at": SMUGGLED_TIME,
    "updated_at": SMUGGLED_TIME,
    "status": "smuggled",
    "amount": SMUGGLED_AMOUNT,
    "total": SMUGGLED_AMOUNT,
    "unit_amount": SMUGGLED_AMOUNT,
    "created_by_user_id": SMUGGLED_ID,
}

# The BPO-level writes, which the isolation matrix (tenant routes only) has no body for.
EXTRA_BODIES: dict[tuple[str, str], dict] = {
    ("onboarding.TenantOnboarding", "POST"): {
        "slug": "smuggler",
        "name": "Smuggler",
        "time_zone": "Europe/Madrid",
        "locale": "es-ES",
        "currency": "EUR",
    },
    ("agents.Agents", "POST"): {"email": "smuggled-agent@example.test", "name": "Agent"},
    ("agents.AgentById", "PATCH"): {"name": "Renamed"},
    ("agents.AgentAssignments", "PUT"): {"assignments": []},
    ("agents.AgentAssignmentByQueue", "PUT"): {"priority": 1},
    ("supervisors.SupervisorTenants", "PUT"): {"tenant_ids": []},
    ("me.MyActiveQueues", "PUT"): {"queue_ids": []},
    ("me.MyPresence", "PUT"): {"presence": "available"},
    ("platform_invitations.PlatformInvitations", "POST"): {
        "email": "smuggled-staff@example.test",
        "name": "Staff",
        "role": "agent",
    },
    ("bpo_do_not_contact.BpoRegister", "POST"): {"kind": "email", "value": "smuggled@x.test"},
}
# Not a client's route: Stripe signs the body, and it is checked before it is read.
NOT_CLIENT_BODIES = {"stripe_webhook.StripeWebhook"}


def _write_routes(app) -> list[tuple[str, str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/") or rule.endpoint in NOT_CLIENT_BODIES:
            continue
        for method in sorted(rule.methods & BODY_METHODS):
            routes.append((rule.rule, rule.endpoint, method))
    return routes


def _takes_a_json_body(app, rule: str, method: str) -> bool:
    spec = app.test_client().get("/openapi.json").get_json()
    path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", rule)
    body = spec["paths"][path][method.lower()].get("requestBody", {})
    return "application/json" in body.get("content", {})


def _stored_anywhere(database, needles: list[str]) -> list[str]:
    """Tables with a row whose text contains one of `needles` (read as the owner: no RLS)."""
    url = database["owner"].replace("postgresql+psycopg://", "postgresql://")
    found = []
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        for table in tables:
            rows = conn.execute(f'SELECT t::text FROM "{table}" t').fetchall()  # noqa: S608
            if any(needle in row[0] for row in rows for needle in needles):
                found.append(table)
    return found


@pytest.fixture
def world(app, factory):
    a, b = _firm(app, factory, "a"), _firm(app, factory, "b")
    agent = _agent_of(app, factory, a)
    supervisor = factory.user("supervisor", a.tenant)
    with app.app_context(), unscoped():
        agent_id = db.session.scalar(select(Agent.id).where(Agent.user_id == agent.user_id))
    values = {
        "tenant_id": a.tenant.id,
        "user_id": a.user.id,
        "api_client_id": a.api_client.id,
        "agent_id": agent_id,
        "period": "2024-12",
        **a.objects,
    }
    return {
        "a": a,
        "b": b,
        "values": values,
        "supervisor_id": supervisor.id,
        "callers": {
            "bpo_admin": factory.caller("bpo_admin"),
            "client_admin": factory.caller("client_admin", a.tenant),
            "integration": factory.caller("integration", a.tenant),
            "agent": agent,
        },
    }


def _path(rule: str, values: dict, supervisor_id) -> str:
    if rule.startswith("/v1/supervisors/"):
        values = {**values, "user_id": supervisor_id}
    return _PARAM.sub(lambda m: str(values[m.group(1)]), rule)


def test_no_write_route_lets_a_caller_set_tenant_ids_status_or_amounts(
    app, client, database, world
):
    a, b = world["a"], world["b"]
    smuggled = {**SMUGGLED_FIELDS, "tenant_id": str(b.tenant.id)}
    bodies = {**BODIES, **EXTRA_BODIES}
    before = _snapshot(app, [b.tenant.id])
    failures, refused = [], 0

    for rule, endpoint, method in _write_routes(app):
        if not _takes_a_json_body(app, rule, method):
            # Nothing is read from the body: it is ignored, and the scan below proves it.
            for role, caller in world["callers"].items():
                response = client.open(
                    _path(rule, world["values"], world["supervisor_id"]),
                    method=method,
                    json=smuggled,
                    headers=caller.headers,
                )
                if response.status_code >= 500:
                    failures.append(f"{role}: {method} {rule} -> {response.status_code}")
            continue
        assert (endpoint, method) in bodies, (
            f"{method} {rule} ({endpoint}) has no valid body: add one to EXTRA_BODIES in "
            "tests/test_mass_assignment.py"
        )
        path = _path(rule, world["values"], world["supervisor_id"])
        for field, value in smuggled.items():
            reached = False  # some role may use the route, so the body was read
            for role, caller in world["callers"].items():
                response = client.open(
                    path,
                    method=method,
                    json={**bodies[(endpoint, method)], field: value},
                    headers={**caller.headers, "If-Match": "*"},
                )
                if response.status_code in (403, 404):
                    continue  # not this role's route, or not its object
                reached = True
                label = f"{role}: {method} {rule} with {field}"
                body = response.get_json(silent=True) or {}
                if response.status_code != 422 or response.mimetype != "application/problem+json":
                    failures.append(f"{label} -> {response.status_code} {body}")
                elif field not in body.get("detail", "") or field not in str(body.get("errors")):
                    failures.append(f"{label} -> 422 not naming {field}: {body}")
                else:
                    refused += 1
            if not reached:
                failures.append(f"{method} {rule} with {field}: no role got past 403/404")

    assert not failures, "smuggled fields were not refused:\n" + "\n".join(failures)
    assert refused > 200, refused
    needles = [SMUGGLED_ID, "1999-12-31", str(SMUGGLED_AMOUNT), "smuggled"]
    assert _stored_anywhere(database, needles) == []
    assert "tenants" in _stored_anywhere(database, [a.tenant.slug])  # the scan sees rows
    assert _snapshot(app, [b.tenant.id]) == before
    assert a.tenant.id != b.tenant.id


def test_a_smuggled_tenant_id_in_an_import_row_rejects_the_row(client, world):
    a, b = world["a"], world["b"]
    row = f'{{"channel": "email", "category": "complaint", "tenant_id": "{b.tenant.id}"}}\n'

    response = client.post(
        f"/v1/tenants/{a.tenant.id}/contacts:import",
        data=row,
        content_type="application/x-ndjson",
        headers=world["callers"]["bpo_admin"].headers,
    )

    problem = assert_problem(response, 422)
    assert "tenant_id" in str(problem), problem


@pytest.mark.parametrize("role", ["bpo_admin", "supervisor", "agent", "integration"])
def test_a_client_admin_cannot_grant_a_staff_role(client, world, role):
    a = world["a"]
    admin = world["callers"]["client_admin"]
    body = {"email": f"new-{uuid.uuid4().hex[:6]}@a.test", "name": "New", "role": role}

    created = client.post(f"/v1/tenants/{a.tenant.id}/users", json=body, headers=admin.headers)
    promoted = client.patch(
        f"/v1/tenants/{a.tenant.id}/users/{a.user.id}",
        json={"role": role},
        headers={**admin.headers, "If-Match": "*"},
    )

    for response in (created, promoted):
        problem = assert_problem(response, 422)
        assert "role" in problem["detail"]
        assert "role" in problem["errors"]["json"]


def _standing(app, user_id, tenant_id) -> tuple[bool, str]:
    with app.app_context(), unscoped():
        user = db.session.get(User, user_id)
        role = db.session.scalar(
            select(Membership.role).where(
                Membership.user_id == user_id, Membership.tenant_id == tenant_id
            )
        )
        return user.is_active, role


@pytest.mark.parametrize(
    ("field", "value"),
    [("is_active", False), ("role", "client_viewer")],
    ids=["deactivate", "demote"],
)
def test_a_client_admin_cannot_deactivate_or_demote_themselves(app, client, world, field, value):
    a = world["a"]
    admin = world["callers"]["client_admin"]
    own = client.get(f"/v1/tenants/{a.tenant.id}/users/{admin.user_id}", headers=admin.headers)

    response = client.patch(
        f"/v1/tenants/{a.tenant.id}/users/{admin.user_id}",
        json={field: value},
        headers={**admin.headers, "If-Match": own.headers["ETag"]},
    )

    problem = assert_problem(response, 422)
    assert field in problem["detail"]
    assert "another admin" in problem["errors"]["json"][field][0]
    assert _standing(app, admin.user_id, a.tenant.id) == (True, "client_admin")


def test_another_client_admin_can_deactivate_them(app, client, factory, world):
    a = world["a"]
    admin = world["callers"]["client_admin"]
    colleague = factory.caller("client_admin", a.tenant)
    own = client.get(f"/v1/tenants/{a.tenant.id}/users/{admin.user_id}", headers=admin.headers)

    response = client.patch(
        f"/v1/tenants/{a.tenant.id}/users/{admin.user_id}",
        json={"is_active": False, "role": "client_viewer"},
        headers={**colleague.headers, "If-Match": own.headers["ETag"]},
    )

    assert response.status_code == 200, response.get_json()
    assert _standing(app, admin.user_id, a.tenant.id) == (False, "client_viewer")


def test_an_admin_may_still_rename_themselves(client, world):
    a = world["a"]
    admin = world["callers"]["client_admin"]
    own = client.get(f"/v1/tenants/{a.tenant.id}/users/{admin.user_id}", headers=admin.headers)

    response = client.patch(
        f"/v1/tenants/{a.tenant.id}/users/{admin.user_id}",
        json={"name": "Renamed", "is_active": True, "role": "client_admin"},
        headers={**admin.headers, "If-Match": own.headers["ETag"]},
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["name"] == "Renamed"
