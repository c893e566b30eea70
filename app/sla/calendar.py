"""Business time: when a client firm is open, and how much open time lies between two instants.

Pure computation on aware datetimes, for the SLA clocks (SPEC section 7). It imports only the
standard library and `holidays`: no database, no Flask. The rules:

- A `Calendar` has weekly opening windows of local wall-clock time, several a day. A window
  whose end is at or before its start runs past midnight into the next day and belongs to the
  day it starts on: a holiday or closure on that day closes the whole window, one on the next
  day closes none of it. `00:00`-`00:00` is open the whole day.
- Windows are real elapsed time in the calendar's zone: on the day clocks go forward a
  00:00-06:00 window is open five hours, on the day they go back seven. A local time the clocks
  skip means the instant they jump to (02:30 on a spring-forward night at 02:00 means 03:00);
  a local time that occurs twice means its first occurrence.
- Public holidays come from the `holidays` library for the window's local date, by country and
  optional subdivision (e.g. `ES` / `MD`); closures are the firm's own local dates.
- A `CalendarTimeline` holds versions, each in force from its `effective_from` until the next
  one's. Every instant is counted by the version in force at that instant, so adding a version
  never changes how earlier time is counted. The earliest version also governs any time before
  it, as there is nothing else to count that time with.
- Business time starts at COUNTED_FROM (2000-01-01 UTC, the earliest instant the API accepts):
  an instant before it (a row stored before the API bounded instants) counts from there, so no
  count walks centuries of calendar. Long spans are counted a local year at a time from each
  calendar's yearly profile (open time up to each local midnight, worked out once per process),
  so counting years costs a few additions, not a walk of every day.
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# No business time is counted before this instant (app.inputs.EARLIEST_INSTANT, the earliest
# instant the API accepts; a test keeps them equal).
COUNTED_FROM = datetime(2000, 1, 1, tzinfo=UTC)
# Spans longer than this are counted from the yearly profiles rather than walked day by day.
_WALK_AT_MOST = timedelta(days=40)
# add_business_seconds gives up after this many consecutive local days without open time.
MAX_CLOSED_DAYS = 400

_ONE_DAY = timedelta(days=1)
_ONE_SECOND = timedelta(seconds=1)
_ONE_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Interval = tuple[datetime, datetime]


def parse_clock(value: str) -> time:
    """Parse a local wall-clock time written `HH:MM` (24-hour)."""
    hours, sep, minutes = value.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"not an HH:MM time: {value!r}")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class Window:
    """An opening window of local wall-clock time, on the day it starts."""

    start: time
    end: time

    @property
    def overnight(self) -> bool:
        """Whether the window runs past midnight into the next day."""
        return self.end <= self.start


@dataclass(frozen=True)
class Calendar:
    """One version of a firm's opening hours, independent of when it is in force."""

    time_zone: str
    # Seven tuples of windows, Monday first, each sorted by start.
    weekly_hours: tuple[tuple[Window, ...], ...]
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    closures: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        try:  # an unknown zone fails here, not in the middle of a count
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone: {self.time_zone!r}") from exc
        if len(self.weekly_hours) != 7:
            raise ValueError("weekly_hours needs seven days, Monday first")
        if self.holiday_subdivision and not self.holiday_country:
            raise ValueError("a holiday subdivision needs a holiday country")
        if self.holiday_country:
            _check_holiday_region(self.holiday_country, self.holiday_subdivision)

    @classmethod
    def from_fields(
        cls,
        *,
        time_zone: str,
        weekly_hours: Mapping[str, Iterable[Mapping[str, str]]],
        holiday_country: str | None = None,
        holiday_subdivision: str | None = None,
        closures: Iterable[str | date] = (),
    ) -> Calendar:
        """Build a calendar from a version's stored fields (`{"mon": [{"start", "end"}]}`)."""
        unknown = set(weekly_hours) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekdays: {', '.join(sorted(unknown))}")
        days = tuple(
            tuple(
                sorted(
                    (
                        Window(parse_clock(w["start"]), parse_clock(w["end"]))
                        for w in weekly_hours.get(day) or ()
                    ),
                    key=lambda w: (w.start, w.end),
                )
            )
            for day in WEEKDAYS
        )
        return cls(
            time_zone=time_zone,
            weekly_hours=days,
            holiday_country=holiday_country or None,
            holiday_subdivision=holiday_subdivision or None,
            closures=frozenset(
                d if isinstance(d, date) else date.fromisoformat(d) for d in closures
            ),
        )

    @classmethod
    def from_version(cls, version) -> Calendar:
        """Build a calendar from a stored version (anything with the BusinessCalendar fields)."""
        return cls.from_fields(
            time_zone=version.time_zone,
            weekly_hours=version.weekly_hours,
            holiday_country=version.holiday_country,
            holiday_subdivision=version.holiday_subdivision,
            closures=version.closures or (),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)  # ZoneInfo caches one instance per key

    def is_closed_on(self, day: date) -> bool:
        """Whether the local date is a public holiday or one of the firm's closures."""
        if day in self.closures:
            return True
        if self.holiday_country is None:
            return False
        return day in _holiday_dates(self.holiday_country, self.holiday_subdivision, day.year)

    def windows_on(self, day: date) -> list[Interval]:
        """The UTC intervals of the windows starting on a local date (none on a closed day)."""
        if self.is_closed_on(day):
            return []
        zone = self.zone
        intervals = []
        for window in self.weekly_hours[day.weekday()]:
            opens = local_instant(day, window.start, zone)
            closes = local_instant(day + _ONE_DAY if window.overnight else day, window.end, zone)
            if closes > opens:
                intervals.append((opens, closes))
        return intervals

    def open_intervals(self, start: datetime, end: datetime | None = None) -> Iterator[Interval]:
        """Yield the open time from `start` to `end` (None: onwards), in order, in UTC."""
        return _scan(self, _utc(start, "start"), None if end is None else _utc(end, "end"))

    def open_time(self, start: datetime, end: datetime) -> timedelta:
        """The open time from `start` to `end` (UTC, end >= start), a year at a time when long."""
        if end - start <= _WALK_AT_MOST:
            return _walked(self, start, end)
        first, last = _local_year(self, start), _local_year(self, end)
        total = _into_year(self, last, end) - _into_year(self, first, start)
        for year in range(first, last):
            total += _year_total(self, year)
        return total


