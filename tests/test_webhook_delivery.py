"""Webhook delivery: queuing, signing, the worker's retries and leases, against a real receiver.

`serve_receiver` (a real HTTP server on 127.0.0.1) and `allow_local_receivers` are shared
with tests/test_webhooks_api.py. Time is controlled by passing `now=` to the services and the
worker, never by sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from app import worker
from app.db import db
from app.events import service as events_service
from app.webhooks import service as webhooks_service
from app.webhooks import signing
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants import service as tenants_service
from tenants.scoping import tenant_scope
from tests.factories import dispatch_events

REFUSED = "Refused to send: the endpoint's URL is not an allowed destination."
# Workers run "at" T0: later than any real enqueue, so everything queued by a test is due.
T0 = datetime(2100, 3, 1, 9, 0, tzinfo=UTC)

# --- the receiver ----------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A client firm's webhook receiver: records every request, answers as told."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    # (status, seconds to wait before answering, extra headers), used in order; then 200.
    script: deque = field(default_factory=deque)
    on_request: object = None  # called with each request before answering
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/switchboard"

    def answer(self, status: int, *, times: int = 1, delay: float = 0.0, headers=None) -> None:
        for _ in range(times):
            self.script.append((status, delay, headers or {}))

    def next_answer(self) -> tuple[int, float, dict]:
        with self.lock:
            return self.script.popleft() if self.script else (200, 0.0, {})


def _handler(receiver_ref: list[Receiver]):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            receiver = receiver_ref[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = Received(self.path, {k: v for k, v in self.headers.items()}, body)
            with receiver.lock:
                receiver.requests.append(request)
            if receiver.on_request:
                receiver.on_request(request)
            status, delay, headers = receiver.next_answer()
            if delay:
                time.sleep(delay)
            payload = b"receiver says no" if status >= 400 else b"ok"
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the worker gave up waiting and hung up
                pass

        def log_message(self, *args):  # keep the test output clean
            pass

    return Handler


def serve_receiver() -> Iterator[Receiver]:
    """Run a receiver on a free loopback port until the generator is closed."""
    ref: list[Receiver] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ref))
    server.daemon_threads = True
    ref.append(Receiver(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ref[0]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def allow_local_receivers(app, monkeypatch) -> None:
    """Let endpoints be plain http on 127.0.0.1, as the receiver is; restored after the test."""
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_INSECURE_URLS", True)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", True)


@pytest.fixture
def receiver():
    yield from serve_receiver()


@pytest.fixture
def webhook_config(app, monkeypatch):
    allow_local_receivers(app, monkeypatch)


def receiver_verifies(secret: str, request: Received) -> int:
    """Verify a request as the Standard Webhooks specification tells a receiver to, with
    Python's standard library only (no code of ours); return its timestamp."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{stamp}.".encode() + request.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = headers["webhook-signature"].split(" ")
    assert any(hmac.compare_digest(expected, o) for o in offered), "signature does not verify"
    return int(stamp)


# --- helpers ---------------------------------------------------------------------------------


def make_endpoint(app, tenant, url: str, **fields) -> WebhookEndpoint:
    """An endpoint of the tenant, made through the service; committed."""
    endpoint_in = {"url": url, "event_types": ["sla.breached", "sla.at_risk"], **fields}
    with app.app_context(), tenant_scope(tenant.id):
        endpoint = webhooks_service.create(endpoint_in=endpoint_in, actor=tenants_service.SYSTEM)
        db.session.commit()
        return endpoint


def sla_payload(event_type: str = "sla.breached", **fields) -> dict:
    """An SLA alert's data as the event catalogue describes it."""
    moment = "at_risk_at" if event_type == "sla.at_risk" else "breached_at"
    return {
        "contact_id": str(uuid.uuid4()),
        "external_id": None,
        "clock": "resolution",
        "target_seconds": 3600,
        "due_at": "2030-01-01T10:00:00+00:00",
        moment: "2030-01-01T10:00:00+00:00",
        "channel": "email",
        "category": "complaint",
        "priority": "normal",
        "queue_id": str(uuid.uuid4()),
        "status": "active",
        **fields,
    }


