"""The browser harness catches what it is there to catch: a request to another host, a CSP
violation, an inaccessible page. Each check is provoked once, then cleared so the test passes."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser.helpers import accessibility_violations, assert_accessible, sign_in


def test_a_request_to_another_host_is_stopped_and_recorded(page, watch, factory):
    firm = factory.tenant(locale="en-GB")
    sign_in(page, factory.user("client_viewer", firm).email)

    # A navigation (the CSP's connect-src would refuse a fetch before it left the page).
    with pytest.raises(PlaywrightError):
        page.goto("http://elsewhere.example.test/page")

    assert watch.foreign == ["http://elsewhere.example.test/page"]
    watch.foreign.clear()


def test_an_inline_script_is_refused_by_the_csp_and_reported(page, watch, factory):
    firm = factory.tenant(locale="en-GB")
    sign_in(page, factory.user("client_viewer", firm).email)

    page.evaluate(
        """() => new Promise(resolve => {
            document.addEventListener("securitypolicyviolation", resolve, {once: true});
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.body.append(script);
        })"""
    )

    assert page.evaluate("() => window.injected") is None
    assert any("Content Security Policy" in error for error in watch.errors), watch.errors
    watch.errors.clear()


def test_axe_runs_under_the_apps_csp_and_finds_a_missing_label(page, factory):
    firm = factory.tenant(locale="en-GB")
    sign_in(page, factory.user("client_viewer", firm).email)
    assert_accessible(page)

    page.get_by_label("Language").evaluate("select => select.removeAttribute('id')")

    found = {v["id"]: v["impact"] for v in accessibility_violations(page)}
    assert found.get("select-name") == "critical", found
