"""POST /v1/tenants/{tenant_id}/contacts:import: a CSV or JSON-lines batch, all or nothing."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.contacts import intake as contacts_intake
from app.contacts.models import Contact
from app.db import db
from tenants.scoping import tenant_scope
from tests.http_helpers import assert_problem
from tests.test_agents_api import set_status
from tests.test_contacts_intake import (
    contact_count,
    contacts_url,
    create_contact,
    queue_of,
    staffed_agent,
    stored_events,
)

CSV = "text/csv"
NDJSON = "application/x-ndjson"


def to_csv(rows: list[dict]) -> str:
    """A CSV body with a header row of every column any row uses, in first-seen order."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


GOOD_CSV = to_csv(
    [
        {
            "external_id": "OLD-1",
            "channel": "email",
            "direction": "inbound",
            "category": "complaint",
            "language": "es",
            "subject": "Late parcel",
            "customer_email": "ana@example.com",
            "received_at": "2025-11-03T09:00:00+01:00",
            "status": "resolved",
            "first_response_at": "2025-11-03T09:30:00+01:00",
            "resolved_at": "2025-11-03T11:00:00+01:00",
            "disposition": "refunded",
            "resolution_note": "Refunded the shipping",
            "csat": "4",
        },
        {
            "external_id": "OLD-2",
            "channel": "voice",
            "category": "information_request",
            "language": "es",
            "customer_email": "ana@example.com",
            "received_at": "2025-11-04T10:00:00Z",
            "status": "closed",
            "answered_at": "2025-11-04T10:00:20Z",
            "resolved_at": "2025-11-04T10:05:00Z",
            "closed_at": "2025-11-05T10:00:00Z",
            "disposition": "informed",
        },
        {
            "external_id": "OLD-3",
            "channel": "web",
            "category": "claim",
            "language": "en",
            "customer_ref": "C-9",
            "remedy_requested": "A new kettle",
            "received_at": "2025-11-02T08:00:00Z",
            "status": "closed",
            "first_response_at": "2025-11-02T09:00:00Z",
            "resolved_at": "2025-11-03T08:00:00Z",
            "closed_at": "2025-11-04T08:00:00Z",
            "outcome": "granted",
            "compensation_amount": "2999",
        },
        {
            "external_id": "OLD-4",
            "channel": "chat",
            "direction": "outbound",
            "category": "order_request",
            "customer_email": "ANA@example.com",
            "received_at": "2025-11-05T12:00:00Z",
        },
    ]
)


def _import(client, caller, tenant, body: str, content_type: str = CSV, **headers):
    return client.post(
        f"{contacts_url(tenant)}:import",
        data=body.encode(),
        headers={**caller.headers, "Content-Type": content_type, **headers},
    )


@pytest.fixture
def firm(app, factory):
    tenant = factory.tenant()
    queue_id = queue_of(app, tenant, "General")
    return tenant, queue_id, factory.caller("supervisor", tenant)


def _stored(app, tenant) -> dict[str, Contact]:
    with app.app_context(), tenant_scope(tenant.id):
        return {c.external_id: c for c in db.session.scalars(select(Contact))}


# --- a good batch ----------------------------------------------------------------------------


def test_a_csv_batch_of_historical_contacts_is_imported_with_its_history(app, client, firm):
    tenant, queue_id, supervisor = firm

    response = _import(client, supervisor, tenant, GOOD_CSV)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["imported"] == 4
    stored = _stored(app, tenant)
    assert body["ids"] == [str(stored[f"OLD-{n}"].id) for n in (1, 2, 3, 4)]
    first, second, claim, callback = (stored[f"OLD-{n}"] for n in (1, 2, 3, 4))
    assert {c.queue_id for c in stored.values()} == {queue_id}
    assert (first.status, first.csat, first.disposition) == ("resolved", 4, "refunded")
    assert first.first_response_at == datetime(2025, 11, 3, 8, 30, tzinfo=UTC)
    assert first.resolved_at == datetime(2025, 11, 3, 10, 0, tzinfo=UTC)
    assert first.queued_seconds == 1800
    assert first.status_since == first.resolved_at
    assert (second.status, second.closed_at) == (
        "closed",
        datetime(2025, 11, 5, 10, 0, tzinfo=UTC),
    )
    assert second.answered_at == datetime(2025, 11, 4, 10, 0, 20, tzinfo=UTC)
    assert (claim.outcome, claim.compensation_amount, claim.customer_ref) == (
        "granted",
        2999,
        "C-9",
    )
    assert (callback.status, callback.direction, callback.language) == ("queued", "outbound", None)
    assert callback.queued_at == callback.received_at == datetime(2025, 11, 5, 12, tzinfo=UTC)
    # Ana's contacts, numbered by when they arrived (her email in any case).
    assert [c.customer_contact_number for c in (first, second, callback)] == [1, 2, 3]
    [event] = stored_events(app, tenant, first.id)
    assert (event.action, event.from_status, event.to_status) == ("import", None, "resolved")
    assert event.actor_user_id == supervisor.user_id
    # Ana's next contact counts the imported ones.
    live = create_contact(client, supervisor, tenant, customer={"email": "ana@example.com"})
    assert live["customer_contact_number"] == 4


