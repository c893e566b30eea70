"""Stories of a client firm reading its SLA dashboard and monthly report in the browser: the
figures are the API's SLA report's, ranges and filters change them, the CSV is what the page
shows, bad input is answered beside its field, and only those who read reports get in."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from app.db import db, utcnow
from app.reports.periods import zone_of
from tenants.models import User
from tests.test_queues_api import assign_agent
from tests.test_reports_sla import (
    a_day_of_calls,
    after,
    body,
    clock,
    contact,
    firm,
    policy,
    queue_of,
    sla,
    span,
    store,
    t,
)
from tests.web_helpers import sign_in

_TILE = re.compile(
    r'<li class="tile ?(?P<state>met|missed)?" data-tile="(?P<key>\w+)"\s+data-raw="(?P<raw>[^"]*)"'
)
# What each tile shows, read from the API's report totals.
_FROM_TOTALS = {
    "service_level": lambda t: t["service_level"],
    "asa": lambda t: t["asa_seconds"],
    "aht": lambda t: t["aht_seconds"],
    "abandonment": lambda t: t["abandonment_rate"],
    "first_response": lambda t: t["first_response"]["within_target_rate"],
    "resolution": lambda t: t["resolution"]["within_target_rate"],
    "fcr": lambda t: t["fcr"]["rate"],
    "csat": lambda t: t["csat"]["rate"],
    "breaches": lambda t: t["breaches"],
}


def tiles_of(page) -> dict[str, tuple[str, str | None]]:
    """Each tile's raw figure (as text, empty for none) and its state, from a page."""
    html = page.get_data(as_text=True)
    return {m["key"]: (m["raw"], m["state"]) for m in _TILE.finditer(html)}


def as_raw(value) -> str:
    return "" if value is None else str(value)


def assert_tiles_equal_api(tiles: dict, totals: dict) -> None:
    assert set(tiles) == set(_FROM_TOTALS)
    for key, figure in _FROM_TOTALS.items():
        assert tiles[key][0] == as_raw(figure(totals)), key


def dashboard(client, tenant, **query):
    return client.get(f"/firms/{tenant.id}/dashboard", query_string=query)


def a_day_with_clocks(app, tenant, queue) -> None:
    """A day of calls (test_reports_sla's), plus emails whose SLA clocks met and breached, with
    CSAT and a handled contact, so that every tile has a figure."""
    a_day_of_calls(app, tenant, queue)
    at = t("2025-03-10T11:00:00+01:00")
    met = contact(
        queue,
        at,
        channel="email",
        status="resolved",
        first_response_at=after(at, 600),
        resolved_at=after(at, 3000),
        talk_seconds=300,
        csat=5,
        subject="Met in time",
    )
    late = contact(
        queue, at, channel="email", priority="high", subject="=Late one", status="active"
    )
    clocks = [
        clock(met, "first_response", state="met", stopped_at=after(at, 600), elapsed_seconds=600),
        clock(met, "resolution", state="met", stopped_at=after(at, 3000), elapsed_seconds=3000),
        clock(late, "first_response", state="breached", breached_at=after(at, 3600)),
    ]
    store(app, tenant, [met, late], clocks)


def this_month_instant(tenant):
    """An instant of this local month in the firm's zone, not in the future."""
    now = utcnow()
    first = now.astimezone(zone_of(tenant)).replace(day=1, hour=0, minute=0, second=0)
    return max(first, now - timedelta(minutes=5))


# --- the dashboard ---------------------------------------------------------------------------


def test_client_admin_reads_this_months_tiles_as_the_api_reports_them(app, client, factory):
    tenant, queue = firm(app, factory)
    at = this_month_instant(tenant)
    store(
        app,
        tenant,
        [
            contact(queue, at, answered_at=after(at, 10)),
            contact(queue, at, answered_at=after(at, 40)),
            contact(queue, at, status="abandoned", abandoned_at=after(at, 30)),
        ],
    )
    admin = factory.user("client_admin", tenant)

    page = dashboard(sign_in(app, admin.email), tenant)

    assert page.status_code == 200
    api = body(sla(client, factory.caller("client_admin", tenant), tenant))
    assert api["totals"]["offered"] == 3
    assert_tiles_equal_api(tiles_of(page), api["totals"])
    html = page.get_data(as_text=True)
    assert 'data-chart="chart-service-level"' in html
    assert 'data-chart="chart-channels"' in html and 'data-chart="chart-times"' in html
    assert html.count("data-chart-config=") == 3  # each canvas carries its configuration
    # This month, as dates the firm reads, in the form.
    first = at.astimezone(zone_of(tenant)).date().replace(day=1)
    assert f'value="{first.isoformat()}"' in html


