"""Outbound campaigns: a firm's campaigns, the lists loaded into them, the records (end customers)
to contact, and the do-not-contact registers (the firm's own and the BPO's)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, Timestamps, UUIDPrimaryKey, str_enum, utcnow
from app.vocabulary import CATEGORIES, CHANNELS
from tenants.scoping import TenantScoped, tenant_foreign_key

PURPOSES = ("sales", "survey", "collections", "reminder", "callback")
# draft -> running <-> paused -> finished (finished is final).
CAMPAIGN_STATES = ("draft", "running", "paused", "finished")
# How the campaign's records mix with inbound work on an agent's Next (set by the BPO):
# inbound first (a record only when no inbound contact fits), or a share of the agent's time.
BLENDS = ("inbound_first", "time_share")
# pending: waits for its next attempt (or a call-back); in_progress: an agent holds an attempt;
# done: ended by a disposition that asks no retry; exhausted: the attempts ran out;
# do_not_contact: found on a register (never offered again); closed: the campaign finished.
RECORD_STATES = ("pending", "in_progress", "done", "exhausted", "do_not_contact", "closed")
DNC_KINDS = ("phone", "email")
DNC_SOURCES = ("manual", "import", "disposition")


class Campaign(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A firm's outbound campaign: what it is for, how it reaches customers, who works it,
    when customers may be called (in their own time), how often, and its state."""

    __tablename__ = "campaigns"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        tenant_foreign_key("queue_id", "queues"),
        Index(None, "tenant_id", "state"),
    )

    name: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(str_enum(*PURPOSES, name="campaign_purpose"))
    channel: Mapped[str] = mapped_column(str_enum(*CHANNELS, name="channel"))
    # The category its attempts are filed under (reports, SLA policies, prices).
    category: Mapped[str] = mapped_column(str_enum(*CATEGORIES, name="category"))
    queue_id: Mapped[uuid.UUID] = mapped_column()
    script: Mapped[str] = mapped_column(Text, default="")
    # [{"code", "label", "reached", "success", "retry", "retry_after_minutes", "do_not_contact"}]
    dispositions: Mapped[list[dict]] = mapped_column(JSONType)
    # The calling window in the customer's local time: ISO weekdays, "HH:MM" start and end,
    # and whether the public holidays of the customer's country are skipped.
    weekdays: Mapped[list[int]] = mapped_column(JSONType)
    window_start: Mapped[str] = mapped_column(String(5))
    window_end: Mapped[str] = mapped_column(String(5))
    skip_holidays: Mapped[bool] = mapped_column(default=True)
    max_attempts: Mapped[int]
    retry_delay_minutes: Mapped[int]
    # The customer's local dates the campaign calls on (inclusive).
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    state: Mapped[str] = mapped_column(
        str_enum(*CAMPAIGN_STATES, name="campaign_state"), default="draft"
    )
    blend: Mapped[str] = mapped_column(
        str_enum(*BLENDS, name="campaign_blend"), default="inbound_first"
    )
    # time_share: the share of an agent's handle time (the last hour) this campaign aims at.
    share_bps: Mapped[int | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_by_user_id: Mapped[uuid.UUID | None]


class CampaignList(UUIDPrimaryKey, TenantScoped, Base):
    """One load of records into a campaign (a CSV or JSON lines file) and what became of it."""

    __tablename__ = "campaign_lists"
    __table_args__ = (
        tenant_foreign_key("campaign_id", "campaigns", ondelete="CASCADE"),
        Index(None, "tenant_id", "campaign_id", "loaded_at"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column()
    name: Mapped[str] = mapped_column(String(200))
    rows: Mapped[int]
    added: Mapped[int]  # new records
    merged: Mapped[int]  # rows that repeated a record (of this list or an earlier one)
    blocked: Mapped[int]  # rows on a do-not-contact register when loaded
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    loaded_by_user_id: Mapped[uuid.UUID | None]


class CampaignRecord(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """One end customer to contact in a campaign: who, where in the world (their zone and
    country set their calling window), the script's fields, and how far the attempts got.

    `next_attempt_at` .. `window_closes_at` is the stretch in which it may be offered next
    (inside the customer's window, after the retry delay); the worker moves a stretch that
    passed unworked to the next one."""

    __tablename__ = "campaign_records"
    __table_args__ = (
        # Duplicates within and across a campaign's lists are one record.
        UniqueConstraint("tenant_id", "campaign_id", "dedupe_key"),
        tenant_foreign_key("campaign_id", "campaigns", ondelete="CASCADE"),
        tenant_foreign_key("list_id", "campaign_lists", ondelete="CASCADE"),
        # What claim-next offers: a campaign's pending records due now, soonest first.
        Index(None, "tenant_id", "campaign_id", "state", "next_attempt_at"),
        Index(None, "tenant_id", "phone_digits"),
        Index(None, "tenant_id", "email_lower"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column()
    list_id: Mapped[uuid.UUID] = mapped_column()
    # The end customer (personal data: exported and erased with the firm's customers).
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    customer_ref: Mapped[str | None] = mapped_column(String(100))
    phone_digits: Mapped[str | None] = mapped_column(String(40))
    email_lower: Mapped[str | None] = mapped_column(String(254))
    # ref, else e-mail, else phone: as the contacts' customer_key.
    dedupe_key: Mapped[str] = mapped_column(String(260))
    time_zone: Mapped[str] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(16))
    fields: Mapped[dict] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(
        str_enum(*RECORD_STATES, name="campaign_record_state"), default="pending"
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    window_closes_at: Mapped[datetime | None]
    # A call-back asked for: at the customer's chosen time, by one agent or by anyone.
    callback_at: Mapped[datetime | None]
    callback_agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    last_attempt_at: Mapped[datetime | None]
    # The earliest the next attempt may be made, by the last disposition's retry delay.
    retry_after: Mapped[datetime | None]
    last_disposition: Mapped[str | None] = mapped_column(String(64))
    current_contact_id: Mapped[uuid.UUID | None]
    reached_at: Mapped[datetime | None]  # the first attempt that reached the customer
    succeeded_at: Mapped[datetime | None]


class DoNotContact(UUIDPrimaryKey, TenantScoped, Base):
    """An entry of a firm's do-not-contact register: a phone number (its digits) or an e-mail
    address (lower-cased) its campaigns never reach, whenever it was added."""

    __tablename__ = "do_not_contact"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "value"),)

    kind: Mapped[str] = mapped_column(str_enum(*DNC_KINDS, name="dnc_kind"))
    value: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(str_enum(*DNC_SOURCES, name="dnc_source"))
    # The attempt whose disposition added it, if one did.
    contact_id: Mapped[uuid.UUID | None]
    added_by_user_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BpoDoNotContact(UUIDPrimaryKey, Base):
    """An entry of the BPO's own do-not-contact register: no firm's campaign reaches it."""

    __tablename__ = "bpo_do_not_contact"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    kind: Mapped[str] = mapped_column(str_enum(*DNC_KINDS, name="dnc_kind"))
    value: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(str_enum(*DNC_SOURCES, name="dnc_source"))
    added_by_user_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
