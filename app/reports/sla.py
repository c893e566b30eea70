"""The SLA report: a firm's service level and KPIs per hour, day, week or month, by group.

Buckets follow the firm's local calendar; a bucket's row can be split by queue, channel,
category, priority or agent, and carries the backlog and the business-time figures of the
contacts' SLA clocks. Read in the firm's tenant scope; every figure is aggregated in SQL.
May import: app.db, app.errors, app.vocabulary, app.sla.calendar, the models of agents,
contacts, queues and SLA, tenants, and app.reports (measures, periods, departments).
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    DateTime,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)

from app.agents.models import Agent
from app.contacts.models import Contact
from app.db import db, utcnow
from app.errors import Unprocessable
from app.queues.models import Queue
from app.reports import daily
from app.reports import departments as department_time
from app.reports.measures import (
    SECONDS_DIGITS,
    as_int,
    contact_measures,
    counts_of,
    done_at,
    fcr_rate,
    flag,
    is_postgres,
    quantized,
    ratio,
    service_level,
    sql_instant,
)
from app.reports.periods import check_range, next_month, zone_of
from app.reports.settings import report_settings
from app.sla.calendar import local_instant
from app.sla.models import SlaClock
from app.vocabulary import CATEGORIES, CHANNELS, PRIORITIES
from tenants.models import Tenant, User
from tenants.scoping import TenantScopeError, current_scope

GRANULARITIES = ("hour", "day", "week", "month")
GROUP_BY = ("queue", "channel", "category", "priority", "agent")
# What a report may be narrowed to: only the contacts with these values count.
FILTERS = ("queue_id", "channel", "category", "priority")
# The longest range each granularity may span, in local calendar days.
MAX_RANGE_DAYS = {"hour": 31, "day": 366, "week": 3 * 366, "month": 3 * 366}


# --- buckets ---------------------------------------------------------------------------------


def buckets(
    *, start: datetime, end: datetime, granularity: str, zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """Split [start, end) at the local hour, day, week (Monday) or month boundaries of `zone`.

    The first and last buckets are cut at `start` and `end`. Day, week and month boundaries
    are local midnights, so a day is 23 or 25 hours long when the clocks change.
    """
    bounds = [start]
    cursor = _next_boundary(start, granularity, zone)
    while cursor < end:
        bounds.append(cursor)
        cursor = _next_boundary(cursor, granularity, zone)
    bounds.append(end)
    return list(itertools.pairwise(bounds))


def _next_boundary(at: datetime, granularity: str, zone: ZoneInfo) -> datetime:
    local = at.astimezone(zone)
    if granularity == "hour":
        # Hours run in absolute time from the local hour, so the repeated hour of an autumn
        # night is two buckets and the skipped hour of a spring night is none.
        floor = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        return floor + timedelta(hours=1)
    day = local.date()
    if granularity == "day":
        following = day + timedelta(days=1)
    elif granularity == "week":
        following = day + timedelta(days=7 - day.weekday())
    else:
        following = next_month(day)
    return local_instant(following, time(0), zone)


# --- SQL of the report -----------------------------------------------------------------------


def bucket_of(at: ColumnElement, starts: list[datetime]) -> ColumnElement[int]:
    """The 1-based bucket `at` falls in, given the buckets' starts (`at` >= starts[0])."""
    if is_postgres():
        bounds = literal(starts, ARRAY(DateTime(timezone=True)))
        return func.width_bucket(at, bounds)
    whens = [(at < sql_instant(bound), n) for n, bound in enumerate(starts[1:], start=1)]
    return case(*whens, else_=len(starts)) if whens else literal(1)


