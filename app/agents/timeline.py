"""An agent's timeline: its presence and active-queue events and the time segments they made,
as the BPO (every firm) or a supervisor (the firms overseen) may see them.

May import: app.db, app.agents (models, common), app.queues.models, tenants.models.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import or_, select

from app.agents.common import reading, uuids
from app.agents.models import Agent, AgentEvent, AgentTimeSegment
from app.db import db
from app.queues.models import Queue
from tenants.models import Tenant


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
    with reading(tenant_ids):
        queues = {
            str(row.id): row
            for row in db.session.execute(
                select(Queue.id, Queue.name, Queue.tenant_id, Tenant.name.label("tenant_name"))
                .join(Tenant, Tenant.id == Queue.tenant_id)
                .where(Queue.id.in_(uuids(queue_ids)))
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
