"""The pages no menu lists: one contact, one invoice, one webhook and its log, a department, a
briefing, a firm's admin page, the forms to create, and the pages people reach signed out (the
forgotten password, a dead link, signed out, not found); each visited in Chromium and checked
with axe-core like the menu's pages."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.helpers import assert_accessible, screenshot, sign_in, sign_out
from tests.test_isolation import _firm


def test_a_firms_detail_pages_are_accessible(page, app, factory):
    firm = _firm(app, factory, "detail")
    sign_in(page, factory.user("bpo_admin").email)
    tenant = firm.tenant.id
    pages = {
        "contact": f"/firms/{tenant}/contacts/{firm.param('contact_id')}",
        "invoice": f"/firms/{tenant}/invoices/{firm.param('invoice_id')}",
        "invoice-preview": f"/firms/{tenant}/invoices/preview",
        "webhook": f"/firms/{tenant}/settings/webhooks/{firm.param('endpoint_id')}",
        "webhook-log": f"/firms/{tenant}/settings/webhooks/{firm.param('endpoint_id')}/deliveries",
        "department": f"/firms/{tenant}/settings/departments/{firm.param('department_id')}",
        "briefing": f"/firms/{tenant}/settings/briefings/{firm.param('briefing_id')}",
        "new-briefing": f"/firms/{tenant}/settings/briefings/new",
        "firm-admin": f"/console/firms/{tenant}",
        "new-agent": "/console/agents/new",
        "staff-invitations": "/console/invitations",
    }
    for name, path in pages.items():
        answer = page.goto(path)
        assert answer.status == 200, (name, path, answer.status)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert_accessible(page)
        screenshot(page, f"detail-{name}")


def test_the_pages_people_reach_signed_out_are_accessible(page, factory):
    firm = factory.tenant(locale="en-GB")
    sign_in(page, factory.user("client_admin", firm).email)
    sign_out(page)
    assert_accessible(page)
    for name, path, status in (
        ("forgot-password", "/forgot-password", 200),
        ("dead-link", "/invitations/not-a-real-link", 410),
        ("not-found", "/no/such/page", 404),
    ):
        answer = page.goto(path)
        assert answer.status == status, (name, answer.status)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert_accessible(page)
        screenshot(page, f"signed-out-{name}")
