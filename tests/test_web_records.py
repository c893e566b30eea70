"""Stories of a client firm's records in the portal: its contacts with their history, the
complaints register, its agents' figures and its invoices."""

from __future__ import annotations

import re

import pytest

from tests.test_contacts_intake import create_contact, queue_of
from tests.web_helpers import sign_in

_ROW_LINKS = re.compile(r'href="/firms/[0-9a-f-]+/contacts/([0-9a-f-]{36})"')


def linked_contacts(page) -> list[str]:
    return _ROW_LINKS.findall(page.get_data(as_text=True))


@pytest.fixture
def firm(app, factory):
    """A firm with two queues and three contacts taken in by its integration."""
    tenant = factory.tenant(name="Acme Logistics")
    general = queue_of(app, tenant, "General")
    claims = queue_of(app, tenant, "Claims desk")
    integration = factory.caller("integration", tenant)
    client = app.test_client()
    made = {
        "parcel": create_contact(
            client, integration, tenant, queue_id=str(general), subject="Parcel never arrived"
        ),
        "call": create_contact(
            client,
            integration,
            tenant,
            queue_id=str(general),
            channel="voice",
            category="information_request",
            subject="Opening hours",
        ),
        "fridge": create_contact(
            client,
            integration,
            tenant,
            queue_id=str(claims),
            channel="web",
            category="claim",
            priority="high",
            subject="Broken fridge",
            remedy_requested="Replace it",
        ),
    }
    return tenant, made


def test_a_client_viewer_lists_contacts_and_opens_one_with_its_history(app, factory, firm):
    tenant, made = firm
    viewer = sign_in(app, factory.user("client_viewer", tenant).email)

    page = viewer.get(f"/firms/{tenant.id}/contacts")

    assert page.status_code == 200
    assert set(linked_contacts(page)) == {c["id"] for c in made.values()}
    html = page.get_data(as_text=True)
    assert "Parcel never arrived" in html and "Broken fridge" in html

    opened = viewer.get(f"/firms/{tenant.id}/contacts/{made['fridge']['id']}")
    assert opened.status_code == 200
    html = opened.get_data(as_text=True)
    assert "Broken fridge" in html and "Replace it" in html and "Claims desk" in html
    assert 'class="timeline"' in html and "queued" in html


def test_filters_narrow_the_list_and_htmx_gets_only_the_fragment(app, factory, firm):
    tenant, made = firm
    viewer = sign_in(app, factory.user("client_viewer", tenant).email)

    claims = viewer.get(f"/firms/{tenant.id}/contacts?channel=web&category=claim&status=")
    assert linked_contacts(claims) == [made["fridge"]["id"]]
    assert 'value="web" selected' in claims.get_data(as_text=True)

    voice = viewer.get(f"/firms/{tenant.id}/contacts?channel=voice", headers={"HX-Request": "true"})
    assert voice.status_code == 200
    html = voice.get_data(as_text=True)
    assert "<html" not in html and 'hx-push-url="true"' in html
    assert linked_contacts(voice) == [made["call"]["id"]]

    # A date range in the firm's days: everything was taken in today.
    none_yet = viewer.get(f"/firms/{tenant.id}/contacts?created_to=2020-01-01")
    assert none_yet.status_code == 200 and linked_contacts(none_yet) == []
    since = viewer.get(f"/firms/{tenant.id}/contacts?created_from=2020-01-01")
    assert len(linked_contacts(since)) == 3


def test_the_list_pages_without_loading_everything(app, factory, firm, monkeypatch):
    from app.web.portal import contacts as page

    tenant, made = firm
    monkeypatch.setattr(page, "PAGE_SIZE", 2)
    viewer = sign_in(app, factory.user("client_viewer", tenant).email)

    first = viewer.get(f"/firms/{tenant.id}/contacts")
    second = viewer.get(f"/firms/{tenant.id}/contacts?page=2")

    assert len(linked_contacts(first)) == 2 and 'rel="next"' in first.get_data(as_text=True)
    assert len(linked_contacts(second)) == 1 and 'rel="next"' not in second.get_data(as_text=True)
    assert set(linked_contacts(first) + linked_contacts(second)) == {c["id"] for c in made.values()}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("created_from=2026-02-31", "created_from"),
        ("created_from=yesterday", "created_from"),
        ("created_from=2026-03-02&created_to=2026-03-01", "created_to"),
        ("queue_id=not-a-queue", "queue_id"),
    ],
)
def test_bad_filters_show_the_error_beside_the_field(app, factory, firm, query, field):
    tenant, _made = firm
    viewer = sign_in(app, factory.user("client_viewer", tenant).email)

    page = viewer.get(f"/firms/{tenant.id}/contacts?{query}")

    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert f'id="e-{field}"' in html
    assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', html, re.S)
    assert linked_contacts(page) == []


def test_another_firms_contact_is_not_found_and_never_listed(app, factory, firm):
    tenant, _made = firm
    other = factory.tenant(name="Other Firm")
    other_queue = queue_of(app, other, "Theirs")
    theirs = create_contact(
        app.test_client(),
        factory.caller("integration", other),
        other,
        queue_id=str(other_queue),
        subject="Secret of the other firm",
    )
    admin = sign_in(app, factory.user("client_admin", tenant).email)

    assert admin.get(f"/firms/{tenant.id}/contacts/{theirs['id']}").status_code == 404
    listed = admin.get(f"/firms/{tenant.id}/contacts")
    assert theirs["id"] not in linked_contacts(listed)
    assert "Secret of the other firm" not in listed.get_data(as_text=True)
    refused = admin.get(f"/firms/{other.id}/contacts")
    assert refused.status_code == 404
    assert "Secret" not in refused.get_data(as_text=True)
