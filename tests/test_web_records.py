"""Stories of a client firm's records in the portal: its contacts with their history, the
complaints register, its agents' figures and its invoices."""

from __future__ import annotations

import re

import pytest

from app.db import db
from billing import service as billing_service
from tenants import service as tenants_service
from tenants.scoping import tenant_scope
from tests.test_agents_api import assign, create_agent
from tests.test_billing_invoices_api import handle, march
from tests.test_billing_rating import price_firm
from tests.test_contacts_intake import create_contact, queue_of
from tests.test_reports_registers import a_year_of_complaints
from tests.test_reports_sla import agent_profile, body, contact, csv_rows, store, t
from tests.test_reports_sla import firm as sla_firm
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
    # The firm speaks Spanish: the timeline names the status it reached in its words.
    assert 'class="timeline"' in html and "En cola" in html


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


def test_the_search_box_finds_contacts_by_words_and_shows_its_error_beside_it(app, factory, firm):
    tenant, made = firm
    viewer = sign_in(app, factory.user("client_viewer", tenant).email)

    found = viewer.get(f"/firms/{tenant.id}/contacts?q=fridge")
    assert found.status_code == 200
    assert linked_contacts(found) == [made["fridge"]["id"]]
    assert 'value="fridge"' in found.get_data(as_text=True)
    # Search and filters combine.
    none = viewer.get(f"/firms/{tenant.id}/contacts?q=fridge&channel=voice")
    assert linked_contacts(none) == []

    too_long = viewer.get(f"/firms/{tenant.id}/contacts?q={'x' * 201}")
    assert too_long.status_code == 422
    assert 'id="e-q"' in too_long.get_data(as_text=True)


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


def test_bad_filters_show_the_error_beside_the_field_and_keep_what_was_typed(app, factory, firm):
    tenant, _made = firm
    viewer = sign_in(app, factory.user("client_viewer", tenant).email)

    for query, field in (
        ("status=lost", "status"),
        ("created_from=2026-02-31", "created_from"),
        ("created_from=yesterday&channel=web", "created_from"),
        ("created_from=2026-03-02&created_to=2026-03-01", "created_to"),
        ("queue_id=not-a-queue", "queue_id"),
    ):
        page = viewer.get(f"/firms/{tenant.id}/contacts?{query}")
        assert page.status_code == 422, query
        html = page.get_data(as_text=True)
        assert f'id="e-{field}"' in html, query
        assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', html, re.S), query
        assert linked_contacts(page) == [], query
    retyped = viewer.get(f"/firms/{tenant.id}/contacts?created_from=yesterday&channel=web")
    html = retyped.get_data(as_text=True)
    assert 'value="yesterday"' in html and 'value="web" selected' in html  # kept as typed


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


def test_an_agent_sees_only_the_contacts_of_its_queues(app, client, factory, firm):
    tenant, made = firm
    general = queue_of(app, tenant, "Agent's queue")
    mine = create_contact(
        client, factory.caller("integration", tenant), tenant, queue_id=str(general)
    )
    agent = create_agent(client, factory.caller("bpo_admin"))
    assign(client, factory.caller("bpo_admin"), agent["id"], [general])
    worker = sign_in(app, agent["email"])

    listed = worker.get(f"/firms/{tenant.id}/contacts")

    assert listed.status_code == 200 and linked_contacts(listed) == [mine["id"]]
    assert worker.get(f"/firms/{tenant.id}/contacts/{mine['id']}").status_code == 200
    other_queue = worker.get(f"/firms/{tenant.id}/contacts/{made['fridge']['id']}")
    assert other_queue.status_code == 404
    assert "Broken fridge" not in other_queue.get_data(as_text=True)
    # An agent reads no reports and no invoices, and its menu offers neither.
    assert f'href="/firms/{tenant.id}/complaints"' not in listed.get_data(as_text=True)
    assert worker.get(f"/firms/{tenant.id}/complaints").status_code == 403
    assert worker.get(f"/firms/{tenant.id}/invoices").status_code == 403


# --- the complaints register -----------------------------------------------------------------

_REGISTER_ROWS = re.compile(r'<tr data-contact-id="([0-9a-f-]{36})">')


