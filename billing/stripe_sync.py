"""Stripe: pushing closed invoices from the outbox, Stripe's webhooks, suspending firms past due.

The only module that imports `stripe`. Every call to Stripe carries an idempotency key derived
from our own record (`sb-customer-{tenant_id}`, `sb-customer-name-{tenant_id}-{name digest}`,
`sb-invoice-{invoice_id}`, `sb-line-{line_id}`, `sb-finalize-{invoice_id}`), and each result is
saved before the next call, so a push that crashes or fails at any point is resumed by skipping
what was saved and replaying, with the same key, what Stripe did but we did not save (Stripe
answers a replayed key with its first answer, for about 24 hours). The worker's functions
(`claim_next`, `push`, `record_failure`) reach across tenants and are orchestrated by
app/worker.py, which owns their transactions; `handle_webhook` and `suspend_past_due` never
commit. May import: app.db, app.errors, app.leases and app.retry (the worker's leases and
retries), billing (models, events), tenants (models, scoping, service).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import stripe
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app import leases
from app.db import db, utcnow
from app.errors import DomainError
from app.retry import Retries
from billing import events as invoice_events
from billing.models import BillingAccount, Invoice, InvoiceLine, OutboxMessage, StripeEvent
from tenants import service as tenants_service
from tenants.models import Tenant
from tenants.scoping import tenant_scope, unscoped

log = logging.getLogger(__name__)

PUSH_INVOICE = "stripe.push_invoice"
# Who acts in the audit log when Stripe tells us about a payment.
STRIPE_ACTOR = tenants_service.Actor(client_id="stripe")
# A worker's lease on a push outlasts one step's worst case (timeout x tries) by this much.
LEASE_MARGIN_SECONDS = 60
_ERROR_CHARS = 500


class WebhookRefused(DomainError):
    """The webhook's signature or body is not acceptable (400)."""

    status = 400


class WebhooksNotConfigured(DomainError):
    """No STRIPE_WEBHOOK_SECRET: nothing can be verified (503)."""

    status = 503


def is_enabled() -> bool:
    """Whether invoices are pushed to Stripe (an API key is configured)."""
    return bool(current_app.config.get("STRIPE_API_KEY"))


def client() -> stripe.StripeClient:
    """A Stripe client from the configuration (API key, base address, timeout, retries)."""
    config = current_app.config
    base = config.get("STRIPE_API_BASE")
    return stripe.StripeClient(
        config["STRIPE_API_KEY"],
        base_addresses={"api": base} if base else None,
        max_network_retries=int(config["STRIPE_MAX_NETWORK_RETRIES"]),
        http_client=stripe.RequestsClient(timeout=float(config["STRIPE_TIMEOUT_SECONDS"])),
    )


# --- the outbox: claim, push, record ---------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """An outbox row leased to this worker."""

    # A failure is recorded only if nobody re-leased the row meanwhile.
    lease: leases.Lease
    outbox_id: uuid.UUID
    tenant_id: uuid.UUID
    invoice_id: uuid.UUID


def lease_seconds() -> float:
    """How long a claimed push stays with its worker before another may take it over."""
    config = current_app.config
    tries = int(config["STRIPE_MAX_NETWORK_RETRIES"]) + 1
    return float(config["STRIPE_TIMEOUT_SECONDS"]) * tries + LEASE_MARGIN_SECONDS


def retry_policy() -> Retries:
    """How failed pushes wait (backoff, Stripe settings). Pushes are never given up: the age
    alert says when one needs a person."""
    config = current_app.config
    return Retries(
        base=float(config["STRIPE_BACKOFF_BASE_SECONDS"]),
        cap=float(config["STRIPE_BACKOFF_MAX_SECONDS"]),
    )


def claim_next(*, now: datetime) -> tuple[Claim | None, int]:
    """Lease the next due push of any tenant to this worker (app.leases); return it (or None)
    and how many were given up on the way (none: pushes are never given up).

    Call in a transaction of its own and commit before talking to Stripe: the lease is what
    keeps other workers off the row meanwhile. A lease that ran out (its worker died) makes
    the row due again; the keys make the takeover safe.
    """
    message, given_up = leases.lease_next(
        OutboxMessage,
        now=now,
        seconds=lease_seconds(),
        retries=retry_policy(),
        where=[OutboxMessage.kind == PUSH_INVOICE],
    )
    if message is None:
        return None, given_up
    claim = Claim(
        lease=leases.Lease.of(message),
        outbox_id=message.id,
        tenant_id=message.tenant_id,
        invoice_id=message.invoice_id,
    )
    return claim, given_up


