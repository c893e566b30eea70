"""Agents: BPO staff who work contacts, the client queues they serve, and where their time went."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, JSONType, Timestamps, UUIDPrimaryKey, str_enum, utcnow
from tenants.models import User
from tenants.scoping import TenantScoped, tenant_foreign_key

PRESENCES = ("available", "busy", "break", "offline", "after_contact_work")
# Presences whose time is work attributed to client firms (after-contact work to the one firm
# whose contact is being wrapped up; the others to the firms of the active queues).
WORKING_PRESENCES = ("available", "busy", "after_contact_work")
# What an agent may set by hand: after-contact work follows a resolve, never a click.
SETTABLE_PRESENCES = ("available", "busy", "break", "offline")
AGENT_EVENT_KINDS = ("presence", "active_queues", "assignments")


# Contacts of a channel an agent holds at once when its profile names no figure for it.
DEFAULT_CONCURRENCY = 1


class Agent(UUIDPrimaryKey, Timestamps, Base):
    """A BPO user's agent profile. Belongs to the BPO, not to any tenant."""

    __tablename__ = "agents"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    skills: Mapped[list[dict]] = mapped_column(JSONType, default=list)  # [{name, level 1-5}]
    channels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # {"chat": 3, ...}; a channel left out takes DEFAULT_CONCURRENCY.
    concurrency: Mapped[dict] = mapped_column(JSONType, default=dict)
    languages: Mapped[list[str]] = mapped_column(JSONType, default=list)
    presence: Mapped[str] = mapped_column(str_enum(*PRESENCES, name="presence"), default="offline")
    presence_since: Mapped[datetime] = mapped_column(default=utcnow)
    # True while the presence was set by the work rules (busy at the concurrency cap), not by
    # the agent: only such a busy turns available again by itself.
    presence_auto: Mapped[bool] = mapped_column(default=False, server_default=false())
    # In after-contact work: the contact being wrapped up, and its firm. No foreign key: the
    # contact is a firm's row (keyed by tenant) and may be erased with its firm.
    acw_contact_id: Mapped[uuid.UUID | None]
    acw_tenant_id: Mapped[uuid.UUID | None]
    # Queues (of any tenants) the agent takes work from now; a subset of its assignments.
    active_queue_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    is_active: Mapped[bool] = mapped_column(default=True)

    user: Mapped[User] = relationship()


class Assignment(UUIDPrimaryKey, TenantScoped, Base):
    """An agent serves one of a tenant's queues, with a priority (1 is served first)."""

    __tablename__ = "agent_assignments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "agent_id", "queue_id"),
        tenant_foreign_key("queue_id", "queues", ondelete="CASCADE"),
    )

    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    queue_id: Mapped[uuid.UUID] = mapped_column()
    priority: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentEvent(UUIDPrimaryKey, Base):
    """A presence change, queue switch or assignment change: the agent's day, for the BPO."""

    __tablename__ = "agent_events"
    __table_args__ = (Index(None, "agent_id", "occurred_at"),)

    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(str_enum(*AGENT_EVENT_KINDS, name="agent_event_kind"))
    presence: Mapped[str] = mapped_column(str_enum(*PRESENCES, name="presence"))
    active_queue_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    actor_user_id: Mapped[uuid.UUID | None]


class AgentTimeSegment(UUIDPrimaryKey, TenantScoped, Base):
    """A stretch of an agent's working time attributed to one tenant.

    While queues of several tenants are active at once, each gets an equal share
    (`share_bps`), so every minute is counted once in total across tenants.
    """

    __tablename__ = "agent_time_segments"
    __table_args__ = (Index(None, "tenant_id", "agent_id", "started_at"),)

    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]  # None while still running
    presence: Mapped[str] = mapped_column(str_enum(*PRESENCES, name="presence"))
    share_bps: Mapped[int] = mapped_column(default=10000)
