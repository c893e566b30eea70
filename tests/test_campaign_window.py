"""When a campaign may call a customer: windows read in the customer's local time and country.

Pure rules (app/campaigns/window.py), no database: real tzdata and `holidays` data, 2026 calendar.
Instants are written in UTC so each test says what the dialler's clock would show.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.campaigns.window import (
    Window,
    ZoneError,
    holiday_name,
    is_open,
    next_opening,
    resolve_zone,
)

WEEKDAYS = frozenset({1, 2, 3, 4, 5})
EVERY_DAY = frozenset(range(1, 8))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def window(start: str = "09:00", end: str = "20:00", days=WEEKDAYS, **kwargs) -> Window:
    return Window(
        weekdays=frozenset(days),
        start=time.fromisoformat(start),
        end=time.fromisoformat(end),
        **kwargs,
    )


def opening(w: Window, zone: str, not_before: datetime, country: str | None = None):
    return next_opening(window=w, zone=zone, country=country, not_before=not_before)


def daily_openings(
    w: Window, zone: str, first: datetime, days: int
) -> list[tuple[datetime, datetime]]:
    """The window's stretch on each of `days` days from `first`, asked at the same UTC time."""
    return [opening(w, zone, first + timedelta(days=n)) for n in range(days)]


# --- A customer in Madrid, called from a UTC clock ---------------------------------------------


def test_a_madrid_customer_in_winter_is_called_from_8_to_19_utc():
    assert opening(window(), "Europe/Madrid", utc(2026, 1, 12, 6)) == (
        utc(2026, 1, 12, 8),
        utc(2026, 1, 12, 19),
    )


def test_a_madrid_customer_in_summer_is_called_from_7_to_18_utc():
    assert opening(window(), "Europe/Madrid", utc(2026, 6, 15, 6)) == (
        utc(2026, 6, 15, 7),
        utc(2026, 6, 15, 18),
    )


def test_asking_inside_an_open_window_opens_now_and_answers_in_utc():
    asked = datetime(2026, 6, 15, 12, 30, tzinfo=ZoneInfo("America/New_York"))  # 18:30 in Madrid
    opens_at, closes_at = opening(window(), "Europe/Madrid", asked)
    assert opens_at == asked == utc(2026, 6, 15, 16, 30)
    assert opens_at.tzinfo is UTC and closes_at == utc(2026, 6, 15, 18)


# --- Daylight saving -----------------------------------------------------------------------------


def test_madrid_openings_move_an_hour_earlier_in_utc_on_29_march_and_back_on_25_october():
    w = window(days=EVERY_DAY)
    spring = daily_openings(w, "Europe/Madrid", utc(2026, 3, 27), 4)
    assert [opens.hour for opens, _ in spring] == [8, 8, 7, 7]  # Fri, Sat, Sun 29, Mon
    assert spring[2] == (utc(2026, 3, 29, 7), utc(2026, 3, 29, 18))
    autumn = daily_openings(w, "Europe/Madrid", utc(2026, 10, 23), 4)
    assert [opens.hour for opens, _ in autumn] == [7, 7, 8, 8]  # Fri, Sat, Sun 25, Mon
    assert autumn[2] == (utc(2026, 10, 25, 8), utc(2026, 10, 25, 19))


def test_new_york_openings_move_an_hour_earlier_in_utc_on_8_march_and_back_on_1_november():
    w = window(days=EVERY_DAY)
    spring = daily_openings(w, "America/New_York", utc(2026, 3, 6, 5), 4)
    assert [opens.hour for opens, _ in spring] == [14, 14, 13, 13]  # Fri, Sat, Sun 8, Mon
    autumn = daily_openings(w, "America/New_York", utc(2026, 10, 30, 4), 4)
    assert [opens.hour for opens, _ in autumn] == [13, 13, 14, 14]  # Fri, Sat, Sun 1, Mon
    assert autumn[2] == (utc(2026, 11, 1, 14), utc(2026, 11, 2, 1))


def test_a_window_opening_at_0230_on_the_spring_forward_day_opens_when_the_clock_shows_0300():
    w = window("02:30", "05:00", days=EVERY_DAY)
    # Madrid jumps from 02:00 CET to 03:00 CEST (01:00Z), New York from 02:00 EST to 03:00 EDT
    # (07:00Z).
    assert opening(w, "Europe/Madrid", utc(2026, 3, 28, 23)) == (
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 3),
    )
    assert opening(w, "America/New_York", utc(2026, 3, 8, 5)) == (
        utc(2026, 3, 8, 7),
        utc(2026, 3, 8, 9),
    )


