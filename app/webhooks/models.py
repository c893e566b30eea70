"""Webhooks: a tenant's endpoints, the events queued for them, and every delivery attempt.
May import: app.db, app.events.catalogue (the subscribable events), tenants.scoping.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, Timestamps, UUIDPrimaryKey, str_enum, utcnow
from app.events import catalogue
from tenants.scoping import TenantScoped, tenant_foreign_key

# Every event of the domain-event catalogue, in its order: an endpoint may subscribe to any.
EVENT_TYPES: tuple[str, ...] = tuple(event.name for event in catalogue.EVENT_TYPES)
DELIVERY_STATUSES = ("pending", "delivered", "dead")


class WebhookEndpoint(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A URL of the client firm that receives signed event notifications."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    # The signing secret (app/webhooks/signing.py); kept readable because every delivery is
    # signed with it.
    secret: Mapped[str] = mapped_column(String(100))
    # The secret replaced by the last rotation, still signing deliveries (beside the new one)
    # until `previous_secret_expires_at`, so the receiver can switch without missing any.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None]
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    is_active: Mapped[bool] = mapped_column(default=True)


class WebhookDelivery(UUIDPrimaryKey, TenantScoped, Base):
    """One event for one endpoint: retried with backoff until delivered or given up (dead)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # An event reaches an endpoint once, however often it is enqueued.
        UniqueConstraint("tenant_id", "endpoint_id", "event_id"),
        tenant_foreign_key("endpoint_id", "webhook_endpoints", ondelete="CASCADE"),
        # The worker: pending deliveries that are due, across tenants.
        Index(None, "status", "next_attempt_at"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column()
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(
        str_enum(*DELIVERY_STATUSES, name="webhook_delivery_status"), default="pending"
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    # A worker that took the delivery holds it until then (it may have died: others retry).
    locked_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookAttempt(UUIDPrimaryKey, TenantScoped, Base):
    """One try at a delivery: the delivery log a client admin reads."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index(None, "tenant_id", "delivery_id", "attempted_at"),
        tenant_foreign_key("delivery_id", "webhook_deliveries", ondelete="CASCADE"),
    )

    delivery_id: Mapped[uuid.UUID] = mapped_column()
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int]