def _clock_measures(
    *, keys: dict[str, ColumnElement], where: list[ColumnElement[bool]], totals: bool = False
) -> Select:
    """Per key and clock kind: stopped clocks, those within target, breaches, and the median and
    90th percentile (nearest rank) of the business seconds stopped clocks took, kept to three
    significant figures (`quantized`), as the daily roll-ups keep them.

    With `totals` (PostgreSQL only), rows per kind alone follow, their keys NULL: one scan
    gives the buckets and the whole range.
    """
    k, c = SlaClock, Contact
    # A cancelled clock (the contact was abandoned) measured nothing.
    stopped = and_(k.stopped_at.is_not(None), k.state != "cancelled")
    per_clock = (
        select(
            *(expr.label(name) for name, expr in keys.items()),
            k.kind.label("kind"),
            flag(stopped).label("stopped"),
            flag(and_(stopped, k.breached_at.is_(None))).label("within"),
            flag(k.breached_at.is_not(None)).label("breached"),
            quantized(k.elapsed_seconds).label("elapsed"),
        )
        .select_from(k)
        .join(c, c.id == k.contact_id)
        .where(*where)
        .subquery("per_clock")
    )
    p = per_clock.c
    groups = [*(p[name] for name in keys), p.kind]
    counts = (
        func.sum(p.stopped).label("measured"),
        func.sum(p.within).label("within"),
        func.sum(p.breached).label("breaches"),
    )
    if is_postgres():
        taken = case((p.stopped == 1, p.elapsed))  # percentile_disc skips NULLs
        grouping = (
            [func.grouping_sets(tuple_(*groups), tuple_(p.kind))] if totals and keys else groups
        )
        return select(
            *groups,
            *counts,
            func.percentile_disc(0.5).within_group(taken).label("median"),
            func.percentile_disc(0.9).within_group(taken).label("p90"),
        ).group_by(*grouping)
    # SQLite has no ordered-set aggregates: rank the stopped clocks with window functions and
    # pick the ceil(p x n)-th, which is what percentile_disc returns.
    partition = [*groups, p.stopped]
    ranked = select(
        per_clock,
        func.row_number().over(partition_by=partition, order_by=p.elapsed).label("rank"),
        func.count().over(partition_by=partition).label("n"),
    ).subquery("ranked")
    r = ranked.c
    groups = [*(r[name] for name in keys), r.kind]

    def nearest_rank(numerator: int, denominator: int) -> ColumnElement:
        wanted = (r.n * numerator + denominator - 1) // denominator
        return func.min(case((and_(r.stopped == 1, r.rank == wanted), r.elapsed)))

    return select(
        *groups,
        func.sum(r.stopped).label("measured"),
        func.sum(r.within).label("within"),
        func.sum(r.breached).label("breaches"),
        nearest_rank(1, 2).label("median"),
        nearest_rank(9, 10).label("p90"),
    ).group_by(*groups)


def _clocks_by_key(
    *, keys: dict[str, ColumnElement], where: list[ColumnElement[bool]]
) -> tuple[dict, dict]:
    """Clock figures per key (the tuple of the keys' values) and kind, and per kind over all.

    `keys` must start with the bucket, which every clock counted has.
    """
    per_key: dict = {}
    whole: dict = {}
    for r in db.session.execute(_clock_measures(keys=keys, where=where, totals=True)):
        key = tuple(getattr(r, name) for name in keys)
        if key[0] is None:  # a row of the whole range (grouping sets)
            whole[r.kind] = r
        else:
            per_key.setdefault(key, {})[r.kind] = r
    if not is_postgres():
        whole = {r.kind: r for r in db.session.execute(_clock_measures(keys={}, where=where))}
    return per_key, whole


def _backlog(
    *,
    group: ColumnElement | None,
    starts: list[datetime],
    start: datetime,
    end: datetime,
    narrow: list[ColumnElement[bool]] = (),
) -> Select:
    """Per group and bucket with any movement: the backlog at the bucket's end.

    One pass over the contacts received before `end` and not done before `start`: each adds +1
    at the bucket it arrived in (0 if before `start`) and -1 at the bucket it was done in; the
    running sum of those deltas, in bucket order, is the backlog.
    """
    c = Contact
    done = done_at(c)
    arrival = case((c.received_at < sql_instant(start), 0), else_=bucket_of(c.received_at, starts))
    departure = case(
        (and_(done >= sql_instant(start), done < sql_instant(end)), bucket_of(done, starts))
    )
    columns = [arrival.label("a"), departure.label("d")]
    if group is not None:
        columns.insert(0, group.label("grp"))
    life = (
        select(*columns)
        .where(
            c.received_at < sql_instant(end),
            or_(done.is_(None), done >= sql_instant(start)),
            *narrow,
        )
        .cte("life")
    )
    grp = [life.c.grp] if group is not None else []
    arrivals = select(*grp, life.c.a.label("b"), func.count().label("delta")).group_by(
        *grp, life.c.a
    )
    departures = (
        select(*grp, life.c.d.label("b"), (-func.count()).label("delta"))
        .where(life.c.d.is_not(None))
        .group_by(*grp, life.c.d)
    )
    deltas = union_all(arrivals, departures).subquery("deltas")
    d_grp = [deltas.c.grp] if group is not None else []
    running = func.sum(func.sum(deltas.c.delta)).over(
        partition_by=d_grp or None, order_by=deltas.c.b
    )
    return select(*d_grp, deltas.c.b, running.label("backlog")).group_by(*d_grp, deltas.c.b)


