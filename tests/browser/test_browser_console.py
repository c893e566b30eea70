"""The BPO's console in Chromium: the portfolio side by side, and onboarding a firm through the
step-by-step form, a mistake shown beside its field, the firm then in the portfolio."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.helpers import checked, sign_in
from tests.browser.seeds import a_month_of_contacts, this_month_so_far
from tests.test_reports_sla import firm


def test_bpo_admin_reads_the_portfolio_sorts_it_and_opens_a_firm(page, app, factory):
    acme, acme_queue = firm(app, factory, name="Acme Logistics", locale="en-GB")
    borealis, borealis_queue = firm(app, factory, name="Borealis Energy", locale="en-GB")
    first, today = this_month_so_far(acme)
    a_month_of_contacts(app, acme, acme_queue, first, today)
    a_month_of_contacts(app, borealis, borealis_queue, first, today, shift=11)
    sign_in(page, factory.user("bpo_admin").email)

    expect(page.get_by_role("heading", name="Portfolio", level=1)).to_be_visible()
    firms = page.get_by_role("table", name="Client firms")
    expect(firms.get_by_role("rowheader")).to_have_text(["Acme Logistics", "Borealis Energy"])
    firms.get_by_role("link", name="Firm").click()  # sorted by name: a click reverses it
    expect(firms.get_by_role("rowheader")).to_have_text(["Borealis Energy", "Acme Logistics"])
    checked(page, "portfolio")

    firms.get_by_role("link", name="Borealis Energy").click()
    expect(page.get_by_role("heading", name="SLA dashboard")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("Borealis Energy")


def test_bpo_admin_onboards_a_firm_through_the_form_and_sees_it_in_the_portfolio(page, factory):
    factory.tenant(name="Acme Logistics", locale="en-GB")
    sign_in(page, factory.user("bpo_admin").email)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Onboard a firm").click()
    profile = page.get_by_role("group", name="Profile")
    profile.get_by_label("Name").fill("Cervecería Sol")
    profile.get_by_label("Slug").fill("Cervecería Sol!")  # not a slug: said beside the field
    profile.get_by_label("Time zone").fill("Europe/Madrid")
    profile.get_by_label("Locale").fill("es-ES")
    profile.get_by_label("Currency").fill("EUR")
    page.get_by_role("heading", name="SLA targets").click()
    page.get_by_label("Policy name").fill("Standard")
    page.get_by_role("heading", name="Rate card").click()
    page.get_by_label("Price per handled contact").fill("150")
    page.get_by_role("button", name="Onboard the firm").click()

    slug = page.get_by_role("group", name="Profile").get_by_label("Slug")
    expect(slug).to_have_attribute("aria-invalid", "true")
    expect(slug).to_have_value("Cervecería Sol!")
    expect(page.get_by_role("group", name="Profile").get_by_label("Name")).to_have_value(
        "Cervecería Sol"
    )
    expect(page.get_by_label("Price per handled contact")).to_have_value("150")
    checked(page, "onboarding-errors")

    slug.fill("cerveceria-sol")
    page.get_by_role("button", name="Onboard the firm").click()

    expect(page.get_by_role("status").first).to_contain_text("Cervecería Sol is onboarded.")
    checked(page, "firm-admin")
    # The firm's pages speak its language (Spanish) to one who chose none; home is the portfolio.
    page.get_by_role("link", name="Switchboard").click()
    firms = page.get_by_role("table", name="Client firms")
    expect(firms.get_by_role("rowheader")).to_have_text(["Acme Logistics", "Cervecería Sol"])
