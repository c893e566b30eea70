"""What the browser stories share: signing in as a person does, the accessibility check with the
vendored axe-core, and the screenshots (the README's two among them)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests/vendor/axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
README_SCREENSHOTS = ROOT / "docs/screenshots"
# The README shows these pages; `SAVE_README_SCREENSHOTS=1` refreshes its pictures.
README_PICTURES = frozenset({"dashboard", "portfolio", "desk", "wallboard"})
# What fails a page: axe's two highest impacts (moderate and minor are reported by axe too).
FAILING_IMPACTS = frozenset({"serious", "critical"})


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Open the site and sign in through the form, as a person would."""
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in to Switchboard")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    # Back from the authorization server, wherever the role lands (in the firm's language).
    expect(page).not_to_have_url(re.compile(r"/oauth/|/signin"))
    page.wait_for_load_state()  # its scripts wired up, as they are by the time a person acts


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Signed out")).to_be_visible()


def _axe_loaded(page: Page) -> None:
    # Evaluated through the DevTools protocol, as a test tool runs: the page's CSP (no inline
    # script) stays as strict as it is for people; an injected <script> tag would be refused.
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))


def accessibility_violations(page: Page) -> list[dict]:
    """axe-core's violations on the page as it is now (WCAG 2.x A and AA, best practices)."""
    _axe_loaded(page)
    return page.evaluate(
        """async () => {
            const result = await window.axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
            }));
        }"""
    )


def assert_accessible(page: Page) -> None:
    """Fail on any serious or critical accessibility violation, listing each."""
    failing = [v for v in accessibility_violations(page) if v["impact"] in FAILING_IMPACTS]
    assert not failing, f"accessibility violations on {page.url}:\n" + "\n".join(
        f"- {v['impact']} {v['id']}: {v['help']} at {', '.join(v['targets'])}" for v in failing
    )


def screenshot(page: Page, name: str) -> Path:
    """A full-page picture in tests/browser/screenshots/ (and the README's, when asked)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{_slug(name)}.png"
    page.screenshot(path=str(path), full_page=True)
    if name in README_PICTURES and os.environ.get("SAVE_README_SCREENSHOTS") == "1":
        # A wide desk screen, so that the portfolio's every column fits the picture.
        README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        viewport = page.viewport_size
        page.set_viewport_size({"width": 1440, "height": 900})
        # Charts redraw for the new width on a later frame; until then they overflow it.
        page.wait_for_function("() => document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(README_SCREENSHOTS / f"{name}.png"), full_page=True)
        page.set_viewport_size(viewport)
    return path


def checked(page: Page, name: str) -> None:
    """End of a story: the page it ends on is accessible, and its picture is taken."""
    assert_accessible(page)
    screenshot(page, name)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