def enqueue(app, tenant, event_type="sla.breached", event_id=None, payload=None) -> uuid.UUID:
    """Record an event of the tenant as a service would (committed) and run the worker's
    events job, which queues its deliveries; return the event's id."""
    event_id = event_id or uuid.uuid4()
    with app.app_context(), tenant_scope(tenant.id):
        events_service.record(
            type=event_type, id=event_id, payload=payload or sla_payload(event_type)
        )
        db.session.commit()
    dispatch_events(app)
    return event_id


def deliver(app, now: datetime | None = T0) -> dict[str, int]:
    """One worker pass over the webhook deliveries due at `now`."""
    with app.app_context():
        return worker.deliver_webhooks(stop=threading.Event(), now=now)


def deliveries(app, tenant) -> list[WebhookDelivery]:
    with app.app_context(), tenant_scope(tenant.id):
        return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def attempts(app, tenant) -> list[WebhookAttempt]:
    with app.app_context(), tenant_scope(tenant.id):
        return list(
            db.session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.attempted_at))
        )


# --- queuing ---------------------------------------------------------------------------------


def test_an_event_is_queued_once_for_each_active_endpoint_subscribed_to_it(
    app, factory, webhook_config
):
    tenant, other = factory.tenant(), factory.tenant()
    both = make_endpoint(app, tenant, "https://a.example/h")
    breaches = make_endpoint(app, tenant, "https://b.example/h", event_types=["sla.breached"])
    make_endpoint(app, tenant, "https://c.example/h", event_types=["sla.at_risk"])
    make_endpoint(app, tenant, "https://d.example/h", is_active=False)
    make_endpoint(app, other, "https://other.example/h")
    event_id = uuid.uuid4()

    with app.app_context(), tenant_scope(tenant.id):
        first = webhooks_service.enqueue(event_type="sla.breached", event_id=event_id, payload={})
        again = webhooks_service.enqueue(event_type="sla.breached", event_id=event_id, payload={})
        db.session.commit()

    assert (first, again) == (2, 0)
    queued = deliveries(app, tenant)
    assert {d.endpoint_id for d in queued} == {both.id, breaches.id}
    assert all(d.status == "pending" and d.attempts == 0 for d in queued)
    assert deliveries(app, other) == []


def test_enqueuing_the_same_event_concurrently_queues_it_once(app, factory, webhook_config):
    tenant = factory.tenant()
    make_endpoint(app, tenant, "https://a.example/h")
    event_id = uuid.uuid4()
    first_inserted = threading.Event()
    results: dict[str, int] = {}

    def first():
        with app.app_context(), tenant_scope(tenant.id):
            results["first"] = webhooks_service.enqueue(
                event_type="sla.breached", event_id=event_id, payload={}
            )
            first_inserted.set()
            time.sleep(0.3)  # the second enqueue now waits on the unique key
            db.session.commit()

    def second():
        first_inserted.wait(5)
        with app.app_context(), tenant_scope(tenant.id):
            results["second"] = webhooks_service.enqueue(
                event_type="sla.breached", event_id=event_id, payload={}
            )
            db.session.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert results == {"first": 1, "second": 0}
    assert len(deliveries(app, tenant)) == 1


# --- signing ---------------------------------------------------------------------------------


def test_a_delivery_is_posted_signed_and_the_receiver_verifies_it_with_the_stdlib(
    app, factory, receiver, webhook_config
):
    tenant = factory.tenant()
    endpoint = make_endpoint(app, tenant, receiver.url)
    data = sla_payload(external_id="c-1")
    event_id = enqueue(app, tenant, payload=data)

    counts = deliver(app)

    assert counts == {"delivered": 1, "retrying": 0, "dead": 0}
    [request] = receiver.requests
    assert receiver_verifies(endpoint.secret, request) == int(T0.timestamp())
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("Switchboard-Webhooks/")
    assert headers["Switchboard-Event-Id"] == str(event_id)
    assert headers["Switchboard-Event-Type"] == "sla.breached"
    [delivery] = deliveries(app, tenant)
    assert headers["Switchboard-Delivery-Id"] == str(delivery.id)
    body = json.loads(request.body)
    assert body == {
        "id": str(event_id),
        "type": "sla.breached",
        "created_at": delivery.created_at.isoformat(),
        "tenant_id": str(tenant.id),
        "data": data,
    }
    assert delivery.status == "delivered"
    assert delivery.delivered_at == T0
    assert (delivery.attempts, delivery.last_status_code, delivery.locked_until) == (1, 200, None)
    [attempt] = attempts(app, tenant)
    assert (attempt.attempted_at, attempt.status_code, attempt.error) == (T0, 200, None)
    assert attempt.duration_ms >= 0


