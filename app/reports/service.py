"""Reports: figures computed in the database for the tenants in scope.

Services take keyword arguments and return plain data; every figure is aggregated in SQL (counts,
sums, percentiles, cumulative sums), never by loading contact rows into Python. Only the
complaints register, which is a listing, streams rows. PostgreSQL is the target; SQLite (the
first-run database) answers the same reports through simpler SQL where it lacks a function.
May import: app.db, app.errors, app.vocabulary, app.sla.calendar and the models of agents,
contacts, queues and SLA, and tenants.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    Numeric,
    Select,
    Uuid,
    and_,
    case,
    cast,
    column,
    extract,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
    values,
)

from app.agents.models import Agent, AgentTimeSegment
from app.contacts.models import Contact
from app.db import UTCDateTime, db, utcnow
from app.errors import Unprocessable
from app.queues.models import Queue
from app.sla.calendar import local_instant
from app.sla.models import SlaClock, SlaPolicy
from app.vocabulary import CATEGORIES, CHANNELS, PRIORITIES
from tenants.models import Tenant, User
from tenants.scoping import TenantScopeError, current_scope

GRANULARITIES = ("hour", "day", "week", "month")
GROUP_BY = ("queue", "channel", "category", "priority", "agent")
# The longest range each granularity may span, in local calendar days.
MAX_RANGE_DAYS = {"hour": 31, "day": 366, "week": 3 * 366, "month": 3 * 366}
# Agents and portfolio reports have no buckets: one year at most.
MAX_PLAIN_RANGE_DAYS = 366
# Contacts that wait in line and can be abandoned: the service level's channels.
SYNC_CHANNELS = ("voice", "chat")
REGISTER_CATEGORIES = ("complaint", "claim")
# When a tenant has no default SLA policy, the policy model's own defaults apply.
DEFAULT_SETTINGS = {
    "policy_id": None,
    "abandon_treatment": "exclude_short",
    "short_abandon_seconds": 5,
    "fcr_window_days": 7,
    "service_level_target_bps": 8000,
}
_CLOCK_KINDS = ("first_response", "resolution")
_RATE_DIGITS = 4
_SECONDS_DIGITS = 2


# --- periods ---------------------------------------------------------------------------------


def zone_of(tenant: Tenant) -> ZoneInfo:
    return ZoneInfo(tenant.time_zone)


def instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    """A report bound: a date means local midnight in `zone`; a datetime is taken as is."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return local_instant(value, time(0), zone)


