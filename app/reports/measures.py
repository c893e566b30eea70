"""What the reports share in SQL: portable expressions, the per-contact measures, the KPI formulas.

Every figure is aggregated in SQL (counts, sums, cumulative sums), never by loading contact
rows into Python. PostgreSQL is the target; SQLite (the first-run database) answers the same
reports through simpler SQL where it lacks a function. The SLA report and the portfolio count
contacts through `contact_measures`; every report uses the expressions.
May import: app.db and the models of contacts and queues.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from app.contacts.models import Contact
from app.db import UTCDateTime, db
from app.queues.models import Queue

# Contacts that wait in line and can be abandoned: the service level's channels.
SYNC_CHANNELS = ("voice", "chat")
# When a tenant has no default SLA policy, the policy model's own defaults apply.
DEFAULT_SETTINGS = {
    "policy_id": None,
    "abandon_treatment": "exclude_short",
    "short_abandon_seconds": 5,
    "fcr_window_days": 7,
    "service_level_target_bps": 8000,
}
_RATE_DIGITS = 4
# Made once: an alias of the contacts table proxies its some 60 columns when first used.
_NEIGHBOUR = aliased(Contact)
SECONDS_DIGITS = 2


# --- SQL helpers -----------------------------------------------------------------------------


def is_postgres() -> bool:
    """Whether the session talks to PostgreSQL (else SQLite, the first-run database)."""
    return db.session.get_bind().dialect.name == "postgresql"


def sql_instant(value: datetime) -> ColumnElement[datetime]:
    """An instant as a bound parameter of the UTC timestamp type."""
    return literal(value, UTCDateTime())


def _diff_seconds(start: ColumnElement, end: ColumnElement) -> ColumnElement:
    """Seconds from `start` to `end` (negative if `end` is earlier)."""
    if is_postgres():
        return extract("epoch", end - start)
    # SQLite keeps UTC timestamps as text: julianday reads them (to the millisecond).
    return func.round((func.julianday(end) - func.julianday(start)) * 86400, 3)


def seconds_between(start: ColumnElement, end: ColumnElement) -> ColumnElement:
    """Seconds from `start` to `end`, never negative."""
    seconds = _diff_seconds(start, end)
    if is_postgres():
        return func.greatest(seconds, 0)
    return case((seconds > 0, seconds), else_=0)


def _not_before(at: ColumnElement, anchor: ColumnElement, seconds) -> ColumnElement[bool]:
    """`at` >= `anchor` - `seconds` (written so an index on `at` serves it on PostgreSQL)."""
    if is_postgres():
        return at >= anchor - _interval(seconds)
    return _diff_seconds(at, anchor) <= seconds


def _not_after(at: ColumnElement, anchor: ColumnElement, seconds) -> ColumnElement[bool]:
    """`at` <= `anchor` + `seconds`."""
    if is_postgres():
        return at <= anchor + _interval(seconds)
    return _diff_seconds(anchor, at) <= seconds


def _interval(seconds) -> ColumnElement:
    # Seconds, not days: an interval in days would follow the session's time zone over DST.
    return func.make_interval(0, 0, 0, 0, 0, 0, cast(seconds, Float))


def later(a: ColumnElement, b: ColumnElement) -> ColumnElement:
    """The later of two instants."""
    if is_postgres():
        return func.greatest(a, b)
    return func.max(a, b)  # SQLite's two-argument max() is scalar


def earlier(a: ColumnElement, b: ColumnElement) -> ColumnElement:
    """The earlier of two instants."""
    if is_postgres():
        return func.least(a, b)
    return func.min(a, b)


def _as_column(value) -> ColumnElement:
    return literal(value) if isinstance(value, int) else value


def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 where `condition` holds, else 0: a column to sum."""
    return case((condition, 1), else_=0)