def test_the_register_shows_the_years_complaints_and_its_csv_is_the_page(app, client, factory):
    tenant, queue = sla_firm(app, factory)
    a_year_of_complaints(app, tenant, queue)
    viewer = sign_in(app, factory.user("client_viewer", tenant).email)
    api_caller = factory.caller("client_viewer", tenant)
    url = f"/v1/tenants/{tenant.id}/reports/complaints-register?year=2025"

    page = viewer.get(f"/firms/{tenant.id}/complaints?year=2025")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    api = body(client.get(url, headers=api_caller.headers))
    shown = _REGISTER_ROWS.findall(html)
    assert shown == [c["contact_id"] for c in api["complaints"]] and len(shown) == 3
    assert "Broken fridge" in html and "Replace it" in html
    assert "25,00\u00a0€" in html  # the claim's compensation of 2500 cents, as Spain writes it

    download = viewer.get(f"/firms/{tenant.id}/complaints.csv?year=2025")
    rows = csv_rows(download)
    assert [row["contact_id"] for row in rows] == shown
    assert [row["summary"] for row in rows] == [c["summary"] for c in api["complaints"]]
    api_csv = client.get(url, headers={**api_caller.headers, "Accept": "text/csv"})
    assert download.get_data(as_text=True) == api_csv.get_data(as_text=True)
    assert "complaints-register-" in download.headers["Content-Disposition"]


def test_a_big_register_is_read_a_page_at_a_time_and_the_csv_has_it_all(app, factory, monkeypatch):
    from app.web.portal import registers

    monkeypatch.setattr(registers, "REGISTER_PAGE_SIZE", 2)
    tenant, queue = sla_firm(app, factory)
    a_year_of_complaints(app, tenant, queue)
    viewer = sign_in(app, factory.user("client_viewer", tenant).email)

    first = viewer.get(f"/firms/{tenant.id}/complaints?year=2025").get_data(as_text=True)
    second = viewer.get(f"/firms/{tenant.id}/complaints?year=2025&page=2").get_data(as_text=True)
    everything = csv_rows(viewer.get(f"/firms/{tenant.id}/complaints.csv?year=2025"))

    assert len(_REGISTER_ROWS.findall(first)) == 2 and len(_REGISTER_ROWS.findall(second)) == 1
    assert _REGISTER_ROWS.findall(first) + _REGISTER_ROWS.findall(second) == [
        row["contact_id"] for row in everything
    ]
    assert 'rel="next"' in first and 'rel="prev"' in second
    assert "3 quejas y reclamaciones" in first  # the whole year counted, in the firm's Spanish


def test_a_bad_year_shows_its_error_beside_the_field(app, factory):
    tenant = factory.tenant()
    viewer = sign_in(app, factory.user("client_viewer", tenant).email)

    for year, path in (("twenty", "complaints"), ("1900", "complaints.csv")):
        page = viewer.get(f"/firms/{tenant.id}/{path}?year={year}")
        assert page.status_code == 422
        html = page.get_data(as_text=True)
        assert 'id="e-year"' in html and 'aria-invalid="true"' in html
        assert f'value="{year}"' in html  # what was typed stays


# --- the agents' figures ---------------------------------------------------------------------


def test_the_agents_page_shows_what_the_api_reports(app, client, factory):
    tenant, queue = sla_firm(app, factory)
    agent_id = agent_profile(app, factory, "Lucía Prieto")
    received = t("2025-03-10T10:00:00+01:00")
    store(
        app,
        tenant,
        [
            contact(
                queue,
                received,
                agent_id=agent_id,
                status="resolved",
                answered_at=t("2025-03-10T10:00:30+01:00"),
                resolved_at=t("2025-03-10T10:05:00+01:00"),
                talk_seconds=240,
                acw_seconds=60,
                csat=5,
            )
        ],
    )
    admin = sign_in(app, factory.user("client_admin", tenant).email)
    api = body(
        client.get(
            f"/v1/tenants/{tenant.id}/reports/agents?from=2025-03-01&to=2025-04-01",
            headers=factory.caller("client_admin", tenant).headers,
        )
    )

    page = admin.get(f"/firms/{tenant.id}/agents?from=2025-03-01&to=2025-04-01")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    [row] = api["agents"]
    assert (row["name"], row["handled"], row["aht_seconds"]) == ("Lucía Prieto", 1, 300)
    assert "Lucía Prieto" in html and ">5:00<" in html  # the AHT: 300 s


def test_a_bad_range_of_the_agents_page_shows_beside_its_field(app, factory):
    tenant = factory.tenant()
    admin = sign_in(app, factory.user("client_admin", tenant).email)

    for query, field in (
        ("from=2025-03-01", "to"),
        ("from=soon&to=2025-04-01", "from"),
        ("from=2025-03-01&to=2025-02-01", "to"),
    ):
        page = admin.get(f"/firms/{tenant.id}/agents?{query}")
        assert page.status_code == 422, query
        assert f'id="e-{field}"' in page.get_data(as_text=True), query