def test_a_window_closing_at_0230_on_the_spring_forward_day_closes_when_the_clock_shows_0300():
    w = window("01:00", "02:30", days=EVERY_DAY)
    assert opening(w, "Europe/Madrid", utc(2026, 3, 28, 23)) == (
        utc(2026, 3, 29, 0),
        utc(2026, 3, 29, 1),
    )


def test_a_window_ending_at_0230_on_the_fall_back_day_closes_at_the_first_0230():
    w = window("00:00", "02:30", days=EVERY_DAY)
    # 02:30 happens at 00:30Z (CEST) and again at 01:30Z (CET): the earlier one closes.
    opens_at, closes_at = opening(w, "Europe/Madrid", utc(2026, 10, 24, 21))
    assert (opens_at, closes_at) == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 0, 30))
    assert not is_open(window=w, zone="Europe/Madrid", country=None, at=utc(2026, 10, 25, 1, 15))


def test_a_window_opening_at_0230_on_the_fall_back_day_opens_at_the_second_0230():
    w = window("02:30", "05:00", days=EVERY_DAY)
    assert opening(w, "Europe/Madrid", utc(2026, 10, 24, 23)) == (
        utc(2026, 10, 25, 1, 30),
        utc(2026, 10, 25, 4),
    )
    # New York repeats 01:00-02:00: 01:30 opens at its EST reading (06:30Z).
    w = window("01:30", "05:00", days=EVERY_DAY)
    assert opening(w, "America/New_York", utc(2026, 11, 1, 4))[0] == utc(2026, 11, 1, 6, 30)


def test_a_window_that_falls_inside_the_changed_hour_is_skipped_that_day():
    w = window("02:10", "02:50", days=EVERY_DAY)
    # Spring: both ends fall in the gap, both resolve to 03:00: nothing is left, Monday it opens.
    assert opening(w, "Europe/Madrid", utc(2026, 3, 28, 23))[0] == utc(2026, 3, 30, 0, 10)
    # Autumn: the later 02:10 comes after the earlier 02:50: nothing is left either.
    assert opening(w, "Europe/Madrid", utc(2026, 10, 24, 23))[0] == utc(2026, 10, 26, 1, 10)


# --- Weekdays ------------------------------------------------------------------------------------


def test_friday_evening_after_closing_the_next_call_is_monday_morning():
    friday_2030_madrid = utc(2026, 12, 4, 19, 30)
    assert opening(window(), "Europe/Madrid", friday_2030_madrid) == (
        utc(2026, 12, 7, 8),
        utc(2026, 12, 7, 19),
    )


def test_saturday_and_sunday_are_skipped():
    assert opening(window(), "Europe/Madrid", utc(2026, 12, 5, 10))[0] == utc(2026, 12, 7, 8)
    assert not is_open(window=window(), zone="Europe/Madrid", country="ES", at=utc(2026, 12, 6, 10))


def test_is_open_inside_the_window_and_not_at_its_closing():
    w = window()
    assert is_open(window=w, zone="Europe/Madrid", country="ES", at=utc(2026, 12, 7, 8))
    assert is_open(window=w, zone="Europe/Madrid", country="ES", at=utc(2026, 12, 7, 18, 59))
    assert not is_open(window=w, zone="Europe/Madrid", country="ES", at=utc(2026, 12, 7, 19))
    assert not is_open(window=w, zone="Europe/Madrid", country="ES", at=utc(2026, 12, 7, 7, 59))


def test_a_window_with_no_weekdays_never_opens():
    assert opening(window(days=()), "Europe/Madrid", utc(2026, 12, 7, 8)) is None


# --- Public holidays of the customer's country --------------------------------------------------


def test_spain_national_day_is_skipped_for_a_spanish_customer_but_not_a_mexican_one():
    assert holiday_name(country="ES", day=date(2026, 10, 12)) is not None
    assert holiday_name(country="mx", day=date(2026, 10, 12)) is None
    monday = utc(2026, 10, 12, 6)
    assert opening(window(), "Europe/Madrid", monday, "ES")[0] == utc(2026, 10, 13, 7)
    assert opening(window(), "America/Mexico_City", monday, "MX")[0] == utc(2026, 10, 12, 15)


def test_mexican_independence_day_is_skipped_for_a_mexican_customer():
    assert holiday_name(country="MX", day=date(2026, 9, 16)) is not None
    assert opening(window(), "America/Mexico_City", utc(2026, 9, 16, 12), "MX")[0] == utc(
        2026, 9, 17, 15
    )


def test_thanksgiving_is_skipped_for_a_chicago_customer_whose_country_comes_from_the_zone():
    zone, country = resolve_zone(time_zone="America/Chicago", country=None)
    assert (zone, country) == ("America/Chicago", "US")
    thursday = utc(2026, 11, 26, 12)
    assert opening(window(), zone, thursday, country)[0] == utc(2026, 11, 27, 15)


