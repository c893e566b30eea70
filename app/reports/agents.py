"""The agents' reports of a firm: working time attributed to it, and each agent's work for it.

Agent time splits working seconds by presence (after-contact work included: handle time of the
one firm whose contact is wrapped up); the agents report adds handled contacts, handle time,
idle time, occupancy and CSAT. Both count time segments for their overlap with the range,
times the firm's share of them.
May import: app.db, the models of agents and contacts, tenants.models and app.reports (daily,
measures, periods, settings).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Numeric,
    and_,
    case,
    cast,
    func,
    or_,
    select,
)

from app.agents.models import WORKING_PRESENCES, Agent, AgentTimeSegment
from app.contacts.models import Contact
from app.db import db, utcnow
from app.reports import daily
from app.reports.measures import (
    SECONDS_DIGITS,
    as_int,
    earlier,
    later,
    ratio,
    seconds_between,
    sql_instant,
)
from app.reports.periods import zone_of
from app.reports.settings import report_settings
from tenants.models import Tenant, User


def _segment_seconds(*, from_: datetime, to: datetime, at: datetime) -> ColumnElement:
    """A time segment's overlap with [from_, to), a running one up to `at`, times its share."""
    segment = AgentTimeSegment
    end = earlier(func.coalesce(segment.ended_at, sql_instant(at)), sql_instant(to))
    start = later(segment.started_at, sql_instant(from_))
    return cast(seconds_between(start, end), Numeric) * segment.share_bps / 10000


def _segments_overlapping(*, from_: datetime, to: datetime, at: datetime) -> list:
    segment = AgentTimeSegment
    return [
        segment.started_at < sql_instant(to),
        func.coalesce(segment.ended_at, sql_instant(at)) > sql_instant(from_),
    ]


def agent_time(*, from_: datetime, to: datetime, now: datetime | None = None) -> list[dict]:
    """Return, per agent, the working seconds attributed to the tenant in scope in [from_, to).

    Each time segment counts for its overlap with the range (a running one up to
    min(now, to)), times the tenant's share of it; seconds are also split by presence.
    """
    at = now or utcnow()
    segment = AgentTimeSegment
    rows = db.session.execute(
        select(
            segment.agent_id,
            User.name,
            segment.presence,
            func.sum(_segment_seconds(from_=from_, to=to, at=at)).label("seconds"),
        )
        .join(Agent, Agent.id == segment.agent_id)
        .join(User, User.id == Agent.user_id)
        .where(*_segments_overlapping(from_=from_, to=to, at=at))
        .group_by(segment.agent_id, User.name, segment.presence)
        .order_by(User.name, segment.agent_id, segment.presence)
    ).all()
    agents: dict = {}
    for row in rows:
        entry = agents.setdefault(
            row.agent_id,
            {"agent_id": row.agent_id, "name": row.name, **dict.fromkeys(WORKING_PRESENCES, 0.0)},
        )
        # Only working time is ever attributed (break and offline open no segment).
        entry[row.presence] = entry.get(row.presence, 0.0) + float(row.seconds or 0)
    return [
        {
            "agent_id": entry["agent_id"],
            "name": entry["name"],
            "working_seconds": round(sum(entry[p] for p in WORKING_PRESENCES), SECONDS_DIGITS),
            "available_seconds": round(entry["available"], SECONDS_DIGITS),
            "busy_seconds": round(entry["busy"], SECONDS_DIGITS),
            "after_contact_work_seconds": round(entry["after_contact_work"], SECONDS_DIGITS),
        }
        for entry in agents.values()
    ]


def _occupancy(handle: float, available: float, wrap_up: float) -> tuple[float, float | None]:
    """Idle time and occupancy (SPEC: handle / (handle + available idle time)).

    Agents stay `available` while they work contacts below their concurrency cap, and their
    after-contact work is handle time too (`acw_seconds`), so the idle part of the time they
    were available or wrapping up is what handle time leaves of it, never below zero. (Time
    busy at the cap is handle time whose stretch is not added here: with it counted, a busy
    the agent chose would pass for idle.)
    """
    idle = max(0.0, available + wrap_up - handle)
    return idle, ratio(handle, handle + idle)


def _finished_in(*, from_: datetime, to: datetime) -> ColumnElement:
    """Contacts finished in [from_, to): resolved then, or closed then without a resolution.

    The same as COALESCE(resolved_at, closed_at) in the range, spelt on the columns themselves:
    PostgreSQL has no statistics for the COALESCE (it guessed a few hundred rows of a million
    and sorted them on disk) and, not knowing it leakproof, tests it row by row after the
    row-level security policy; plain comparisons are estimated from the columns' statistics
    and let the (tenant_id, resolved_at) and (tenant_id, closed_at) indexes find a range.
    """
    c = Contact
    return or_(
        and_(c.resolved_at >= sql_instant(from_), c.resolved_at < sql_instant(to)),
        and_(
            c.resolved_at.is_(None),
            c.closed_at >= sql_instant(from_),
            c.closed_at < sql_instant(to),
        ),
    )


