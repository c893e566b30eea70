"""Next with campaigns: which work an agent gets when it asks, inbound contacts or a campaign's
records, and each attempt made a contact (direction outbound) held by the agent.

What an agent may be offered of a campaign: a record of a running campaign whose queue is
among the agent's usable active queues (app.contacts.routing.eligibility), on a channel where it
has room, in a language it speaks (or none given); pending, inside its stretch of the
customer's window (`next_attempt_at <= now < window_closes_at`, planned by
app/campaigns/service.py in the customer's zone and country), below the campaign's attempt
limit, on neither do-not-contact register (checked at the offer, whenever the entry was added),
and not a call-back promised by another agent.

The order, rules the BPO sets per campaign (`blend`):
1. the agent's own call-backs that are due (a promise to a customer);
2. records of `time_share` campaigns the agent has given less than their share of its handle
   time in the last hour;
3. inbound work, as app.contacts.routing chooses it;
4. records of the other campaigns (`inbound_first`, and time shares already met).
Within a step: call-backs first, then the record whose stretch opened first.

A record is locked with `FOR UPDATE SKIP LOCKED` and checked again, and its attempt counted in
the same transaction, so two agents are never offered one record.
May import: app.db, app.campaigns (models, register), app.contacts (models, routing, intake),
app.agents (models, presence), tenants (models, scoping, service, settings_cache).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, func, or_, select

from app.agents import presence as agent_presence
from app.agents.models import Agent
from app.campaigns import register
from app.campaigns import service as campaigns_service
from app.campaigns.models import Campaign, CampaignRecord
from app.contacts import intake, routing
from app.contacts.lifecycle import HELD_STATUSES
from app.contacts.models import Contact
from app.db import db, utcnow
from tenants import settings_cache
from tenants.models import Tenant
from tenants.scoping import tenant_scope, tenants_scope, unscoped
from tenants.service import Actor

# The stretch of an agent's time a time share is measured over.
SHARE_WINDOW = timedelta(hours=1)
BPS_FULL = 10_000


def claim_next(*, agent: Agent, actor: Actor, now: datetime | None = None) -> Contact | None:
    """Give the agent its next work, inbound or a campaign's record (module doc); None when
    nothing fits."""
    claimed = _claim(agent=agent, actor=actor, at=now or utcnow())
    return claimed[0] if claimed else None


def claim_next_described(
    *, agent: Agent, actor: Actor, now: datetime | None = None
) -> tuple[Contact, dict] | None:
    """As `claim_next`, with the contact as the agent sees it (routing.describe), its firm and
    queue as the claim read them."""
    claimed = _claim(agent=agent, actor=actor, at=now or utcnow())
    if claimed is None:
        return None
    contact, eligible = claimed
    return contact, routing.describe(contact=contact, eligible=eligible)


def _claim(*, agent: Agent, actor: Actor, at: datetime) -> tuple[Contact, routing.Eligible] | None:
    agent, eligible = routing.ready(agent=agent, actor=actor, at=at)
    campaigns = _campaigns(eligible)
    ahead, behind = _blend(agent=agent, campaigns=campaigns, at=at)
    contact = (
        _attempt(agent=agent, campaigns=campaigns, eligible=eligible, at=at, actor=actor, own=True)
        or _attempt(agent=agent, campaigns=ahead, eligible=eligible, at=at, actor=actor)
        or routing.claim_waiting(agent=agent, eligible=eligible, actor=actor, at=at)
        or _attempt(agent=agent, campaigns=behind, eligible=eligible, at=at, actor=actor)
    )
    if contact is None:
        return None
    agent_presence.follow_work(
        agent_ids=[agent.id], actor=actor, now=at, loads={agent.id: eligible.load_with(contact)}
    )
    return contact, eligible


def _campaigns(eligible: routing.Eligible) -> list[Campaign]:
    """The running campaigns the agent may work now: in its usable queues, on a free channel."""
    if not eligible.queue_priority or not eligible.channels:
        return []
    found = []
    for tenant_id in sorted(eligible.tenant_ids):
        with tenant_scope(tenant_id):
            found += [
                campaign
                for campaign in settings_cache.cached("running_campaigns", _running_campaigns)
                if campaign.queue_id in eligible.queue_priority
                and campaign.channel in eligible.channels
            ]
    return sorted(found, key=lambda campaign: (campaign.created_at, campaign.id))


def _running_campaigns() -> list[Campaign]:
    # Kept per process while the firm's settings stand (a campaign's row moves them, migration
    # 0036): shared by every claim, so copies of the rows that belong to no session.
    return settings_cache.detached_copies(
        list(db.session.scalars(select(Campaign).where(Campaign.state == "running")))
    )


def _blend(
    *, agent: Agent, campaigns: list[Campaign], at: datetime
) -> tuple[list[Campaign], list[Campaign]]:
    """Split the campaigns into those offered before inbound work (time shares the agent's
    last hour fell short of) and those after."""
    shares = [c for c in campaigns if c.blend == "time_share" and c.share_bps]
    if not shares:
        return [], campaigns
    spent = time_spent(agent=agent, tenant_ids={c.tenant_id for c in shares}, at=at)
    total = sum(spent.values())
    ahead = [c for c in shares if total == 0 or spent.get(c.id, 0) * BPS_FULL < c.share_bps * total]
    # The campaign furthest below its share first.
    ahead.sort(key=lambda c: (spent.get(c.id, 0) * BPS_FULL - c.share_bps * total, str(c.id)))
    return ahead, [c for c in campaigns if c not in ahead]


def time_spent(*, agent: Agent, tenant_ids, at: datetime) -> dict[uuid.UUID | None, int]:
    """The agent's handle seconds of the last hour per campaign (None: inbound and others):
    talk, hold and wrap-up of what it finished, the time so far of what it holds."""
    since = at - SHARE_WINDOW
    seconds: dict[uuid.UUID | None, int] = defaultdict(int)
    with tenants_scope(tenant_ids):
        rows = db.session.execute(
            select(
                Contact.campaign_id,
                Contact.status,
                Contact.assigned_at,
                Contact.talk_seconds + Contact.hold_seconds + Contact.acw_seconds,
            ).where(Contact.agent_id == agent.id, Contact.assigned_at >= since)
        ).all()
    for campaign_id, status, assigned_at, handled in rows:
        if status in HELD_STATUSES:
            handled = max(handled, int((at - assigned_at).total_seconds()))
        seconds[campaign_id] += handled
    return dict(seconds)


def _speaks(agent: Agent) -> ColumnElement[bool]:
    """Whether the agent speaks the record's language (none given fits anyone)."""
    languages = routing.spoken(agent)
    language = func.lower(CampaignRecord.language)
    primaries = sorted({tag.split("-", 1)[0] for tag in languages})
    fits = [language.in_(sorted(languages))] if languages else []
    fits += [or_(language == p, language.like(f"{p}-%")) for p in primaries]
    return or_(CampaignRecord.language.is_(None), *fits)


