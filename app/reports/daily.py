"""Reading a firm's days from its roll-ups: what the SLA report and the portfolio sum, when the
roll-ups can say it.

They can when the firm is rolled up under its current settings, the range runs from local
midnight to local midnight, and few of its days are marked: those few are summed from the
contacts in the request (app/reports/rollups.py `aggregate`), so a report is as current as the
contacts themselves. Otherwise the caller reads the contacts.
May import: app.db, tenants and app.reports (measures, models, periods, rollups, settings).
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, tuple_

from app.db import db
from app.reports.measures import counts_of
from app.reports.models import (
    ReportAgentDay,
    ReportDay,
    ReportDeparture,
    ReportDuration,
    ReportMark,
    ReportRollup,
)
from app.reports.periods import zone_of
from app.reports.rollups import (
    CLOCK_COLUMNS,
    COUNT_COLUMNS,
    aggregate,
    days_of_hour,
    few_enough,
    is_current,
    marked_days,
    midnight,
)
from app.reports.settings import rollup_fingerprint
from app.sla.models import CLOCK_KINDS
from tenants.models import Tenant
from tenants.scoping import tenant_scope

# What a firm's days are kept by, after the day: a question names a slice of them (`of`:
# {"channel": "email"}, {"queue_id": ...}, both, or None for the whole firm) and the figures
# are summed over what it leaves out.
DIMENSIONS = ("channel", "queue_id")
# Their place in the keys below: (day, channel, queue id[, ...]).
_CHANNEL, _QUEUE = 1, 2


def within(key: tuple, of: dict | None) -> bool:
    """Whether a (day, channel, queue id, ...) key lies in the slice `of`."""
    if not of:
        return True
    return ("channel" not in of or key[_CHANNEL] == of["channel"]) and (
        "queue_id" not in of or key[_QUEUE] == of["queue_id"]
    )


@dataclass
class Days:
    """A firm's days [first, last) as its roll-ups (and the marked days afresh) sum them, per
    channel and queue: each question takes a slice `of` (DIMENSIONS; None: the whole firm)."""

    first: date
    last: date
    # (day, channel, queue id) -> COUNT_COLUMNS and CLOCK_COLUMNS (the portfolio, which asks
    # for the whole firm, reads each day summed in SQL, under the channel "" and no queue)
    figures: dict[tuple[date, str, uuid.UUID | None], dict] = field(default_factory=dict)
    # (day, channel, queue id) -> contacts received
    received: dict[tuple[date, str, uuid.UUID | None], int] = field(default_factory=dict)
    # (day, channel, queue id, kind) -> {seconds: clocks}
    durations: dict[tuple, dict[int, int]] = field(default_factory=dict)
    # (None, channel, queue id) -> contacts received before `first` less those that left the
    # backlog before it (keyed like the others, with no day, so that `within` reads it too)
    backlog_before: dict[tuple, int] = field(default_factory=dict)
    # Some days changed since the worker summed them, and are read as it summed them.
    catching_up: bool = False
    # (day, channel, queue id) -> contacts that left the backlog that day (received any day)
    departures: dict[tuple, int] = field(default_factory=dict)

    def present(self, dimension: str, of: dict | None = None) -> set:
        """The values of `dimension` (a channel, a queue id) with contacts received in the range
        or open at its start, within `of`."""
        place = _CHANNEL if dimension == "channel" else _QUEUE
        return {
            key[place]
            for pairs in (self.received, self.backlog_before)
            for key, n in pairs.items()
            if n and within(key, of)
        }

    def counts(self, start: date, end: date, of: dict | None = None) -> dict:
        """COUNT_COLUMNS and CLOCK_COLUMNS summed over [start, end)."""
        total = dict.fromkeys((*COUNT_COLUMNS, *CLOCK_COLUMNS), 0)
        total["answer_wait"] = Decimal(0)
        for key, figures in self.figures.items():
            if start <= key[0] < end and within(key, of):
                for name, value in figures.items():
                    total[name] += value
        return total

    def clocks(self, start: date, end: date, of: dict | None = None) -> dict[str, SimpleNamespace]:
        """Per kind: the clock figures `_clock_figures` reads, over [start, end)."""
        counts = self.counts(start, end, of)
        merged: dict[str, dict[int, int]] = {kind: defaultdict(int) for kind in CLOCK_KINDS}
        for key, durations in self.durations.items():
            if start <= key[0] < end and within(key, of):
                kind = key[3]
                for seconds, clocks in durations.items():
                    merged[kind][seconds] += clocks
        found = {}
        for kind in CLOCK_KINDS:
            n = sum(merged[kind].values())
            found[kind] = SimpleNamespace(
                measured=counts[f"{kind}_measured"],
                within=counts[f"{kind}_within"],
                breaches=counts[f"{kind}_breaches"],
                # Nearest rank, as percentile_disc: the ceil(p x n)-th of the sorted values.
                median=_nearest_rank(merged[kind], (n + 1) // 2),
                p90=_nearest_rank(merged[kind], (9 * n + 9) // 10),
            )
        return found

    def backlog_at(self, end: date, of: dict | None = None) -> int:
        """Contacts received before local midnight `end` and still open then."""

        def summed(pairs: dict) -> int:
            return sum(
                value
                for key, value in pairs.items()
                if self.first <= key[0] < end and within(key, of)
            )

        before = sum(n for key, n in self.backlog_before.items() if within(key, of))
        return before + summed(self.received) - summed(self.departures)


def as_counts(summed: dict) -> dict:
    """Roll-up columns summed over some days (`Days.counts`), as `counts_of` gives a grouped
    row of the contacts: what the KPI formulas take."""
    return counts_of(SimpleNamespace(**summed))


def _nearest_rank(counts: dict[int, int], rank: int) -> int | None:
    if rank < 1:
        return None
    seen = 0
    for seconds in sorted(counts):
        seen += counts[seconds]
        if seen >= rank:
            return seconds
    return None


def _whole_days(zone: ZoneInfo, from_: datetime, to: datetime) -> tuple[date, date] | None:
    """The first and the last + 1 local days of [from_, to), if it runs midnight to midnight."""
    first, last = from_.astimezone(zone).date(), to.astimezone(zone).date()
    if midnight(first, zone) != from_ or midnight(last, zone) != to:
        return None
    return first, last


def _readable(
    *, tenant: Tenant, zone: ZoneInfo, settings: dict, from_: datetime, to: datetime
) -> tuple[date, date, list, set[date]] | None:
    """For a range of whole local days of the tenant in scope, rolled up under these settings:
    its first and last + 1 days, and the marks and marked days before its end; else None."""
    days = _whole_days(zone, from_, to)
    if days is None or not is_current(tenant=tenant, settings=settings):
        return None
    first, last = days
    mark_ids, marked = marked_days(zone=zone)
    return first, last, mark_ids, {day for day in marked if day < last}


def _memo(name: str) -> dict:
    """A memo kept for the current transaction only: what a request reads twice (the monthly
    report by day and by queue, the dashboard's report and its volume chart) is read once, and
    a later transaction of the same session (a worker's) reads afresh."""
    session = db.session
    kept = session.info.get(name)
    if kept is None or kept[0] is not session.get_transaction():
        kept = session.info[name] = (session.get_transaction(), {})
    return kept[1]


def _afresh(*, tenant: Tenant, zone: ZoneInfo, settings: dict, days: set, mark_ids: list) -> dict:
    """`aggregate` of marked days, summed once per transaction for the same marks. A change
    since (its own mark) or a worker's pass (marks gone) makes another key, so nothing stale
    is reused."""
    key = (
        tenant.id,
        rollup_fingerprint(tenant=tenant, settings=settings),
        frozenset(days),
        frozenset(mark_ids),
    )
    memo = _memo("report_days_afresh")
    if key not in memo:
        memo[key] = aggregate(zone=zone, settings=settings, days=days)
    return memo[key]


def read(
    *,
    tenant: Tenant,
    zone: ZoneInfo,
    settings: dict,
    from_: datetime,
    to: datetime,
    durations: bool = True,
) -> Days | None:
    """The days of [from_, to) of the tenant in scope, or None when the roll-ups cannot say.
    Without `durations`, the days carry no percentiles (a volume chart needs none).

    Read once per transaction for the same marks, as `_afresh` sums them."""
    readable = _readable(tenant=tenant, zone=zone, settings=settings, from_=from_, to=to)
    if readable is None:
        return None
    first, last, mark_ids, _ = readable
    key = (
        tenant.id,
        rollup_fingerprint(tenant=tenant, settings=settings),
        first,
        last,
        frozenset(mark_ids),
    )
    memo = _memo("report_days_read")
    for with_durations in (True, durations):
        if (*key, with_durations) in memo:
            return memo[(*key, with_durations)]
    memo[(*key, durations)] = found = _read(
        tenant=tenant,
        zone=zone,
        settings=settings,
        readable=readable,
        durations=durations,
    )
    return found


def _read(
    *, tenant: Tenant, zone: ZoneInfo, settings: dict, readable: tuple, durations: bool
) -> Days:
    first, last, mark_ids, marked = readable
    found = Days(first=first, last=last)
    if not few_enough(zone=zone, days=marked):
        found.catching_up, marked = True, set()
    fresh = None
    if marked:
        fresh = _afresh(tenant=tenant, zone=zone, settings=settings, days=marked, mark_ids=mark_ids)
    afresh = sorted(marked)
    d = ReportDay
    in_range = [d.day >= first, d.day < last, d.day.not_in(afresh)]
    day_rows = [row._asdict() for row in db.session.execute(_day_columns().where(*in_range))]
    for row in [*day_rows, *(r for r in (fresh or {}).get("days", []) if first <= r["day"] < last)]:
        _add_day(found, row)
    if durations:
        _read_durations(found, afresh, fresh)
    _read_backlog(found, afresh, fresh)
    return found


def _read_durations(found: Days, afresh: list[date], fresh: dict | None) -> None:
    first, last = found.first, found.last
    u = ReportDuration
    stored = db.session.execute(
        select(u.day, u.channel, u.queue_id, u.kind, u.distribution).where(
            u.day >= first, u.day < last, u.day.not_in(afresh)
        )
    )
    fresh_rows = (
        (row["day"], row["channel"], row["queue_id"], row["kind"], row["distribution"])
        for row in (fresh or {}).get("durations", [])
        if first <= row["day"] < last
    )
    for day, channel, queue_id, kind, distribution in itertools.chain(stored, fresh_rows):
        spread = found.durations.setdefault((day, channel, queue_id, kind), {})
        for seconds, clocks in distribution:
            spread[seconds] = spread.get(seconds, 0) + clocks


def _day_columns():
    d = ReportDay
    return select(
        d.day,
        d.channel,
        d.queue_id,
        *(getattr(d, name) for name in (*COUNT_COLUMNS, *CLOCK_COLUMNS)),
    )


def _add_day(found: Days, row: dict) -> None:
    key = (row["day"], row["channel"], row["queue_id"])
    figures = found.figures.setdefault(key, {})
    for name in (*COUNT_COLUMNS, *CLOCK_COLUMNS):
        value = row[name]
        value = Decimal(str(value)) if name == "answer_wait" else int(value)
        figures[name] = figures.get(name, 0) + value
    found.received[key] = found.received.get(key, 0) + int(row["received"])


def _read_backlog(found: Days, afresh: list[date], fresh: dict | None) -> None:
    """What the backlog needs, per channel and queue: received and left before the range, and
    left on each of its days."""
    d, p = ReportDay, ReportDeparture
    backlog: dict[tuple, int] = defaultdict(int)
    for channel, queue_id, received in db.session.execute(
        select(d.channel, d.queue_id, func.sum(d.received))
        .where(d.day < found.first, d.day.not_in(afresh))
        .group_by(d.channel, d.queue_id)
    ):
        backlog[(None, channel, queue_id)] += int(received or 0)
    for channel, queue_id, left in db.session.execute(
        select(p.channel, p.queue_id, func.sum(p.contacts))
        .where(p.done_day < found.first, p.day.not_in(afresh))
        .group_by(p.channel, p.queue_id)
    ):
        backlog[(None, channel, queue_id)] -= int(left or 0)
    departures: dict[tuple, int] = {
        (day, channel, queue_id): int(left)
        for day, channel, queue_id, left in db.session.execute(
            select(p.done_day, p.channel, p.queue_id, func.sum(p.contacts))
            .where(p.done_day >= found.first, p.done_day < found.last, p.day.not_in(afresh))
            .group_by(p.done_day, p.channel, p.queue_id)
        )
    }
    for row in (fresh or {}).get("days", []):
        if row["day"] < found.first:
            backlog[(None, row["channel"], row["queue_id"])] += row["received"]
    for row in (fresh or {}).get("departures", []):
        if row["done_day"] < found.first:
            backlog[(None, row["channel"], row["queue_id"])] -= row["contacts"]
        elif row["done_day"] < found.last:
            key = (row["done_day"], row["channel"], row["queue_id"])
            departures[key] = departures.get(key, 0) + row["contacts"]
    found.backlog_before = dict(backlog)
    found.departures = departures


def firms(*, tenants: list[Tenant], periods: dict, settings: dict) -> dict:
    """tenant id -> (the roll-up columns summed over the firm's period, its open contacts now)
    for each firm whose roll-ups can say: the portfolio's figures, in a fixed number of queries
    whatever the number of firms, plus those of summing each marked day afresh."""
    current = dict(
        db.session.execute(
            select(ReportRollup.tenant_id, ReportRollup.fingerprint).where(
                ReportRollup.tenant_id.in_([tenant.id for tenant in tenants])
            )
        ).all()
    )
    able = {}
    for tenant in tenants:
        zone = zone_of(tenant)
        days = _whole_days(zone, *periods[tenant.id])
        fingerprint = rollup_fingerprint(tenant=tenant, settings=settings[tenant.id])
        if current.get(tenant.id) == fingerprint and days is not None:
            able[tenant.id] = (tenant, zone, *days)
    if not able:
        return {}
    marked: dict = {tenant_id: set() for tenant_id in able}
    for tenant_id, hour in db.session.execute(
        select(ReportMark.tenant_id, ReportMark.hour).where(ReportMark.tenant_id.in_(list(able)))
    ):
        marked[tenant_id] |= days_of_hour(hour, able[tenant_id][1])
    for tenant_id, days in marked.items():
        if days:
            with tenant_scope(tenant_id):
                if not few_enough(zone=able[tenant_id][1], days=days):
                    marked[tenant_id] = set()  # read as last summed, a pass old at most
    found = {
        tenant_id: [Days(first=first, last=last), 0]
        for tenant_id, (_, _, first, last) in able.items()
    }
    _sum_periods(found, able, marked)
    _count_open(found, able, marked)
    for tenant_id, days in marked.items():
        if days:
            _add_fresh(found[tenant_id], able[tenant_id], days, settings[tenant_id])
    return {
        tenant_id: (days.counts(days.first, days.last), open_now)
        for tenant_id, (days, open_now) in found.items()
    }


def _sum_periods(found: dict, able: dict, marked: dict) -> None:
    d = ReportDay
    summed = (func.sum(getattr(d, name)).label(name) for name in (*COUNT_COLUMNS, *CLOCK_COLUMNS))
    rows = db.session.execute(
        select(d.tenant_id, d.day, *summed)
        .where(
            d.tenant_id.in_(list(able)),
            d.day >= min(first for _, _, first, _ in able.values()),
            d.day < max(last for _, _, _, last in able.values()),
        )
        .group_by(d.tenant_id, d.day)
    )
    for row in rows:
        days = found[row.tenant_id][0]
        if days.first <= row.day < days.last and row.day not in marked[row.tenant_id]:
            _add_day(days, {**row._asdict(), "channel": "", "queue_id": None})


def _count_open(found: dict, able: dict, marked: dict) -> None:
    """Received less left, over all the firms' days but the marked ones."""
    d, p = ReportDay, ReportDeparture
    ids = list(able)
    pairs = [(tenant_id, day) for tenant_id, days in marked.items() for day in days]
    for model, column, sign in ((d, d.received, 1), (p, p.contacts, -1)):
        for tenant_id, total in db.session.execute(
            select(model.tenant_id, func.sum(column))
            .where(model.tenant_id.in_(ids))
            .group_by(model.tenant_id)
        ):
            found[tenant_id][1] += sign * int(total or 0)
        if pairs:
            for tenant_id, total in db.session.execute(
                select(model.tenant_id, func.sum(column))
                .where(tuple_(model.tenant_id, model.day).in_(pairs))
                .group_by(model.tenant_id)
            ):
                if tenant_id in found:
                    found[tenant_id][1] -= sign * int(total or 0)


def _add_fresh(entry: list, firm: tuple, days: set, settings: dict) -> None:
    tenant, zone, first, last = firm
    with tenant_scope(tenant.id):
        fresh = aggregate(zone=zone, settings=settings, days=days)
    for row in fresh["days"]:
        entry[1] += row["received"]
        if first <= row["day"] < last:
            _add_day(entry[0], row)
    entry[1] -= sum(row["contacts"] for row in fresh["departures"])


def agent_work(
    *, tenant: Tenant, zone: ZoneInfo, settings: dict, from_: datetime, to: datetime
) -> dict | None:
    """Per agent, the tenant's contacts received before `to` and finished in [from_, to):
    handled, handle seconds, CSAT responses and satisfied ones, as the agents report counts
    them; or None when the roll-ups cannot say, or only as last summed (the agents report then
    reads the contacts: it never shows figures behind)."""
    readable = _readable(tenant=tenant, zone=zone, settings=settings, from_=from_, to=to)
    if readable is None:
        return None
    first, last, mark_ids, marked = readable
    if not few_enough(zone=zone, days=marked):
        return None
    a = ReportAgentDay
    stored = db.session.scalars(
        select(a.work).where(
            a.finished_day >= first,
            a.finished_day < last,
            a.day < last,
            a.day.not_in(sorted(marked)),
        )
    )
    fresh: list = []
    if marked:
        summed = _afresh(
            tenant=tenant, zone=zone, settings=settings, days=marked, mark_ids=mark_ids
        )
        fresh = [row["work"] for row in summed["agents"] if first <= row["finished_day"] < last]
    work: dict = {}
    for by_agent in itertools.chain(stored, fresh):
        for agent_id, figures in by_agent.items():
            entry = work.get(agent_id)
            if entry is None:
                entry = work[agent_id] = SimpleNamespace(handled=0, handle=0, rated=0, satisfied=0)
            entry.handled += figures[0]
            entry.handle += figures[1]
            entry.rated += figures[2]
            entry.satisfied += figures[3]
    return {uuid.UUID(agent_id): entry for agent_id, entry in work.items()}