def test_a_range_and_a_filter_change_the_figures_as_in_the_api(app, client, factory):
    tenant, queue = firm(app, factory)
    a_day_with_clocks(app, tenant, queue)
    viewer = factory.caller("client_viewer", tenant)
    browser = sign_in(app, factory.user("client_admin", tenant).email)

    whole_day = tiles_of(dashboard(browser, tenant, **span("2025-03-10", "2025-03-11")))
    chats = tiles_of(dashboard(browser, tenant, **span("2025-03-10", "2025-03-11"), channel="chat"))
    this_month = tiles_of(dashboard(browser, tenant))

    api_day = body(sla(client, viewer, tenant, **span("2025-03-10", "2025-03-11")))
    api_chats = body(
        sla(client, viewer, tenant, **span("2025-03-10", "2025-03-11"), channel="chat")
    )
    assert_tiles_equal_api(whole_day, api_day["totals"])
    assert_tiles_equal_api(chats, api_chats["totals"])
    assert whole_day["service_level"][0] == "0.4286"
    # The chat answered at T, and the one abandoned after 15 s (not a short abandon).
    assert chats["service_level"][0] == "0.5"
    assert whole_day["breaches"][0] == "1" and chats["breaches"][0] == "0"
    assert this_month["service_level"][0] == ""  # nothing received this month


def test_a_missed_target_says_missed(app, factory):
    tenant, queue = firm(app, factory)
    policy(app, tenant, service_level_target_bps=9000)
    a_day_with_clocks(app, tenant, queue)
    browser = sign_in(app, factory.user("client_viewer", tenant).email)

    page = dashboard(browser, tenant, **span("2025-03-10", "2025-03-11"))

    tiles = tiles_of(page)
    assert tiles["service_level"] == ("0.4286", "missed")
    assert tiles["breaches"] == ("1", "missed")
    assert tiles["first_response"] == ("1.0", "met")  # the breached clock still runs
    assert tiles["aht"][1] is None  # the policy sets no AHT target
    html = page.get_data(as_text=True)
    assert "Incumplido" in html and "al menos 90%" in html  # the firm reads Spanish


def test_the_breaches_link_to_their_contacts(app, factory):
    tenant, queue = firm(app, factory)
    a_day_with_clocks(app, tenant, queue)
    browser = sign_in(app, factory.user("client_viewer", tenant).email)

    html = dashboard(browser, tenant, **span("2025-03-10", "2025-03-11")).get_data(as_text=True)

    links = re.findall(rf'href="/firms/{tenant.id}/contacts/([0-9a-f-]+)">([^<]*)<', html)
    assert [subject for _id, subject in links] == ["=Late one"]


def test_the_csv_is_what_the_page_and_the_api_show(app, client, factory):
    tenant, queue = firm(app, factory)
    a_day_with_clocks(app, tenant, queue)
    browser = sign_in(app, factory.user("client_admin", tenant).email)
    question = {**span("2025-03-10", "2025-03-11"), "granularity": "day", "channel": "voice"}

    page = dashboard(browser, tenant, **question)
    link = re.search(r'href="([^"]*/dashboard\.csv\?[^"]*)"', page.get_data(as_text=True))
    downloaded = browser.get(link.group(1).replace("&amp;", "&"))
    api_csv = sla(
        client,
        factory.caller("client_viewer", tenant),
        tenant,
        headers={"Accept": "text/csv"},
        **question,
    )

    assert downloaded.status_code == 200 and downloaded.mimetype == "text/csv"
    assert downloaded.get_data(as_text=True) == api_csv.get_data(as_text=True)
    [row] = list(csv.DictReader(io.StringIO(downloaded.get_data(as_text=True))))
    tiles = tiles_of(page)
    assert row["service_level"] == tiles["service_level"][0] == "0.4"
    assert row["asa_seconds"] == tiles["asa"][0]
    assert row["abandonment_rate"] == tiles["abandonment"][0]
    assert row["breaches"] == tiles["breaches"][0]


