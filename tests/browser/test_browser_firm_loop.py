"""The firm's side of the loop in a browser (issue 17): a department answers an escalation from
its mail's single-use link without an account, in the firm's language; a client admin reads and
downloads the firm's audit log while the BPO admin's log shows every firm; a client admin
exports and erases one end customer's data, and the contact keeps its figures."""

# ruff: noqa: F811 (the fixtures are imported, then asked for by name)
from __future__ import annotations

import csv
import io
import json
import re

from playwright.sync_api import expect

from app.contacts.models import Contact, Department
from app.db import db
from tenants.scoping import tenant_scope
from tests.browser.helpers import checked, sign_in
from tests.browser.test_browser_desk_and_wallboard import _agent_of, _post_contact
from tests.mail_server import inbox, link_in, text_of  # noqa: F401
from tests.test_audit_api import entry
from tests.test_data_rights import ANA, firm  # noqa: F401
from tests.test_department_round_trip import (
    ANSWER_PATH,
    DEPARTMENT_MAIL,
    _desk,
    escalated,
    mail_departments,
    path_of,
)
from tests.test_reports_sla import firm as a_firm

LIVE = 2_000  # ms: the desk updates within 2 s of a change (issue 16)


def _fresh(browser, live_server, locale: str = "en-GB"):
    """A browser profile with no cookies at all: the department person has no account."""
    return browser.new_context(
        base_url=live_server, locale=locale, viewport={"width": 1280, "height": 800}
    )


# --- (a) the department's round trip ---------------------------------------------------------


def test_a_department_answers_an_escalation_from_its_mail_and_the_agent_gets_it_back(
    browser, live_server, page, app, client, factory, inbox
):
    acme, queue = a_firm(app, factory, name="Acme Logistics", locale="en-GB")
    with app.app_context(), tenant_scope(acme.id):
        db.session.add(Department(name="Finance", kind="finance", email=DEPARTMENT_MAIL))
        db.session.commit()
    agent = _agent_of(client, factory, queue, "Dana Desk")
    integration = factory.caller("integration", acme)

    desk = page
    sign_in(desk, agent["email"])
    desk.get_by_role("button", name="Available").click()
    expect(desk.locator("[data-presence]")).to_have_attribute("data-presence", "available")
    _post_contact(live_server, integration, acme, queue, "Charged twice in March")
    expect(desk.locator("td.waiting").first).to_have_text("1", timeout=LIVE)
    desk.keyboard.press("n")
    expect(desk.get_by_role("heading", name="Charged twice in March")).to_be_visible()
    desk.get_by_label("Reply to the customer").fill("We are checking with Finance.")
    desk.get_by_role("button", name="Send reply").click()
    expect(desk.locator(".thread")).to_contain_text("We are checking with Finance.")
    desk.locator("summary[data-key=e]").click()
    desk.get_by_label("Department", exact=True).select_option(label="Finance")
    desk.get_by_label("What the department must do").fill("Refund the second charge, please.")
    desk.get_by_role("button", name="Escalate", exact=True).click()
    expect(desk.locator(".ws-state")).to_contain_text("Escalated")

    assert mail_departments(app)["sent"] == 1
    mail = inbox.last_to(DEPARTMENT_MAIL)
    assert "Refund the second charge" in text_of(mail)
    link = path_of(link_in(mail, ANSWER_PATH))

    department = _fresh(browser, live_server)
    try:
        answer = department.new_page()
        answer.goto(link)
        expect(answer.get_by_role("heading", level=1)).to_have_text(
            "A contact escalated to Finance"
        )
        summary = answer.locator("dl.summary")
        expect(summary).to_contain_text("Charged twice in March")
        expect(summary).to_contain_text("Lucía Pérez")
        expect(summary).to_contain_text("Refund the second charge, please.")
        expect(summary).not_to_contain_text("lucia@example.test")

        # Nothing typed: the error stands beside the answer's field, and nothing is sent.
        answer.get_by_label("Done", exact=True).check()
        answer.get_by_role("button", name="Send the answer").click()
        field = answer.get_by_label("Your answer")
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(answer.locator("#e-body")).to_have_text("Write your answer.")
        assert field.get_attribute("aria-describedby").split()[-1] == "e-body"
        checked(answer, "department answer empty")

        field.fill("Refunded today: 42.00 EUR.")
        answer.get_by_label("Done", exact=True).check()
        answer.get_by_role("button", name="Send the answer").click()
        expect(answer.get_by_role("heading", level=1)).to_have_text(
            "Thank you: your answer was sent"
        )
        checked(answer, "department answered")

        # The agent's desk: the answer in the thread, the contact active again in their hands.
        thread = desk.locator(".thread")
        try:
            expect(thread).to_contain_text("Refunded today: 42.00 EUR.", timeout=LIVE)
        except AssertionError:
            desk.reload()
        # Set apart from the agents' internal notes: a department's own kind of message.
        answered = thread.locator("article.message").last
        expect(answered).to_contain_text("Answer from Finance")
        expect(answered).to_have_class(re.compile(r"\bdepartment\b"))
        expect(thread).to_contain_text("Refunded today: 42.00 EUR.")
        expect(desk.locator(".ws-state")).to_contain_text("Active")
        checked(desk, "desk department answer")

        # The link is spent: opened again, it says so plainly.
        answer.goto(link)
        expect(answer.get_by_role("heading", level=1)).to_have_text("This link cannot be used")
        expect(answer.get_by_role("alert")).to_contain_text("already answered")
        checked(answer, "department link spent")
    finally:
        department.close()


