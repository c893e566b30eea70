"""Every page a role's menu opens, visited in Chromium and checked with axe-core: a new page gets
checked as soon as it has a menu entry."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

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

    visited: set[str] = set()
    for start in starts:
        page.goto(start)
        links = page.get_by_role("navigation", name="Main").get_by_role("link")
        targets = [(start, "firm" if start != starts[0] else "start")] + [
            (a.get_attribute("href"), a.inner_text()) for a in links.all()
        ]
        for href, label in targets:
            if _shape(href) in visited:
                continue
            visited.add(_shape(href))
            check_page(page, href, f"{role}-{label}")
            # The sections a menu page leads to (settings' users, webhooks...): one of each kind.
            for sub_href, sub_label in _sections(page, href):
                if _shape(sub_href) not in visited:
                    visited.add(_shape(sub_href))
                    check_page(page, sub_href, f"{role}-{label}-{sub_label}")
    assert visited


def check_page(page, href: str, name: str) -> None:
    answer = page.goto(href)
    assert answer.status == 200, (name, href, answer.status)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(page)
    screenshot(page, name)


def _sections(page, href: str) -> list[tuple[str, str]]:
    """Links in the page's main content to pages under it (not downloads, not queries)."""
    path = urlsplit(href).path.rstrip("/") + "/"
    found = []
    for link in page.get_by_role("main").get_by_role("link").all():
        target = link.get_attribute("href") or ""
        if target.startswith(path) and "?" not in target and "#" not in target:
            if not target.endswith((".csv", ".pdf")):
                found.append((target, link.inner_text()))
    return found


def _shape(href: str) -> str:
    """Pages of one kind (a month's report, each firm's settings) count once."""
    return re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+", "0", urlsplit(href).path)