def _attempt(
    *,
    agent: Agent,
    campaigns: list[Campaign],
    eligible: routing.Eligible,
    at: datetime,
    actor: Actor,
    own: bool = False,
) -> Contact | None:
    """Lock the best record of these campaigns the agent may be offered, and make its attempt;
    `own`: only the agent's own call-backs."""
    by_tenant: dict[uuid.UUID, list[Campaign]] = defaultdict(list)
    for campaign in campaigns:
        by_tenant[campaign.tenant_id].append(campaign)
    for tenant_id, theirs in by_tenant.items():
        with tenant_scope(tenant_id):
            record = _lock_record(agent=agent, campaigns=theirs, at=at, own=own)
            if record is None:
                continue
            campaign = next(c for c in theirs if c.id == record.campaign_id)
            return _make_attempt(record=record, campaign=campaign, agent=agent, actor=actor, at=at)
    return None


def _lock_record(
    *, agent: Agent, campaigns: list[Campaign], at: datetime, own: bool
) -> CampaignRecord | None:
    limits = case(
        {c.id: c.max_attempts for c in campaigns}, value=CampaignRecord.campaign_id, else_=0
    )
    mine = CampaignRecord.callback_agent_id == agent.id
    stmt = (
        select(CampaignRecord)
        .where(
            CampaignRecord.campaign_id.in_(sorted(c.id for c in campaigns)),
            CampaignRecord.state == "pending",
            CampaignRecord.next_attempt_at <= at,
            CampaignRecord.window_closes_at > at,
            # A call-back the customer asked for is made even past the attempt limit.
            or_(CampaignRecord.attempts < limits, CampaignRecord.callback_at.is_not(None)),
            mine if own else or_(CampaignRecord.callback_agent_id.is_(None), mine),
            ~register.blocked(),
            _speaks(agent),
        )
        .order_by(
            case((mine, 0), else_=1),
            CampaignRecord.callback_at.asc().nulls_last(),
            CampaignRecord.next_attempt_at,
            CampaignRecord.id,
        )
        .limit(1)
        .with_for_update(skip_locked=True, of=CampaignRecord)
        .execution_options(populate_existing=True)
    )
    for _ in range(3):
        record = db.session.scalars(stmt).first()
        if record is None:
            return None
        # Locked now: what a concurrent claim changed before the lock shows.
        if record.state == "pending" and record.current_contact_id is None:
            return record
    return None


