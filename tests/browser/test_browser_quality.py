"""Quality in Chromium: a supervisor scores a contact beside its thread (a missed question shown
beside it, then the score), the agent disputes it from the desk's list, and the firm's client
admin calibrates the review blind and reads the gap per question; each page checked with
axe-core and pictured."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.helpers import assert_accessible, screenshot, sign_in, sign_out
from tests.test_quality_api import _floor, handled, scorecard

ANSWERS = {"named": "yes", "tone": "3", "verified": "yes", "offered": "na", "clear": "2"}


def _answer(page: Page, answers: dict) -> None:
    for key, value in answers.items():
        page.locator(f'input[name="answer.{key}"][value="{value}"]').check()


def test_a_supervisor_scores_the_agent_disputes_and_the_firm_calibrates_blind(
    page, app, client, factory
):
    floor = _floor(app, client, factory, locale="en-GB", name="Acme Retail")
    scorecard(client, floor)
    contact = handled(client, floor, subject="Charged twice in March")
    supervisor = factory.user("supervisor", floor.tenant)

    # The supervisor sends the contact to review from its page, claims it and scores it.
    sign_in(page, supervisor.email)
    page.goto(f"/firms/{floor.tenant.id}/contacts/{contact['id']}")
    page.get_by_role("button", name="Review its quality").click()
    expect(page.get_by_role("heading", name=re.compile("Calls"))).to_be_visible()
    page.get_by_role("button", name="Claim and score").click()
    expect(page.get_by_text("Charged twice in March").first).to_be_visible()
    _answer(page, {k: v for k, v in ANSWERS.items() if k != "tone"})
    page.get_by_role("button", name="Submit the evaluation").click()
    expect(page.locator("#e-answer-tone")).to_have_text("Answer this question.")
    assert_accessible(page)
    screenshot(page, "quality-scoring-error")
    _answer(page, {"tone": "3"})
    page.get_by_label("Overall comment").fill("Clear, kind, verified the order.")
    page.get_by_role("button", name="Submit the evaluation").click()
    expect(page.locator(".score")).to_have_text(re.compile(r"87[.,]0\s?%"))
    assert_accessible(page)
    screenshot(page, "quality-scored")
    sign_out(page)

    # The agent finds it on the desk's list and disputes it.
    sign_in(page, floor.agent["email"])
    page.get_by_role("link", name="My evaluations").click()
    page.locator("#my-evaluations a").first.click()
    page.get_by_label("Dispute this evaluation: why?").fill("I gave my name at 0:04.")
    page.get_by_role("button", name="Send the dispute").click()
    expect(page.get_by_text("I gave my name at 0:04.")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "quality-disputed")
    sign_out(page)

    # The firm's client admin calibrates blind, then reads both scores side by side.
    sign_in(page, factory.user("client_admin", floor.tenant).email)
    page.goto(f"/firms/{floor.tenant.id}/quality/calibration")
    expect(page.locator("#calibration-list")).not_to_contain_text("87")
    assert_accessible(page)
    page.get_by_role("button", name="Calibrate blind").click()
    expect(page.get_by_text("You score blind")).to_be_visible()
    _answer(page, {**ANSWERS, "tone": "5"})
    page.get_by_role("button", name="Submit the evaluation").click()
    expect(page.locator(".score")).to_have_text(re.compile(r"93[.,]0\s?%"))
    page.goto(f"/firms/{floor.tenant.id}/quality?purpose=review")
    page.locator("#evaluations-list a").first.click()
    gap = page.locator("#calibration-gap")
    expect(gap).to_be_visible()
    expect(gap.get_by_role("row", name=re.compile("Tone"))).to_contain_text("40")
    assert_accessible(page)
    screenshot(page, "quality-calibration-gap")

    # The firm's quality report: its one current review, scored 87 %.
    page.goto(f"/firms/{floor.tenant.id}/quality")
    page.get_by_role("link", name="Report", exact=True).click()
    expect(page.locator("#quality-agents")).to_contain_text("Agent")
    assert_accessible(page)
    screenshot(page, "quality-report")
