"""The SLA engine's rules: which target a contact gets, and how its clocks count business time,
pause, stop, go at risk and breach (app/sla/clocks.py, pure); then the same rules applied by
the contacts service at fixed instants on PostgreSQL (intake, every lifecycle action, import).

Every expectation is worked out by hand in the comment beside it. Unless told otherwise the
calendar is Madrid's office week: Monday to Friday 09:00-18:00 Europe/Madrid, Madrid's public
holidays (`holidays` ES/MD), and the firm's own closure on 2025-12-24. Madrid is UTC+1 in
winter (CET) and UTC+2 in summer (CEST, from the last Sunday of March to the last of October).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.contacts import intake as contacts_intake
from app.contacts import service as contacts_service
from app.contacts.models import Contact, ContactEvent
from app.db import db
from app.queues.models import Queue
from app.sla import clocks
from app.sla.calendar import WEEKDAYS, Calendar, CalendarTimeline
from app.sla.models import BusinessCalendar, SlaClock, SlaPolicy
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from tenants.scoping import tenant_scope
from tenants.service import SYSTEM
from tests.factories import dispatch_events

MADRID = ZoneInfo("Europe/Madrid")
HOUR = 3600
OFFICE = {day: [{"start": "09:00", "end": "18:00"}] for day in WEEKDAYS[:5]}
ALWAYS = {day: [{"start": "00:00", "end": "00:00"}] for day in WEEKDAYS}
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def madrid(*parts: int) -> datetime:
    """A Madrid wall-clock time, as the UTC instant it is."""
    return datetime(*parts, tzinfo=MADRID).astimezone(UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def office(weekly_hours=None, *, closures=("2025-12-24",), zone="Europe/Madrid") -> Calendar:
    return Calendar.from_fields(
        time_zone=zone,
        weekly_hours=OFFICE if weekly_hours is None else weekly_hours,
        holiday_country="ES",
        holiday_subdivision="MD",
        closures=closures,
    )


def timeline(*versions: tuple[datetime, Calendar]) -> CalendarTimeline:
    return CalendarTimeline(versions or ((EPOCH, office()),))


def started(target: int, at: datetime, *, schedule=None, bps=8000, kind="resolution"):
    """A new clock with `target` business seconds, started at `at`."""
    clock = SlaClock(kind=kind, target_seconds=target)
    clocks.start(clock, schedule=schedule or timeline(), at=at, at_risk_bps=bps)
    return clock


# --- which target and which clocks -----------------------------------------------------------

TARGETS = [
    {"priority": "normal", "channel": None, "category": None, "resolution_seconds": 1},
    {"priority": "normal", "channel": "email", "category": None, "resolution_seconds": 2},
    {"priority": "normal", "channel": None, "category": "claim", "resolution_seconds": 3},
    {"priority": "normal", "channel": "email", "category": "claim", "resolution_seconds": 4},
    {"priority": "high", "channel": None, "category": None, "resolution_seconds": 5},
]


@pytest.mark.parametrize(
    ("channel", "category", "chosen"),
    [
        ("email", "claim", 4),  # channel and category both named
        ("web", "claim", 3),  # category beats channel...
        ("email", "complaint", 2),  # ...channel beats neither
        ("web", "complaint", 1),  # neither named: the catch-all
    ],
)
def test_the_most_specific_target_of_the_contacts_priority_applies(channel, category, chosen):
    target = clocks.choose_target(TARGETS, priority="normal", channel=channel, category=category)

    assert target["resolution_seconds"] == chosen


def test_no_target_for_the_priority_means_no_target():
    assert clocks.choose_target(TARGETS, priority="low", channel="email", category="claim") is None


def test_voice_and_chat_are_first_answered_while_written_channels_are_first_responded_to():
    voice = {"first_response_seconds": None, "answer_threshold_seconds": 20}
    written = {"first_response_seconds": 3600, "answer_threshold_seconds": 20}
    both = {**written, "resolution_seconds": 86400}

    # Answering is a call's first response: the threshold is its target.
    assert clocks.clock_targets(voice, channel="voice", direction="inbound") == {
        "first_response": 20
    }
    # An email has nothing to answer: no first-response target, no clock.
    assert clocks.clock_targets(voice, channel="email", direction="inbound") == {}
    assert clocks.clock_targets(both, channel="email", direction="inbound") == {
        "first_response": 3600,
        "resolution": 86400,
    }
    # The firm spoke first on an outbound contact: only resolution runs.
    assert clocks.clock_targets(both, channel="email", direction="outbound") == {
        "resolution": 86400
    }
    assert clocks.clock_targets(None, channel="email", direction="inbound") == {}


def test_the_answer_threshold_is_the_targets_else_the_queues_for_voice_and_chat_only():
    target = {"answer_threshold_seconds": 15}

    assert clocks.answer_threshold(target, channel="voice", queue_threshold=20) == 15
    assert clocks.answer_threshold({}, channel="chat", queue_threshold=20) == 20
    assert clocks.answer_threshold(None, channel="voice", queue_threshold=30) == 30
    assert clocks.answer_threshold(target, channel="email", queue_threshold=20) is None


def test_at_risk_comes_when_the_policys_share_of_the_target_is_used_rounded_up():
    assert clocks.at_risk_seconds(14400, 8000) == 11520  # 80% of 4 h = 3 h 12 min
    assert clocks.at_risk_seconds(20, 8000) == 16
    assert clocks.at_risk_seconds(7, 5000) == 4  # 3.5 s, rounded up
    assert clocks.at_risk_seconds(3600, 10000) == 3600


def test_a_contacts_state_is_the_worst_of_its_clocks():
    assert clocks.worst(["met", "ok"]) == "ok"
    assert clocks.worst(["at_risk", "breached", "ok"]) == "breached"
    assert clocks.worst(["cancelled", "met"]) == "met"
    assert clocks.worst(["met", "at_risk"]) == "at_risk"
    assert clocks.worst([]) is None


# --- business-time deadlines -----------------------------------------------------------------


def test_a_deadline_runs_over_the_night():
    # Tue 11 Mar 2025 17:00; 4 h: 1 h on Tuesday (17-18), 3 h on Wednesday (9-12).
    # At risk after 80% = 3 h 12 min: 1 h Tuesday + 2 h 12 min Wednesday.
    clock = started(4 * HOUR, madrid(2025, 3, 11, 17, 0))

    assert clock.due_at == madrid(2025, 3, 12, 12, 0) == utc(2025, 3, 12, 11, 0)
    assert clock.at_risk_at == madrid(2025, 3, 12, 11, 12)
    assert (clock.state, clock.elapsed_seconds, clock.running_since) == (
        "ok",
        0,
        madrid(2025, 3, 11, 17, 0),
    )


def test_a_deadline_skips_the_weekend():
    # Fri 14 Mar 2025 16:00; 9 h: 2 h Friday (16-18), 7 h on Monday 17 (9-16).
    clock = started(9 * HOUR, madrid(2025, 3, 14, 16, 0))

    assert clock.due_at == madrid(2025, 3, 17, 16, 0)


def test_a_deadline_skips_public_holidays():
    # Wed 16 Apr 2025 17:00; 2 h: 1 h Wednesday; Maundy Thursday (17) and Good Friday (18)
    # are Madrid holidays, then the weekend; 1 h on Monday 21 (9-10). Summer time: UTC+2.
    clock = started(2 * HOUR, madrid(2025, 4, 16, 17, 0))

    assert clock.due_at == madrid(2025, 4, 21, 10, 0) == utc(2025, 4, 21, 8, 0)


def test_a_deadline_skips_the_firms_closure_day():
    # Tue 23 Dec 2025 17:30; 1 h: 30 min Tuesday; 24 Dec is the firm's closure, 25 Dec is
    # Christmas; 30 min on Friday 26 (9-9:30).
    clock = started(HOUR, madrid(2025, 12, 23, 17, 30))

    assert clock.due_at == madrid(2025, 12, 26, 9, 30) == utc(2025, 12, 26, 8, 30)


def test_a_deadline_over_the_spring_clock_change_keeps_local_opening_hours():
    # Fri 28 Mar 2025 17:00 CET (16:00Z); 2 h: 1 h Friday, 1 h Monday 31 (9-10) in CEST.
    # Clocks went forward on Sunday 30: Monday 10:00 local is 08:00Z, not 09:00Z.
    clock = started(2 * HOUR, madrid(2025, 3, 28, 17, 0))

    assert clock.due_at == utc(2025, 3, 31, 8, 0)


def test_a_deadline_over_the_autumn_clock_change_keeps_local_opening_hours():
    # Fri 24 Oct 2025 17:00 CEST (15:00Z); 2 h: 1 h Friday, 1 h Monday 27 (9-10) in CET = 09:00Z.
    clock = started(2 * HOUR, madrid(2025, 10, 24, 17, 0))

    assert clock.due_at == utc(2025, 10, 27, 9, 0)


def test_round_the_clock_targets_count_real_hours_across_a_clock_change():
    always = timeline((EPOCH, office(ALWAYS, closures=())))
    # Open every hour of every day, no holidays that weekend. Sat 29 Mar 2025 12:00 CET is
    # 11:00Z; 24 real hours later is Sun 30 11:00Z, which is 13:00 CEST (an hour was skipped).
    spring = started(24 * HOUR, madrid(2025, 3, 29, 12, 0), schedule=always)
    # Sat 25 Oct 12:00 CEST is 10:00Z; 24 h later is Sun 26 10:00Z = 11:00 CET.
    autumn = started(24 * HOUR, madrid(2025, 10, 25, 12, 0), schedule=always)

    assert spring.due_at == utc(2025, 3, 30, 11, 0) == madrid(2025, 3, 30, 13, 0)
    assert autumn.due_at == utc(2025, 10, 26, 10, 0) == madrid(2025, 10, 26, 11, 0)


def test_each_instant_is_counted_by_the_calendar_version_in_force_then():
    # Version 2 opens 08:00-20:00 from Wed 12 Mar 2025 00:00 Madrid.
    longer = {day: [{"start": "08:00", "end": "20:00"}] for day in WEEKDAYS[:5]}
    versions = timeline((EPOCH, office()), (madrid(2025, 3, 12, 0, 0), office(longer)))
    # Tue 11 Mar 17:00; 4 h: 1 h Tuesday under version 1 (17-18), 3 h Wednesday under
    # version 2 (8-11). Under version 1 alone it would be Wednesday 12:00.
    clock = started(4 * HOUR, madrid(2025, 3, 11, 17, 0), schedule=versions)

    assert clock.due_at == madrid(2025, 3, 12, 11, 0)
    # Read at Wednesday 12:00: 1 h Tuesday + 4 h Wednesday (8-12); 1 h overdue.
    reading = clocks.reading(clock, schedule=versions, now=madrid(2025, 3, 12, 12, 0))
    assert (reading["elapsed_seconds"], reading["remaining_seconds"]) == (5 * HOUR, -HOUR)


def test_a_calendar_with_no_open_time_never_sets_a_deadline():
    closed = timeline((EPOCH, office({}, closures=())))

    clock = started(HOUR, madrid(2025, 3, 10, 9, 0), schedule=closed)

    assert (clock.due_at, clock.at_risk_at) == (None, None)
    assert clocks.tick(clock, now=madrid(2026, 3, 10, 9, 0)) == []


def test_the_engines_kept_open_time_gives_exactly_the_calendars_answers():
    import random

    from app.sla.calendar import add_business_seconds, business_seconds_between

    # Split hours, a version change, holidays, a closure and both clock changes of 2025.
    split = {
        d: [{"start": "09:00", "end": "14:00"}, {"start": "16:00", "end": "19:00"}]
        for d in WEEKDAYS[:5]
    }
    night = {**split, "sat": [{"start": "22:00", "end": "06:00"}]}
    raw = timeline((EPOCH, office(split)), (madrid(2025, 6, 1, 0, 0), office(night)))
    kept = clocks.CachedSchedule(raw)
    draw = random.Random(5)
    for _ in range(300):
        start = madrid(2025, 1, 1, 0, 0) + timedelta(minutes=draw.randrange(365 * 24 * 60))
        seconds = draw.randrange(0, 60 * HOUR)
        end = start + timedelta(seconds=draw.randrange(0, 20 * 24 * HOUR))

        assert add_business_seconds(kept, start, seconds) == add_business_seconds(
            raw, start, seconds
        )
        assert business_seconds_between(kept, start, end) == business_seconds_between(
            raw, start, end
        )


def test_the_engines_kept_open_time_gives_up_on_a_calendar_that_never_opens():
    from app.sla.calendar import add_business_seconds

    kept = clocks.CachedSchedule(timeline((EPOCH, office({}, closures=()))))

    with pytest.raises(ValueError, match="no open time"):
        add_business_seconds(kept, madrid(2025, 3, 10, 9, 0), 60)


# --- pausing, stopping, breaching ------------------------------------------------------------


def test_a_pause_holds_the_clock_and_resuming_moves_the_deadline_by_the_paused_time():
    schedule = timeline()
    # Mon 10 Mar 2025 09:00; 4 h, due 13:00.
    clock = started(4 * HOUR, madrid(2025, 3, 10, 9, 0))
    assert clock.due_at == madrid(2025, 3, 10, 13, 0)

    # Paused at 10:00 after 1 h: no deadline while paused.
    clocks.pause(clock, schedule=schedule, at=madrid(2025, 3, 10, 10, 0))
    assert (clock.elapsed_seconds, clock.due_at, clock.at_risk_at) == (HOUR, None, None)
    later = clocks.reading(clock, schedule=schedule, now=madrid(2025, 3, 10, 17, 0))
    assert (later["paused"], later["elapsed_seconds"], later["paused_seconds"]) == (
        True,
        HOUR,
        7 * HOUR,
    )

    # Resumed Tue 11 Mar 10:00: paused 8 h Monday (10-18) + 1 h Tuesday (9-10) = 9 h.
    # 3 h left: due Tuesday 13:00. At risk after 3 h 12 min: 2 h 12 min more, at 12:12.
    clocks.resume(clock, schedule=schedule, at=madrid(2025, 3, 11, 10, 0), at_risk_bps=8000)
    assert (clock.paused_seconds, clock.paused_since) == (9 * HOUR, None)
    assert clock.due_at == madrid(2025, 3, 11, 13, 0)
    assert clock.at_risk_at == madrid(2025, 3, 11, 12, 12)


def test_a_clock_goes_at_risk_then_breaches_each_once_and_keeps_counting_overdue_time():
    schedule = timeline()
    # Tue 11 Mar 17:00; 4 h: at risk Wed 11:12, due Wed 12:00.
    clock = started(4 * HOUR, madrid(2025, 3, 11, 17, 0))

    assert clocks.tick(clock, now=madrid(2025, 3, 12, 11, 11)) == []
    assert clocks.tick(clock, now=madrid(2025, 3, 12, 11, 12)) == ["at_risk"]
    assert clocks.tick(clock, now=madrid(2025, 3, 12, 11, 30)) == []
    assert clocks.tick(clock, now=madrid(2025, 3, 12, 12, 0)) == ["breached"]
    assert clocks.tick(clock, now=madrid(2025, 3, 12, 12, 30)) == []
    assert (clock.state, clock.breached_at) == ("breached", madrid(2025, 3, 12, 12, 0))

    # Stopped Wed 13:00: 1 h Tuesday + 4 h Wednesday = 5 h, one over; it stays breached.
    clocks.stop(clock, schedule=schedule, at=madrid(2025, 3, 12, 13, 0))
    assert (clock.state, clock.elapsed_seconds) == ("breached", 5 * HOUR)
    assert (clock.stopped_at, clock.due_at, clock.running_since) == (
        madrid(2025, 3, 12, 13, 0),
        None,
        None,
    )


def test_a_clock_found_overdue_goes_at_risk_and_breaches_in_one_tick():
    clock = started(4 * HOUR, madrid(2025, 3, 11, 17, 0))

    assert clocks.tick(clock, now=madrid(2025, 3, 13, 9, 0)) == ["at_risk", "breached"]
    assert clock.breached_at == madrid(2025, 3, 12, 12, 0)


def test_reaching_the_goal_in_time_meets_the_target():
    schedule = timeline()
    clock = started(4 * HOUR, madrid(2025, 3, 11, 17, 0))

    # Wed 10:00: 1 h Tuesday + 1 h Wednesday.
    clocks.stop(clock, schedule=schedule, at=madrid(2025, 3, 12, 10, 0))

    assert (clock.state, clock.elapsed_seconds, clock.breached_at) == ("met", 2 * HOUR, None)
    # A stopped clock counts no more.
    reading = clocks.reading(clock, schedule=schedule, now=madrid(2025, 3, 20, 10, 0))
    assert (reading["elapsed_seconds"], reading["remaining_seconds"]) == (2 * HOUR, 2 * HOUR)


def test_a_reading_shows_a_deadline_that_has_come_as_breached_without_changing_the_clock():
    clock = started(4 * HOUR, madrid(2025, 3, 11, 17, 0))

    # Thu 13 Mar 09:00: 1 h Tuesday + 9 h Wednesday = 10 h, 6 h over.
    reading = clocks.reading(clock, schedule=timeline(), now=madrid(2025, 3, 13, 9, 0))

    assert reading["state"] == "breached"
    assert reading["breached_at"] == madrid(2025, 3, 12, 12, 0)
    assert (reading["elapsed_seconds"], reading["remaining_seconds"]) == (10 * HOUR, -6 * HOUR)
    assert (clock.state, clock.breached_at) == ("ok", None)


def test_abandoning_cancels_a_running_clock_but_a_breach_stays_a_breach():
    schedule = timeline()
    running = started(4 * HOUR, madrid(2025, 3, 11, 17, 0))
    breached = started(HOUR, madrid(2025, 3, 11, 9, 0))
    clocks.tick(breached, now=madrid(2025, 3, 11, 10, 30))

    for clock in (running, breached):
        clocks.cancel(clock, schedule=schedule, at=madrid(2025, 3, 11, 17, 30))

    assert (running.state, running.elapsed_seconds) == ("cancelled", 1800)
    assert (breached.state, breached.breached_at) == ("breached", madrid(2025, 3, 11, 10, 0))
    assert breached.stopped_at == running.stopped_at == madrid(2025, 3, 11, 17, 30)


def test_reopening_restarts_a_stopped_clock_with_the_time_it_had_left():
    schedule = timeline()
    # Mon 10 Mar 09:00; 4 h; resolved at 11:00 after 2 h: met.
    clock = started(4 * HOUR, madrid(2025, 3, 10, 9, 0))
    clocks.stop(clock, schedule=schedule, at=madrid(2025, 3, 10, 11, 0))

    # Reopened Wed 12 Mar 09:00: 2 h left, due 11:00; at risk after 3 h 12 min in all,
    # 1 h 12 min from now: 10:12.
    clocks.restart(clock, schedule=schedule, at=madrid(2025, 3, 12, 9, 0), at_risk_bps=8000)

    assert (clock.state, clock.stopped_at, clock.elapsed_seconds) == ("ok", None, 2 * HOUR)
    assert clock.due_at == madrid(2025, 3, 12, 11, 0)
    assert clock.at_risk_at == madrid(2025, 3, 12, 10, 12)


def test_a_reopened_clock_that_was_at_risk_comes_back_at_risk_without_a_second_alarm():
    schedule = timeline()
    clock = started(4 * HOUR, madrid(2025, 3, 10, 9, 0))
    # At risk from 12:12; resolved at 12:30 after 3 h 30 min: met, having been at risk.
    assert clocks.tick(clock, now=madrid(2025, 3, 10, 12, 30)) == ["at_risk"]
    clocks.stop(clock, schedule=schedule, at=madrid(2025, 3, 10, 12, 30))
    assert clock.state == "met"

    # Reopened Tue 09:00 with 30 min left: at risk at once, due 09:30.
    clocks.restart(clock, schedule=schedule, at=madrid(2025, 3, 11, 9, 0), at_risk_bps=8000)

    assert (clock.state, clock.due_at) == ("at_risk", madrid(2025, 3, 11, 9, 30))
    assert clocks.tick(clock, now=madrid(2025, 3, 11, 9, 15)) == []
    assert clocks.tick(clock, now=madrid(2025, 3, 11, 9, 30)) == ["breached"]


def test_a_contact_is_at_risk_from_its_earliest_running_clocks_instants():
    monday = madrid(2025, 3, 10, 9, 0)
    first = started(4 * HOUR, monday, kind="first_response")
    resolution = started(27 * HOUR, monday)
    assert clocks.risk_instants([first, resolution]) == (first.at_risk_at, first.due_at)
    # Stopped clocks count no more; with none running, nothing is at risk.
    clocks.stop(first, schedule=timeline(), at=madrid(2025, 3, 10, 10, 0))
    assert clocks.risk_instants([first, resolution]) == (
        resolution.at_risk_at,
        resolution.due_at,
    )
    clocks.stop(resolution, schedule=timeline(), at=madrid(2025, 3, 10, 11, 0))
    assert clocks.risk_instants([first, resolution]) == (None, None)


def test_a_paused_clock_already_at_risk_or_breached_stays_so_in_its_instants():
    monday = madrid(2025, 3, 10, 9, 0)
    late = started(HOUR, monday)
    clocks.tick(late, now=madrid(2025, 3, 10, 10, 30))  # at risk at 09:48, breached at 10:00
    clocks.pause(late, schedule=timeline(), at=madrid(2025, 3, 10, 10, 30))
    assert (late.state, late.due_at, late.at_risk_at) == ("breached", None, None)
    # No instants left on the clock: its start stands for "already", its breach for when.
    assert clocks.risk_instants([late]) == (monday, madrid(2025, 3, 10, 10, 0))
    risky = started(HOUR, monday)
    clocks.tick(risky, now=madrid(2025, 3, 10, 9, 50))
    clocks.pause(risky, schedule=timeline(), at=madrid(2025, 3, 10, 9, 50))
    assert risky.state == "at_risk"
    assert clocks.risk_instants([risky]) == (monday, None)


def test_a_reopened_breached_clock_stays_breached_and_overdue():
    schedule = timeline()
    clock = started(HOUR, madrid(2025, 3, 10, 9, 0))
    clocks.tick(clock, now=madrid(2025, 3, 10, 11, 0))
    clocks.stop(clock, schedule=schedule, at=madrid(2025, 3, 10, 11, 0))

    clocks.restart(clock, schedule=schedule, at=madrid(2025, 3, 11, 9, 0), at_risk_bps=8000)

    assert (clock.state, clock.due_at) == ("breached", madrid(2025, 3, 10, 10, 0))
    assert clocks.tick(clock, now=madrid(2025, 3, 11, 12, 0)) == []
    # 2 h Monday + 3 h Tuesday (9-12): 4 h over.
    reading = clocks.reading(clock, schedule=schedule, now=madrid(2025, 3, 11, 12, 0))
    assert reading["remaining_seconds"] == -4 * HOUR


# --- applied by the contacts service, at fixed instants (PostgreSQL) -------------------------

HOOK_EVENTS = ["sla.breached", "sla.at_risk"]


def sla_firm(app, factory, *, calendar=None, **policy) -> tuple:
    """A firm with Madrid's office calendar, a default policy, one queue and a webhook
    endpoint for SLA events; return (tenant, queue id)."""
    tenant = factory.tenant()
    policy_in = {
        "name": "Standard",
        "is_default": True,
        "targets": [
            {
                "priority": "normal",
                "channel": None,
                "category": None,
                "first_response_seconds": 4 * HOUR,
                "answer_threshold_seconds": None,
                "resolution_seconds": 27 * HOUR,  # three 9-hour business days
            },
            {
                "priority": "normal",
                "channel": "voice",
                "category": None,
                "first_response_seconds": None,
                "answer_threshold_seconds": 20,
                "resolution_seconds": 9 * HOUR,
            },
        ],
        **policy,
    }
    with app.app_context(), tenant_scope(tenant.id):
        db.session.add(
            BusinessCalendar(
                effective_from=EPOCH,
                time_zone="Europe/Madrid",
                weekly_hours=calendar or OFFICE,
                holiday_country="ES",
                holiday_subdivision="MD",
                closures=["2025-12-24"],
            )
        )
        db.session.add(SlaPolicy(**policy_in))
        queue = Queue(name="General", channels=["voice", "chat", "email", "web", "social"])
        db.session.add(queue)
        db.session.add(
            WebhookEndpoint(
                url="https://hooks.example.test/sla", secret="s" * 32, event_types=HOOK_EVENTS
            )
        )
        db.session.commit()
        return tenant, queue.id


def intake(app, tenant, at: datetime, **fields) -> uuid.UUID:
    """Take in a contact through the service at `at`; return its id."""
    contact_in = {"channel": "email", "category": "complaint", "received_at": at, **fields}
    with app.app_context(), tenant_scope(tenant.id):
        contact, created = contacts_intake.create(
            contact_in=contact_in, tenant=tenant, actor=SYSTEM, now=at
        )
        assert created
        db.session.commit()
        return contact.id


def act(app, tenant, contact_id, action: str, at: datetime, **action_in) -> Contact:
    """Apply an action through the service at `at`, the contact locked as a request does."""
    with app.app_context(), tenant_scope(tenant.id):
        contact = contacts_service.get(contact_id=contact_id, for_update=True)
        contacts_service.act(
            contact=contact, action=action, action_in=action_in, tenant=tenant, actor=SYSTEM, now=at
        )
        db.session.commit()
        return contact


def clocks_of(app, tenant, contact_id) -> dict[str, SlaClock]:
    with app.app_context(), tenant_scope(tenant.id):
        rows = db.session.scalars(select(SlaClock).where(SlaClock.contact_id == contact_id))
        return {clock.kind: clock for clock in rows}


def contact_of(app, tenant, contact_id) -> Contact:
    with app.app_context(), tenant_scope(tenant.id):
        return db.session.get(Contact, contact_id)


def sla_events(app, tenant, contact_id) -> list[tuple]:
    with app.app_context(), tenant_scope(tenant.id):
        rows = db.session.scalars(
            select(ContactEvent)
            .where(ContactEvent.contact_id == contact_id, ContactEvent.action.like("sla_%"))
            .order_by(ContactEvent.occurred_at)
        )
        return [(e.action, e.details["clock"], e.occurred_at) for e in rows]


def deliveries(app, tenant) -> list[WebhookDelivery]:
    """The firm's webhook deliveries, once the worker's events job has made them from the
    SLA events recorded so far."""
    dispatch_events(app)
    with app.app_context(), tenant_scope(tenant.id):
        return list(
            db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at))
        )


def agent_for(app, client, factory, tenant, queue_id) -> uuid.UUID:
    from tests.test_contacts_intake import staffed_agent

    agent, _ = staffed_agent(app, client, factory, factory.caller("bpo_admin"), [queue_id])
    return uuid.UUID(agent["id"])


def test_an_email_gets_its_clocks_at_intake_and_each_action_moves_them(app, client, factory):
    tenant, queue_id = sla_firm(app, factory)
    agent_id = agent_for(app, client, factory, tenant, queue_id)
    # Mon 10 Mar 2025 09:00: first response 4 h (due 13:00), resolution 27 h = Mon, Tue,
    # Wed 9 h each (due Wed 12 Mar 18:00 = 17:00Z).
    cid = intake(app, tenant, madrid(2025, 3, 10, 9, 0))
    by_kind = clocks_of(app, tenant, cid)
    first, resolution = by_kind["first_response"], by_kind["resolution"]
    assert (first.target_seconds, first.due_at) == (4 * HOUR, madrid(2025, 3, 10, 13, 0))
    assert (resolution.target_seconds, resolution.due_at) == (27 * HOUR, utc(2025, 3, 12, 17, 0))
    contact = contact_of(app, tenant, cid)
    assert (contact.sla_state, contact.sla_due_at) == ("ok", madrid(2025, 3, 10, 13, 0))
    assert contact.answer_threshold_seconds is None  # an email has no service-level T
    # At risk when the first response's share is used, in breach at its deadline.
    assert (contact.sla_risk_at, contact.sla_breach_at) == (first.at_risk_at, first.due_at)

    act(app, tenant, cid, "assign", madrid(2025, 3, 10, 9, 30), agent_id=agent_id)
    contact = act(app, tenant, cid, "respond", madrid(2025, 3, 10, 10, 0))
    # First response after 1 h: met. Only the resolution deadline remains.
    first = clocks_of(app, tenant, cid)["first_response"]
    assert (first.state, first.elapsed_seconds, first.stopped_at) == (
        "met",
        HOUR,
        madrid(2025, 3, 10, 10, 0),
    )
    assert (contact.sla_state, contact.sla_due_at) == ("ok", utc(2025, 3, 12, 17, 0))

    # Waiting on the customer from 11:00 (2 h used): paused, no deadline.
    contact = act(app, tenant, cid, "wait-customer", madrid(2025, 3, 10, 11, 0))
    resolution = clocks_of(app, tenant, cid)["resolution"]
    assert (resolution.elapsed_seconds, resolution.paused_since, resolution.due_at) == (
        2 * HOUR,
        madrid(2025, 3, 10, 11, 0),
        None,
    )
    assert contact.sla_due_at is None
    # A paused clock puts nobody at risk.
    assert (contact.sla_risk_at, contact.sla_breach_at) == (None, None)

    # The customer answers Tue 11 Mar 11:00: paused 7 h Monday (11-18) + 2 h Tuesday (9-11).
    # 25 h left: Tue 7 h (11-18), Wed 9 h, Thu 9 h: due Thu 13 Mar 18:00 = 17:00Z.
    contact = act(app, tenant, cid, "resume", madrid(2025, 3, 11, 11, 0))
    resolution = clocks_of(app, tenant, cid)["resolution"]
    assert (resolution.paused_seconds, resolution.due_at) == (9 * HOUR, utc(2025, 3, 13, 17, 0))
    assert contact.sla_due_at == utc(2025, 3, 13, 17, 0)
    assert (contact.sla_risk_at, contact.sla_breach_at) == (
        resolution.at_risk_at,
        utc(2025, 3, 13, 17, 0),
    )

    # Escalated Tue 12:00 to 14:00: this policy does not pause for escalations.
    department_id = _department(app, tenant)
    act(app, tenant, cid, "escalate", madrid(2025, 3, 11, 12, 0), department_id=department_id)
    assert clocks_of(app, tenant, cid)["resolution"].due_at == utc(2025, 3, 13, 17, 0)
    act(app, tenant, cid, "resume", madrid(2025, 3, 11, 14, 0))
    resolution = clocks_of(app, tenant, cid)["resolution"]
    assert (resolution.paused_seconds, resolution.due_at) == (9 * HOUR, utc(2025, 3, 13, 17, 0))

    # Resolved Wed 12 Mar 10:00: 2 h Monday + 7 h Tuesday + 1 h Wednesday = 10 h: met.
    contact = act(
        app,
        tenant,
        cid,
        "resolve",
        madrid(2025, 3, 12, 10, 0),
        disposition="refunded",
        resolution_note="Refunded.",
    )
    resolution = clocks_of(app, tenant, cid)["resolution"]
    assert (resolution.state, resolution.elapsed_seconds) == ("met", 10 * HOUR)
    assert (contact.sla_state, contact.sla_due_at) == ("met", None)
    assert (contact.sla_risk_at, contact.sla_breach_at) == (None, None)

    # Reopened Thu 13 Mar 09:00: 17 h left: Thu 9 h, Fri 8 h (9-17): due Fri 14 Mar 17:00.
    contact = act(app, tenant, cid, "reopen", madrid(2025, 3, 13, 9, 0))
    resolution = clocks_of(app, tenant, cid)["resolution"]
    assert (resolution.state, resolution.stopped_at) == ("ok", None)
    assert resolution.due_at == madrid(2025, 3, 14, 17, 0) == utc(2025, 3, 14, 16, 0)
    assert (contact.sla_state, contact.sla_due_at) == ("ok", utc(2025, 3, 14, 16, 0))
    assert contact.sla_breach_at == utc(2025, 3, 14, 16, 0)
    assert contact.sla_risk_at == resolution.at_risk_at < contact.sla_breach_at
    # Nothing ran late: no SLA event, no webhook.
    assert sla_events(app, tenant, cid) == []
    assert deliveries(app, tenant) == []


def _department(app, tenant) -> str:
    from app.contacts.models import Department

    with app.app_context(), tenant_scope(tenant.id):
        department = Department(name=f"Finance {uuid.uuid4().hex[:4]}", kind="finance")
        db.session.add(department)
        db.session.commit()
        return department.id


def test_escalation_pauses_the_clock_where_the_policy_in_force_at_that_time_says_so(
    app, client, factory
):
    tenant, queue_id = sla_firm(app, factory, pause_on_escalated=False)
    agent_id = agent_for(app, client, factory, tenant, queue_id)
    cid = intake(app, tenant, madrid(2025, 3, 10, 9, 0))
    act(app, tenant, cid, "assign", madrid(2025, 3, 10, 9, 5), agent_id=agent_id)
    act(app, tenant, cid, "respond", madrid(2025, 3, 10, 9, 10))
    # The firm changes its policy before the escalation: the policy read then applies.
    with app.app_context(), tenant_scope(tenant.id):
        db.session.scalar(select(SlaPolicy)).pause_on_escalated = True
        db.session.commit()

    # Escalated Mon 10:00 after 1 h; back Tue 10:00: paused 8 h Monday + 1 h Tuesday.
    contact = act(
        app,
        tenant,
        cid,
        "escalate",
        madrid(2025, 3, 10, 10, 0),
        department_id=_department(app, tenant),
    )
    resolution = clocks_of(app, tenant, cid)["resolution"]
    assert (resolution.elapsed_seconds, resolution.due_at, contact.sla_due_at) == (HOUR, None, None)
    act(app, tenant, cid, "resume", madrid(2025, 3, 11, 10, 0))

    # 26 h left: Tue 8 h (10-18), Wed 9 h, Thu 9 h: due Thu 13 Mar 18:00 = 17:00Z.
    resolution = clocks_of(app, tenant, cid)["resolution"]
    assert (resolution.paused_seconds, resolution.due_at) == (9 * HOUR, utc(2025, 3, 13, 17, 0))


def test_a_late_response_announces_at_risk_then_breach_once_each(app, client, factory):
    tenant, queue_id = sla_firm(app, factory)
    agent_id = agent_for(app, client, factory, tenant, queue_id)
    # Mon 10 Mar 09:00: first response at risk at 12:12 (3 h 12 min), due 13:00.
    cid = intake(app, tenant, madrid(2025, 3, 10, 9, 0), external_id="ZD-7")

    act(app, tenant, cid, "assign", madrid(2025, 3, 10, 12, 30), agent_id=agent_id)
    contact = contact_of(app, tenant, cid)
    assert contact.sla_state == "at_risk"
    assert sla_events(app, tenant, cid) == [
        ("sla_at_risk", "first_response", madrid(2025, 3, 10, 12, 12))
    ]
    act(app, tenant, cid, "release", madrid(2025, 3, 10, 13, 30))
    act(app, tenant, cid, "assign", madrid(2025, 3, 10, 13, 40), agent_id=agent_id)
    # Responded Mon 14:00 after 5 h: still breached, 1 h over.
    act(app, tenant, cid, "respond", madrid(2025, 3, 10, 14, 0))

    first = clocks_of(app, tenant, cid)["first_response"]
    assert (first.state, first.breached_at, first.elapsed_seconds) == (
        "breached",
        madrid(2025, 3, 10, 13, 0),
        5 * HOUR,
    )
    assert sla_events(app, tenant, cid) == [
        ("sla_at_risk", "first_response", madrid(2025, 3, 10, 12, 12)),
        ("sla_breached", "first_response", madrid(2025, 3, 10, 13, 0)),
    ]
    # The contact stays breached: a breach is for ever.
    assert contact_of(app, tenant, cid).sla_state == "breached"
    with app.app_context(), tenant_scope(tenant.id):
        breach = db.session.scalar(
            select(ContactEvent).where(ContactEvent.action == "sla_breached")
        )
        # Found when the contact was released at 13:30 (12:30Z), while it was assigned.
        assert (breach.from_status, breach.to_status) == ("assigned", "assigned")
        assert breach.details == {
            "clock": "first_response",
            "target_seconds": 4 * HOUR,
            "due_at": "2025-03-10T12:00:00+00:00",
            "detected_at": "2025-03-10T12:30:00+00:00",
        }
    [at_risk, breached] = deliveries(app, tenant)
    assert (at_risk.event_type, breached.event_type) == ("sla.at_risk", "sla.breached")
    clock_id = first.id
    assert breached.event_id == uuid.uuid5(uuid.NAMESPACE_URL, f"{clock_id}:breached")
    # The payload is the body's `data`: the fields themselves (the envelope is the delivery's).
    assert breached.created_at == utc(2025, 3, 10, 12, 30)
    assert breached.payload == {
        "contact_id": str(cid),
        "external_id": "ZD-7",
        "clock": "first_response",
        "target_seconds": 4 * HOUR,
        "due_at": "2025-03-10T12:00:00+00:00",
        "breached_at": "2025-03-10T12:00:00+00:00",
        "channel": "email",
        "category": "complaint",
        "priority": "normal",
        "queue_id": str(queue_id),
        "status": "assigned",
    }
    # Found at the assignment at 12:30 (11:30Z), while it was queued.
    assert at_risk.created_at == utc(2025, 3, 10, 11, 30)
    assert at_risk.payload["at_risk_at"] == "2025-03-10T11:12:00+00:00"
    assert at_risk.payload["status"] == "queued"


def test_a_call_answered_within_its_threshold_meets_the_first_response(app, client, factory):
    tenant, queue_id = sla_firm(app, factory)
    agent_id = agent_for(app, client, factory, tenant, queue_id)
    # The voice target: answered within 20 s, resolved within 9 business hours.
    cid = intake(app, tenant, madrid(2025, 3, 10, 10, 0), channel="voice", category="incident")
    contact = contact_of(app, tenant, cid)
    assert contact.answer_threshold_seconds == 20
    assert clocks_of(app, tenant, cid)["first_response"].due_at == madrid(2025, 3, 10, 10, 0, 20)

    act(app, tenant, cid, "assign", madrid(2025, 3, 10, 10, 0, 5), agent_id=agent_id)
    act(app, tenant, cid, "answer", madrid(2025, 3, 10, 10, 0, 12))

    first = clocks_of(app, tenant, cid)["first_response"]
    assert (first.state, first.elapsed_seconds) == ("met", 12)


def test_abandoning_cancels_the_clocks_and_a_missed_answer_stays_breached(app, factory):
    tenant, _ = sla_firm(app, factory)
    quick = intake(app, tenant, madrid(2025, 3, 10, 10, 0), channel="voice", category="incident")
    slow = intake(app, tenant, madrid(2025, 3, 10, 10, 0), channel="voice", category="incident")

    # Hung up after 10 s: neither clock ran out.
    contact = act(app, tenant, quick, "abandon", madrid(2025, 3, 10, 10, 0, 10))
    assert {c.kind: c.state for c in clocks_of(app, tenant, quick).values()} == {
        "first_response": "cancelled",
        "resolution": "cancelled",
    }
    assert (contact.sla_state, contact.sla_due_at) == ("cancelled", None)

    # Hung up after 30 s: the 20 s answer target ran out at 10:00:20 (at risk at 10:00:16).
    contact = act(app, tenant, slow, "abandon", madrid(2025, 3, 10, 10, 0, 30))
    assert {c.kind: c.state for c in clocks_of(app, tenant, slow).values()} == {
        "first_response": "breached",
        "resolution": "cancelled",
    }
    assert contact.sla_state == "breached"
    assert sla_events(app, tenant, slow) == [
        ("sla_at_risk", "first_response", madrid(2025, 3, 10, 10, 0, 16)),
        ("sla_breached", "first_response", madrid(2025, 3, 10, 10, 0, 20)),
    ]


def test_an_outbound_contact_has_only_a_resolution_clock(app, factory):
    tenant, _ = sla_firm(app, factory)

    cid = intake(app, tenant, madrid(2025, 3, 10, 10, 0), direction="outbound")

    assert list(clocks_of(app, tenant, cid)) == ["resolution"]


def test_a_firm_without_a_default_policy_or_calendar_runs_no_clocks(app, factory):
    bare = factory.tenant()
    from tests.test_contacts_intake import queue_of

    queue_of(app, bare, "General")

    cid = intake(app, bare, madrid(2025, 3, 10, 10, 0), channel="chat", category="incident")

    assert clocks_of(app, bare, cid) == {}
    contact = contact_of(app, bare, cid)
    # The service level's T still comes from the queue.
    assert (contact.sla_state, contact.sla_due_at, contact.answer_threshold_seconds) == (
        None,
        None,
        20,
    )


def test_a_contact_taken_in_late_starts_at_its_arrival_and_may_breach_at_once(app, factory):
    tenant, _ = sla_firm(app, factory)
    # Arrived Mon 09:00, entered Tue 09:00: 9 h used of the 4 h first response.
    contact_in = {
        "channel": "email",
        "category": "complaint",
        "received_at": madrid(2025, 3, 10, 9, 0),
    }
    with app.app_context(), tenant_scope(tenant.id):
        contact, _ = contacts_intake.create(
            contact_in=contact_in, tenant=tenant, actor=SYSTEM, now=madrid(2025, 3, 11, 9, 0)
        )
        db.session.commit()
        cid = contact.id

    assert contact_of(app, tenant, cid).sla_state == "breached"
    assert sla_events(app, tenant, cid) == [
        ("sla_at_risk", "first_response", madrid(2025, 3, 10, 12, 12)),
        ("sla_breached", "first_response", madrid(2025, 3, 10, 13, 0)),
    ]
    assert len(deliveries(app, tenant)) == 2


def test_an_import_works_out_history_without_announcing_it(app, factory):
    tenant, _ = sla_firm(app, factory)
    rows = [
        # Responded after 1 h, resolved after 27 h (Mon 9-18, Tue, Wed): both met.
        {
            "channel": "email",
            "category": "complaint",
            "received_at": madrid(2025, 3, 10, 9, 0).isoformat(),
            "first_response_at": madrid(2025, 3, 10, 10, 0).isoformat(),
            "status": "resolved",
            "resolved_at": madrid(2025, 3, 12, 17, 59).isoformat(),
            "disposition": "done",
        },
        # Responded after 5 h (due 13:00): breached; resolved Thu 10:00 (due Wed 18:00).
        {
            "channel": "email",
            "category": "complaint",
            "received_at": madrid(2025, 3, 10, 9, 0).isoformat(),
            "first_response_at": madrid(2025, 3, 10, 14, 0).isoformat(),
            "status": "closed",
            "resolved_at": madrid(2025, 3, 13, 10, 0).isoformat(),
            "closed_at": madrid(2025, 3, 13, 11, 0).isoformat(),
            "disposition": "done",
        },
    ]
    with app.app_context(), tenant_scope(tenant.id):
        on_time, late = contacts_intake.import_(
            rows=list(enumerate(rows, start=2)), tenant=tenant, actor=SYSTEM
        )
        db.session.commit()
        on_time, late = on_time.id, late.id

    met = clocks_of(app, tenant, on_time)
    assert {k: (c.state, c.elapsed_seconds) for k, c in met.items()} == {
        "first_response": ("met", HOUR),
        "resolution": ("met", 27 * HOUR - 60),
    }
    missed = clocks_of(app, tenant, late)
    assert {k: (c.state, c.breached_at) for k, c in missed.items()} == {
        "first_response": ("breached", madrid(2025, 3, 10, 13, 0)),
        "resolution": ("breached", madrid(2025, 3, 12, 18, 0)),
    }
    # Thu 10:00 is 1 h past Wednesday's close.
    assert missed["resolution"].elapsed_seconds == 28 * HOUR
    assert contact_of(app, tenant, late).sla_state == "breached"
    assert sla_events(app, tenant, late) == []
    assert deliveries(app, tenant) == []