# --- invoices --------------------------------------------------------------------------------


@pytest.fixture
def invoiced(app, factory):
    """A firm priced 1234 cents a contact that handled one call in March 2025, closed."""
    tenant = factory.tenant()
    price_firm(app, tenant, default_unit_amount=1234)
    handle(app, tenant, queue_of(app, tenant, "General"), march(3))
    with app.app_context(), tenant_scope(tenant.id):
        invoice, _ = billing_service.close_tenant_period(
            tenant=tenant, period="2025-03", actor=tenants_service.SYSTEM
        )
        db.session.commit()
        return tenant, invoice.id


def test_a_client_admin_reads_invoices_and_lines_with_exact_amounts(app, client, factory, invoiced):
    tenant, invoice_id = invoiced
    admin = sign_in(app, factory.user("client_admin", tenant).email)

    listed = admin.get(f"/firms/{tenant.id}/invoices")
    assert listed.status_code == 200
    html = listed.get_data(as_text=True)
    assert "2025-03" in html and "12,34\u00a0€" in html
    assert f'href="/firms/{tenant.id}/invoices"' in html  # the menu has it

    detail = admin.get(f"/firms/{tenant.id}/invoices/{invoice_id}")
    assert detail.status_code == 200
    lines = detail.get_data(as_text=True)
    assert "Handled contacts: voice" in lines and lines.count("12,34\u00a0€") >= 3

    download = admin.get(f"/firms/{tenant.id}/invoices/{invoice_id}/lines.csv")
    assert [row["amount"] for row in csv_rows(download)] == ["1234"]  # read: the stream ends
    api_csv = client.get(
        f"/v1/tenants/{tenant.id}/invoices/{invoice_id}",
        headers={**factory.caller("client_admin", tenant).headers, "Accept": "text/csv"},
    )
    assert download.get_data(as_text=True) == api_csv.get_data(as_text=True)

    preview = admin.get(f"/firms/{tenant.id}/invoices/preview?period=2025-03")
    assert preview.status_code == 200 and "12,34\u00a0€" in preview.get_data(as_text=True)
    assert admin.get(f"/firms/{tenant.id}/invoices/preview").status_code == 200


def test_a_bpo_admin_reads_a_firms_invoices(app, factory, invoiced):
    tenant, invoice_id = invoiced
    admin = sign_in(app, factory.user("bpo_admin").email)

    page = admin.get(f"/firms/{tenant.id}/invoices/{invoice_id}")

    assert page.status_code == 200
    assert f'href="/firms/{tenant.id}/invoices"' in page.get_data(as_text=True)


def test_a_client_viewer_gets_403_on_invoices_and_no_menu_entry(app, factory, invoiced):
    tenant, invoice_id = invoiced
    viewer = sign_in(app, factory.user("client_viewer", tenant).email)

    for suffix in ("", "/preview", f"/{invoice_id}", f"/{invoice_id}/lines.csv"):
        assert viewer.get(f"/firms/{tenant.id}/invoices{suffix}").status_code == 403
    home = viewer.get(f"/firms/{tenant.id}/contacts").get_data(as_text=True)
    assert f'href="/firms/{tenant.id}/invoices"' not in home
    assert f'href="/firms/{tenant.id}/complaints"' in home


def test_another_firms_invoice_is_not_found(app, factory, invoiced):
    _tenant, invoice_id = invoiced
    mine = factory.tenant()
    admin = sign_in(app, factory.user("client_admin", mine).email)

    assert admin.get(f"/firms/{mine.id}/invoices/{invoice_id}").status_code == 404
    assert admin.get(f"/firms/{mine.id}/invoices/{invoice_id}/lines.csv").status_code == 404


def test_a_bad_preview_month_shows_its_error_beside_the_field(app, factory, invoiced):
    tenant, _invoice_id = invoiced
    admin = sign_in(app, factory.user("client_admin", tenant).email)

    for period in ("2025-13", "March", "1999-01"):
        page = admin.get(f"/firms/{tenant.id}/invoices/preview?period={period}")
        assert page.status_code == 422, period
        html = page.get_data(as_text=True)
        assert 'id="e-period"' in html and f'value="{period}"' in html, period
