"""Webhooks: a tenant's endpoints, queuing events for them, and signed delivery with retries.

Endpoint and delivery-log functions act on the tenant in scope. The worker's functions
(`claim_next`, `send`, `record`) reach across tenants and are orchestrated by app/worker.py,
which owns their transactions. Signatures (Standard Webhooks) are app/webhooks/signing.py's.
Services never commit. May import: app.changes, app.db, app.errors, app.leases and app.retry
(the worker's leases and retries), app.webhooks (models, destinations: the URL rules, signing),
tenants (scoping, audit).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from app import changes, leases
from app.db import db, utcnow
from app.errors import Conflict, Unprocessable
from app.retry import Retries
from app.webhooks import destinations, signing
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.scoping import current_tenant_id, tenant_scope
from tenants.service import Actor, auditor, record_audit

# Not subscribable: sent only to the endpoint a client admin pings.
PING_EVENT = "webhook.ping"
USER_AGENT = "Switchboard-Webhooks/1"
# A worker's lease on a delivery outlasts the request's timeout by this much.
LEASE_MARGIN_SECONDS = 60
# How much of a failing response's body the delivery log keeps.
_ERROR_BODY_CHARS = 200
# The longest a rotated secret may keep signing beside the new one.
ROTATION_WINDOW_MAX_SECONDS = 7 * 24 * 3600


# --- endpoints -------------------------------------------------------------------------------


def list_(*, is_active: bool | None = None) -> Select:
    """Select the endpoints of the tenant in scope, oldest first."""
    stmt = select(WebhookEndpoint).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    if is_active is not None:
        stmt = stmt.where(WebhookEndpoint.is_active.is_(is_active))
    return stmt


def get(*, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
    """Return one endpoint of the tenant in scope."""
    return db.session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))


def create(*, endpoint_in: dict, actor: Actor) -> WebhookEndpoint:
    """Register an endpoint for the tenant in scope, with a new signing secret."""
    endpoint = WebhookEndpoint(
        url=check_url(endpoint_in["url"]),
        description=endpoint_in.get("description", ""),
        event_types=list(endpoint_in.get("event_types", ["sla.breached"])),
        is_active=endpoint_in.get("is_active", True),
        secret=signing.new_secret(),
    )
    db.session.add(endpoint)
    db.session.flush()
    _audit(endpoint, "webhook_endpoint.created", actor, _described(endpoint))
    return endpoint


def update(*, endpoint: WebhookEndpoint, endpoint_in: dict, actor: Actor) -> WebhookEndpoint:
    """Change an endpoint's URL, description, events or active flag."""
    if "event_types" in endpoint_in:
        endpoint_in = {**endpoint_in, "event_types": list(endpoint_in["event_types"])}
    if "url" in endpoint_in:
        endpoint_in = {**endpoint_in, "url": check_url(endpoint_in["url"])}
    if changes.apply(endpoint, endpoint_in, kind="webhook_endpoint", actor=actor, audit=_audit):
        db.session.flush()
    return endpoint


def delete(*, endpoint: WebhookEndpoint, actor: Actor) -> None:
    """Delete an endpoint with its deliveries and their log."""
    _audit(endpoint, "webhook_endpoint.deleted", actor, _described(endpoint))
    db.session.delete(endpoint)
    db.session.flush()


