"""One assignment of an agent to one queue, added, re-prioritised or removed on its own.

The change is the full-list change (`agents.service.set_assignments`) applied to the agent's
current list with this one queue put in or taken out, under the agent's row lock, so the audit
entry, the timeline event and the rules (a new queue must be usable; a queue left leaves the
active queues) are the same, and two changes of different queues at once both stick.
May import: app.db, app.errors, app.agents (models, service), app.queues.models, tenants.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.agents import service as agents_service
from app.agents.models import Agent, Assignment
from app.db import db
from app.errors import NotFound
from app.queues.models import Queue
from tenants.scoping import unscoped
from tenants.service import Actor


def put(*, agent: Agent, queue_id: uuid.UUID, priority: int, actor: Actor) -> Agent:
    """Assign the agent to the queue with this priority (or change its priority)."""
    # Read-modify-write of the list: concurrent changes of one agent must apply in turn.
    agent = agents_service.lock(agent)
    # A BPO admin staffs the queues of every client firm: the queue may be any tenant's.
    with unscoped():
        exists = db.session.scalar(select(Queue.id).where(Queue.id == queue_id))
    if exists is None:
        raise NotFound("No such queue.")
    wanted = [a for a in _current(agent) if a["queue_id"] != queue_id]
    wanted.append({"queue_id": queue_id, "priority": priority})
    return agents_service.set_assignments(agent=agent, assignments_in=wanted, actor=actor)


def delete(*, agent: Agent, queue_id: uuid.UUID, actor: Actor) -> Agent:
    """Unassign the agent from the queue; NotFound if it does not serve it."""
    # Read-modify-write of the list: concurrent changes of one agent must apply in turn.
    agent = agents_service.lock(agent)
    current = _current(agent)
    if all(a["queue_id"] != queue_id for a in current):
        raise NotFound("The agent does not serve this queue.")
    wanted = [a for a in current if a["queue_id"] != queue_id]
    return agents_service.set_assignments(agent=agent, assignments_in=wanted, actor=actor)


def _current(agent: Agent) -> list[dict]:
    # The agent's assignments span tenants, as in set_assignments.
    with unscoped():
        return [
            {"queue_id": a.queue_id, "priority": a.priority}
            for a in db.session.scalars(select(Assignment).where(Assignment.agent_id == agent.id))
        ]