def done_at(c) -> ColumnElement:
    """When a contact left the backlog: resolved or closed, or abandoned; NULL while open.

    A reopened contact is open again: its earlier resolution is not replayed (the contact keeps
    only its latest times), so it counts as open from its receipt.
    """
    raw = case(
        (c.status.in_(("resolved", "closed")), func.coalesce(c.resolved_at, c.closed_at)),
        (c.status == "abandoned", c.abandoned_at),
    )
    # Never before its receipt, so that backlog = received - done holds at every instant.
    return case((raw.is_(None), None), else_=later(raw, c.received_at))


def quantized(seconds: ColumnElement[int]) -> ColumnElement[int]:
    """Whole seconds kept to three significant figures, rounded up (1234 -> 1240): what the
    reports' percentiles are taken over, so that a month's distribution fits in a few thousand
    values per day whatever the volume (app/reports/models.py). Exact below 1,000 s; within 1 %
    above."""
    # (upper bound, step): 1,000-9,999 s to 10 s, 10,000-99,999 s to 100 s, and so on.
    steps = [(10 ** (digits + 1), 10 ** (digits - 2)) for digits in range(3, 9)]
    return case(
        (seconds < 1000, seconds),
        *((seconds < bound, (seconds + step - 1) // step * step) for bound, step in steps),
        else_=seconds,
    )


# --- per-contact measures --------------------------------------------------------------------


def answer_measures(c, q, short_seconds) -> dict[str, ColumnElement]:
    """Per contact of `c` (in queue `q`): whether it was offered, handled, answered (within T),
    abandoned (short, within T), and its queue wait if answered; the service level and the
    abandonment are sums of these (SPEC section 7). The wallboard sums them for today."""
    sync = and_(c.channel.in_(SYNC_CHANNELS), c.direction == "inbound")
    answered = and_(sync, c.answered_at.is_not(None))
    abandoned = and_(sync, c.abandoned_at.is_not(None))
    threshold = func.coalesce(c.answer_threshold_seconds, q.answer_threshold_seconds)
    answer_wait = seconds_between(c.received_at, c.answered_at)
    abandon_wait = seconds_between(c.received_at, c.abandoned_at)
    handled = and_(
        or_(c.answered_at.is_not(None), c.first_response_at.is_not(None)),
        or_(c.resolved_at.is_not(None), c.closed_at.is_not(None)),
    )
    return {
        "offered": flag(sync),
        "handled": flag(handled),
        "answered": flag(answered),
        "answered_within": flag(and_(answered, answer_wait <= threshold)),
        "answer_wait": case((answered, answer_wait), else_=0),
        "abandoned": flag(abandoned),
        "short_abandoned": flag(and_(abandoned, abandon_wait <= short_seconds)),
        "abandoned_within": flag(and_(abandoned, abandon_wait <= threshold)),
    }


def contact_measures(
    *,
    keys: dict[str, ColumnElement],
    joins: list[tuple],
    in_range: ColumnElement[bool],
    around: list[ColumnElement[bool]],
    short_seconds,
    fcr_seconds,
    neighbours: str = "window",
) -> Select:
    """Per key: the counts and sums every contact KPI is made of, in one grouped query.

    The contacts read are those `around` the range (the range widened by the FCR window on
    both sides), so that each contact in range sees its neighbours of the same end customer
    and category; only contacts `in_range` are counted. With `neighbours="lookup"` each
    contact finds its two neighbours through the customer index instead (`around` is then
    the range itself): cheaper when the range is a day in a month of a million contacts, and
    the same answer.
    """
    c, q = Contact, Queue
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
            flag(in_range).label("in_range"),
            *(expr.label(name) for name, expr in answer_measures(c, q, short_seconds).items()),
            case((handled, c.talk_seconds + c.hold_seconds + c.acw_seconds), else_=0).label(
                "handle"
            ),
            flag(c.csat.is_not(None)).label("rated"),
            flag(c.csat >= 4).label("satisfied"),
            flag(and_(c.customer_key.is_not(None), c.direction == "inbound")).label("known"),
            flag(c.reopen_count > 0).label("reopened"),
            c.received_at.label("received_at"),
            *_neighbours(c, customer, neighbours),
            _as_column(fcr_seconds).label("fcr_window"),
        )
        .select_from(c)
        .join(q, q.id == c.queue_id)
    )
    for target, on in joins:
        inner = inner.join(target, on)
    inner = inner.where(*around)
    if neighbours == "lookup":
        # OFFSET 0 keeps PostgreSQL from pulling the subquery up into the CASEs below, which
        # would run each neighbour lookup once per mention instead of once per contact.
        inner = inner.offset(0)
    per_contact = inner.subquery("per_contact")
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


