"""Rolling a firm's contacts up per local day (app/reports/models.py), and keeping that current.

`aggregate` sums the days from the contacts with the SQL the report itself uses
(`contact_measures`, the clocks' outcomes, `quantized` durations, `done_at`), so a day read from
the roll-ups and the same day read from the contacts agree to the unit. `refresh` is the
worker's job: it rolls up each firm not rolled up yet (or whose settings changed) and re-sums
the days whose contacts changed (`ReportMark`, written by app/reports/marks.py).
May import: app.db, the contact, queue and SLA models, tenants and app.reports (measures,
models, periods, settings).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Date,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
)

from app.contacts.models import Contact
from app.db import db, utcnow
from app.reports.measures import (
    contact_measures,
    counts_of,
    done_at,
    flag,
    is_postgres,
    quantized,
    sql_instant,
)
from app.reports.models import (
    ReportAgentDay,
    ReportDay,
    ReportDeparture,
    ReportDuration,
    ReportMark,
    ReportRollup,
)
from app.reports.periods import zone_of
from app.reports.settings import report_settings, rollup_fingerprint
from app.sla.calendar import local_instant
from app.sla.models import CLOCK_KINDS, SlaClock
from tenants.models import Tenant
from tenants.scoping import tenant_scope, unscoped

COUNT_COLUMNS = (
    "received",
    "offered",
    "handled",
    "answered",
    "answered_within",
    "abandoned",
    "short_abandoned",
    "abandoned_within",
    "rated",
    "satisfied",
    "first_contacts",
    "handled_first_contacts",
    "resolved_first_time",
    "answer_wait",
    "handle",
)
CLOCK_COLUMNS = tuple(
    f"{kind}_{name}" for kind in CLOCK_KINDS for name in ("measured", "within", "breaches")
)
# The roll-up tables, by the key `aggregate` gives their rows under.
TABLES = {
    "days": ReportDay,
    "durations": ReportDuration,
    "departures": ReportDeparture,
    "agents": ReportAgentDay,
}
# A report sums its firm's marked days afresh when they hold at most this many contacts (about
# 150 ms on the bench machine); above, it reads them as the worker last summed them, at most a
# pass old, and says so (`catching_up`).
FRESH_CONTACTS = 2000


def local_date(at: ColumnElement, zone: ZoneInfo) -> ColumnElement:
    """The date `at` falls on in `zone`, in SQL."""
    if is_postgres():
        return cast(func.timezone(zone.key, at), Date)
    # SQLite: a function of our own (app/db.py registers it on every connection).
    return func.switchboard_local_date(at, zone.key, type_=Date)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day starts (UTC)."""
    return local_instant(day, time(0), zone).astimezone(UTC)


def runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days as [first, last + 1) ranges."""
    ordered = sorted(set(days))
    found = []
    # Consecutive days keep the same difference between their ordinal and their position.
    by_run = itertools.groupby(enumerate(ordered), lambda item: item[1].toordinal() - item[0])
    for _, group in by_run:
        members = [day for _, day in group]
        found.append((members[0], members[-1] + timedelta(days=1)))
    return found


def received_on(days: Iterable[date], zone: ZoneInfo) -> ColumnElement[bool]:
    """Contacts received on these local days (a range per run of consecutive days)."""
    c = Contact
    return or_(
        *(
            and_(
                c.received_at >= sql_instant(midnight(first, zone)),
                c.received_at < sql_instant(midnight(last, zone)),
            )
            for first, last in runs(days)
        )
    )


# --- summing days from the contacts ----------------------------------------------------------


def aggregate(*, zone: ZoneInfo, settings: dict, days: Iterable[date] | None) -> dict:
    """The roll-up rows of `days` (None: every day with contacts) of the tenant in scope, as
    {"days": [...], "durations": [...], "departures": [...], "agents": [...]} (TABLES' keys),
    without ids or tenant."""
    c, k = Contact, SlaClock
    window = timedelta(days=settings["fcr_window_days"])
    if days is None:
        in_range: ColumnElement[bool] = literal(True)
        around: list = []
        neighbours = "window"
    else:
        if not days:
            return {name: [] for name in TABLES}
        in_range = received_on(days, zone)
        # A few days of a big month: each contact finds its neighbours through the index.
        around = [in_range]
        neighbours = "lookup"
    day = local_date(c.received_at, zone)
    keys = {"day": day, "channel": c.channel, "queue_id": c.queue_id}
    rows: dict[tuple, dict] = {}
    measured = contact_measures(
        keys=keys,
        joins=[],
        in_range=in_range,
        around=around,
        short_seconds=settings["short_abandon_seconds"],
        fcr_seconds=int(window.total_seconds()),
        neighbours=neighbours,
    )
    for r in db.session.execute(measured):
        counts = counts_of(r)
        rows[(_as_date(r.day), r.channel, _as_uuid(r.queue_id))] = {
            **{name: counts[name] for name in COUNT_COLUMNS},
            # As summed (numeric on PostgreSQL): a float would not add up to the same total.
            "answer_wait": r.answer_wait or 0,
            "handle": int(r.handle or 0),
            **dict.fromkeys(CLOCK_COLUMNS, 0),
        }
    stopped = and_(k.stopped_at.is_not(None), k.state != "cancelled")
    clocks = (
        select(
            day.label("day"),
            c.channel,
            c.queue_id,
            k.kind,
            func.sum(flag(stopped)).label("measured"),
            func.sum(flag(and_(stopped, k.breached_at.is_(None)))).label("within"),
            func.sum(flag(k.breached_at.is_not(None))).label("breaches"),
        )
        .select_from(k)
        .join(c, c.id == k.contact_id)
        .where(in_range)
        .group_by(day, c.channel, c.queue_id, k.kind)
    )
    for r in db.session.execute(clocks):
        row = rows.setdefault(
            (_as_date(r.day), r.channel, _as_uuid(r.queue_id)),
            {**dict.fromkeys(COUNT_COLUMNS, 0), **dict.fromkeys(CLOCK_COLUMNS, 0)},
        )
        for name in ("measured", "within", "breaches"):
            row[f"{r.kind}_{name}"] = int(getattr(r, name) or 0)
    seconds = quantized(k.elapsed_seconds)
    durations = (
        select(
            day.label("day"),
            c.channel,
            c.queue_id,
            k.kind,
            seconds.label("seconds"),
            func.count().label("clocks"),
        )
        .select_from(k)
        .join(c, c.id == k.contact_id)
        .where(in_range, stopped)
        .group_by(day, c.channel, c.queue_id, k.kind, seconds)
    )
    # The agents report's work: answered or responded to, then finished (resolved, else closed).
    finished = func.coalesce(c.resolved_at, c.closed_at)
    finished_day = local_date(finished, zone)
    agents = (
        select(
            day.label("day"),
            c.agent_id,
            finished_day.label("finished_day"),
            func.count().label("handled"),
            func.sum(c.talk_seconds + c.hold_seconds + c.acw_seconds).label("handle"),
            func.count(c.csat).label("rated"),
            func.count(case((c.csat >= 4, 1))).label("satisfied"),
        )
        .where(
            in_range,
            c.agent_id.is_not(None),
            or_(c.answered_at.is_not(None), c.first_response_at.is_not(None)),
            finished.is_not(None),
        )
        .group_by(day, c.agent_id, finished_day)
    )
    left = local_date(done_at(c), zone)
    departures = (
        select(
            day.label("day"),
            c.channel,
            c.queue_id,
            left.label("done_day"),
            func.count().label("contacts"),
        )
        .where(in_range, done_at(c).is_not(None))
        .group_by(day, c.channel, c.queue_id, left)
    )
    return {
        "days": [
            {"day": day_, "channel": channel, "queue_id": queue_id, **figures}
            for (day_, channel, queue_id), figures in sorted(rows.items())
        ],
        "durations": _distributions(db.session.execute(durations)),
        "departures": [
            {
                "day": _as_date(r.day),
                "channel": r.channel,
                "queue_id": _as_uuid(r.queue_id),
                "done_day": _as_date(r.done_day),
                "contacts": r.contacts,
            }
            for r in db.session.execute(departures)
        ],
        "agents": _agent_work(db.session.execute(agents)),
    }


def _distributions(rows) -> list[dict]:
    """(day, channel, queue_id, kind, seconds, clocks) rows as a ReportDuration row per day,
    channel, queue and kind: its [seconds, clocks] pairs, ascending."""
    spread: dict[tuple, list[list[int]]] = {}
    for r in rows:
        key = (_as_date(r.day), r.channel, _as_uuid(r.queue_id), r.kind)
        spread.setdefault(key, []).append([int(r.seconds), int(r.clocks)])
    return [
        {
            "day": day,
            "channel": channel,
            "queue_id": queue_id,
            "kind": kind,
            "distribution": sorted(pairs),
        }
        for (day, channel, queue_id, kind), pairs in sorted(spread.items())
    ]


def _agent_work(rows) -> list[dict]:
    """(day, agent_id, finished_day, handled, handle, rated, satisfied) rows as a ReportAgentDay
    row per pair of days: each agent's [handled, handle, rated, satisfied] by its id."""
    work: dict[tuple, dict[str, list[int]]] = {}
    for r in rows:
        key = (_as_date(r.day), _as_date(r.finished_day))
        work.setdefault(key, {})[str(_as_uuid(r.agent_id))] = [
            int(r.handled),
            int(r.handle or 0),
            int(r.rated),
            int(r.satisfied),
        ]
    return [
        {"day": day, "finished_day": finished_day, "work": by_agent}
        for (day, finished_day), by_agent in sorted(work.items())
    ]


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _as_uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# --- keeping them current --------------------------------------------------------------------


def marked_days(*, zone: ZoneInfo) -> tuple[list[uuid.UUID], set[date]]:
    """The marks of the tenant in scope, and the local days their hours touch."""
    marks = db.session.execute(select(ReportMark.id, ReportMark.hour)).all()
    days = set()
    for _, hour in marks:
        days |= days_of_hour(hour, zone)
    return [mark_id for mark_id, _ in marks], days


def days_of_hour(hour: datetime, zone: ZoneInfo) -> set[date]:
    """The local days a UTC hour overlaps: one, or two in a zone half an hour off UTC."""
    return {
        hour.astimezone(zone).date(),
        (hour + timedelta(hours=1, microseconds=-1)).astimezone(zone).date(),
    }


def rebuild(*, tenant: Tenant, settings: dict, now: datetime | None = None) -> int:
    """Roll up every day of the tenant in scope afresh, under its current settings; return the
    rows written. The marks seen go: their changes are in."""
    zone = zone_of(tenant)
    mark_ids, _ = marked_days(zone=zone)
    for model in (*TABLES.values(), ReportRollup):
        db.session.execute(delete(model))
    written = _write(aggregate(zone=zone, settings=settings, days=None))
    db.session.add(
        ReportRollup(
            fingerprint=rollup_fingerprint(tenant=tenant, settings=settings),
            built_at=now or utcnow(),
        )
    )
    _forget(mark_ids)
    return written


def catch_up(*, tenant: Tenant, settings: dict) -> int:
    """Re-sum the marked days of the tenant in scope, under its current settings; return the
    days re-summed."""
    zone = zone_of(tenant)
    mark_ids, days = marked_days(zone=zone)
    if not mark_ids:
        return 0
    for model in TABLES.values():
        db.session.execute(delete(model).where(model.day.in_(sorted(days))))
    _write(aggregate(zone=zone, settings=settings, days=days))
    _forget(mark_ids)
    return len(days)


def _write(rows: dict) -> int:
    for key, model in TABLES.items():
        if rows[key]:
            db.session.execute(insert(model), [{"id": uuid.uuid4(), **row} for row in rows[key]])
    return sum(len(found) for found in rows.values())


def _forget(mark_ids: list[uuid.UUID]) -> None:
    # By id, never by hour: a mark written meanwhile stands for a change this pass did not see.
    for start in range(0, len(mark_ids), 1000):
        chunk = mark_ids[start : start + 1000]
        db.session.execute(delete(ReportMark).where(ReportMark.id.in_(chunk)))


def few_enough(*, zone: ZoneInfo, days: set[date]) -> bool:
    """Whether the contacts received on these local days of the tenant in scope are few enough
    to sum in a request (FRESH_CONTACTS); counted through the (tenant, received_at) index."""
    if not days:
        return True
    counted = select(Contact.id).where(received_on(days, zone)).limit(FRESH_CONTACTS + 1)
    counted = counted.subquery()
    return db.session.scalar(select(func.count()).select_from(counted)) <= FRESH_CONTACTS


def is_current(*, tenant: Tenant, settings: dict) -> bool:
    """Whether the tenant in scope is rolled up under these settings."""
    fingerprint = db.session.scalar(select(ReportRollup.fingerprint))
    return fingerprint is not None and fingerprint == rollup_fingerprint(
        tenant=tenant, settings=settings
    )


def refresh(*, now: datetime | None = None) -> dict[str, int]:
    """The worker's job: roll up the firms not rolled up (or rolled up under other settings)
    and re-sum the marked days of the others, a firm per transaction; count what was done.

    Several workers may run it: a firm is taken with a lock no other waits on.
    """
    counts = {"rolled up": 0, "days re-summed": 0}
    # Across firms: which have marks or lack roll-ups is the worker's question, no firm's.
    with unscoped():
        tenant_ids = list(
            db.session.scalars(
                select(Tenant.id)
                .where(
                    or_(
                        Tenant.id.not_in(select(ReportRollup.tenant_id)),
                        Tenant.id.in_(select(ReportMark.tenant_id)),
                    )
                )
                .order_by(Tenant.id)
            )
        )
    db.session.rollback()
    for tenant_id in tenant_ids:
        with tenant_scope(tenant_id):
            tenant = db.session.scalars(
                _locked(select(Tenant).where(Tenant.id == tenant_id))
            ).first()
            if tenant is None:
                db.session.rollback()
                continue
            settings = report_settings()
            if is_current(tenant=tenant, settings=settings):
                counts["days re-summed"] += catch_up(tenant=tenant, settings=settings)
            else:
                rebuild(tenant=tenant, settings=settings, now=now)
                counts["rolled up"] += 1
            db.session.commit()
    return {name: value for name, value in counts.items() if value}


def _locked(statement):
    # FOR NO KEY UPDATE: a second worker skips the firm, while the firm's contacts, whose
    # foreign keys only share-lock its row, go on being written.
    if is_postgres():
        return statement.with_for_update(skip_locked=True, key_share=True)
    return statement
