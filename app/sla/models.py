"""SLA: each tenant's business calendar (versioned), its SLA policies, and each contact's clocks."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, Timestamps, UUIDPrimaryKey, str_enum, utcnow
from tenants.scoping import TenantScoped, tenant_foreign_key

ABANDON_TREATMENTS = ("exclude_short", "ignore", "count_within_threshold_as_met")


class BusinessCalendar(UUIDPrimaryKey, TenantScoped, Base):
    """One version of a tenant's opening hours, in force from `effective_from` on.

    Versions are never edited: a change adds a version, so time already counted keeps the
    calendar that was in force when it happened.
    """

    __tablename__ = "business_calendars"
    __table_args__ = (UniqueConstraint("tenant_id", "effective_from"),)

    effective_from: Mapped[datetime]
    time_zone: Mapped[str] = mapped_column(String(64))
    # {"mon": [{"start": "09:00", "end": "14:00"}, ...], ...}; an end at or before its start
    # runs past midnight into the next day.
    weekly_hours: Mapped[dict] = mapped_column(JSONType)
    holiday_country: Mapped[str | None] = mapped_column(String(2))
    holiday_subdivision: Mapped[str | None] = mapped_column(String(10))
    # The tenant's own closure dates, ISO yyyy-mm-dd, local to `time_zone`.
    closures: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaPolicy(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A tenant's contractual targets (SPEC section 7), per priority, channel and category."""

    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(default=False)
    # [{"priority": "high", "channel": null, "category": null, "first_response_seconds": 3600,
    #   "answer_threshold_seconds": 20, "resolution_seconds": 86400}, ...]
    targets: Mapped[list[dict]] = mapped_column(JSONType, default=list)
    # Share of contacts answered within the threshold that the contract promises, in basis points.
    service_level_target_bps: Mapped[int] = mapped_column(default=8000)
    pause_on_escalated: Mapped[bool] = mapped_column(default=False)
    # A clock is at risk once this share of its target has elapsed, in basis points.
    at_risk_bps: Mapped[int] = mapped_column(default=8000)
    abandon_treatment: Mapped[str] = mapped_column(
        str_enum(*ABANDON_TREATMENTS, name="abandon_treatment"), default="exclude_short"
    )
    short_abandon_seconds: Mapped[int] = mapped_column(default=5)
    fcr_window_days: Mapped[int] = mapped_column(default=7)
    # The contract's other headline targets; None: the contract sets none (app/reports/targets.py).
    asa_target_seconds: Mapped[int | None]
    aht_target_seconds: Mapped[int | None]
    abandonment_target_bps: Mapped[int | None]  # at most
    fcr_target_bps: Mapped[int | None]  # at least
    csat_target_bps: Mapped[int | None]  # at least
    # The month's average score of current quality reviews, at least (app/reports/quality.py).
    quality_target_bps: Mapped[int | None]


CLOCK_KINDS = ("first_response", "resolution")
# ok -> at_risk -> breached while running; met when stopped in time; cancelled when the contact
# was abandoned before the clock could stop.
CLOCK_STATES = ("ok", "at_risk", "breached", "met", "cancelled")


class SlaClock(UUIDPrimaryKey, TenantScoped, Base):
    """One SLA clock of one contact: its target, and how much business time it has used.

    The clock counts business seconds on the tenant's calendar timeline while it runs; it
    pauses (waiting on the customer, escalated where the policy says so) and stops when its
    goal is reached. `elapsed_seconds` and `paused_seconds` hold what was counted up to the
    last change; the running part since `running_since` (or `paused_since`) is added on read.
    """

    __tablename__ = "sla_clocks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contact_id", "kind"),
        tenant_foreign_key("contact_id", "contacts", ondelete="CASCADE"),
        tenant_foreign_key("policy_id", "sla_policies"),
        # The scan: running clocks past their at-risk or due instant, across tenants.
        Index(None, "state", "due_at"),
        Index(None, "state", "at_risk_at"),
        # The breaches list: a firm's breached clocks, latest first.
        Index(
            None,
            "tenant_id",
            "breached_at",
            postgresql_where=text("breached_at IS NOT NULL"),
            sqlite_where=text("breached_at IS NOT NULL"),
        ),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(str_enum(*CLOCK_KINDS, name="sla_clock_kind"))
    policy_id: Mapped[uuid.UUID | None] = mapped_column()
    target_seconds: Mapped[int]  # business seconds
    started_at: Mapped[datetime]
    elapsed_seconds: Mapped[int] = mapped_column(default=0)
    running_since: Mapped[datetime | None]
    paused_seconds: Mapped[int] = mapped_column(default=0)
    paused_since: Mapped[datetime | None]
    # While running: when it will be at risk and when it will breach; None otherwise.
    at_risk_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(
        str_enum(*CLOCK_STATES, name="sla_clock_state"), default="ok"
    )
