"""Claim-next: which waiting contact an agent gets when it asks for work (SPEC section 6), and
what it holds now.

What an agent may take: contacts `queued` or `reopened` in its active queues (assigned to it,
active, of client firms whose status is active), on a channel where it has spare concurrency
(its held contacts, in `HELD_STATUSES`, counted per channel against `agent.concurrency`), in a
language it speaks (`agent.languages`, or a skill `lang:<xx>`; a language's primary subtag
suffices, so `es` covers `es-MX`; a contact with no language fits anyone). Contacts carry no
other required skill yet. Presence must be `available`, `after_contact_work` (which the claim
ends) or `busy` set by the work rules (at the concurrency cap, which the claim checks afresh):
anything else refuses (409). After a claim presence follows the work
(app.agents.presence.follow_work: busy at the concurrency cap).

The policy, in two steps:

1. Choose the client firm. An agent serving several firms must not let one firm's backlog
   starve another's, so firms are ordered by
   a. SLA risk: a firm whose best candidate is at risk by the SLA engine (a running clock
      at risk or breached, or past its at-risk instant though not yet marked), or due within
      `AT_RISK_WITHIN` whatever its policy's margin, first;
   b. then the time since this agent last served the firm (the latest `assigned_at` of the
      contacts it holds or held there), a firm it never served first, then the longest ago;
   c. then the best candidate's deadline (soonest first, none last) and its age.
   Risk is a class, not a sort key: among firms equally at risk the agent takes turns, so an
   overdue backlog of one firm cannot starve another firm that is overdue too. With no firm
   at risk, a firm's new contact is thus taken within as many of the agent's claims as there
   are firms with work for it (two, beside one other firm's backlog).
2. Take the best contact of that firm: highest `priority_rank`, then nearest `sla_due_at` (none
   last), then oldest `queued_at` (its place in line, kept when a contact is released back to
   its queue), then the agent's assignment priority for the queue (1 first), then id.

On PostgreSQL the contact is locked with `SELECT ... FOR UPDATE SKIP LOCKED` and checked again;
when every candidate of the chosen firm is locked by other agents the next firm is tried. Two
agents never get the same contact. The agent's own row is locked first, so one agent's claims
apply one after the other and never exceed its concurrency.

Reads span the agent's tenants (`tenants_scope`); every write narrows to the contact's tenant
(`tenant_scope`). Services never commit.
May import: app.db, app.errors, app.contacts (models, lifecycle, events), app.agents (models,
common, presence), app.queues.models, app.sla (models, service), tenants (models, scoping, service,
settings_cache).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import aliased

from app.agents import common as agents_common
from app.agents import presence as agent_presence
from app.agents.models import Agent, Assignment
from app.contacts import events as contact_log
from app.contacts import lifecycle
from app.contacts.lifecycle import HELD_STATUSES, WAITING_STATUSES
from app.contacts.models import Contact, ContactEvent
from app.db import db, utcnow
from app.errors import Conflict
from app.queues.models import Queue
from app.sla import service as sla_service
from app.sla.models import SlaClock
from tenants import settings_cache
from tenants.models import Tenant
from tenants.scoping import tenant_scope, tenants_scope, unscoped
from tenants.service import Actor

# Presences from which Next takes work (after-contact work ends then).
CLAIMING_PRESENCES = ("available", "after_contact_work")
# A deadline this close (or passed) puts a firm's work at risk even where the policy's at-risk
# margin is thinner (a 20 s answer target is at risk 4 s before it runs out).
AT_RISK_WITHIN = timedelta(minutes=10)
# How many times a locked candidate that no longer fits is passed over before the next firm.
_RECHECKS = 5
_LAST = 1_000_000  # sorts a queue with no assignment priority last
# Made once: an alias of a table of some 60 columns proxies each of them when first used
# (about 6 ms a claim when made per call).
_BEST = aliased(Contact, name="best")
_SERVED = aliased(Contact, name="served")


class NotAvailable(Conflict):
    """The agent's presence (or profile) does not allow taking work (409)."""


class NothingToClaim(Conflict):
    """Nothing the agent may take waits now (409); `reason` and counts say why."""


