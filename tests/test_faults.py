"""Faults: the database restarted and crashed under a retrying client, and the worker killed at
random points while it pushes a closed month to a Stripe that fails.

Both run the real thing: the app over real HTTP against a PostgreSQL cluster of the test's own
(tests/pg_cluster.py; the shared server is never restarted), and `flask --app wsgi worker`
subprocesses against the fake Stripe (tests/stripe_server.py) with faults drawn from a seeded
random generator, so a failing run can be replayed.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from app import create_app, migrate
from app.db import db
from billing.models import Invoice, InvoiceLine, OutboxMessage
from tenants.scoping import tenant_scope, unscoped
from tests.conftest import ADMIN_URL
from tests.factories import Factory
from tests.http_helpers import PROBLEM_JSON
from tests.pg_cluster import PgCluster, free_port, private_cluster
from tests.stripe_server import serve_fake_stripe
from tests.test_billing_invoices_api import handle
from tests.test_billing_rating import price_firm
from tests.test_contacts_intake import contact_in, queue_of

ROOT = Path(__file__).resolve().parents[1]
FLASK = str(Path(sys.executable).with_name("flask"))
SEED = int(os.environ.get("SWITCHBOARD_TEST_FAULT_SEED", "20261124"))


# --- PostgreSQL restarted under a retrying client ----------------------------------------------

CONTACTS = 200
CLIENTS = 4
REQUEST_TIMEOUT = 10
GIVE_UP_SECONDS = 60
DATABASE = "switchboard_faults"
LOST_ANSWERS = 0.05


@dataclass
class Ledger:
    """What the clients were told: the contact acknowledged per key, and every refusal."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # key -> contact id
    replayed: set[str] = field(default_factory=set)  # keys answered Idempotent-Replayed
    retries: Counter = field(default_factory=Counter)  # status (or "connection") -> count
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def cluster_app(tmp_path) -> Iterator[tuple[PgCluster, object, str]]:
    """The app on a private cluster, migrated, served over HTTP; yields (cluster, app, url)."""
    with private_cluster() as cluster:
        urls = cluster.create_database(DATABASE)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        application = create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": str(tmp_path),
                "DATABASE_URL": urls["app"],
                "MIGRATION_DATABASE_URL": urls["owner"],
                "OAUTH_ISSUER": base,
                "SECRET_KEY": "test-secret",
            }
        )
        migrate.upgrade(application)
        server = make_server("127.0.0.1", port, application, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield cluster, application, base
        finally:
            server.shutdown()
            thread.join(timeout=5)
            with application.app_context():
                db.engine.dispose()


class LossyProxy(ThreadingHTTPServer):
    """Relays requests to the app, and loses a seeded fraction of its successful answers: the
    app did the work and committed, but the client's connection drops before it hears back."""

    daemon_threads = True

    def __init__(self, upstream: str, loss: float, seed: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream
        self.loss = loss
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.lost: set[str] = set()  # the Idempotency-Keys whose answers were lost

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def lose_this_one(self, key: str) -> bool:
        with self.lock:
            lose = self.random.random() < self.loss
            if lose:
                self.lost.add(key)
            return lose


class _ProxyHandler(BaseHTTPRequestHandler):
    server: LossyProxy

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
        try:
            answer = requests.post(
                self.server.upstream + self.path, data=body, headers=headers, timeout=30
            )
        except requests.RequestException:
            answer = None  # the app is gone: so is the client's answer
        key = self.headers["Idempotency-Key"]
        if answer is None or (answer.ok and self.server.lose_this_one(key)):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in _HOP_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)


_HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


@pytest.fixture
def lossy_proxy(cluster_app) -> Iterator[LossyProxy]:
    proxy = LossyProxy(cluster_app[2], loss=LOST_ANSWERS, seed=SEED)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()
    thread.join(timeout=5)


def post_until_acknowledged(url: str, headers: dict, body: dict, ledger: Ledger) -> None:
    """POST one contact with its own Idempotency-Key, retrying the very same request on a
    dropped connection or a 5xx until the API acknowledges it, as a careful integration does."""
    key = str(uuid.uuid4())
    headers = headers | {"Idempotency-Key": key}
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while time.monotonic() < deadline:
        try:
            response = requests.post(url, json=body, headers=headers, timeout=REQUEST_TIMEOUT)
        except (requests.ConnectionError, requests.Timeout):
            with ledger.lock:
                ledger.retries["connection"] += 1
            time.sleep(0.05)
            continue
        if response.status_code in (200, 201):
            replayed = response.headers.get("Idempotent-Replayed") == "true"
            with ledger.lock:
                ledger.acknowledged[key] = response.json()["id"]
                if replayed:
                    ledger.replayed.add(key)
            return
        with ledger.lock:
            ledger.retries[response.status_code] += 1
            if not _a_retry_later(response):
                ledger.unexpected.append(f"{response.status_code} {response.text[:300]}")
        if response.status_code < 500:
            return  # refused for good: the test fails on `unexpected`
        time.sleep(float(response.headers.get("Retry-After", "0.05")) / 10)
    with ledger.lock:
        ledger.unexpected.append(f"gave up on {key} after {GIVE_UP_SECONDS} s")


def _a_retry_later(response) -> bool:
    """A database outage must read as 'try again shortly', never as a server bug."""
    return (
        response.status_code == 503
        and response.headers.get("Content-Type") == PROBLEM_JSON
        and response.headers.get("Retry-After", "").isdigit()
    )


def test_contacts_posted_through_postgresql_restarts_and_a_crash_exist_exactly_once(
    cluster_app, lossy_proxy
):
    cluster, application, _ = cluster_app
    factory = Factory(application)
    tenant = factory.tenant()
    queue_of(application, tenant, "General")
    caller = factory.caller("integration", tenant)
    url = f"{lossy_proxy.url}/v1/tenants/{tenant.id}/contacts"
    ledger = Ledger()
    subjects = [f"fault test {n:04d}" for n in range(CONTACTS)]

    def client(mine: list[str]) -> None:
        for subject in mine:
            # No external_id: only the Idempotency-Key can tell a retry from a new contact.
            post_until_acknowledged(url, caller.headers, contact_in(subject=subject), ledger)

    clients = [
        threading.Thread(target=client, args=(subjects[n::CLIENTS],)) for n in range(CLIENTS)
    ]
    for thread in clients:
        thread.start()
    outages = []
    for fraction, fault in ((0.2, "restart"), (0.5, "crash"), (0.75, "restart")):
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while len(ledger.acknowledged) < CONTACTS * fraction and time.monotonic() < deadline:
            time.sleep(0.01)
        before = len(ledger.acknowledged)
        if fault == "crash":
            cluster.crash(down_seconds=0.5)
        else:
            cluster.restart(down_seconds=0.5)
        outages.append((fault, before))
    for thread in clients:
        thread.join(GIVE_UP_SECONDS * 2)

    assert not ledger.unexpected, ledger.unexpected[:5]
    assert len(ledger.acknowledged) == CONTACTS
    # The outages really hit requests in flight (else this test proves nothing).
    assert ledger.retries[503] > 0, (outages, ledger.retries)
    # As the superuser: row-level security binds even the tables' owner.
    with psycopg.connect(cluster.url_of(DATABASE)) as conn:
        stored = Counter(
            subject
            for (subject,) in conn.execute(
                "SELECT subject FROM contacts WHERE tenant_id = %s", (tenant.id,)
            )
        )
        ids = {str(i) for (i,) in conn.execute("SELECT id FROM contacts")}
    assert stored == Counter(subjects)  # each exactly once: none lost, none doubled
    assert set(ledger.acknowledged.values()) == ids  # the ids acknowledged are the ones kept
    # Every answer lost after the app committed was replayed to the retry, not done again
    # (a commit whose acknowledgement a crash swallowed is replayed too: a subset, not equal).
    assert lossy_proxy.lost and lossy_proxy.lost <= ledger.replayed


# --- the worker killed while pushing a closed month to a failing Stripe -----------------------

FIRMS = 3
PERIODS = ("2025-02", "2025-03")
STRIPE_FAILURE_RATE = 0.25
KILLS = 6  # a worker takes ~2 s to start: more kills, a longer test
KILL_AFTER_REQUESTS = (1, 6)  # the worker dies after this many more Stripe calls (seeded)
WORKER_DEADLINE_SECONDS = 40  # for the kills
DRAIN_DEADLINE_SECONDS = 60  # for the last worker to push what is left


@pytest.fixture
def closed_months(app, factory, runner) -> list[tuple[object, uuid.UUID]]:
    """Firms with usage-priced, tiered, minimum-topped-up months, closed with `billing close`;
    returns (tenant, invoice id) per invoice."""
    tenants = []
    for n in range(FIRMS):
        tenant = factory.tenant()
        price_firm(
            app,
            tenant,
            prices=[{"channel": "email", "unit_amount": 400}],
            tiers=[{"up_to": 2, "discount_bps": 0}, {"up_to": None, "discount_bps": 1000}],
            monthly_minimum=2500 + 1000 * n,  # some months need the top-up line, some not
        )
        queue_id = queue_of(app, tenant, "General")
        for period in PERIODS:
            year, month = map(int, period.split("-"))
            for day in range(1, 3 + n):
                handle(app, tenant, queue_id, datetime(year, month, day, 10, tzinfo=UTC))
                at = datetime(year, month, day, 11, tzinfo=UTC)
                handle(app, tenant, queue_id, at, channel="email")
        tenants.append(tenant)
    for period in PERIODS:
        result = runner.invoke(args=["billing", "close", period])
        assert result.exit_code == 0, result.output
    with app.app_context(), unscoped():
        invoices = list(db.session.execute(select(Invoice.tenant_id, Invoice.id)))
    assert len(invoices) == FIRMS * len(PERIODS)
    by_id = {t.id: t for t in tenants}
    return [(by_id[tenant_id], invoice_id) for tenant_id, invoice_id in invoices]


@pytest.fixture
def failing_stripe(app):
    """A fake Stripe failing a seeded random share of requests in every way it knows, and
    surely each way once (the draws alone might miss one)."""
    with serve_fake_stripe() as fake:
        fake.hang_seconds = 1.0
        fake.slow_seconds = 0.1
        fake.fail("POST", "/v1/customers", action="500", nth=2)
        fake.fail("POST", "/v1/invoices", action="drop_after_commit", nth=2)
        fake.fail("POST", "/v1/invoiceitems", action="slow", nth=3)
        fake.fail("POST", "/v1/invoiceitems", action="hang", nth=5)
        fake.fail("POST", r"/v1/invoices/[^/]+/finalize", action="drop_after_commit", nth=1)
        fake.chaos(rate=STRIPE_FAILURE_RATE, seed=SEED)
        yield fake


@pytest.fixture
def worker_env(app, database, failing_stripe, tmp_path) -> dict[str, str]:
    """A worker pod's environment: the test database, the failing Stripe, short timeouts and
    backoffs so the month drains in seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    settings = {
        "DATABASE_URL": database["app"],
        "MIGRATION_DATABASE_URL": database["owner"],
        "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": str(tmp_path / "worker-instance"),
        "LOG_FORMAT": "text",
        "STRIPE_API_KEY": "sk_test_switchboard",
        "STRIPE_API_BASE": failing_stripe.url,
        # stripe-python's own retry (same key) on top of the outbox's.
        "STRIPE_MAX_NETWORK_RETRIES": "1",
        "STRIPE_TIMEOUT_SECONDS": "0.4",
        "STRIPE_BACKOFF_BASE_SECONDS": "0.05",
        "STRIPE_BACKOFF_MAX_SECONDS": "0.3",
    }
    env.update({f"SWITCHBOARD_{name}": value for name, value in settings.items()})
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [FLASK, "--app", "wsgi", "worker", "--interval", "0.05"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def expire_leases(database) -> int:
    """What the dead worker held becomes free, as when its lease (a minute and more) runs out:
    the clock is moved rather than waited for."""
    with psycopg.connect(superuser_url(database["name"]), autocommit=True) as conn:
        return conn.execute(
            "UPDATE billing_outbox SET locked_until = now() - interval '1 second' "
            "WHERE status = 'pending' AND locked_until > now()"
        ).rowcount


def pending_pushes(database) -> int:
    with psycopg.connect(superuser_url(database["name"])) as conn:
        (pending,) = conn.execute(
            "SELECT count(*) FROM billing_outbox WHERE status = 'pending'"
        ).fetchone()
    return pending


def superuser_url(name: str) -> str:
    # Row-level security binds even the tables' owner; the superuser sees every tenant.
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def test_a_worker_killed_at_random_while_stripe_fails_bills_each_line_exactly_once(
    app, database, closed_months, failing_stripe, worker_env, tmp_path
):
    rng = random.Random(SEED)
    log = tmp_path / "worker.log"
    deadline = time.monotonic() + WORKER_DEADLINE_SECONDS
    kills = 0
    while kills < KILLS and pending_pushes(database) and time.monotonic() < deadline:
        worker = start_worker(worker_env, log)
        target = len(failing_stripe.requests) + rng.randint(*KILL_AFTER_REQUESTS)
        while len(failing_stripe.requests) < target and worker.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.001)
        # Anywhere from mid-request to saving its answer or starting the next call.
        time.sleep(rng.uniform(0, 0.03))
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        kills += 1
        expire_leases(database)
    # The last worker is left to finish: Stripe still fails as often, and it must get through.
    # Its own time, not what the kills left of theirs: on a slow machine each start takes
    # several seconds, and six of them once left it too little to retry through.
    worker = start_worker(worker_env, log)
    deadline = time.monotonic() + DRAIN_DEADLINE_SECONDS
    try:
        while pending_pushes(database) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(10)

    output = log.read_text(errors="replace")
    assert pending_pushes(database) == 0, output[-3000:]
    assert kills >= KILLS // 2  # (fewer only if the month drained first)
    # Every kind of failure really happened.
    assert set(failing_stripe.injected) == {"500", "slow", "hang", "drop_after_commit"}
    assert_each_line_billed_once(app, failing_stripe, closed_months)


def assert_each_line_billed_once(app, fake, invoices) -> None:
    """One Stripe invoice per invoice of ours, one Stripe item per line, with our amounts."""
    ours = {invoice_id for _, invoice_id in invoices}
    by_ours = Counter(i["metadata"]["invoice_id"] for i in fake.invoices.values())
    assert by_ours == Counter(str(invoice_id) for invoice_id in ours)
    items = Counter(i["metadata"]["line_id"] for i in fake.invoice_items.values())
    assert set(items.values()) == {1}
    assert len(fake.customers) == FIRMS
    for tenant, invoice_id in invoices:
        with app.app_context(), tenant_scope(tenant.id):
            invoice = db.session.get(Invoice, invoice_id)
            lines = list(
                db.session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id))
            )
            message = db.session.scalar(
                select(OutboxMessage).where(OutboxMessage.invoice_id == invoice_id)
            )
        stripe_invoice = fake.invoices[invoice.stripe_invoice_id]
        assert stripe_invoice["metadata"]["invoice_id"] == str(invoice_id)
        assert stripe_invoice["status"] == "open" and stripe_invoice["total"] == invoice.total
        stripe_items = fake.items_of(invoice.stripe_invoice_id)
        assert {i["metadata"]["line_id"]: i["amount"] for i in stripe_items} == {
            str(line.id): line.amount for line in lines
        }
        assert {i["id"] for i in stripe_items} == {line.stripe_invoice_item_id for line in lines}
        assert invoice.status == "finalized"
        assert (message.status, message.last_error) == ("sent", None)