def test_a_json_lines_batch_is_imported_and_blank_lines_are_skipped(app, client, firm):
    tenant, _queue_id, supervisor = firm
    rows = [
        {"external_id": "J-1", "channel": "chat", "category": "suggestion"},
        {
            "external_id": "J-2",
            "channel": "email",
            "category": "claim",
            "remedy_requested": "Refund",
            "customer": {"phone": "+34 600 000 000"},
            "received_at": "2025-10-01T10:00:00Z",
            "status": "resolved",
            "resolved_at": "2025-10-02T10:00:00Z",
            "outcome": "denied",
        },
    ]
    body = json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n"

    response = _import(client, supervisor, tenant, body, NDJSON)

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["imported"] == 2
    stored = _stored(app, tenant)
    assert stored["J-2"].customer_key == "phone:34600000000"
    assert stored["J-2"].outcome == "denied"


def test_a_batch_retried_with_its_idempotency_key_is_imported_once(app, client, firm):
    tenant, _queue_id, supervisor = firm

    first = _import(client, supervisor, tenant, GOOD_CSV, **{"Idempotency-Key": "batch-1"})
    retry = _import(client, supervisor, tenant, GOOD_CSV, **{"Idempotency-Key": "batch-1"})

    assert first.status_code == retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == first.get_json()
    assert contact_count(app, tenant) == 4
    # Without the key, the same batch again is refused row by row: its ids are taken.
    again = _import(client, supervisor, tenant, GOOD_CSV)
    report = assert_problem(again, 422)["report"]
    assert [r["line"] for r in report] == [2, 3, 4, 5]
    assert report[0]["errors"]["external_id"][0].startswith("Already imported as contact")


# --- a bad batch -----------------------------------------------------------------------------


def test_a_batch_with_bad_rows_imports_nothing_and_reports_each_line(app, client, firm):
    tenant, _queue_id, supervisor = firm
    bad = (
        "external_id,channel,category,received_at,status,resolved_at,remedy_requested,csat\n"
        "B-1,email,complaint,2025-11-03T09:00:00Z,,,,\n"
        "B-2,fax,complaint,2025-11-03T09:00:00Z,,,,\n"
        "B-3,email,claim,2025-11-03T09:00:00Z,,,,\n"
        "B-4,email,complaint,2025-11-03T09:00:00Z,resolved,,,\n"
        "B-5,email,complaint,2025-11-03T09:00:00Z,resolved,2025-11-02T09:00:00Z,,9\n"
        "B-1,chat,complaint,2025-11-03T09:00:00Z,,,,\n"
        "B-7,email,complaint,yesterday,,,,\n"
        "B-8,email,complaint,2025-11-03T09:00:00Z,,,,,one too many\n"
        "B-9,voice,claim,2025-11-03T09:00:00Z,,,A refund,\n"
    )

    response = _import(client, supervisor, tenant, bad)

    problem = assert_problem(response, 422)
    assert problem["detail"] == "8 of 9 rows were rejected; nothing was imported."
    report = {r["line"]: r["errors"] for r in problem["report"]}
    assert set(report) == {3, 4, 5, 6, 7, 8, 9, 10}
    assert "channel" in report[3]
    assert "remedy_requested" in report[4]
    assert "resolved_at" in report[5]
    assert set(report[6]) == {"resolved_at", "csat"}  # before received_at; out of 1-5
    assert report[7] == {"external_id": ["Repeats line 2."]}
    assert "received_at" in report[8]
    assert report[9] == {"_schema": ["More cells than the header has columns."]}
    assert "channel" in report[10]  # a claim is written
    assert contact_count(app, tenant) == 0


def test_unknown_columns_and_broken_json_lines_are_reported(app, client, firm):
    tenant, _queue_id, supervisor = firm
    body = (
        json.dumps({"channel": "chat", "category": "suggestion", "mood": "grumpy"})
        + "\n{not json\n[1, 2]\n"
        + json.dumps({"channel": "chat", "category": "suggestion"})
        + "\n"
    )

    response = _import(client, supervisor, tenant, body, NDJSON)

    report = assert_problem(response, 422)["report"]
    assert [r["line"] for r in report] == [1, 2, 3]
    assert report[0]["errors"] == {"mood": ["Unknown field."]}
    assert report[1]["errors"]["_schema"][0].startswith("Not valid JSON")
    assert report[2]["errors"] == {"_schema": ["Not a JSON object."]}
    assert contact_count(app, tenant) == 0


