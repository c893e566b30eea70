"""Whether agents can serve a client firm's queues: the warnings onboarding and queue edits
answer with, so that a queue nobody can work is noticed when it is made, not when its
contacts pile up.

An agent serves a channel of a queue when it is active, assigned to the queue, works the channel
and has a concurrency above 0 there. Read in the caller's tenant scope (assignments are the
tenant's rows); agent profiles are the BPO's.
May import: app.db, app.agents.models, app.queues.models.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from app.agents.models import DEFAULT_CONCURRENCY, Agent, Assignment
from app.db import db
from app.queues.models import Queue


def warnings(*, queues: Iterable[Queue]) -> list[dict]:
    """One warning per active queue with channels no agent serves, naming those channels."""
    queues = [q for q in queues if q.is_active]
    if not queues:
        return []
    agents = db.session.execute(
        select(Agent.id, Agent.channels, Agent.concurrency).where(Agent.is_active.is_(True))
    ).all()
    works = {
        agent_id: {c for c in channels if int(concurrency.get(c, DEFAULT_CONCURRENCY)) > 0}
        for agent_id, channels, concurrency in agents
    }
    anywhere = set().union(*works.values()) if works else set()
    assigned: dict = {}
    for queue_id, agent_id in db.session.execute(
        select(Assignment.queue_id, Assignment.agent_id).where(
            Assignment.queue_id.in_([q.id for q in queues])
        )
    ):
        assigned.setdefault(queue_id, set()).update(works.get(agent_id, set()))
    found = []
    for queue in queues:
        unserved = [c for c in queue.channels if c not in assigned.get(queue.id, set())]
        if not unserved:
            continue
        nobody = [c for c in unserved if c not in anywhere]
        message = (
            f"No agent can serve {', '.join(unserved)} in queue {queue.name}: no active agent "
            "assigned to it works "
            + ("that channel" if len(unserved) == 1 else "these channels")
            + "; its contacts there wait until one is assigned "
            "(PUT /v1/agents/{agent_id}/assignments/{queue_id})."
        )
        if nobody:
            message += f" No active agent of the BPO works {', '.join(nobody)} at all."
        found.append(
            {
                "code": "channels_unserved",
                "queue_id": queue.id,
                "queue_name": queue.name,
                "channels": unserved,
                "channels_no_agent_works": nobody,
                "message": message,
            }
        )
    return found