def rotate_secret(
    *,
    endpoint: WebhookEndpoint,
    actor: Actor,
    expire_previous_in_seconds: int | None = None,
    now: datetime | None = None,
) -> WebhookEndpoint:
    """Replace an endpoint's signing secret. Deliveries from now on are signed with the new one
    and, for `expire_previous_in_seconds` (default: the rotation-window setting; 0: not at
    all), with the replaced one too, so the receiver can switch without refusing any. A
    secret replaced by an earlier rotation stops signing now."""
    if expire_previous_in_seconds is None:
        expire_previous_in_seconds = int(
            current_app.config["WEBHOOK_SECRET_ROTATION_WINDOW_SECONDS"]
        )
    now = now or utcnow()
    window = min(max(expire_previous_in_seconds, 0), ROTATION_WINDOW_MAX_SECONDS)
    if window:
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + timedelta(seconds=window)
    else:
        endpoint.previous_secret = endpoint.previous_secret_expires_at = None
    endpoint.secret = signing.new_secret()
    db.session.flush()
    expires = endpoint.previous_secret_expires_at
    details = {"previous_secret_expires_at": expires.isoformat() if expires else None}
    _audit(endpoint, "webhook_endpoint.secret_rotated", actor, details)
    return endpoint


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime | None = None) -> tuple[str, ...]:
    """The secrets a delivery sent `now` is signed with: the current one, and the previous one
    while its rotation window lasts."""
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and (now or utcnow()) < expires:
        return (endpoint.secret, endpoint.previous_secret)
    return (endpoint.secret,)


def ping(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> WebhookDelivery:
    """Queue a `webhook.ping` event to this endpoint only; return its delivery."""
    if not endpoint.is_active:
        raise Conflict("The endpoint is inactive; activate it before pinging it.")
    now = now or utcnow()
    event_id = uuid.uuid4()
    payload = {"endpoint_id": str(endpoint.id), "message": "Webhook endpoint reachable."}
    _queue(endpoints=[endpoint], event_type=PING_EVENT, event_id=event_id, payload=payload, now=now)
    return db.session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.event_id == event_id
        )
    )


def _described(endpoint: WebhookEndpoint) -> dict:
    return {
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "is_active": endpoint.is_active,
    }


_audit = auditor("webhook_endpoint")


# --- URL rules (SSRF): app/webhooks/destinations.py --------------------------------------


def check_url(url: str) -> str:
    """Return the URL with its host normalised, or refuse it (422): not https (unless
    allowed), without a host, with credentials, or (unless private networks are allowed) on
    another port than the usual ones or not resolving to public addresses only."""
    try:
        return destinations.checked(url, resolve=True)
    except destinations.UrlProblem as exc:
        problem = str(exc)
        raise Unprocessable(
            f"Invalid input: url. {problem}", errors={"json": {"url": [problem]}}
        ) from None


# --- queuing ---------------------------------------------------------------------------------


def enqueue(
    *,
    event_type: str,
    event_id: uuid.UUID,
    payload: dict,
    created_at: datetime | None = None,
) -> int:
    """Queue an event of the tenant in scope for each of its active endpoints subscribed to
    `event_type`; return how many deliveries were queued. `payload` is the body's `data` (the
    fields themselves); `created_at` (default now) is the event's time. Enqueuing the same
    `event_id` again queues nothing more (unique per endpoint and event). Never commits."""
    endpoints = db.session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.is_active.is_(True))
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    ).all()
    # A JSON list: filtered here, as a tenant has a handful of endpoints at most.
    subscribed = [e for e in endpoints if event_type in (e.event_types or [])]
    return _queue(
        endpoints=subscribed,
        event_type=event_type,
        event_id=event_id,
        payload=payload,
        now=created_at,
    )


def _queue(
    *,
    endpoints: list[WebhookEndpoint],
    event_type: str,
    event_id: uuid.UUID,
    payload: dict,
    now: datetime | None = None,
) -> int:
    """Add one pending delivery per endpoint unless it already has this event; count them."""
    now = now or utcnow()
    tenant_id = current_tenant_id()
    session = db.session
    postgresql = session.get_bind().dialect.name == "postgresql"
    queued = 0
    for endpoint in endpoints:
        row = {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "endpoint_id": endpoint.id,
            "event_id": event_id,
            "event_type": event_type,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        if postgresql:
            # A concurrent enqueue of the same event waits on the unique key, then skips it:
            # no error aborts the caller's transaction. Row-level security checks the tenant.
            inserted = session.execute(
                pg_insert(WebhookDelivery)
                .values(**row)
                .on_conflict_do_nothing(index_elements=["tenant_id", "endpoint_id", "event_id"])
                .returning(WebhookDelivery.id)
            ).first()
            queued += inserted is not None
        else:
            try:
                with session.begin_nested():
                    session.add(WebhookDelivery(**row))
            except IntegrityError:
                continue
            queued += 1
    return queued


# --- the delivery log ------------------------------------------------------------------------


def list_deliveries(
    *, endpoint: WebhookEndpoint, status: str | None = None, event_type: str | None = None
) -> Select:
    """Select an endpoint's deliveries, newest first."""
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    )
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if event_type is not None:
        stmt = stmt.where(WebhookDelivery.event_type == event_type)
    return stmt


