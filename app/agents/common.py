"""What the agents services share: an agent's row lock, the scope of reads that span client
firms, the tenants an agent reaches, the check that queues are usable, and small id helpers.

May import: app.db, app.errors, app.agents.models, app.queues.models, tenants (models,
scoping); no other agents module (they all import this one).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from contextlib import AbstractContextManager

from sqlalchemy import Select, select

from app.agents.models import DEFAULT_CONCURRENCY, Agent, Assignment
from app.db import db
from app.errors import Conflict
from app.queues.models import Queue
from tenants.models import Tenant
from tenants.scoping import tenants_scope, unscoped


def reading(tenant_ids: Collection[uuid.UUID] | None) -> AbstractContextManager:
    """Scope reads to these tenants; None stands for a BPO admin, who sees every client firm."""
    if tenant_ids is None:
        # A BPO admin oversees every client firm: there is no tenant to narrow to.
        return unscoped()
    return tenants_scope(tenant_ids)


def assigned_tenant_ids(agent_id: uuid.UUID) -> frozenset[uuid.UUID]:
    """Return the tenants whose queues the agent is assigned to.

    Read once per transaction while this transaction holds the agent's lock (`lock`):
    assignments change only under that lock, so a claim and the presence that follows it ask
    the database once. `set_assignments` forgets it (`forget_assigned_tenants`)."""
    locks = _locks_held()
    known = locks.get(agent_id) if locks is not None else None
    if known is not None:
        return known
    # The tenants an agent reaches are whatever its assignments say: the same read the auth
    # layer makes to give an agent its roles (app.auth.principal.principal_for_user).
    with unscoped():
        tenant_ids = frozenset(
            db.session.scalars(
                select(Assignment.tenant_id).where(Assignment.agent_id == agent_id).distinct()
            )
        )
    if locks is not None and agent_id in locks:
        locks[agent_id] = tenant_ids
    return tenant_ids


def forget_assigned_tenants(agent_id: uuid.UUID) -> None:
    """The agent's assignments changed in this transaction: read its tenants afresh."""
    locks = _locks_held()
    if locks is not None and agent_id in locks:
        locks[agent_id] = None


def assigned_queues(agent_id: uuid.UUID) -> Select:
    """Select the agent's assignments with their queues and firms, in the agent's order of
    priority, then by firm and queue name (in the caller's scope)."""
    return (
        select(Assignment, Queue, Tenant)
        .join(Queue, Queue.id == Assignment.queue_id)
        .join(Tenant, Tenant.id == Assignment.tenant_id)
        .where(Assignment.agent_id == agent_id)
        .order_by(Assignment.priority, Tenant.name, Queue.name, Queue.id)
    )


def tenant_brief(tenant: Tenant) -> dict:
    return {"id": tenant.id, "name": tenant.name, "status": tenant.status}


def ids(values: Iterable[object]) -> list[str]:
    return [str(v) for v in values]


def uuids(values: Iterable[str]) -> list[uuid.UUID]:
    # Queue ids are kept as strings in JSON columns; comparisons with id columns need UUIDs.
    return sorted(uuid.UUID(v) for v in values)


def capacity(agent: Agent, channel: str) -> int:
    """Return how many contacts of the channel the agent may hold at once."""
    return int(agent.concurrency.get(channel, DEFAULT_CONCURRENCY))


def lock(agent: Agent) -> Agent:
    """Take the agent's row lock and read it afresh, so that concurrent changes of one agent
    (switches, assignments, claims) apply one after the other. Once per transaction: while the
    lock is held no one else changes the row, so a second lock (a claim's, then its presence
    following the work) answers the row as this transaction has it, without a round trip."""
    locked = lock_id(agent.id)
    if locked is None:  # deleted since it was read: as a row lock on nothing would fail
        raise LookupError(f"agent {agent.id} no longer exists")
    return locked


def _locks_held() -> dict[uuid.UUID, frozenset[uuid.UUID] | None] | None:
    """The agents this transaction holds locked, each with its tenants once read; None when
    it holds none."""
    session = db.session
    held = session.info.get("agent_locks")
    if held is None or held[0] is not session.get_transaction():
        return None
    return held[1]


def lock_id(agent_id: uuid.UUID) -> Agent | None:
    """`lock` by id: the agent's row locked and read afresh (None if there is none)."""
    session = db.session
    locks = _locks_held()
    if locks is not None and agent_id in locks:
        current = session.get(Agent, agent_id)
        if current is not None:
            return current
    # The agent's firms come in the same statement (for assigned_tenant_ids): its assignments,
    # read before any scope, as the auth layer reads them.
    with unscoped():
        rows = session.execute(
            select(Agent, Assignment.tenant_id)
            .outerjoin(Assignment, Assignment.agent_id == Agent.id)
            .where(Agent.id == agent_id)
            .with_for_update(of=Agent)
            .execution_options(populate_existing=True)
        ).all()
    if not rows:
        return None
    row = rows[0][0]
    if session.in_nested_transaction():
        # A lock taken inside a savepoint ends with the savepoint's rollback: not remembered.
        return row
    if locks is None:
        locks = {}
        session.info["agent_locks"] = (session.get_transaction(), locks)
    locks[row.id] = frozenset(tenant_id for _, tenant_id in rows if tenant_id is not None)
    return row


def refuse_unusable(queues: Iterable[Queue], verb: str) -> None:
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