def push(claim: Claim, *, stripe_client: stripe.StripeClient, now: datetime) -> str:
    """Push a claimed invoice to Stripe, committing after each saved step; return "sent".

    Order: the tenant's Customer, a draft invoice that takes no pending items, one invoice
    item per line attached to that draft (the SLA credit as a negative one), then finalize.
    Items are attached to our draft rather than swept up as "pending" so that two months of
    one tenant pushed at once can never land on each other's invoice. Raises on any failure;
    the caller records it.
    """
    tenant_id, invoice_id = claim.tenant_id, claim.invoice_id
    with tenant_scope(tenant_id):
        invoice = db.session.get(Invoice, invoice_id)
        account = _billing_account(tenant_id)
        customer_id = account.stripe_customer_id
        tenant = db.session.get(Tenant, tenant_id)
        tenant_name = tenant.name if tenant else str(tenant_id)
    if invoice is None or (invoice.status == "void" and invoice.stripe_invoice_id is None):
        # Deleted with its tenant, or voided before it reached Stripe: nothing left to bill.
        _settle(claim, now=now)
        db.session.commit()
        return "sent"
    currency = invoice.currency.lower()

    if customer_id is None:
        # Keyed on what never changes: Stripe refuses a replayed key whose parameters differ,
        # so a firm renamed between a lost answer and its retry would be refused for ever.
        customer = stripe_client.v1.customers.create(
            params={"metadata": {"tenant_id": str(tenant_id)}},
            options={"idempotency_key": f"sb-customer-{tenant_id}"},
        )
        customer_id = customer.id
        with tenant_scope(tenant_id):
            account = _billing_account(tenant_id)
            if account.stripe_customer_id is None:
                account.stripe_customer_id = customer_id
        db.session.commit()

    # The name follows the firm's on every push (a rename shows from the next invoice on),
    # keyed by the name itself: a replay carries the same parameters.
    stripe_client.v1.customers.update(
        customer_id,
        params={"name": tenant_name},
        options={"idempotency_key": f"sb-customer-name-{tenant_id}-{_digest(tenant_name)}"},
    )

    stripe_invoice_id = invoice.stripe_invoice_id
    if stripe_invoice_id is None:
        draft = stripe_client.v1.invoices.create(
            params={
                "customer": customer_id,
                "currency": currency,
                "auto_advance": False,
                "pending_invoice_items_behavior": "exclude",
                "description": f"Contact-center services, {invoice.period}",
                "metadata": {
                    "invoice_id": str(invoice_id),
                    "tenant_id": str(tenant_id),
                    "period": invoice.period,
                },
            },
            options={"idempotency_key": f"sb-invoice-{invoice_id}"},
        )
        stripe_invoice_id = draft.id
        with tenant_scope(tenant_id):
            db.session.get(Invoice, invoice_id).stripe_invoice_id = stripe_invoice_id
        db.session.commit()

    with tenant_scope(tenant_id):
        unsent = [
            (line.id, line.amount, line.description)
            for line in db.session.scalars(
                select(InvoiceLine)
                .where(
                    InvoiceLine.invoice_id == invoice_id,
                    InvoiceLine.stripe_invoice_item_id.is_(None),
                )
                .order_by(InvoiceLine.position)
            )
        ]
    for line_id, amount, description in unsent:
        item = stripe_client.v1.invoice_items.create(
            params={
                "customer": customer_id,
                "invoice": stripe_invoice_id,
                "amount": amount,
                "currency": currency,
                "description": description,
                "metadata": {"line_id": str(line_id), "invoice_id": str(invoice_id)},
            },
            options={"idempotency_key": f"sb-line-{line_id}"},
        )
        with tenant_scope(tenant_id):
            db.session.get(InvoiceLine, line_id).stripe_invoice_item_id = item.id
        db.session.commit()

    stripe_client.v1.invoices.finalize_invoice(
        stripe_invoice_id,
        params={"auto_advance": True},
        options={"idempotency_key": f"sb-finalize-{invoice_id}"},
    )
    with tenant_scope(tenant_id):
        invoice = db.session.get(Invoice, invoice_id)
        # A payment webhook may already have moved it on; never step back from it.
        if invoice.status == "closed":
            invoice.status = "finalized"
        invoice.finalized_at = invoice.finalized_at or now
    _settle(claim, now=now)
    db.session.commit()
    return "sent"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _settle(claim: Claim, *, now: datetime) -> None:
    with tenant_scope(claim.tenant_id):
        # Pushed is pushed, whoever holds the lease now: the keys made any replay harmless.
        message = leases.relock(claim.lease)
        if message is None or message.status != leases.PENDING:
            return
        leases.finish(message, status="sent")
        message.sent_at = now
        message.last_error = None


