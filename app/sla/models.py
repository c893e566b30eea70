"""SLA configuration: each tenant's business calendar (versioned) and SLA policies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, Timestamps, UUIDPrimaryKey, str_enum, utcnow
from tenants.scoping import TenantScoped

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