def get_delivery(*, endpoint: WebhookEndpoint, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    """Return one delivery of an endpoint."""
    return db.session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id
        )
    )


def list_attempts(*, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    """Return a delivery's attempts, oldest first."""
    return list(
        db.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery.id)
            .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
        )
    )


def retry(
    *,
    endpoint: WebhookEndpoint,
    delivery: WebhookDelivery,
    actor: Actor,
    now: datetime | None = None,
) -> WebhookDelivery:
    """Send a dead or delivered delivery again, now, with a fresh round of attempts."""
    if delivery.status == "pending":
        raise Conflict("The delivery is already pending; the worker will send it when due.")
    if not endpoint.is_active:
        raise Conflict("The endpoint is inactive; activate it before retrying its deliveries.")
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = now or utcnow()
    delivery.locked_until = None
    db.session.flush()
    record_audit(
        actor=actor,
        action="webhook_delivery.retried",
        target_type="webhook_delivery",
        target_id=delivery.id,
        tenant_id=delivery.tenant_id,
        details={"endpoint_id": str(endpoint.id), "event_id": str(delivery.event_id)},
    )
    return delivery


# --- the body ------------------------------------------------------------------------------


def body_of(delivery: WebhookDelivery) -> bytes:
    """The JSON document POSTed for a delivery (the same bytes on every attempt)."""
    document = {
        "id": str(delivery.event_id),
        "type": delivery.event_type,
        "created_at": delivery.created_at.isoformat(),
        "tenant_id": str(delivery.tenant_id),
        "data": delivery.payload,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


# --- the worker's steps ----------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A delivery leased to this worker: everything needed to send it, outside a transaction."""

    # The outcome is recorded only if nobody re-leased the delivery meanwhile.
    lease: leases.Lease
    delivery_id: uuid.UUID
    tenant_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    url: str
    # The current secret first, then the previous one while its rotation window lasts.
    secrets: tuple[str, ...]
    body: bytes


@dataclass(frozen=True)
class Outcome:
    """What one HTTP attempt came to."""

    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def lease_seconds() -> float:
    """How long a claimed delivery stays with its worker before another may take it."""
    return float(current_app.config["WEBHOOK_TIMEOUT_SECONDS"]) * 2 + LEASE_MARGIN_SECONDS


def retry_policy() -> Retries:
    """How failed deliveries wait (backoff) and when they are given up (webhook settings)."""
    config = current_app.config
    return Retries(
        base=float(config["WEBHOOK_BACKOFF_BASE_SECONDS"]),
        cap=float(config["WEBHOOK_BACKOFF_MAX_SECONDS"]),
        max_attempts=int(config["WEBHOOK_MAX_ATTEMPTS"]),
    )


def claim_next(*, now: datetime | None = None) -> tuple[Claim | None, int]:
    """Lease the next due pending delivery of any tenant to this worker (app.leases); return it
    (or None) and how many deliveries were given up on the way (endpoint inactive, attempts
    spent).

    Call in a transaction of its own and commit before sending: the lease is what keeps other
    workers off the delivery while the request is under way.
    """
    now = now or utcnow()
    delivery, given_up = leases.lease_next(
        WebhookDelivery,
        now=now,
        seconds=lease_seconds(),
        retries=retry_policy(),
        refuse=_unsendable,
    )
    if delivery is None:
        return None, given_up
    with tenant_scope(delivery.tenant_id):
        # Usually no query: _unsendable has just loaded it.
        endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
        claim = Claim(
            lease=leases.Lease.of(delivery),
            delivery_id=delivery.id,
            tenant_id=delivery.tenant_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            url=endpoint.url,
            secrets=signing_secrets(endpoint, now=now),
            body=body_of(delivery),
        )
    return claim, given_up


def _unsendable(delivery: WebhookDelivery) -> str | None:
    endpoint = db.session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == delivery.endpoint_id)
    )
    if endpoint is None or not endpoint.is_active:
        return "The endpoint is inactive; the delivery was not sent."
    return None