def record_failure(*, claim: Claim, error: BaseException, now: datetime) -> str:
    """Note a failed push and when to try again; return "retrying" (or "gone" when another
    worker holds the row now)."""
    with tenant_scope(claim.tenant_id):
        message = leases.reclaim(claim.lease)
        if message is None:
            return leases.LEASE_LOST
        message.last_error = describe(error)
        result = leases.retry_later(message, now=now, retries=retry_policy())
    if isinstance(error, stripe.IdempotencyError):
        # No retry can succeed until Stripe forgets the key (about 24 h), and then it could
        # repeat what the first request did: a person must reconcile now, not in 12 hours.
        log.error(
            "stripe push of invoice %s refused for good (attempt %s): %s; reconcile it with "
            "Stripe before its key expires",
            claim.invoice_id,
            claim.lease.attempt,
            describe(error),
        )
        return result
    log.warning(
        "stripe push of invoice %s failed (attempt %s): %s",
        claim.invoice_id,
        claim.lease.attempt,
        describe(error),
    )
    return result


def describe(error: BaseException) -> str:
    """A short, log-safe account of why a Stripe call failed."""
    if isinstance(error, stripe.StripeError):
        status = f"HTTP {error.http_status}: " if error.http_status else ""
        text = f"{type(error).__name__}: {status}{error.user_message or error}"
    else:
        text = f"{type(error).__name__}: {error}"
    return text[:_ERROR_CHARS]


def outbox_oldest_pending_age_seconds(*, now: datetime | None = None) -> float:
    """Age in seconds of the oldest push still pending (0 when none): the alert's metric."""
    # A BPO-wide health figure: the oldest row of any tenant.
    with unscoped():
        oldest = db.session.scalar(
            select(func.min(OutboxMessage.created_at)).where(
                OutboxMessage.kind == PUSH_INVOICE, OutboxMessage.status == "pending"
            )
        )
    if oldest is None:
        return 0.0
    return max(((now or utcnow()) - oldest).total_seconds(), 0.0)


def check_outbox_age(*, now: datetime | None = None) -> float:
    """Log at ERROR when a push has been pending longer than the alert age; return the age."""
    age = outbox_oldest_pending_age_seconds(now=now)
    limit = float(current_app.config["STRIPE_OUTBOX_ALERT_AGE_SECONDS"])
    if age > limit:
        log.error(
            "stripe outbox: a push has been pending for %.1f h (alert at %.1f h); Stripe "
            "forgets idempotency keys after about 24 h, so reconcile before it is resent",
            age / 3600,
            limit / 3600,
        )
    return age


