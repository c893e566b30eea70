"""Queues (a tenant's waiting lines) and the briefings agents see when working them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, Timestamps, UUIDPrimaryKey
from tenants.scoping import TenantScoped


class Queue(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A waiting line for some of a tenant's channels, categories and languages."""

    __tablename__ = "queues"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    channels: Mapped[list[str]] = mapped_column(JSONType)  # at least one
    categories: Mapped[list[str]] = mapped_column(JSONType, default=list)  # empty: all
    languages: Mapped[list[str]] = mapped_column(JSONType, default=list)  # empty: all
    # T of the service level (SPEC section 7): answered within this many seconds counts as met.
    answer_threshold_seconds: Mapped[int] = mapped_column(default=20)
    is_active: Mapped[bool] = mapped_column(default=True)


class Briefing(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A notice from the client firm to agents (a promotion, an outage, a price change)."""

    __tablename__ = "briefings"

    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    effective_from: Mapped[datetime]
    effective_to: Mapped[datetime | None]
    # The queues it concerns; empty means all of the tenant's queues.
    queue_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_by_user_id: Mapped[uuid.UUID | None]
