"""SLA clocks as rules (SPEC section 7): which target applies to a contact, and how a clock
counts business time, pauses, stops, goes at risk and breaches. Pure: no database, no request.

A clock is anything with the fields of `app.sla.models.SlaClock`; the functions here change it
in place. Time is counted in business seconds on a schedule (`app.sla.calendar`: a calendar
timeline, each instant counted by the version in force then). The rules:

- A clock starts running when the contact arrives. `elapsed_seconds` holds the business time
  counted up to its last change, from `running_since` on more is running; `paused_seconds`
  and `paused_since` likewise for the time it spends paused. A read adds the running part.
- While it runs, `due_at` is the instant its target runs out and `at_risk_at` the instant
  `ceil(target x at_risk_bps / 10000)` business seconds have elapsed; both are recomputed from
  the remaining business time whenever it (re)starts and cleared when it pauses or stops.
- `tick` marks what has come due: `ok` becomes `at_risk` once `at_risk_at` has come, and a
  running clock becomes `breached` once `due_at` has come (reaching the deadline without the
  goal is a breach), with `breached_at = due_at`. A clock reported breached was at risk
  first, so each clock goes at risk once and breaches once.
- A breached clock keeps counting until it stops, so its overdue time shows; it stays
  breached whatever happens next. Stopping in time is `met`; abandoning is `cancelled`.
- Reopening restarts a stopped clock with the time it had left (none, if it had breached).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

from app.sla.calendar import (
    MAX_CLOSED_DAYS,
    Interval,
    Schedule,
    add_business_seconds,
    business_seconds_between,
)

KINDS = ("first_response", "resolution")
SYNCHRONOUS_CHANNELS = frozenset({"voice", "chat"})  # answering is the first response
# Worst first: a contact's SLA state is the worst state of its clocks.
SEVERITY = {"breached": 4, "at_risk": 3, "ok": 2, "met": 1, "cancelled": 0}
LIVE_STATES = ("ok", "at_risk", "breached")
DEFAULT_AT_RISK_BPS = 8000


# --- which targets apply ---------------------------------------------------------------------


def choose_target(
    targets: Iterable[Mapping], *, priority: str, channel: str, category: str
) -> Mapping | None:
    """The policy's target for a contact: its priority, with channel and category null or equal,
    the most specific first (channel and category, then category, then channel, then neither)."""
    fitting = [
        t
        for t in targets
        if t.get("priority") == priority
        and t.get("channel") in (None, channel)
        and t.get("category") in (None, category)
    ]
    if not fitting:
        return None
    return max(fitting, key=lambda t: (t.get("category") is not None, t.get("channel") is not None))


def clock_targets(target: Mapping | None, *, channel: str, direction: str) -> dict[str, int]:
    """The clocks a contact gets and their targets in business seconds, by kind.

    First response: the target's `first_response_seconds`, or for voice and chat when that is
    null its `answer_threshold_seconds`; none for an outbound contact (the firm spoke first).
    Resolution: `resolution_seconds`. A goal the target leaves null gets no clock.
    """
    if target is None:
        return {}
    found: dict[str, int] = {}
    first = target.get("first_response_seconds")
    if first is None and channel in SYNCHRONOUS_CHANNELS:
        first = target.get("answer_threshold_seconds")
    if first is not None and direction != "outbound":
        found["first_response"] = int(first)
    if target.get("resolution_seconds") is not None:
        found["resolution"] = int(target["resolution_seconds"])
    return found


def answer_threshold(
    target: Mapping | None, *, channel: str, queue_threshold: int | None
) -> int | None:
    """T of the service level for a contact: the target's, else its queue's; voice and chat only."""
    if channel not in SYNCHRONOUS_CHANNELS:
        return None
    if target is not None and target.get("answer_threshold_seconds") is not None:
        return int(target["answer_threshold_seconds"])
    return queue_threshold


def at_risk_seconds(target_seconds: int, at_risk_bps: int) -> int:
    """Business seconds after which a clock is at risk: ceil(target x bps / 10000)."""
    return -(-target_seconds * at_risk_bps // 10000)


def worst(states: Iterable[str]) -> str | None:
    """The contact's SLA state: the worst of its clocks' (None without clocks)."""
    return max(states, key=SEVERITY.__getitem__, default=None)


def risk_instants(clocks: Iterable) -> tuple[datetime | None, datetime | None]:
    """When an open contact's clocks put it at risk, and in breach: the earliest such instant
    over its clocks not stopped (None: not as things stand).

    A clock is at risk once its at-risk instant or its deadline has passed, or once marked so;
    breached once its deadline has passed, or once marked so. A clock already marked (a
    paused one has no instants) gives an instant in the past: when it went at risk or
    breached if known, else when it started. So `instant <= now` tells, at any later `now`,
    what the at-risk list's rule tells from the clocks (app.sla.service.risk_now), without
    waiting for the scan to mark them: readers find the contacts at risk from the contacts
    alone. Only the clock's own changes (start, pause, resume, stop, restart) move them.
    """
    risk: list[datetime] = []
    breach: list[datetime] = []
    for clock in clocks:
        if clock.stopped_at is not None:
            continue
        marked = clock.at_risk_at or clock.started_at
        if clock.state == "breached":
            breach.append(clock.breached_at or clock.started_at)
            risk.append(min(marked, breach[-1]))
        else:
            if clock.due_at is not None:
                breach.append(clock.due_at)
            candidates = [t for t in (clock.at_risk_at, clock.due_at) if t is not None]
            if clock.state == "at_risk":
                candidates.append(marked)
            if candidates:
                risk.append(min(candidates))
    return min(risk, default=None), min(breach, default=None)


# --- a clock's life --------------------------------------------------------------------------


def is_running(clock) -> bool:
    return clock.running_since is not None


def is_paused(clock) -> bool:
    return clock.paused_since is not None


def is_stopped(clock) -> bool:
    return clock.stopped_at is not None


def start(clock, *, schedule: Schedule, at: datetime, at_risk_bps: int) -> None:
    """Start a new clock (its `target_seconds` set) running at `at`."""
    clock.started_at = at
    clock.elapsed_seconds = 0
    clock.paused_seconds = 0
    clock.running_since = at
    clock.paused_since = None
    clock.stopped_at = None
    clock.breached_at = None
    clock.state = "ok"
    _plan(clock, schedule, at_risk_bps)


def tick(clock, *, now: datetime) -> list[str]:
    """Mark what has come due by `now`; return the transitions, in order (`at_risk`, `breached`)."""
    if not is_running(clock) or clock.state not in ("ok", "at_risk"):
        return []
    transitions = []
    risk_due = clock.at_risk_at is not None and clock.at_risk_at <= now
    breach_due = clock.due_at is not None and clock.due_at <= now
    if clock.state == "ok" and (risk_due or breach_due):
        clock.state = "at_risk"
        transitions.append("at_risk")
    if breach_due:
        clock.state = "breached"
        clock.breached_at = clock.due_at
        transitions.append("breached")
    return transitions


def pause(clock, *, schedule: Schedule, at: datetime) -> None:
    """Pause a running clock at `at` (time paused is counted apart, not against the target)."""
    if not is_running(clock):
        return
    _settle(clock, schedule, at)
    clock.running_since = None
    clock.paused_since = at
    clock.at_risk_at = clock.due_at = None


def resume(clock, *, schedule: Schedule, at: datetime, at_risk_bps: int) -> None:
    """Resume a paused clock at `at` with the business time it had left."""
    if not is_paused(clock):
        return
    _settle(clock, schedule, at)
    clock.paused_since = None
    clock.running_since = at
    _plan(clock, schedule, at_risk_bps)


def stop(clock, *, schedule: Schedule, at: datetime) -> None:
    """Stop a clock because its goal was reached at `at`: met, unless it had breached."""
    _finish(clock, schedule, at, "breached" if clock.state == "breached" else "met")


def cancel(clock, *, schedule: Schedule, at: datetime) -> None:
    """Stop a clock whose goal can no longer be reached (abandoned); a breach stays a breach."""
    _finish(clock, schedule, at, "breached" if clock.state == "breached" else "cancelled")


def restart(clock, *, schedule: Schedule, at: datetime, at_risk_bps: int) -> None:
    """Run a stopped clock again from `at` with the time it had left (reopening a contact).

    A clock already past its at-risk share comes back at risk (it went at risk before it
    stopped) and a breached one stays breached: neither is reported twice.
    """
    if not is_stopped(clock) or clock.state == "cancelled":
        return
    clock.stopped_at = None
    clock.running_since = at
    if clock.state != "breached":
        threshold = at_risk_seconds(clock.target_seconds, at_risk_bps)
        clock.state = "at_risk" if clock.elapsed_seconds >= threshold else "ok"
    _plan(clock, schedule, at_risk_bps)


# --- reading ---------------------------------------------------------------------------------


def elapsed(clock, *, schedule: Schedule, now: datetime) -> int:
    """Business seconds counted against the target up to `now`."""
    running = _between(schedule, clock.running_since, now) if is_running(clock) else 0
    return clock.elapsed_seconds + running


def paused(clock, *, schedule: Schedule, now: datetime) -> int:
    """Business seconds spent paused up to `now`."""
    pausing = _between(schedule, clock.paused_since, now) if is_paused(clock) else 0
    return clock.paused_seconds + pausing


def reading(clock, *, schedule: Schedule, now: datetime) -> dict:
    """The clock as of `now`, without changing it: what is due is shown as it will be marked."""
    state, breached_at = clock.state, clock.breached_at
    if is_running(clock) and state in ("ok", "at_risk"):
        if clock.due_at is not None and clock.due_at <= now:
            state, breached_at = "breached", clock.due_at
        elif clock.at_risk_at is not None and clock.at_risk_at <= now:
            state = "at_risk"
    used = elapsed(clock, schedule=schedule, now=now)
    return {
        "kind": clock.kind,
        "state": state,
        "target_seconds": clock.target_seconds,
        "started_at": clock.started_at,
        "due_at": clock.due_at,
        "at_risk_at": clock.at_risk_at,
        "elapsed_seconds": used,
        "paused_seconds": paused(clock, schedule=schedule, now=now),
        "remaining_seconds": clock.target_seconds - used,
        "paused": is_paused(clock),
        "stopped_at": clock.stopped_at,
        "breached_at": breached_at,
    }


# --- many clocks on one calendar ------------------------------------------------------------


class CachedSchedule:
    """A schedule whose open intervals are worked out once and kept, for many clocks at once.

    Gives exactly the open time the schedule gives (so the same business seconds and
    deadlines), but each stretch of calendar is computed once rather than once per clock: an
    import of thousands of contacts, or a scan, walks the same days again and again.
    """

    CHUNK = timedelta(days=31)

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self._low: datetime | None = None  # open time is known for [_low, _high)
        self._high: datetime | None = None
        self._starts: list[datetime] = []
        self._ends: list[datetime] = []

    def open_intervals(self, start: datetime, end: datetime | None = None) -> Iterator[Interval]:
        """Yield the open time from `start` to `end` (None: onwards), in order, in UTC."""
        start = _aware(start).astimezone(UTC)
        end = None if end is None else _aware(end).astimezone(UTC)
        if self._low is not None and not (
            self._low - self.CHUNK <= start <= self._high + self.CHUNK
        ):
            # Far from what is known (a batch mixing old and new contacts): start afresh rather
            # than work out every day in between.
            self._low = self._high = None
            self._starts, self._ends = [], []
        self._know(start, end if end is not None else start + self.CHUNK)
        return self._walk(start, end)

    def open_time(self, start: datetime, end: datetime) -> timedelta:
        """The open time from `start` to `end`: from the kept intervals when short, else from
        the schedule's yearly profiles (never a walk of every day of a long span)."""
        if end - start > self.CHUNK:
            return self.schedule.open_time(start, end)
        return sum((e - s for s, e in self.open_intervals(start, end)), timedelta())

    def _walk(self, start: datetime, end: datetime | None) -> Iterator[Interval]:
        index = bisect.bisect_right(self._ends, start)
        closed_since = start
        while True:
            while index < len(self._starts):
                opens, closes = max(self._starts[index], start), self._ends[index]
                if end is not None and opens >= end:
                    return
                yield opens, (closes if end is None else min(closes, end))
                closed_since = closes
                index += 1
            if end is not None and self._high >= end:
                return
            if self._high - closed_since > timedelta(days=MAX_CLOSED_DAYS + 1):
                raise ValueError(
                    f"the business calendar has no open time in the {MAX_CLOSED_DAYS} days "
                    f"after {closed_since.date()}: no deadline can be set"
                )
            self._know(self._high, self._high + self.CHUNK)

    def _know(self, start: datetime, end: datetime) -> None:
        """Work out the open time of [start, end) that is not known yet, a chunk at a time."""
        if self._low is None:
            self._low = self._high = start
        if start < self._low:
            low = start - self.CHUNK
            earlier = list(self.schedule.open_intervals(low, self._low))
            self._starts[:0] = [s for s, _ in earlier]
            self._ends[:0] = [e for _, e in earlier]
            self._low = low
        if end > self._high:
            high = end + self.CHUNK
            later = list(self.schedule.open_intervals(self._high, high))
            self._starts += [s for s, _ in later]
            self._ends += [e for _, e in later]
            self._high = high