def test_a_reversed_range_is_shown_beside_the_field_with_what_was_typed(app, factory):
    tenant, _queue = firm(app, factory)
    browser = sign_in(app, factory.user("client_admin", tenant).email)

    reversed_range = dashboard(browser, tenant, **span("2025-03-11", "2025-03-10"))
    not_a_date = dashboard(browser, tenant, **span("2025-13-01", "2025-03-10"), channel="fax")
    too_long = dashboard(browser, tenant, **span("2025-01-01", "2025-03-10"), granularity="hour")

    assert reversed_range.status_code == 422
    html = reversed_range.get_data(as_text=True)
    assert re.search(r'id="e-to">[^<]*Must be after', html)
    assert 'value="2025-03-11"' in html and 'value="2025-03-10"' in html
    assert 'data-tile="' not in html
    assert not_a_date.status_code == 422
    html = not_a_date.get_data(as_text=True)
    assert 'id="e-from"' in html and 'id="e-channel"' in html
    assert too_long.status_code == 422
    assert re.search(r'id="e-to">[^<]*at most 31 days', too_long.get_data(as_text=True))


def test_htmx_gets_only_the_dashboard_body(app, factory):
    tenant, _queue = firm(app, factory)
    browser = sign_in(app, factory.user("client_admin", tenant).email)

    fragment = browser.get(
        f"/firms/{tenant.id}/dashboard",
        query_string=span("2025-03-10", "2025-03-11"),
        headers={"HX-Request": "true"},
    )
    wrong = browser.get(
        f"/firms/{tenant.id}/dashboard",
        query_string=span("2025-03-11", "2025-03-10"),
        headers={"HX-Request": "true"},
    )

    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in html
    assert 'hx-target="#dashboard-body"' in html and 'data-tile="service_level"' in html
    assert wrong.status_code == 422 and 'id="e-to"' in wrong.get_data(as_text=True)


def test_the_firms_landing_page_is_its_dashboard(app, factory):
    tenant, _queue = firm(app, factory)
    browser = sign_in(app, factory.user("client_viewer", tenant).email)

    landing = browser.get(f"/firms/{tenant.id}/")

    assert landing.status_code == 302
    assert landing.headers["Location"] == f"/firms/{tenant.id}/dashboard"
    menu = dashboard(browser, tenant).get_data(as_text=True)
    assert f'href="/firms/{tenant.id}/dashboard"' in menu
    assert f'href="/firms/{tenant.id}/reports"' in menu


# --- who may read it -------------------------------------------------------------------------


def test_another_firms_dashboard_is_not_found(app, factory):
    mine, _queue = firm(app, factory)
    theirs, _other = firm(app, factory, name="Other Firm")
    browser = sign_in(app, factory.user("client_admin", mine).email)

    for path in ("dashboard", "dashboard.csv", "reports", "reports/2025-03"):
        refused = browser.get(f"/firms/{theirs.id}/{path}")
        assert refused.status_code == 404, path
        assert "Other Firm" not in refused.get_data(as_text=True)


def test_a_client_viewer_and_a_supervisor_read_the_dashboard(app, factory):
    tenant, _queue = firm(app, factory)
    viewer = sign_in(app, factory.user("client_viewer", tenant).email)
    supervisor = sign_in(app, factory.user("supervisor", tenant).email)

    assert dashboard(viewer, tenant).status_code == 200
    assert dashboard(supervisor, tenant).status_code == 200


def test_an_agent_of_the_firm_cannot_read_it_as_in_the_api(app, client, factory):
    tenant, queue = firm(app, factory)
    agent = assign_agent(app, factory, {queue: tenant.id})
    with app.app_context():
        email = db.session.get(User, agent.user_id).email
    browser = sign_in(app, email)

    api = sla(client, agent, tenant)
    for path in ("dashboard", "dashboard.csv", "reports", "reports/2025-03"):
        assert browser.get(f"/firms/{tenant.id}/{path}").status_code == api.status_code == 403
    assert browser.get(f"/firms/{tenant.id}/").status_code == 200  # the firm's facts, no redirect


# --- the monthly report ----------------------------------------------------------------------


def test_the_monthly_report_shows_the_month_day_by_day_ready_to_print(app, client, factory):
    tenant, queue = firm(app, factory)
    a_day_with_clocks(app, tenant, queue)
    browser = sign_in(app, factory.user("client_viewer", tenant).email)

    page = browser.get(f"/firms/{tenant.id}/reports/2025-03")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "data-print" in html and "print.css" in html
    assert html.count("<tr>") >= 31  # a row per day of March, and the headings
    api = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-01", "2025-04-01"),
        )
    )
    assert_tiles_equal_api(tiles_of(page), api["totals"])
    assert "dashboard.csv?from=2025-03-01&amp;to=2025-04-01&amp;granularity=day" in html


_QUEUE_ROW = re.compile(
    r'<tr data-queue="(?P<id>[^"]+)">\s*<th scope="row">(?P<name>[^<]*)</th>\s*'
    r'<td class="num">(?P<received>[^<]*)</td>'
)


