"""Billing rules: rate cards (versioned), a usage record per handled contact, previewing and
closing (freezing) a month's invoices as `billing.rating` rates them.

A rate card is never edited: a new price list is a new version, so the version in force when
a contact was handled keeps pricing it (SPEC section 8). Services take keyword arguments,
return ORM objects (or a select to paginate) and never commit; they act on the tenant in scope.
May import: app.db, app.errors, app.reports.sla, billing (models, rating, events), tenants
(models, scoping, audit).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app import inputs
from app.db import db, utcnow
from app.errors import Conflict, Unprocessable
from app.reports import quality as quality_reports
from app.reports import sla as sla_reports
from billing import events as invoice_events
from billing import rating
from billing.models import (
    BillingAccount,
    Invoice,
    InvoiceLine,
    OutboxMessage,
    RateCard,
    UsageRecord,
)
from tenants.models import Tenant
from tenants.scoping import tenant_scope, unscoped
from tenants.service import Actor, record_audit

PUSH_INVOICE = "stripe.push_invoice"


def default_rate_card_in(*, tenant: Tenant) -> dict:
    """Return the placeholder rate card a new client firm gets: nothing is charged.

    Zero prices, no tiers, no minimum, no SLA credits. It only makes the firm's price list
    visible and editable: the BPO must price it (PUT a new version) before billing the firm.
    """
    return {
        "currency": tenant.currency,
        "default_unit_amount": 0,
        "prices": [],
        "tier_mode": "graduated",
        "tiers": [],
        "monthly_minimum": 0,
        "sla_credits": {"total_cap_bps": 0, "kpis": []},
        "campaign_prices": [],
    }


def rate_card_in_force(*, at: datetime | None = None) -> RateCard | None:
    """Return the version in force at `at` (default now): the latest that took effect by then."""
    return db.session.scalar(
        select(RateCard)
        .where(RateCard.effective_from <= (at or utcnow()))
        .order_by(RateCard.effective_from.desc())
        .limit(1)
    )


def list_rate_cards() -> Select:
    """Select every version of the rate card in scope, latest effective first."""
    return select(RateCard).order_by(RateCard.effective_from.desc(), RateCard.id)


def lock_rate_cards(*, tenant: Tenant) -> None:
    """Serialise changes to one tenant's rate card until the transaction ends.

    Two admins adding a version at once would both find the same version in force; holding
    the tenant's row makes the second wait and then see the first's version.
    """
    db.session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())


def create_rate_card(*, rate_card_in: dict, tenant: Tenant, actor: Actor) -> RateCard:
    """Add a version of the tenant's rate card, effective from `effective_from` (default now)."""
    lock_rate_cards(tenant=tenant)
    now = utcnow()
    # In UTC, so the version created answers exactly what a later read of it does.
    effective_from = (rate_card_in.get("effective_from") or now).astimezone(UTC)
    currency = rate_card_in.get("currency") or tenant.currency
    errors: dict[str, list[str]] = {}
    if currency != tenant.currency:
        errors["currency"] = [f"Must be the client firm's currency, {tenant.currency}."]
    in_force = rate_card_in_force(at=now)
    if in_force is not None and effective_from <= in_force.effective_from:
        errors["effective_from"] = [
            "Must be after the version in force, effective from "
            f"{in_force.effective_from.isoformat()}."
        ]
    if errors:
        raise Unprocessable(f"Invalid input: {', '.join(sorted(errors))}.", errors={"json": errors})
    if db.session.scalar(select(RateCard.id).where(RateCard.effective_from == effective_from)):
        raise Conflict(
            f"A version effective from {effective_from.isoformat()} already exists; "
            "choose another instant."
        )
    rate_card = RateCard(
        effective_from=effective_from,
        currency=currency,
        default_unit_amount=rate_card_in["default_unit_amount"],
        prices=[dict(price) for price in rate_card_in.get("prices", [])],
        tier_mode=rate_card_in.get("tier_mode", "graduated"),
        tiers=[dict(tier) for tier in rate_card_in.get("tiers", [])],
        monthly_minimum=rate_card_in.get("monthly_minimum", 0),
        sla_credits=dict(rate_card_in.get("sla_credits") or {"total_cap_bps": 0, "kpis": []}),
        campaign_prices=[
            {
                **entry,
                "campaign_id": str(entry["campaign_id"]) if entry.get("campaign_id") else None,
            }
            for entry in rate_card_in.get("campaign_prices", [])
        ],
    )
    db.session.add(rate_card)
    db.session.flush()
    record_audit(
        actor=actor,
        action="rate_card.version_created",
        target_type="rate_card",
        target_id=rate_card.id,
        tenant_id=tenant.id,
        details={
            "effective_from": rate_card.effective_from.isoformat(),
            "currency": rate_card.currency,
            "default_unit_amount": rate_card.default_unit_amount,
        },
    )
    return rate_card


