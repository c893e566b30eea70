"""Agents: BPO staff profiles (created as BPO users with the agent role), reading them as the
BPO or a supervisor may, and changing or (de)activating them.

Agents and their events are the BPO's own rows. Services take keyword arguments, return ORM
objects or plain dicts and never commit; `now` lets callers (and tests) fix the instant.
Assignments live in app.agents.queue_assignments, presence and time attribution in
app.agents.presence, the timeline in app.agents.timeline, /v1/me in app.agents.me,
supervisors in app.agents.supervisors.
May import: app.db, app.errors, app.agents (models, schemas, common, presence), app.queues.models,
tenants (models, service, scoping).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy import inspect as sa_inspect

from app.agents import presence
from app.agents.common import ids, lock, uuids
from app.agents.models import DEFAULT_CONCURRENCY, Agent, Assignment
from app.agents.schemas import concurrency_errors
from app.db import db, utcnow
from app.errors import Unprocessable
from app.queues.models import Queue
from tenants import service as tenants_service
from tenants.models import User
from tenants.scoping import tenants_scope, unscoped
from tenants.service import Actor, record_audit


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
        visible = set(ids(db.session.scalars(select(Queue.id).where(Queue.id.in_(uuids(named))))))
    return [
        {
            **{attr.key: getattr(agent, attr.key) for attr in sa_inspect(Agent).column_attrs},
            "user": agent.user,
            "active_queue_ids": [q for q in agent.active_queue_ids if q in visible],
            **_wrap_up_as_seen_by(agent, tenant_ids),
        }
        for agent in agents
    ]


def _wrap_up_as_seen_by(agent: Agent, tenant_ids: Collection[uuid.UUID]) -> dict:
    """The contact an agent wraps up, only for the firm it belongs to."""
    if agent.acw_tenant_id in tenant_ids:
        return {}
    return {"acw_contact_id": None, "acw_tenant_id": None}


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
            presence.change(
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