# --- figures from the aggregates -------------------------------------------------------------


def _sum_counts(many) -> dict:
    total = counts_of(None)
    for counts in many:
        for name, value in counts.items():
            total[name] += value
    return total


def _clock_figures(row) -> dict:
    measured = as_int(row.measured) if row is not None else 0
    within = as_int(row.within) if row is not None else 0
    return {
        "measured": measured,
        "within_target": within,
        "within_target_rate": ratio(within, measured),
        "median_seconds": (
            as_int(row.median) if row is not None and row.median is not None else None
        ),
        "p90_seconds": as_int(row.p90) if row is not None and row.p90 is not None else None,
        "breaches": as_int(row.breaches) if row is not None else 0,
    }


def _figures(counts: dict, clocks: dict, backlog: int, treatment: str) -> dict:
    first_response = _clock_figures(clocks.get("first_response"))
    resolution = _clock_figures(clocks.get("resolution"))
    return {
        "received": counts["received"],
        "offered": counts["offered"],
        "handled": counts["handled"],
        "answered": counts["answered"],
        "answered_within_threshold": counts["answered_within"],
        "abandoned": counts["abandoned"],
        "short_abandoned": counts["short_abandoned"],
        "abandoned_within_threshold": counts["abandoned_within"],
        "service_level": service_level(counts, treatment),
        "asa_seconds": ratio(counts["answer_wait"], counts["answered"], SECONDS_DIGITS),
        "aht_seconds": ratio(counts["handle"], counts["handled"], SECONDS_DIGITS),
        "abandonment_rate": ratio(counts["abandoned"], counts["offered"]),
        "first_response": first_response,
        "resolution": resolution,
        "breaches": first_response["breaches"] + resolution["breaches"],
        "fcr": {
            "first_contacts": counts["first_contacts"],
            "handled_first_contacts": counts["handled_first_contacts"],
            "resolved_first_time": counts["resolved_first_time"],
            "rate": fcr_rate(counts),
        },
        "csat": {
            "responses": counts["rated"],
            "satisfied": counts["satisfied"],
            "rate": ratio(counts["satisfied"], counts["rated"]),
        },
        "backlog": backlog,
    }


# --- the SLA report --------------------------------------------------------------------------


def _group_expression(group_by: str | None) -> ColumnElement | None:
    c = Contact
    return {
        None: None,
        "queue": c.queue_id,
        "channel": c.channel,
        "category": c.category,
        "priority": c.priority,
        "agent": c.agent_id,
    }[group_by]


def _group_names(group_by: str | None, keys: set) -> dict:
    """Display names of the groups: queue and agent names; the value itself otherwise."""
    ids = sorted(k for k in keys if k is not None)
    if group_by == "queue" and ids:
        return dict(db.session.execute(select(Queue.id, Queue.name).where(Queue.id.in_(ids))).all())
    if group_by == "agent" and ids:
        return dict(
            db.session.execute(
                select(Agent.id, User.name)
                .join(User, User.id == Agent.user_id)
                .where(Agent.id.in_(ids))
            ).all()
        )
    return {k: k for k in keys}


def _group_order(group_by: str | None, names: dict):
    vocabulary = {"channel": CHANNELS, "category": CATEGORIES, "priority": PRIORITIES}.get(
        group_by or ""
    )

    def key(group):
        if group is None:
            return (1, 0, "")
        if vocabulary is not None:
            return (0, vocabulary.index(group) if group in vocabulary else len(vocabulary), "")
        return (0, 0, f"{names.get(group) or ''}\x00{group}")

    return key