# --- periods ---------------------------------------------------------------------------------

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_period(period: str, *, location: str = "path") -> tuple[int, int]:
    """Return (year, month) of a `YYYY-MM` period; raise Unprocessable for anything else."""
    match = _PERIOD.match(period or "")
    if match is None:
        message = "Use a month as YYYY-MM, such as 2027-01."
        raise Unprocessable(
            f"Invalid period {period!r}. {message}",
            errors={location: {"period": [message]}},
        )
    year, month = int(match.group(1)), int(match.group(2))
    # The window of app.inputs: a month from 2000-01 to ten years ahead (beyond, its bounds
    # overflow; before, nothing was billed).
    outside = inputs.check_value(None, date(year, month, 1))
    if outside:
        raise Unprocessable(
            f"Invalid period {period!r}. {outside[0]}", errors={location: {"period": outside}}
        )
    return year, month


def period_bounds(*, period: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the local month [first midnight, next month's first midnight) as UTC instants."""
    year, month = parse_period(period)
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(*following, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def period_of(*, at: datetime, zone: ZoneInfo) -> str:
    """Return the `YYYY-MM` month `at` falls in, in `zone`."""
    return at.astimezone(zone).strftime("%Y-%m")


def _zone(tenant: Tenant) -> ZoneInfo:
    return ZoneInfo(tenant.time_zone)


# --- usage -----------------------------------------------------------------------------------


def unit_price(*, rate_card: RateCard, channel: str, category: str, direction: str) -> int:
    """Return the list price of one handled contact: the most specific matching price, else
    the default.

    A price matches when each of its named fields equals the contact's. More named fields is
    more specific; between equally specific prices, channel outranks category outranks
    direction (so {voice} beats {inbound} for an inbound call).
    """
    contact = {"channel": channel, "category": category, "direction": direction}
    best: tuple | None = None
    amount = rate_card.default_unit_amount
    for price in rate_card.prices:
        named = [key for key in ("channel", "category", "direction") if price.get(key)]
        if any(price[key] != contact[key] for key in named):
            continue
        rank = (len(named), *(bool(price.get(k)) for k in ("channel", "category", "direction")))
        if best is None or rank > best:
            best, amount = rank, price["unit_amount"]
    return amount


def record_usage(*, contact, at: datetime) -> UsageRecord | None:
    """Bill a contact that has just become handled, once; None when it is not billable.

    Handled (SPEC section 5/8): answered (voice, chat) or responded to (async), and resolved.
    Unique per contact: a contact resolved again after reopening is not billed again; the
    unique key settles two transactions racing for the same contact (the loser writes nothing).
    A firm with no rate card in force is not billed (onboarding always gives one). A campaign's
    attempt is billed by its disposition instead (record_attempt_usage).
    """
    if contact.campaign_id is not None:
        return None
    if contact.answered_at is None and contact.first_response_at is None:
        return None
    if db.session.scalar(select(UsageRecord.id).where(UsageRecord.contact_id == contact.id)):
        return None
    rate_card = rate_card_in_force(at=at)
    if rate_card is None:
        return None
    return _bill(
        contact=contact, at=at, rate_card=rate_card, amount=_list_price(rate_card, contact)
    )


def campaign_terms(*, rate_card: RateCard, campaign_id: uuid.UUID) -> dict | None:
    """The rate card's entry for a campaign: its own, else the one for every campaign."""
    entries = rate_card.campaign_prices or []
    own = [e for e in entries if e.get("campaign_id") == str(campaign_id)]
    return (own or [e for e in entries if not e.get("campaign_id")] or [None])[0]


def record_attempt_usage(*, contact, first_reach: bool, at: datetime) -> UsageRecord | None:
    """Bill a campaign's attempt as its disposition ends it, by the rate card's terms for the
    campaign: per attempt (every one), per reached customer (the attempt that first reached
    the record: `first_reach`), or, with no terms, as any contact (answered and resolved).
    Once per contact, as record_usage."""
    rate_card = rate_card_in_force(at=at)
    if rate_card is None:
        return None
    terms = campaign_terms(rate_card=rate_card, campaign_id=contact.campaign_id)
    if terms is None:
        handled = contact.resolved_at is not None and (
            contact.answered_at is not None or contact.first_response_at is not None
        )
        billable, amount = handled, _list_price(rate_card, contact)
    else:
        billable = terms["basis"] == "attempt" or first_reach
        amount = terms["unit_amount"]
    if not billable:
        return None
    return _bill(contact=contact, at=at, rate_card=rate_card, amount=amount)


def _list_price(rate_card: RateCard, contact) -> int:
    return unit_price(
        rate_card=rate_card,
        channel=contact.channel,
        category=contact.category,
        direction=contact.direction,
    )


def _bill(*, contact, at: datetime, rate_card: RateCard, amount: int) -> UsageRecord | None:
    tenant = db.session.get(Tenant, contact.tenant_id)
    values = {
        "id": uuid.uuid4(),
        "tenant_id": contact.tenant_id,
        "contact_id": contact.id,
        "period": period_of(at=at, zone=_zone(tenant)),
        "handled_at": at,
        "channel": contact.channel,
        "category": contact.category,
        "direction": contact.direction,
        "rate_card_id": rate_card.id,
        "currency": rate_card.currency,
        "unit_amount": amount,
        "status": "billable",
        "created_at": utcnow(),
    }
    inserted = db.session.scalar(
        pg_insert(UsageRecord)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "contact_id"])
        .returning(UsageRecord.id)
    )
    return db.session.get(UsageRecord, inserted) if inserted else None


def get_usage(*, usage_id: uuid.UUID) -> UsageRecord | None:
    """Return one usage record of the tenant in scope."""
    return db.session.scalar(select(UsageRecord).where(UsageRecord.id == usage_id))


def list_usage(*, period: str) -> Select:
    """Select the usage records of a month in scope (voided ones too), in handled order."""
    parse_period(period, location="query")
    return (
        select(UsageRecord)
        .where(UsageRecord.period == period)
        .order_by(UsageRecord.handled_at, UsageRecord.id)
    )


def void_usage(*, usage: UsageRecord, reason: str, actor: Actor) -> UsageRecord:
    """Void a usage record (the contact was not really handled), with an audit trail.

    Refused (409) once the record's month is closed: a frozen invoice never changes.
    """
    tenant = db.session.get(Tenant, usage.tenant_id)
    _lock_tenant(tenant)
    if usage.status == "voided":
        raise Conflict(f"Usage record {usage.id} is already voided.")
    if _invoice_of(usage.period) is not None:
        raise Conflict(
            f"The invoice for {usage.period} is already closed; its usage can no longer be "
            "voided. Settle it with the client firm by a credit on a later invoice."
        )
    usage.status = "voided"
    usage.voided_at = utcnow()
    usage.void_reason = reason
    usage.voided_by_user_id = actor.user_id
    db.session.flush()
    record_audit(
        actor=actor,
        action="usage.voided",
        target_type="usage_record",
        target_id=usage.id,
        tenant_id=usage.tenant_id,
        details={
            "contact_id": str(usage.contact_id),
            "period": usage.period,
            "unit_amount": usage.unit_amount,
            "reason": reason,
        },
    )
    return usage


# --- invoices --------------------------------------------------------------------------------


def terms_for(*, period_end: datetime) -> RateCard | None:
    """Return the rate card whose month-wide terms (tiers, minimum, credits) bill a month: the
    version in force at the month's end (its last instant). Per-contact prices are already on
    the usage records."""
    return db.session.scalar(
        select(RateCard)
        .where(RateCard.effective_from < period_end)
        .order_by(RateCard.effective_from.desc())
        .limit(1)
    )


def preview_invoice(*, tenant: Tenant, period: str, now: datetime | None = None) -> dict:
    """Rate the month of the tenant in scope as it stands now, without storing anything."""
    start, end = period_bounds(period=period, zone=_zone(tenant))
    rate_card = terms_for(period_end=end)
    tiers = rate_card.tiers if rate_card else []
    sla_credits = rate_card.sla_credits if rate_card else {}
    actuals: dict[str, int | None] = {}
    if sla_credits.get("kpis"):
        report = sla_reports.sla_report(
            tenant=tenant, from_=start, to=end, granularity="month", now=now
        )
        actuals = rating.kpi_actuals(report["totals"])
        actuals["quality"] = quality_reports.average_score_bps(from_=start, to=end)
    rated = rating.rate_groups(
        groups=_usage_groups(period=period, tiers=tiers),
        tier_mode=rate_card.tier_mode if rate_card else "graduated",
        tiers=tiers,
        monthly_minimum=rate_card.monthly_minimum if rate_card else 0,
        sla_credits=sla_credits,
        actuals=actuals,
    )
    rated["sla_figures"]["rate_card_id"] = str(rate_card.id) if rate_card else None
    return {
        "id": None,
        "tenant_id": tenant.id,
        "period": period,
        "status": "preview",
        "currency": tenant.currency,
        "closed_at": None,
        **rated,
    }


def _usage_groups(*, period: str, tiers: list[dict]) -> Counter:
    """The month's billable usage of the tenant in scope counted as `rating.group_usage`
    counts it, by the database: a month's handful of groups cross the wire, not its rows."""
    limits, beyond = rating.graduated_band_limits(tiers)
    numbered = (
        select(
            UsageRecord.channel,
            UsageRecord.category,
            UsageRecord.direction,
            UsageRecord.unit_amount,
            # The n-th contact handled, for graduated tiers.
            func.row_number().over(order_by=(UsageRecord.handled_at, UsageRecord.id)).label("n"),
        )
        .where(UsageRecord.period == period, UsageRecord.status == "billable")
        .subquery()
    )
    keys = [numbered.c.channel, numbered.c.category, numbered.c.direction, numbered.c.unit_amount]
    if not limits:  # one band for all: nothing to number
        rows = db.session.execute(select(*keys, func.count()).group_by(*keys))
        return Counter({(beyond, *key): quantity for *key, quantity in rows})
    bands = ((numbered.c.n <= limit, index) for index, limit in enumerate(limits))
    keys.insert(0, case(*bands, else_=beyond).label("band"))
    rows = db.session.execute(select(*keys, func.count()).group_by(*keys))
    return Counter({tuple(key): quantity for *key, quantity in rows})


def get_invoice(*, invoice_id: uuid.UUID) -> Invoice | None:
    """Return one invoice of the tenant in scope."""
    return db.session.scalar(select(Invoice).where(Invoice.id == invoice_id))


def list_invoices(*, period: str | None = None, status: str | None = None) -> Select:
    """Select the invoices in scope, latest month first (optionally one month's, one status)."""
    stmt = select(Invoice).order_by(Invoice.period.desc(), Invoice.tenant_id, Invoice.id)
    if period is not None:
        stmt = stmt.where(Invoice.period == period)
    if status is not None:
        stmt = stmt.where(Invoice.status == status)
    return stmt


def list_outbox() -> Select:
    """Select the Stripe pushes in scope not yet sent (pending, retrying or dead) with their
    invoices, oldest first: what the console's outbox shows."""
    return (
        select(OutboxMessage, Invoice)
        .join(Invoice, Invoice.id == OutboxMessage.invoice_id)
        .where(OutboxMessage.kind == PUSH_INVOICE, OutboxMessage.status != "sent")
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    )


def invoice_lines(*, invoice: Invoice) -> list[InvoiceLine]:
    """Return an invoice's lines in order."""
    return list(
        db.session.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(InvoiceLine.position)
        )
    )


