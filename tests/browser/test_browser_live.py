"""The pages' live client (app/web/static/live.js) in Chromium: a page with a `data-live-stream`
element hears a contact taken in through the API as a `live-contact` event within 2 s, and
polls instead when the server refuses the stream."""

from __future__ import annotations

import requests
from playwright.sync_api import expect

from app.live import hub_for
from tests.browser.helpers import sign_in
from tests.test_contacts_intake import contact_in, contacts_url, queue_of

# What a desk or wallboard page carries; added here to a page that has none yet.
_LISTEN = """() => {
  window.heard = [];
  document.body.addEventListener("live-contact", (e) => window.heard.push(e.detail));
  const element = document.createElement("p");
  element.setAttribute("data-live-stream", "/live");
  document.querySelector("main").append(element);
  window.Switchboard.live.scan();
}"""


def test_a_supervisors_page_hears_a_new_contact_within_2_seconds(page, factory, live_server):
    firm = factory.tenant(name="Acme Logistics", locale="en-GB")
    queue_id = queue_of(factory.app, firm)
    supervisor = factory.user("supervisor", firm)
    integration = factory.caller("integration", firm)
    sign_in(page, supervisor.email)
    page.evaluate(_LISTEN)
    expect(page.locator("[data-live-stream]")).to_have_attribute("data-live-state", "live")

    created = requests.post(
        live_server + contacts_url(firm),
        json=contact_in(queue_id=str(queue_id)),
        headers=integration.headers,
        timeout=10,
    )
    assert created.status_code == 201
    contact_id = created.json()["id"]
    page.wait_for_function(
        "(id) => window.heard.some((d) => d.contact_id === id)", arg=contact_id, timeout=2000
    )


def test_a_page_refused_a_stream_polls_every_few_seconds(page, factory, monkeypatch):
    firm = factory.tenant(name="Acme Logistics", locale="en-GB")
    viewer = factory.user("client_viewer", firm)
    sign_in(page, viewer.email)
    monkeypatch.setattr(hub_for(factory.app), "max_streams", 0)
    page.evaluate(_LISTEN)
    expect(page.locator("[data-live-stream]")).to_have_attribute("data-live-state", "polling")
    # Polling: every 3 s the page is told to refresh, as if a change had been announced.
    page.wait_for_function("() => window.heard.length >= 2", timeout=8000)
