"""A body over the limit is a 413 stating the real limit, and nothing is imported, also when it
is sent with chunked transfer encoding (issue 13, item 9): over real HTTP (`live_server`,
`requests` sending a generator) and through the test client, on PostgreSQL and SQLite.
"""

from __future__ import annotations

import io
import json

import pytest
import requests

from app.contacts.routes import IMPORT_MAX_BYTES
from tests.http_helpers import assert_problem
from tests.test_contacts_intake import contact_count, contact_in, contacts_url
from tests.test_sla_api import sla_firm

CSV = "text/csv"


@pytest.fixture
def acme(db_app, db_factory):
    tenant, queue_id = sla_firm(db_app, db_factory)
    return tenant, queue_id, db_factory.caller("integration", tenant)


def _big_csv(size: int) -> bytes:
    header = b"external_id,channel,category,subject,body\n"
    line = 0
    out = io.BytesIO()
    out.write(header)
    while out.tell() < size:
        line += 1
        out.write(b"BIG-%d,email,complaint,Parcel,%s\n" % (line, b"x" * 40_000))
    return out.getvalue()


def test_an_import_over_the_limit_is_a_413_stating_the_real_limit(db_app, db_client, acme):
    tenant, _, integration = acme
    body = _big_csv(IMPORT_MAX_BYTES + 1_000_000)

    response = db_client.post(
        contacts_url(tenant) + ":import", data=body, content_type=CSV, headers=integration.headers
    )

    problem = assert_problem(response, 413)
    assert str(IMPORT_MAX_BYTES) in problem["detail"], problem["detail"]
    assert contact_count(db_app, tenant) == 0


def test_a_chunked_import_over_the_limit_is_a_413_through_the_test_client(db_app, db_client, acme):
    tenant, _, integration = acme
    body = _big_csv(IMPORT_MAX_BYTES + 1_000_000)

    response = db_client.post(
        contacts_url(tenant) + ":import",
        input_stream=io.BytesIO(body),
        content_type=CSV,
        headers={**integration.headers, "Transfer-Encoding": "chunked"},
        # What a server that de-chunks the body tells the app (werkzeug's, gunicorn).
        environ_overrides={"wsgi.input_terminated": True},
    )

    problem = assert_problem(response, 413)
    assert str(IMPORT_MAX_BYTES) in problem["detail"], problem["detail"]
    assert contact_count(db_app, tenant) == 0


def _chunks(body: bytes, size: int = 64 * 1024):
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_chunked_import_over_the_limit_is_a_413_over_real_http(app, live_server, factory):
    tenant, _ = sla_firm(app, factory)
    integration = factory.caller("integration", tenant)
    body = _big_csv(9_200_000)  # the 9.2 MB file that was cut and partly imported

    response = requests.post(
        live_server + contacts_url(tenant) + ":import",
        data=_chunks(body),  # a generator: requests sends it chunked
        headers={**integration.headers, "Content-Type": CSV},
        timeout=60,
    )

    assert response.status_code == 413, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert str(IMPORT_MAX_BYTES) in response.json()["detail"]
    assert contact_count(app, tenant) == 0


def test_a_chunked_import_under_the_limit_is_imported_whole_over_real_http(
    app, live_server, factory
):
    tenant, _ = sla_firm(app, factory)
    integration = factory.caller("integration", tenant)
    body = _big_csv(IMPORT_MAX_BYTES - 100_000)
    rows = body.count(b"\n") - 1

    response = requests.post(
        live_server + contacts_url(tenant) + ":import",
        data=_chunks(body),
        headers={**integration.headers, "Content-Type": CSV},
        timeout=60,
    )

    assert response.status_code == 201, response.text
    assert response.json()["imported"] == rows
    assert contact_count(app, tenant) == rows


def test_a_chunked_json_body_over_the_limit_is_a_413_stating_the_limit(db_app, db_client, acme):
    tenant, _, integration = acme
    limit = db_app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps(contact_in(body="x" * limit)).encode()

    response = db_client.post(
        contacts_url(tenant),
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={**integration.headers, "Transfer-Encoding": "chunked"},
        # What a server that de-chunks the body tells the app (werkzeug's, gunicorn).
        environ_overrides={"wsgi.input_terminated": True},
    )

    problem = assert_problem(response, 413)
    assert str(limit) in problem["detail"], problem["detail"]
    assert contact_count(db_app, tenant) == 0
