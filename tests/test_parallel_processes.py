"""Scale-out: the SLA scan, the worker and the month's close run in several pods at once.

Each test starts two real `flask --app wsgi ...` processes against the test database, holds
them at a gate (an exclusive lock on the table they read first, released once both wait on it)
so they really start working at the same instant, and checks that together they did the work
exactly once. The worker's heartbeat file for the liveness probe is tested here too.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import func, select

from app.contacts import intake as contacts_intake
from app.contacts.models import ContactEvent
from app.db import db
from app.sla.models import SlaClock
from app.webhooks import service as webhooks_service
from app.webhooks.models import WebhookDelivery
from billing.models import Invoice, InvoiceLine, OutboxMessage
from tenants.models import Tenant
from tenants.scoping import tenant_scope, unscoped
from tenants.service import SYSTEM
from tests.conftest import ADMIN_URL
from tests.factories import dispatch_events
from tests.stripe_server import serve_fake_stripe
from tests.test_billing_invoices_api import handle
from tests.test_billing_rating import price_firm
from tests.test_contacts_intake import queue_of
from tests.test_sla_engine import madrid, sla_firm
from tests.test_stripe_push import LINES, assert_billed_once, closed_invoice
from tests.test_webhook_delivery import make_endpoint, serve_receiver

ROOT = Path(__file__).resolve().parents[1]
FLASK = str(Path(sys.executable).with_name("flask"))
PROCESSES = 2
DEADLINE_SECONDS = 30


# --- two real processes ----------------------------------------------------------------------


@pytest.fixture
def process_env(app, database) -> dict[str, str]:
    """The environment of a pod pointed at the test database: settings by SWITCHBOARD_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        {
            "SWITCHBOARD_DATABASE_URL": database["app"],
            "SWITCHBOARD_MIGRATION_DATABASE_URL": database["owner"],
            "SWITCHBOARD_SECRET_KEY": "test-secret",
            # The test app's own key: nothing is written to the checkout's instance folder.
            "SWITCHBOARD_JWT_PRIVATE_KEY_FILE": str(Path(app.instance_path) / "jwt-es256.pem"),
        }
    )
    return env


@pytest.fixture
def start(process_env) -> Iterator[Callable[..., subprocess.Popen]]:
    """`start(*args, **settings)` runs `flask --app wsgi *args` as a pod would, with extra
    SWITCHBOARD_* settings; whatever is still running when the test ends is killed."""
    started: list[subprocess.Popen] = []

    def start_(*args: str, **settings: str) -> subprocess.Popen:
        env = process_env | {f"SWITCHBOARD_{name}": value for name, value in settings.items()}
        process = subprocess.Popen(
            [FLASK, "--app", "wsgi", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start_
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def finish(processes: list[subprocess.Popen]) -> list[str]:
    """Wait for every process; each must exit 0. Return their standard outputs."""
    outputs = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"still running after {DEADLINE_SECONDS} s:\n{out}\n{err}")
        assert process.returncode == 0, f"exit {process.returncode}:\n{out}\n{err}"
        outputs.append(out)
    return outputs


@contextmanager
def gate(database, model) -> Iterator[Callable[[list[subprocess.Popen]], None]]:
    """Hold the model's table exclusively; the yielded `open(processes)` waits until all of
    them are blocked on it, then lets them go at once (so their work overlaps, whatever their
    startup times were)."""
    table = model.__tablename__
    url = database["owner"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as watcher:
        holder.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(table))
        )

        def open_(processes: list[subprocess.Popen]) -> None:
            deadline = time.monotonic() + DEADLINE_SECONDS
            while True:
                waiting = watcher.execute(
                    "SELECT count(DISTINCT pid) FROM pg_locks WHERE relation = %s::regclass"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database()) AND NOT granted",
                    (table,),
                ).fetchone()[0]
                if waiting >= len(processes):
                    break
                for process in processes:
                    if process.poll() is not None:
                        holder.rollback()
                        out, err = process.communicate()
                        pytest.fail(f"exited before the gate opened:\n{out}\n{err}")
                assert time.monotonic() < deadline, f"only {waiting} process(es) reached the gate"
                time.sleep(0.05)
            holder.commit()

        try:
            yield open_
        finally:
            holder.rollback()


