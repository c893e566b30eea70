"""When an outbound campaign may reach a customer: calling windows in the customer's local time.

Owns the rules only (pure functions, no database, no Flask); imports nothing from the app. A window
is read in the CUSTOMER's time zone and skips the public holidays of the customer's country: the
caller's clock, the agent's zone and the server's zone never matter.

The zone <-> country mapping is tzdata's `zone.tab` (one country per zone line); public holidays
come from the `holidays` library, country level only (regional holidays of a subdivision are not
known here), observed days included as that library lists them.

Daylight saving, with the rule that the customer is never called outside the window in any reading
of the local clock:
- a local time that does not exist (the spring-forward gap) resolves to the first instant after the
  gap, when the clock shows a real time again;
- a local time that occurs twice (the fall-back hour) is read as the LATER occurrence for an opening
  and the EARLIER one for a closing, so the stretch kept is inside the window whichever reading the
  customer's clock gives. A day whose stretch comes out empty this way is skipped.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

# A campaign's next opening is looked for this many days ahead at most: beyond it a window that
# never opens (no weekdays, every day a holiday) would be searched forever.
SEARCH_DAYS = 366
# How many of a country's zones an error message names before "...".
ZONES_NAMED = 4


@dataclass(frozen=True)
class Window:
    """The days and local hours a campaign may call a customer."""

    weekdays: frozenset[int]  # ISO weekdays, 1 = Monday .. 7 = Sunday
    start: time  # local opening time (naive)
    end: time  # local closing time, after start: no overnight windows
    skip_holidays: bool = True  # no calls on the public holidays of the customer's country
    starts_on: date | None = None  # first local date of the campaign (the customer's date)
    ends_on: date | None = None  # last local date, inclusive

    def __post_init__(self) -> None:
        if not set(self.weekdays) <= set(range(1, 8)):
            raise ValueError("Weekdays are ISO numbers from 1 (Monday) to 7 (Sunday).")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("A window's start and end are local times without a time zone.")
        if self.end <= self.start:
            raise ValueError("A window's end must come after its start on the same day.")


class ZoneError(ValueError):
    """A customer's time zone or country is unusable; the message is a sentence for the client."""


@functools.cache
def _country_zones() -> dict[str, tuple[str, ...]]:
    """Map each ISO country code to its zones, in zone.tab's order (most populous first)."""
    text = (importlib.resources.files("tzdata") / "zoneinfo" / "zone.tab").read_text("utf-8")
    zones: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, _coordinates, zone = line.split("\t")[:3]
        zones.setdefault(code, []).append(zone)
    return {code: tuple(names) for code, names in zones.items()}


@functools.cache
def _zone_countries() -> dict[str, tuple[str, ...]]:
    """Map each zone of zone.tab to the countries listing it."""
    countries: dict[str, list[str]] = {}
    for code, zones in _country_zones().items():
        for zone in zones:
            countries.setdefault(zone, []).append(code)
    return {zone: tuple(codes) for zone, codes in countries.items()}


def _named(zones: tuple[str, ...]) -> str:
    shown = ", ".join(zones[:ZONES_NAMED])
    return shown + (", ..." if len(zones) > ZONES_NAMED else "")


def _known_country(country: str) -> str:
    code = country.strip().upper()
    if code not in _country_zones():
        raise ZoneError(
            f"Unknown country code '{country}': give an ISO 3166 two-letter code such as ES."
        )
    return code