def test_a_window_that_does_not_skip_holidays_calls_on_them():
    w = window(skip_holidays=False)
    assert opening(w, "America/Chicago", utc(2026, 11, 26, 12), "US")[0] == utc(2026, 11, 26, 15)
    assert opening(w, "Europe/Madrid", utc(2026, 10, 12, 6), "ES")[0] == utc(2026, 10, 12, 7)


def test_without_a_country_or_with_one_the_holidays_library_lacks_no_day_is_a_holiday():
    assert holiday_name(country=None, day=date(2026, 10, 12)) is None
    assert holiday_name(country="ZZ", day=date(2026, 10, 12)) is None
    assert opening(window(), "Europe/Madrid", utc(2026, 10, 12, 6), "ZZ")[0] == utc(2026, 10, 12, 7)


# --- Campaign dates, in the customer's local date ------------------------------------------------


def test_starts_on_is_the_customers_date_auckland_is_already_there_los_angeles_is_not():
    w = window(days=EVERY_DAY, starts_on=date(2026, 6, 1))
    now = utc(2026, 6, 1, 2)  # 14:00 on 1 June in Auckland, 19:00 on 31 May in Los Angeles
    assert opening(w, "Pacific/Auckland", now) == (now, utc(2026, 6, 1, 8))
    assert opening(w, "America/Los_Angeles", now) == (utc(2026, 6, 1, 16), utc(2026, 6, 2, 3))


def test_ends_on_is_the_customers_date_auckland_is_past_it_los_angeles_is_not():
    w = window(days=EVERY_DAY, ends_on=date(2026, 5, 31))
    now = utc(2026, 6, 1, 2)
    assert opening(w, "Pacific/Auckland", now) is None
    assert opening(w, "America/Los_Angeles", now) == (now, utc(2026, 6, 1, 3))


def test_after_the_last_days_closing_there_is_no_next_opening():
    w = window(ends_on=date(2026, 12, 4))
    assert opening(w, "Europe/Madrid", utc(2026, 12, 4, 19, 30)) is None


# --- Resolving a customer's zone and country ----------------------------------------------------


def test_a_country_with_one_zone_gives_it_in_any_case():
    assert resolve_zone(time_zone=None, country="PE") == ("America/Lima", "PE")
    assert resolve_zone(time_zone=None, country="pe") == ("America/Lima", "PE")


def test_a_country_with_several_zones_asks_for_the_time_zone():
    with pytest.raises(ZoneError) as spain:
        resolve_zone(time_zone=None, country="ES")
    assert str(spain.value) == (
        "Country ES spans several time zones (Europe/Madrid, Africa/Ceuta, Atlantic/Canary): "
        "give the customer's time_zone."
    )
    with pytest.raises(
        ZoneError, match=r"^Country US spans several time zones \(America/New_York, .*, \.\.\.\)"
    ):
        resolve_zone(time_zone=None, country="US")


def test_a_zone_gives_its_country_when_it_has_exactly_one():
    assert resolve_zone(time_zone="Europe/Madrid", country=None) == ("Europe/Madrid", "ES")
    assert resolve_zone(time_zone="UTC", country=None) == ("UTC", None)


def test_a_zone_with_its_own_country_is_accepted():
    assert resolve_zone(time_zone="Atlantic/Canary", country="es") == ("Atlantic/Canary", "ES")


def test_unknown_zones_and_countries_and_mismatches_are_refused_with_a_sentence():
    with pytest.raises(ZoneError, match=r"^Unknown time zone 'Mars/Olympus'\.$"):
        resolve_zone(time_zone="Mars/Olympus", country=None)
    with pytest.raises(ZoneError, match=r"^Unknown country code 'XX'"):
        resolve_zone(time_zone=None, country="XX")
    with pytest.raises(
        ZoneError, match=r"'America/Lima' is not one of country ES's time zones \(Europe/Madrid"
    ):
        resolve_zone(time_zone="America/Lima", country="ES")
    with pytest.raises(ZoneError, match=r"^Give the customer's time_zone or country\.$"):
        resolve_zone(time_zone=None, country=None)


# --- Guards --------------------------------------------------------------------------------------


def test_a_window_must_close_after_it_opens_on_real_weekdays():
    with pytest.raises(ValueError, match="end must come after"):
        window("20:00", "09:00")
    with pytest.raises(ValueError, match="ISO numbers"):
        window(days={0, 1})


def test_a_naive_instant_is_refused():
    with pytest.raises(ValueError, match="aware"):
        opening(window(), "Europe/Madrid", datetime(2026, 12, 7, 9))  # noqa: DTZ001
