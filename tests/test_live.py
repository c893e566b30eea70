"""Live updates, over real HTTP: what a person's page stream (`/live`) hears within 2 s, what it
never hears (another firm, another queue), the cap, heartbeats and the goodbye on shutdown."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
import requests

from app.live import hub_for
from app.live.hub import Hub
from app.web import live as web_live
from tests.conftest import ADMIN_URL
from tests.live_helpers import Stream, listening, named, page_cookies
from tests.test_contacts_intake import contact_in, contacts_url, queue_of
from tests.test_isolation_roles import _agent
from tests.web_helpers import csrf_of, sign_in


def _take_in(base: str, caller, tenant, queue_id) -> str:
    """A contact taken in through the API into the queue; return its id."""
    response = requests.post(
        base + contacts_url(tenant),
        json=contact_in(queue_id=str(queue_id)),
        headers=caller.headers,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _about(contact_id: str):
    return lambda event: event.event == "contact" and event.json["contact_id"] == contact_id


def _open(app, base: str, email: str, query: str = "") -> Stream:
    stream = Stream(f"{base}/live{query}", cookies=page_cookies(app, email))
    assert stream.status == 200, stream.response.text
    assert stream.response.headers["Content-Type"].startswith("text/event-stream")
    listening(app)
    return stream


def test_a_contact_taken_in_through_the_api_reaches_its_supervisors_page_within_2_seconds(
    app, factory, live_server
):
    tenant = factory.tenant()
    queue_id = queue_of(app, tenant)
    supervisor = factory.user("supervisor", tenant)
    integration = factory.caller("integration", tenant)
    stream = _open(app, live_server, supervisor.email)
    try:
        started = time.monotonic()
        contact_id = _take_in(live_server, integration, tenant, queue_id)
        event = stream.next(_about(contact_id), timeout=2.0)
        assert event is not None, stream.seen
        assert time.monotonic() - started < 2.0
        assert event.json == {
            "tenant_id": str(tenant.id),
            "queue_id": str(queue_id),
            "contact_id": contact_id,
        }
    finally:
        stream.close()


def test_an_agent_hears_only_of_its_own_queues_never_of_another_firm_or_queue(
    app, factory, live_server
):
    a, b = factory.tenant(), factory.tenant()
    served, other = queue_of(app, a), queue_of(app, a)
    queue_of_b = queue_of(app, b)
    person = factory.user("agent")
    _agent(app, person.id, [(a.id, served)])
    integration_a = factory.caller("integration", a)
    integration_b = factory.caller("integration", b)
    stream = _open(app, live_server, person.email)
    try:
        of_b = _take_in(live_server, integration_b, b, queue_of_b)
        of_other_queue = _take_in(live_server, integration_a, a, other)
        own = _take_in(live_server, integration_a, a, served)
        assert stream.next(_about(own), timeout=2.0) is not None, stream.seen
        # What was committed before the agent's own contact would have come first; wait on
        # a little longer all the same.
        heard = stream.drain(1.0)
        contacts = {e.json["contact_id"] for e in heard if e.event == "contact"}
        assert contacts == {own}
        assert of_b not in str([e.data for e in heard])
        assert of_other_queue not in str([e.data for e in heard])
    finally:
        stream.close()


def test_an_agents_presence_reaches_its_firms_supervisor_and_not_another_firms(
    app, factory, live_server
):
    a, b = factory.tenant(), factory.tenant()
    queue_id = queue_of(app, a)
    person = factory.user("agent")
    agent_id = _agent(app, person.id, [(a.id, queue_id)])
    ours, theirs = factory.user("supervisor", a), factory.user("supervisor", b)
    agent_token = factory.token(*factory.user_client(person))
    ours_stream = _open(app, live_server, ours.email)
    theirs_stream = _open(app, live_server, theirs.email)
    try:
        changed = requests.put(
            f"{live_server}/v1/me/presence",
            json={"presence": "available"},
            headers={"Authorization": f"Bearer {agent_token}"},
            timeout=10,
        )
        assert changed.status_code == 200, changed.text
        event = ours_stream.next(named("agent"), timeout=2.0)
        assert event is not None and event.json == {"agent_id": str(agent_id)}
        assert theirs_stream.next(named("agent"), timeout=1.0) is None
    finally:
        ours_stream.close()
        theirs_stream.close()


def test_over_the_cap_a_page_stream_answers_503_and_the_api_stream_a_problem(
    app, factory, live_server, monkeypatch
):
    tenant = factory.tenant()
    viewer = factory.user("client_viewer", tenant)
    integration = factory.caller("integration", tenant)
    hub = hub_for(app)
    first = _open(app, live_server, viewer.email)
    try:
        monkeypatch.setattr(hub, "max_streams", hub.count)
        refused = requests.get(
            f"{live_server}/live", cookies=page_cookies(app, viewer.email), timeout=10
        )
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) > 0
        api = requests.get(
            f"{live_server}/v1/tenants/{tenant.id}/events/stream",
            headers=integration.headers,
            timeout=10,
        )
        assert api.status_code == 503
        assert api.headers["Content-Type"] == "application/problem+json"
        assert int(api.headers["Retry-After"]) > 0
    finally:
        first.close()


def test_a_quiet_stream_sends_heartbeats(app, factory, live_server, monkeypatch):
    tenant = factory.tenant()
    viewer = factory.user("client_admin", tenant)
    monkeypatch.setitem(app.config, "LIVE_HEARTBEAT_SECONDS", 0.3)
    stream = _open(app, live_server, viewer.email)
    try:
        assert stream.next(lambda e: e.event == "comment" and e.data == "heartbeat", 2.0)
        assert stream.next(lambda e: e.event == "comment" and e.data == "heartbeat", 2.0)
    finally:
        stream.close()


def test_a_stream_ends_with_bye_after_its_lifetime(app, factory, live_server):
    tenant = factory.tenant()
    viewer = factory.user("client_viewer", tenant)
    stream = _open(app, live_server, viewer.email, "?max_seconds=0.5")
    try:
        bye = stream.next(named("bye"), timeout=3.0)
        assert bye is not None
        assert stream.ended(timeout=3.0)
    finally:
        stream.close()


def test_shutting_down_ends_every_open_stream_with_bye_and_refuses_new_ones(
    app, factory, live_server, monkeypatch
):
    # A hub of its own: this one is shut down, the app's shared one lives on after the test.
    monkeypatch.delitem(app.extensions, "live")
    tenant = factory.tenant()
    viewer = factory.user("client_viewer", tenant)
    streams = [_open(app, live_server, viewer.email) for _ in range(3)]
    hub = hub_for(app)
    assert isinstance(hub, Hub) and hub.count == 3
    try:
        hub.close_all()
        for stream in streams:
            assert stream.next(named("bye"), timeout=3.0) is not None
            assert stream.ended(timeout=3.0)
        again = requests.get(
            f"{live_server}/live", cookies=page_cookies(app, viewer.email), timeout=10
        )
        assert again.status_code == 503
    finally:
        for stream in streams:
            stream.close()


def test_a_person_who_is_not_signed_in_gets_no_stream(app, live_server):
    response = requests.get(f"{live_server}/live", allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert "/signin" in response.headers["Location"]


@pytest.mark.parametrize("asked", ["abc", "-5", "nan"])
def test_a_nonsense_lifetime_is_the_servers_own(app, factory, live_server, asked):
    tenant = factory.tenant()
    viewer = factory.user("client_viewer", tenant)
    stream = _open(app, live_server, viewer.email, f"?max_seconds={asked}&x={uuid.uuid4()}")
    try:
        if asked == "-5":  # a negative lifetime is none: bye at once
            assert stream.next(named("bye"), timeout=3.0) is not None
        else:
            assert stream.next(named("bye"), timeout=1.0) is None
    finally:
        stream.close()


def test_each_role_hears_exactly_the_changes_it_may_see_on_its_page_stream(
    app, factory, live_server
):
    a, b = factory.tenant(), factory.tenant()
    a_q0, a_q1, b_q0 = queue_of(app, a), queue_of(app, a), queue_of(app, b)
    agent_a_person, agent_b_person = factory.user("agent"), factory.user("agent")
    agent_a = _agent(app, agent_a_person.id, [(a.id, a_q0)])
    agent_b = _agent(app, agent_b_person.id, [(b.id, b_q0)])
    people = {
        "bpo_admin": factory.user("bpo_admin"),
        "supervisor_a": factory.user("supervisor", a),
        "supervisor_b": factory.user("supervisor", b),
        "agent_a_q0": agent_a_person,
        "client_admin_a": factory.user("client_admin", a),
        "client_viewer_a": factory.user("client_viewer", a),
    }
    streams = {name: _open(app, live_server, person.email) for name, person in people.items()}
    try:
        integration_a = factory.caller("integration", a)
        integration_b = factory.caller("integration", b)
        in_a_q0 = _take_in(live_server, integration_a, a, a_q0)
        in_a_q1 = _take_in(live_server, integration_a, a, a_q1)
        in_b_q0 = _take_in(live_server, integration_b, b, b_q0)
        for person in (agent_a_person, agent_b_person):
            token = factory.token(*factory.user_client(person))
            changed = requests.put(
                f"{live_server}/v1/me/presence",
                json={"presence": "available"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert changed.status_code == 200, changed.text
        may_hear = {
            "bpo_admin": {in_a_q0, in_a_q1, in_b_q0, str(agent_a), str(agent_b)},
            "supervisor_a": {in_a_q0, in_a_q1, str(agent_a)},
            "supervisor_b": {in_b_q0, str(agent_b)},
            "agent_a_q0": {in_a_q0, str(agent_a)},
            "client_admin_a": {in_a_q0, in_a_q1},
            "client_viewer_a": {in_a_q0, in_a_q1},
        }
        heard = {}
        for name, stream in streams.items():
            events = stream.drain(2.0)
            heard[name] = {e.json["contact_id"] for e in events if e.event == "contact"} | {
                e.json["agent_id"] for e in events if e.event == "agent"
            }
        assert heard == may_hear
    finally:
        for stream in streams.values():
            stream.close()


def test_when_the_listener_loses_its_connection_pages_resync_and_keep_hearing(
    app, database, factory, live_server
):
    tenant = factory.tenant()
    queue_id = queue_of(app, tenant)
    viewer = factory.user("client_admin", tenant)
    integration = factory.caller("integration", tenant)
    stream = _open(app, live_server, viewer.email)
    try:
        # PostgreSQL restarts, a failover, a proxy's idle cut: the LISTEN session is gone.
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'switchboard-live'",
                (database["name"],),
            ).fetchone()[0]
        assert ended == 1
        # Notices sent while it was away are lost: every page reads everything again.
        assert stream.next(named("resync"), timeout=10.0) is not None, stream.seen
        listening(app)
        contact_id = _take_in(live_server, integration, tenant, queue_id)
        assert stream.next(_about(contact_id), timeout=2.0) is not None
    finally:
        stream.close()


def test_a_page_stream_ends_soon_after_its_person_signs_out(app, factory, live_server, monkeypatch):
    monkeypatch.setattr(web_live, "REACH_SECONDS", 0.3)
    tenant = factory.tenant()
    queue_id = queue_of(app, tenant)
    viewer = factory.user("client_viewer", tenant)
    integration = factory.caller("integration", tenant)
    browser = sign_in(app, viewer.email)
    cookie = browser.cookie("switchboard_session").value
    stream = Stream(f"{live_server}/live", cookies={"switchboard_session": cookie})
    try:
        assert stream.status == 200
        listening(app)
        out = browser.post(
            "/signout", data={"csrf_token": csrf_of(browser.get("/", follow_redirects=True))}
        )
        assert out.status_code in (200, 302)
        # The stream reads its person's reach again (every 30 s; here 0.3 s) and finds the
        # sign-in gone: it says bye rather than carry on.
        assert stream.next(named("bye"), timeout=3.0) is not None
        assert stream.ended(timeout=3.0)
        contact_id = _take_in(live_server, integration, tenant, queue_id)
        assert contact_id not in " ".join(e.data for e in stream.seen)
    finally:
        stream.close()