def _make_attempt(
    *, record: CampaignRecord, campaign: Campaign, agent: Agent, actor: Actor, at: datetime
) -> Contact:
    """The record's attempt: a contact (outbound, in the campaign's queue and category) made
    and assigned to the agent as any claim is; the record counts it and waits on it."""
    tenant = db.session.get(Tenant, record.tenant_id)
    customer = {
        k: v
        for k, v in (
            ("name", record.name),
            ("email", record.email),
            ("phone", record.phone),
            ("ref", record.customer_ref),
        )
        if v
    }
    contact, _ = intake.create(
        contact_in={
            "channel": campaign.channel,
            "direction": "outbound",
            "category": campaign.category,
            "queue_id": campaign.queue_id,
            "subject": campaign.name,
            "language": record.language,
            "customer": customer,
        },
        tenant=tenant,
        actor=actor,
        now=at,
        campaign_record=(campaign.id, record.id),
    )
    record.state = "in_progress"
    record.attempts += 1
    record.last_attempt_at = at
    record.current_contact_id = contact.id
    record.next_attempt_at = record.window_closes_at = None
    record.callback_at = record.callback_agent_id = record.retry_after = None
    return routing.assign(contact=contact, agent=agent, actor=actor, at=at)


def replan_passed(*, now: datetime | None = None) -> dict[str, int]:
    """Move every running campaign's waiting records whose stretch passed unworked to their
    next one (the worker's job; the offer never needs it, it only keeps them coming)."""
    at = now or utcnow()
    # Every firm's: the worker serves them all, and each firm's records are planned in its
    # own scope below.
    with unscoped():
        rows = db.session.execute(
            select(CampaignRecord.tenant_id, CampaignRecord.campaign_id)
            .join(Campaign, Campaign.id == CampaignRecord.campaign_id)
            .where(
                Campaign.state == "running",
                CampaignRecord.state == "pending",
                CampaignRecord.window_closes_at <= at,
            )
            .distinct()
        ).all()
    planned = 0
    for tenant_id, campaign_id in rows:
        with tenant_scope(tenant_id):
            campaign = db.session.get(Campaign, campaign_id)
            records = db.session.scalars(
                select(CampaignRecord).where(
                    CampaignRecord.campaign_id == campaign_id,
                    CampaignRecord.state == "pending",
                    CampaignRecord.window_closes_at <= at,
                )
            ).all()
            for record in records:
                campaigns_service.plan(
                    record=record,
                    campaign=campaign,
                    not_before=campaigns_service.not_before(record, campaign, at),
                )
                planned += 1
    db.session.flush()
    return {"planned": planned} if planned else {}
