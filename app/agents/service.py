"""Agents: BPO staff profiles, the client queues they serve, presence and queue switches, the
time segments that attribute their working time to client firms, and supervisors' firms.

Agents and their events are the BPO's own rows; assignments and time segments belong to the
tenant whose queue they concern. Reads that span an agent's tenants use `tenants_scope`; every
write narrows to one tenant with `tenant_scope`. Services take keyword arguments, return ORM
objects or plain dicts and never commit; `now` lets callers (and tests) fix the instant.

May import: app.db, app.errors, app.agents, app.contacts.models, app.queues (models, service),
tenants (models, service, scoping).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy import inspect as sa_inspect

from app.agents.models import (
    WORKING_PRESENCES,
    Agent,
    AgentEvent,
    AgentTimeSegment,
    Assignment,
)
from app.agents.schemas import concurrency_errors
from app.contacts.models import Contact
from app.db import db, utcnow
from app.errors import Conflict, Unprocessable
from app.queues import service as queues_service
from app.queues.models import Queue
from tenants import service as tenants_service
from tenants.models import Membership, Tenant, User
from tenants.scoping import tenant_scope, tenants_scope, unscoped
from tenants.service import Actor, record_audit

FULL_SHARE_BPS = 10000
DEFAULT_CONCURRENCY = 1
SUPERVISOR = "supervisor"


def _reading(tenant_ids: Collection[uuid.UUID] | None) -> AbstractContextManager:
    """Scope reads to these tenants; None stands for a BPO admin, who sees every client firm."""
    if tenant_ids is None:
        # A BPO admin oversees every client firm: there is no tenant to narrow to.
        return unscoped()
    return tenants_scope(tenant_ids)


def _assigned_tenant_ids(agent_id: uuid.UUID) -> frozenset[uuid.UUID]:
    """Return the tenants whose queues the agent is assigned to."""
    # The tenants an agent reaches are whatever its assignments say: the same read the auth
    # layer makes to give an agent its roles (app.auth.principal.principal_for_user).
    with unscoped():
        return frozenset(
            db.session.scalars(
                select(Assignment.tenant_id).where(Assignment.agent_id == agent_id).distinct()
            )
        )


def _tenant_brief(tenant: Tenant) -> dict:
    return {"id": tenant.id, "name": tenant.name, "status": tenant.status}


def _ids(values: Iterable[object]) -> list[str]:
    return [str(v) for v in values]


def _uuids(values: Iterable[str]) -> list[uuid.UUID]:
    # Queue ids are kept as strings in JSON columns; comparisons with id columns need UUIDs.
    return sorted(uuid.UUID(v) for v in values)


# --- agents ----------------------------------------------------------------------------------


def get(*, agent_id: uuid.UUID) -> Agent | None:
    """Return an agent by id."""
    return db.session.get(Agent, agent_id)


def get_by_user(*, user_id: uuid.UUID) -> Agent | None:
    """Return the agent profile of a user, if they have one."""
    return db.session.scalar(select(Agent).where(Agent.user_id == user_id))


def assigned_agent_ids(*, tenant_ids: Collection[uuid.UUID]) -> frozenset[uuid.UUID]:
    """Return the agents assigned to any queue of these tenants."""
    with tenants_scope(tenant_ids):
        return frozenset(db.session.scalars(select(Assignment.agent_id).distinct()))


def list_(*, within: Collection[uuid.UUID] | None, is_active: bool | None = None) -> Select:
    """Select agents by name (only those `within`, unless None)."""
    stmt = select(Agent).join(Agent.user).order_by(User.name, User.email, Agent.id)
    if within is not None:
        stmt = stmt.where(Agent.id.in_(list(within)))
    if is_active is not None:
        stmt = stmt.where(Agent.is_active.is_(is_active))
    return stmt


def as_seen_by(*, agents: list[Agent], tenant_ids: Collection[uuid.UUID] | None) -> list:
    """Return the agents as these tenants may see them (None: all, unchanged).

    A supervisor sees an agent's active queues of the firms they oversee only: the others
    are left out, as they are from the timeline.
    """
    if tenant_ids is None:
        return list(agents)
    named = {q for agent in agents for q in agent.active_queue_ids}
    with tenants_scope(tenant_ids):
        visible = set(_ids(db.session.scalars(select(Queue.id).where(Queue.id.in_(_uuids(named))))))
    return [
        {
            **{attr.key: getattr(agent, attr.key) for attr in sa_inspect(Agent).column_attrs},
            "user": agent.user,
            "active_queue_ids": [q for q in agent.active_queue_ids if q in visible],
        }
        for agent in agents
    ]


def create(
    *, agent_in: dict, password_hash: str | None, actor: Actor, now: datetime | None = None
) -> Agent:
    """Create a BPO user with the agent role, and their agent profile."""
    at = now or utcnow()
    channels = list(agent_in["channels"])
    # An agent is BPO staff: its role and its audit entries belong to no tenant.
    with unscoped():
        membership = tenants_service.create_user(
            email=agent_in["email"],
            name=agent_in["name"],
            password_hash=password_hash,
            role="agent",
            tenant_id=None,
            actor=actor,
        )
        agent = Agent(
            user=membership.user,
            skills=_skills(agent_in.get("skills", [])),
            channels=channels,
            concurrency=_concurrency(channels, agent_in.get("concurrency", {})),
            languages=list(agent_in.get("languages", [])),
            presence="offline",
            presence_since=at,
            active_queue_ids=[],
            is_active=True,
        )
        db.session.add(agent)
        db.session.flush()
        record_audit(
            actor=actor,
            action="agent.created",
            target_type="agent",
            target_id=agent.id,
            details={"user_id": str(agent.user_id), "channels": channels},
        )
    return agent


def update(*, agent: Agent, agent_in: dict, actor: Actor, now: datetime | None = None) -> Agent:
    """Change an agent's name or profile, or (de)activate it."""
    at = now or utcnow()
    agent = lock(agent)
    changed: list[str] = []
    if "name" in agent_in and agent_in["name"] != agent.user.name:
        agent.user.name = agent_in["name"]
        changed.append("name")
    channels = list(agent_in.get("channels", agent.channels))
    sent = agent_in.get("concurrency", {})
    errors = concurrency_errors(channels, sent)
    if errors:
        raise Unprocessable(
            "Invalid input: concurrency names channels the agent does not handle.",
            errors={"json": {"concurrency": errors}},
        )
    # Entries sent merge into the current ones; channels dropped take their entries with them.
    values = {
        "skills": _skills(agent_in.get("skills", agent.skills)),
        "channels": channels,
        "concurrency": _concurrency(channels, {**agent.concurrency, **sent}),
        "languages": list(agent_in.get("languages", agent.languages)),
    }
    for key, value in values.items():
        if getattr(agent, key) != value:
            setattr(agent, key, value)
            changed.append(key)
    activation = agent_in.get("is_active")
    toggled = activation is not None and activation != agent.is_active
    if toggled:
        agent.is_active = activation
        if not activation:
            # A deactivated agent stops working at once: offline, out of its active queues.
            _change(
                agent,
                kind="presence",
                at=at,
                actor_user_id=actor.user_id,
                presence="offline",
                active_queue_ids=[],
            )
    db.session.flush()
    # The agent profile is the BPO's own, and so is its audit trail.
    with unscoped():
        if changed:
            record_audit(
                actor=actor,
                action="agent.updated",
                target_type="agent",
                target_id=agent.id,
                details={"changed": sorted(changed)},
            )
        if toggled:
            record_audit(
                actor=actor,
                action="agent.activated" if activation else "agent.deactivated",
                target_type="agent",
                target_id=agent.id,
            )
    return agent