def test_verify_accepts_the_real_thing_and_refuses_tampering_stale_and_wrong_keys():
    secret, other_secret, body = signing.new_secret(), signing.new_secret(), b'{"id":"e1"}'
    now = int(T0.timestamp())
    headers = signing.headers(secrets=[secret], msg_id="msg_1", timestamp=now, body=body)
    verify = signing.verify

    assert verify(secret=secret, headers=headers, body=body, now=T0)
    assert verify(secret=secret, headers=headers, body=body, now=T0 + timedelta(seconds=300))
    assert not verify(secret=secret, headers=headers, body=body, now=T0 + timedelta(seconds=301))
    assert not verify(secret=secret, headers=headers, body=body, now=T0 - timedelta(seconds=301))
    assert not verify(secret=secret, headers=headers, body=body + b" ", now=T0)
    assert not verify(secret=other_secret, headers=headers, body=body, now=T0)
    retimed = {**headers, "webhook-timestamp": str(now + 1)}
    assert not verify(secret=secret, headers=retimed, body=body, now=T0)
    renamed = {**headers, "webhook-id": "msg_2"}
    assert not verify(secret=secret, headers=renamed, body=body, now=T0)
    assert not verify(secret=secret, headers={}, body=body, now=T0)
    # Header names in any case, as HTTP has them.
    shouted = {name.upper(): value for name, value in headers.items()}
    assert verify(secret=secret, headers=shouted, body=body, now=T0)
    # During a rotation window the sender lists both signatures: either key verifies.
    both = signing.headers(secrets=[secret, other_secret], msg_id="msg_1", timestamp=now, body=body)
    assert len(both["webhook-signature"].split(" ")) == 2
    assert verify(secret=secret, headers=both, body=body, now=T0)
    assert verify(secret=other_secret, headers=both, body=body, now=T0)


def test_after_a_rotation_without_a_window_deliveries_are_signed_with_the_new_secret_only(
    app, factory, receiver, webhook_config
):
    tenant = factory.tenant()
    endpoint = make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)
    with app.app_context(), tenant_scope(tenant.id):
        rotated = webhooks_service.rotate_secret(
            endpoint=webhooks_service.get(endpoint_id=endpoint.id),
            actor=tenants_service.SYSTEM,
            expire_previous_in_seconds=0,
        )
        new_secret = rotated.secret
        db.session.commit()

    deliver(app)

    assert new_secret != endpoint.secret and new_secret.startswith("whsec_")
    [request] = receiver.requests
    receiver_verifies(new_secret, request)
    with pytest.raises(AssertionError):
        receiver_verifies(endpoint.secret, request)


# --- retries ---------------------------------------------------------------------------------


def test_backoff_doubles_from_30_seconds_with_jitter_and_is_capped_at_6_hours(app):
    with app.app_context():
        retries = webhooks_service.retry_policy()
        middle = [retries.backoff_seconds(n, rand=0.5) for n in range(1, 12)]
        low = retries.backoff_seconds(3, rand=0.0)
        high = retries.backoff_seconds(3, rand=0.999)
        capped = retries.backoff_seconds(40, rand=0.999)

    assert middle[:4] == [30, 60, 120, 240]
    assert middle[10] == 6 * 3600
    assert 0.8 * 120 == low and 120 < high < 1.2 * 120
    assert capped == 6 * 3600


