"""Departments: /v1/tenants/{tenant_id}/departments, the back offices contacts escalate to."""

from __future__ import annotations

import json
import uuid

import pytest

from app.contacts import departments as contacts_departments
from app.contacts.schemas import DepartmentCreateSchema
from app.db import db
from tenants import service as tenants_service
from tenants.scoping import tenant_scope
from tests.http_helpers import assert_problem, audit_actions, audit_entries


def _url(tenant, department_id=None) -> str:
    base = f"/v1/tenants/{tenant.id}/departments"
    return base if department_id is None else f"{base}/{department_id}"


def _make_department(app, tenant, **fields) -> uuid.UUID:
    """A department of `tenant`, made through the service as onboarding would."""
    department_in = DepartmentCreateSchema().load({"kind": "finance", **fields})
    with app.app_context(), tenant_scope(tenant.id):
        department = contacts_departments.create_department(
            department_in=department_in, actor=tenants_service.SYSTEM
        )
        db.session.commit()
        return department.id


def _etag(client, caller, url) -> str:
    response = client.get(url, headers=caller.headers)
    assert response.status_code == 200, response.get_json()
    return response.headers["ETag"]


# --- create ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["client_admin", "bpo_admin"])
def test_a_firm_admin_adds_a_department_and_it_is_audited(app, client, factory, role):
    tenant = factory.tenant()
    caller = factory.caller(role, tenant)
    department_in = {"name": "Returns desk", "kind": "logistics", "email": "returns@acme.example"}

    response = client.post(_url(tenant), json=department_in, headers=caller.headers)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in department_in} == department_in
    assert body["is_active"] is True
    entries = audit_entries(app, "department.created")
    assert [(e.tenant_id, e.target_id, e.actor_user_id) for e in entries] == [
        (tenant.id, body["id"], caller.user_id)
    ]
    assert entries[0].details == {"name": "Returns desk", "kind": "logistics"}


def test_a_standard_department_names_itself(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)

    response = client.post(_url(tenant), json={"kind": "legal"}, headers=client_admin.headers)

    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["name"], response.get_json()["email"]) == ("Legal", None)


def test_a_custom_department_needs_a_name(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)

    response = client.post(_url(tenant), json={"kind": "custom"}, headers=client_admin.headers)

    body = assert_problem(response, 422)
    assert body["errors"]["json"] == {"name": ["A custom department needs a name."]}


def test_invalid_department_input_names_every_bad_field(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    bad = {"name": "", "kind": "sales", "email": "not an email", "is_active": False}

    response = client.post(_url(tenant), json=bad, headers=client_admin.headers)

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {"name", "kind", "email", "is_active"}
    for field in ("name", "kind", "email"):
        assert field in body["detail"]


def test_a_custom_department_without_a_name_is_named_with_other_errors(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)

    response = client.post(
        _url(tenant), json={"kind": "custom", "email": "nope"}, headers=client_admin.headers
    )

    assert set(assert_problem(response, 422)["errors"]["json"]) == {"name", "email"}


def test_a_duplicate_department_name_conflicts_and_names_it(app, client, factory):
    tenant = factory.tenant()
    _make_department(app, tenant, kind="finance")
    client_admin = factory.caller("client_admin", tenant)

    response = client.post(
        _url(tenant), json={"kind": "custom", "name": "FINANCE"}, headers=client_admin.headers
    )

    assert "FINANCE" in assert_problem(response, 409)["detail"]
    other = factory.tenant()
    assert (
        client.post(
            _url(other), json={"kind": "finance"}, headers=factory.caller("bpo_admin").headers
        ).status_code
        == 201
    )


@pytest.mark.parametrize("role", ["client_viewer", "integration", "supervisor"])
def test_readers_may_not_add_departments(client, factory, role):
    tenant = factory.tenant()
    caller = factory.caller(role, tenant)

    response = client.post(_url(tenant), json={"kind": "legal"}, headers=caller.headers)

    assert role in assert_problem(response, 403)["detail"]


# --- read ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role", ["bpo_admin", "supervisor", "client_admin", "client_viewer", "integration"]
)
def test_every_role_of_the_firm_reads_its_departments(app, client, factory, role):
    tenant = factory.tenant()
    department_id = _make_department(app, tenant, kind="technical")
    caller = factory.caller(role, tenant)

    listed = client.get(_url(tenant), headers=caller.headers)
    one = client.get(_url(tenant, department_id), headers=caller.headers)

    assert [d["name"] for d in listed.get_json()] == ["Technical"]
    assert one.status_code == 200
    assert one.get_json()["kind"] == "technical"
    assert one.headers["ETag"]


def test_departments_page_by_name(app, client, factory):
    tenant = factory.tenant()
    for kind in ("marketing", "finance", "legal"):
        _make_department(app, tenant, kind=kind)
    viewer = factory.caller("client_viewer", tenant)

    first = client.get(f"{_url(tenant)}?page=1&page_size=2", headers=viewer.headers)
    second = client.get(f"{_url(tenant)}?page=2&page_size=2", headers=viewer.headers)

    assert [d["name"] for d in first.get_json()] == ["Finance", "Legal"]
    assert [d["name"] for d in second.get_json()] == ["Marketing"]
    assert json.loads(first.headers["X-Pagination"])["total"] == 3


