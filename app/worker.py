"""The background worker: delivers what waits in the database (domain events to their
consumers, webhook deliveries, invoices to push to Stripe, escalations to mail to departments),
ends agents' overdue after-contact work, and keeps the report roll-ups current.

A thin loop over jobs. The first hands the domain events recorded since the last pass to their
consumers (`CONSUMERS`; a batch per transaction, the consumer's position with it), so what they
queue is delivered in the same pass. Each other job drains what is due now through `drain`,
one unit of work at a time: lease it, commit, do it, record how it went, commit. The loop owns
the transactions of these steps (the services never commit), stops between units when asked,
and returns counts for the pass's one-line summary. Another job is a service's `claim_next` and
a unit's work, and one more entry in `JOBS`.

Several workers may run at once (one per pod): every unit is leased to one worker with
`FOR UPDATE SKIP LOCKED` and a `locked_until` lease (app/leases.py), so none is done twice and
none waits on another. A heartbeat file, touched at start, after every unit and after every
pass, tells a liveness probe that the loop is still turning.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import current_app

from app import mail
from app.agents import presence as agent_presence
from app.campaigns import dialer as campaign_dialer
from app.contacts import escalations
from app.db import db, utcnow
from app.events import service as events_service
from app.quality import sampling as quality_sampling
from app.reports import rollups as report_rollups
from app.webhooks import consumer as webhooks_consumer
from app.webhooks import service as webhooks_service
from billing import stripe_sync

log = logging.getLogger(__name__)


def _no_beat() -> None:
    pass


# name, handle(event): every consumer of the domain events, each with its own position in
# the log (app/events/service.py). The live views are one more line.
CONSUMERS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("webhooks", webhooks_consumer.handle),
    ("quality", quality_sampling.handle),
)


def dispatch_events(
    *, stop: threading.Event, now: datetime | None = None, beat: Callable[[], None] = _no_beat
) -> dict[str, int]:
    """Hand each consumer the domain events recorded since its position, a batch per
    transaction; count them per consumer (nothing to say when there were none)."""
    _settle(stop)
    counts = {}
    for name, handle in CONSUMERS:
        handled = 0
        while not stop.is_set():
            beat()
            # The consumer's work and its new position commit together; a crash before the
            # commit leaves both as they were, to be done again by the next pass.
            try:
                batch = events_service.consume(consumer=name, handle=handle)
                db.session.commit()
            except Exception:
                # Its batch waits for the next pass (skipping an event would lose it); the
                # other consumers and the deliveries already queued go on meanwhile.
                db.session.rollback()
                log.exception("events consumer %s failed", name)
                counts["failed"] = counts.get("failed", 0) + 1
                break
            if not batch:  # done, or another worker is running this consumer
                break
            handled += batch
        if handled:
            counts[f"to {name}"] = handled
    return counts


def _settle(stop: threading.Event) -> None:
    """Wait (briefly) until the transactions older than the newest committed event have
    ended: only then may its events be read in order (app/events/service.py)."""
    newest = events_service.newest_tx()
    deadline = time.monotonic() + float(current_app.config["EVENTS_SETTLE_SECONDS"])
    while newest is not None and not stop.is_set():
        settled = events_service.horizon() > newest
        db.session.rollback()  # no transaction stays open while we wait
        if settled or time.monotonic() >= deadline:
            return
        stop.wait(0.02)
    db.session.rollback()


def deliver_webhooks(
    *, stop: threading.Event, now: datetime | None = None, beat: Callable[[], None] = _no_beat
) -> dict[str, int]:
    """Send every webhook delivery due now, one at a time; count the outcomes."""

    def deliver(claim: webhooks_service.Claim) -> str:
        outcome = webhooks_service.send(claim, now=now)
        return webhooks_service.record(claim=claim, outcome=outcome, now=now or utcnow())

    return drain(
        {"delivered": 0, "retrying": 0, "dead": 0},
        claim_next=lambda: webhooks_service.claim_next(now=now or utcnow()),
        work=deliver,
        stop=stop,
        beat=beat,
    )


def push_invoices(
    *, stop: threading.Event, now: datetime | None = None, beat: Callable[[], None] = _no_beat
) -> dict[str, int]:
    """Push every closed invoice due in the Stripe outbox, one at a time; count the outcomes.

    Without a Stripe API key nothing is pushed and nothing touches the network: invoices
    stay internal.
    """
    if not stripe_sync.is_enabled():
        return {}  # no counts: the pass's summary leaves the job out
    stripe_client = stripe_sync.client()

    def push(claim: stripe_sync.Claim) -> str:
        try:
            # Commits after each Stripe result it saves, so a crash loses at most one answer,
            # which the next try gets again by replaying the same idempotency key.
            return stripe_sync.push(claim, stripe_client=stripe_client, now=now or utcnow())
        except Exception as exc:
            db.session.rollback()
            return stripe_sync.record_failure(claim=claim, error=exc, now=now or utcnow())

    counts = drain(
        {"sent": 0, "retrying": 0},
        claim_next=lambda: stripe_sync.claim_next(now=now or utcnow()),
        work=push,
        stop=stop,
        beat=beat,
    )
    stripe_sync.check_outbox_age(now=now)
    db.session.rollback()  # the age check's read-only transaction
    return counts


def drain(
    counts: dict[str, int],
    *,
    claim_next: Callable[[], tuple[Any | None, int]],
    work: Callable[[Any], str],
    stop: threading.Event,
    beat: Callable[[], None],
) -> dict[str, int]:
    """Lease and work through one unit at a time (app.leases) until none is due or `stop` is
    set; add each result named in `counts` (and the units given up on as "dead") to it."""
    while not stop.is_set():
        # A long backlog is one long pass: each unit shows the loop is still turning.
        beat()
        claim, given_up = claim_next()
        # The lease must be visible to other workers before the work goes out, and no
        # transaction may stay open while we wait on someone else's server.
        db.session.commit()
        if given_up:
            counts["dead"] = counts.get("dead", 0) + given_up
        if claim is None:
            break
        result = work(claim)
        db.session.commit()
        if result in counts:
            counts[result] += 1
    return counts


def mail_departments(
    *, stop: threading.Event, now: datetime | None = None, beat: Callable[[], None] = _no_beat
) -> dict[str, int]:
    """Mail the departments their escalations, and remind those that have not answered within
    the firm's `department_reminder_minutes`, one mail at a time (app/contacts/escalations.py).

    Without a mail server nothing is sent: the mails wait until one is configured.
    """
    if not mail.is_configured():
        return {}  # no counts: the pass's summary leaves the job out
    return drain(
        {"sent": 0, "reminded": 0, "retrying": 0},
        claim_next=lambda: escalations.claim_next(now=now or utcnow()),
        work=lambda claim: escalations.send(claim, now=now or utcnow()),
        stop=stop,
        beat=beat,
    )


def roll_up_reports(
    *, stop: threading.Event, now: datetime | None = None, beat: Callable[[], None] = _no_beat
) -> dict[str, int]:
    """Keep the firms' daily report roll-ups current (app/reports/rollups.py), a firm per
    transaction."""
    beat()
    try:
        return report_rollups.refresh(now=now)
    except Exception:
        # Reports read the contacts meanwhile; the marks wait for the next pass.
        db.session.rollback()
        log.exception("report roll-ups failed")
        return {"failed": 1}


def end_wrap_ups(
    *, stop: threading.Event, now: datetime | None = None, beat: Callable[[], None] = _no_beat
) -> dict[str, int]:
    """Return to available the agents whose after-contact work ran past the BPO's maximum
    (MAX_WRAP_UP_SECONDS; 0 or none: no maximum)."""
    limit = current_app.config.get("MAX_WRAP_UP_SECONDS")
    if not limit:
        return {}  # no counts: the pass's summary leaves the job out
    beat()
    ended = agent_presence.end_overdue_wrap_ups(max_seconds=int(limit), now=now or utcnow())
    db.session.commit()
    # Nothing ended is nothing to say, as an idle worker's summary says nothing of it.
    return {"ended": ended} if ended else {}


def plan_campaigns(
    *, stop: threading.Event, now: datetime | None = None, beat: Callable[[], None] = _no_beat
) -> dict[str, int]:
    """Move the campaigns' waiting records whose stretch of the customer's window passed
    unworked to their next stretch (app/campaigns/dialer.py)."""
    beat()
    counts = campaign_dialer.replan_passed(now=now or utcnow())
    db.session.commit()
    return counts


# name, job(stop=, now=, beat=) -> counts
# Events first: what they queue is delivered in the same pass. Wrap-ups before the reports:
# the after-contact work they add to contacts is summed in the same pass.
JOBS: tuple[tuple[str, Callable[..., dict[str, int]]], ...] = (
    ("events", dispatch_events),
    ("webhooks", deliver_webhooks),
    ("stripe", push_invoices),
    ("departments", mail_departments),
    ("wrap_ups", end_wrap_ups),
    ("campaigns", plan_campaigns),
    ("reports", roll_up_reports),
)


def run_pass(
    *, stop: threading.Event, now: datetime | None = None, beat: Callable[[], None] = _no_beat
) -> dict[str, dict[str, int]]:
    """Run every job once over what is due; return each job's counts."""
    results = {}
    for name, job in JOBS:
        if stop.is_set():
            break
        try:
            results[name] = job(stop=stop, now=now, beat=beat)
        finally:
            # A failed step leaves nothing half-done behind for the next one.
            db.session.rollback()
    return results