def resolve_period(
    *,
    zone: ZoneInfo,
    from_: date | datetime | None,
    to: date | datetime | None,
    max_days: int,
    now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """Turn the query's `from` and `to` into UTC instants; both absent: this local month.

    Raise Unprocessable (per-field errors) for half a range, an empty or reversed one, or one
    longer than `max_days` local days.
    """
    if from_ is None and to is None:
        today = (now or utcnow()).astimezone(zone).date()
        first = today.replace(day=1)
        return instant(first, zone), instant(_next_month(first), zone)
    if from_ is None or to is None:
        missing, given = ("from", "to") if from_ is None else ("to", "from")
        raise Unprocessable(
            "Give both `from` and `to`, or neither (this month).",
            errors={"query": {missing: [f"Required when `{given}` is given."]}},
        )
    start, end = instant(from_, zone), instant(to, zone)
    check_range(start=start, end=end, zone=zone, max_days=max_days)
    return start, end


def check_range(*, start: datetime, end: datetime, zone: ZoneInfo, max_days: int) -> None:
    """Refuse an empty or reversed range, or one spanning more than `max_days` local days."""
    if end <= start:
        raise Unprocessable(
            "`to` must be after `from`.", errors={"query": {"to": ["Must be after `from`."]}}
        )
    if _local(end, zone) - _local(start, zone) > timedelta(days=max_days):
        raise Unprocessable(
            f"The range may span at most {max_days} days here.",
            errors={"query": {"to": [f"Must be at most {max_days} days after `from`."]}},
        )


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
        following = _next_month(day)
    return local_instant(following, time(0), zone)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    """Local wall-clock time, naive: ranges are measured in local days."""
    return at.astimezone(zone).replace(tzinfo=None)


# --- SQL helpers -----------------------------------------------------------------------------


def _postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _instant(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UTCDateTime())


def _diff_seconds(start: ColumnElement, end: ColumnElement) -> ColumnElement:
    """Seconds from `start` to `end` (negative if `end` is earlier)."""
    if _postgres():
        return extract("epoch", end - start)
    # SQLite keeps UTC timestamps as text: julianday reads them (to the millisecond).
    return func.round((func.julianday(end) - func.julianday(start)) * 86400, 3)


def _seconds(start: ColumnElement, end: ColumnElement) -> ColumnElement:
    """Seconds from `start` to `end`, never negative."""
    seconds = _diff_seconds(start, end)
    if _postgres():
        return func.greatest(seconds, 0)
    return case((seconds > 0, seconds), else_=0)


def _not_before(at: ColumnElement, anchor: ColumnElement, seconds) -> ColumnElement[bool]:
    """`at` >= `anchor` - `seconds` (written so an index on `at` serves it on PostgreSQL)."""
    if _postgres():
        return at >= anchor - _interval(seconds)
    return _diff_seconds(at, anchor) <= seconds


def _not_after(at: ColumnElement, anchor: ColumnElement, seconds) -> ColumnElement[bool]:
    """`at` <= `anchor` + `seconds`."""
    if _postgres():
        return at <= anchor + _interval(seconds)
    return _diff_seconds(anchor, at) <= seconds


def _interval(seconds) -> ColumnElement:
    # Seconds, not days: an interval in days would follow the session's time zone over DST.
    return func.make_interval(0, 0, 0, 0, 0, 0, cast(seconds, Float))


def _later(a: ColumnElement, b: ColumnElement) -> ColumnElement:
    if _postgres():
        return func.greatest(a, b)
    return func.max(a, b)  # SQLite's two-argument max() is scalar


def _earlier(a: ColumnElement, b: ColumnElement) -> ColumnElement:
    if _postgres():
        return func.least(a, b)
    return func.min(a, b)


def _bucket_of(at: ColumnElement, starts: list[datetime]) -> ColumnElement[int]:
    """The 1-based bucket `at` falls in, given the buckets' starts (`at` >= starts[0])."""
    if _postgres():
        bounds = literal(starts, ARRAY(DateTime(timezone=True)))
        return func.width_bucket(at, bounds)
    whens = [(at < _instant(bound), n) for n, bound in enumerate(starts[1:], start=1)]
    return case(*whens, else_=len(starts)) if whens else literal(1)


def _as_column(value) -> ColumnElement:
    return literal(value) if isinstance(value, int) else value


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _done_at(c) -> ColumnElement:
    """When a contact left the backlog: resolved or closed, or abandoned; NULL while open.

    A reopened contact is open again: its earlier resolution is not replayed (the contact keeps
    only its latest times), so it counts as open from its receipt.
    """
    raw = case(
        (c.status.in_(("resolved", "closed")), func.coalesce(c.resolved_at, c.closed_at)),
        (c.status == "abandoned", c.abandoned_at),
    )
    # Never before its receipt, so that backlog = received - done holds at every instant.
    return case((raw.is_(None), None), else_=_later(raw, c.received_at))


# --- per-contact measures --------------------------------------------------------------------


def _contact_measures(
    *,
    keys: dict[str, ColumnElement],
    joins: list[tuple],
    in_range: ColumnElement[bool],
    around: list[ColumnElement[bool]],
    short_seconds,
    fcr_seconds,
) -> Select:
    """Per key: the counts and sums every contact KPI is made of, in one grouped query.

    The contacts read are those `around` the range (the range widened by the FCR window on
    both sides), so that each contact in range sees its neighbours of the same end customer
    and category; only contacts `in_range` are counted.
    """
    c, q = Contact, Queue
    sync = and_(c.channel.in_(SYNC_CHANNELS), c.direction == "inbound")
    answered = and_(sync, c.answered_at.is_not(None))
    abandoned = and_(sync, c.abandoned_at.is_not(None))
    threshold = func.coalesce(c.answer_threshold_seconds, q.answer_threshold_seconds)
    answer_wait = _seconds(c.received_at, c.answered_at)
    abandon_wait = _seconds(c.received_at, c.abandoned_at)
    handled = and_(
        or_(c.answered_at.is_not(None), c.first_response_at.is_not(None)),
        or_(c.resolved_at.is_not(None), c.closed_at.is_not(None)),
    )
    # Same end customer and category (and direction: only inbound contacts are repeats); at
    # the same instant, the lower id came first.
    customer = {
        "partition_by": [c.tenant_id, c.customer_key, c.category, c.direction],
        "order_by": [c.received_at, c.id],
    }
    inner = (
        select(
            *(expr.label(name) for name, expr in keys.items()),
            _flag(in_range).label("in_range"),
            _flag(sync).label("offered"),
            _flag(handled).label("handled"),
            _flag(answered).label("answered"),
            _flag(and_(answered, answer_wait <= threshold)).label("answered_within"),
            case((answered, answer_wait), else_=0).label("answer_wait"),
            _flag(abandoned).label("abandoned"),
            _flag(and_(abandoned, abandon_wait <= short_seconds)).label("short_abandoned"),
            _flag(and_(abandoned, abandon_wait <= threshold)).label("abandoned_within"),
            case((handled, c.talk_seconds + c.hold_seconds + c.acw_seconds), else_=0).label(
                "handle"
            ),
            _flag(c.csat.is_not(None)).label("rated"),
            _flag(c.csat >= 4).label("satisfied"),
            _flag(and_(c.customer_key.is_not(None), c.direction == "inbound")).label("known"),
            _flag(c.reopen_count > 0).label("reopened"),
            c.received_at.label("received_at"),
            func.lag(c.received_at).over(**customer).label("previous_at"),
            func.lead(c.received_at).over(**customer).label("next_at"),
            _as_column(fcr_seconds).label("fcr_window"),
        )
        .select_from(c)
        .join(q, q.id == c.queue_id)
    )
    for target, on in joins:
        inner = inner.join(target, on)
    per_contact = inner.where(*around).subquery("per_contact")
    pc = per_contact.c
    # 0: not a first contact; 1: a first contact not handled (yet); 2: a handled first contact
    # reopened or repeated within the window; 3: resolved first time. A window edge (exactly
    # the window apart) counts as within.
    fcr = case(
        (pc.known == 0, 0),
        (
            and_(
                pc.previous_at.is_not(None),
                _not_before(pc.previous_at, pc.received_at, pc.fcr_window),
            ),
            0,
        ),
        (pc.handled == 0, 1),
        (pc.reopened == 1, 2),
        (and_(pc.next_at.is_not(None), _not_after(pc.next_at, pc.received_at, pc.fcr_window)), 2),
        else_=3,
    )
    key_columns = [pc[name] for name in keys]
    sums = ("offered", "handled", "answered", "answered_within", "answer_wait", "abandoned")
    sums += ("short_abandoned", "abandoned_within", "handle", "rated", "satisfied")
    return (
        select(
            *key_columns,
            func.count().label("received"),
            *(func.sum(pc[name]).label(name) for name in sums),
            func.count(case((fcr > 0, 1))).label("first_contacts"),
            func.count(case((fcr >= 2, 1))).label("handled_first_contacts"),
            func.count(case((fcr == 3, 1))).label("resolved_first_time"),
        )
        .where(pc.in_range == 1)
        .group_by(*key_columns)
    )


def _clock_measures(
    *, keys: dict[str, ColumnElement], where: list[ColumnElement[bool]], totals: bool = False
) -> Select:
    """Per key and clock kind: stopped clocks, those within target, breaches, and the median and
    90th percentile (nearest rank) of the business seconds stopped clocks took.

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
            _flag(stopped).label("stopped"),
            _flag(and_(stopped, k.breached_at.is_(None))).label("within"),
            _flag(k.breached_at.is_not(None)).label("breached"),
            k.elapsed_seconds.label("elapsed"),
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
    if _postgres():
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
    if not _postgres():
        whole = {r.kind: r for r in db.session.execute(_clock_measures(keys={}, where=where))}
    return per_key, whole


def _backlog(
    *, group: ColumnElement | None, starts: list[datetime], start: datetime, end: datetime
) -> Select:
    """Per group and bucket with any movement: the backlog at the bucket's end.

    One pass over the contacts received before `end` and not done before `start`: each adds +1
    at the bucket it arrived in (0 if before `start`) and -1 at the bucket it was done in; the
    running sum of those deltas, in bucket order, is the backlog.
    """
    c = Contact
    done = _done_at(c)
    arrival = case((c.received_at < _instant(start), 0), else_=_bucket_of(c.received_at, starts))
    departure = case(
        (and_(done >= _instant(start), done < _instant(end)), _bucket_of(done, starts))
    )
    columns = [arrival.label("a"), departure.label("d")]
    if group is not None:
        columns.insert(0, group.label("grp"))
    life = (
        select(*columns)
        .where(
            c.received_at < _instant(end),
            or_(done.is_(None), done >= _instant(start)),
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


# --- KPIs from the aggregates ----------------------------------------------------------------


def _int(value) -> int:
    return int(value or 0)


def _ratio(numerator, denominator, digits: int = _RATE_DIGITS) -> float | None:
    """A rate, or None when there is nothing to divide by."""
    if not denominator:
        return None
    return round(float(numerator) / float(denominator), digits)


def service_level(counts: dict, treatment: str) -> float | None:
    """SPEC section 7: the service level under the tenant's abandon treatment."""
    within, answered = counts["answered_within"], counts["answered"]
    abandoned, short = counts["abandoned"], counts["short_abandoned"]
    if treatment == "ignore":
        return _ratio(within, answered)
    if treatment == "count_within_threshold_as_met":
        return _ratio(within + counts["abandoned_within"], answered + abandoned)
    return _ratio(within, answered + abandoned - short)


def fcr_rate(counts: dict) -> float | None:
    """SPEC section 7: handled first contacts resolved first time / handled first contacts.

    A first contact not handled yet cannot have been resolved first time, nor failed to be:
    it stays out until it is; with none handled the rate is null, never 1.
    """
    return _ratio(counts["resolved_first_time"], counts["handled_first_contacts"])


_COUNTS = ("received", "offered", "handled", "answered", "answered_within", "abandoned")
_COUNTS += ("short_abandoned", "abandoned_within", "rated", "satisfied")
_COUNTS += ("first_contacts", "handled_first_contacts", "resolved_first_time")
_SECOND_SUMS = ("answer_wait", "handle")


def _counts(row) -> dict:
    """A row of `_contact_measures` as plain numbers; zeros for a key with no contacts."""
    counts = {name: _int(getattr(row, name, 0)) for name in _COUNTS}
    return counts | {name: float(getattr(row, name, 0) or 0) for name in _SECOND_SUMS}


def _sum_counts(many) -> dict:
    total = _counts(None)
    for counts in many:
        for name, value in counts.items():
            total[name] += value
    return total


def _clock_figures(row) -> dict:
    measured = _int(row.measured) if row is not None else 0
    within = _int(row.within) if row is not None else 0
    return {
        "measured": measured,
        "within_target": within,
        "within_target_rate": _ratio(within, measured),
        "median_seconds": _int(row.median) if row is not None and row.median is not None else None,
        "p90_seconds": _int(row.p90) if row is not None and row.p90 is not None else None,
        "breaches": _int(row.breaches) if row is not None else 0,
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
        "asa_seconds": _ratio(counts["answer_wait"], counts["answered"], _SECONDS_DIGITS),
        "aht_seconds": _ratio(counts["handle"], counts["handled"], _SECONDS_DIGITS),
        "abandonment_rate": _ratio(counts["abandoned"], counts["offered"]),
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
            "rate": _ratio(counts["satisfied"], counts["rated"]),
        },
        "backlog": backlog,
    }