def send(claim: Claim, *, now: datetime | None = None) -> Outcome:
    """POST a claimed delivery, signed, and report how it went. No database work here."""
    now = now or utcnow()
    config = current_app.config
    timeout = float(config["WEBHOOK_TIMEOUT_SECONDS"])
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signing.headers(
            secrets=claim.secrets,
            msg_id=str(claim.delivery_id),
            timestamp=int(now.timestamp()),
            body=claim.body,
        ),
        "Switchboard-Event-Id": str(claim.event_id),
        "Switchboard-Event-Type": claim.event_type,
        "Switchboard-Delivery-Id": str(claim.delivery_id),
    }
    # The URL was checked when it was saved; the rules may have tightened since. Whatever
    # is refused, and whatever gets no HTTP answer, reads the same in the log (no port scans).
    try:
        url = destinations.checked(claim.url, resolve=False)
    except destinations.UrlProblem:
        return Outcome(now, None, destinations.REFUSED, 0)
    started = time.monotonic()
    status_code, error = None, None
    try:
        with (
            destinations.http_session(
                allow_private=config["WEBHOOK_ALLOW_PRIVATE_NETWORKS"]
            ) as http,
            http.post(
                url,
                data=claim.body,
                headers=headers,
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            ) as response,
        ):
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = _describe_failure(response)
    except requests.RequestException as exc:
        if destinations.refused(exc):
            return Outcome(now, None, destinations.REFUSED, 0)
        error = destinations.no_answer(timeout)
    duration_ms = round((time.monotonic() - started) * 1000)
    return Outcome(now, status_code, error, duration_ms)


def _describe_failure(response: requests.Response) -> str:
    if response.is_redirect:
        where = response.headers.get("Location", "?")
        return f"HTTP {response.status_code}: redirects are not followed (to {where})."
    try:
        snippet = next(response.iter_content(_ERROR_BODY_CHARS * 4), b"")
    except requests.RequestException:
        snippet = b""
    text = snippet.decode("utf-8", "replace").strip()[:_ERROR_BODY_CHARS]
    return f"HTTP {response.status_code}" + (f": {text}" if text else ".")


def record(*, claim: Claim, outcome: Outcome, now: datetime | None = None) -> str:
    """Log an attempt and settle the delivery: delivered, retried later, or dead; return
    which ("delivered", "retrying", "dead", or "gone" when it was deleted or re-leased)."""
    now = now or outcome.attempted_at
    with tenant_scope(claim.tenant_id):
        delivery = leases.relock(claim.lease)
        if delivery is None:  # the endpoint was deleted while the request was under way
            return leases.LEASE_LOST
        db.session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                attempted_at=outcome.attempted_at,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        if not leases.holds(delivery, claim.lease):
            # The lease ran out and another worker took the delivery over: its outcome rules.
            return leases.LEASE_LOST
        delivery.last_attempt_at = outcome.attempted_at
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        if outcome.ok:
            leases.finish(delivery, status="delivered")
            delivery.delivered_at = now
            return "delivered"
        return leases.retry_later(delivery, now=now, retries=retry_policy())