def test_a_failing_receiver_is_retried_with_exponential_backoff_until_it_accepts(
    app, factory, receiver, webhook_config
):
    tenant = factory.tenant()
    endpoint = make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)
    receiver.answer(500, times=3)

    assert deliver(app, T0) == {"delivered": 0, "retrying": 1, "dead": 0}
    [delivery] = deliveries(app, tenant)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500: receiver says no"
    first_wait = (delivery.next_attempt_at - T0).total_seconds()
    assert 24 <= first_wait <= 36

    # Not due yet: nothing is sent.
    assert deliver(app, T0 + timedelta(seconds=20)) == {"delivered": 0, "retrying": 0, "dead": 0}
    assert len(receiver.requests) == 1

    waits = [first_wait]
    now = delivery.next_attempt_at
    for _ in range(2):
        assert deliver(app, now)["retrying"] == 1
        [delivery] = deliveries(app, tenant)
        waits.append((delivery.next_attempt_at - now).total_seconds())
        now = delivery.next_attempt_at
    assert 48 <= waits[1] <= 72 and 96 <= waits[2] <= 144

    assert deliver(app, now)["delivered"] == 1
    [delivery] = deliveries(app, tenant)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 4, None)
    log = attempts(app, tenant)
    assert [a.status_code for a in log] == [500, 500, 500, 200]
    assert len(receiver.requests) == 4
    assert {r.headers["Switchboard-Delivery-Id"] for r in receiver.requests} == {str(delivery.id)}
    # The Standard Webhooks message id is the delivery's: the same on every retry.
    assert {r.headers["webhook-id"] for r in receiver.requests} == {str(delivery.id)}
    # Every attempt carries the same body, freshly signed.
    assert len({r.body for r in receiver.requests}) == 1
    for request in receiver.requests:
        receiver_verifies(endpoint.secret, request)


def test_a_delivery_is_given_up_as_dead_after_the_maximum_attempts(
    app, factory, receiver, webhook_config, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_ATTEMPTS", 3)
    tenant = factory.tenant()
    make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)
    receiver.answer(503, times=10)

    now, outcomes = T0, []
    for _ in range(3):
        counts = deliver(app, now)
        outcomes.append(next(k for k, n in counts.items() if n))
        [delivery] = deliveries(app, tenant)
        now = delivery.next_attempt_at

    assert outcomes == ["retrying", "retrying", "dead"]
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("dead", 3, 503)
    assert deliver(app, T0 + timedelta(days=30)) == {"delivered": 0, "retrying": 0, "dead": 0}
    assert len(receiver.requests) == 3


def test_a_receiver_that_hangs_past_the_timeout_is_a_failed_attempt(
    app, factory, receiver, webhook_config, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 0.3)
    tenant = factory.tenant()
    make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)
    receiver.answer(200, delay=1.5)

    assert deliver(app) == {"delivered": 0, "retrying": 1, "dead": 0}

    [delivery] = deliveries(app, tenant)
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert delivery.last_error == "No HTTP answer: could not connect, or no answer within 0.3 s."
    [attempt] = attempts(app, tenant)
    assert attempt.status_code is None and 250 <= attempt.duration_ms < 1500


def test_a_redirect_is_not_followed_and_counts_as_a_failure(app, factory, receiver, webhook_config):
    tenant = factory.tenant()
    make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)
    receiver.answer(302, headers={"Location": receiver.url + "/elsewhere"})

    assert deliver(app)["retrying"] == 1

    assert len(receiver.requests) == 1
    [delivery] = deliveries(app, tenant)
    assert delivery.last_status_code == 302
    assert "redirects are not followed" in delivery.last_error


def test_an_unreachable_receiver_is_a_failed_attempt(app, factory, webhook_config):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    tenant = factory.tenant()
    make_endpoint(app, tenant, f"http://127.0.0.1:{port}/h")
    enqueue(app, tenant)

    assert deliver(app)["retrying"] == 1

    [delivery] = deliveries(app, tenant)
    assert delivery.last_status_code is None
    # The same words as for a receiver that hangs: the log tells no closed port from an open one.
    assert delivery.last_error == "No HTTP answer: could not connect, or no answer within 10 s."