def numbers(pattern: str, outputs: list[str]) -> list[tuple[int, ...]]:
    """The integers `pattern` captures in each process's output."""
    found = []
    for out in outputs:
        match = re.search(pattern, out)
        assert match, f"{pattern!r} not in {out!r}"
        found.append(tuple(int(n) for n in match.groups()))
    return found


# --- the heartbeat ---------------------------------------------------------------------------


def test_a_worker_once_touches_its_heartbeat_file(app, runner, tmp_path, monkeypatch):
    beat = tmp_path / "worker-heartbeat"
    monkeypatch.setitem(app.config, "WORKER_HEARTBEAT_FILE", str(beat))

    result = runner.invoke(args=["worker", "--once"])

    assert result.exit_code == 0, result.output
    assert beat.exists()
    assert time.time() - beat.stat().st_mtime < 10


def test_a_worker_that_cannot_write_its_heartbeat_refuses_to_start(
    app, runner, tmp_path, monkeypatch
):
    monkeypatch.setitem(app.config, "WORKER_HEARTBEAT_FILE", str(tmp_path / "no-dir" / "beat"))

    result = runner.invoke(args=["worker", "--once"])

    assert result.exit_code == 1
    assert "cannot write the heartbeat file" in result.output


def test_an_idle_looping_worker_keeps_touching_the_heartbeat_set_in_the_environment(
    start, tmp_path
):
    beat = tmp_path / "worker-heartbeat"
    worker = start("worker", "--interval", "0.1", WORKER_HEARTBEAT_FILE=str(beat))
    try:
        mtimes = []
        deadline = time.monotonic() + DEADLINE_SECONDS
        # Nothing is due: every pass is idle, yet each one moves the heartbeat on.
        while len(set(mtimes)) < 3 and time.monotonic() < deadline and worker.poll() is None:
            if beat.exists():
                mtimes.append(beat.stat().st_mtime_ns)
            time.sleep(0.05)
        assert len(set(mtimes)) >= 3 and mtimes == sorted(mtimes), mtimes
    finally:
        worker.send_signal(signal.SIGTERM)
    assert finish([worker]) == [""]  # idle passes say nothing; SIGTERM is a clean stop


# --- the SLA scan ----------------------------------------------------------------------------

FIRMS = 3
CONTACTS_PER_FIRM = 80


def intake_many(app, tenant, count: int, at: datetime) -> None:
    """Take in `count` emails at `at`, committed together."""
    with app.app_context(), tenant_scope(tenant.id):
        for _ in range(count):
            contacts_intake.create(
                contact_in={"channel": "email", "category": "complaint", "received_at": at},
                tenant=tenant,
                actor=SYSTEM,
                now=at,
            )
        db.session.commit()


def test_two_sla_scans_at_once_breach_every_clock_exactly_once(app, factory, database, start):
    """Safe because each batch locks its contacts `FOR UPDATE SKIP LOCKED` and reads their
    clocks once the locks are held: a clock the other scan marked meanwhile is no longer due,
    so it is neither marked nor announced twice. The webhook deliveries' unique key
    (tenant_id, endpoint_id, event_id) backs it up. Each scan goes on until a batch
    marks nothing: a batch made short by rows the other scan holds is not the end."""
    firms = [sla_firm(app, factory)[0] for _ in range(FIRMS)]
    for tenant in firms:
        # Mon 10 Mar 2025 09:00: both clocks (4 h, 27 h) of each email are long overdue now.
        intake_many(app, tenant, CONTACTS_PER_FIRM, madrid(2025, 3, 10, 9, 0))
    clocks = FIRMS * CONTACTS_PER_FIRM * 2

    with gate(database, SlaClock) as open_gate:
        scans = [start("sla", "scan", "--batch-size", "7") for _ in range(PROCESSES)]
        open_gate(scans)
    outputs = finish(scans)

    marked = numbers(r"sla scan: (\d+) at risk, (\d+) breached", outputs)
    assert sum(at_risk for at_risk, _ in marked) == clocks
    assert sum(breached for _, breached in marked) == clocks
    assert all(breached for _, breached in marked), f"one scan did everything: {marked}"
    dispatch_events(app)  # the worker's events job makes the deliveries
    with app.app_context(), unscoped():
        breaches = Counter(
            (event.contact_id, event.details["clock"])
            for event in db.session.scalars(
                select(ContactEvent).where(ContactEvent.action == "sla_breached")
            )
        )
        announced = Counter(
            db.session.scalars(
                select(WebhookDelivery.event_id).where(WebhookDelivery.event_type == "sla.breached")
            )
        )
        states = Counter(db.session.scalars(select(SlaClock.state)))
    assert len(breaches) == clocks and set(breaches.values()) == {1}
    assert len(announced) == clocks and set(announced.values()) == {1}  # one endpoint a firm
    assert states == {"breached": clocks}