def test_a_spanish_firms_department_reads_and_answers_in_spanish(
    browser, live_server, app, client, factory, inbox
):
    desk = _desk(app, client, factory)  # a firm of Madrid, in es-ES
    escalated(client, desk, note="Confirmad el reembolso de la factura de marzo.")
    mail_departments(app)
    link = path_of(link_in(inbox.last_to(DEPARTMENT_MAIL), ANSWER_PATH))

    department = _fresh(browser, live_server, locale="es-ES")
    try:
        answer = department.new_page()
        answer.goto(link)
        expect(answer.locator("html")).to_have_attribute("lang", "es")
        expect(answer.get_by_role("heading", level=1)).to_contain_text("Finance")
        expect(answer.locator("dl.summary")).to_contain_text("Confirmad el reembolso")
        answer.get_by_role("button", name=re.compile("Enviar")).click()
        # Said in the firm's language, as the choices on the page name them.
        expect(answer.locator("#e-body")).to_have_text("Escribid vuestra respuesta.")
        expect(answer.locator("#e-outcome")).to_have_text(
            "Elegid si está hecho o si hace falta algo más."
        )
        checked(answer, "department answer spanish errors")

        answer.get_by_label("Vuestra respuesta").fill("¿Qué factura? Hay dos en marzo.")
        answer.locator("input[name=outcome][value=needs_more]").check()
        answer.get_by_role("button", name=re.compile("Enviar")).click()
        expect(answer.get_by_role("status")).to_be_visible()
        checked(answer, "department answered spanish")
        answer.goto(link)
        expect(answer.get_by_role("alert")).to_be_visible()
        assert "already" not in answer.locator("main").inner_text()
    finally:
        department.close()


# --- (b) the audit log, the firm's and the BPO's ---------------------------------------------


def test_a_client_admin_filters_the_firms_audit_log_and_the_bpo_admin_sees_every_firm(
    browser, live_server, page, app, factory
):
    acme = factory.tenant(name="Acme Logistics", locale="en-GB")
    other = factory.tenant(name="Borealis Energy", locale="en-GB")
    entry(app, at_minute=1, tenant=acme, action="queue.created", target_id="acme-queue")
    entry(app, at_minute=2, tenant=acme, action="department.created", target_id="acme-dept")
    entry(app, at_minute=3, tenant=other, action="queue.created", target_id="borealis-queue")

    sign_in(page, factory.user("client_admin", acme).email)
    page.goto(f"/firms/{acme.id}/audit")
    log = page.locator("#audit-log")
    expect(log).to_contain_text("acme-queue")
    expect(log).to_contain_text("acme-dept")
    expect(log).not_to_contain_text("borealis-queue")
    page.get_by_label("Action").fill("queue.created")
    page.get_by_role("button", name="Filter").click()
    expect(log).not_to_contain_text("acme-dept")
    expect(log).to_contain_text("acme-queue")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download these entries (CSV)").click()
    saved = download.value.path()
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [r["target_id"] for r in rows] == ["acme-queue"]
    checked(page, "portal audit log")

    bpo = _fresh(browser, live_server)
    try:
        console = bpo.new_page()
        sign_in(console, factory.user("bpo_admin").email)
        console.goto("/console/audit")
        expect(console.locator("#audit-log")).to_contain_text("borealis-queue")
        expect(console.locator("#audit-log")).to_contain_text("Borealis Energy")
        checked(console, "console audit log")
    finally:
        bpo.close()


# --- (c) one end customer's data, exported and erased ---------------------------------------


def test_a_client_admin_exports_then_erases_an_end_customer_and_the_figures_stay(
    page, app, factory, firm
):
    sign_in(page, factory.user("client_admin", firm.tenant).email)
    page.goto(f"/firms/{firm.tenant.id}/customers")
    # The firm writes in Spanish (es-ES): its page is in Spanish.
    page.locator("select[name=kind]").select_option("email")
    page.locator("input[name=value]").fill(ANA)
    with page.expect_download() as download:
        page.locator("button[formaction$='/customers/export']").click()
    exported = json.loads(download.value.path().read_text(encoding="utf-8"))
    assert exported["counts"]["contacts"] == len(firm.ana)
    assert {c["customer_email"] for c in exported["contacts"]} == {ANA}

    # Erasing without the box ticked: the error beside the box, nothing erased.
    page.locator("button[formaction$='/customers/erase']").click()
    expect(page.locator("#e-confirm")).to_be_visible()
    checked(page, "portal customers confirm")
    page.locator("input[name=confirm]").check()
    page.locator("button[formaction$='/customers/erase']").click()
    expect(page.locator(".flash-ok")).to_contain_text(str(len(firm.ana)))
    checked(page, "portal customers erased")

    with app.app_context(), tenant_scope(firm.tenant.id):
        kept = db.session.get(Contact, firm.ana[0])
        assert (kept.customer_email, kept.customer_name) == (None, None)
    page.goto(f"/firms/{firm.tenant.id}/contacts/{firm.ana[0]}")
    details = page.locator("dl.facts")
    expect(details).not_to_contain_text("Ana")
    expect(details).not_to_contain_text(ANA)
    expect(details).to_contain_text("5 / 5")  # the satisfaction figure stays
    # Its thread says what became of the words: erased, not an empty box.
    for message in page.locator(".thread article.message").all():
        expect(message).to_contain_text("Borrado con los datos personales del cliente final.")
    checked(page, "portal contact erased")