@dataclass(frozen=True)
class Eligible:
    """Where the agent may take work from, and what it may take."""

    queue_priority: dict[uuid.UUID, int]  # active, usable queue -> assignment priority
    tenant_ids: frozenset[uuid.UUID]
    channels: frozenset[str]
    languages: frozenset[str]
    # What the agent held when this was worked out, per channel.
    load: dict[str, int] = field(default_factory=dict)
    # Each usable queue's firm (id, name, status) and name, read with the queues: what a claim's
    # answer shows (describe) without reading them again.
    places: dict[uuid.UUID, tuple[dict, str]] = field(default_factory=dict)

    def load_with(self, contact: Contact) -> dict[str, int]:
        """What the agent holds once it took `contact` too."""
        return {**self.load, contact.channel: self.load.get(contact.channel, 0) + 1}


def claim_next(*, agent: Agent, actor: Actor, now: datetime | None = None) -> Contact | None:
    """Assign the best waiting contact the agent may take to it; None when nothing fits
    (`nothing_to_claim` then says why)."""
    at = now or utcnow()
    agent, eligible = ready(agent=agent, actor=actor, at=at)
    contact = claim_waiting(agent=agent, eligible=eligible, actor=actor, at=at)
    if contact is not None:
        agent_presence.follow_work(
            agent_ids=[agent.id], actor=actor, now=at, loads={agent.id: eligible.load_with(contact)}
        )
    return contact


def ready(*, agent: Agent, actor: Actor, at: datetime) -> tuple[Agent, Eligible]:
    """Lock the agent, check it may take work (NotAvailable if not), end its wrap-up and work
    out where it may take work from: the first step of every claim (campaigns' too)."""
    # Serialises one agent's claims (its concurrency holds) and reads its presence afresh.
    agent = agents_common.lock(agent)
    if not agent.is_active:
        raise NotAvailable(
            "Your agent profile is deactivated; you cannot take contacts.",
            reason="profile_inactive",
        )
    # Busy by the work rules only says the agent is full: the claim checks that afresh.
    by_rule = agent.presence == "busy" and agent.presence_auto
    if agent.presence not in CLAIMING_PRESENCES and not by_rule:
        raise NotAvailable(
            f"Your presence is {agent.presence}: set presence to available to take contacts.",
            reason="presence_not_available",
            presence=agent.presence,
        )
    # Next from after-contact work ends the wrap-up first (its time goes to the contact it
    # wrapped up); with nothing to claim the request changes nothing and the wrap-up goes on.
    agent_presence.end_wrap_up(agent=agent, actor=actor, now=at)
    return agent, eligibility(agent)


def claim_waiting(
    *, agent: Agent, eligible: Eligible, actor: Actor, at: datetime
) -> Contact | None:
    """Assign the best waiting contact of the agent's ready `eligible` work to it, or None."""
    if not eligible.queue_priority or not eligible.channels:
        return None
    fits = _fits(eligible)
    order = _order(eligible)
    if len(eligible.tenant_ids) == 1:
        # One firm takes no turn: its best contact is locked straight away (3 reads fewer).
        turns = list(eligible.tenant_ids)
    else:
        turns = _tenants_in_turn(agent=agent, eligible=eligible, fits=fits, at=at)
    for tenant_id in turns:
        contact = _lock_best(tenant_id=tenant_id, fits=fits, order=order)
        if contact is not None:
            return assign(contact=contact, agent=agent, actor=actor, at=at)
    return None