def agents_report(
    *, from_: datetime, to: datetime, now: datetime | None = None, tenant: Tenant | None = None
) -> dict:
    """Per agent, this tenant's work in [from_, to): contacts handled (by when they were
    resolved), handle time, AHT, available and idle time, occupancy, CSAT; and the totals.

    Given the tenant, the handled contacts come from its daily roll-ups when they can say
    (app/reports/daily.py), else from the contacts."""
    at = now or utcnow()
    work = None
    if tenant is not None:
        work = daily.agent_work(
            tenant=tenant, zone=zone_of(tenant), settings=report_settings(), from_=from_, to=to
        )
    if work is None:
        work = _work_from_contacts(from_=from_, to=to)
    segment = AgentTimeSegment
    available: dict = {}
    wrap_up: dict = {}
    for row in db.session.execute(
        select(
            segment.agent_id,
            segment.presence,
            func.sum(_segment_seconds(from_=from_, to=to, at=at)).label("seconds"),
        )
        .where(
            segment.presence.in_(("available", "after_contact_work")),
            *_segments_overlapping(from_=from_, to=to, at=at),
        )
        .group_by(segment.agent_id, segment.presence)
    ):
        into = available if row.presence == "available" else wrap_up
        into[row.agent_id] = float(row.seconds or 0)
    ids = set(work) | set(available) | set(wrap_up)
    names = dict(
        db.session.execute(
            select(Agent.id, User.name)
            .join(User, User.id == Agent.user_id)
            .where(Agent.id.in_(sorted(ids)))
        ).all()
        if ids
        else []
    )
    rows = [
        _agent_figures(work.get(agent_id), available.get(agent_id, 0.0), wrap_up.get(agent_id, 0.0))
        | {"agent_id": agent_id, "name": names.get(agent_id)}
        for agent_id in ids
    ]
    rows.sort(key=lambda row: (row["name"] or "", str(row["agent_id"])))
    totals = _agent_totals(rows)
    return {"agents": rows, "totals": totals}


def _work_from_contacts(*, from_: datetime, to: datetime) -> dict:
    """Per agent: the contacts received before `to`, answered or responded to, and finished in
    [from_, to), with their handle seconds and CSAT."""
    c = Contact
    handled = and_(
        or_(c.answered_at.is_not(None), c.first_response_at.is_not(None)),
        _finished_in(from_=from_, to=to),
    )
    return {
        row.agent_id: row
        for row in db.session.execute(
            select(
                c.agent_id,
                func.count().label("handled"),
                func.sum(c.talk_seconds + c.hold_seconds + c.acw_seconds).label("handle"),
                func.count(c.csat).label("rated"),
                func.count(case((c.csat >= 4, 1))).label("satisfied"),
            )
            .where(c.agent_id.is_not(None), c.received_at < sql_instant(to), handled)
            .group_by(c.agent_id)
        )
    }


def _agent_figures(work, available: float, wrap_up: float) -> dict:
    handle = float(work.handle or 0) if work is not None else 0.0
    idle, occupancy = _occupancy(handle, available, wrap_up)
    return _agent_row(
        handled=as_int(work.handled) if work is not None else 0,
        handle=handle,
        available=available,
        idle=idle,
        occupancy=occupancy,
        rated=as_int(work.rated) if work is not None else 0,
        satisfied=as_int(work.satisfied) if work is not None else 0,
    )


def _agent_totals(rows: list[dict]) -> dict:
    """The tenant's figures over all its agents (occupancy from the summed times)."""
    handle = sum(r["handle_seconds"] for r in rows)
    idle = sum(r["idle_seconds"] for r in rows)
    return _agent_row(
        handled=sum(r["handled"] for r in rows),
        handle=handle,
        available=sum(r["available_seconds"] for r in rows),
        idle=idle,
        occupancy=ratio(handle, handle + idle),
        rated=sum(r["csat_responses"] for r in rows),
        satisfied=sum(r["csat_satisfied"] for r in rows),
    )


def _agent_row(
    *,
    handled: int,
    handle: float,
    available: float,
    idle: float,
    occupancy,
    rated: int,
    satisfied: int,
) -> dict:
    """One agent's figures, or the sum of all: the same fields either way."""
    return {
        "handled": handled,
        "handle_seconds": round(handle, SECONDS_DIGITS),
        "aht_seconds": ratio(handle, handled, SECONDS_DIGITS),
        "available_seconds": round(available, SECONDS_DIGITS),
        "idle_seconds": round(idle, SECONDS_DIGITS),
        "occupancy": occupancy,
        "csat_responses": rated,
        "csat_satisfied": satisfied,
        "csat": ratio(satisfied, rated),
    }