def test_a_due_delivery_of_an_inactive_endpoint_goes_dead_unsent(
    app, factory, receiver, webhook_config
):
    tenant = factory.tenant()
    endpoint = make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)
    with app.app_context(), tenant_scope(tenant.id):
        webhooks_service.update(
            endpoint=webhooks_service.get(endpoint_id=endpoint.id),
            endpoint_in={"is_active": False},
            actor=tenants_service.SYSTEM,
        )
        db.session.commit()

    assert deliver(app) == {"delivered": 0, "retrying": 0, "dead": 1}

    assert receiver.requests == []
    [delivery] = deliveries(app, tenant)
    assert delivery.status == "dead"
    assert delivery.last_error == "The endpoint is inactive; the delivery was not sent."
    assert attempts(app, tenant) == []


def test_the_manual_retry_of_a_dead_delivery_sends_it_again_with_a_fresh_round(
    app, factory, receiver, webhook_config, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_ATTEMPTS", 1)
    tenant = factory.tenant()
    endpoint = make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)
    receiver.answer(500)
    assert deliver(app)["dead"] == 1

    later = T0 + timedelta(hours=2)
    with app.app_context(), tenant_scope(tenant.id):
        found = webhooks_service.get(endpoint_id=endpoint.id)
        [delivery] = db.session.scalars(select(WebhookDelivery)).all()
        webhooks_service.retry(
            endpoint=found, delivery=delivery, actor=tenants_service.SYSTEM, now=later
        )
        db.session.commit()
    assert deliver(app, later)["delivered"] == 1

    [delivery] = deliveries(app, tenant)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert [a.status_code for a in attempts(app, tenant)] == [500, 200]


# --- SSRF at delivery time -------------------------------------------------------------------


def test_a_host_that_resolves_to_a_private_address_at_delivery_is_refused(
    app, factory, receiver, webhook_config, monkeypatch
):
    # DNS for a public-looking name answers 127.0.0.1 (rebinding): the worker connects, sees
    # the peer address, and refuses to send.
    port = receiver.server.server_address[1]
    real_getaddrinfo = socket.getaddrinfo

    def fake_dns(host, *args, **kwargs):
        if host == "hooks.example.com":
            return real_getaddrinfo("127.0.0.1", *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    tenant = factory.tenant()
    make_endpoint(app, tenant, f"http://hooks.example.com:{port}/h")
    enqueue(app, tenant)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)

    assert deliver(app)["retrying"] == 1

    assert receiver.requests == []
    [delivery] = deliveries(app, tenant)
    assert delivery.last_error == REFUSED

    # Control: where private networks are allowed, the same name reaches the receiver.
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", True)
    assert deliver(app, delivery.next_attempt_at)["delivered"] == 1
    assert len(receiver.requests) == 1


def test_a_literal_private_address_saved_earlier_is_refused_when_the_rules_tighten(
    app, factory, receiver, webhook_config, monkeypatch
):
    tenant = factory.tenant()
    make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)

    assert deliver(app)["retrying"] == 1

    assert receiver.requests == []
    [delivery] = deliveries(app, tenant)
    assert delivery.last_error == REFUSED


# --- leases and concurrency ------------------------------------------------------------------


def test_a_worker_that_dies_after_claiming_leaves_the_delivery_to_another_after_the_lease(
    app, factory, receiver, webhook_config
):
    tenant = factory.tenant()
    make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)
    with app.app_context():
        claim, _ = webhooks_service.claim_next(now=T0)
        lease = webhooks_service.lease_seconds()
        db.session.commit()  # ... and the worker dies before sending
    assert claim is not None

    assert deliver(app, T0 + timedelta(seconds=lease - 1))["delivered"] == 0
    assert receiver.requests == []

    assert deliver(app, T0 + timedelta(seconds=lease))["delivered"] == 1
    [delivery] = deliveries(app, tenant)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert len(receiver.requests) == 1