def narrowing(filters: dict | None) -> list[ColumnElement[bool]]:
    """The conditions of a report's filters (queue, channel, category, priority)."""
    return [
        getattr(Contact, name) == value
        for name, value in (filters or {}).items()
        if name in FILTERS and value is not None
    ]


# The groupings the daily roll-ups can answer, and the dimension of the days each reads.
ROLLED_UP_GROUPS = {"channel": "channel", "queue": "queue_id"}


def rolled_up_slice(filters: dict | None) -> dict | None:
    """The slice of a firm's days (app/reports/daily.py `DIMENSIONS`) the report's filters
    ask for, when they narrow it by channel and queue at most (what the roll-ups can answer);
    else None."""
    narrowed = {
        name: value
        for name, value in (filters or {}).items()
        if name in FILTERS and value is not None
    }
    if not set(narrowed) <= set(daily.DIMENSIONS):
        return None
    if "queue_id" in narrowed:
        try:
            narrowed["queue_id"] = uuid.UUID(str(narrowed["queue_id"]))
        except ValueError:
            return None
    return narrowed


def _from_days(
    found, *, spans, zone: ZoneInfo, settings: dict, group_by: str | None, of: dict
) -> tuple[list, dict]:
    """The report's rows and totals from the slice `of` of the firm's days
    (app/reports/daily.py), and per channel or queue when grouped by one."""
    treatment = settings["abandon_treatment"]

    def figures(first, last, part: dict) -> dict:
        return _figures(
            daily.as_counts(found.counts(first, last, part)),
            found.clocks(first, last, part),
            found.backlog_at(last, part),
            treatment,
        )

    groups: list = [None]
    names: dict = {}
    if group_by is not None:
        present = found.present(ROLLED_UP_GROUPS[group_by], of)
        names = _group_names(group_by, present)
        groups = sorted(present, key=_group_order(group_by, names))
    rows = []
    for start, end in spans:
        first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        for group in groups:
            part = of if group_by is None else {**of, ROLLED_UP_GROUPS[group_by]: group}
            row = {"start": start.astimezone(zone), "end": end.astimezone(zone)}
            row |= figures(first, last, part)
            if group_by is not None:
                row["group"] = str(group)
                row["group_name"] = None if names.get(group) is None else str(names[group])
            rows.append(row)
    return rows, figures(found.first, found.last, of)


def _from_contacts(
    *,
    spans: list,
    zone: ZoneInfo,
    settings: dict,
    group_by: str | None,
    filters: dict | None,
    from_: datetime,
    to: datetime,
) -> tuple[list, dict]:
    """The report's rows and totals read from the contacts themselves."""
    starts = [span[0] for span in spans]
    c = Contact
    group = _group_expression(group_by)
    narrow = narrowing(filters)
    in_range = [c.received_at >= sql_instant(from_), c.received_at < sql_instant(to), *narrow]
    row_keys = {"bucket": bucket_of(c.received_at, starts)}
    if group is not None:
        row_keys["grp"] = group
    window = timedelta(days=settings["fcr_window_days"])
    measures = contact_measures(
        keys=row_keys,
        joins=[],
        in_range=and_(*in_range),
        around=[
            c.received_at >= sql_instant(from_ - window),
            c.received_at <= sql_instant(to + window),
        ],
        short_seconds=settings["short_abandon_seconds"],
        fcr_seconds=int(window.total_seconds()),
    )
    contact_rows = {(r.bucket, getattr(r, "grp", None)): r for r in db.session.execute(measures)}
    clocks, total_clocks = _clocks_by_key(keys=row_keys, where=in_range)
    clock_rows = {(key[0], key[1] if len(key) > 1 else None): v for key, v in clocks.items()}
    # Counts add up over the rows; percentiles do not (the clocks' totals are their own).
    total_counts = _sum_counts(counts_of(r) for r in contact_rows.values())
    moves: dict = {}
    for r in db.session.execute(
        _backlog(group=group, starts=starts, start=from_, end=to, narrow=narrow)
    ):
        moves.setdefault(getattr(r, "grp", None), {})[r.b] = as_int(r.backlog)

    groups = {key for _, key in contact_rows} | {g for g, m in moves.items() if any(m.values())}
    if group is None:
        groups = {None}
    names = _group_names(group_by, groups)
    rows = []
    backlog_at_end = 0
    for key in sorted(groups, key=_group_order(group_by, names)):
        running = moves.get(key, {}).get(0, 0)
        for number, (start, end) in enumerate(spans, start=1):
            running = moves.get(key, {}).get(number, running)
            figures = _figures(
                counts_of(contact_rows.get((number, key))),
                clock_rows.get((number, key), {}),
                running,
                settings["abandon_treatment"],
            )
            row = {"start": start.astimezone(zone), "end": end.astimezone(zone), **figures}
            if group_by is not None:
                row["group"] = None if key is None else str(key)
                row["group_name"] = None if names.get(key) is None else str(names[key])
            rows.append(row)
        backlog_at_end += running
    if group_by is not None:
        rows.sort(key=lambda row: row["start"])  # stable: groups keep their order per bucket
    totals = _figures(total_counts, total_clocks, backlog_at_end, settings["abandon_treatment"])
    return rows, totals