def _invoice_of(period: str) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(Invoice.period == period))


def _lock_tenant(tenant: Tenant) -> None:
    # Closing a month, and voiding its usage, hold the tenant's row: the two never interleave,
    # and two closes of the same month run one after the other.
    db.session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())


def close_tenant_period(
    *, tenant: Tenant, period: str, actor: Actor, now: datetime | None = None
) -> tuple[Invoice, bool]:
    """Freeze the tenant in scope's invoice for a month and queue it for Stripe, once.

    Returns (invoice, closed_now); a month already closed is returned unchanged.
    """
    now = now or utcnow()
    _lock_tenant(tenant)
    existing = _invoice_of(period)
    if existing is not None:
        return existing, False
    rated = preview_invoice(tenant=tenant, period=period, now=now)
    invoice = Invoice(
        period=period,
        status="closed",
        currency=tenant.currency,
        usage_count=rated["usage_count"],
        subtotal=rated["subtotal"],
        minimum_topup=rated["minimum_topup"],
        credit_amount=rated["credit_amount"],
        total=rated["total"],
        sla_figures=rated["sla_figures"],
        closed_at=now,
    )
    db.session.add(invoice)
    db.session.flush()
    for line in rated["lines"]:
        db.session.add(InvoiceLine(invoice_id=invoice.id, **line))
    db.session.add(
        OutboxMessage(
            kind=PUSH_INVOICE, invoice_id=invoice.id, status="pending", next_attempt_at=now
        )
    )
    if db.session.scalar(select(BillingAccount.id)) is None:
        db.session.add(BillingAccount())
    db.session.flush()
    record_audit(
        actor=actor,
        action="invoice.closed",
        target_type="invoice",
        target_id=invoice.id,
        tenant_id=tenant.id,
        details={"period": period, "usage_count": invoice.usage_count, "total": invoice.total},
    )
    invoice_events.record(invoice, type="invoice.closed", at=now)
    return invoice, True