def test_an_outcome_arriving_after_another_worker_took_over_does_not_override_it(
    app, factory, receiver, webhook_config
):
    tenant = factory.tenant()
    make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)
    with app.app_context():
        slow, _ = webhooks_service.claim_next(now=T0)
        db.session.commit()
        lease = webhooks_service.lease_seconds()
    later = T0 + timedelta(seconds=lease + 1)
    assert deliver(app, later)["delivered"] == 1

    with app.app_context():
        late = webhooks_service.Outcome(T0, 500, "HTTP 500.", 30_000)
        assert webhooks_service.record(claim=slow, outcome=late) == "gone"
        db.session.commit()

    [delivery] = deliveries(app, tenant)
    assert delivery.status == "delivered"
    assert sorted(a.status_code for a in attempts(app, tenant)) == [200, 500]


def test_two_workers_at_once_never_send_the_same_delivery_twice(
    app, factory, receiver, webhook_config
):
    tenant = factory.tenant()
    make_endpoint(app, tenant, receiver.url)
    for _ in range(10):
        enqueue(app, tenant)
    receiver.answer(200, times=10, delay=0.1)
    start = threading.Barrier(2)
    sent: dict[str, int] = {}

    def work(name: str):
        with app.app_context():
            start.wait(5)
            sent[name] = worker.deliver_webhooks(stop=threading.Event())["delivered"]

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    ids = [r.headers["Switchboard-Delivery-Id"] for r in receiver.requests]
    assert len(ids) == 10 and len(set(ids)) == 10
    assert sent["a"] + sent["b"] == 10
    assert sent["a"] > 0 and sent["b"] > 0  # both really worked at once
    assert {d.status for d in deliveries(app, tenant)} == {"delivered"}
    assert len(attempts(app, tenant)) == 10


# --- the worker process ----------------------------------------------------------------------


def test_flask_worker_once_delivers_what_is_due_and_prints_a_summary(
    app, factory, runner, receiver, webhook_config
):
    tenant = factory.tenant()
    make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)
    enqueue(app, tenant)
    receiver.answer(500)

    # `flask --app wsgi worker` gets its app context from the flask command; the test runner
    # invokes the command directly, so the test provides one.
    with app.app_context():
        result = runner.invoke(args=["worker", "--once"])

    assert result.exit_code == 0, result.output
    # The firm is new to the report roll-ups too, which the same pass rolls up.
    assert result.output == (
        "worker pass: webhooks: 1 delivered, 1 retrying, 0 dead; reports: 1 rolled up\n"
    )
    assert len(receiver.requests) == 2


def test_sigterm_lets_the_worker_finish_the_current_delivery_then_stop(
    app, factory, receiver, webhook_config
):
    tenant = factory.tenant()
    make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)
    enqueue(app, tenant)
    receiver.answer(200, delay=0.3)  # the signal arrives while this request is under way
    receiver.on_request = lambda _request: os.kill(os.getpid(), signal.SIGTERM)
    lines: list[str] = []
    handler_before = signal.getsignal(signal.SIGTERM)

    with app.app_context():
        worker.run(once=False, interval=0.05, echo=lines.append)

    assert lines == ["worker pass: webhooks: 1 delivered, 0 retrying, 0 dead"]
    assert len(receiver.requests) == 1
    assert sorted(d.status for d in deliveries(app, tenant)) == ["delivered", "pending"]
    assert signal.getsignal(signal.SIGTERM) == handler_before


def test_an_idle_worker_with_nothing_due_reports_nothing_done(app, runner):
    with app.app_context():
        result = runner.invoke(args=["worker", "--once"])

    assert result.exit_code == 0, result.output
    assert result.output == "worker pass: webhooks: 0 delivered, 0 retrying, 0 dead\n"


def test_an_idle_worker_wakes_from_its_sleep_and_stops_on_sigint(app):
    # The handler is in place long before the signal: run() installs it before its first pass.
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    lines: list[str] = []
    started = time.monotonic()
    timer.start()
    try:
        with app.app_context():
            worker.run(once=False, interval=30, echo=lines.append)
    finally:
        timer.cancel()

    assert time.monotonic() - started < 10
    assert lines == []  # idle passes are not echoed