def _billing_account(tenant_id: uuid.UUID) -> BillingAccount:
    """The tenant's billing account, made on first use (onboarding may predate billing)."""
    account = db.session.scalar(select(BillingAccount))
    if account is None:
        # Two workers may get here at once for one tenant: the unique key keeps one row.
        db.session.execute(
            pg_insert(BillingAccount)
            .values(id=uuid.uuid4(), tenant_id=tenant_id, created_at=utcnow(), updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        account = db.session.scalar(select(BillingAccount))
    return account


# --- webhooks --------------------------------------------------------------------------------


def handle_webhook(*, payload: bytes, signature: str | None, now: datetime | None = None) -> str:
    """Verify a Stripe webhook and act on it once per event id; return what was done
    ("paid", "payment_failed", "duplicate", "ignored")."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise WebhooksNotConfigured("Stripe webhooks are not configured on this deployment.")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRefused(f"The Stripe-Signature header does not verify: {exc}") from exc
    except ValueError as exc:
        raise WebhookRefused("The body is not a Stripe event (invalid JSON).") from exc
    now = now or utcnow()
    event = event.to_dict()  # plain dicts: stripe-python's objects refuse dict methods
    event_type = str(event.get("type") or "")
    data_object = (event.get("data") or {}).get("object") or {}
    invoice = _our_invoice(data_object) if event_type.startswith("invoice.") else None
    inserted = db.session.scalar(
        pg_insert(StripeEvent)
        .values(
            id=uuid.uuid4(),
            event_id=str(event.get("id")),
            type=event_type[:100],
            invoice_id=invoice.id if invoice else None,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(StripeEvent.id)
    )
    if inserted is None:
        return "duplicate"
    if invoice is None or event_type not in ("invoice.paid", "invoice.payment_failed"):
        return "ignored"
    with tenant_scope(invoice.tenant_id):
        db.session.refresh(invoice, with_for_update=True)
        if invoice.stripe_invoice_id is None and data_object.get("id"):
            invoice.stripe_invoice_id = str(data_object["id"])
        if event_type == "invoice.paid":
            return _mark_paid(invoice, now=now)
        return _mark_payment_failed(invoice, now=now)


def _our_invoice(data_object) -> Invoice | None:
    """Find our invoice for a Stripe invoice: by its metadata, else by its Stripe id."""
    metadata = data_object.get("metadata") or {}
    try:
        invoice_id = uuid.UUID(str(metadata.get("invoice_id")))
    except ValueError:
        invoice_id = None
    stripe_id = data_object.get("id")
    # Stripe's events belong to the BPO's account: whose invoice it is is what we look up.
    with unscoped():
        if invoice_id is not None:
            invoice = db.session.get(Invoice, invoice_id)
            if invoice is not None:
                return invoice
        if stripe_id:
            return db.session.scalar(select(Invoice).where(Invoice.stripe_invoice_id == stripe_id))
    return None


def _mark_paid(invoice: Invoice, *, now: datetime) -> str:
    if invoice.status in ("paid", "void"):
        return "ignored"
    invoice.status = "paid"
    invoice.paid_at = now
    _audit(invoice, "invoice.paid")
    invoice_events.record(invoice, type="invoice.paid", at=now)
    db.session.flush()
    unpaid = db.session.scalar(
        select(func.count()).select_from(Invoice).where(Invoice.status == "payment_failed")
    )
    if not unpaid:
        account = _billing_account(invoice.tenant_id)
        account.past_due_since = None
    return "paid"


def _mark_payment_failed(invoice: Invoice, *, now: datetime) -> str:
    # A failure reported after the payment (events arrive out of order) changes nothing.
    if invoice.status in ("paid", "void"):
        return "ignored"
    invoice.status = "payment_failed"
    invoice.payment_failed_at = now
    _audit(invoice, "invoice.payment_failed")
    invoice_events.record(invoice, type="invoice.payment_failed", at=now)
    account = _billing_account(invoice.tenant_id)
    if account.past_due_since is None:
        account.past_due_since = now
    return "payment_failed"


def _audit(invoice: Invoice, action: str) -> None:
    tenants_service.record_audit(
        actor=STRIPE_ACTOR,
        action=action,
        target_type="invoice",
        target_id=invoice.id,
        tenant_id=invoice.tenant_id,
        details={"period": invoice.period, "stripe_invoice_id": invoice.stripe_invoice_id},
    )


# --- past due --------------------------------------------------------------------------------


def suspend_past_due(*, now: datetime, actor: tenants_service.Actor) -> list[Tenant]:
    """Suspend every active client firm past due for longer than its grace period; return them."""
    # Past-due accounts are found across all tenants (a BPO-wide sweep), then each firm is
    # suspended in its own scope.
    with unscoped():
        accounts = list(
            db.session.scalars(
                select(BillingAccount).where(BillingAccount.past_due_since.is_not(None))
            )
        )
    suspended = []
    for account in accounts:
        if account.past_due_since + timedelta(days=account.grace_days) > now:
            continue
        with tenant_scope(account.tenant_id):
            tenant = db.session.get(Tenant, account.tenant_id)
            if tenant is None or tenant.status != "active":
                continue
            days = (now - account.past_due_since).days
            tenants_service.suspend(
                tenant=tenant,
                reason=f"Past due for {days} days (grace {account.grace_days} days).",
                actor=actor,
            )
            suspended.append(tenant)
    return suspended
