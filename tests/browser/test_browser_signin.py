"""Stories of signing in, finding one's way and signing out, in Chromium."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.helpers import checked, sign_in, sign_out


def test_client_admin_signs_in_and_lands_on_their_firm(page, factory):
    firm = factory.tenant(name="Acme Logistics", locale="en-GB")
    admin = factory.user("client_admin", firm)
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in to Switchboard")).to_be_visible()
    checked(page, "sign-in")

    sign_in(page, admin.email)

    expect(page).to_have_url(re.compile(rf"/firms/{firm.id}/"))
    expect(page.get_by_role("main")).to_contain_text("Acme Logistics")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    checked(page, "firm-home")


def test_another_firms_pages_are_a_404(page, factory):
    mine = factory.tenant(name="Acme Logistics", locale="en-GB")
    theirs = factory.tenant(name="Borealis Energy", locale="en-GB")
    sign_in(page, factory.user("client_admin", mine).email)

    answer = page.goto(f"/firms/{theirs.id}/")

    assert answer.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("main")).not_to_contain_text("Borealis")
    checked(page, "not-found")


def test_client_viewer_cannot_reach_settings(page, factory):
    firm = factory.tenant(name="Acme Logistics", locale="en-GB")
    sign_in(page, factory.user("client_viewer", firm).email)
    menu = page.get_by_role("navigation", name="Main")
    expect(menu.get_by_role("link", name="Dashboard")).to_be_visible()

    expect(menu.get_by_role("link", name="Settings")).to_have_count(0)
    answer = page.goto(f"/firms/{firm.id}/settings/users")

    assert answer.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    checked(page, "forbidden")


def test_client_viewer_cannot_open_the_console(page, factory):
    firm = factory.tenant(name="Acme Logistics", locale="en-GB")
    sign_in(page, factory.user("client_viewer", firm).email)

    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("Portfolio")
    answer = page.goto("/console/")

    assert answer.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_switching_to_espanol_shows_the_page_in_spanish(page, factory):
    firm = factory.tenant(name="Acme Logistics", locale="en-GB")
    sign_in(page, factory.user("client_admin", firm).email)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.get_by_label("Language").select_option(label="Español")

    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.reload()
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()
    checked(page, "firm-home-es")


def test_a_spanish_firm_reads_in_spanish_until_the_person_chooses_english(page, factory):
    firm = factory.tenant(name="Cervecería Sol", locale="es-ES")
    sign_in(page, factory.user("client_viewer", firm).email)
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()

    page.get_by_label("Idioma").select_option(label="English")

    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_sign_out_ends_the_session(page, factory):
    firm = factory.tenant(name="Acme Logistics", locale="en-GB")
    sign_in(page, factory.user("client_admin", firm).email)
    firm_home = page.url

    sign_out(page)
    checked(page, "signed-out")

    page.go_back()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in to Switchboard")).to_be_visible()
    page.goto(firm_home)
    expect(page.get_by_role("heading", name="Sign in to Switchboard")).to_be_visible()
