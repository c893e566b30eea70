"""What a caller sees of itself (/v1/me): its profile and roles, and for an agent its own day:
its queues across firms, what waits in each and the briefings in force.

May import: app.db, app.agents (models, common, service), app.contacts.models, app.queues
(models, service), tenants.models.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from app.agents.common import assigned_queues, assigned_tenant_ids, tenant_brief
from app.agents.models import Agent
from app.agents.service import get_by_user
from app.contacts.models import Contact
from app.db import db, utcnow
from app.queues import service as queues_service
from tenants.models import Tenant, User
from tenants.scoping import tenants_scope


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
    with tenants_scope(assigned_tenant_ids(agent.id)):
        rows = db.session.execute(assigned_queues(agent.id)).all()
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
                "tenant": tenant_brief(tenant),
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
        "tenants": [{**tenant_brief(t), "role": tenant_roles[t.id]} for t in tenants],
        "scopes": sorted(scopes),
        "agent": agent,
    }