def nothing_to_claim(*, agent: Agent) -> NothingToClaim:
    """Say why `claim_next` found nothing for the agent (an available, active one), with counts.

    In order: no usable active queue (none chosen, or all deactivated or of firms not active);
    nothing waiting in them; contacts waiting that need a channel the agent does not work, a
    channel where its concurrency is full, or a language it does not speak (a contact may need
    several; each is counted under every need); else every fitting contact was just taken by
    another agent's claim.
    """
    eligible = eligibility(agent)
    queues = {
        "assigned": len(_assigned_queue_ids(agent.id)),
        "active": len(agent.active_queue_ids),
        "usable": len(eligible.queue_priority),
    }
    if not eligible.queue_priority:
        detail = (
            "You have no active queue: choose queues to take work from (PUT /v1/me/active-queues)."
            if not agent.active_queue_ids
            else "None of your active queues can take work now: each is deactivated, no longer "
            "assigned to you, or of a client firm that is not active."
        )
        return NothingToClaim(detail, reason="no_active_queue", queues=queues)
    works = {c for c in agent.channels if _capacity(agent, c) > 0}
    with tenants_scope(eligible.tenant_ids):
        rows = db.session.execute(
            select(
                Contact.channel,
                func.lower(Contact.language),
                # A function of the language alone: the same in every row of a group.
                func.max(case((_speaks(eligible), 1), else_=0)),
                func.count(),
            )
            .where(
                Contact.status.in_(WAITING_STATUSES),
                Contact.queue_id.in_(sorted(eligible.queue_priority)),
            )
            .group_by(Contact.channel, func.lower(Contact.language))
        ).all()
    waiting = {"total": 0, "fitting": 0}
    needs: dict[str, dict[str, int]] = {"channel": {}, "concurrency": {}, "language": {}}
    for channel, language, speaks, count in rows:
        waiting["total"] += count
        unmet = []
        if channel not in works:
            unmet.append(("channel", channel))
        elif channel not in eligible.channels:
            unmet.append(("concurrency", channel))
        if not speaks:
            unmet.append(("language", language))
        for need, value in unmet:
            needs[need][value] = needs[need].get(value, 0) + count
        if not unmet:
            waiting["fitting"] += count
    counts = {"queues": queues, "waiting": waiting, "needs": needs}
    if not waiting["total"]:
        return NothingToClaim(
            "Nothing is waiting in your active queues.", reason="nothing_waiting", **counts
        )
    if waiting["fitting"]:
        return NothingToClaim(
            "Every contact that fits you was just taken by another agent: try again.",
            reason="taken",
            **counts,
        )
    said = [
        f"{n} need{'s' if n == 1 else ''} {what} ({', '.join(sorted(map(str, values)))})"
        for what, key in (
            ("a channel you do not work", "channel"),
            ("a channel where your concurrency is full", "concurrency"),
            ("a language you do not speak", "language"),
        )
        if (values := needs[key]) and (n := sum(values.values()))
    ]
    return NothingToClaim(
        f"{waiting['total']} contact{'s' if waiting['total'] != 1 else ''} wait in your active "
        f"queues, none that you can take: {'; '.join(said)}.",
        reason="needs_unmet",
        **counts,
    )


def _capacity(agent: Agent, channel: str) -> int:
    return agents_common.capacity(agent, channel)


def _assigned_queue_ids(agent_id: uuid.UUID) -> frozenset[uuid.UUID]:
    # The agent's assignments, read before any scope (as agents_common.assigned_tenant_ids).
    with unscoped():
        return frozenset(
            db.session.scalars(select(Assignment.queue_id).where(Assignment.agent_id == agent_id))
        )


def held(*, agent: Agent) -> list[dict]:
    """Return the contacts the agent holds now across its tenants, oldest assignment first.

    Only those in queues it is still assigned to: an agent sees a tenant's contacts through
    its assigned queues alone, as everywhere else (SPEC section 9).
    """
    tenant_ids = agents_common.assigned_tenant_ids(agent.id)
    if not tenant_ids:
        return []
    with tenants_scope(tenant_ids):
        queue_ids = select(Assignment.queue_id).where(Assignment.agent_id == agent.id)
        rows = db.session.execute(
            select(Contact, Tenant, Queue.name)
            .join(Tenant, Tenant.id == Contact.tenant_id)
            .join(Queue, Queue.id == Contact.queue_id)
            .where(
                Contact.agent_id == agent.id,
                Contact.status.in_(HELD_STATUSES),
                Contact.queue_id.in_(queue_ids),
            )
            .order_by(Contact.assigned_at, Contact.id)
        ).all()
    return [describe(contact=c, tenant=t, queue_name=name) for c, t, name in rows]


def describe(
    *,
    contact: Contact,
    tenant: Tenant | None = None,
    queue_name: str | None = None,
    eligible: Eligible | None = None,
) -> dict:
    """Return the contact as an agent sees it: its fields, its client firm and queue name
    (given, else from the `eligible` work it was claimed from, else read)."""
    place = eligible.places.get(contact.queue_id) if eligible is not None else None
    if place is None:
        if tenant is None or queue_name is None:
            with tenant_scope(contact.tenant_id):
                tenant, queue_name = db.session.execute(
                    select(Tenant, Queue.name)
                    .join(Queue, Queue.tenant_id == Tenant.id)
                    .where(Tenant.id == contact.tenant_id, Queue.id == contact.queue_id)
                ).one()
        place = ({"id": tenant.id, "name": tenant.name, "status": tenant.status}, queue_name)
    firm, queue_name = place
    return {
        **{attr.key: getattr(contact, attr.key) for attr in sa_inspect(Contact).column_attrs},
        "queue_wait_seconds": contact.queue_wait_seconds,
        "tenant": firm,
        "queue_name": queue_name,
    }


# --- steps -----------------------------------------------------------------------------------


