"""The /v1 resources of tenancy: client firms, their users and their API clients."""

from __future__ import annotations

import base64
import json
import uuid

from sqlalchemy import select

from app.db import db
from tenants.models import User
from tests.http_helpers import TENANT_IN, assert_problem, audit_actions, audit_entries

# --- tenants ---------------------------------------------------------------------------------


def test_a_bpo_admin_onboards_a_client_firm_and_it_is_audited(app, client, factory):
    admin = factory.caller("bpo_admin")

    response = client.post("/v1/tenants", json=TENANT_IN, headers=admin.headers)

    assert response.status_code == 201, response.get_json()
    # Onboarding answers with everything it created; the firm itself is under "tenant".
    body = response.get_json()["tenant"]
    assert {k: body[k] for k in TENANT_IN} == TENANT_IN
    assert body["status"] == "active"
    tenant_id = uuid.UUID(body["id"])
    assert body["created_at"].endswith("+00:00")
    assert response.headers["Location"].endswith(f"/v1/tenants/{tenant_id}")
    entries = audit_entries(app, "tenant.created")
    assert [(e.tenant_id, e.target_id, e.actor_user_id) for e in entries] == [
        (tenant_id, str(tenant_id), admin.user_id)
    ]
    assert entries[0].details == {"slug": "acme-retail"}
    assert entries[0].request_id == response.headers["X-Request-ID"]


def test_a_bpo_admin_pages_through_the_client_firms(client, factory):
    admin = factory.caller("bpo_admin")
    slugs = [factory.tenant().slug for _ in range(3)]

    first = client.get("/v1/tenants?page=1&page_size=2", headers=admin.headers)
    second = client.get("/v1/tenants?page=2&page_size=2", headers=admin.headers)

    assert first.status_code == 200 and second.status_code == 200
    assert [t["slug"] for t in first.get_json()] == slugs[:2]
    assert [t["slug"] for t in second.get_json()] == slugs[2:]
    assert json.loads(first.headers["X-Pagination"]) == {
        "total": 3,
        "total_pages": 2,
        "first_page": 1,
        "last_page": 2,
        "page": 1,
        "next_page": 2,
    }
    assert json.loads(second.headers["X-Pagination"])["previous_page"] == 1


def test_a_page_size_above_the_maximum_is_refused(client, factory):
    admin = factory.caller("bpo_admin")

    response = client.get("/v1/tenants?page_size=1000", headers=admin.headers)

    body = assert_problem(response, 422)
    assert "page_size" in body["errors"]["query"]


def test_a_bpo_admin_filters_client_firms_by_status(client, factory):
    admin = factory.caller("bpo_admin")
    factory.tenant()

    assert len(client.get("/v1/tenants?status=active", headers=admin.headers).get_json()) == 1
    assert client.get("/v1/tenants?status=suspended", headers=admin.headers).get_json() == []
    assert_problem(client.get("/v1/tenants?status=bogus", headers=admin.headers), 422)


