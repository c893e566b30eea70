"""Probes (/healthz, /readyz) and the API's documentation (/openapi.json, /docs)."""

from __future__ import annotations

import re

import pytest

from app import create_app, migrate
from app.db import db
from tests.conftest import ADMIN_URL, OWNER_ROLE
from tests.http_helpers import assert_problem, database_url, throwaway_database


def _app_on(app, tmp_path, database_url_: str):
    """Another app configured like `app` but connected to another database."""
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": database_url_,
            "MIGRATION_DATABASE_URL": database_url_,
            "OAUTH_ISSUER": app.config["OAUTH_ISSUER"],
            "SECRET_KEY": "test-secret",
        }
    )


def test_healthz_says_the_process_is_up(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["X-Request-ID"]


def test_healthz_does_not_depend_on_the_database(app, tmp_path):
    # Nothing listens on port 1: any database access would fail.
    unreachable = _app_on(app, tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/nothing")
    client = unreachable.test_client()

    assert client.get("/healthz").status_code == 200
    body = assert_problem(client.get("/readyz"), 503)
    assert body["database"] == "unreachable"


def test_readyz_is_ok_when_the_schema_is_at_head(app, client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == "reachable"
    assert body["migrations"]["current"] == sorted(migrate.head_revisions(app))


def test_readyz_is_503_when_the_schema_is_behind(app, tmp_path):
    with throwaway_database(ADMIN_URL, OWNER_ROLE) as name:
        behind = _app_on(app, tmp_path, database_url(ADMIN_URL, OWNER_ROLE, name))
        try:
            response = behind.test_client().get("/readyz")
        finally:
            with behind.app_context():
                db.engine.dispose()

    body = assert_problem(response, 503)
    assert "flask db upgrade" in body["detail"]
    assert body["database"] == "reachable"
    assert body["migrations"] == {"current": [], "head": sorted(migrate.head_revisions(app))}


def test_openapi_document_describes_the_api_and_its_security(client):
    response = client.get("/openapi.json")

    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Switchboard"
    assert {
        "/v1/tenants",
        "/v1/tenants/{tenant_id}",
        "/v1/tenants/{tenant_id}/users",
        "/v1/tenants/{tenant_id}/users/{user_id}",
        "/v1/tenants/{tenant_id}/api-clients",
        "/v1/tenants/{tenant_id}/api-clients/{api_client_id}",
    } <= set(spec["paths"])
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["oauth2"]["type"] == "oauth2"
    flows = schemes["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"].endswith("/oauth/token")
    assert flows["authorizationCode"]["authorizationUrl"].endswith("/oauth/authorize")
    assert "tenants:admin" in flows["clientCredentials"]["scopes"]
    assert {"bearerAuth": []} in spec["security"]
    post = spec["paths"]["/v1/tenants"]["post"]
    assert "201" in post["responses"]
    assert "tenants:admin" in post["description"]


def test_every_operation_documents_the_503_a_database_outage_answers(client):
    spec = client.get("/openapi.json").get_json()

    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        if path.startswith("/v1/")
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) > 50
    undocumented = [(p, m) for p, m, op in operations if "503" not in op["responses"]]
    assert undocumented == []


def test_docs_page_loads_its_assets_from_the_app_and_no_cdn(client):
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in html
    assert "/openapi.json" in html
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\s\"']+", html)


@pytest.mark.parametrize(
    "asset", ["swagger-ui-bundle.js", "swagger-ui.css", "oauth2-redirect.html"]
)
def test_docs_assets_are_served_by_the_app(client, asset):
    response = client.get(f"/docs/assets/{asset}")
    try:
        assert response.status_code == 200
        assert len(response.get_data()) > 100
    finally:
        response.close()
