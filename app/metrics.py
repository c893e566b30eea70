"""Prometheus metrics: the counters the app keeps, the figures read from the database at scrape
time, and the `/metrics` endpoint that exposes both.

No metric carries a tenant label: the number of client firms has no bound, and every label value
is a time series Prometheus keeps in memory. Per-firm figures are what the reports API is for.
Every label here comes from a fixed vocabulary (channels, directions, clock kinds, delivery
statuses, HTTP methods and status codes, the app's route templates).

Under gunicorn each worker is a process with its own counters; gunicorn.conf.py points
`PROMETHEUS_MULTIPROC_DIR` at a shared directory before any worker imports this module, so
prometheus_client writes the values to files there and a scrape of any worker adds them all up.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from app.errors import problem
from app.vocabulary import CHANNELS, DIRECTIONS

log = logging.getLogger(__name__)

blp = Blueprint("metrics", __name__)

# --- what the app counts ---------------------------------------------------------------------

# No `*_created` timestamp series beside every counter: they double the series count, and the
# multi-process mode (gunicorn) never writes them anyway, so scrapes look the same everywhere.
disable_created_metrics()

HTTP_REQUESTS = Counter(
    "switchboard_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "switchboard_http_request_duration_seconds",
    "Time from the request's arrival in the app to its response headers, by route template.",
    ["method", "route"],
)
CONTACTS_CREATED = Counter(
    "switchboard_contacts_created",
    "Contacts taken in (committed), by channel and direction; imported history not included.",
    ["channel", "direction"],
)
CONTACTS_HANDLED = Counter(
    "switchboard_contacts_handled",
    "Contacts handled (answered or responded to) at their first resolution (committed), by "
    "channel.",
    ["channel"],
)

# Every series exists from the start at 0, so a rate() over a fresh process is not empty and a
# dashboard's channel legend does not depend on which channel happened to come in first.
for _channel in CHANNELS:
    CONTACTS_HANDLED.labels(channel=_channel)
    for _direction in DIRECTIONS:
        CONTACTS_CREATED.labels(channel=_channel, direction=_direction)

# Anything else a client sends as a method is one label value, not one series per invention.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"


def route_label() -> str:
    """The request's route template (`/v1/tenants/<uuid:tenant_id>/...`), never its raw path:
    ids in the path would make one series per object. No route matched: `unmatched`."""
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


def method_label() -> str:
    return request.method if request.method in _METHODS else "other"


def observe_request(response):
    """after_request: count the request and its duration (scrapes of /metrics excepted)."""
    if request.endpoint == "metrics.metrics":
        return response
    started = g.get("request_started")
    method, route = method_label(), route_label()
    HTTP_REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
    if started is not None:
        HTTP_DURATION.labels(method=method, route=route).observe(time.perf_counter() - started)
    return response


# --- counting only what commits --------------------------------------------------------------

_PENDING = "metrics_pending"


@dataclass(frozen=True)
class _Increment:
    transaction: SessionTransaction | None
    counter: Counter
    labels: dict[str, str]


def count_on_commit(session: Session, counter: Counter, **labels: str) -> None:
    """Add 1 to `counter{labels}` when the session's transaction commits; never if it rolls
    back. Services never commit (the request does), so counting where the service acts would
    count contacts a failed request never kept."""
    # Remember the innermost transaction: a savepoint rolled back drops what was counted in it,
    # while the outer transaction can still commit what was counted before it.
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    session.info.setdefault(_PENDING, []).append(_Increment(transaction, counter, labels))


@event.listens_for(Session, "after_commit")
def _apply_pending(session: Session) -> None:
    # A released savepoint also fires after_commit; only the outermost commit makes it real.
    if session.in_nested_transaction() or _PENDING not in session.info:
        return
    for increment in session.info.pop(_PENDING):
        increment.counter.labels(**increment.labels).inc()


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    kept = [i for i in pending if not _within(i.transaction, previous_transaction)]
    if kept:
        session.info[_PENDING] = kept
    else:
        session.info.pop(_PENDING)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_the_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended without its commit applying them (a close, an error in
    # the commit itself): whatever is left was never kept.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def _within(inner: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while inner is not None:
        if inner is outer:
            return True
        inner = inner.parent
    return inner is None and outer.parent is None


# --- figures read from the database at scrape time -------------------------------------------


class DatabaseCollector(Collector):
    """Figures only the database knows for the whole deployment: SLA breaches are found by the
    `sla scan` CronJob and delivery failures by the worker Deployment, whose own in-process
    counters would die with each run or pod. Read at most every `METRICS_DB_CACHE_SECONDS` per
    process, so frequent scrapes (or several Prometheus servers) cost the database little."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._families: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        ttl = float(self.app.config["METRICS_DB_CACHE_SECONDS"])
        with self._lock:
            if time.monotonic() - self._read_at >= ttl:
                self._families = self._read()
                self._read_at = time.monotonic()
            families = list(self._families)
        yield from families

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily(
            "switchboard_metrics_db_up",
            "1 when the database figures below could be read at the last scrape, else 0.",
        )
        try:
            with self.app.app_context():
                families = _database_families()
        except SQLAlchemyError as exc:
            # A scrape must not fail with the database: it would hide every other metric and
            # read as the app being down. The families are left out; this gauge says why.
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            log.warning("metrics: database figures could not be read: %s", reason)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]


