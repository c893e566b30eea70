"""An agent's queue assignments: the client queues, of any firms, it serves and with what
priority; set as a whole list, or one queue added, re-prioritised or removed on its own.

A one-queue change is the full-list change applied to the agent's current list with this one
queue put in or taken out, under the agent's row lock, so the audit entry, the timeline event
and the rules (a new queue must be usable; a queue left leaves the active queues) are the
same, and two changes of different queues at once both stick.
May import: app.db, app.errors, app.agents (models, common, presence), app.queues.models, tenants.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select

from app.agents import presence
from app.agents.common import (
    assigned_queues,
    forget_assigned_tenants,
    ids,
    lock,
    reading,
    refuse_unusable,
    tenant_brief,
)
from app.agents.models import Agent, Assignment
from app.db import db, utcnow
from app.errors import NotFound, Unprocessable
from app.queues.models import Queue
from tenants.scoping import tenant_scope, unscoped
from tenants.service import Actor, record_audit


def assignments(*, agent: Agent, tenant_ids: Collection[uuid.UUID] | None) -> dict:
    """Return the agent's assignments in these tenants (None: all), with queues and tenants."""
    with reading(tenant_ids):
        rows = db.session.execute(assigned_queues(agent.id)).all()
    return {
        "agent_id": agent.id,
        "assignments": [
            {
                "queue_id": queue.id,
                "queue_name": queue.name,
                "queue_is_active": queue.is_active,
                "tenant": tenant_brief(tenant),
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
            f"No such queues: {', '.join(ids(unknown))}.",
            errors={"json": {"assignments": [f"No such queue: {q}" for q in unknown]}},
        )
    # Queues already served may stay while their firm is suspended; new ones must be usable.
    refuse_unusable([queues[q] for q in wanted if q not in current], "assigned")

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
            if added or removed:
                forget_assigned_tenants(agent.id)
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
        presence.change(
            agent,
            kind="assignments",
            at=at,
            actor_user_id=actor.user_id,
            active_queue_ids=still_active,
        )
    return agent


def put(*, agent: Agent, queue_id: uuid.UUID, priority: int, actor: Actor) -> Agent:
    """Assign the agent to the queue with this priority (or change its priority)."""
    # Read-modify-write of the list: concurrent changes of one agent must apply in turn.
    agent = lock(agent)
    # A BPO admin staffs the queues of every client firm: the queue may be any tenant's.
    with unscoped():
        exists = db.session.scalar(select(Queue.id).where(Queue.id == queue_id))
    if exists is None:
        raise NotFound("No such queue.")
    wanted = [a for a in _current(agent) if a["queue_id"] != queue_id]
    wanted.append({"queue_id": queue_id, "priority": priority})
    return set_assignments(agent=agent, assignments_in=wanted, actor=actor)


def delete(*, agent: Agent, queue_id: uuid.UUID, actor: Actor) -> Agent:
    """Unassign the agent from the queue; NotFound if it does not serve it."""
    # Read-modify-write of the list: concurrent changes of one agent must apply in turn.
    agent = lock(agent)
    current = _current(agent)
    if all(a["queue_id"] != queue_id for a in current):
        raise NotFound("The agent does not serve this queue.")
    wanted = [a for a in current if a["queue_id"] != queue_id]
    return set_assignments(agent=agent, assignments_in=wanted, actor=actor)


def _current(agent: Agent) -> list[dict]:
    # The agent's assignments span tenants, as in set_assignments.
    with unscoped():
        return [
            {"queue_id": a.queue_id, "priority": a.priority}
            for a in db.session.scalars(select(Assignment).where(Assignment.agent_id == agent.id))
        ]
