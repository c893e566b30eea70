"""The reports' daily roll-ups: each firm's contacts summed per local day, kept current.

A firm's SLA report over a month of a million contacts cannot scan them on every page view.
These tables hold, per firm and local day of receipt, what the report sums (counts, seconds,
clock outcomes, the business seconds the stopped clocks took, and the day each contact left
the backlog), so a report reads a few rows per day. They are derived data: `app.reports.rollups`
recomputes a day from the contacts whenever something in it changes (`ReportMark`), and
rebuilds a firm whose report settings changed. Nothing here is ever the only copy of a fact.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UUIDPrimaryKey, str_enum
from app.sla.models import CLOCK_KINDS
from app.vocabulary import CHANNELS
from tenants.scoping import TenantScoped


class ReportDay(UUIDPrimaryKey, TenantScoped, Base):
    """The contacts of one channel and queue a firm received on one local day: what the report
    sums. Per queue as well as per channel: a firm's SLA is most often read by queue (the
    report's queue filter and grouping), and its queues rarely share a channel, so the queue
    adds few rows (migration 0039)."""

    __tablename__ = "report_days"
    __table_args__ = (UniqueConstraint("tenant_id", "day", "channel", "queue_id"),)

    day: Mapped[date]
    channel: Mapped[str] = mapped_column(str_enum(*CHANNELS, name="report_day_channel"))
    # The queue the contacts are in now (a transfer marks the day, which is summed again).
    queue_id: Mapped[uuid.UUID]
    received: Mapped[int] = mapped_column(default=0)
    offered: Mapped[int] = mapped_column(default=0)
    handled: Mapped[int] = mapped_column(default=0)
    answered: Mapped[int] = mapped_column(default=0)
    answered_within: Mapped[int] = mapped_column(default=0)
    abandoned: Mapped[int] = mapped_column(default=0)
    short_abandoned: Mapped[int] = mapped_column(default=0)
    abandoned_within: Mapped[int] = mapped_column(default=0)
    rated: Mapped[int] = mapped_column(default=0)
    satisfied: Mapped[int] = mapped_column(default=0)
    first_contacts: Mapped[int] = mapped_column(default=0)
    handled_first_contacts: Mapped[int] = mapped_column(default=0)
    resolved_first_time: Mapped[int] = mapped_column(default=0)
    # Seconds from receipt to answer, to the microsecond, summed exactly.
    answer_wait: Mapped[Decimal] = mapped_column(Numeric(20, 6), default=0)
    handle: Mapped[int] = mapped_column(BigInteger, default=0)
    first_response_measured: Mapped[int] = mapped_column(default=0)
    first_response_within: Mapped[int] = mapped_column(default=0)
    first_response_breaches: Mapped[int] = mapped_column(default=0)
    resolution_measured: Mapped[int] = mapped_column(default=0)
    resolution_within: Mapped[int] = mapped_column(default=0)
    resolution_breaches: Mapped[int] = mapped_column(default=0)


class ReportDuration(UUIDPrimaryKey, TenantScoped, Base):
    """How the stopped clocks of one kind, of contacts of one channel and queue received on one
    local day, spread over business seconds (kept to three significant figures): the
    distribution percentiles come from, for the firm, a channel or a queue. `distribution`
    lists [seconds, clocks] pairs, ascending. One row per day, channel, queue and kind: a row
    per value came to about one per clock (250,000 a year for a firm of 550 contacts a day),
    and writing them was most of the worker's roll-up of a firm (migration 0038)."""

    __tablename__ = "report_durations"
    __table_args__ = (UniqueConstraint("tenant_id", "day", "channel", "queue_id", "kind"),)

    day: Mapped[date]
    channel: Mapped[str] = mapped_column(str_enum(*CHANNELS, name="report_duration_channel"))
    queue_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(str_enum(*CLOCK_KINDS, name="report_duration_kind"))
    distribution: Mapped[list[list[int]]] = mapped_column(JSONType)


class ReportDeparture(UUIDPrimaryKey, TenantScoped, Base):
    """How many contacts of one channel and queue received on one local day left the backlog
    on another: the backlog at any midnight is what was received before it less what left
    before it."""

    __tablename__ = "report_departures"
    __table_args__ = (UniqueConstraint("tenant_id", "day", "channel", "queue_id", "done_day"),)

    day: Mapped[date]
    channel: Mapped[str] = mapped_column(str_enum(*CHANNELS, name="report_departure_channel"))
    queue_id: Mapped[uuid.UUID]
    done_day: Mapped[date]
    contacts: Mapped[int]


class ReportAgentDay(UUIDPrimaryKey, TenantScoped, Base):
    """What the agents' contacts received on one local day and finished (resolved, else closed)
    on another did: the agents report sums them by the day they finished. `work` maps each
    agent's id to its [handled, handle seconds, CSAT responses, satisfied]. One row per pair of
    days: a row per agent as well came to about 47,000 a year for a firm of 550 contacts a
    day, the biggest write of a firm's roll-up (migration 0040)."""

    __tablename__ = "report_agent_days"
    __table_args__ = (
        UniqueConstraint("tenant_id", "day", "finished_day"),
        Index(None, "tenant_id", "finished_day"),
    )

    day: Mapped[date]
    finished_day: Mapped[date]
    work: Mapped[dict[str, list[int]]] = mapped_column(JSONType)


class ReportMark(UUIDPrimaryKey, TenantScoped, Base):
    """An hour (UTC) in which contacts were received whose figures changed since their day was
    last rolled up. Append-only: a writer never waits on another writer's mark, and the
    refresh deletes exactly the marks it read, so a change it could not see keeps its own."""

    __tablename__ = "report_marks"
    __table_args__ = (Index(None, "tenant_id", "hour"),)

    hour: Mapped[datetime]


class ReportRollup(UUIDPrimaryKey, TenantScoped, Base):
    """That a firm's days are rolled up, and under which settings: a report uses the roll-ups
    only when `fingerprint` is still that of the firm's zone and report settings."""

    __tablename__ = "report_rollups"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    fingerprint: Mapped[str] = mapped_column(String(64))
    built_at: Mapped[datetime]
