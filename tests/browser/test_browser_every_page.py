"""Every page a role's menu opens, visited in Chromium and checked with axe-core: a new page gets
checked as soon as it has a menu entry."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import assert_accessible, screenshot, sign_in

# Who signs in, and on which firm for the roles a firm gives.
ROLES = ("client_admin", "client_viewer", "bpo_admin", "supervisor")


@pytest.mark.parametrize("role", ROLES)
def test_every_page_in_the_menu_opens_and_is_accessible(page, factory, role):
    firm = factory.tenant(name="Acme Logistics", locale="en-GB")
    factory.tenant(name="Borealis Energy", locale="en-GB")
    person = factory.user(role, None if role == "bpo_admin" else firm)
    sign_in(page, person.email)
    starts = [page.url]
    firm_link = page.get_by_role("main").get_by_role("link", name="Acme Logistics")
    if firm_link.count():
        # From the console's portfolio, a firm's pages and their menu.
        firm_link.first.click()
        expect(page.get_by_role("main")).to_contain_text("Acme Logistics")
        starts.append(page.url)

    visited: dict[str, str] = {}
    for start in starts:
        page.goto(start)
        links = page.get_by_role("navigation", name="Main").get_by_role("link")
        targets = [(start, "firm" if start != starts[0] else "start")] + [
            (a.get_attribute("href"), a.inner_text()) for a in links.all()
        ]
        for href, label in targets:
            if href in visited:
                continue
            visited[href] = label
            answer = page.goto(href)
            assert answer.status == 200, (label, href, answer.status)
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            assert_accessible(page)
            screenshot(page, f"{role}-{label}")
