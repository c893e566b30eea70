"""Domain events: the append-only log of what happened in each tenant, and how far each
consumer has read it (app/events/service.py explains the reading order)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, FetchedValue, Identity, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UUIDPrimaryKey, utcnow
from tenants.scoping import TenantScoped


class DomainEvent(UUIDPrimaryKey, TenantScoped, Base):
    """One thing that happened in a tenant (`contact.assigned`, `sla.breached`, ...), written
    in the transaction that made it happen. Never changed, never deleted but with its tenant."""

    __tablename__ = "domain_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq"),
        # Consumers read the log of every tenant in (tx, seq) order.
        Index(None, "tx", "seq"),
    )

    # Taken at insert, so unique and increasing, but not in commit order on PostgreSQL: a slow
    # transaction may commit a smaller seq after a faster one's larger. SQLite has no
    # identity columns: the service numbers its rows (one writer at a time there).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    # The writing transaction's id on PostgreSQL (its server default); 0 on SQLite.
    tx: Mapped[int] = mapped_column(BigInteger, server_default=FetchedValue())
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Ids, states and times (app/events/catalogue.py): never the end customer's personal data.
    payload: Mapped[dict] = mapped_column(JSONType)


class EventConsumer(Base):
    """Where one consumer of the log stands: the last (tx, seq) it handled, across tenants."""

    __tablename__ = "event_consumers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tx: Mapped[int] = mapped_column(BigInteger, default=0)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