@dataclass(frozen=True)
class CalendarTimeline:
    """A firm's calendar versions, each in force from its instant until the next one's."""

    # (effective_from, calendar), in increasing order of effective_from; at least one.
    versions: tuple[tuple[datetime, Calendar], ...]

    def __post_init__(self) -> None:
        if not self.versions:
            raise ValueError("a timeline needs at least one calendar version")
        instants = [_utc(at, "effective_from") for at, _ in self.versions]
        if any(b <= a for a, b in itertools.pairwise(instants)):
            raise ValueError("calendar versions must take effect at increasing instants")
        object.__setattr__(
            self,
            "versions",
            tuple((at, cal) for at, (_, cal) in zip(instants, self.versions, strict=True)),
        )

    @classmethod
    def from_versions(cls, versions: Iterable) -> CalendarTimeline:
        """Build a timeline from stored versions (anything with the BusinessCalendar fields)."""
        rows = sorted(versions, key=lambda v: v.effective_from)
        return cls(tuple((v.effective_from, Calendar.from_version(v)) for v in rows))

    def calendar_at(self, at: datetime) -> Calendar:
        """The version in force at an instant (the earliest one before any took effect)."""
        starts = [effective for effective, _ in self.versions]
        index = bisect.bisect_right(starts, _utc(at, "at")) - 1
        return self.versions[max(index, 0)][1]

    def open_intervals(self, start: datetime, end: datetime | None = None) -> Iterator[Interval]:
        """Yield the open time from `start` to `end` (None: onwards), each instant counted by
        the version in force then, in order, in UTC."""
        start = _utc(start, "start")
        end = None if end is None else _utc(end, "end")
        return self._intervals(start, end)

    def open_time(self, start: datetime, end: datetime) -> timedelta:
        """The open time from `start` to `end` (UTC, end >= start), each version's share counted
        by that version."""
        total = timedelta()
        for index, (effective, calendar) in enumerate(self.versions):
            piece_start = start if index == 0 else max(start, effective)
            piece_end = end
            if index + 1 < len(self.versions):
                piece_end = min(end, self.versions[index + 1][0])
            if piece_end > piece_start:
                total += calendar.open_time(piece_start, piece_end)
        return total

    def _intervals(self, start: datetime, end: datetime | None) -> Iterator[Interval]:
        for index, (effective, calendar) in enumerate(self.versions):
            piece_start = start if index == 0 else max(start, effective)
            piece_end = self.versions[index + 1][0] if index + 1 < len(self.versions) else None
            if end is not None:
                piece_end = end if piece_end is None else min(piece_end, end)
            if piece_end is not None and piece_end <= piece_start:
                continue
            yield from _scan(calendar, piece_start, piece_end)


Schedule = Calendar | CalendarTimeline


def business_seconds_between(schedule: Schedule, start: datetime, end: datetime) -> int:
    """Return the whole seconds of open time from `start` to `end` (aware; end >= start)."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if end < start:
        raise ValueError("end is before start")
    start, end = max(start, COUNTED_FROM), max(end, COUNTED_FROM)
    if hasattr(schedule, "open_time"):
        return schedule.open_time(start, end) // _ONE_SECOND
    total = sum((e - s for s, e in schedule.open_intervals(start, end)), timedelta())
    return total // _ONE_SECOND


def add_business_seconds(schedule: Schedule, start: datetime, seconds: int) -> datetime:
    """Return the instant (UTC) at which `seconds` of open time have elapsed after `start`.

    Zero seconds gives `start` itself. Raises ValueError when the calendar has no open time
    for MAX_CLOSED_DAYS consecutive days, instead of searching for ever.
    """
    start = max(_utc(start, "start"), COUNTED_FROM)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ValueError("seconds must be a non-negative integer")
    if seconds == 0:
        return start
    remaining = timedelta(seconds=seconds)
    for opens, closes in schedule.open_intervals(start):
        if closes - opens >= remaining:
            return opens + remaining
        remaining -= closes - opens
    raise AssertionError("unreachable: open_intervals(start) without an end never runs out")


# --- internals -------------------------------------------------------------------------------


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant a local date and wall-clock time mean in a zone.

    A time that occurs twice (clocks going back) means its first occurrence; a time the clocks
    skip means the instant they jump to.
    """
    local = datetime.combine(day, at, tzinfo=zone)  # fold=0: the first occurrence
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # In a gap, fold=0 reads the time with the offset before the jump (an instant after it)
    # and fold=1 with the offset after (an instant before it); the jump lies between.
    return _transition(local.replace(fold=1).astimezone(UTC), instant, zone)