def test_a_scan_goes_past_an_overdue_contact_a_request_holds(app, factory, database, runner):
    """The scan skips a contact locked by a request (`SKIP LOCKED`) and must go on with the
    rest: a batch made short by a skipped row is not the end of what is due."""
    tenant, _ = sla_firm(app, factory)
    intake_many(app, tenant, 30, madrid(2025, 3, 10, 9, 0))
    # A superuser's connection: the lock is what matters here, not whose rows it may see.
    with psycopg.connect(ADMIN_URL, dbname=database["name"]) as request:
        # An agent's request on the most overdue contact (first in the scan's order) holds it.
        (held,) = request.execute(
            "SELECT id FROM contacts ORDER BY id LIMIT 1 FOR UPDATE"
        ).fetchone()

        result = runner.invoke(args=["sla", "scan", "--batch-size", "5"])

        request.rollback()
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "sla scan: 58 at risk, 58 breached"  # all but the held one
    with app.app_context(), tenant_scope(tenant.id):
        states = Counter(
            (clock.contact_id == held, clock.state)
            for clock in db.session.scalars(select(SlaClock))
        )
    assert states == {(False, "breached"): 58, (True, "ok"): 2}


# --- the worker: webhook deliveries ----------------------------------------------------------

DELIVERIES_PER_FIRM = 100


@pytest.fixture
def receiver():
    yield from serve_receiver()


def test_two_workers_at_once_deliver_every_webhook_exactly_once(
    app, factory, database, start, receiver, monkeypatch
):
    """Safe because a worker leases a delivery (`FOR UPDATE SKIP LOCKED`, then `locked_until`
    committed before the request goes out): the other worker skips the row while it is
    locked and finds it leased once it is not; an outcome is recorded only by the lease's
    holder (attempts and locked_until must still match its claim)."""
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_INSECURE_URLS", True)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", True)
    events = set()
    for _ in range(FIRMS):
        tenant = factory.tenant()
        make_endpoint(app, tenant, receiver.url)
        with app.app_context(), tenant_scope(tenant.id):
            for _ in range(DELIVERIES_PER_FIRM):
                event_id = uuid.uuid4()
                webhooks_service.enqueue(
                    event_type="sla.breached", event_id=event_id, payload={"n": len(events)}
                )
                events.add(str(event_id))
            db.session.commit()
    local_receivers = {
        "WEBHOOK_ALLOW_INSECURE_URLS": "true",
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
    }

    with gate(database, WebhookDelivery) as open_gate:
        workers = [start("worker", "--once", **local_receivers) for _ in range(PROCESSES)]
        open_gate(workers)
    outputs = finish(workers)

    delivered = [n for (n,) in numbers(r"webhooks: (\d+) delivered, 0 retrying, 0 dead", outputs)]
    assert sum(delivered) == len(events)
    assert all(delivered), f"one worker did everything: {delivered}"  # they really overlapped
    received = Counter(request.headers["Switchboard-Event-Id"] for request in receiver.requests)
    assert set(received) == events and set(received.values()) == {1}
    with app.app_context(), unscoped():
        rows = db.session.execute(select(WebhookDelivery.status, WebhookDelivery.attempts)).all()
    assert Counter(rows) == {("delivered", 1): len(events)}