def _database_families() -> list[Metric]:
    from app.db import db
    from app.sla.models import CLOCK_KINDS, SlaClock
    from app.webhooks.models import WebhookAttempt, WebhookDelivery
    from billing.models import OutboxMessage
    from billing.stripe_sync import outbox_oldest_pending_age_seconds
    from tenants.scoping import unscoped

    session = db.session
    try:
        # Deployment-wide health figures, summed over every tenant and labelled by none: no
        # single tenant applies, and a tenant's own figures are the reports API's business.
        with unscoped():
            if session.get_bind().dialect.name == "postgresql":
                # A scrape waits for no slow query: better a gap in the graph than a pile-up.
                session.execute(text("SET LOCAL statement_timeout = 5000"))
            # Each count below is a range of the (status, ...) / (state, ...) indexes.
            outbox_pending = session.scalar(
                select(func.count()).where(OutboxMessage.status == "pending")
            )
            outbox_age = outbox_oldest_pending_age_seconds()
            # Pending and dead only: those are what someone acts on; `delivered` rows only ever
            # grow, and counting them would read an ever larger part of the index each scrape.
            deliveries = dict(
                session.execute(
                    select(WebhookDelivery.status, func.count())
                    .where(WebhookDelivery.status.in_(_DELIVERY_STATES))
                    .group_by(WebhookDelivery.status)
                ).all()
            )
            # An attempt failed when it recorded an error (a non-2xx answer, a timeout, a
            # refusal to send); no index covers `error`, which the cache above allows for.
            failures = session.scalar(select(func.count()).where(WebhookAttempt.error.is_not(None)))
            # A clock that breached stays `breached` whatever happens to its contact next.
            breaches = dict(
                session.execute(
                    select(SlaClock.kind, func.count())
                    .where(SlaClock.state == "breached")
                    .group_by(SlaClock.kind)
                ).all()
            )
    finally:
        # Read-only: end the transaction (and its SET LOCAL) here, whatever the request does.
        session.rollback()

    pending = GaugeMetricFamily(
        "switchboard_billing_outbox_pending", "Stripe pushes waiting in the billing outbox."
    )
    pending.add_metric([], outbox_pending or 0)
    age = GaugeMetricFamily(
        "switchboard_billing_outbox_oldest_pending_age_seconds",
        "Age of the oldest invoice push still pending (0 when none); alert well before 24 h.",
    )
    age.add_metric([], outbox_age)
    by_state = GaugeMetricFamily(
        "switchboard_webhook_deliveries",
        "Webhook deliveries by state: pending (not yet delivered, retrying) and dead (given up).",
        labels=["state"],
    )
    for state in _DELIVERY_STATES:
        by_state.add_metric([state], deliveries.get(state, 0))
    failed = CounterMetricFamily(
        "switchboard_webhook_delivery_failures",
        "Webhook delivery attempts that failed, counted from the attempts table (it falls when "
        "an offboarded firm is purged, which Prometheus reads as a counter reset).",
    )
    failed.add_metric([], failures or 0)
    breached = CounterMetricFamily(
        "switchboard_sla_breaches",
        "SLA clocks that breached their target, by clock kind, counted from the clocks table.",
        labels=["clock"],
    )
    for kind in CLOCK_KINDS:
        breached.add_metric([kind], breaches.get(kind, 0))
    return [pending, age, by_state, failed, breached]


_DELIVERY_STATES = ("pending", "dead")


# --- the endpoint ----------------------------------------------------------------------------


class _DefaultRegistry(Collector):
    """The process's own registry (its counters plus process and GC figures), as one part of
    the scrape's registry."""

    def collect(self) -> Iterator[Metric]:
        return REGISTRY.collect()


def init_app(app: Flask) -> None:
    """Register /metrics and count every request; call before the commit hook is registered,
    so that (Flask running after_request hooks in reverse) the count sees the final status."""
    app.extensions["metrics_db_collector"] = DatabaseCollector(app)
    app.register_blueprint(blp)
    app.after_request(observe_request)


@blp.get("/metrics")
def metrics():
    """The Prometheus text exposition. Keep it off the Ingress: Prometheus scrapes pod IPs.
    With `METRICS_TOKEN` set it also wants `Authorization: Bearer <token>`."""
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), str(token).encode()
        ):
            response = problem(401, "Send the metrics token as `Authorization: Bearer <token>`.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="switchboard-metrics"'
            return response
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every worker's counters, from the files they write, added up.
        MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistry())
    registry.register(current_app.extensions["metrics_db_collector"])
    # The Prometheus text format, or OpenMetrics when the scraper asks for it.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(registry), content_type=content_type)
