"""Reports: figures computed in the database for the tenant in scope.

Services take keyword arguments and return plain data; aggregation happens in SQL, never by
loading rows into Python. May import: app.db, app.agents.models, tenants.models.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Numeric, case, cast, extract, func, literal, select

from app.agents.models import Agent, AgentTimeSegment
from app.db import UTCDateTime, db, utcnow
from tenants.models import User


def _instant(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UTCDateTime())


def _seconds(start: ColumnElement, end: ColumnElement) -> ColumnElement:
    """Seconds from `start` to `end`, never negative."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.greatest(extract("epoch", end - start), 0)
    # SQLite keeps UTC timestamps as text: julianday reads them.
    seconds = (func.julianday(end) - func.julianday(start)) * 86400
    return case((seconds > 0, seconds), else_=0)


def _later(a: ColumnElement, b: ColumnElement) -> ColumnElement:
    if db.session.get_bind().dialect.name == "postgresql":
        return func.greatest(a, b)
    return func.max(a, b)  # SQLite's two-argument max() is scalar


def _earlier(a: ColumnElement, b: ColumnElement) -> ColumnElement:
    if db.session.get_bind().dialect.name == "postgresql":
        return func.least(a, b)
    return func.min(a, b)


def agent_time(*, from_: datetime, to: datetime, now: datetime | None = None) -> list[dict]:
    """Return, per agent, the working minutes attributed to the tenant in scope in [from_, to).

    Each time segment counts for its overlap with the range (a running one up to
    min(now, to)), times the tenant's share of it; minutes are also split by presence.
    """
    at = now or utcnow()
    segment = AgentTimeSegment
    end = _earlier(func.coalesce(segment.ended_at, _instant(at)), _instant(to))
    start = _later(segment.started_at, _instant(from_))
    weighted = cast(_seconds(start, end), Numeric) * segment.share_bps / 10000
    rows = db.session.execute(
        select(
            segment.agent_id,
            User.name,
            segment.presence,
            func.sum(weighted).label("seconds"),
        )
        .join(Agent, Agent.id == segment.agent_id)
        .join(User, User.id == Agent.user_id)
        .where(
            segment.started_at < _instant(to),
            func.coalesce(segment.ended_at, _instant(at)) > _instant(from_),
        )
        .group_by(segment.agent_id, User.name, segment.presence)
        .order_by(User.name, segment.agent_id, segment.presence)
    ).all()
    agents: dict = {}
    for row in rows:
        entry = agents.setdefault(
            row.agent_id, {"agent_id": row.agent_id, "name": row.name, "seconds": 0, "by": {}}
        )
        entry["seconds"] += float(row.seconds or 0)
        entry["by"][row.presence] = float(row.seconds or 0)
    return [
        {
            "agent_id": entry["agent_id"],
            "name": entry["name"],
            "minutes": round(entry["seconds"] / 60, 2),
            "minutes_by_presence": {p: round(s / 60, 2) for p, s in entry["by"].items()},
        }
        for entry in agents.values()
    ]
