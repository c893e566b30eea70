"""The floor in two browsers at once: a supervisor's wallboard and an agent's desk, both live.

A contact the firm's integration posts through the API shows on the wallboard and in the agent's
queue within 2 seconds, without a reload; the agent presses Next, replies, escalates to a
department, resumes and resolves, while the wallboard shows the agent busy, then in
after-contact work, then available. An agent of firm A alone never receives firm B's work on
its stream."""

from __future__ import annotations

import requests
from playwright.sync_api import expect

from app.contacts.models import Department
from app.db import db
from tenants.scoping import tenant_scope
from tests.browser.helpers import checked, sign_in
from tests.test_agents_api import agent_caller, assign, create_agent
from tests.test_reports_sla import firm

LIVE = 2_000  # ms: pages update within 2 s of a change (issue 16)


def _post_contact(live_server, caller, tenant, queue, subject):
    answer = requests.post(
        f"{live_server}/v1/tenants/{tenant.id}/contacts",
        json={
            "queue_id": str(queue),
            "channel": "email",
            "category": "complaint",
            "subject": subject,
            "body": "My parcel never arrived.",
            "customer": {"name": "Lucía Pérez", "email": "lucia@example.test"},
        },
        headers=caller.headers,
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _agent_of(client, factory, queue, name):
    admin = factory.caller("bpo_admin")
    agent = create_agent(
        client,
        admin,
        name=name,
        channels=["email"],
        concurrency={"email": 1},  # one e-mail at a time: busy while holding it
    )
    assign(client, admin, agent["id"], [queue])
    caller = agent_caller(factory, agent)
    client.put("/v1/me/active-queues", json={"queue_ids": [str(queue)]}, headers=caller.headers)
    return agent


def test_a_contact_goes_from_the_api_to_the_wallboard_and_the_desk_and_is_worked_through(
    browser, live_server, app, client, factory
):
    acme, acme_queue = firm(app, factory, name="Acme Logistics", locale="en-GB")
    borealis, borealis_queue = firm(app, factory, name="Borealis Energy", locale="en-GB")
    with app.app_context(), tenant_scope(acme.id):
        db.session.add(Department(name="Depot", kind="logistics", email="depot@acme.test"))
        db.session.commit()
    agent = _agent_of(client, factory, acme_queue, "Dana Desk")
    _agent_of(client, factory, borealis_queue, "Bo Rivera")
    supervisor = factory.user("supervisor", acme)
    acme_integration = factory.caller("integration", acme)
    borealis_integration = factory.caller("integration", borealis)

    board_context = browser.new_context(
        base_url=live_server, locale="en-GB", viewport={"width": 1440, "height": 900}
    )
    desk_context = browser.new_context(
        base_url=live_server, locale="en-GB", viewport={"width": 1280, "height": 800}
    )
    try:
        board = board_context.new_page()
        desk = desk_context.new_page()
        sign_in(board, supervisor.email)
        board.goto("/console/wallboard")
        sign_in(desk, agent["email"])
        expect(desk.get_by_role("heading", name="Desk", level=1)).to_be_visible()
        desk.get_by_role("button", name="Available").click()
        expect(desk.locator("[data-presence]")).to_have_attribute("data-presence", "available")
        expect(desk.locator("[data-live-stream]")).to_have_attribute("data-live-state", "live")
        expect(board.locator("[data-live-stream]")).to_have_attribute("data-live-state", "live")

        # The integration posts a contact: both pages show it within 2 s, with no reload.
        _post_contact(live_server, acme_integration, acme, acme_queue, "Parcel never arrived")
        acme_row = board.get_by_role("region", name="Acme Logistics").get_by_role("row").nth(1)
        expect(acme_row.locator("td").first).to_have_text("1", timeout=LIVE)
        expect(desk.locator("td.waiting").first).to_have_text("1", timeout=LIVE)
        agents = board.locator("table.wallboard-agents")

        # Next, from the keyboard: the workspace opens and the wallboard shows the agent busy.
        desk.keyboard.press("n")
        expect(desk.get_by_role("heading", name="Parcel never arrived")).to_be_visible()
        expect(agents.get_by_role("row", name="Dana Desk")).to_contain_text("Busy", timeout=LIVE)
        checked(desk, "desk")

        desk.get_by_label("Reply to the customer").fill("We are tracing your parcel today.")
        desk.get_by_role("button", name="Send reply").click()
        expect(desk.locator(".thread")).to_contain_text("We are tracing your parcel today.")

        desk.keyboard.press("e")
        desk.get_by_label("Department", exact=True).select_option(index=1)
        desk.get_by_label("What the department must do").fill("Check the depot's scans.")
        desk.get_by_role("button", name="Escalate", exact=True).click()
        expect(desk.locator(".ws-state")).to_contain_text("Escalated")
        desk.keyboard.press("u")  # resume
        expect(desk.locator(".ws-state")).to_contain_text("Active")

        desk.keyboard.press("s")
        desk.get_by_label("Disposition").fill("traced")
        desk.get_by_label("Resolution note").fill("Parcel found at the depot; delivered.")
        desk.get_by_role("button", name="Resolve", exact=True).click()
        expect(desk.locator("[data-presence]")).to_have_attribute(
            "data-presence", "after_contact_work"
        )
        expect(agents.get_by_role("row", name="Dana Desk")).to_contain_text(
            "After-contact work", timeout=LIVE
        )
        desk.get_by_role("button", name="Ready").click()
        expect(agents.get_by_role("row", name="Dana Desk")).to_contain_text(
            "Available", timeout=LIVE
        )
        checked(board, "wallboard")

        # Firm B's work never reaches firm A's agent: listen on the desk's own stream.
        desk.evaluate(
            """() => {
              window.heard = [];
              const source = new EventSource('/live');
              ['contact', 'agent'].forEach(name => source.addEventListener(
                name, event => window.heard.push(event.data)));
              window.heardSource = source;
            }"""
        )
        _post_contact(
            live_server, borealis_integration, borealis, borealis_queue, "Borealis meter reading"
        )
        _post_contact(live_server, acme_integration, acme, acme_queue, "Second Acme parcel")
        desk.wait_for_function(
            "(firm) => window.heard.some(data => data.includes(firm))",
            arg=str(acme.id),
            timeout=LIVE,
        )
        heard = desk.evaluate("() => { window.heardSource.close(); return window.heard; }")
        assert all(str(borealis.id) not in data for data in heard), heard
        assert str(acme.id) in " ".join(heard)
        expect(board.get_by_role("region", name="Borealis Energy")).to_have_count(0)
    finally:
        board_context.close()
        desk_context.close()