# --- internals -------------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("business time needs aware datetimes")
    return value


def _between(schedule: Schedule, start: datetime, end: datetime) -> int:
    # An instant stamped a little ahead (clock skew) counts nothing rather than failing.
    return business_seconds_between(schedule, start, end) if end > start else 0


def _after(schedule: Schedule, start: datetime, seconds: int) -> datetime | None:
    try:
        return add_business_seconds(schedule, start, max(0, seconds))
    except ValueError:  # a calendar with no open time ahead: the clock can never run out
        return None


def _settle(clock, schedule: Schedule, at: datetime) -> None:
    """Count the running or paused time up to `at` into the stored totals."""
    if is_running(clock):
        clock.elapsed_seconds += _between(schedule, clock.running_since, at)
        clock.running_since = max(clock.running_since, at)
    if is_paused(clock):
        clock.paused_seconds += _between(schedule, clock.paused_since, at)
        clock.paused_since = max(clock.paused_since, at)


def _plan(clock, schedule: Schedule, at_risk_bps: int) -> None:
    """Set `due_at` and `at_risk_at` of a running clock from the business time it has left."""
    since = clock.running_since
    threshold = at_risk_seconds(clock.target_seconds, at_risk_bps)
    clock.at_risk_at = _after(schedule, since, threshold - clock.elapsed_seconds)
    if clock.state == "breached":
        clock.due_at = clock.breached_at  # it ran out then; the overdue time keeps counting
    else:
        clock.due_at = _after(schedule, since, clock.target_seconds - clock.elapsed_seconds)


def _finish(clock, schedule: Schedule, at: datetime, state: str) -> None:
    if is_stopped(clock):
        return
    _settle(clock, schedule, at)
    clock.running_since = clock.paused_since = None
    clock.at_risk_at = clock.due_at = None
    clock.stopped_at = at
    clock.state = state