def sla_report(
    *,
    tenant: Tenant,
    from_: datetime,
    to: datetime,
    granularity: str,
    group_by: str | None = None,
    filters: dict | None = None,
    now: datetime | None = None,
) -> dict:
    """Report the SLA and KPIs of the tenant in scope per bucket (and group) of [from_, to).

    Contacts count in the bucket they were received in, with everything known about them at
    `now` (answered, handled, clocks, repeats); the backlog is as of each bucket's end.
    `filters` (queue_id, channel, category, priority) narrow the contacts that count; a
    repeat from the same customer still counts against FCR whatever its queue or channel.
    """
    scope = current_scope()
    if scope is None or (not scope.is_unscoped and tenant.id not in scope.tenant_ids):
        raise TenantScopeError("the report's tenant is not in scope")
    if granularity not in GRANULARITIES:
        raise Unprocessable(
            "Unknown granularity.",
            errors={"query": {"granularity": [f"Must be one of: {', '.join(GRANULARITIES)}."]}},
        )
    if group_by is not None and group_by not in GROUP_BY:
        raise Unprocessable(
            "Unknown grouping.",
            errors={"query": {"group_by": [f"Must be one of: {', '.join(GROUP_BY)}."]}},
        )
    zone = zone_of(tenant)
    check_range(start=from_, end=to, zone=zone, max_days=MAX_RANGE_DAYS[granularity])
    generated_at = now or utcnow()
    settings = report_settings()
    spans = buckets(start=from_, end=to, granularity=granularity, zone=zone)
    found = None
    of = rolled_up_slice(filters)
    # The roll-ups keep each day per channel and queue: a report by either, or of one of
    # either, reads them too.
    rolled_up = group_by is None or group_by in ROLLED_UP_GROUPS
    if rolled_up and of is not None and granularity != "hour":
        found = daily.read(tenant=tenant, zone=zone, settings=settings, from_=from_, to=to)
    if found is not None:
        rows, totals = _from_days(
            found, spans=spans, zone=zone, settings=settings, group_by=group_by, of=of
        )
    else:
        rows, totals = _from_contacts(
            spans=spans,
            zone=zone,
            settings=settings,
            group_by=group_by,
            filters=filters,
            from_=from_,
            to=to,
        )
    return {
        "tenant_id": tenant.id,
        "time_zone": tenant.time_zone,
        "from": from_.astimezone(zone),
        "to": to.astimezone(zone),
        "granularity": granularity,
        "group_by": group_by,
        "generated_at": generated_at,
        "catching_up": found is not None and found.catching_up,
        "settings": {
            "policy_id": settings["policy_id"],
            "abandon_treatment": settings["abandon_treatment"],
            "short_abandon_seconds": settings["short_abandon_seconds"],
            "fcr_window_days": settings["fcr_window_days"],
            "service_level_target": settings["service_level_target_bps"] / 10000,
            "targets": settings["targets"],
        },
        "rows": rows,
        "totals": {"start": from_.astimezone(zone), "end": to.astimezone(zone), **totals},
        "departments": department_time.by_department(
            from_=from_, to=to, narrowing=narrowing(filters)
        ),
    }