def test_another_firms_department_is_not_found_through_this_firm(app, client, factory):
    mine, theirs = factory.tenant(), factory.tenant()
    theirs_id = _make_department(app, theirs)
    admin = factory.caller("bpo_admin")
    etag = _etag(client, admin, _url(theirs, theirs_id))

    assert_problem(client.get(_url(mine, theirs_id), headers=admin.headers), 404)
    assert_problem(
        client.patch(
            _url(mine, theirs_id),
            json={"name": "Taken"},
            headers={**admin.headers, "If-Match": etag},
        ),
        404,
    )
    assert_problem(client.delete(_url(mine, theirs_id), headers=admin.headers), 404)
    client_admin = factory.caller("client_admin", mine)
    assert_problem(client.get(_url(theirs, theirs_id), headers=client_admin.headers), 404)
    assert client.get(_url(theirs, theirs_id), headers=admin.headers).get_json()["is_active"]


# --- update and deactivate -------------------------------------------------------------------


def test_patching_a_department_needs_a_fresh_if_match(app, client, factory):
    tenant = factory.tenant()
    department_id = _make_department(app, tenant)
    client_admin = factory.caller("client_admin", tenant)
    etag = _etag(client, client_admin, _url(tenant, department_id))
    headers = {**client_admin.headers, "If-Match": etag}

    missing = client.patch(
        _url(tenant, department_id), json={"name": "Money"}, headers=client_admin.headers
    )
    first = client.patch(
        _url(tenant, department_id),
        json={"name": "Accounts", "email": "accounts@acme.example"},
        headers=headers,
    )
    stale = client.patch(_url(tenant, department_id), json={"name": "Late"}, headers=headers)

    assert_problem(missing, 428)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["email"] == "accounts@acme.example"
    assert_problem(stale, 412)
    entries = audit_entries(app, "department.updated")
    assert [(e.target_id, e.details) for e in entries] == [
        (str(department_id), {"name": "Accounts", "changed": ["email", "name"]})
    ]


def test_renaming_a_department_onto_another_conflicts(app, client, factory):
    tenant = factory.tenant()
    _make_department(app, tenant, kind="legal")
    department_id = _make_department(app, tenant, kind="finance")
    client_admin = factory.caller("client_admin", tenant)
    etag = _etag(client, client_admin, _url(tenant, department_id))

    response = client.patch(
        _url(tenant, department_id),
        json={"name": "legal"},
        headers={**client_admin.headers, "If-Match": etag},
    )

    assert_problem(response, 409)


def test_deleting_a_department_deactivates_it_and_patch_brings_it_back(app, client, factory):
    tenant = factory.tenant()
    department_id = _make_department(app, tenant)
    client_admin = factory.caller("client_admin", tenant)

    deleted = client.delete(_url(tenant, department_id), headers=client_admin.headers)
    again = client.delete(_url(tenant, department_id), headers=client_admin.headers)
    active = client.get(f"{_url(tenant)}?active=true", headers=client_admin.headers).get_json()
    inactive = client.get(f"{_url(tenant)}?active=false", headers=client_admin.headers).get_json()
    etag = _etag(client, client_admin, _url(tenant, department_id))
    back = client.patch(
        _url(tenant, department_id),
        json={"is_active": True},
        headers={**client_admin.headers, "If-Match": etag},
    )

    assert (deleted.status_code, again.status_code) == (204, 204)
    assert (active, [d["id"] for d in inactive]) == ([], [str(department_id)])
    assert back.get_json()["is_active"] is True
    assert audit_actions(app, target_id=department_id) == [
        "department.created",
        "department.deactivated",
        "department.activated",
    ]


@pytest.mark.parametrize("role", ["client_viewer", "integration", "supervisor"])
def test_readers_may_not_change_or_deactivate_departments(app, client, factory, role):
    tenant = factory.tenant()
    department_id = _make_department(app, tenant)
    caller = factory.caller(role, tenant)
    etag = _etag(client, caller, _url(tenant, department_id))

    patched = client.patch(
        _url(tenant, department_id),
        json={"name": "Mine"},
        headers={**caller.headers, "If-Match": etag},
    )
    deleted = client.delete(_url(tenant, department_id), headers=caller.headers)

    assert_problem(patched, 403)
    assert_problem(deleted, 403)
    body = client.get(_url(tenant, department_id), headers=caller.headers).get_json()
    assert (body["name"], body["is_active"]) == ("Finance", True)


# --- services for onboarding -----------------------------------------------------------------


def test_default_departments_are_valid_input_and_all_standard_kinds(app, factory):
    tenant = factory.tenant()
    defaults = contacts_departments.default_departments_in()

    assert DepartmentCreateSchema(many=True).load(defaults) == defaults
    with app.app_context(), tenant_scope(tenant.id):
        made = [
            contacts_departments.create_department(department_in=d, actor=tenants_service.SYSTEM)
            for d in defaults
        ]
        db.session.commit()
        assert sorted(d.kind for d in made) == [
            "finance",
            "legal",
            "logistics",
            "marketing",
            "technical",
        ]