def summary(results: dict[str, dict[str, int]]) -> str:
    """One line: each job's counts."""
    parts = [
        f"{name}: " + ", ".join(f"{n} {what}" for what, n in counts.items())
        for name, counts in results.items()
        if counts  # a job that is switched off (no Stripe key) has nothing to say
    ]
    return "worker pass: " + ("; ".join(parts) or "stopped")


def run(
    *, once: bool, interval: float, echo, heartbeat_file: str | os.PathLike | None = None
) -> None:
    """Work until stopped (SIGTERM/SIGINT finish the current unit first), or one pass if `once`.

    A pass that did nothing is not echoed in the loop, so an idle worker's log stays quiet.
    With `heartbeat_file`, the file is touched at start, after every unit of work and after
    every pass, idle or failed: its age is how long the loop has been stuck.
    """
    touch = heartbeat(heartbeat_file) if heartbeat_file else _no_beat
    # At start, and unguarded: a heartbeat that cannot be written is a misconfiguration to
    # see now, not a liveness probe killing the pod in a minute.
    touch()

    def beat() -> None:
        try:
            touch()
        except OSError:
            # It was writable at start; a passing failure (a full disk) must not stop the work.
            log.warning("worker heartbeat could not be written", exc_info=True)

    stop = threading.Event()
    restore = stop_on_signals(stop)
    try:
        while not stop.is_set():
            try:
                results = run_pass(stop=stop, beat=beat)
            except Exception:
                if once:
                    raise
                # A lost database or a bug in one unit: log it and try again after a pause;
                # a delivery whose outcome went unrecorded is retried when its lease expires.
                # The loop still turns, so the heartbeat goes on: liveness must not depend on
                # the database (a restart would not bring it back).
                log.exception("worker pass failed")
                echo("worker pass failed; see the log. Retrying.")
                beat()
                stop.wait(interval)
                continue
            beat()
            if once or any(n for counts in results.values() for n in counts.values()):
                echo(summary(results))
            if once:
                break
            stop.wait(interval)
    finally:
        restore()


def heartbeat(path: str | os.PathLike) -> Callable[[], None]:
    """What touches `path` (created if missing, its mtime set to now)."""
    target = Path(path)

    def beat() -> None:
        target.touch()

    return beat


def stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """Make SIGTERM and SIGINT set `stop`; return what undoes it (also `sla scan --every`)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals reach the main thread only (e.g. a test's thread)
    previous = {}

    def handle(signum, _frame):
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, handle)

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore
