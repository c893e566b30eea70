"""Contacts, their history and message threads, and the client departments they are escalated
to."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.contacts.lifecycle import SYNCHRONOUS_CHANNELS, WAITING_STATUSES
from app.db import Base, JSONType, Timestamps, UUIDPrimaryKey, str_enum, utcnow
from app.vocabulary import CATEGORIES, CHANNELS, DIRECTIONS, PRIORITIES
from tenants.scoping import TenantScoped, tenant_foreign_key

DEPARTMENT_KINDS = ("logistics", "finance", "marketing", "technical", "legal", "custom")


class Department(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A back office of the client firm that contacts are escalated to."""

    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(str_enum(*DEPARTMENT_KINDS, name="department_kind"))
    email: Mapped[str | None] = mapped_column(String(254))
    is_active: Mapped[bool] = mapped_column(default=True)


CONTACT_STATUSES = (
    "queued",
    "assigned",
    "active",
    "waiting_customer",
    "escalated",
    "on_hold",
    "resolved",
    "closed",
    "reopened",
    "abandoned",
)
# Claim-next takes the highest rank first.
PRIORITY_RANK = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
_WAITING = "status IN ({})".format(", ".join(f"'{s}'" for s in WAITING_STATUSES))


class Contact(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """One interaction handled for a tenant: a call, email, chat, web form or social message."""

    __tablename__ = "contacts"
    # Agents see a tenant's contacts only in the queues they are assigned to.
    __queue_scoped__ = True
    __table_args__ = (
        # NULL external ids are distinct: only the firm's own ids must be unique.
        UniqueConstraint("tenant_id", "external_id"),
        tenant_foreign_key("queue_id", "queues"),
        tenant_foreign_key("department_id", "departments"),
        # Claim-next: waiting contacts of a queue, best first.
        Index(None, "tenant_id", "queue_id", "status", "priority_rank", "queued_at"),
        # ... and a firm's waiting contacts in the claim's own order, so the best one that fits
        # is the first rows read (not every waiting contact sorted) however long the backlog.
        Index(
            "ix_contacts_waiting_in_claim_order",
            "tenant_id",
            text("priority_rank DESC"),
            "sla_due_at",
            "queued_at",
            "id",
            postgresql_where=text(_WAITING),
            sqlite_where=text(_WAITING),
        ),
        # When an agent last served a firm (the claim's turn across firms): the latest
        # assignment read from the end of the index. Contacts never assigned are left out.
        Index(
            None,
            "agent_id",
            "tenant_id",
            "assigned_at",
            postgresql_where=text("agent_id IS NOT NULL"),
            sqlite_where=text("agent_id IS NOT NULL"),
        ),
        Index(None, "tenant_id", "created_at"),
        # Reports bucket by when contacts came in.
        Index(None, "tenant_id", "received_at"),
        # FCR: earlier contacts of the same end customer and category.
        Index(None, "tenant_id", "customer_key", "category", "received_at"),
        Index(None, "tenant_id", "agent_id", "status"),
        # The agents report: contacts finished (resolved, else closed) in a range.
        Index(None, "tenant_id", "resolved_at"),
        Index(
            None,
            "tenant_id",
            "closed_at",
            postgresql_where=text("resolved_at IS NULL"),
            sqlite_where=text("resolved_at IS NULL"),
        ),
        # The complaints register: a year's complaints and claims, counted for its pages from
        # the index alone (the row-level security policy also reads queue_id).
        Index(None, "tenant_id", "category", "received_at", postgresql_include=["queue_id"]),
        # The wallboard and the at-risk list: the open contacts at risk or breached by now,
        # counted per queue from the index alone (what row-level security and the counts read
        # is included).
        Index(
            None,
            "tenant_id",
            "sla_risk_at",
            postgresql_where=text("sla_risk_at IS NOT NULL"),
            sqlite_where=text("sla_risk_at IS NOT NULL"),
            postgresql_include=["queue_id", "status", "sla_breach_at"],
        ),
        # ... and the most urgent of them, nearest deadline first, a page read in index order
        # (the firm and the risk instant checked in the index, not on the row).
        Index(
            None,
            "sla_due_at",
            "id",
            "tenant_id",
            "sla_risk_at",
            postgresql_where=text("sla_risk_at IS NOT NULL"),
            sqlite_where=text("sla_risk_at IS NOT NULL"),
        ),
        # Search by the firm's customer id (app/contacts/search.py); more at the end.
        Index(None, "tenant_id", "customer_ref"),
        tenant_foreign_key("campaign_id", "campaigns"),
        tenant_foreign_key("campaign_record_id", "campaign_records"),
        # The campaign reports: a campaign's attempts by when they were made.
        Index(
            None,
            "tenant_id",
            "campaign_id",
            "received_at",
            postgresql_where=text("campaign_id IS NOT NULL"),
            sqlite_where=text("campaign_id IS NOT NULL"),
        ),
        Index(
            None,
            "tenant_id",
            "campaign_record_id",
            postgresql_where=text("campaign_record_id IS NOT NULL"),
            sqlite_where=text("campaign_record_id IS NOT NULL"),
        ),
    )

    external_id: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(str_enum(*CHANNELS, name="channel"))
    direction: Mapped[str] = mapped_column(str_enum(*DIRECTIONS, name="direction"))
    category: Mapped[str] = mapped_column(str_enum(*CATEGORIES, name="category"))
    priority: Mapped[str] = mapped_column(str_enum(*PRIORITIES, name="priority"))
    priority_rank: Mapped[int]
    language: Mapped[str | None] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    # The end customer (personal data: minimised, exported and purged with the tenant).
    customer_name: Mapped[str | None] = mapped_column(String(200))
    customer_email: Mapped[str | None] = mapped_column(String(254))
    customer_phone: Mapped[str | None] = mapped_column(String(40))
    customer_ref: Mapped[str | None] = mapped_column(String(100))  # the firm's own customer id
    # Who the end customer is, for repeat-contact counting: ref, else email, else phone.
    customer_key: Mapped[str | None] = mapped_column(String(260))
    customer_contact_number: Mapped[int] = mapped_column(default=1)
    # When the end customer's personal data was wiped (erasure or retention; figures stay).
    personal_data_erased_at: Mapped[datetime | None]
    # Claims (reclamaciones): what the customer asks for, and what they got.
    remedy_requested: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(32))
    compensation_amount: Mapped[int | None]  # minor units of the tenant's currency
    queue_id: Mapped[uuid.UUID] = mapped_column()
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    department_id: Mapped[uuid.UUID | None] = mapped_column()
    status: Mapped[str] = mapped_column(str_enum(*CONTACT_STATUSES, name="contact_status"))
    status_since: Mapped[datetime]
    disposition: Mapped[str | None] = mapped_column(String(64))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    csat: Mapped[int | None]
    reopen_count: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime]
    queued_at: Mapped[datetime]  # when it (last) joined its queue: its place in line
    assigned_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]  # voice and chat, set once
    first_response_at: Mapped[datetime | None]  # async channels, set once
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    abandoned_at: Mapped[datetime | None]
    # The nearest SLA deadline, for routing, and the worst state of the contact's SLA clocks
    # (both kept by the SLA engine; None when no clock runs or none applies).
    sla_due_at: Mapped[datetime | None]
    sla_state: Mapped[str | None] = mapped_column(String(16))
    # While the contact is open: when its running clocks put it at risk, and in breach
    # (app.sla.clocks.risk_instants; in the past once so). The wallboard finds the contacts at
    # risk from these alone, without reading every open clock.
    sla_risk_at: Mapped[datetime | None]
    sla_breach_at: Mapped[datetime | None]
    # T of the service level for this contact (voice and chat), fixed at intake from the SLA
    # policy's target or the queue, so later edits never rewrite a past month's figures.
    answer_threshold_seconds: Mapped[int | None]
    # Time spent in line, status `queued`, summed over every stay (to each assignment, and
    # again after a release, transfer or reopen). Not the queue wait: see queue_wait_seconds.
    queued_seconds: Mapped[int] = mapped_column(default=0)
    # Handle time = talk + hold + after-contact work (SPEC section 5), in seconds.
    talk_seconds: Mapped[int] = mapped_column(default=0)
    hold_seconds: Mapped[int] = mapped_column(default=0)
    acw_seconds: Mapped[int] = mapped_column(default=0)
    # An attempt of an outbound campaign (app/campaigns): the campaign and the record it tried.
    campaign_id: Mapped[uuid.UUID | None] = mapped_column()
    campaign_record_id: Mapped[uuid.UUID | None] = mapped_column()

    @property
    def queue_wait_seconds(self) -> float | None:
        """The queue wait (SPEC section 7's, whose mean over answered contacts is the ASA):
        seconds from receipt to answer, for inbound voice and chat once answered; None
        otherwise (written channels have a first response instead).

        The one definition: the reports compute the same `answered_at - received_at` in SQL.
        """
        offered = self.channel in SYNCHRONOUS_CHANNELS and self.direction == "inbound"
        if not offered or self.answered_at is None:
            return None
        return round(max(0.0, (self.answered_at - self.received_at).total_seconds()), 3)


class ContactEvent(UUIDPrimaryKey, TenantScoped, Base):
    """One change of a contact: who, when, from, to, and a note. Only ever added."""

    __tablename__ = "contact_events"
    __table_args__ = (
        Index(None, "tenant_id", "contact_id", "occurred_at"),
        tenant_foreign_key("contact_id", "contacts", ondelete="CASCADE"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column()
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    actor_user_id: Mapped[uuid.UUID | None]
    actor_client_id: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[uuid.UUID | None]
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSONType, default=dict)


# A department's answer through its link is `department`: the firm's own words (its
# integration reads it), never an agent's internal note.
MESSAGE_KINDS = ("inbound", "reply", "note", "department")
BODY_FORMATS = ("text", "html")


class ContactMessage(UUIDPrimaryKey, TenantScoped, Base):
    """One message of a contact's thread: the end customer's (inbound, posted by the firm's
    integration), an agent's reply, an internal note, or a department's answer. Only ever added."""

    __tablename__ = "contact_messages"
    __table_args__ = (
        # The thread, oldest first.
        Index(None, "tenant_id", "contact_id", "created_at"),
        # An integration posting the same message twice (a retry) gets the first one back.
        UniqueConstraint("tenant_id", "contact_id", "external_id"),
        tenant_foreign_key("contact_id", "contacts", ondelete="CASCADE"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(str_enum(*MESSAGE_KINDS, name="message_kind"))
    channel: Mapped[str] = mapped_column(str_enum(*CHANNELS, name="channel"))
    external_id: Mapped[str | None] = mapped_column(String(200))
    # Who wrote it: the person (user) and the API client they, or the firm's integration, used;
    # for an inbound message the end customer's name as the integration gave it (personal data).
    author_user_id: Mapped[uuid.UUID | None]
    author_client_id: Mapped[str | None] = mapped_column(String(64))
    author_name: Mapped[str | None] = mapped_column(String(200))
    # Plain text, or HTML already sanitised (app/contacts/messages.py) before it is stored.
    body: Mapped[str] = mapped_column(Text)
    body_format: Mapped[str] = mapped_column(str_enum(*BODY_FORMATS, name="body_format"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


ESCALATION_OUTCOMES = ("done", "needs_more", "withdrawn")
# The department's mail (app/leases.py): pending while a mail (the first, or a reminder) is due,
# sent when none is, dead when it cannot be sent, closed once the escalation has ended.
ESCALATION_MAIL_STATUSES = ("pending", "sent", "dead", "closed")


class Escalation(UUIDPrimaryKey, TenantScoped, Base):
    """One escalation of a contact to a department: when it went and came back, the agent's
    note, and the single-use link the department answers through (its SHA-256 digest only)."""

    __tablename__ = "escalations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "token_hash"),
        # The link names no firm: its digest finds the row across them.
        Index(None, "token_hash"),
        Index(None, "tenant_id", "contact_id", "started_at"),
        # The SLA report's time with each department, by when the escalations ended.
        Index(None, "tenant_id", "ended_at"),
        # The worker's due mails, of every firm.
        Index(None, "status", "next_attempt_at"),
        tenant_foreign_key("contact_id", "contacts", ondelete="CASCADE"),
        tenant_foreign_key("department_id", "departments"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column()
    department_id: Mapped[uuid.UUID] = mapped_column()
    # The agent holding the contact when it went: the one it comes back to.
    agent_id: Mapped[uuid.UUID | None]
    requested_by_user_id: Mapped[uuid.UUID | None]
    note: Mapped[str | None] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # When it came back (answered, or taken back by the agent), and how.
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(
        str_enum(*ESCALATION_OUTCOMES, name="escalation_outcome")
    )
    used_at: Mapped[datetime | None]  # the link's one use
    # The department's mails: the first, then a reminder each interval the firm sets.
    status: Mapped[str] = mapped_column(
        str_enum(*ESCALATION_MAIL_STATUSES, name="escalation_mail_status"), default="pending"
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    mailed_at: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(default=0)
    reminded_at: Mapped[datetime | None]

    @property
    def seconds(self) -> int | None:
        """Seconds with the department (None while it is still there)."""
        if self.ended_at is None:
            return None
        return max(0, int((self.ended_at - self.started_at).total_seconds()))


SEARCH_SOURCES = ("contact", "message", "note", "identifier")


class ContactSearchTerm(UUIDPrimaryKey, TenantScoped, Base):
    """One word a contact is found by (app/contacts/search.py), on PostgreSQL: of its subject,
    customer name and first text (`contact`), of a message or note of its thread, or one of the
    end customer's identifiers (the e-mail lower-cased, the phone's digits). Written only by
    the database's triggers (migration 0026), so every write path keeps it; SQLite leaves it
    empty. A b-tree on `(tenant_id, term)` in the "C" collation: a typed word is a range of
    terms, which row-level security lets the index serve."""

    __tablename__ = "contact_search_terms"
    __table_args__ = (
        Index(None, "tenant_id", "term"),
        Index(None, "tenant_id", "contact_id"),
        Index(None, "tenant_id", "message_id"),
        tenant_foreign_key("contact_id", "contacts", ondelete="CASCADE"),
        tenant_foreign_key("message_id", "contact_messages", ondelete="CASCADE"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column()
    message_id: Mapped[uuid.UUID | None]  # NULL: the contact's own fields or identifiers
    source: Mapped[str] = mapped_column(String(16))
    # Code point order (SQLite's own is already binary, and it knows no "C").
    term: Mapped[str] = mapped_column(Text().with_variant(Text(collation="C"), "postgresql"))