def queue_rows_of(page) -> dict[str, tuple[str, str]]:
    """Each queue row of the monthly report: its name and the contacts it received."""
    html = page.get_data(as_text=True)
    return {m["id"]: (m["name"], m["received"]) for m in _QUEUE_ROW.finditer(html)}


def test_the_monthly_report_shows_each_queue_as_the_api_reports_it(app, client, factory):
    from app.reports import rollups

    tenant, queue = firm(app, factory)
    a_day_with_clocks(app, tenant, queue)
    back_office = queue_of(app, tenant, "Back office")
    at = t("2025-03-12T09:30:00+01:00")
    store(app, tenant, [contact(back_office, at, channel="email") for _ in range(12)])
    browser = sign_in(app, factory.user("client_viewer", tenant).email)
    caller = factory.caller("client_viewer", tenant)
    by_queue = span("2025-03-01", "2025-04-01", granularity="month", group_by="queue")

    api = body(sla(client, caller, tenant, **by_queue))
    expected = {row["group"]: (row["group_name"], str(row["received"])) for row in api["rows"]}
    before = browser.get(f"/firms/{tenant.id}/reports/2025-03")
    with app.app_context():
        rollups.refresh()  # the worker's pass: the page now reads the firm's roll-ups
        db.session.commit()
    after_pass = browser.get(f"/firms/{tenant.id}/reports/2025-03")

    assert expected[str(back_office)] == ("Back office", "12")
    assert len(expected) == 2
    assert queue_rows_of(before) == expected
    assert queue_rows_of(after_pass) == expected


def test_the_month_picker_lists_months_and_opens_a_typed_one(app, factory):
    tenant, _queue = firm(app, factory)
    browser = sign_in(app, factory.user("client_admin", tenant).email)

    picker = browser.get(f"/firms/{tenant.id}/reports")
    typed = browser.get(f"/firms/{tenant.id}/reports", query_string={"month": "2025-03"})
    wrong = browser.get(f"/firms/{tenant.id}/reports", query_string={"month": "March"})

    this_month = utcnow().astimezone(zone_of(tenant)).strftime("%Y-%m")
    assert f"/firms/{tenant.id}/reports/{this_month}" in picker.get_data(as_text=True)
    assert typed.headers["Location"] == f"/firms/{tenant.id}/reports/2025-03"
    assert wrong.status_code == 422 and 'id="e-month"' in wrong.get_data(as_text=True)
    assert browser.get(f"/firms/{tenant.id}/reports/2025-13").status_code == 404


# --- on SQLite (what `make run` serves) ------------------------------------------------------


def test_the_dashboard_renders_on_sqlite_too(sqlite_app):
    from tests.factories import Factory

    factory = Factory(sqlite_app)
    tenant, queue = firm(sqlite_app, factory)
    a_day_with_clocks(sqlite_app, tenant, queue)
    browser = sign_in(sqlite_app, factory.user("client_admin", tenant).email)

    page = dashboard(browser, tenant, **span("2025-03-10", "2025-03-11"))
    report = browser.get(f"/firms/{tenant.id}/reports/2025-03")

    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    tiles = tiles_of(page)
    assert tiles["service_level"][0] == "0.4286"
    assert tiles["breaches"][0] == "1"
    assert report.status_code == 200


def test_a_big_firms_dashboard_says_when_its_latest_changes_are_still_being_added(
    app, factory, monkeypatch
):
    from sqlalchemy import select

    from app.contacts.models import Contact
    from app.reports import rollups
    from tenants.scoping import tenant_scope

    tenant, queue = firm(app, factory)
    a_day_with_clocks(app, tenant, queue)
    with app.app_context():
        rollups.refresh()
    # As if the changed day held more contacts than a request sums.
    monkeypatch.setattr(rollups, "FRESH_CONTACTS", 0)
    with app.app_context(), tenant_scope(tenant.id):
        call = db.session.scalars(select(Contact).order_by(Contact.received_at)).first()
        call.csat = 5 if call.csat != 5 else 4
        db.session.commit()
    browser = sign_in(app, factory.user("client_viewer", tenant).email)
    catching_up = "Los últimos cambios aún se están sumando"  # the firm reads Spanish

    page = dashboard(browser, tenant, **span("2025-03-10", "2025-03-11"))
    assert catching_up in page.get_data(as_text=True)

    with app.app_context():
        rollups.refresh()
    page = dashboard(browser, tenant, **span("2025-03-10", "2025-03-11"))
    assert catching_up not in page.get_data(as_text=True)
