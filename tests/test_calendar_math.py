"""Business-time arithmetic, checked against values worked out by hand.

Local times are written in the calendar's zone; each expectation says what it counts.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.sla.calendar import (
    MAX_CLOSED_DAYS,
    WEEKDAYS,
    Calendar,
    CalendarTimeline,
    add_business_seconds,
    business_seconds_between,
)

MADRID = ZoneInfo("Europe/Madrid")
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600


def calendar(zone: str = "Europe/Madrid", *, country=None, subdivision=None, closures=(), **days):
    """A calendar from `mon=[("09:00", "18:00")]`-style keyword arguments."""
    return Calendar.from_fields(
        time_zone=zone,
        weekly_hours={
            day: [{"start": start, "end": end} for start, end in windows]
            for day, windows in days.items()
        },
        holiday_country=country,
        holiday_subdivision=subdivision,
        closures=closures,
    )


def weekdays(*windows: tuple[str, str]) -> dict:
    """The same windows Monday to Friday."""
    return {day: list(windows) for day in WEEKDAYS[:5]}


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- an ordinary week ------------------------------------------------------------------------


def test_an_office_week_counts_nine_hours_a_weekday():
    office = calendar(**weekdays(("09:00", "18:00")))

    week = business_seconds_between(office, local(MADRID, 2025, 1, 13), local(MADRID, 2025, 1, 20))

    assert week == 5 * 9 * HOUR


def test_a_deadline_past_closing_time_moves_to_the_next_opening():
    office = calendar(**weekdays(("09:00", "18:00")))

    # Tuesday 17:00 + 2 h: one hour on Tuesday, one on Wednesday from 09:00.
    due = add_business_seconds(office, local(MADRID, 2025, 1, 14, 17), 2 * HOUR)

    assert due == local(MADRID, 2025, 1, 15, 10)
    assert due.tzinfo == UTC


def test_zero_seconds_are_due_at_once_even_when_closed():
    office = calendar(**weekdays(("09:00", "18:00")))
    saturday = local(MADRID, 2025, 1, 18, 12)

    assert add_business_seconds(office, saturday, 0) == saturday


def test_split_windows_count_only_their_open_hours():
    split = calendar(**weekdays(("09:00", "14:00"), ("16:00", "19:00")))

    # Monday 10:00-17:00: 10-14 (4 h) and 16-17 (1 h); the lunch break does not count.
    assert (
        business_seconds_between(
            split, local(MADRID, 2025, 1, 13, 10), local(MADRID, 2025, 1, 13, 17)
        )
        == 5 * HOUR
    )
    # 13:00 + 2 h: one hour before lunch, one after.
    assert add_business_seconds(split, local(MADRID, 2025, 1, 13, 13), 2 * HOUR) == local(
        MADRID, 2025, 1, 13, 17
    )
    # 18:30 + 1 h: half an hour tonight, half tomorrow morning.
    assert add_business_seconds(split, local(MADRID, 2025, 1, 13, 18, 30), HOUR) == local(
        MADRID, 2025, 1, 14, 9, 30
    )


# --- daylight saving time --------------------------------------------------------------------


def test_the_spring_forward_night_is_an_hour_shorter():
    # 30 March 2025, Madrid: clocks jump from 02:00 to 03:00.
    night = calendar(sun=[("00:00", "06:00")])

    counted = business_seconds_between(
        night, local(MADRID, 2025, 3, 29, 12), local(MADRID, 2025, 3, 31, 12)
    )
    # 00:00 CET + 4 h of real time is 05:00 CEST.
    due = add_business_seconds(night, local(MADRID, 2025, 3, 30), 4 * HOUR)

    assert counted == 5 * HOUR
    assert due == local(MADRID, 2025, 3, 30, 5) == utc(2025, 3, 30, 3)


def test_the_fall_back_night_is_an_hour_longer():
    # 26 October 2025, Madrid: clocks go back from 03:00 to 02:00.
    night = calendar(sun=[("00:00", "06:00")])

    counted = business_seconds_between(
        night, local(MADRID, 2025, 10, 25, 12), local(MADRID, 2025, 10, 27, 12)
    )
    # 00:00 CEST + 4 h of real time is 03:00 CET.
    due = add_business_seconds(night, local(MADRID, 2025, 10, 26), 4 * HOUR)

    assert counted == 7 * HOUR
    assert due == utc(2025, 10, 26, 2)


def test_office_hours_keep_their_local_times_across_a_dst_weekend():
    office = calendar(**weekdays(("09:00", "18:00")))

    # Friday 17:00 CET + 2 h: one hour on Friday, then Monday 09:00-10:00 CEST.
    due = add_business_seconds(office, local(MADRID, 2025, 3, 28, 17), 2 * HOUR)
    counted = business_seconds_between(
        office, local(MADRID, 2025, 3, 28, 9), local(MADRID, 2025, 3, 31, 18)
    )

    assert due == utc(2025, 3, 31, 8)
    assert counted == 18 * HOUR


def test_a_window_opening_at_a_skipped_time_opens_when_the_clocks_jump():
    # 02:30 does not exist on 30 March 2025 in Madrid: the window opens at 03:00 CEST.
    night = calendar(sun=[("02:30", "04:00")])

    intervals = list(night.open_intervals(utc(2025, 3, 29), utc(2025, 3, 31)))

    assert intervals == [(utc(2025, 3, 30, 1), utc(2025, 3, 30, 2))]


def test_a_window_opening_at_a_repeated_time_opens_at_its_first_occurrence():
    # 02:30 happens twice on 26 October 2025 in Madrid: first at 00:30 UTC (CEST).
    night = calendar(sun=[("02:30", "05:00")])

    counted = business_seconds_between(night, utc(2025, 10, 25), utc(2025, 10, 27))

    # 02:30 CEST (00:30 UTC) to 05:00 CET (04:00 UTC).
    assert counted == 3 * HOUR + 30 * 60


def test_a_round_the_clock_calendar_counts_real_time_through_dst():
    always = calendar(**{day: [("00:00", "00:00")] for day in WEEKDAYS})

    spring = business_seconds_between(
        always, local(MADRID, 2025, 3, 29), local(MADRID, 2025, 3, 31)
    )
    fall = business_seconds_between(
        always, local(MADRID, 2025, 10, 25), local(MADRID, 2025, 10, 27)
    )
    due = add_business_seconds(always, local(MADRID, 2025, 3, 29, 12), 24 * HOUR)

    assert (spring, fall) == (47 * HOUR, 49 * HOUR)
    # 24 real hours after Saturday 12:00 CET is Sunday 13:00 CEST, not 12:00.
    assert due == utc(2025, 3, 30, 11) == local(MADRID, 2025, 3, 30, 13)


# --- windows across midnight -----------------------------------------------------------------


def test_a_friday_night_window_runs_into_saturday():
    late = calendar(fri=[("22:00", "02:00")])

    counted = business_seconds_between(
        late, local(MADRID, 2025, 1, 10, 12), local(MADRID, 2025, 1, 11, 12)
    )
    across_midnight = business_seconds_between(
        late, local(MADRID, 2025, 1, 10, 23, 30), local(MADRID, 2025, 1, 11, 0, 30)
    )
    # Friday 23:00 + 2 h: Saturday 01:00.
    due = add_business_seconds(late, local(MADRID, 2025, 1, 10, 23), 2 * HOUR)
    # Saturday 01:00 + 2 h: one hour until 02:00, then next Friday 22:00-23:00.
    next_week = add_business_seconds(late, local(MADRID, 2025, 1, 11, 1), 2 * HOUR)

    assert counted == 4 * HOUR
    assert across_midnight == HOUR
    assert due == local(MADRID, 2025, 1, 11, 1)
    assert next_week == local(MADRID, 2025, 1, 17, 23)


def test_a_holiday_on_the_day_a_night_window_starts_closes_all_of_it():
    # Good Friday, 18 April 2025, is a national holiday in Spain.
    late = calendar(country="ES", fri=[("22:00", "02:00")])

    counted = business_seconds_between(
        late, local(MADRID, 2025, 4, 17, 12), local(MADRID, 2025, 4, 20, 12)
    )

    assert counted == 0


def test_a_holiday_on_the_day_a_night_window_ends_closes_none_of_it():
    # Assumption Day, Saturday 15 August 2026: Friday's window still runs to 02:00.
    late = calendar(country="ES", fri=[("22:00", "02:00")])

    counted = business_seconds_between(
        late, local(MADRID, 2026, 8, 14, 12), local(MADRID, 2026, 8, 15, 12)
    )

    assert counted == 4 * HOUR


# --- holidays and closures -------------------------------------------------------------------


def test_spanish_national_and_madrid_holidays_close_the_office():
    # 1 May 2025 (Thursday) is Labour Day in all Spain; 2 May (Friday) is Madrid's own day.
    madrid = calendar(country="ES", subdivision="MD", **weekdays(("09:00", "18:00")))
    spain = calendar(country="ES", **weekdays(("09:00", "18:00")))
    wednesday, monday = local(MADRID, 2025, 4, 30, 9), local(MADRID, 2025, 5, 5, 9)

    assert business_seconds_between(madrid, wednesday, monday) == 9 * HOUR
    assert business_seconds_between(spain, wednesday, monday) == 18 * HOUR
    start = local(MADRID, 2025, 4, 30, 17)
    assert add_business_seconds(madrid, start, 2 * HOUR) == local(MADRID, 2025, 5, 5, 10)
    assert add_business_seconds(spain, start, 2 * HOUR) == local(MADRID, 2025, 5, 2, 10)


def test_epiphany_closes_a_monday():
    office = calendar(country="ES", **weekdays(("09:00", "18:00")))

    counted = business_seconds_between(office, local(MADRID, 2025, 1, 6), local(MADRID, 2025, 1, 8))

    assert counted == 9 * HOUR  # Tuesday only


def test_a_closure_date_closes_that_day():
    office = calendar(closures=["2025-01-15"], **weekdays(("09:00", "18:00")))

    week = business_seconds_between(office, local(MADRID, 2025, 1, 13), local(MADRID, 2025, 1, 18))
    due = add_business_seconds(office, local(MADRID, 2025, 1, 14, 17), 2 * HOUR)

    assert week == 4 * 9 * HOUR
    assert due == local(MADRID, 2025, 1, 16, 10)


def test_a_closure_on_friday_closes_its_night_window():
    late = calendar(closures=["2025-01-10"], fri=[("22:00", "02:00")])

    counted = business_seconds_between(
        late, local(MADRID, 2025, 1, 10, 12), local(MADRID, 2025, 1, 11, 12)
    )

    assert counted == 0


# --- east and west of UTC --------------------------------------------------------------------


def test_tokyo_counts_by_local_dates_and_japanese_holidays():
    # Monday 13 January 2025 is Coming of Age Day; 09:00 JST is 00:00 UTC.
    tokyo = calendar("Asia/Tokyo", country="JP", **weekdays(("09:00", "18:00")))

    # From Monday 08:30 JST (Sunday in UTC) to Tuesday 09:30 JST: only Tuesday's first half hour.
    counted = business_seconds_between(tokyo, utc(2025, 1, 12, 23, 30), utc(2025, 1, 14, 0, 30))
    # Friday 17:00 JST + 2 h: one hour on Friday, then Tuesday 09:00-10:00 JST.
    due = add_business_seconds(tokyo, local(TOKYO, 2025, 1, 10, 17), 2 * HOUR)

    assert counted == 30 * 60
    assert due == utc(2025, 1, 14, 1)


def test_new_york_counts_by_local_dates_and_us_holidays():
    # Friday 4 July 2025 is Independence Day. 22:00 EDT on Thursday is already Friday in UTC.
    new_york = calendar("America/New_York", country="US", **weekdays(("09:00", "17:00")))

    counted = business_seconds_between(new_york, utc(2025, 7, 3, 20), utc(2025, 7, 7, 14))
    due = add_business_seconds(new_york, utc(2025, 7, 4, 2), HOUR)

    assert counted == 2 * HOUR  # Thursday 16-17 EDT, Monday 09-10 EDT
    assert due == local(NEW_YORK, 2025, 7, 7, 10) == utc(2025, 7, 7, 14)


def test_new_york_office_hours_across_its_spring_forward_weekend():
    new_york = calendar("America/New_York", **weekdays(("09:00", "17:00")))

    # Friday 7 March 2025 16:00 EST (21:00 UTC) + 2 h: Monday 10 March 10:00 EDT (14:00 UTC).
    due = add_business_seconds(new_york, utc(2025, 3, 7, 21), 2 * HOUR)

    assert due == utc(2025, 3, 10, 14)


# --- versions --------------------------------------------------------------------------------

FULL_DAYS = calendar(**weekdays(("09:00", "18:00")))
SHORT_DAYS = calendar(**weekdays(("09:00", "14:00")))


def test_an_edit_effective_tomorrow_does_not_change_todays_count():
    before = CalendarTimeline(((utc(2025, 1, 1), FULL_DAYS),))
    after = CalendarTimeline(((utc(2025, 1, 1), FULL_DAYS), (utc(2025, 1, 15), SHORT_DAYS)))
    monday, wednesday = local(MADRID, 2025, 1, 13), local(MADRID, 2025, 1, 15)

    assert business_seconds_between(before, monday, wednesday) == 18 * HOUR
    assert business_seconds_between(after, monday, wednesday) == 18 * HOUR


def test_each_version_counts_its_own_period_even_mid_window():
    # The short days take effect on Wednesday 15 January at 11:00 Madrid time.
    timeline = CalendarTimeline(
        ((utc(2025, 1, 1), FULL_DAYS), (local(MADRID, 2025, 1, 15, 11), SHORT_DAYS))
    )

    week = business_seconds_between(
        timeline, local(MADRID, 2025, 1, 13), local(MADRID, 2025, 1, 18)
    )
    # Wednesday 10:00 + 3 h: 1 h under the old hours, then 2 h from 11:00 under the new.
    due = add_business_seconds(timeline, local(MADRID, 2025, 1, 15, 10), 3 * HOUR)

    # Monday 9 + Tuesday 9 + Wednesday (09-11 old, 11-14 new) 5 + Thursday 5 + Friday 5.
    assert week == 33 * HOUR
    assert due == local(MADRID, 2025, 1, 15, 13)
    assert timeline.calendar_at(local(MADRID, 2025, 1, 15, 10, 59)) is FULL_DAYS
    assert timeline.calendar_at(local(MADRID, 2025, 1, 15, 11)) is SHORT_DAYS


def test_time_before_the_first_version_counts_with_it():
    timeline = CalendarTimeline(((utc(2025, 1, 1), FULL_DAYS),))

    counted = business_seconds_between(
        timeline, local(MADRID, 2024, 12, 30), local(MADRID, 2024, 12, 31)
    )

    assert counted == 9 * HOUR


def test_a_timeline_refuses_versions_out_of_order_or_at_the_same_instant():
    with pytest.raises(ValueError, match="increasing"):
        CalendarTimeline(((utc(2025, 2, 1), FULL_DAYS), (utc(2025, 1, 1), SHORT_DAYS)))
    with pytest.raises(ValueError, match="increasing"):
        CalendarTimeline(((utc(2025, 1, 1), FULL_DAYS), (utc(2025, 1, 1), SHORT_DAYS)))
    with pytest.raises(ValueError, match="at least one"):
        CalendarTimeline(())


# --- properties ------------------------------------------------------------------------------

PROPERTY_CALENDARS = {
    "madrid split, ES/MD, Friday nights, closures": calendar(
        country="ES",
        subdivision="MD",
        closures=["2025-12-24", "2026-12-24"],
        **weekdays(("09:00", "14:00"), ("16:00", "19:00"))
        | {"fri": [("09:00", "14:00"), ("22:00", "02:00")]},
    ),
    "madrid DST nights": calendar(
        sun=[("01:00", "02:45"), ("02:50", "04:00")], wed=[("20:00", "20:00")]
    ),
    "tokyo": calendar("Asia/Tokyo", country="JP", **weekdays(("09:00", "18:00"))),
    "new york": calendar("America/New_York", country="US", **weekdays(("08:00", "20:00"))),
    "sydney": calendar(
        "Australia/Sydney", country="AU", subdivision="NSW", **weekdays(("07:00", "23:00"))
    ),
}


# Days around Madrid's, New York's and Sydney's 2025 clock changes, where mistakes hide.
DST_WEEKENDS = (utc(2025, 3, 7), utc(2025, 3, 28), utc(2025, 4, 4), utc(2025, 10, 24))


def _random_instant(rng: random.Random) -> datetime:
    if rng.random() < 0.4:
        return rng.choice(DST_WEEKENDS) + timedelta(seconds=rng.randrange(4 * 24 * HOUR))
    return utc(2024, 1, 1) + timedelta(seconds=rng.randrange(3 * 366 * 24 * HOUR))


@pytest.mark.parametrize("name", PROPERTY_CALENDARS)
def test_adding_then_counting_gives_back_the_seconds_added(name):
    schedule = PROPERTY_CALENDARS[name]
    rng = random.Random(f"add-then-count {name}")
    for _ in range(150):
        start = _random_instant(rng)
        seconds = rng.choice([0, 1, rng.randrange(1, 4 * HOUR), rng.randrange(1, 300 * HOUR)])

        due = add_business_seconds(schedule, start, seconds)

        assert due >= start
        assert business_seconds_between(schedule, start, due) == seconds, (start, seconds, due)


@pytest.mark.parametrize("name", PROPERTY_CALENDARS)
def test_counting_then_adding_lands_at_or_before_the_end_with_no_open_time_left(name):
    schedule = PROPERTY_CALENDARS[name]
    rng = random.Random(f"count-then-add {name}")
    for _ in range(150):
        start = _random_instant(rng)
        end = start + timedelta(seconds=rng.randrange(60 * 24 * HOUR))

        due = add_business_seconds(schedule, start, business_seconds_between(schedule, start, end))

        assert start <= due <= end
        assert business_seconds_between(schedule, due, end) == 0, (start, end, due)


def test_adding_across_version_boundaries_gives_back_the_seconds_added():
    timeline = CalendarTimeline(
        (
            (utc(2024, 6, 1), PROPERTY_CALENDARS["madrid split, ES/MD, Friday nights, closures"]),
            (utc(2025, 3, 30, 0, 30), PROPERTY_CALENDARS["madrid DST nights"]),
            (utc(2025, 9, 1, 7, 15), PROPERTY_CALENDARS["tokyo"]),
        )
    )
    rng = random.Random("timeline")
    for _ in range(200):
        start = _random_instant(rng)
        seconds = rng.randrange(0, 400 * HOUR)

        due = add_business_seconds(timeline, start, seconds)

        assert business_seconds_between(timeline, start, due) == seconds, (start, seconds, due)


# --- refusals and limits ---------------------------------------------------------------------


def test_a_calendar_never_open_refuses_to_set_a_deadline_instead_of_searching_for_ever():
    never = calendar()

    assert business_seconds_between(never, utc(2025, 1, 1), utc(2026, 1, 1)) == 0
    with pytest.raises(ValueError, match=f"no open time in the {MAX_CLOSED_DAYS} days"):
        add_business_seconds(never, utc(2025, 1, 1), 1)


def test_closures_for_longer_than_the_search_horizon_refuse_a_deadline():
    mondays = [date(2025, 1, 6) + timedelta(weeks=n) for n in range(70)]
    closed = calendar(closures=mondays, mon=[("09:00", "18:00")])

    with pytest.raises(ValueError, match="no open time"):
        add_business_seconds(closed, utc(2025, 1, 1), HOUR)


def test_a_long_closure_within_the_horizon_still_finds_the_next_opening():
    mondays_2025 = [date(2025, 1, 6) + timedelta(weeks=n) for n in range(52)]
    closed = calendar(closures=mondays_2025, mon=[("09:00", "18:00")])

    due = add_business_seconds(closed, utc(2025, 1, 1), HOUR)

    assert due == local(MADRID, 2026, 1, 5, 10)


def test_naive_datetimes_and_bad_arguments_are_refused():
    office = calendar(**weekdays(("09:00", "18:00")))
    naive = datetime(2025, 1, 13, 9)  # noqa: DTZ001 - the point of the test

    with pytest.raises(ValueError, match="naive"):
        business_seconds_between(office, naive, utc(2025, 1, 14))
    with pytest.raises(ValueError, match="naive"):
        add_business_seconds(office, naive, HOUR)
    with pytest.raises(ValueError, match="non-negative"):
        add_business_seconds(office, utc(2025, 1, 13), -1)
    with pytest.raises(ValueError, match="before start"):
        business_seconds_between(office, utc(2025, 1, 14), utc(2025, 1, 13))


def test_a_calendar_with_unknown_parts_is_refused_when_built():
    with pytest.raises(ValueError, match="funday"):
        calendar(funday=[("09:00", "18:00")])
    with pytest.raises(ValueError, match="HH:MM"):
        calendar(mon=[("9am", "18:00")])
    with pytest.raises(ValueError):
        calendar(country="XX", mon=[("09:00", "18:00")])
    with pytest.raises(ValueError):
        calendar(country="ES", subdivision="ZZ", mon=[("09:00", "18:00")])
    with pytest.raises(ValueError, match="Mars"):
        calendar("Mars/Olympus", mon=[("09:00", "18:00")])
