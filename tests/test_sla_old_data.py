"""Rows stored with absurd instants (the year 0100, written before the API bounded instants)
and the oldest rows the window accepts do not make the SLA engine slow (issue 13, item 7): the
at-risk list and a contact's SLA read stored state and deadlines and count business time in
bounded steps, on PostgreSQL and SQLite. The test prints the figures it measured.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from app import inputs
from app.contacts.models import Contact
from app.db import db
from app.sla import calendar as business_time
from app.sla import clocks as clock_rules
from app.sla.models import BusinessCalendar, SlaClock
from tenants.scoping import tenant_scope
from tests.test_contacts_intake import contacts_url, create_contact
from tests.test_hostile_input import MADRID, NDJSON, _import, _ndjson, _row
from tests.test_sla_api import sla_firm


def _hostile_firm(db_app, db_factory):
    """A firm on Madrid's split hours and holidays; its policy: 1 h to respond, 8 h to resolve."""
    tenant, _ = sla_firm(db_app, db_factory)
    with db_app.app_context(), tenant_scope(tenant.id):
        calendar = db.session.scalars(select(BusinessCalendar)).one()
        calendar.time_zone = "Europe/Madrid"
        calendar.weekly_hours = MADRID
        calendar.holiday_country = "ES"
        calendar.holiday_subdivision = "MD"
        db.session.commit()
    return tenant, db_factory.caller("integration", tenant)


def _to_the_year_0100(db_app, tenant, contact_ids: list[str]) -> None:
    """Write instants of the year 0100 straight into the database, as data stored before the
    API bounded them would be."""
    ids = [uuid.UUID(i) for i in contact_ids]
    old = datetime(100, 3, 1, 10, 0, tzinfo=UTC)
    with db_app.app_context(), tenant_scope(tenant.id):
        db.session.execute(
            update(Contact)
            .where(Contact.id.in_(ids))
            .values(
                received_at=old,
                queued_at=old,
                status_since=old,
                sla_due_at=old,
                # The instants the engine keeps on a contact from its clocks, as they would
                # have been kept then (app.sla.clocks.risk_instants).
                sla_risk_at=old + timedelta(hours=1),
                sla_breach_at=old + timedelta(hours=2),
            )
        )
        db.session.execute(
            update(SlaClock)
            .where(SlaClock.contact_id.in_(ids))
            .values(
                started_at=old,
                running_since=old,
                at_risk_at=old + timedelta(hours=1),
                due_at=old + timedelta(hours=2),
            )
        )
        db.session.commit()


def _timed(client, url: str, headers: dict) -> tuple[float, object]:
    started = time.perf_counter()
    response = client.get(url, headers=headers)
    return time.perf_counter() - started, response


def test_old_and_absurd_rows_do_not_make_the_at_risk_list_or_a_contacts_sla_slow(
    db_app, db_client, db_factory, request
):
    tenant, integration = _hostile_firm(db_app, db_factory)
    # The oldest contacts the window accepts, imported: 100 rows.
    oldest = [_row(received_at="2000-01-01T00:00:00Z", external_id=f"OLD-{n}") for n in range(100)]
    started = time.perf_counter()
    response = _import(db_client, integration, tenant, _ndjson(*oldest), NDJSON)
    import_seconds = time.perf_counter() - started
    assert response.status_code == 201, response.get_json()
    # And 100 more moved to the year 0100 behind the API's back.
    absurd = [create_contact(db_client, integration, tenant)["id"] for _ in range(100)]
    _to_the_year_0100(db_app, tenant, absurd)
    admin = db_factory.caller("bpo_admin")

    first, listed = _timed(db_client, "/v1/sla/at-risk?page_size=100", admin.headers)
    again, _ = _timed(db_client, "/v1/sla/at-risk?page_size=100", admin.headers)
    one_sla, sla = _timed(db_client, contacts_url(tenant, absurd[0], "sla"), integration.headers)
    oldest_sla, _ = _timed(
        db_client, contacts_url(tenant, response.get_json()["ids"][0], "sla"), integration.headers
    )

    assert listed.status_code == 200, listed.get_json()
    assert len(listed.get_json()) == 100
    assert '"total": 200' in listed.headers["X-Pagination"]
    assert sla.status_code == 200, sla.get_json()
    assert sla.get_json()["state"] == "breached"
    print(
        f"\n[{request.node.callspec.id}] import 100 rows of 2000-01-01: {import_seconds:.2f} s; "
        f"at-risk page_size=100: {first:.2f} s first, {again:.2f} s again; "
        f"/sla of a year-0100 contact: {one_sla:.2f} s, of a 2000 contact: {oldest_sla:.2f} s"
    )
    # Before the fix: 12 s to 75 s and 6 s; the bound leaves room for a busy machine.
    assert first < 5 and again < 3 and one_sla < 1 and oldest_sla < 1


# --- the arithmetic itself -------------------------------------------------------------------


def _split_and_overnight() -> business_time.Calendar:
    hours = [{"start": "09:00", "end": "14:00"}, {"start": "22:00", "end": "02:00"}]
    return business_time.Calendar.from_fields(
        time_zone="Europe/Madrid",
        weekly_hours={day: hours for day in business_time.WEEKDAYS[:6]},
        holiday_country="ES",
        holiday_subdivision="MD",
        closures=["2024-03-05"],
    )


def test_business_time_is_counted_from_the_earliest_instant_the_api_accepts():
    calendar = _split_and_overnight()
    two_days_in = datetime(2000, 1, 3, 12, tzinfo=UTC)

    assert business_time.COUNTED_FROM == inputs.EARLIEST_INSTANT
    started = time.perf_counter()
    from_the_year_0100 = business_time.business_seconds_between(
        calendar, datetime(100, 3, 1, tzinfo=UTC), two_days_in
    )
    assert time.perf_counter() - started < 1
    assert from_the_year_0100 == business_time.business_seconds_between(
        calendar, business_time.COUNTED_FROM, two_days_in
    )
    assert business_time.add_business_seconds(
        calendar, datetime(1, 1, 1, tzinfo=UTC), 3600
    ) == business_time.add_business_seconds(calendar, business_time.COUNTED_FROM, 3600)


def test_long_spans_counted_a_year_at_a_time_equal_the_day_by_day_walk():
    madrid = _split_and_overnight()
    # Santiago's clocks change at midnight: a local day may start at 01:00.
    santiago = business_time.Calendar.from_fields(
        time_zone="America/Santiago",
        weekly_hours={"mon": [{"start": "00:00", "end": "00:00"}]},
        holiday_country="CL",
    )
    timeline = business_time.CalendarTimeline(
        (
            (datetime(2020, 1, 1, tzinfo=UTC), madrid),
            (datetime(2022, 6, 1, 12, tzinfo=UTC), santiago),
        )
    )
    rng = random.Random(13)
    base = datetime(2018, 1, 1, tzinfo=UTC)
    for schedule in (madrid, santiago, timeline):
        for _ in range(15):
            start = base + timedelta(
                seconds=rng.randrange(6 * 365 * 86400), microseconds=rng.randrange(10**6)
            )
            end = start + timedelta(seconds=rng.randrange(3 * 365 * 86400))
            walked = sum((e - s for s, e in schedule.open_intervals(start, end)), timedelta())
            assert business_time.business_seconds_between(
                schedule, start, end
            ) == walked // timedelta(seconds=1)
            assert clock_rules.CachedSchedule(schedule).open_time(start, end) == walked