# --- the SLA report --------------------------------------------------------------------------


def report_settings() -> dict:
    """The abandon treatment, short-abandon threshold, FCR window and service-level target of
    the tenant in scope: its default SLA policy's, else the policy defaults."""
    policy = db.session.scalars(
        select(SlaPolicy).where(SlaPolicy.is_default.is_(True)).order_by(SlaPolicy.created_at)
    ).first()
    if policy is None:
        return dict(DEFAULT_SETTINGS)
    return {
        "policy_id": policy.id,
        "abandon_treatment": policy.abandon_treatment,
        "short_abandon_seconds": policy.short_abandon_seconds,
        "fcr_window_days": policy.fcr_window_days,
        "service_level_target_bps": policy.service_level_target_bps,
    }


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


def sla_report(
    *,
    tenant: Tenant,
    from_: datetime,
    to: datetime,
    granularity: str,
    group_by: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Report the SLA and KPIs of the tenant in scope per bucket (and group) of [from_, to).

    Contacts count in the bucket they were received in, with everything known about them at
    `now` (answered, handled, clocks, repeats); the backlog is as of each bucket's end.
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
    starts = [span[0] for span in spans]
    c = Contact
    group = _group_expression(group_by)
    in_range = [c.received_at >= _instant(from_), c.received_at < _instant(to)]
    row_keys = {"bucket": _bucket_of(c.received_at, starts)}
    if group is not None:
        row_keys["grp"] = group
    window = timedelta(days=settings["fcr_window_days"])
    measures = _contact_measures(
        keys=row_keys,
        joins=[],
        in_range=and_(*in_range),
        around=[
            c.received_at >= _instant(from_ - window),
            c.received_at <= _instant(to + window),
        ],
        short_seconds=settings["short_abandon_seconds"],
        fcr_seconds=int(window.total_seconds()),
    )
    contact_rows = {(r.bucket, getattr(r, "grp", None)): r for r in db.session.execute(measures)}
    clocks, total_clocks = _clocks_by_key(keys=row_keys, where=in_range)
    clock_rows = {(key[0], key[1] if len(key) > 1 else None): v for key, v in clocks.items()}
    # Counts add up over the rows; percentiles do not (the clocks' totals are their own).
    total_counts = _sum_counts(_counts(r) for r in contact_rows.values())
    moves: dict = {}
    for r in db.session.execute(_backlog(group=group, starts=starts, start=from_, end=to)):
        moves.setdefault(getattr(r, "grp", None), {})[r.b] = _int(r.backlog)

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
                _counts(contact_rows.get((number, key))),
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
    return {
        "tenant_id": tenant.id,
        "time_zone": tenant.time_zone,
        "from": from_.astimezone(zone),
        "to": to.astimezone(zone),
        "granularity": granularity,
        "group_by": group_by,
        "generated_at": generated_at,
        "settings": {
            "policy_id": settings["policy_id"],
            "abandon_treatment": settings["abandon_treatment"],
            "short_abandon_seconds": settings["short_abandon_seconds"],
            "fcr_window_days": settings["fcr_window_days"],
            "service_level_target": settings["service_level_target_bps"] / 10000,
        },
        "rows": rows,
        "totals": {"start": from_.astimezone(zone), "end": to.astimezone(zone), **totals},
    }


# --- the complaints register -----------------------------------------------------------------


def year_bounds(*, year: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local year [1 January, next 1 January) as UTC instants."""
    return instant(date(year, 1, 1), zone), instant(date(year + 1, 1, 1), zone)


def complaints_register(*, tenant: Tenant, year: int, batch: int = 500) -> Iterator[dict]:
    """Yield every complaint and claim the tenant in scope received in the local `year`, oldest
    first, fetched `batch` rows at a time."""
    zone = zone_of(tenant)
    start, end = year_bounds(year=year, zone=zone)
    c = Contact
    stmt = (
        select(
            c.id,
            c.external_id,
            c.received_at,
            c.closed_at,
            c.resolved_at,
            c.status,
            c.channel,
            c.category,
            c.priority,
            c.subject,
            c.remedy_requested,
            c.outcome,
            c.compensation_amount,
        )
        .where(
            c.category.in_(REGISTER_CATEGORIES),
            c.received_at >= _instant(start),
            c.received_at < _instant(end),
        )
        .order_by(c.received_at, c.id)
        .execution_options(yield_per=batch)
    )
    for row in db.session.execute(stmt):
        received = row.received_at.astimezone(zone)
        closed_at = row.closed_at or row.resolved_at
        closed = closed_at.astimezone(zone) if closed_at is not None else None
        yield {
            "contact_id": row.id,
            "external_id": row.external_id,
            "received_at": received,
            "closed_at": closed,
            "status": row.status,
            "channel": row.channel,
            "category": row.category,
            "priority": row.priority,
            "summary": row.subject,
            "remedy_requested": row.remedy_requested,
            "outcome": row.outcome,
            "compensation_amount": row.compensation_amount,
            "currency": tenant.currency,
            # Local calendar days, as a person reading the register would count them.
            "days_to_close": (closed.date() - received.date()).days if closed else None,
        }


# --- the agents report -----------------------------------------------------------------------


def _segment_seconds(*, from_: datetime, to: datetime, at: datetime) -> ColumnElement:
    """A time segment's overlap with [from_, to), a running one up to `at`, times its share."""
    segment = AgentTimeSegment
    end = _earlier(func.coalesce(segment.ended_at, _instant(at)), _instant(to))
    start = _later(segment.started_at, _instant(from_))
    return cast(_seconds(start, end), Numeric) * segment.share_bps / 10000


def _segments_overlapping(*, from_: datetime, to: datetime, at: datetime) -> list:
    segment = AgentTimeSegment
    return [
        segment.started_at < _instant(to),
        func.coalesce(segment.ended_at, _instant(at)) > _instant(from_),
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
            {"agent_id": row.agent_id, "name": row.name, "available": 0.0, "busy": 0.0},
        )
        # Only available and busy time is ever attributed (break and offline open no segment).
        entry[row.presence] = entry.get(row.presence, 0.0) + float(row.seconds or 0)
    return [
        {
            "agent_id": entry["agent_id"],
            "name": entry["name"],
            "working_seconds": round(entry["available"] + entry["busy"], _SECONDS_DIGITS),
            "available_seconds": round(entry["available"], _SECONDS_DIGITS),
            "busy_seconds": round(entry["busy"], _SECONDS_DIGITS),
        }
        for entry in agents.values()
    ]


def _occupancy(handle: float, available: float) -> tuple[float, float | None]:
    """Idle time and occupancy (SPEC: handle / (handle + available idle time)).

    Agents stay `available` while they work a contact, so the idle part of their available time
    is what handle time leaves of it, never below zero.
    """
    idle = max(0.0, available - handle)
    return idle, _ratio(handle, handle + idle)


def agents_report(*, from_: datetime, to: datetime, now: datetime | None = None) -> dict:
    """Per agent, this tenant's work in [from_, to): contacts handled (by when they were
    resolved), handle time, AHT, available and idle time, occupancy, CSAT; and the totals."""
    at = now or utcnow()
    c = Contact
    finished = func.coalesce(c.resolved_at, c.closed_at)
    handled = and_(
        or_(c.answered_at.is_not(None), c.first_response_at.is_not(None)),
        finished.is_not(None),
        finished >= _instant(from_),
        finished < _instant(to),
    )
    work = {
        row.agent_id: row
        for row in db.session.execute(
            select(
                c.agent_id,
                func.count().label("handled"),
                func.sum(c.talk_seconds + c.hold_seconds + c.acw_seconds).label("handle"),
                func.count(c.csat).label("rated"),
                func.count(case((c.csat >= 4, 1))).label("satisfied"),
            )
            .where(c.agent_id.is_not(None), c.received_at < _instant(to), handled)
            .group_by(c.agent_id)
        )
    }
    segment = AgentTimeSegment
    available = {
        row.agent_id: float(row.seconds or 0)
        for row in db.session.execute(
            select(
                segment.agent_id,
                func.sum(_segment_seconds(from_=from_, to=to, at=at)).label("seconds"),
            )
            .where(
                segment.presence == "available",
                *_segments_overlapping(from_=from_, to=to, at=at),
            )
            .group_by(segment.agent_id)
        )
    }
    ids = set(work) | set(available)
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
        _agent_figures(work.get(agent_id), available.get(agent_id, 0.0))
        | {"agent_id": agent_id, "name": names.get(agent_id)}
        for agent_id in ids
    ]
    rows.sort(key=lambda row: (row["name"] or "", str(row["agent_id"])))
    totals = _agent_totals(rows)
    return {"agents": rows, "totals": totals}


def _agent_figures(work, available: float) -> dict:
    handle = float(work.handle or 0) if work is not None else 0.0
    idle, occupancy = _occupancy(handle, available)
    return _agent_row(
        handled=_int(work.handled) if work is not None else 0,
        handle=handle,
        available=available,
        idle=idle,
        occupancy=occupancy,
        rated=_int(work.rated) if work is not None else 0,
        satisfied=_int(work.satisfied) if work is not None else 0,
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
        occupancy=_ratio(handle, handle + idle),
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
        "handle_seconds": round(handle, _SECONDS_DIGITS),
        "aht_seconds": _ratio(handle, handled, _SECONDS_DIGITS),
        "available_seconds": round(available, _SECONDS_DIGITS),
        "idle_seconds": round(idle, _SECONDS_DIGITS),
        "occupancy": occupancy,
        "csat_responses": rated,
        "csat_satisfied": satisfied,
        "csat": _ratio(satisfied, rated),
    }


# --- the portfolio ---------------------------------------------------------------------------


def portfolio(
    *,
    tenants: list[Tenant],
    periods: dict[uuid.UUID, tuple[datetime, datetime]],
    now: datetime | None = None,
) -> list[dict]:
    """One row of headline KPIs per tenant (all in scope), each over its own period and under its
    own abandon treatment, in a fixed number of grouped queries whatever the number of tenants."""
    if not tenants:
        return []
    at = now or utcnow()
    policies = {
        row.tenant_id: row
        for row in db.session.execute(
            select(
                SlaPolicy.tenant_id,
                SlaPolicy.abandon_treatment,
                SlaPolicy.short_abandon_seconds,
                SlaPolicy.fcr_window_days,
                SlaPolicy.service_level_target_bps,
            )
            .where(SlaPolicy.is_default.is_(True))
            .order_by(SlaPolicy.created_at)
        )
    }
    settings = {}
    for tenant in tenants:
        policy = policies.get(tenant.id)
        settings[tenant.id] = (
            {
                "abandon_treatment": policy.abandon_treatment,
                "short_abandon_seconds": policy.short_abandon_seconds,
                "fcr_window_days": policy.fcr_window_days,
                "service_level_target_bps": policy.service_level_target_bps,
            }
            if policy is not None
            else dict(DEFAULT_SETTINGS)
        )
    params = (
        values(
            column("tenant_id", Uuid()),
            column("starts", UTCDateTime()),
            column("ends", UTCDateTime()),
            column("short_seconds", Integer()),
            column("fcr_seconds", Integer()),
            # The period widened by the FCR window, for the repeats around its edges.
            column("around_starts", UTCDateTime()),
            column("around_ends", UTCDateTime()),
            name="params",
        )
        .data(
            [
                _portfolio_params(tenant, periods[tenant.id], settings[tenant.id])
                for tenant in tenants
            ]
        )
        .cte("params")
    )
    c = Contact
    p = params.c
    in_period = and_(p.tenant_id == c.tenant_id, c.received_at >= p.starts, c.received_at < p.ends)
    around = and_(
        p.tenant_id == c.tenant_id, c.received_at >= p.around_starts, c.received_at <= p.around_ends
    )
    measured = {
        row.tenant_id: row
        for row in db.session.execute(
            _contact_measures(
                keys={"tenant_id": c.tenant_id},
                joins=[(params, around)],
                in_range=and_(c.received_at >= p.starts, c.received_at < p.ends),
                around=[],
                short_seconds=p.short_seconds,
                fcr_seconds=p.fcr_seconds,
            )
        )
    }
    k = SlaClock
    breaches = dict(
        db.session.execute(
            select(c.tenant_id, func.count())
            .select_from(k)
            .join(c, c.id == k.contact_id)
            .join(params, in_period)
            .where(k.breached_at.is_not(None))
            .group_by(c.tenant_id)
        ).all()
    )
    backlog = dict(
        db.session.execute(
            select(c.tenant_id, func.count())
            .where(c.received_at <= _instant(at), _done_at(c).is_(None))
            .group_by(c.tenant_id)
        ).all()
    )
    rows = []
    for tenant in tenants:
        zone = zone_of(tenant)
        own = settings[tenant.id]
        counts = _counts(measured.get(tenant.id))
        start, end = periods[tenant.id]
        rows.append(
            {
                "tenant_id": tenant.id,
                "slug": tenant.slug,
                "name": tenant.name,
                "status": tenant.status,
                "time_zone": tenant.time_zone,
                "from": start.astimezone(zone),
                "to": end.astimezone(zone),
                "received": counts["received"],
                "handled": counts["handled"],
                "answered": counts["answered"],
                "abandoned": counts["abandoned"],
                "short_abandoned": counts["short_abandoned"],
                "abandon_treatment": own["abandon_treatment"],
                "short_abandon_seconds": own["short_abandon_seconds"],
                "service_level": service_level(counts, own["abandon_treatment"]),
                "service_level_target": own["service_level_target_bps"] / 10000,
                "asa_seconds": _ratio(counts["answer_wait"], counts["answered"], _SECONDS_DIGITS),
                "aht_seconds": _ratio(counts["handle"], counts["handled"], _SECONDS_DIGITS),
                "abandonment_rate": _ratio(counts["abandoned"], counts["offered"]),
                "breaches": _int(breaches.get(tenant.id)),
                "fcr": fcr_rate(counts),
                "csat": _ratio(counts["satisfied"], counts["rated"]),
                "backlog_now": _int(backlog.get(tenant.id)),
            }
        )
    return rows


def _portfolio_params(tenant: Tenant, period: tuple[datetime, datetime], settings: dict) -> tuple:
    window = timedelta(days=settings["fcr_window_days"])
    start, end = period
    return (
        tenant.id,
        start,
        end,
        settings["short_abandon_seconds"],
        int(window.total_seconds()),
        start - window,
        end + window,
    )


def visible_tenants(*, tenant_ids: frozenset[uuid.UUID] | None) -> list[Tenant]:
    """The tenants with these ids (None: every tenant), by name."""
    stmt = select(Tenant).order_by(Tenant.name, Tenant.id)
    if tenant_ids is not None:
        stmt = stmt.where(Tenant.id.in_(sorted(tenant_ids)))
    return list(db.session.scalars(stmt))