def eligibility(agent: Agent) -> Eligible:
    """Work out the agent's usable queues, their firms, its free channels and its languages."""
    assigned = agents_common.assigned_tenant_ids(agent.id)
    active = [uuid.UUID(q) for q in agent.active_queue_ids]
    if not assigned or not active:
        return Eligible({}, frozenset(), frozenset(), frozenset())
    with tenants_scope(assigned):
        rows = db.session.execute(
            select(
                Assignment.queue_id,
                Assignment.priority,
                Assignment.tenant_id,
                Tenant.name.label("tenant_name"),
                Tenant.status.label("tenant_status"),
                Tenant.settings_version,
                Queue.name.label("queue_name"),
            )
            .join(Queue, Queue.id == Assignment.queue_id)
            .join(Tenant, Tenant.id == Assignment.tenant_id)
            .where(
                Assignment.agent_id == agent.id,
                Assignment.queue_id.in_(active),
                Queue.is_active.is_(True),
                Tenant.status == "active",
            )
        ).all()
        # Read in this transaction: the firms' settings kept per process are good under it
        # (a claim's running campaigns, app.campaigns.dialer).
        settings_cache.note_versions({r.tenant_id: r.settings_version for r in rows})
        load = dict(
            db.session.execute(
                select(Contact.channel, func.count())
                .where(Contact.agent_id == agent.id, Contact.status.in_(HELD_STATUSES))
                .group_by(Contact.channel)
            ).all()
        )
    free = frozenset(
        channel for channel in agent.channels if load.get(channel, 0) < _capacity(agent, channel)
    )
    return Eligible(
        queue_priority={r.queue_id: r.priority for r in rows},
        tenant_ids=frozenset(r.tenant_id for r in rows),
        channels=free,
        languages=spoken(agent),
        load=load,
        places={
            r.queue_id: (
                {"id": r.tenant_id, "name": r.tenant_name, "status": r.tenant_status},
                r.queue_name,
            )
            for r in rows
        },
    )


def spoken(agent: Agent) -> frozenset[str]:
    """Return the language tags the agent speaks, lower-cased: its languages and lang: skills."""
    tags = {lang.strip().lower() for lang in agent.languages}
    for skill in agent.skills:
        name = str(skill.get("name", "")).strip().lower()
        if name.startswith("lang:") and len(name) > len("lang:"):
            tags.add(name.removeprefix("lang:"))
    return frozenset(tags)


def _speaks(eligible: Eligible) -> ColumnElement[bool]:
    """Whether the agent speaks the contact's language (a contact with none fits anyone)."""
    # PostgreSQL keeps statistics on this very expression (migration 0035): spelled otherwise,
    # the planner would misjudge how many contacts fit and sort a firm's whole backlog.
    language = func.lower(Contact.language)
    primaries = sorted({tag.split("-", 1)[0] for tag in eligible.languages})
    speaks = [language.in_(sorted(eligible.languages))] if eligible.languages else []
    # A contact in es-MX fits an agent who speaks es (or any es-*).
    speaks += [or_(language == p, language.like(f"{p}-%")) for p in primaries]
    return or_(Contact.language.is_(None), *speaks) if speaks else Contact.language.is_(None)


def _fits(eligible: Eligible) -> ColumnElement[bool]:
    """The condition a contact must meet for the agent to take it."""
    return and_(
        Contact.status.in_(WAITING_STATUSES),
        Contact.queue_id.in_(sorted(eligible.queue_priority)),
        Contact.channel.in_(sorted(eligible.channels)),
        _speaks(eligible),
    )


# Most urgent first: priority, deadline (none last), place in line; the order of the waiting
# contacts' index (ix_contacts_waiting_in_claim_order).
_BY_URGENCY = (
    Contact.priority_rank.desc(),
    Contact.sla_due_at.asc().nulls_last(),
    Contact.queued_at.asc(),
    Contact.id,
)


def _order(eligible: Eligible) -> list:
    """The order within a firm: best first (the agent's priority for the queue breaks ties of
    urgency)."""
    queue_priority = case(eligible.queue_priority, value=Contact.queue_id, else_=_LAST)
    return [*_BY_URGENCY[:3], queue_priority, Contact.id]


