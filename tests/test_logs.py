"""Logs: one JSON line per request carrying its request id, tenant, caller, route, status and
duration; and nothing a person or a secret could be read from."""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.db import db
from app.logs import TextFormatter
from tests.factories import PASSWORD
from tests.test_contacts_intake import contacts_url, create_contact, queue_of

CONTACTS_ROUTE = "/v1/tenants/<uuid:tenant_id>/contacts"


def json_lines(text: str) -> list[dict]:
    """Every line written is one JSON object."""
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def request_lines(text: str) -> list[dict]:
    return [line for line in json_lines(text) if line["logger"] == "switchboard.request"]


def test_a_request_line_is_json_with_its_request_id_tenant_caller_route_and_timing(
    app, client, factory, capsys
):
    tenant = factory.tenant()
    queue_of(app, tenant)
    integration = factory.caller("integration", tenant)
    capsys.readouterr()

    response = client.get(
        contacts_url(tenant) + "?customer_email=ana%40example.com",
        headers={**integration.headers, "X-Request-ID": "trace-logs-0001"},
    )

    written = capsys.readouterr().err
    (line,) = [e for e in request_lines(written) if e["request_id"] == "trace-logs-0001"]
    assert response.headers["X-Request-ID"] == "trace-logs-0001"
    assert line["level"] == "INFO"
    assert line["tenant_id"] == str(tenant.id)
    assert line["principal"] == integration.client_id
    assert (line["method"], line["route"], line["status"]) == ("GET", CONTACTS_ROUTE, 200)
    assert line["path"] == f"/v1/tenants/{tenant.id}/contacts"  # never the query string
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    stamp = datetime.fromisoformat(line["time"])
    assert stamp.utcoffset() == timedelta(0)
    assert "ana" not in written and "example.com" not in written


def test_a_person_is_logged_by_user_id_and_a_new_contact_by_its_status(
    app, client, factory, capsys
):
    tenant = factory.tenant()
    queue_of(app, tenant)
    supervisor = factory.caller("supervisor", tenant)
    capsys.readouterr()

    create_contact(client, supervisor, tenant, customer={"name": "Ana Ruiz", "email": "a@x.es"})

    written = capsys.readouterr().err
    (line,) = request_lines(written)
    assert (line["method"], line["route"], line["status"]) == ("POST", CONTACTS_ROUTE, 201)
    assert line["principal"] == str(supervisor.user_id)
    assert line["tenant_id"] == str(tenant.id)
    for personal in ("Ana Ruiz", "a@x.es", "Parcel never arrived"):
        assert personal not in written


def test_token_and_sign_in_requests_log_no_password_secret_token_or_email(
    app, client, factory, capsys, caplog
):
    caplog.set_level(logging.INFO)
    tenant = factory.tenant()
    user = factory.user("client_viewer", tenant)
    client_id, secret = factory.integration_client(tenant)
    browser_client_id = factory.browser_client("http://127.0.0.1:9/callback")
    capsys.readouterr()

    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}", "X-Request-ID": "trace-token"},
    )
    wrong_secret = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": "x" * 40,
        },
    )
    sign_in_url = (
        f"/oauth/authorize?response_type=code&client_id={browser_client_id}"
        "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&scope=tenants%3Aread&state=xyz"
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    )
    page = client.get(sign_in_url)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    failed = client.post(
        sign_in_url, data={"csrf_token": csrf, "email": user.email, "password": "hunter2-wrong"}
    )
    signed_in = client.post(
        sign_in_url, data={"csrf_token": csrf, "email": user.email, "password": PASSWORD}
    )

    assert token.status_code == 200
    assert wrong_secret.status_code == 401
    assert failed.status_code == 401
    assert signed_in.status_code == 302
    written = capsys.readouterr().err
    lines = request_lines(written)
    assert [line["route"] for line in lines] == [
        "/oauth/token",
        "/oauth/token",
        "/oauth/authorize",
        "/oauth/authorize",
        "/oauth/authorize",
    ]
    assert lines[0]["request_id"] == "trace-token"
    everything = written + "\n".join(r.getMessage() for r in caplog.records)
    access_token = token.get_json()["access_token"]
    for never in (secret, basic, access_token, PASSWORD, "hunter2-wrong", user.email, csrf):
        assert never not in everything
    assert "@" not in "".join(json.dumps(line) for line in lines)


def test_behind_gunicorn_the_access_log_writes_the_line_unless_told_otherwise(
    app, client, capsys, monkeypatch
):
    gunicorn = {"gunicorn.socket": object()}
    capsys.readouterr()

    client.get("/healthz", headers={"X-Request-ID": "trace-auto"}, environ_base=gunicorn)
    monkeypatch.setitem(app.config, "LOG_REQUESTS", "always")
    client.get("/healthz", headers={"X-Request-ID": "trace-always"}, environ_base=gunicorn)
    monkeypatch.setitem(app.config, "LOG_REQUESTS", "never")
    client.get("/healthz", headers={"X-Request-ID": "trace-never"})

    ids = [line["request_id"] for line in request_lines(capsys.readouterr().err)]
    assert ids == ["trace-always"]


@pytest.mark.undocumented_response(reason="/test-logs/warn is a route of this test's own")
def test_other_log_records_carry_the_request_they_were_written_in(tmp_path, capsys):
    # An app of its own, for a route that logs; it needs no database.
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})

    @app.get("/test-logs/warn")
    def _warn():
        logging.getLogger("app.test").warning("something odd", extra={"queue_depth": 3})
        return {"ok": True}

    capsys.readouterr()
    app.test_client().get("/test-logs/warn", headers={"X-Request-ID": "trace-warn"})

    (record,) = [e for e in json_lines(capsys.readouterr().err) if e["logger"] == "app.test"]
    assert record["level"] == "WARNING"
    assert record["message"] == "something odd"
    assert record["request_id"] == "trace-warn"
    assert record["queue_depth"] == 3


def test_database_errors_are_logged_without_the_values_they_quote(app, capsys):
    email = "ana.ruiz@example.test"
    log = logging.getLogger("switchboard.test")
    capsys.readouterr()
    with app.app_context():
        db.session.execute(text("CREATE TEMP TABLE people (email text UNIQUE)"))
        db.session.execute(text("INSERT INTO people VALUES (:email)"), {"email": email})
        with pytest.raises(IntegrityError) as raised:
            db.session.execute(text("INSERT INTO people VALUES (:email)"), {"email": email})
        db.session.rollback()
    assert email in str(raised.value)  # what the log must not repeat

    log.warning("conflict: %s", raised.value.orig)
    try:
        raise raised.value
    except IntegrityError:
        log.exception("conflict at commit")

    written = capsys.readouterr().err
    message, exception = [e for e in json_lines(written) if e["logger"] == "switchboard.test"]
    assert "people_email_key" in message["message"]  # what failed is still there
    assert "UniqueViolation" in exception["exception"]
    assert "people_email_key" in exception["exception"]
    assert email not in written


def test_the_text_format_is_one_readable_line_with_its_fields():
    record = logging.makeLogRecord(
        {"name": "switchboard.request", "levelname": "INFO", "msg": "GET /healthz 200"}
    )
    record.status = 200

    line = TextFormatter().format(record)

    assert "INFO" in line and "switchboard.request: GET /healthz 200" in line
    assert "status=200" in line and "\n" not in line
