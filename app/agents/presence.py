"""An agent's presence and active queues (what it takes work from), the time segments that
attribute its working time to client firms as they change, and the rules by which presence
follows the work (`follow_work`), as in commercial contact centres:

- busy at the concurrency cap: an `available` agent left with no spare concurrency on any
  channel it works becomes `busy` by itself (`presence_auto`), and `available` again once a
  contact leaves it (resolved, transferred, released). A busy the agent chose stays.
- after-contact work: resolving its last held contact puts the agent in `after_contact_work`
  for that contact (`acw_contact_id`, `acw_tenant_id`). Its time is working time of that firm
  alone, and when it ends (the agent sets another presence, presses Next, or is given a
  contact; or the BPO's MAX_WRAP_UP_SECONDS runs out, by the worker's `end_overdue_wrap_ups`)
  its seconds are added to the contact's `acw_seconds`: handle time (SPEC 5, 7).

Services take keyword arguments, return ORM objects and never commit; `now` lets callers (and
tests) fix the instant. A client firm that stops takes its queues out of every agent's active
queues and ends the wrap-up of its contacts (registered with tenants.service.when_tenant_stops).
May import: app.db, app.errors, app.agents (models, common), app.contacts (models, lifecycle),
app.queues.models, tenants.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.agents.common import (
    assigned_tenant_ids,
    capacity,
    ids,
    lock,
    refuse_unusable,
    uuids,
)
from app.agents.models import (
    SETTABLE_PRESENCES,
    WORKING_PRESENCES,
    Agent,
    AgentEvent,
    AgentTimeSegment,
    Assignment,
)
from app.contacts.lifecycle import HELD_STATUSES
from app.contacts.models import Contact
from app.db import db, utcnow
from app.errors import Unprocessable
from app.queues.models import Queue
from tenants import service as tenants_service
from tenants.models import Tenant
from tenants.scoping import tenant_scope, tenants_scope, unscoped
from tenants.service import Actor

FULL_SHARE_BPS = 10000
AFTER_CONTACT_WORK = "after_contact_work"


def set_presence(
    *, agent: Agent, presence: str, actor: Actor, now: datetime | None = None
) -> Agent:
    """Set the agent's presence by hand; log it and re-attribute its time from now on.

    Leaving after-contact work ends the wrap-up (its time goes to the contact). Setting
    `available` while at the concurrency cap makes the agent busy at once, as the work rules
    would; a busy set by hand is kept until the agent changes it.
    """
    if presence not in SETTABLE_PRESENCES:
        raise Unprocessable(
            f"Presence {presence} cannot be set by hand: it is one of "
            f"{', '.join(SETTABLE_PRESENCES)}.",
            errors={"json": {"presence": ["After-contact work follows a resolve by itself."]}},
        )
    at = now or utcnow()
    agent = lock(agent)
    if presence != agent.presence:
        change(agent, kind="presence", at=at, actor_user_id=actor.user_id, presence=presence)
    # Chosen now, even where the work rules had set the same: only theirs lifts by itself.
    agent.presence_auto = False
    if presence == "available" and at_cap(agent):
        change(
            agent,
            kind="presence",
            at=at,
            actor_user_id=actor.user_id,
            presence="busy",
            presence_auto=True,
        )
    return agent


def follow_work(
    *,
    agent_ids: Iterable[uuid.UUID | None],
    actor: Actor,
    now: datetime | None = None,
    resolved: Contact | None = None,
    loads: Mapping[uuid.UUID, dict[str, int]] | None = None,
) -> None:
    """Bring the presence of these agents in line with the contacts they hold now.

    Called wherever an agent's held contacts change (claim, assign, resolve, transfer,
    release). `resolved` is a contact its own agent just resolved: with nothing else held,
    that agent goes into after-contact work for it. Otherwise an agent given work ends its
    wrap-up; an available one at the cap turns busy, an automatically busy one below the cap
    turns available. Break, offline and a busy chosen by hand are left as they are.
    `loads`: what the caller knows an agent holds now, per channel (a claim counted it under
    the agent's lock, plus the contact it took), instead of counting again.
    """
    at = now or utcnow()
    # Agents' rows are locked in one order, so two actions moving contacts between the same
    # agents cannot wait on each other.
    for agent_id in sorted({a for a in agent_ids if a is not None}, key=str):
        agent = db.session.get(Agent, agent_id)
        if agent is None:
            continue
        agent = lock(agent)
        load = loads[agent_id] if loads and agent_id in loads else held_load(agent)
        holds = sum(load.values())
        full = at_cap(agent, load)
        wraps_up = resolved is not None and resolved.agent_id == agent.id and not holds
        by_rule = agent.presence == "busy" and agent.presence_auto
        if wraps_up and (agent.presence == "available" or by_rule):
            wanted, auto = AFTER_CONTACT_WORK, True
        elif agent.presence == AFTER_CONTACT_WORK and holds:
            wanted, auto = ("busy" if full else "available"), full
        elif agent.presence == "available" and full:
            wanted, auto = "busy", True
        elif by_rule and not full:
            wanted, auto = "available", False
        else:
            continue
        change(
            agent,
            kind="presence",
            at=at,
            actor_user_id=actor.user_id,
            presence=wanted,
            presence_auto=auto,
            wrap_up=resolved if wanted == AFTER_CONTACT_WORK else None,
        )


def end_wrap_up(*, agent: Agent, actor: Actor, now: datetime | None = None) -> Agent:
    """End the (locked) agent's after-contact work, if it is in it: it is available again."""
    if agent.presence == AFTER_CONTACT_WORK:
        change(
            agent,
            kind="presence",
            at=now or utcnow(),
            actor_user_id=actor.user_id,
            presence="available",
        )
    return agent


def end_overdue_wrap_ups(*, max_seconds: int, now: datetime | None = None) -> int:
    """Return to available every agent whose after-contact work has lasted `max_seconds`, as of
    the instant it ran out; count them.

    An agent whose row a request holds now is left to the next pass rather than waited for.
    """
    at = now or utcnow()
    allowed = timedelta(seconds=max_seconds)
    overdue = db.session.scalars(
        select(Agent.id).where(
            Agent.presence == AFTER_CONTACT_WORK, Agent.presence_since <= at - allowed
        )
    ).all()
    ended = 0
    for agent_id in overdue:
        agent = db.session.scalars(
            select(Agent)
            .where(Agent.id == agent_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).first()
        if agent is None or agent.presence != AFTER_CONTACT_WORK:
            continue
        ran_out = agent.presence_since + allowed
        if ran_out > at:
            continue
        # Never before the agent's time was last re-attributed (a queue switch while wrapping
        # up), so its day still reads in order. Its running segments may be in its firms
        # or, wrapping up, another's: all are read, by agent.
        with unscoped():
            latest = db.session.scalar(
                select(func.max(AgentTimeSegment.started_at)).where(
                    AgentTimeSegment.agent_id == agent.id, AgentTimeSegment.ended_at.is_(None)
                )
            )
        change(
            agent,
            kind="presence",
            at=max(ran_out, latest or ran_out),
            actor_user_id=None,
            presence="available",
        )
        ended += 1
    return ended


def held_load(agent: Agent) -> dict[str, int]:
    """Return how many contacts the agent holds now, per channel, across its firms."""
    with tenants_scope(assigned_tenant_ids(agent.id)):
        return dict(
            db.session.execute(
                select(Contact.channel, func.count())
                .where(Contact.agent_id == agent.id, Contact.status.in_(HELD_STATUSES))
                .group_by(Contact.channel)
            ).all()
        )


def at_cap(agent: Agent, load: dict[str, int] | None = None) -> bool:
    """Whether the agent holds work and has no spare concurrency on any channel it works."""
    load = held_load(agent) if load is None else load
    return sum(load.values()) > 0 and all(
        load.get(channel, 0) >= capacity(agent, channel) for channel in agent.channels
    )


def set_active_queues(
    *, agent: Agent, queue_ids: list[uuid.UUID], actor: Actor, now: datetime | None = None
) -> Agent:
    """Switch the queues the agent takes work from: assigned ones of active client firms."""
    at = now or utcnow()
    agent = lock(agent)
    wanted = list(dict.fromkeys(queue_ids))
    with tenants_scope(assigned_tenant_ids(agent.id)):
        found = {
            queue.id: queue
            for queue in db.session.scalars(
                select(Queue)
                .join(Assignment, Assignment.queue_id == Queue.id)
                .where(Assignment.agent_id == agent.id, Queue.id.in_(wanted))
            )
        }
    unassigned = [q for q in wanted if q not in found]
    if unassigned:
        raise Unprocessable(
            f"Not among your assigned queues: {', '.join(ids(unassigned))}.",
            errors={"json": {"queue_ids": [f"Not assigned to you: {q}" for q in unassigned]}},
        )
    refuse_unusable([found[q] for q in wanted], "made active")
    if set(ids(wanted)) != set(agent.active_queue_ids):
        change(
            agent,
            kind="active_queues",
            at=at,
            actor_user_id=actor.user_id,
            active_queue_ids=wanted,
        )
    return agent


@tenants_service.when_tenant_stops
def _stop_taking_work_of(*, tenant: Tenant, actor: Actor) -> None:
    """A suspended or offboarded firm's queues leave every agent's active queues at once, and
    the wrap-up of its contacts ends, so nobody takes its work and no more time is attributed
    to it."""
    now = utcnow()
    wrapping_up = db.session.scalars(select(Agent).where(Agent.acw_tenant_id == tenant.id))
    for agent in wrapping_up.all():
        end_wrap_up(agent=lock(agent), actor=actor, now=now)
    with tenant_scope(tenant.id):
        queue_ids = set(ids(db.session.scalars(select(Queue.id))))
        agent_ids = set(db.session.scalars(select(Assignment.agent_id).distinct()))
    for agent in db.session.scalars(select(Agent).where(Agent.id.in_(agent_ids))).all():
        if not queue_ids & set(agent.active_queue_ids):
            continue
        agent = lock(agent)
        change(
            agent,
            kind="active_queues",
            at=now,
            actor_user_id=actor.user_id,
            active_queue_ids=[q for q in agent.active_queue_ids if q not in queue_ids],
        )


def change(
    agent: Agent,
    *,
    kind: str,
    at: datetime,
    actor_user_id: uuid.UUID | None,
    presence: str | None = None,
    active_queue_ids: list | None = None,
    presence_auto: bool = False,
    wrap_up: Contact | None = None,
) -> AgentEvent:
    """Apply a presence or active-queue change at `at`: re-attribute the time, log the event.

    A new presence comes with whether the work rules set it (`presence_auto`) and, for
    after-contact work, the contact wrapped up (`wrap_up`); leaving after-contact work adds its
    time to that contact.
    """
    before = (agent.presence, set(agent.active_queue_ids), agent.acw_tenant_id)
    if presence is not None and presence != agent.presence:
        if agent.presence == AFTER_CONTACT_WORK:
            _end_wrap_up(agent, at)
        agent.presence = presence
        agent.presence_since = at
        agent.presence_auto = presence_auto
        if presence == AFTER_CONTACT_WORK:
            if wrap_up is None:
                raise ValueError("after-contact work needs the contact wrapped up")
            agent.acw_contact_id, agent.acw_tenant_id = wrap_up.id, wrap_up.tenant_id
    if active_queue_ids is not None:
        agent.active_queue_ids = ids(active_queue_ids)
    if (agent.presence, set(agent.active_queue_ids), agent.acw_tenant_id) != before:
        _close_segments(agent.id, at)
        _open_segments(agent, at)
    event = AgentEvent(
        agent_id=agent.id,
        occurred_at=at,
        kind=kind,
        presence=agent.presence,
        active_queue_ids=list(agent.active_queue_ids),
        actor_user_id=actor_user_id,
    )
    db.session.add(event)
    db.session.flush()
    return event


def _end_wrap_up(agent: Agent, at: datetime) -> None:
    """Add the after-contact work since the resolve to the contact's handle time, and forget it.

    Added however the contact moved meanwhile (reopened, closed): the time was spent on it. A
    contact erased since (its firm offboarded) has nothing to add to.
    """
    seconds = max(0, int((at - agent.presence_since).total_seconds()))
    if agent.acw_contact_id is not None and agent.acw_tenant_id is not None and seconds:
        with tenant_scope(agent.acw_tenant_id):
            contact = db.session.scalars(
                select(Contact)
                .where(Contact.id == agent.acw_contact_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).first()
            if contact is not None:
                # Through the ORM, so the report roll-ups see the contact changed.
                contact.acw_seconds += seconds
    agent.acw_contact_id = agent.acw_tenant_id = None


def _close_segments(agent_id: uuid.UUID, at: datetime) -> None:
    """End every running time segment of the agent at `at`."""
    # Running segments may be in any tenant (one whose queue was deleted since included): find
    # them all, by agent, so none keeps counting; each is closed within its own tenant.
    with unscoped():
        tenant_ids = set(
            db.session.scalars(
                select(AgentTimeSegment.tenant_id)
                .where(AgentTimeSegment.agent_id == agent_id, AgentTimeSegment.ended_at.is_(None))
                .distinct()
            )
        )
    for tenant_id in sorted(tenant_ids, key=str):
        with tenant_scope(tenant_id):
            running = db.session.scalars(
                select(AgentTimeSegment).where(
                    AgentTimeSegment.agent_id == agent_id, AgentTimeSegment.ended_at.is_(None)
                )
            )
            for segment in running:
                segment.ended_at = max(at, segment.started_at)


def _open_segments(agent: Agent, at: datetime) -> None:
    """Start one segment per tenant of the active queues, if the agent is working; in
    after-contact work, one for the firm of the contact wrapped up, with the whole share."""
    if agent.presence == AFTER_CONTACT_WORK and agent.acw_tenant_id is not None:
        with tenant_scope(agent.acw_tenant_id):
            db.session.add(
                AgentTimeSegment(
                    tenant_id=agent.acw_tenant_id,
                    agent_id=agent.id,
                    started_at=at,
                    presence=agent.presence,
                    share_bps=FULL_SHARE_BPS,
                )
            )
        return
    if agent.presence not in WORKING_PRESENCES or not agent.active_queue_ids:
        return
    with tenants_scope(assigned_tenant_ids(agent.id)):
        tenant_ids = sorted(
            set(
                db.session.scalars(
                    select(Queue.tenant_id).where(Queue.id.in_(uuids(agent.active_queue_ids)))
                )
            ),
            key=str,
        )
    for tenant_id, share in zip(tenant_ids, split_shares(len(tenant_ids)), strict=True):
        with tenant_scope(tenant_id):
            db.session.add(
                AgentTimeSegment(
                    tenant_id=tenant_id,
                    agent_id=agent.id,
                    started_at=at,
                    presence=agent.presence,
                    share_bps=share,
                )
            )


def split_shares(n: int) -> list[int]:
    """Split the whole (10000 basis points) into n shares as equal as can be, summing exactly."""
    if n == 0:
        return []
    base, remainder = divmod(FULL_SHARE_BPS, n)
    return [base + (1 if i < remainder else 0) for i in range(n)]