def _transition(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The first instant in (before, after] with the UTC offset `after` has (bisection)."""
    target = after.astimezone(zone).utcoffset()
    low, high = before, after
    while high - low > _ONE_SECOND:
        middle = low + ((high - low) // _ONE_SECOND // 2) * _ONE_SECOND
        if middle.astimezone(zone).utcoffset() == target:
            high = middle
        else:
            low = middle
    return high


def _scan(calendar: Calendar, start: datetime, end: datetime | None) -> Iterator[Interval]:
    """Yield a calendar's open time from `start` to `end` (None: onwards), day by local day.

    Intervals come in order and never overlap: the part of a window already covered by an
    earlier one (a previous day's window running past midnight) is not counted twice.
    """
    zone = calendar.zone
    # The day before may have a window running past midnight into the start.
    day = start.astimezone(zone).date() - _ONE_DAY
    last_day = None if end is None else end.astimezone(zone).date()
    covered = start
    closed_days = 0
    while last_day is None or day <= last_day:
        found = False
        for opens, closes in calendar.windows_on(day):
            opens = max(opens, covered)
            if end is not None:
                closes = min(closes, end)
            if closes <= opens:
                continue
            found = True
            covered = closes
            yield opens, closes
        if last_day is None:
            closed_days = 0 if found else closed_days + 1
            if closed_days > MAX_CLOSED_DAYS:
                raise ValueError(
                    f"the business calendar has no open time in the {MAX_CLOSED_DAYS} days "
                    f"after {day - timedelta(days=MAX_CLOSED_DAYS)}: no deadline can be set"
                )
        day += _ONE_DAY


def _walked(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    return sum((e - s for s, e in _scan(calendar, start, end)), timedelta())


def _local_year(calendar: Calendar, at: datetime) -> int:
    """The local year whose profile covers `at` (its first midnight at or before `at`)."""
    year = at.astimezone(calendar.zone).year
    midnights, _ = _year_profile(calendar, year)
    if _micros(at) < midnights[0]:
        return year - 1
    if _micros(at) >= midnights[-1]:
        return year + 1
    return year


def _into_year(calendar: Calendar, year: int, at: datetime) -> timedelta:
    """The open time from the start of the local `year` up to `at` (within that year)."""
    midnights, open_before = _year_profile(calendar, year)
    day = max(bisect.bisect_right(midnights, _micros(at)) - 1, 0)
    midnight = _EPOCH + timedelta(microseconds=midnights[day])
    return timedelta(microseconds=open_before[day]) + _walked(calendar, midnight, at)


def _year_total(calendar: Calendar, year: int) -> timedelta:
    return timedelta(microseconds=_year_profile(calendar, year)[1][-1])


@lru_cache(maxsize=2048)  # about 6 KB each
def _year_profile(calendar: Calendar, year: int) -> tuple[array, array]:
    """A local year's midnights (the next year's first included) and the open time from the
    year's start up to each, in microseconds since the Unix epoch and of open time; worked out
    once per calendar version and year."""
    zone = calendar.zone
    first = date(year, 1, 1)
    days = (date(year + 1, 1, 1) - first).days
    instants = [local_instant(first + timedelta(days=n), time(0), zone) for n in range(days + 1)]
    open_before = [timedelta()] * (days + 1)
    running = timedelta()
    day = 0
    for opens, closes in _scan(calendar, instants[0], instants[-1]):
        while opens < closes:
            while instants[day + 1] <= opens:
                day += 1
                open_before[day] = running
            piece_end = min(closes, instants[day + 1])
            running += piece_end - opens
            opens = piece_end
    for rest in range(day + 1, days + 1):
        open_before[rest] = running
    return (
        array("q", (_micros(at) for at in instants)),
        array("q", (spent // _ONE_MICROSECOND for spent in open_before)),
    )


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _ONE_MICROSECOND


@lru_cache(maxsize=256)
def _check_holiday_region(country: str, subdivision: str | None) -> None:
    """Fail now, not in the middle of a count, on a country or subdivision `holidays` lacks."""
    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from exc


@lru_cache(maxsize=2048)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays of one local year (observed dates included), cached."""
    # Neighbouring years too: a holiday observed on another day can cross New Year.
    found = holidays.country_holidays(country, subdiv=subdivision, years=range(year - 1, year + 2))
    return frozenset(d for d in found if d.year == year)


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime: business time needs an aware one")
    return value.astimezone(UTC)
