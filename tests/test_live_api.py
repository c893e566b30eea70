"""The API's event stream for a firm's integrations (`GET /v1/tenants/{id}/events/stream`), over
real HTTP: the firm's domain events in log order, resumed after `Last-Event-ID` without a gap,
never another firm's; and the same on SQLite, where the listener polls."""

from __future__ import annotations

import socket
import threading
import time

import psycopg
import pytest
import requests
from werkzeug.serving import make_server

from app.live import hub_for
from tests.conftest import ADMIN_URL
from tests.factories import Factory
from tests.live_helpers import Stream, listening
from tests.test_contacts_intake import contact_in, contacts_url, queue_of

# Other test runs share the PostgreSQL server; their open transactions hold back when events
# settle (app/events/service.py), so a stream may take a few seconds to hand one on here.
SETTLE = 30.0


def _stream_url(base: str, tenant, query: str = "") -> str:
    return f"{base}/v1/tenants/{tenant.id}/events/stream{query}"


def _take_in(base: str, caller, tenant, queue_id) -> str:
    response = requests.post(
        base + contacts_url(tenant),
        json=contact_in(queue_id=str(queue_id)),
        headers=caller.headers,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _created(event) -> bool:
    return event.event == "contact.created"


def test_an_integration_resumes_its_firms_events_after_the_last_id_it_saw_without_a_gap(
    app, factory, live_server
):
    a, b = factory.tenant(), factory.tenant()
    queue_a, queue_b = queue_of(app, a), queue_of(app, b)
    integration_a = factory.caller("integration", a)
    integration_b = factory.caller("integration", b)
    taken = [_take_in(live_server, integration_a, a, queue_a) for _ in range(3)]
    of_b = _take_in(live_server, integration_b, b, queue_b)

    first = Stream(_stream_url(live_server, a, "?after=0-0"), headers=integration_a.headers)
    try:
        assert first.status == 200, first.response.text
        seen = [first.next(_created, SETTLE) for _ in taken]
        assert [e.json["payload"]["contact_id"] for e in seen if e] == taken
        assert all(e.id and e.json["type"] == "contact.created" for e in seen)
    finally:
        first.close()

    # The connection dropped after the second event: the third comes next, then new ones.
    resumed = Stream(
        _stream_url(live_server, a), headers={**integration_a.headers, "Last-Event-ID": seen[1].id}
    )
    try:
        assert resumed.status == 200
        listening(app)
        third = resumed.next(_created, SETTLE)
        assert third is not None and third.json["payload"]["contact_id"] == taken[2]
        assert third.id == seen[2].id
        fourth_id = _take_in(live_server, integration_a, a, queue_a)
        fourth = resumed.next(_created, SETTLE)
        assert fourth is not None and fourth.json["payload"]["contact_id"] == fourth_id
        heard = " ".join(e.data for e in resumed.seen + first.seen)
        assert of_b not in heard and str(b.id) not in heard
    finally:
        resumed.close()


def test_a_stream_opened_without_a_position_starts_from_now(app, factory, live_server):
    tenant = factory.tenant()
    queue_id = queue_of(app, tenant)
    integration = factory.caller("integration", tenant)
    before = _take_in(live_server, integration, tenant, queue_id)
    # Once it has settled (the transactions before it ended) it is history.
    history = Stream(_stream_url(live_server, tenant, "?after=0-0"), headers=integration.headers)
    try:
        assert history.next(_created, SETTLE) is not None
    finally:
        history.close()
    stream = Stream(_stream_url(live_server, tenant), headers=integration.headers)
    try:
        listening(app)
        after = _take_in(live_server, integration, tenant, queue_id)
        event = stream.next(_created, SETTLE)
        assert event is not None and event.json["payload"]["contact_id"] == after
        assert before not in " ".join(e.data for e in stream.seen)
    finally:
        stream.close()


@pytest.mark.parametrize("role", ["supervisor", "client_viewer"])
def test_roles_that_do_not_integrate_may_not_follow_the_stream(app, factory, live_server, role):
    tenant = factory.tenant()
    caller = factory.caller(role, tenant)
    response = requests.get(_stream_url(live_server, tenant), headers=caller.headers, timeout=10)
    assert response.status_code == 403


def test_another_firms_stream_is_not_found(app, factory, live_server):
    a, b = factory.tenant(), factory.tenant()
    integration_b = factory.caller("integration", b)
    response = requests.get(_stream_url(live_server, a), headers=integration_b.headers, timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"


def test_a_malformed_position_is_refused_naming_the_field(app, factory, live_server):
    tenant = factory.tenant()
    integration = factory.caller("integration", tenant)
    response = requests.get(
        _stream_url(live_server, tenant, "?after=yesterday"),
        headers=integration.headers,
        timeout=10,
    )
    assert response.status_code == 422
    assert "after" in response.json()["errors"]["query"]


def _serve(app):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}"


def test_on_sqlite_the_listener_polls_and_the_stream_still_hears_each_new_event(sqlite_app):
    factory = Factory(sqlite_app)
    tenant = factory.tenant()
    queue_id = queue_of(sqlite_app, tenant)
    integration = factory.caller("integration", tenant)
    server, base = _serve(sqlite_app)
    stream = Stream(_stream_url(base, tenant), headers=integration.headers)
    try:
        assert stream.status == 200, stream.response.text
        listening(sqlite_app)
        contact_id = _take_in(base, integration, tenant, queue_id)
        event = stream.next(_created, 3.0)
        assert event is not None and event.json["payload"]["contact_id"] == contact_id
        assert event.id.startswith("0-")
    finally:
        stream.close()
        hub_for(sqlite_app).close_all()
        server.shutdown()


def test_open_streams_hold_no_database_connection_while_they_wait(
    app, database, factory, live_server
):
    tenant = factory.tenant()
    queue_id = queue_of(app, tenant)
    integration = factory.caller("integration", tenant)
    pool = app.config["DATABASE_POOL_SIZE"] + app.config["DATABASE_MAX_OVERFLOW"]
    # More streams than the process has connections: each read its log at open.
    streams = [
        Stream(_stream_url(live_server, tenant, "?after=0-0"), headers=integration.headers)
        for _ in range(pool + 5)
    ]
    try:
        assert [s.status for s in streams] == [200] * len(streams)
        time.sleep(1.5)  # each read the log as it opened, and now waits
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            # A transaction a stream kept open would be as old as the stream; a read of
            # another test's stream still winding down lasts milliseconds.
            held = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND state LIKE 'idle in transaction%%' "
                "AND now() - xact_start > interval '1 second'",
                (database["name"],),
            ).fetchone()[0]
        assert held == 0
        # And ordinary requests are served as usual meanwhile; every stream hears them.
        contact_id = _take_in(live_server, integration, tenant, queue_id)
        for stream in streams:
            event = stream.next(_created, SETTLE)
            assert event is not None and event.json["payload"]["contact_id"] == contact_id
    finally:
        for stream in streams:
            stream.close()
