"""Stories of a client firm's records in the portal: its contacts with their history, the
complaints register, its agents' figures and its invoices."""

from __future__ import annotations

import csv
import io
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
