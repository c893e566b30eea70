"""A client firm's business calendar over the API: versions, validation, business-time queries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.sla import calendars as sla_calendars
from tenants.scoping import tenant_scope
from tests.http_helpers import assert_problem, audit_entries

MADRID = ZoneInfo("Europe/Madrid")
HOUR = 3600
OFFICE = {day: [{"start": "09:00", "end": "18:00"}] for day in ("mon", "tue", "wed", "thu", "fri")}
SPLIT = {
    day: [{"start": "09:00", "end": "14:00"}, {"start": "16:00", "end": "19:00"}]
    for day in ("mon", "tue", "wed", "thu", "fri")
}


def url(tenant, suffix: str = "") -> str:
    return f"/v1/tenants/{tenant.id}/calendar{suffix}"


def put_calendar(client, caller, tenant, body: dict, etag: str | None = "*"):
    """PUT a calendar version; `*` is the If-Match of a firm with no calendar yet."""
    headers = dict(caller.headers)
    if etag is not None:
        headers["If-Match"] = etag
    return client.put(url(tenant), json=body, headers=headers)


def with_calendar(client, caller, tenant, body: dict) -> dict:
    """Give a firm its first calendar; return the version."""
    response = put_calendar(client, caller, tenant, body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def next_monday(days_ahead: int) -> date:
    """The first Monday at least `days_ahead` days from today in Madrid."""
    day = datetime.now(MADRID).date() + timedelta(days=days_ahead)
    return day + timedelta(days=-day.weekday() % 7)


def madrid_midnight(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=MADRID).isoformat()


# --- versions --------------------------------------------------------------------------------


def test_a_bpo_admin_gives_a_firm_its_calendar_and_it_is_audited(app, client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant(time_zone="America/Mexico_City", locale="es-MX")
    body = {
        "weekly_hours": SPLIT | {"sat": [{"start": "10:00", "end": "14:00"}]},
        "holiday_country": "MX",
        "closures": ["2030-12-24", "2030-12-31", "2030-12-24"],
    }

    response = put_calendar(client, admin, tenant, body)

    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["time_zone"] == "America/Mexico_City"  # the firm's, by default
    assert created["weekly_hours"]["mon"] == SPLIT["mon"]
    assert created["weekly_hours"]["sun"] == []
    assert created["holiday_country"] == "MX"
    assert created["holiday_subdivision"] is None
    assert created["closures"] == ["2030-12-24", "2030-12-31"]
    effective = datetime.fromisoformat(created["effective_from"])
    assert abs(effective - datetime.now(UTC)) < timedelta(minutes=1)
    read = client.get(url(tenant), headers=admin.headers)
    assert read.status_code == 200
    assert read.get_json() == created
    assert read.headers["ETag"]
    entries = audit_entries(app, "calendar.version_created")
    assert [(e.tenant_id, e.target_id, e.actor_user_id) for e in entries] == [
        (tenant.id, created["id"], admin.user_id)
    ]


def test_a_calendar_change_needs_if_match(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    with_calendar(client, admin, tenant, {"weekly_hours": OFFICE})

    response = put_calendar(client, admin, tenant, {"weekly_hours": SPLIT}, etag=None)

    assert_problem(response, 428)


def test_a_calendar_change_with_a_stale_etag_is_refused(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    with_calendar(client, admin, tenant, {"weekly_hours": OFFICE})
    stale = client.get(url(tenant), headers=admin.headers).headers["ETag"]
    first = put_calendar(client, admin, tenant, {"weekly_hours": SPLIT}, etag=stale)
    assert first.status_code == 201, first.get_json()

    response = put_calendar(client, admin, tenant, {"weekly_hours": OFFICE}, etag=stale)

    assert_problem(response, 412)
    assert (
        client.get(url(tenant), headers=admin.headers).get_json()["weekly_hours"]["mon"]
        == (SPLIT["mon"])
    )


def test_a_first_calendar_needs_the_if_match_of_no_calendar(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()

    response = put_calendar(client, admin, tenant, {"weekly_hours": OFFICE}, etag='"abc"')

    assert_problem(response, 412)


def test_a_change_effective_later_leaves_the_calendar_in_force_until_then(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    first = with_calendar(client, admin, tenant, {"weekly_hours": OFFICE})
    etag = client.get(url(tenant), headers=admin.headers).headers["ETag"]
    tomorrow = datetime.now(UTC) + timedelta(days=1)

    response = put_calendar(
        client,
        admin,
        tenant,
        {"weekly_hours": SPLIT, "effective_from": tomorrow.isoformat()},
        etag=etag,
    )

    assert response.status_code == 201, response.get_json()
    later = response.get_json()
    assert datetime.fromisoformat(later["effective_from"]) == tomorrow
    now = client.get(url(tenant), headers=admin.headers)
    assert now.get_json()["id"] == first["id"]
    assert now.headers["ETag"] == etag
    then = client.get(
        url(tenant),
        query_string={"at": (tomorrow + timedelta(hours=1)).isoformat()},
        headers=admin.headers,
    )
    assert then.get_json()["id"] == later["id"]
    versions = client.get(url(tenant, "/versions"), headers=admin.headers)
    assert versions.status_code == 200
    assert [v["id"] for v in versions.get_json()] == [later["id"], first["id"]]
    assert '"total": 2' in versions.headers["X-Pagination"]


def test_a_later_version_does_not_change_how_earlier_time_is_counted(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    viewer = factory.caller("client_viewer", tenant)
    with_calendar(client, admin, tenant, {"weekly_hours": OFFICE})
    etag = client.get(url(tenant), headers=admin.headers).headers["ETag"]
    past_week = {"from": "2025-01-13T00:00:00+01:00", "to": "2025-01-18T00:00:00+01:00"}
    monday = next_monday(days_ahead=9)
    future_week = {
        "from": madrid_midnight(monday),
        "to": madrid_midnight(monday + timedelta(days=5)),
    }

    def count(period: dict) -> int:
        response = client.get(
            url(tenant, "/business-seconds"), query_string=period, headers=viewer.headers
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()["business_seconds"]

    assert (count(past_week), count(future_week)) == (45 * HOUR, 45 * HOUR)
    response = put_calendar(
        client,
        admin,
        tenant,
        {
            "weekly_hours": {day: [{"start": "09:00", "end": "14:00"}] for day in OFFICE},
            "effective_from": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        },
        etag=etag,
    )
    assert response.status_code == 201, response.get_json()

    assert (count(past_week), count(future_week)) == (45 * HOUR, 25 * HOUR)


def test_a_version_may_not_take_effect_in_the_past(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    yesterday = datetime.now(UTC) - timedelta(days=1)

    response = put_calendar(
        client, admin, tenant, {"weekly_hours": OFFICE, "effective_from": yesterday.isoformat()}
    )

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {"effective_from"}


def test_a_version_may_not_take_effect_before_the_one_in_force(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    with_calendar(client, admin, tenant, {"weekly_hours": OFFICE})
    etag = client.get(url(tenant), headers=admin.headers).headers["ETag"]
    # Within the minute of clock skew allowed, but before the version in force.
    earlier = datetime.now(UTC) - timedelta(seconds=30)

    response = put_calendar(
        client,
        admin,
        tenant,
        {"weekly_hours": SPLIT, "effective_from": earlier.isoformat()},
        etag=etag,
    )

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {"effective_from"}
    assert len(client.get(url(tenant, "/versions"), headers=admin.headers).get_json()) == 1


# --- validation ------------------------------------------------------------------------------


def test_every_bad_field_of_a_calendar_is_named(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    bad = {
        "time_zone": "Mars/Olympus",
        "weekly_hours": {
            "mon": [{"start": "9:00", "end": "18:00"}],
            "tue": [{"start": "09:00", "end": "14:00"}, {"start": "13:00", "end": "18:00"}],
            "wed": [{"start": "09:00", "end": "24:00"}],
            "funday": [{"start": "09:00", "end": "18:00"}],
        },
        "holiday_country": "XX",
        "closures": ["2025-02-30"],
        "colour": "blue",
    }

    response = put_calendar(client, admin, tenant, bad)

    body = assert_problem(response, 422)
    errors = body["errors"]["json"]
    assert set(errors) == {"time_zone", "weekly_hours", "holiday_country", "closures", "colour"}
    assert "Mars/Olympus" in errors["time_zone"][0]
    assert set(errors["weekly_hours"]) == {"mon", "tue", "wed", "funday"}
    assert "start" in errors["weekly_hours"]["mon"]["0"]
    assert "index 0" in errors["weekly_hours"]["tue"]["1"][0]
    assert "end" in errors["weekly_hours"]["wed"]["0"]
    assert "XX" in errors["holiday_country"][0]
    assert "0" in errors["closures"]
    assert "weekly_hours" in body["detail"]


def test_a_window_overlapping_the_previous_nights_window_is_named(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    hours = {
        "fri": [{"start": "22:00", "end": "02:00"}],
        "sat": [{"start": "10:00", "end": "14:00"}, {"start": "01:00", "end": "03:00"}],
        "sun": [{"start": "20:00", "end": "20:00"}],
        "mon": [{"start": "08:00", "end": "12:00"}],
    }

    response = put_calendar(client, admin, tenant, {"weekly_hours": hours})

    body = assert_problem(response, 422)
    weekly = body["errors"]["json"]["weekly_hours"]
    assert set(weekly) == {"sat", "mon"}
    assert set(weekly["sat"]) == {"1"}
    assert "fri" in weekly["sat"]["1"][0]
    assert "sun" in weekly["mon"]["0"][0]


def test_an_unknown_holiday_subdivision_is_named(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()

    unknown = put_calendar(
        client,
        admin,
        tenant,
        {"weekly_hours": OFFICE, "holiday_country": "ES", "holiday_subdivision": "ZZ"},
    )
    orphan = put_calendar(
        client, admin, tenant, {"weekly_hours": OFFICE, "holiday_subdivision": "MD"}
    )

    errors = assert_problem(unknown, 422)["errors"]["json"]
    assert set(errors) == {"holiday_subdivision"}
    assert "MD" in errors["holiday_subdivision"][0]  # the valid ones are listed
    assert set(assert_problem(orphan, 422)["errors"]["json"]) == {"holiday_subdivision"}


def test_a_calendar_never_open_is_refused(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()

    response = put_calendar(client, admin, tenant, {"weekly_hours": {"mon": [], "tue": []}})

    assert set(assert_problem(response, 422)["errors"]["json"]) == {"weekly_hours"}


def test_a_calendar_needs_its_weekly_hours(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()

    response = put_calendar(client, admin, tenant, {"holiday_country": "ES"})

    assert set(assert_problem(response, 422)["errors"]["json"]) == {"weekly_hours"}


# --- who may do what -------------------------------------------------------------------------


def test_a_client_admin_cannot_change_the_calendar(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    with_calendar(client, admin, tenant, {"weekly_hours": OFFICE})
    client_admin = factory.caller("client_admin", tenant)
    etag = client.get(url(tenant), headers=client_admin.headers).headers["ETag"]

    response = put_calendar(client, client_admin, tenant, {"weekly_hours": SPLIT}, etag=etag)

    assert_problem(response, 403)
    assert len(client.get(url(tenant, "/versions"), headers=admin.headers).get_json()) == 1


def test_a_client_viewer_reads_the_calendar_and_its_versions(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    created = with_calendar(client, admin, tenant, {"weekly_hours": OFFICE})
    viewer = factory.caller("client_viewer", tenant)

    read = client.get(url(tenant), headers=viewer.headers)
    versions = client.get(url(tenant, "/versions"), headers=viewer.headers)

    assert read.status_code == 200 and read.get_json()["id"] == created["id"]
    assert [v["id"] for v in versions.get_json()] == [created["id"]]


def test_a_firm_without_a_calendar_answers_not_found(client, factory):
    tenant = factory.tenant()
    viewer = factory.caller("client_viewer", tenant)
    period = {"from": "2025-01-13T00:00:00Z", "to": "2025-01-14T00:00:00Z"}

    assert (
        "no business calendar"
        in assert_problem(client.get(url(tenant), headers=viewer.headers), 404)["detail"]
    )
    assert_problem(
        client.get(url(tenant, "/business-seconds"), query_string=period, headers=viewer.headers),
        404,
    )
    assert_problem(
        client.get(
            url(tenant, "/due"),
            query_string={"start": "2025-01-13T00:00:00Z", "seconds": 60},
            headers=viewer.headers,
        ),
        404,
    )
    assert client.get(url(tenant, "/versions"), headers=viewer.headers).get_json() == []


# --- business time ---------------------------------------------------------------------------


def test_an_integration_counts_business_seconds_skipping_madrid_holidays(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    with_calendar(
        client,
        admin,
        tenant,
        {"weekly_hours": SPLIT, "holiday_country": "ES", "holiday_subdivision": "MD"},
    )
    integration = factory.caller("integration", tenant)

    # Wednesday 30 April to Monday 5 May 2025: 1 May (Spain) and 2 May (Madrid) are holidays.
    response = client.get(
        url(tenant, "/business-seconds"),
        query_string={"from": "2025-04-30T09:00:00+02:00", "to": "2025-05-05T09:00:00+02:00"},
        headers=integration.headers,
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "from": "2025-04-30T07:00:00+00:00",
        "to": "2025-05-05T07:00:00+00:00",
        "business_seconds": 8 * HOUR,
    }


def test_a_deadline_skips_closed_hours_and_holidays(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    with_calendar(
        client,
        admin,
        tenant,
        {"weekly_hours": SPLIT, "holiday_country": "ES", "holiday_subdivision": "MD"},
    )
    viewer = factory.caller("client_viewer", tenant)

    # Wednesday 17:00 + 3 h: 17-19 on Wednesday, then Monday 09:00-10:00 CEST.
    response = client.get(
        url(tenant, "/due"),
        query_string={"start": "2025-04-30T17:00:00+02:00", "seconds": 3 * HOUR},
        headers=viewer.headers,
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "start": "2025-04-30T15:00:00+00:00",
        "seconds": 3 * HOUR,
        "due": "2025-05-05T08:00:00+00:00",
    }


def test_business_time_queries_refuse_bad_arguments(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    with_calendar(client, admin, tenant, {"weekly_hours": OFFICE})

    def errors(suffix: str, args: dict) -> dict:
        response = client.get(url(tenant, suffix), query_string=args, headers=admin.headers)
        return assert_problem(response, 422)["errors"]["query"]

    assert set(errors("/business-seconds", {"from": "2025-01-13T09:00:00", "to": "x"})) == {
        "from",
        "to",
    }
    assert set(
        errors("/business-seconds", {"from": "2025-01-14T00:00:00Z", "to": "2025-01-13T00:00:00Z"})
    ) == {"to"}
    assert set(
        errors("/business-seconds", {"from": "2000-01-01T00:00:00Z", "to": "2025-01-13T00:00:00Z"})
    ) == {"to"}
    assert set(errors("/business-seconds", {})) == {"from", "to"}
    assert set(errors("/due", {"start": "2025-01-13T09:00:00Z", "seconds": -1})) == {"seconds"}
    assert set(errors("/due", {"start": "2025-01-13T09:00:00Z", "seconds": 10**9})) == {"seconds"}
    assert set(errors("/due", {"start": "yesterday", "seconds": "soon"})) == {"start", "seconds"}


def test_a_deadline_that_can_never_be_met_is_refused(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    mondays = [(date(2025, 1, 6) + timedelta(weeks=n)).isoformat() for n in range(70)]
    with_calendar(
        client,
        admin,
        tenant,
        {"weekly_hours": {"mon": [{"start": "09:00", "end": "18:00"}]}, "closures": mondays},
    )

    response = client.get(
        url(tenant, "/due"),
        query_string={"start": "2025-01-01T00:00:00Z", "seconds": HOUR},
        headers=admin.headers,
    )

    assert "no open time" in assert_problem(response, 422)["detail"]


# --- defaults for onboarding -----------------------------------------------------------------


def test_a_firm_given_no_calendar_gets_office_hours_with_its_countrys_holidays(
    app, client, factory
):
    admin = factory.caller("bpo_admin")
    mexican = factory.tenant(time_zone="America/Mexico_City", locale="es-MX")
    latin = factory.tenant(locale="es-419")
    with app.app_context():
        defaults = sla_calendars.default_calendar_in(tenant=mexican)
        assert sla_calendars.default_calendar_in(tenant=latin)["holiday_country"] is None

    assert defaults["time_zone"] == "America/Mexico_City"
    assert defaults["holiday_country"] == "MX"
    assert defaults["weekly_hours"]["fri"] == [{"start": "09:00", "end": "18:00"}]
    assert defaults["weekly_hours"]["sat"] == []
    # What onboarding stores is what the API accepts.
    assert put_calendar(client, admin, mexican, defaults).status_code == 201


def test_onboarding_creates_a_calendar_inside_the_new_firms_scope(app, factory):
    tenant = factory.tenant(locale="es-ES")
    with app.app_context(), tenant_scope(tenant.id):
        from app.db import db
        from tenants.service import SYSTEM

        version = sla_calendars.create_calendar_version(
            calendar_in=sla_calendars.default_calendar_in(tenant=tenant),
            tenant=tenant,
            actor=SYSTEM,
        )
        db.session.commit()
        in_force = sla_calendars.calendar_in_force()
        # Monday 13 January 2025, 17:00 Madrid + 2 h: Tuesday 10:00 (first version counts).
        due = sla_calendars.add_business_seconds(
            start=datetime(2025, 1, 13, 17, tzinfo=MADRID), seconds=2 * HOUR
        )

    assert in_force.id == version.id
    assert version.holiday_country == "ES"
    assert due == datetime(2025, 1, 14, 10, tzinfo=MADRID)