def _skills(skills: Iterable[dict]) -> list[dict]:
    return [{"name": s["name"].strip(), "level": s["level"]} for s in skills]


def _concurrency(channels: list[str], concurrency: dict[str, int]) -> dict[str, int]:
    """One entry per channel the agent handles, 1 where none was given."""
    return {channel: int(concurrency.get(channel, DEFAULT_CONCURRENCY)) for channel in channels}


def lock(agent: Agent) -> Agent:
    """Take the agent's row lock and read it afresh, so that concurrent changes of one agent
    (switches, assignments, claims) apply one after the other."""
    return db.session.scalars(
        select(Agent)
        .where(Agent.id == agent.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


# --- assignments -----------------------------------------------------------------------------


def assignments(*, agent: Agent, tenant_ids: Collection[uuid.UUID] | None) -> dict:
    """Return the agent's assignments in these tenants (None: all), with queues and tenants."""
    with _reading(tenant_ids):
        rows = db.session.execute(
            select(Assignment, Queue, Tenant)
            .join(Queue, Queue.id == Assignment.queue_id)
            .join(Tenant, Tenant.id == Assignment.tenant_id)
            .where(Assignment.agent_id == agent.id)
            .order_by(Assignment.priority, Tenant.name, Queue.name, Queue.id)
        ).all()
    return {
        "agent_id": agent.id,
        "assignments": [
            {
                "queue_id": queue.id,
                "queue_name": queue.name,
                "queue_is_active": queue.is_active,
                "tenant": _tenant_brief(tenant),
                "priority": assignment.priority,
                "created_at": assignment.created_at,
            }
            for assignment, queue, tenant in rows
        ],
    }


def set_assignments(
    *, agent: Agent, assignments_in: list[dict], actor: Actor, now: datetime | None = None
) -> Agent:
    """Set the full list of queues, of any tenants, the agent serves, each with a priority.

    Queues no longer listed are unassigned (and leave the agent's active queues); each tenant
    whose assignments change gets its own audit entry; the agent's timeline gets one event.
    """
    at = now or utcnow()
    agent = lock(agent)
    wanted = {a["queue_id"]: a["priority"] for a in assignments_in}
    # A BPO admin staffs the queues of every client firm: the ids sent may be any tenant's,
    # and so may the agent's current assignments. Each change is then written in its tenant.
    with unscoped():
        queues = {
            q.id: q for q in db.session.scalars(select(Queue).where(Queue.id.in_(list(wanted))))
        }
        current = {
            a.queue_id: a
            for a in db.session.scalars(select(Assignment).where(Assignment.agent_id == agent.id))
        }
    unknown = [q for q in wanted if q not in queues]
    if unknown:
        raise Unprocessable(
            f"No such queues: {', '.join(_ids(unknown))}.",
            errors={"json": {"assignments": [f"No such queue: {q}" for q in unknown]}},
        )
    # Queues already served may stay while their firm is suspended; new ones must be usable.
    _refuse_unusable([queues[q] for q in wanted if q not in current], "assigned")

    changed = False
    tenant_ids = {q.tenant_id for q in queues.values()} | {a.tenant_id for a in current.values()}
    for tenant_id in sorted(tenant_ids, key=str):
        with tenant_scope(tenant_id):
            added, removed, reprioritised = [], [], []
            for queue_id, assignment in current.items():
                if assignment.tenant_id != tenant_id:
                    continue
                if queue_id not in wanted:
                    db.session.delete(assignment)
                    removed.append(str(queue_id))
                elif assignment.priority != wanted[queue_id]:
                    assignment.priority = wanted[queue_id]
                    reprioritised.append(str(queue_id))
            for queue_id, priority in wanted.items():
                if queue_id in current or queues[queue_id].tenant_id != tenant_id:
                    continue
                db.session.add(
                    Assignment(
                        tenant_id=tenant_id,
                        agent_id=agent.id,
                        queue_id=queue_id,
                        priority=priority,
                        created_at=at,
                    )
                )
                added.append(str(queue_id))
            if added or removed or reprioritised:
                changed = True
                record_audit(
                    actor=actor,
                    action="agent.assignments_changed",
                    target_type="agent",
                    target_id=agent.id,
                    tenant_id=tenant_id,
                    details={"added": added, "removed": removed, "reprioritised": reprioritised},
                )
    if changed:
        still_active = [q for q in agent.active_queue_ids if uuid.UUID(q) in wanted]
        _change(
            agent,
            kind="assignments",
            at=at,
            actor_user_id=actor.user_id,
            active_queue_ids=still_active,
        )
    return agent


def _refuse_unusable(queues: Iterable[Queue], verb: str) -> None:
    """Raise Conflict naming queues that are deactivated or whose client firm is not active."""
    reasons = []
    for queue in queues:
        tenant = db.session.get(Tenant, queue.tenant_id)
        if tenant.status != "active":
            reasons.append(f"{queue.name} ({queue.id}): {tenant.name} is {tenant.status}")
        elif not queue.is_active:
            reasons.append(f"{queue.name} ({queue.id}): the queue is deactivated")
    if reasons:
        raise Conflict(f"These queues cannot be {verb} now: {'; '.join(reasons)}.")


# --- presence, active queues and time attribution --------------------------------------------


def set_presence(
    *, agent: Agent, presence: str, actor: Actor, now: datetime | None = None
) -> Agent:
    """Set the agent's presence; log it and re-attribute its time from now on."""
    at = now or utcnow()
    agent = lock(agent)
    if presence != agent.presence:
        _change(agent, kind="presence", at=at, actor_user_id=actor.user_id, presence=presence)
    return agent


def set_active_queues(
    *, agent: Agent, queue_ids: list[uuid.UUID], actor: Actor, now: datetime | None = None
) -> Agent:
    """Switch the queues the agent takes work from: assigned ones of active client firms."""
    at = now or utcnow()
    agent = lock(agent)
    wanted = list(dict.fromkeys(queue_ids))
    with tenants_scope(_assigned_tenant_ids(agent.id)):
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
            f"Not among your assigned queues: {', '.join(_ids(unassigned))}.",
            errors={"json": {"queue_ids": [f"Not assigned to you: {q}" for q in unassigned]}},
        )
    _refuse_unusable([found[q] for q in wanted], "made active")
    if set(_ids(wanted)) != set(agent.active_queue_ids):
        _change(
            agent,
            kind="active_queues",
            at=at,
            actor_user_id=actor.user_id,
            active_queue_ids=wanted,
        )
    return agent


@tenants_service.when_tenant_stops
def _stop_taking_work_of(*, tenant: Tenant, actor: Actor) -> None:
    """A suspended or offboarded firm's queues leave every agent's active queues at once, so
    nobody takes its work and no more time is attributed to it."""
    now = utcnow()
    with tenant_scope(tenant.id):
        queue_ids = set(_ids(db.session.scalars(select(Queue.id))))
        agent_ids = set(db.session.scalars(select(Assignment.agent_id).distinct()))
    for agent in db.session.scalars(select(Agent).where(Agent.id.in_(agent_ids))).all():
        if not queue_ids & set(agent.active_queue_ids):
            continue
        agent = lock(agent)
        _change(
            agent,
            kind="active_queues",
            at=now,
            actor_user_id=actor.user_id,
            active_queue_ids=[q for q in agent.active_queue_ids if q not in queue_ids],
        )


def _change(
    agent: Agent,
    *,
    kind: str,
    at: datetime,
    actor_user_id: uuid.UUID | None,
    presence: str | None = None,
    active_queue_ids: list | None = None,
) -> AgentEvent:
    """Apply a presence or active-queue change at `at`: re-attribute the time, log the event."""
    before = (agent.presence, set(agent.active_queue_ids))
    if presence is not None and presence != agent.presence:
        agent.presence = presence
        agent.presence_since = at
    if active_queue_ids is not None:
        agent.active_queue_ids = _ids(active_queue_ids)
    if (agent.presence, set(agent.active_queue_ids)) != before:
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
    """Start one segment per tenant of the active queues, if the agent is working."""
    if agent.presence not in WORKING_PRESENCES or not agent.active_queue_ids:
        return
    with tenants_scope(_assigned_tenant_ids(agent.id)):
        tenant_ids = sorted(
            set(
                db.session.scalars(
                    select(Queue.tenant_id).where(Queue.id.in_(_uuids(agent.active_queue_ids)))
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


# --- timeline --------------------------------------------------------------------------------


def timeline(
    *, agent: Agent, tenant_ids: Collection[uuid.UUID] | None, from_: datetime, to: datetime
) -> dict:
    """Return the agent's events and time segments in [from_, to), as seen by these tenants.

    None stands for every tenant (a BPO admin). Otherwise queues and segments of other
    tenants are left out: an event still shows, with only the visible queues it named.
    """
    events = db.session.scalars(
        select(AgentEvent)
        .where(
            AgentEvent.agent_id == agent.id,
            AgentEvent.occurred_at >= from_,
            AgentEvent.occurred_at < to,
        )
        .order_by(AgentEvent.occurred_at, AgentEvent.id)
    ).all()
    queue_ids = {q for event in events for q in event.active_queue_ids}
    with _reading(tenant_ids):
        queues = {
            str(row.id): row
            for row in db.session.execute(
                select(Queue.id, Queue.name, Queue.tenant_id, Tenant.name.label("tenant_name"))
                .join(Tenant, Tenant.id == Queue.tenant_id)
                .where(Queue.id.in_(_uuids(queue_ids)))
            )
        }
        segments = db.session.execute(
            select(AgentTimeSegment, Tenant.name)
            .join(Tenant, Tenant.id == AgentTimeSegment.tenant_id)
            .where(
                AgentTimeSegment.agent_id == agent.id,
                AgentTimeSegment.started_at < to,
                or_(AgentTimeSegment.ended_at.is_(None), AgentTimeSegment.ended_at > from_),
            )
            .order_by(AgentTimeSegment.started_at, Tenant.name, AgentTimeSegment.id)
        ).all()

    def describe(queue_id: str) -> dict | None:
        row = queues.get(queue_id)
        if row is not None:
            return {
                "queue_id": row.id,
                "queue_name": row.name,
                "tenant_id": row.tenant_id,
                "tenant_name": row.tenant_name,
            }
        # A queue deleted since: the BPO admin still sees its id; a supervisor sees nothing.
        return {"queue_id": queue_id} if tenant_ids is None else None

    return {
        "agent_id": agent.id,
        "from_": from_,
        "to": to,
        "events": [
            {
                "id": event.id,
                "occurred_at": event.occurred_at,
                "kind": event.kind,
                "presence": event.presence,
                "active_queues": [
                    d for d in (describe(q) for q in event.active_queue_ids) if d is not None
                ],
                "actor_user_id": event.actor_user_id,
            }
            for event in events
        ],
        "segments": [
            {
                "id": segment.id,
                "tenant_id": segment.tenant_id,
                "tenant_name": tenant_name,
                "started_at": segment.started_at,
                "ended_at": segment.ended_at,
                "presence": segment.presence,
                "share_bps": segment.share_bps,
            }
            for segment, tenant_name in segments
        ],
    }


# --- the agent's own day ---------------------------------------------------------------------


@dataclass(frozen=True)
class QueueWaiting:
    waiting_count: int
    oldest_wait_seconds: int | None


def queue_waiting(
    *, queue_ids: Collection[uuid.UUID], now: datetime
) -> dict[uuid.UUID, QueueWaiting]:
    """Return how many contacts wait in each queue and how long the oldest has waited.

    One grouped query over the queued (and reopened) contacts of these queues. It is called
    inside the caller's scope (the agent's tenants), so the query needs no tenant filter.
    """
    waiting = {
        queue_id: QueueWaiting(waiting_count=0, oldest_wait_seconds=None) for queue_id in queue_ids
    }
    if not waiting:
        return waiting
    rows = db.session.execute(
        select(Contact.queue_id, func.count(), func.min(Contact.queued_at))
        .where(
            Contact.queue_id.in_(list(waiting)),
            Contact.status.in_(("queued", "reopened")),
        )
        .group_by(Contact.queue_id)
    )
    for queue_id, count, oldest in rows:
        waiting[queue_id] = QueueWaiting(
            waiting_count=count,
            oldest_wait_seconds=max(0, int((now - oldest).total_seconds())),
        )
    return waiting


def my_queues(*, agent: Agent, now: datetime | None = None) -> list[dict]:
    """Return every queue the agent is assigned to, across tenants, with what it needs to know:
    its tenant, priority, whether it is active, what waits there, the briefings in force."""
    at = now or utcnow()
    with tenants_scope(_assigned_tenant_ids(agent.id)):
        rows = db.session.execute(
            select(Assignment, Queue, Tenant)
            .join(Queue, Queue.id == Assignment.queue_id)
            .join(Tenant, Tenant.id == Assignment.tenant_id)
            .where(Assignment.agent_id == agent.id)
            .order_by(Assignment.priority, Tenant.name, Queue.name, Queue.id)
        ).all()
        queue_ids = [queue.id for _, queue, _ in rows]
        waiting = queue_waiting(queue_ids=queue_ids, now=at)
        briefings = queues_service.current_briefings(queue_ids=queue_ids, at=at)
    active = set(agent.active_queue_ids)
    result = []
    for assignment, queue, tenant in rows:
        result.append(
            {
                "queue_id": queue.id,
                "queue_name": queue.name,
                "channels": list(queue.channels),
                "tenant": _tenant_brief(tenant),
                "priority": assignment.priority,
                "active": str(queue.id) in active,
                "waiting_count": waiting[queue.id].waiting_count,
                "oldest_wait_seconds": waiting[queue.id].oldest_wait_seconds,
                # A briefing naming no queue concerns every queue of its own firm.
                "briefings": [
                    b
                    for b in briefings
                    if b.tenant_id == queue.tenant_id
                    and (not b.queue_ids or str(queue.id) in b.queue_ids)
                ],
            }
        )
    return result


def caller_profile(
    *,
    user_id: uuid.UUID | None,
    client_id: str,
    platform_roles: Collection[str],
    tenant_roles: dict[uuid.UUID, str],
    scopes: Collection[str],
) -> dict:
    """Describe a caller: its user, roles across the BPO and per tenant, and agent profile."""
    user = db.session.get(User, user_id) if user_id is not None else None
    agent = get_by_user(user_id=user_id) if user is not None and "agent" in platform_roles else None
    tenants = db.session.scalars(
        select(Tenant).where(Tenant.id.in_(list(tenant_roles))).order_by(Tenant.name, Tenant.id)
    )
    return {
        "user": user,
        "client_id": client_id,
        "platform_roles": sorted(platform_roles),
        "tenants": [{**_tenant_brief(t), "role": tenant_roles[t.id]} for t in tenants],
        "scopes": sorted(scopes),
        "agent": agent,
    }


# --- supervisors -----------------------------------------------------------------------------


def get_supervisor(*, user_id: uuid.UUID) -> User | None:
    """Return a BPO user whose only role is supervisor (of any number of client firms)."""
    user = db.session.get(User, user_id)
    if user is None:
        return None
    # A supervisor's memberships span tenants: all of them say what the user is.
    with unscoped():
        roles = set(
            db.session.scalars(select(Membership.role).where(Membership.user_id == user_id))
        )
    # Stripped of every client firm, a supervisor holds no membership at all (and stays one).
    return user if roles <= {SUPERVISOR} else None


def supervised_tenants(*, user: User) -> dict:
    """Return the client firms a supervisor oversees."""
    # As above: the supervisor's memberships across tenants.
    with unscoped():
        tenants = db.session.scalars(
            select(Tenant)
            .join(Membership, Membership.tenant_id == Tenant.id)
            .where(Membership.user_id == user.id, Membership.role == SUPERVISOR)
            .order_by(Tenant.name, Tenant.id)
        ).all()
    return {
        "user_id": user.id,
        "tenant_ids": [t.id for t in tenants],
        "tenants": [_tenant_brief(t) for t in tenants],
    }


def set_supervised_tenants(*, user: User, tenant_ids: list[uuid.UUID], actor: Actor) -> dict:
    """Set the full list of client firms a supervisor oversees; audit each grant and removal."""
    wanted = list(dict.fromkeys(tenant_ids))
    tenants = {t.id: t for t in db.session.scalars(select(Tenant).where(Tenant.id.in_(wanted)))}
    unknown = [t for t in wanted if t not in tenants]
    if unknown:
        raise Unprocessable(
            f"No such client firms: {', '.join(_ids(unknown))}.",
            errors={"json": {"tenant_ids": [f"No such client firm: {t}" for t in unknown]}},
        )
    # The supervisor's current memberships, in whichever tenants they are.
    with unscoped():
        current = {
            m.tenant_id: m
            for m in db.session.scalars(
                select(Membership).where(
                    Membership.user_id == user.id, Membership.role == SUPERVISOR
                )
            )
        }
    added = [tenants[t] for t in wanted if t not in current]
    offboarded = [t for t in added if t.status == "offboarded"]
    if offboarded:
        raise Conflict(
            "Offboarded client firms cannot be given a supervisor: "
            + ", ".join(f"{t.name} ({t.id})" for t in offboarded)
            + "."
        )
    for tenant in added:
        with tenant_scope(tenant.id):
            db.session.add(Membership(user_id=user.id, role=SUPERVISOR, tenant_id=tenant.id))
            record_audit(
                actor=actor,
                action="supervisor.granted",
                target_type="user",
                target_id=user.id,
                tenant_id=tenant.id,
            )
    for tenant_id, membership in current.items():
        if tenant_id in tenants:
            continue
        with tenant_scope(tenant_id):
            db.session.delete(membership)
            record_audit(
                actor=actor,
                action="supervisor.revoked",
                target_type="user",
                target_id=user.id,
                tenant_id=tenant_id,
            )
    db.session.flush()
    return supervised_tenants(user=user)
