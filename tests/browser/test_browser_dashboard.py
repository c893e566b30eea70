"""A client admin's morning with the SLA dashboard, in Chromium: the month's tiles are the API's
figures, a new range redraws them, and the CSV downloaded is the API's CSV for the same question."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect

from app.db import utcnow
from app.reports import rollups
from app.reports.periods import zone_of
from tests.browser.helpers import checked, sign_in
from tests.browser.seeds import a_month_of_contacts, last_month
from tests.test_reports_sla import after, body, contact, firm, queue_of, sla, store

# Tiles by the label a person reads, and where the API's totals carry the same figure.
TILES = {
    "Service level": lambda totals: totals["service_level"],
    "Average speed of answer": lambda totals: totals["asa_seconds"],
    "Abandonment": lambda totals: totals["abandonment_rate"],
    "Breaches": lambda totals: totals["breaches"],
}


def this_month(tenant):
    """An instant of this local month in the firm's zone, not in the future."""
    now = utcnow()
    first = now.astimezone(zone_of(tenant)).replace(day=1, hour=0, minute=0, second=0)
    return max(first, now - timedelta(minutes=5))


def assert_tiles_show(page, totals: dict) -> None:
    tiles = page.get_by_role("list").filter(has_text="Service level").get_by_role("listitem")
    for label, figure in TILES.items():
        value = figure(totals)
        tile = tiles.filter(has=page.get_by_text(label, exact=True))
        expect(tile).to_have_attribute("data-raw", "" if value is None else str(value))


def charts_drawn(page) -> None:
    """Wait until every chart on the page is drawn (Chart.js has taken its canvas)."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('canvas[data-chart]')]"
        ".every(canvas => window.Chart && window.Chart.getChart(canvas))"
    )


def test_client_admin_reads_the_dashboard_changes_the_range_and_downloads_the_csv(
    page, app, client, factory
):
    tenant, queue = firm(app, factory, name="Acme Logistics", locale="en-GB")
    at = this_month(tenant)
    store(
        app,
        tenant,
        [
            contact(queue, at, answered_at=after(at, 10)),
            contact(queue, at, answered_at=after(at, 40)),
            contact(queue, at, status="abandoned", abandoned_at=after(at, 30)),
        ],
    )
    first, end = last_month(tenant)
    a_month_of_contacts(app, tenant, queue, first, end)
    api_caller = factory.caller("client_admin", tenant)
    admin = factory.user("client_admin", tenant)

    sign_in(page, admin.email)

    expect(page.get_by_role("heading", name="SLA dashboard")).to_be_visible()
    this_months = body(sla(client, api_caller, tenant))["totals"]
    assert this_months["offered"] == 3
    assert_tiles_show(page, this_months)
    charts_drawn(page)

    page.get_by_label("From", exact=True).fill(first.date().isoformat())
    page.get_by_label("To (exclusive)").fill(end.date().isoformat())
    page.get_by_label("By", exact=True).select_option("day")
    page.get_by_role("button", name="Show").click()

    expect(page).to_have_url(re.compile(rf"from={first.date().isoformat()}"))
    question = {
        "from": first.date().isoformat(),
        "to": end.date().isoformat(),
        "granularity": "day",
    }
    last_months = body(sla(client, api_caller, tenant, **question))["totals"]
    assert last_months["offered"] > 100 and last_months["breaches"] > 0
    assert_tiles_show(page, last_months)
    charts_drawn(page)
    checked(page, "dashboard")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    downloaded = download.value.path().read_bytes().decode()
    api_csv = sla(client, api_caller, tenant, headers={"Accept": "text/csv"}, **question)
    assert downloaded == api_csv.get_data(as_text=True)
    assert download.value.suggested_filename.endswith(".csv")


def test_client_admin_opens_last_months_report_and_reads_it_queue_by_queue(
    page, app, client, factory
):
    tenant, queue = firm(app, factory, name="Acme Logistics", locale="en-GB")
    back_office = queue_of(app, tenant, "Back office")
    first, end = last_month(tenant)
    a_month_of_contacts(app, tenant, queue, first, end)
    a_month_of_contacts(app, tenant, back_office, first, end, shift=11)
    with app.app_context():
        rollups.refresh()  # the worker has been by: the month reads the firm's roll-ups
    admin = factory.user("client_admin", tenant)

    sign_in(page, admin.email)
    page.get_by_role("link", name="Monthly report").click()
    page.get_by_role("link", name=f"{first:%B %Y}").click()

    expect(page.get_by_role("heading", name="Queue by queue")).to_be_visible()
    table = page.get_by_role("table", name="Queue by queue")
    by_queue = body(
        sla(
            client,
            factory.caller("client_admin", tenant),
            tenant,
            **{"from": first.date().isoformat(), "to": end.date().isoformat()},
            granularity="month",
            group_by="queue",
        )
    )["rows"]
    assert {row["group_name"] for row in by_queue} == {"Line", "Back office"}
    for row in by_queue:
        line = table.get_by_role("row").filter(
            has=page.get_by_role("rowheader", name=row["group_name"])
        )
        expect(line.get_by_role("cell").first).to_have_text(f"{row['received']:,}")
    charts_drawn(page)
    checked(page, "monthly report")
