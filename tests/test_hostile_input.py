"""Input that used to cost us (issue 13, items 7 and 8), on PostgreSQL and SQLite.

- Absurd instants (the year 1, the year 0100, the year 9999) are a 422 naming the field, in
  bodies, query strings and imports (rows stored before: tests/test_sla_old_data.py).
- A NUL character or a lone surrogate in any string, and an integer beyond what its column
  holds, is a 422 naming the field (JSON bodies, query strings, CSV and JSON-lines imports).
"""

from __future__ import annotations

import json

import pytest

from tests.http_helpers import assert_problem
from tests.test_contacts_intake import contact_count, contact_in, contacts_url
from tests.test_sla_api import sla_firm

CSV = "text/csv"
NDJSON = "application/x-ndjson"
# Madrid's split opening hours and public holidays: the calendar that costs most to walk.
MADRID = {
    day: [{"start": "09:00", "end": "14:00"}, {"start": "16:00", "end": "19:00"}]
    for day in ("mon", "tue", "wed", "thu", "fri")
}


@pytest.fixture
def acme(db_app, db_factory):
    tenant, queue_id = sla_firm(db_app, db_factory)
    return tenant, queue_id, db_factory.caller("integration", tenant)


def _import(client, caller, tenant, body: str, mimetype: str):
    return client.post(
        contacts_url(tenant) + ":import",
        data=body.encode(),
        content_type=mimetype,
        headers=caller.headers,
    )


def _row(**fields) -> dict:
    return {
        "channel": "email",
        "category": "complaint",
        "subject": "Late parcel",
        "received_at": "2025-11-03T09:00:00+01:00",
        **fields,
    }


def _ndjson(*rows: dict) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


# --- item 7: instants outside the window --------------------------------------------------


@pytest.mark.parametrize(
    "instant",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "0100-06-01T10:00:00+00:00",
        "1999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-14:00",
    ],
)
def test_an_absurd_received_at_is_a_422_naming_the_field(db_client, acme, instant):
    tenant, _, integration = acme

    response = db_client.post(
        contacts_url(tenant), json=contact_in(received_at=instant), headers=integration.headers
    )

    problem = assert_problem(response, 422)
    assert "received_at" in problem["errors"]["json"], problem
    message = str(problem["errors"]["json"]["received_at"])
    assert "2000-01-01" in message or "future" in message, message


def test_an_absurd_instant_in_a_query_string_is_a_422_naming_the_parameter(db_client, acme):
    tenant, _, integration = acme

    response = db_client.get(
        contacts_url(tenant),
        query_string={"created_from": "0001-01-01T00:00:00Z"},
        headers=integration.headers,
    )

    problem = assert_problem(response, 422)
    assert "created_from" in problem["errors"]["query"], problem


@pytest.mark.parametrize("start", ["2999-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00"])
def test_business_time_from_an_absurd_instant_is_a_422(db_client, db_factory, acme, start):
    tenant, _, _ = acme
    admin = db_factory.caller("bpo_admin")

    response = db_client.get(
        f"/v1/tenants/{tenant.id}/calendar/due",
        query_string={"start": start, "seconds": 3600},
        headers=admin.headers,
    )

    problem = assert_problem(response, 422)
    assert "start" in problem["errors"]["query"], problem


def test_an_import_row_received_in_the_year_0100_is_rejected_and_nothing_imported(
    db_app, db_client, acme
):
    tenant, _, integration = acme
    body = _ndjson(_row(), _row(received_at="0100-03-01T10:00:00Z"))

    response = _import(db_client, integration, tenant, body, NDJSON)

    problem = assert_problem(response, 422)
    assert problem["report"][0]["line"] == 2
    assert "received_at" in problem["report"][0]["errors"], problem["report"]
    assert contact_count(db_app, tenant) == 0


# --- item 8: strings and numbers a column cannot hold -------------------------------------


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"subject": "Late\x00parcel"}, ["subject"]),
        ({"body": "broken \ud800 text"}, ["body"]),
        ({"customer": {"name": "Ana\x00"}}, ["customer", "name"]),
        ({"external_id": "ZD-\udfff"}, ["external_id"]),
    ],
)
def test_a_nul_or_a_lone_surrogate_in_a_string_is_a_422_naming_the_field(
    db_app, db_client, acme, fields, where
):
    tenant, _, integration = acme
    # json.dumps writes \\u0000 and \\ud800 escapes, as any JSON encoder may.
    body = json.dumps(contact_in(**fields))

    response = db_client.post(
        contacts_url(tenant),
        data=body,
        content_type="application/json",
        headers=integration.headers,
    )

    problem = assert_problem(response, 422)
    errors = problem["errors"]["json"]
    for key in where:
        errors = errors[key]
    assert "NUL" in str(errors) or "surrogate" in str(errors), errors
    assert contact_count(db_app, tenant) == 0


def test_a_nul_in_a_query_argument_is_a_422_naming_it(db_client, acme):
    tenant, _, integration = acme

    response = db_client.get(
        contacts_url(tenant) + "?status=queued%00", headers=integration.headers
    )

    problem = assert_problem(response, 422)
    assert "status" in problem["errors"]["query"], problem