def resolve_zone(*, time_zone: str | None, country: str | None) -> tuple[str, str | None]:
    """Return (IANA zone name, upper-case ISO country code or None) for a customer.

    A time zone must be one ZoneInfo loads; with a country it must be one of that country's zones
    in zone.tab (so an alias such as US/Eastern only goes without a country). Without a country,
    the country is the zone's when zone.tab gives it exactly one. A country alone must have exactly
    one zone. Blank strings count as not given; country codes are accepted in any case.
    """
    time_zone = (time_zone or "").strip() or None
    country = (country or "").strip() or None
    if time_zone is None:
        if country is None:
            raise ZoneError("Give the customer's time_zone or country.")
        code = _known_country(country)
        zones = _country_zones()[code]
        if len(zones) > 1:
            raise ZoneError(
                f"Country {code} spans several time zones ({_named(zones)}): "
                "give the customer's time_zone."
            )
        return zones[0], code
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ZoneError(f"Unknown time zone '{time_zone}'.") from None
    if country is None:
        codes = _zone_countries().get(time_zone, ())
        return time_zone, codes[0] if len(codes) == 1 else None
    code = _known_country(country)
    zones = _country_zones()[code]
    if time_zone not in zones:
        raise ZoneError(
            f"Time zone '{time_zone}' is not one of country {code}'s time zones ({_named(zones)})."
        )
    return time_zone, code


@functools.lru_cache(maxsize=512)
def _holidays(country: str, year: int) -> holidays.HolidayBase | None:
    """Return the country's public holidays for one year, or None for a country the library lacks.

    A country the `holidays` library does not know has no holidays here rather than an error: a
    campaign must still be able to call it, and resolve_zone has already vetted the code.
    """
    try:
        # expand=False: the cached object must not grow when asked about another year.
        return holidays.country_holidays(country, years=year, expand=False)
    except NotImplementedError:
        return None


def holiday_name(*, country: str | None, day: date) -> str | None:
    """Return the name of the country's public holiday on that day, or None."""
    if not country:
        return None
    calendar = _holidays(country.upper(), day.year)
    return None if calendar is None else calendar.get(day)


def _instant(day: date, at: time, tz: ZoneInfo, *, fold: int) -> datetime:
    """Return the UTC instant of a local wall time; `fold` picks the reading of a repeated time."""
    wall = datetime.combine(day, at)
    instant = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == wall:
        return instant
    # The wall time is in a spring-forward gap: its two readings straddle the transition, before
    # it at `low` and after it at `high`; narrow them down to the transition itself.
    low, high = sorted(wall.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1))
    before = low.astimezone(tz).utcoffset()
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) // 2
        if middle.astimezone(tz).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


def _day_qualifies(window: Window, country: str | None, day: date) -> bool:
    if day.isoweekday() not in window.weekdays:
        return False
    if window.starts_on is not None and day < window.starts_on:
        return False
    if window.ends_on is not None and day > window.ends_on:
        return False
    return not (window.skip_holidays and holiday_name(country=country, day=day))


def next_opening(
    *, window: Window, zone: str, country: str | None, not_before: datetime
) -> tuple[datetime, datetime] | None:
    """Return the first (opens_at, closes_at) in UTC when the customer may be called, or None.

    opens_at is the later of `not_before` and the day's local opening; closes_at is that day's
    local closing. Days are the customer's local days: the weekday, starts_on/ends_on and the
    country's holidays are all read there. None when no day qualifies up to ends_on or within
    SEARCH_DAYS of `not_before`.
    """
    if not_before.tzinfo is None or not_before.utcoffset() is None:
        raise ValueError("not_before must be an aware datetime.")
    tz = ZoneInfo(zone)
    not_before = not_before.astimezone(UTC)
    today = not_before.astimezone(tz).date()
    day = max(today, window.starts_on) if window.starts_on else today
    last = today + timedelta(days=SEARCH_DAYS)
    if window.ends_on is not None:
        last = min(last, window.ends_on)
    while day <= last:
        if _day_qualifies(window, country, day):
            opens_at = max(not_before, _instant(day, window.start, tz, fold=1))
            closes_at = _instant(day, window.end, tz, fold=0)
            if opens_at < closes_at:
                return opens_at, closes_at
        day += timedelta(days=1)
    return None


def is_open(*, window: Window, zone: str, country: str | None, at: datetime) -> bool:
    """Return whether the customer may be called at that instant."""
    opening = next_opening(window=window, zone=zone, country=country, not_before=at)
    return opening is not None and opening[0] == at