def test_a_row_no_queue_takes_is_reported(app, client, factory):
    tenant = factory.tenant()
    queue_of(app, tenant, "Mail", channels=["email"])
    inactive = queue_of(app, tenant, "Old", is_active=False)
    supervisor = factory.caller("supervisor", tenant)
    body = (
        "channel,category,queue_id\n"
        f"email,complaint,\nvoice,complaint,\nemail,complaint,{inactive}\n"
    )

    response = _import(client, supervisor, tenant, body)

    report = assert_problem(response, 422)["report"]
    assert [r["line"] for r in report] == [3, 4]
    assert "No active queue takes voice contacts" in report[0]["errors"]["queue_id"][0]
    assert report[1]["errors"] == {"queue_id": ["The queue is deactivated."]}


def test_an_empty_or_oversized_batch_is_refused(app, client, firm, monkeypatch):
    tenant, _queue_id, supervisor = firm
    monkeypatch.setattr(contacts_intake, "IMPORT_MAX_ROWS", 2)
    three = "channel,category\nchat,suggestion\nchat,suggestion\nchat,suggestion\n"

    assert_problem(_import(client, supervisor, tenant, ""), 422)
    assert_problem(_import(client, supervisor, tenant, "channel,category\n"), 422)
    assert (
        "At most 2 rows"
        in assert_problem(_import(client, supervisor, tenant, three), 413)["detail"]
    )
    assert contact_count(app, tenant) == 0


def test_a_body_over_the_import_limit_is_413(client, firm, monkeypatch):
    from app.contacts import routes as contacts_routes

    tenant, _queue_id, supervisor = firm
    monkeypatch.setattr(contacts_routes.ContactImport, "max_body_bytes", 100)

    response = _import(client, supervisor, tenant, "channel,category\n" + "chat,suggestion\n" * 20)

    assert_problem(response, 413)


# --- types, roles, firms ---------------------------------------------------------------------


def test_only_csv_and_json_lines_are_imported_and_other_routes_keep_refusing_csv(client, firm):
    tenant, _queue_id, supervisor = firm

    as_json = client.post(
        f"{contacts_url(tenant)}:import", json=[{"channel": "chat"}], headers=supervisor.headers
    )
    as_text = _import(client, supervisor, tenant, "channel\nchat\n", "text/plain")
    csv_elsewhere = client.post(
        contacts_url(tenant),
        data=b"channel,category\nchat,suggestion\n",
        headers={**supervisor.headers, "Content-Type": CSV},
    )
    csv_to_queues = client.post(
        f"/v1/tenants/{tenant.id}/queues",
        data=b"name\nX\n",
        headers={**supervisor.headers, "Content-Type": CSV},
    )

    assert "text/csv" in assert_problem(as_json, 415)["detail"]
    assert_problem(as_text, 415)
    assert "application/json" in assert_problem(csv_elsewhere, 415)["detail"]
    assert_problem(csv_to_queues, 415)


def test_a_batch_that_is_not_utf8_is_refused(client, firm):
    tenant, _queue_id, supervisor = firm

    response = client.post(
        f"{contacts_url(tenant)}:import",
        data="channel,category,subject\nchat,suggestion,caf\xe9\n".encode("latin-1"),
        headers={**supervisor.headers, "Content-Type": CSV},
    )

    assert "UTF-8" in assert_problem(response, 400)["detail"]


@pytest.mark.parametrize("role", ["agent", "client_viewer", "client_admin"])
def test_agents_and_client_users_cannot_import(app, client, factory, firm, role):
    tenant, queue_id, _supervisor = firm
    if role == "agent":
        admin = factory.caller("bpo_admin")
        _agent, caller = staffed_agent(app, client, factory, admin, [queue_id])
    else:
        caller = factory.caller(role, tenant)

    assert_problem(_import(client, caller, tenant, GOOD_CSV), 403)
    assert contact_count(app, tenant) == 0


def test_an_integration_and_a_bpo_admin_import(app, client, factory, firm):
    tenant, _queue_id, _supervisor = firm
    rows = "external_id,channel,category\n{}-1,chat,suggestion\n"

    for caller in (factory.caller("integration", tenant), factory.caller("bpo_admin")):
        response = _import(client, caller, tenant, rows.format(uuid.uuid4().hex))
        assert response.status_code == 201, response.get_json()
    assert contact_count(app, tenant) == 2


def test_a_suspended_firm_imports_nothing(app, client, firm):
    tenant, _queue_id, supervisor = firm
    set_status(app, tenant, "suspended")

    assert_problem(_import(client, supervisor, tenant, GOOD_CSV), 409)
    assert contact_count(app, tenant) == 0


def test_an_import_into_another_firm_is_not_found(app, client, factory, firm):
    _tenant, _queue_id, supervisor = firm
    other = factory.tenant()
    queue_of(app, other, "General")

    assert_problem(_import(client, supervisor, other, GOOD_CSV), 404)
    assert contact_count(app, other) == 0
