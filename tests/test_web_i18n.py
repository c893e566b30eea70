"""Stories of the web app's words in the reader's language: the trade's vocabulary (channels,
statuses, priorities) shows as translated labels, never as the raw words the API stores."""

from __future__ import annotations

from tests.test_contacts_intake import create_contact, queue_of
from tests.web_helpers import sign_in


def _firm_with_a_call(app, factory, locale: str):
    tenant = factory.tenant(locale=locale)
    queue = queue_of(app, tenant, "General")
    integration = factory.caller("integration", tenant)
    create_contact(
        app.test_client(),
        integration,
        tenant,
        queue_id=str(queue),
        channel="voice",
        priority="urgent",
        category="information_request",
        subject="Opening hours",
    )
    return tenant


def test_a_spanish_firm_reads_its_channels_and_statuses_in_spanish(app, factory):
    tenant = _firm_with_a_call(app, factory, "es-ES")
    viewer = sign_in(app, factory.user("client_viewer", tenant).email)

    contacts = viewer.get(f"/firms/{tenant.id}/contacts").get_data(as_text=True)
    for word in ("Voz", "En cola", "Urgente", "Solicitud de información"):
        assert f"<td>{word}</td>" in contacts, word
    assert "<td>voice</td>" not in contacts and "<td>queued</td>" not in contacts

    dashboard = viewer.get(f"/firms/{tenant.id}/dashboard").get_data(as_text=True)
    assert ">Voz</option>" in dashboard and ">Día</option>" in dashboard
    assert ">voice</option>" not in dashboard


def test_an_english_reader_sees_the_english_labels(app, factory):
    tenant = _firm_with_a_call(app, factory, "en-GB")
    viewer = sign_in(app, factory.user("client_viewer", tenant).email)

    contacts = viewer.get(f"/firms/{tenant.id}/contacts").get_data(as_text=True)
    for word in ("Voice", "Queued", "Urgent", "Information request"):
        assert f"<td>{word}</td>" in contacts, word

    dashboard = viewer.get(f"/firms/{tenant.id}/dashboard").get_data(as_text=True)
    assert ">Voice</option>" in dashboard