def test_a_nul_in_a_csv_cell_rejects_its_row_naming_the_column(db_app, db_client, acme):
    tenant, _, integration = acme
    body = "channel,category,subject\nemail,complaint,Fine\nemail,complaint,Bad\x00cell\n"

    response = _import(db_client, integration, tenant, body, CSV)

    problem = assert_problem(response, 422)
    assert problem["report"] == [
        {"line": 3, "errors": {"subject": [problem["report"][0]["errors"]["subject"][0]]}}
    ]
    assert "NUL" in problem["report"][0]["errors"]["subject"][0]
    assert contact_count(db_app, tenant) == 0


def test_a_lone_surrogate_in_a_json_line_rejects_its_row_naming_the_field(db_app, db_client, acme):
    tenant, _, integration = acme
    body = _ndjson(_row(), _row(customer={"name": "Ana \ud83d"}))

    response = _import(db_client, integration, tenant, body, NDJSON)

    problem = assert_problem(response, 422)
    assert problem["report"][0]["line"] == 2
    assert "customer" in problem["report"][0]["errors"], problem["report"]
    assert contact_count(db_app, tenant) == 0


@pytest.mark.parametrize("mimetype", [CSV, NDJSON])
@pytest.mark.parametrize("amount", [2**31, 2**63, -(2**31) - 1])
def test_a_compensation_beyond_the_column_is_a_422_naming_it(
    db_app, db_client, acme, mimetype, amount
):
    tenant, _, integration = acme
    row = _row(
        category="claim",
        remedy_requested="Refund",
        status="resolved",
        resolved_at="2025-11-04T09:00:00+01:00",
        outcome="granted",
        compensation_amount=amount,
    )
    if mimetype == CSV:
        body = ",".join(row) + "\n" + ",".join(str(v) for v in row.values()) + "\n"
    else:
        body = _ndjson(row)

    response = _import(db_client, integration, tenant, body, mimetype)

    problem = assert_problem(response, 422)
    assert "compensation_amount" in problem["report"][0]["errors"], problem["report"]
    assert contact_count(db_app, tenant) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("short_abandon_seconds", 2**31), ("service_level_target_bps", 2**63)],
)
def test_an_integer_beyond_its_column_in_a_json_body_is_a_422_naming_it(
    db_client, db_factory, field, value
):
    tenant = db_factory.tenant()
    body = {
        "name": "Huge",
        "targets": [{"priority": "normal", "first_response_seconds": 3600}],
        field: value,
    }

    response = db_client.post(
        f"/v1/tenants/{tenant.id}/sla-policies",
        json=body,
        headers=db_factory.caller("bpo_admin").headers,
    )

    problem = assert_problem(response, 422)
    assert field in problem["errors"]["json"], problem


def test_an_sla_target_longer_than_a_year_is_a_422(db_client, db_factory):
    tenant = db_factory.tenant()
    body = {"name": "Forever", "targets": [{"priority": "normal", "resolution_seconds": 2**31 - 1}]}

    response = db_client.post(
        f"/v1/tenants/{tenant.id}/sla-policies",
        json=body,
        headers=db_factory.caller("bpo_admin").headers,
    )

    problem = assert_problem(response, 422)
    assert "targets" in problem["errors"]["json"], problem


@pytest.mark.parametrize(
    ("form", "headers"),
    [
        ({"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "x"}, {}),
        ({"grant_type": "client_credentials"}, {"Authorization": "Basic YQBiOng="}),  # a\0b:x
    ],
)
def test_a_nul_sent_to_the_token_endpoint_is_an_oauth_invalid_request_not_a_500(
    db_client, form, headers
):
    response = db_client.post("/oauth/token", data=form, headers=headers)

    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert "client_id" in body["error_description"]


def test_a_list_with_a_bad_item_and_a_repeat_is_a_422_naming_both(db_client, db_factory):
    # marshmallow keys the bad item by its index and the repeat by `_schema`, side by side.
    admin = db_factory.caller("bpo_admin")
    agent = db_client.post(
        "/v1/agents",
        json={"email": "ana@example.test", "name": "Ana", "channels": ["voice"]},
        headers=admin.headers,
    )
    assert agent.status_code == 201, agent.get_json()
    url = f"/v1/agents/{agent.get_json()['id']}"
    etag = db_client.get(url, headers=admin.headers).headers["ETag"]

    response = db_client.patch(
        url,
        json={"channels": ["voice", "voice", "fax"]},
        headers={**admin.headers, "If-Match": etag},
    )

    problem = assert_problem(response, 422)
    assert set(problem["errors"]["json"]["channels"]) == {"2", "_schema"}, problem


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/tenants/{tenant}/invoices/preview?period=9999-12"),
        ("GET", "/v1/tenants/{tenant}/invoices/preview?period=1999-12"),
        ("POST", "/v1/billing/periods/9999-12/close"),
        ("POST", "/v1/billing/periods/0001-01/close"),
    ],
)
def test_a_billing_month_outside_the_window_is_a_422_naming_the_period(
    db_client, db_factory, method, path
):
    tenant = db_factory.tenant()

    response = db_client.open(
        path.format(tenant=tenant.id), method=method, headers=db_factory.caller("bpo_admin").headers
    )

    problem = assert_problem(response, 422)
    assert "period" in str(problem["errors"]), problem
