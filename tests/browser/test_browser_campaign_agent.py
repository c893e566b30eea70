"""An agent's campaign shift in Chromium: Next brings a campaign's customer with the script
filled in, the agent answers and records "Sold"; Next again brings the next customer, who asks
to be called back: a time outside their window is refused beside the field (with the next
opening), a time inside it is kept. The records' states are read from the database after."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect
from sqlalchemy import select

from app.campaigns.models import CampaignRecord
from app.db import db, utcnow
from tenants.scoping import tenant_scope
from tests.browser.helpers import checked, screenshot, sign_in
from tests.campaign_helpers import running_campaign, uid

SCRIPT = "Hello {name}, this is Acme Fibre about your {plan} plan.\nMay I offer you the upgrade?"


def _records(app, tenant, campaign) -> list[CampaignRecord]:
    with app.app_context(), tenant_scope(tenant.id):
        return list(
            db.session.scalars(
                select(CampaignRecord)
                .where(CampaignRecord.campaign_id == uid(campaign["id"]))
                .order_by(CampaignRecord.name)
            )
        )


def test_an_agent_sells_to_one_customer_and_promises_another_a_call_back(
    page, app, client, factory
):
    tenant = factory.tenant(name="Acme Fibre", locale="en-GB")
    campaign, _queue, agent, _caller, _admin = running_campaign(
        client, factory, tenant, records=2, script=SCRIPT, name="Fibre upgrade"
    )
    zone = ZoneInfo(_records(app, tenant, campaign)[0].time_zone)

    sign_in(page, agent["email"])
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Campaign call: Fibre upgrade")).to_be_visible()
    script = page.locator("#attempt-script")
    expect(script).to_contain_text(re.compile(r"Hello Customer \d, this is Acme Fibre"))
    expect(script).to_contain_text("about your fibre plan.")
    first = page.locator(".attempt-customer").inner_text()
    checked(page, "campaign attempt")

    page.get_by_role("button", name="Answer").click()
    expect(page.locator(".ws-state")).to_contain_text("Active")
    # The disposition's key: its first choice takes the focus. The live view may re-render
    # the workspace just after the answer (and take the focus with it): press again then.
    sold = page.get_by_label("Sold", exact=True)
    for _ in range(5):
        page.keyboard.press("d")
        if sold.evaluate("element => element === document.activeElement"):
            break
        page.wait_for_timeout(200)
    expect(sold).to_be_focused()
    page.get_by_label("Sold", exact=True).check()
    page.get_by_label("Note", exact=True).fill("Upgraded to 1 Gb.")
    page.get_by_role("button", name="Record the disposition").click()
    expect(page.get_by_text("Disposition recorded.")).to_be_visible()
    expect(page.locator("[data-presence]")).to_have_attribute("data-presence", "after_contact_work")

    # The next customer wants a call tomorrow: 22:30 their time is past their window.
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Campaign call: Fibre upgrade")).to_be_visible()
    expect(page.locator(".attempt-customer")).not_to_have_text(first)
    tomorrow = (utcnow().astimezone(zone) + timedelta(days=1)).date().isoformat()
    page.get_by_label("Call back", exact=True).check()
    page.get_by_label("Note", exact=True).fill("Busy now, call tomorrow.")
    when = page.get_by_label("Call back at (optional)")
    when.fill(f"{tomorrow}T22:30")
    page.get_by_role("button", name="Record the disposition").click()
    error = page.locator("#disposition-callback_at-error")
    expect(error).to_contain_text("Outside the customer's calling window. The next opening is")
    expect(error).to_contain_text("08:00")
    expect(page.get_by_label("Note", exact=True)).to_have_value("Busy now, call tomorrow.")
    expect(page.get_by_label("Call back", exact=True)).to_be_checked()
    checked(page, "campaign call-back refused")

    when.fill(f"{tomorrow}T10:15")
    page.get_by_role("button", name="Record the disposition").click()
    expect(page.get_by_text("Disposition recorded.")).to_be_visible()
    screenshot(page, "campaign desk after")

    sold, called_back = sorted(
        _records(app, tenant, campaign), key=lambda r: r.last_disposition != "sold"
    )
    assert (sold.state, sold.last_disposition, sold.attempts) == ("done", "sold", 1)
    assert sold.succeeded_at is not None
    assert (called_back.state, called_back.last_disposition) == ("pending", "call_back")
    assert called_back.callback_at.astimezone(zone).strftime("%H:%M") == "10:15"
    assert str(called_back.callback_agent_id) == agent["id"]