def _neighbours(c, customer: dict, how: str) -> tuple[ColumnElement, ColumnElement]:
    """When the contact's previous and next contact of the same end customer, category and
    direction were received (NULL: none)."""
    if how == "window":
        return (
            func.lag(c.received_at).over(**customer).label("previous_at"),
            func.lead(c.received_at).over(**customer).label("next_at"),
        )
    n = _NEIGHBOUR
    same = and_(
        n.tenant_id == c.tenant_id,
        n.customer_key == c.customer_key,
        n.category == c.category,
        n.direction == c.direction,
    )
    # The order of the window: by receipt, and at the same instant by id. The plain bound on
    # `received_at` lets the customer index stop at the first row instead of filtering all.
    before = and_(
        n.received_at <= c.received_at,
        or_(n.received_at < c.received_at, n.id < c.id),
    )
    after = and_(
        n.received_at >= c.received_at,
        or_(n.received_at > c.received_at, n.id > c.id),
    )
    previous = select(n.received_at).where(same, before)
    following = select(n.received_at).where(same, after)
    return (
        previous.order_by(n.received_at.desc(), n.id.desc())
        .limit(1)
        .scalar_subquery()
        .label("previous_at"),
        following.order_by(n.received_at, n.id).limit(1).scalar_subquery().label("next_at"),
    )


# --- KPIs from the aggregates ----------------------------------------------------------------


def as_int(value) -> int:
    """A count from SQL as an int, 0 for NULL."""
    return int(value or 0)


def ratio(numerator, denominator, digits: int = _RATE_DIGITS) -> float | None:
    """A rate, or None when there is nothing to divide by."""
    if not denominator:
        return None
    return round(float(numerator) / float(denominator), digits)


def service_level(counts: dict, treatment: str) -> float | None:
    """SPEC section 7: the service level under the tenant's abandon treatment."""
    within, answered = counts["answered_within"], counts["answered"]
    abandoned, short = counts["abandoned"], counts["short_abandoned"]
    if treatment == "ignore":
        return ratio(within, answered)
    if treatment == "count_within_threshold_as_met":
        return ratio(within + counts["abandoned_within"], answered + abandoned)
    return ratio(within, answered + abandoned - short)


def fcr_rate(counts: dict) -> float | None:
    """SPEC section 7: handled first contacts resolved first time / handled first contacts.

    A first contact not handled yet cannot have been resolved first time, nor failed to be:
    it stays out until it is; with none handled the rate is null, never 1.
    """
    return ratio(counts["resolved_first_time"], counts["handled_first_contacts"])


_COUNTS = ("received", "offered", "handled", "answered", "answered_within", "abandoned")
_COUNTS += ("short_abandoned", "abandoned_within", "rated", "satisfied")
_COUNTS += ("first_contacts", "handled_first_contacts", "resolved_first_time")
_SECOND_SUMS = ("answer_wait", "handle")


def counts_of(row) -> dict:
    """A row of `contact_measures` as plain numbers; zeros for a key with no contacts."""
    counts = {name: as_int(getattr(row, name, 0)) for name in _COUNTS}
    return counts | {name: float(getattr(row, name, 0) or 0) for name in _SECOND_SUMS}
