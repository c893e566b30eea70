"""An agent's presence and active queues (what it takes work from), and the time segments
that attribute its working time to client firms as they change.

Services take keyword arguments, return ORM objects and never commit; `now` lets callers (and
tests) fix the instant. A client firm that stops takes its queues out of every agent's active
queues (registered with tenants.service.when_tenant_stops).
May import: app.db, app.errors, app.agents (models, common), app.queues.models, tenants.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from app.agents.common import assigned_tenant_ids, ids, lock, refuse_unusable, uuids
from app.agents.models import WORKING_PRESENCES, Agent, AgentEvent, AgentTimeSegment, Assignment
from app.db import db, utcnow
from app.errors import Unprocessable
from app.queues.models import Queue
from tenants import service as tenants_service
from tenants.models import Tenant
from tenants.scoping import tenant_scope, tenants_scope, unscoped
from tenants.service import Actor

FULL_SHARE_BPS = 10000


def set_presence(
    *, agent: Agent, presence: str, actor: Actor, now: datetime | None = None
) -> Agent:
    """Set the agent's presence; log it and re-attribute its time from now on."""
    at = now or utcnow()
    agent = lock(agent)
    if presence != agent.presence:
        change(agent, kind="presence", at=at, actor_user_id=actor.user_id, presence=presence)
    return agent


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
    """A suspended or offboarded firm's queues leave every agent's active queues at once, so
    nobody takes its work and no more time is attributed to it."""
    now = utcnow()
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
) -> AgentEvent:
    """Apply a presence or active-queue change at `at`: re-attribute the time, log the event."""
    before = (agent.presence, set(agent.active_queue_ids))
    if presence is not None and presence != agent.presence:
        agent.presence = presence
        agent.presence_since = at
    if active_queue_ids is not None:
        agent.active_queue_ids = ids(active_queue_ids)
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