# --- the worker: pushing invoices to Stripe --------------------------------------------------

STRIPE_FIRMS = 6
PERIODS = ("2026-06", "2026-07", "2026-08", "2026-09")


def test_two_workers_at_once_push_each_invoice_to_stripe_once(app, factory, database, start):
    """Safe because each outbox row is leased (`FOR UPDATE SKIP LOCKED` and `locked_until`),
    and every Stripe call carries an idempotency key derived from our record: two workers
    pushing two months of one firm at once both ask for the firm's Customer with the same
    key and get the same one."""
    invoices = []
    for _ in range(STRIPE_FIRMS):
        tenant = factory.tenant()
        invoices += [(tenant, closed_invoice(app, tenant, period=period)) for period in PERIODS]

    with serve_fake_stripe() as fake:
        stripe = {
            "STRIPE_API_KEY": "sk_test_switchboard",
            "STRIPE_API_BASE": fake.url,
            "STRIPE_MAX_NETWORK_RETRIES": "0",
            "STRIPE_TIMEOUT_SECONDS": "10",
        }
        with gate(database, OutboxMessage) as open_gate:
            workers = [start("worker", "--once", **stripe) for _ in range(PROCESSES)]
            open_gate(workers)
        outputs = finish(workers)

        sent = [n for (n,) in numbers(r"stripe: (\d+) sent, 0 retrying", outputs)]
        assert sum(sent) == len(invoices)
        assert all(sent), f"one worker did everything: {sent}"
        assert len(fake.invoices) == len(invoices)
        assert len(fake.customers) == STRIPE_FIRMS
        assert len(fake.invoice_items) == len(invoices) * len(LINES)
        for tenant, invoice_id in invoices:
            assert_billed_once(fake, app, tenant, invoice_id)
    with app.app_context(), unscoped():
        statuses = Counter(db.session.scalars(select(OutboxMessage.status)))
    assert statuses == {"sent": len(invoices)}


# --- closing a month -------------------------------------------------------------------------

CLOSE_FIRMS = 6
PERIOD = "2025-03"


def test_two_closes_of_the_same_month_at_once_make_one_invoice_per_firm(
    app, factory, database, start
):
    """Safe because closing a firm's month first locks the firm's row (`FOR UPDATE`) and only
    then looks for its invoice: the second close waits, then finds the first one's invoice.
    Both walk the firms in the same order (by slug), so they cannot deadlock; the unique key
    (tenant_id, period) on invoices backs it up."""
    expected = {}
    for n in range(1, CLOSE_FIRMS + 1):
        tenant = factory.tenant()
        price_firm(app, tenant)  # 1000 a contact, no minimum, no SLA credit
        queue_id = queue_of(app, tenant, "General")
        for day in range(1, n + 1):
            handle(app, tenant, queue_id, datetime(2025, 3, day, 10, tzinfo=UTC))
        expected[tenant.id] = n * 1000

    with gate(database, Tenant) as open_gate:
        closes = [start("billing", "close", PERIOD) for _ in range(PROCESSES)]
        open_gate(closes)
    outputs = finish(closes)

    results = numbers(
        rf"billing close {PERIOD}: (\d+) invoice\(s\) closed, (\d+) already closed", outputs
    )
    assert sum(closed for closed, _ in results) == CLOSE_FIRMS
    assert sum(already for _, already in results) == CLOSE_FIRMS
    with app.app_context(), unscoped():
        totals = {
            tenant_id: total
            for tenant_id, total in db.session.execute(
                select(Invoice.tenant_id, Invoice.total).where(Invoice.period == PERIOD)
            )
        }
        invoices = db.session.scalar(select(func.count()).select_from(Invoice))
        lines = db.session.scalar(select(func.count()).select_from(InvoiceLine))
        outbox = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    assert invoices == CLOSE_FIRMS and totals == expected  # what one close would have made
    assert lines == CLOSE_FIRMS and outbox == CLOSE_FIRMS  # one usage line a firm, one push