def close_billing_period(*, period: str, actor: Actor, now: datetime | None = None) -> dict:
    """Freeze every active client firm's invoice for a month; closing twice changes nothing.

    Refused (409) while the month has not ended in the time zone of every active firm, so a
    month is closed for all firms at once or not at all; 422 for a malformed period.
    """
    parse_period(period)
    now = now or utcnow()
    # Closing a month is the BPO's job across every client firm: which firms there are is read
    # before any one firm's scope; each firm's invoice is then written in its own scope.
    with unscoped():
        tenants = db.session.scalars(
            select(Tenant).where(Tenant.status == "active").order_by(Tenant.slug)
        ).all()
    running = [t.slug for t in tenants if period_bounds(period=period, zone=_zone(t))[1] > now]
    if running:
        raise Conflict(
            f"The month {period} has not ended yet in the time zone of {len(running)} client "
            f"firm(s) ({', '.join(running[:5])}); close it once it has ended everywhere."
        )
    results = []
    for tenant in tenants:
        with tenant_scope(tenant.id):
            invoice, closed_now = close_tenant_period(
                tenant=tenant, period=period, actor=actor, now=now
            )
            results.append(
                {
                    "tenant_id": tenant.id,
                    "invoice_id": invoice.id,
                    "result": "closed" if closed_now else "already_closed",
                    "total": invoice.total,
                    "currency": invoice.currency,
                }
            )
    closed = sum(r["result"] == "closed" for r in results)
    # The BPO's own entry (no tenant), so a close that found nothing to do is on record too.
    with unscoped():
        record_audit(
            actor=actor,
            action="billing_period.closed",
            target_type="billing_period",
            target_id=period,
            details={"closed": closed, "tenants": len(results)},
        )
    return {
        "period": period,
        "closed": closed,
        "already_closed": sum(r["result"] == "already_closed" for r in results),
        "tenants": results,
    }
