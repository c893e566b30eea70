"""An invitation from the firm's settings to a signed-in person, in Chromium: the admin invites,
the mail arrives at a real SMTP server in the test process, its link sets a password, and the
new person signs in with it."""

# ruff: noqa: F811 (the mail server fixture is imported, then asked for by name)
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.helpers import checked, sign_in, sign_out
from tests.mail_server import inbox, link_in  # noqa: F401

NEW_PASSWORD = "a brand new passphrase 42"


def test_an_invitation_emails_link_sets_a_password_and_signs_in(page, factory, inbox):
    firm = factory.tenant(name="Acme Logistics", locale="en-GB")
    sign_in(page, factory.user("client_admin", firm).email)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_role("main").get_by_role("link", name="Invitations").click()
    page.get_by_label("Email").fill("vera@acme.test")
    page.get_by_label("Name").fill("Vera Viewer")
    page.get_by_label("Role").select_option(label="Viewer")
    page.get_by_role("button", name="Send the invitation").click()

    expect(page.get_by_role("table", name="Invitations to the firm")).to_contain_text(
        "vera@acme.test"
    )
    link = link_in(inbox.last_to("vera@acme.test"), "/invitations/")
    sign_out(page)

    page.goto(link)
    expect(page.get_by_role("heading", name="Set your password")).to_be_visible()
    checked(page, "set-password")
    page.get_by_label(re.compile(r"^Password\W*$")).fill(NEW_PASSWORD)  # not "again"
    page.get_by_label("Password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set my password").click()
    expect(page.get_by_role("heading", name="Your password is set")).to_be_visible()

    page.get_by_role("main").get_by_role("link", name="Sign in").click()
    page.get_by_label("Email").fill("vera@acme.test")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()

    expect(page).to_have_url(re.compile(rf"/firms/{firm.id}/"))
    expect(page.get_by_role("heading", name="SLA dashboard")).to_be_visible()
    page.goto(link)
    expect(page.get_by_role("main")).to_contain_text("already used")