def test_a_bpo_admin_reads_a_client_firm_with_its_etag(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant(name="Globex")

    response = client.get(f"/v1/tenants/{tenant.id}", headers=admin.headers)

    assert response.status_code == 200
    assert response.get_json()["id"] == str(tenant.id)
    assert response.get_json()["name"] == "Globex"
    assert response.headers["ETag"]


def test_patching_a_client_firm_without_if_match_is_refused(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()

    response = client.patch(f"/v1/tenants/{tenant.id}", json={"name": "New"}, headers=admin.headers)

    assert_problem(response, 428)


def test_patching_a_client_firm_with_a_stale_etag_is_refused(app, client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    stale = client.get(f"/v1/tenants/{tenant.id}", headers=admin.headers).headers["ETag"]
    headers = {**admin.headers, "If-Match": stale}
    first = client.patch(f"/v1/tenants/{tenant.id}", json={"name": "One"}, headers=headers)
    assert first.status_code == 200

    response = client.patch(f"/v1/tenants/{tenant.id}", json={"name": "Two"}, headers=headers)

    assert_problem(response, 412)
    assert client.get(f"/v1/tenants/{tenant.id}", headers=admin.headers).get_json()["name"] == "One"


def test_a_bpo_admin_changes_a_client_firm_with_the_current_etag_and_it_is_audited(
    app, client, factory
):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    read = client.get(f"/v1/tenants/{tenant.id}", headers=admin.headers)

    response = client.patch(
        f"/v1/tenants/{tenant.id}",
        json={"name": "Acme Europe", "time_zone": "Europe/Lisbon"},
        headers={**admin.headers, "If-Match": read.headers["ETag"]},
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["name"] == "Acme Europe"
    assert response.get_json()["time_zone"] == "Europe/Lisbon"
    assert response.headers["ETag"] != read.headers["ETag"]
    entries = audit_entries(app, "tenant.updated")
    assert len(entries) == 1
    assert entries[0].tenant_id == tenant.id
    assert entries[0].details == {"changed": ["name", "time_zone"]}
    assert entries[0].actor_user_id == admin.user_id


def test_onboarding_a_second_firm_with_the_same_slug_conflicts(client, factory):
    admin = factory.caller("bpo_admin")
    factory.tenant(slug="acme-retail")

    response = client.post("/v1/tenants", json=TENANT_IN, headers=admin.headers)

    body = assert_problem(response, 409)
    assert "acme-retail" in body["detail"]


def test_invalid_onboarding_input_names_every_bad_field(client, factory):
    admin = factory.caller("bpo_admin")
    bad = {
        "slug": "Not A Slug!",
        "name": "Acme",
        "time_zone": "Mars/Olympus",
        "locale": "es-ES",
        "currency": "euro",
    }

    response = client.post("/v1/tenants", json=bad, headers=admin.headers)

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {"slug", "time_zone", "currency"}
    assert "Mars/Olympus" in body["errors"]["json"]["time_zone"][0]
    for field in ("slug", "time_zone", "currency"):
        assert field in body["detail"]


def test_missing_onboarding_fields_are_each_named(client, factory):
    admin = factory.caller("bpo_admin")

    response = client.post("/v1/tenants", json={}, headers=admin.headers)

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {"slug", "name", "time_zone", "locale", "currency"}


def test_onboarding_refuses_fields_the_client_may_not_set(client, factory):
    admin = factory.caller("bpo_admin")
    injected = {
        **TENANT_IN,
        "id": str(uuid.uuid4()),
        "tenant_id": str(uuid.uuid4()),
        "status": "suspended",
    }

    response = client.post("/v1/tenants", json=injected, headers=admin.headers)

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {"id", "tenant_id", "status"}
    assert client.get("/v1/tenants", headers=admin.headers).get_json() == []


def test_a_patch_refuses_unknown_fields_and_invalid_values(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    etag = client.get(f"/v1/tenants/{tenant.id}", headers=admin.headers).headers["ETag"]

    response = client.patch(
        f"/v1/tenants/{tenant.id}",
        json={"slug": "renamed", "status": "offboarded", "time_zone": "Mars/Olympus"},
        headers={**admin.headers, "If-Match": etag},
    )

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {"slug", "status", "time_zone"}


def test_a_client_admin_cannot_onboard_a_client_firm(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)

    response = client.post("/v1/tenants", json=TENANT_IN, headers=client_admin.headers)

    body = assert_problem(response, 403)
    assert "client_admin" in body["detail"]


def test_a_client_admin_cannot_change_their_own_firms_profile(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    etag = client.get(f"/v1/tenants/{tenant.id}", headers=client_admin.headers).headers["ETag"]

    response = client.patch(
        f"/v1/tenants/{tenant.id}",
        json={"name": "Mine"},
        headers={**client_admin.headers, "If-Match": etag},
    )

    assert_problem(response, 403)


def test_a_client_user_lists_only_their_own_firm(client, factory):
    mine, other = factory.tenant(), factory.tenant()
    viewer = factory.caller("client_viewer", mine)

    response = client.get("/v1/tenants", headers=viewer.headers)

    assert response.status_code == 200
    assert [t["id"] for t in response.get_json()] == [str(mine.id)]
    assert json.loads(response.headers["X-Pagination"])["total"] == 1
    assert_problem(client.get(f"/v1/tenants/{other.id}", headers=viewer.headers), 404)


# --- users -----------------------------------------------------------------------------------


def _new_user(**fields) -> dict:
    return {
        "email": "viewer@acme.example",
        "name": "Vera Viewer",
        "role": "client_viewer",
        "password": "a long enough password",
        **fields,
    }


def test_a_client_admin_adds_a_client_viewer(app, client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)

    response = client.post(
        f"/v1/tenants/{tenant.id}/users", json=_new_user(), headers=client_admin.headers
    )

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["email"] == "viewer@acme.example"
    assert body["role"] == "client_viewer"
    assert body["is_active"] is True
    assert not {"password", "password_hash"} & set(body)
    assert "a long enough password" not in response.get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "viewer@acme.example"))
        assert user.password_hash.startswith("$argon2id$")
    assert "user.created" in audit_actions(app, target_id=body["id"])
    listed = client.get(f"/v1/tenants/{tenant.id}/users", headers=client_admin.headers)
    assert "viewer@acme.example" in [u["email"] for u in listed.get_json()]


def test_a_user_added_by_a_client_admin_can_sign_in(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    client.post(f"/v1/tenants/{tenant.id}/users", json=_new_user(), headers=client_admin.headers)
    redirect_uri = "http://127.0.0.1:9999/callback"
    client_id = factory.browser_client(redirect_uri)
    query = (
        f"/oauth/authorize?response_type=code&client_id={client_id}"
        f"&redirect_uri={redirect_uri}&scope=tenants:read&state=xyz"
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    )
    page = client.get(query)
    assert page.status_code == 200
    csrf = page.get_data(as_text=True).split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    response = client.post(
        query,
        data={
            "csrf_token": csrf,
            "email": "viewer@acme.example",
            "password": "a long enough password",
        },
    )

    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].startswith(f"{redirect_uri}?code=")


def test_adding_a_user_whose_email_exists_conflicts(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    factory.user("client_viewer", factory.tenant(), email="taken@example.test", password=None)

    response = client.post(
        f"/v1/tenants/{tenant.id}/users",
        json=_new_user(email="Taken@Example.test"),
        headers=client_admin.headers,
    )

    assert_problem(response, 409)


def test_a_client_admin_changes_a_users_role_and_it_is_audited(app, client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    viewer = factory.user("client_viewer", tenant, password=None)
    url = f"/v1/tenants/{tenant.id}/users/{viewer.id}"
    etag = client.get(url, headers=client_admin.headers).headers["ETag"]

    response = client.patch(
        url, json={"role": "client_admin"}, headers={**client_admin.headers, "If-Match": etag}
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["role"] == "client_admin"
    [entry] = audit_entries(app, "user.role_changed")
    assert entry.target_id == str(viewer.id)
    assert entry.tenant_id == tenant.id
    assert entry.details == {"from": "client_viewer", "to": "client_admin"}
    assert entry.actor_user_id == client_admin.user_id


def test_changing_a_users_role_needs_the_current_etag(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    viewer = factory.user("client_viewer", tenant, password=None)
    url = f"/v1/tenants/{tenant.id}/users/{viewer.id}"

    missing = client.patch(url, json={"role": "client_admin"}, headers=client_admin.headers)
    stale = client.patch(
        url, json={"role": "client_admin"}, headers={**client_admin.headers, "If-Match": '"0"'}
    )

    assert_problem(missing, 428)
    assert_problem(stale, 412)
    assert client.get(url, headers=client_admin.headers).get_json()["role"] == "client_viewer"


def test_a_client_viewer_cannot_add_users(client, factory):
    tenant = factory.tenant()
    viewer = factory.caller("client_viewer", tenant)

    response = client.post(
        f"/v1/tenants/{tenant.id}/users", json=_new_user(), headers=viewer.headers
    )

    body = assert_problem(response, 403)
    assert "client_viewer" in body["detail"]


def test_only_client_roles_can_be_given_to_a_firms_users(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    viewer = factory.user("client_viewer", tenant, password=None)
    url = f"/v1/tenants/{tenant.id}/users"

    for role in ("bpo_admin", "supervisor", "agent", "integration", "owner"):
        response = client.post(url, json=_new_user(role=role), headers=client_admin.headers)
        assert assert_problem(response, 422)["errors"]["json"].keys() == {"role"}, role
    etag = client.get(f"{url}/{viewer.id}", headers=client_admin.headers).headers["ETag"]
    response = client.patch(
        f"{url}/{viewer.id}",
        json={"role": "bpo_admin"},
        headers={**client_admin.headers, "If-Match": etag},
    )
    assert assert_problem(response, 422)["errors"]["json"].keys() == {"role"}


def test_bpo_staff_granted_to_a_firm_are_not_its_users_to_manage(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    supervisor = factory.user("supervisor", tenant, password=None)
    url = f"/v1/tenants/{tenant.id}/users"

    listed = client.get(url, headers=client_admin.headers)
    read = client.get(f"{url}/{supervisor.id}", headers=client_admin.headers)
    patched = client.patch(
        f"{url}/{supervisor.id}",
        json={"role": "client_viewer"},
        headers={**client_admin.headers, "If-Match": '"anything"'},
    )

    assert listed.status_code == 200
    assert [u["id"] for u in listed.get_json()] == [str(client_admin.user_id)]
    assert_problem(read, 404)
    assert_problem(patched, 404)


# --- API clients -----------------------------------------------------------------------------


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_a_client_admin_creates_an_api_client_and_sees_its_secret_once(app, client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    url = f"/v1/tenants/{tenant.id}/api-clients"

    created = client.post(url, json={"name": "CRM"}, headers=client_admin.headers)

    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    secret = body["client_secret"]
    assert len(secret) >= 32
    assert body["name"] == "CRM"
    assert body["revoked_at"] is None
    assert set(body["scope"].split()) == {
        "tenants:read",
        "contacts:read",
        "contacts:write",
        "reports:read",
        "campaigns:read",
        "campaigns:write",
    }
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=_basic(body["client_id"], secret),
    )
    assert token.status_code == 200
    assert "api_client.created" in audit_actions(app, target_id=body["id"])

    listed = client.get(url, headers=client_admin.headers)
    one = client.get(f"{url}/{body['id']}", headers=client_admin.headers)
    assert listed.status_code == 200 and one.status_code == 200
    assert [c["id"] for c in listed.get_json()] == [body["id"]]
    for response in (listed, one):
        assert secret not in response.get_data(as_text=True)
        assert "client_secret" not in response.get_data(as_text=True)


def test_revoking_an_api_client_refuses_its_tokens_at_once(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    integration = factory.caller("integration", tenant)
    record = factory.api_client_record(integration.client_id)
    assert client.get("/v1/tenants", headers=integration.headers).status_code == 200

    response = client.delete(
        f"/v1/tenants/{tenant.id}/api-clients/{record.id}", headers=client_admin.headers
    )

    assert response.status_code == 204
    assert response.data == b""
    refused = client.get("/v1/tenants", headers=integration.headers)
    assert_problem(refused, 401)
    assert refused.headers["WWW-Authenticate"].startswith("Bearer ")
    new_token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=_basic(integration.client_id, integration.client_secret),
    )
    assert new_token.status_code == 401
    one = client.get(
        f"/v1/tenants/{tenant.id}/api-clients/{record.id}", headers=client_admin.headers
    )
    assert one.get_json()["revoked_at"] is not None


def test_an_api_client_cannot_be_given_scopes_beyond_an_integrations(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)

    response = client.post(
        f"/v1/tenants/{tenant.id}/api-clients",
        json={"name": "Greedy", "scope": "contacts:read tenants:admin users:admin"},
        headers=client_admin.headers,
    )

    body = assert_problem(response, 422)
    assert "tenants:admin users:admin" in body["errors"]["json"]["scope"][0]
    listed = client.get(f"/v1/tenants/{tenant.id}/api-clients", headers=client_admin.headers)
    assert listed.get_json() == []


def test_a_client_viewer_cannot_see_or_create_api_clients(client, factory):
    tenant = factory.tenant()
    viewer = factory.caller("client_viewer", tenant)
    url = f"/v1/tenants/{tenant.id}/api-clients"

    assert_problem(client.get(url, headers=viewer.headers), 403)
    assert_problem(client.post(url, json={"name": "x"}, headers=viewer.headers), 403)


def test_a_firms_api_clients_are_not_visible_from_another_firm(client, factory):
    mine, other = factory.tenant(), factory.tenant()
    client_admin = factory.caller("client_admin", mine)
    theirs = factory.api_client_record(factory.integration_client(other)[0])

    assert_problem(
        client.get(f"/v1/tenants/{mine.id}/api-clients/{theirs.id}", headers=client_admin.headers),
        404,
    )
    assert_problem(
        client.get(f"/v1/tenants/{other.id}/api-clients", headers=client_admin.headers), 404
    )
