"""Billing: rate cards (versioned), usage per handled contact, invoices, the Stripe outbox."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, Timestamps, UUIDPrimaryKey, str_enum, utcnow
from tenants.scoping import TenantScoped, tenant_foreign_key

TIER_MODES = ("graduated", "volume")
# Per attempt: every attempt of the campaign, reached or not; per reached customer: the attempt
# that first reached each record, once.
CAMPAIGN_BASES = ("attempt", "reached")
# quality: the month's average score of current quality reviews (app/reports/quality.py).
CREDITED_KPIS = ("service_level", "first_response", "resolution", "abandonment", "quality")


class RateCard(UUIDPrimaryKey, TenantScoped, Base):
    """Prices per handled contact (SPEC section 8). Amounts are integer minor units of
    `currency`; shares are integer basis points (10000 = 100 %). Never edited: a new price
    list is a new version."""

    __tablename__ = "rate_cards"
    __table_args__ = (UniqueConstraint("tenant_id", "effective_from"),)

    effective_from: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3))
    # Price of a handled contact no specific price matches.
    default_unit_amount: Mapped[int]
    # [{"channel": "voice"|null, "category": ...|null, "direction": "inbound"|...|null,
    #   "unit_amount": 250}]; the most specific match wins.
    prices: Mapped[list[dict]] = mapped_column(JSONType, default=list)
    tier_mode: Mapped[str] = mapped_column(
        str_enum(*TIER_MODES, name="tier_mode"), default="graduated"
    )
    # [{"up_to": 1000, "discount_bps": 0}, {"up_to": null, "discount_bps": 1000}] over the
    # month's count of handled contacts; the last band has no upper bound.
    tiers: Mapped[list[dict]] = mapped_column(JSONType, default=list)
    monthly_minimum: Mapped[int] = mapped_column(default=0)
    # {"total_cap_bps": 1500, "kpis": [{"kpi": "service_level", "target_bps": 8000,
    #   "credit_bps_per_point": 100, "cap_bps": 1000}]}
    sla_credits: Mapped[dict] = mapped_column(JSONType, default=dict)
    # How outbound campaigns' attempts are billed: [{"campaign_id": "<uuid>"|null, "basis":
    # "attempt"|"reached", "unit_amount": 90}]; a campaign's own entry beats the null one. An
    # attempt no entry matches is billed as any contact (handled: answered and resolved).
    campaign_prices: Mapped[list[dict]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


USAGE_STATUSES = ("billable", "voided")
INVOICE_STATUSES = ("closed", "finalized", "paid", "payment_failed", "void")
LINE_KINDS = ("usage", "minimum_topup", "sla_credit")
OUTBOX_STATUSES = ("pending", "sent", "dead")


class BillingAccount(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A tenant's billing identity: its Stripe customer and how long it may stay past due."""

    __tablename__ = "billing_accounts"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    stripe_customer_id: Mapped[str | None] = mapped_column(String(64))
    grace_days: Mapped[int] = mapped_column(default=15)
    # Set when an invoice's payment fails, cleared when the tenant has nothing unpaid.
    past_due_since: Mapped[datetime | None]


class UsageRecord(UUIDPrimaryKey, TenantScoped, Base):
    """One handled contact, priced by the rate card in force when it was handled. Written in
    the transaction that made the contact handled; unique per contact, so reopening and
    resolving again never bills twice."""

    __tablename__ = "usage_records"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contact_id"),
        tenant_foreign_key("contact_id", "contacts", ondelete="CASCADE"),
        tenant_foreign_key("rate_card_id", "rate_cards"),
        Index(None, "tenant_id", "period", "status"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column()
    # YYYY-MM of handled_at in the tenant's time zone: the month that bills it.
    period: Mapped[str] = mapped_column(String(7))
    handled_at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(32))
    rate_card_id: Mapped[uuid.UUID] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3))
    unit_amount: Mapped[int]  # list price in minor units, before tier discounts
    status: Mapped[str] = mapped_column(
        str_enum(*USAGE_STATUSES, name="usage_status"), default="billable"
    )
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(Text)
    voided_by_user_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invoice(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A tenant's bill for one month, frozen when the period is closed."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("tenant_id", "period"),)

    period: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(
        str_enum(*INVOICE_STATUSES, name="invoice_status"), default="closed"
    )
    currency: Mapped[str] = mapped_column(String(3))
    usage_count: Mapped[int] = mapped_column(default=0)
    subtotal: Mapped[int] = mapped_column(default=0)  # usage after tier discounts
    minimum_topup: Mapped[int] = mapped_column(default=0)
    credit_amount: Mapped[int] = mapped_column(default=0)  # SLA credits, a positive amount off
    total: Mapped[int] = mapped_column(default=0)
    # The month's KPI figures the credits came from, and the terms applied.
    sla_figures: Mapped[dict] = mapped_column(JSONType, default=dict)
    closed_at: Mapped[datetime]
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(64))
    finalized_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    payment_failed_at: Mapped[datetime | None]


class InvoiceLine(UUIDPrimaryKey, TenantScoped, Base):
    """One line of an invoice: usage per channel, category, direction and tier; the minimum
    top-up; or the SLA credit (a negative amount)."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        UniqueConstraint("tenant_id", "invoice_id", "position"),
        tenant_foreign_key("invoice_id", "invoices", ondelete="CASCADE"),
    )

    invoice_id: Mapped[uuid.UUID] = mapped_column()
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(str_enum(*LINE_KINDS, name="invoice_line_kind"))
    description: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32))
    direction: Mapped[str | None] = mapped_column(String(32))
    tier: Mapped[int | None]  # 1-based band of the rate card's tiers
    quantity: Mapped[int] = mapped_column(default=1)
    unit_amount: Mapped[int] = mapped_column(default=0)
    amount: Mapped[int]
    stripe_invoice_item_id: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(UUIDPrimaryKey, TenantScoped, Base):
    """Work for Stripe, written in the transaction that closed the invoice and pushed by the
    worker; every Stripe call carries an idempotency key derived from these records."""

    __tablename__ = "billing_outbox"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "invoice_id"),
        tenant_foreign_key("invoice_id", "invoices", ondelete="CASCADE"),
        Index(None, "status", "next_attempt_at"),
    )

    kind: Mapped[str] = mapped_column(String(64))  # "stripe.push_invoice"
    invoice_id: Mapped[uuid.UUID] = mapped_column()
    status: Mapped[str] = mapped_column(
        str_enum(*OUTBOX_STATUSES, name="outbox_status"), default="pending"
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class StripeEvent(UUIDPrimaryKey, Base):
    """A Stripe webhook event already processed: each event id is acted on once. Stripe's
    events belong to the BPO's account, not to a tenant."""

    __tablename__ = "stripe_events"
    __table_args__ = (UniqueConstraint("event_id"),)

    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(100))
    invoice_id: Mapped[uuid.UUID | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