def _tenants_in_turn(
    *,
    agent: Agent,
    eligible: Eligible,
    fits: ColumnElement[bool],
    at: datetime,
) -> list[uuid.UUID]:
    """Order the firms with work that fits: SLA risk, then longest unserved (see the module).

    One statement of one shape however many firms the agent serves: each firm's best
    candidate (a correlated subquery per firm row, read without locks: it only decides the
    firm's turn), whether a running clock of it is at risk, and when this agent last served
    the firm. A firm with nothing that fits has no row."""
    firm_best = (
        select(Contact.id)
        .where(fits, Contact.tenant_id == Tenant.id)
        # The claim's order but for the queue's assignment priority, which breaks only exact
        # ties of urgency (the firm's turn needs none broken so finely): the waiting contacts'
        # index holds this order whole, so the first fitting entry is the answer, however long
        # the backlog.
        .order_by(*_BY_URGENCY)
        .limit(1)
        .correlate(Tenant)
        .scalar_subquery()
    )
    firms = (
        select(Tenant.id.label("tenant_id"), firm_best.label("contact_id"))
        .where(Tenant.id.in_(sorted(eligible.tenant_ids)))
        # Worked out once, before the join: folded into it, PostgreSQL may run each firm's
        # subquery once per waiting contact (it did, 20,000 times a claim, on stale statistics).
        .cte("firms")
        .prefix_with("MATERIALIZED")
    )
    best, served = _BEST, _SERVED
    last_served = (
        select(func.max(served.assigned_at))
        .where(served.agent_id == agent.id, served.tenant_id == best.tenant_id)
        .scalar_subquery()
    )
    statement = select(
        best.tenant_id,
        best.sla_due_at,
        best.queued_at,
        _at_risk(at, best).label("at_risk"),
        last_served.label("last_served"),
    ).join(firms, and_(best.tenant_id == firms.c.tenant_id, best.id == firms.c.contact_id))
    with tenants_scope(eligible.tenant_ids):
        best_of_firms = db.session.execute(statement).all()
    horizon = at + AT_RISK_WITHIN
    never = datetime.min.replace(tzinfo=at.tzinfo)
    farthest = datetime.max.replace(tzinfo=at.tzinfo)

    def turn(row) -> tuple:
        due = row.sla_due_at
        at_risk = bool(row.at_risk) or (due is not None and due <= horizon)
        return (
            not at_risk,
            row.last_served is not None,
            row.last_served or never,
            due or farthest,
            row.queued_at,
            str(row.tenant_id),
        )

    return [row.tenant_id for row in sorted(best_of_firms, key=turn)]


def _at_risk(at: datetime, contact=Contact) -> ColumnElement[bool]:
    """Whether the contact (`Contact` or an alias of it) has a running SLA clock at risk or
    breached at `at`."""
    return (
        select(SlaClock.id)
        .where(
            SlaClock.tenant_id == contact.tenant_id,
            SlaClock.contact_id == contact.id,
            SlaClock.running_since.is_not(None),
            or_(SlaClock.state.in_(("at_risk", "breached")), SlaClock.at_risk_at <= at),
        )
        .exists()
    )


def _lock_best(
    *, tenant_id: uuid.UUID, fits: ColumnElement[bool], order: Collection
) -> Contact | None:
    """Lock the firm's best fitting contact no other agent holds a lock on; None if none."""
    with tenant_scope(tenant_id):
        for _ in range(_RECHECKS):
            contact = db.session.scalars(
                select(Contact)
                .where(fits)
                .order_by(*order)
                .limit(1)
                .with_for_update(skip_locked=True, of=Contact)
                .execution_options(populate_existing=True)
            ).first()
            if contact is None:
                return None
            # Locked now: check again what a concurrent claim may have changed before the lock.
            if contact.status in WAITING_STATUSES and contact.agent_id is None:
                return contact
    return None


def assign(*, contact: Contact, agent: Agent, actor: Actor, at: datetime) -> Contact:
    """Apply the assign move to the locked contact and record the claim."""
    # A contact cannot change before its last change; a clock a little behind must not refuse.
    at = max(at, contact.status_since)
    move = lifecycle.plan(action="assign", contact=contact, at=at)
    with tenant_scope(contact.tenant_id):
        # Like every action: what came due on its SLA clocks is recorded first.
        sla_service.apply_action(contact=contact, action="assign", to_status=move.to_status, at=at)
        contact.agent_id = agent.id
        for key, value in move.changes.items():
            setattr(contact, key, value)
        db.session.add(
            ContactEvent(
                tenant_id=contact.tenant_id,
                contact_id=contact.id,
                occurred_at=at,
                action="claim",
                from_status=move.from_status,
                to_status=move.to_status,
                actor_user_id=actor.user_id,
                actor_client_id=actor.client_id,
                agent_id=agent.id,
            )
        )
        contact_log.acted(contact, action="assign", previous_status=move.from_status, at=at)
    return contact
