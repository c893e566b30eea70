"""Outbound campaigns in the portal, in the browser's shoes (Flask's client): a client admin sets
a campaign up through its form (each error beside its field, nothing typed lost), loads a list
with a bad line (the line and its error shown) and then a good one, and starts it; a viewer
reads the campaigns but has no buttons; a BPO admin sets the blend; the firm's register and the
BPO's are kept by hand; another firm's campaign is a 404; the pages speak Spanish."""

from __future__ import annotations

import re
import uuid

from app.campaigns import lists
from app.campaigns.models import Campaign
from app.db import db
from tenants.scoping import tenant_scope
from tests.campaign_helpers import DISPOSITIONS, create_campaign, customers_csv, midday_zone
from tests.test_agents_api import make_queue
from tests.web_helpers import csrf_of, sign_in

_CAMPAIGN_PAGE = re.compile(r"/campaigns/([0-9a-f-]{36})$")


def _text(response) -> str:
    return response.get_data(as_text=True)


def _form(queue_id, csrf: str, **fields) -> dict:
    """The campaign form as a person fills it in: every field, the dispositions as rows."""
    form = {
        "csrf_token": csrf,
        "name": "Spring offers",
        "purpose": "sales",
        "channel": "voice",
        "category": "order_request",
        "queue_id": str(queue_id),
        "script": "Hello {name}, about your {plan} plan",
        "weekdays": ["1", "2", "3", "4", "5", "6", "7"],
        "window_start": "08:00",
        "window_end": "20:00",
        "max_attempts": "3",
        "retry_delay_minutes": "60",
        "starts_on": "2026-01-01",
        "ends_on": "",
        "rows": str(len(DISPOSITIONS)),
    }
    for n, disposition in enumerate(DISPOSITIONS):
        form[f"row-{n}-code"] = disposition["code"]
        form[f"row-{n}-label"] = disposition["label"]
        form[f"row-{n}-retry_after_minutes"] = str(disposition.get("retry_after_minutes") or "")
        for box in ("reached", "success", "retry", "do_not_contact"):
            if disposition.get(box):
                form[f"row-{n}-{box}"] = "on"
    return form | fields


def _campaign(app, tenant, campaign_id) -> Campaign:
    with app.app_context(), tenant_scope(tenant.id):
        return db.session.get(Campaign, uuid.UUID(str(campaign_id)))


def _upload(web, tenant, campaign_id, csrf, text: str, filename="customers.csv"):
    """Post the list form as a browser does (the body built here: the test client spools a
    large one to a file it never closes)."""
    boundary = "----list-form-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{csrf}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        f"\r\nContent-Type: text/csv\r\n\r\n{text}\r\n--{boundary}--\r\n"
    )
    return web.post(
        f"/firms/{tenant.id}/campaigns/{campaign_id}/lists",
        data=body.encode(),
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def test_a_client_admin_sets_up_a_campaign_loads_its_list_and_starts_it(app, factory):
    tenant = factory.tenant(locale="en-GB")
    queue_id = make_queue(app, tenant, name="Outbound sales", channels=["voice"])
    web = sign_in(app, factory.user("client_admin", tenant).email)
    base = f"/firms/{tenant.id}/campaigns"

    listed = web.get(base)
    assert listed.status_code == 200 and f"{base}/new" in _text(listed)
    new = web.get(f"{base}/new")
    assert "Outbound sales" in _text(new)

    bad_code = web.post(f"{base}/new", data=_form(queue_id, csrf_of(new), **{"row-2-code": "No"}))
    text = _text(bad_code)
    assert bad_code.status_code == 422
    assert 'id="e-row-2-code"' in text
    # Nothing typed is lost: the name, the script and every other row are still there.
    assert 'value="Spring offers"' in text and "about your {plan} plan" in text
    assert 'name="row-0-code" type="text" value="sold"' in text

    backwards = web.post(
        f"{base}/new",
        data=_form(queue_id, csrf_of(new), window_start="20:00", window_end="09:00"),
    )
    assert backwards.status_code == 422
    assert 'id="e-window_end"' in _text(backwards)
    assert 'value="Spring offers"' in _text(backwards)

    made = web.post(f"{base}/new", data=_form(queue_id, csrf_of(new)))
    assert made.status_code == 302, _text(made)[:2000]
    campaign_id = _CAMPAIGN_PAGE.search(made.headers["Location"])[1]
    page = web.get(f"{base}/{campaign_id}")
    assert page.status_code == 200 and "Spring offers" in _text(page)

    zone = midday_zone()
    bad_list = "name,phone,time_zone,plan\nAna,+34 600 000 001,{z},fibre\nLuis,,{z},fibre\n"
    refused = _upload(web, tenant, campaign_id, csrf_of(page), bad_list.format(z=zone))
    text = _text(refused)
    assert refused.status_code == 422
    assert 'id="refused-lines"' in text
    assert re.search(r'<td class="num">3</td><td><code>phone</code></td>', text)
    assert "Give the customer&#39;s phone or e-mail." in text
    assert _campaign(app, tenant, campaign_id) is not None

    loaded = _upload(web, tenant, campaign_id, csrf_of(page), customers_csv(2, zone=zone))
    assert loaded.status_code == 302, _text(loaded)[:2000]
    page = web.get(f"{base}/{campaign_id}")
    assert "customers.csv" in _text(page) and "Customer 2" in _text(page)

    # A file over a form's usual 1 MiB is read (the list's own limit is the API's 8 MiB).
    too_long = customers_csv(lists.MAX_ROWS + 1, zone=zone).replace(",fibre", ",fibre" + "x" * 40)
    refused = _upload(web, tenant, campaign_id, csrf_of(page), too_long)
    assert refused.status_code == 422 and 'id="e-file"' in _text(refused)

    started = web.post(
        f"{base}/{campaign_id}/state", data={"csrf_token": csrf_of(page), "action": "start"}
    )
    assert started.status_code == 302
    assert _campaign(app, tenant, campaign_id).state == "running"
    page = _text(web.get(f"{base}/{campaign_id}"))
    assert 'value="pause"' in page and 'value="finish"' in page and 'value="start"' not in page


def test_a_client_viewer_reads_the_campaigns_but_has_no_buttons(app, client, factory):
    tenant = factory.tenant(locale="en-GB")
    queue_id = make_queue(app, tenant, channels=["voice"])
    campaign = create_campaign(client, factory.caller("bpo_admin"), tenant, queue_id)
    web = sign_in(app, factory.user("client_viewer", tenant).email)
    base = f"/firms/{tenant.id}/campaigns"

    listed = _text(web.get(base))
    assert campaign["name"] in listed and f"{base}/new" not in listed
    page = web.get(f"{base}/{campaign['id']}")
    assert page.status_code == 200
    assert 'name="action"' not in _text(page) and 'id="list-form"' not in _text(page)
    assert web.get(f"{base}/new").status_code == 403
    refused = web.post(
        f"{base}/{campaign['id']}/state", data={"csrf_token": csrf_of(page), "action": "start"}
    )
    assert refused.status_code == 403
    assert _campaign(app, tenant, campaign["id"]).state == "draft"


def test_a_bpo_admin_sets_how_the_campaign_blends_with_inbound_work(app, client, factory):
    tenant = factory.tenant(locale="en-GB")
    queue_id = make_queue(app, tenant, channels=["voice"])
    campaign = create_campaign(client, factory.caller("bpo_admin"), tenant, queue_id)
    edit = f"/firms/{tenant.id}/campaigns/{campaign['id']}/edit"

    firm_admin = sign_in(app, factory.user("client_admin", tenant).email)
    assert 'name="blend"' not in _text(firm_admin.get(edit))

    bpo = sign_in(app, factory.user("bpo_admin").email)
    page = bpo.get(edit)
    assert 'name="blend"' in _text(page)
    no_share = bpo.post(
        edit, data=_form(queue_id, csrf_of(page), name=campaign["name"], blend="time_share")
    )
    assert no_share.status_code == 422 and 'id="e-share"' in _text(no_share)
    saved = bpo.post(
        edit,
        data=_form(queue_id, csrf_of(page), name=campaign["name"], blend="time_share", share="25"),
    )
    assert saved.status_code == 302, _text(saved)[:2000]
    stored = _campaign(app, tenant, campaign["id"])
    assert (stored.blend, stored.share_bps) == ("time_share", 2500)


def test_the_firms_register_and_the_bpos_are_kept_by_hand(app, factory):
    tenant = factory.tenant(locale="en-GB")
    web = sign_in(app, factory.user("client_admin", tenant).email)
    base = f"/firms/{tenant.id}/do-not-contact"

    page = web.get(base)
    assert page.status_code == 200
    added = web.post(
        base,
        data={
            "csrf_token": csrf_of(page),
            "kind": "phone",
            "value": "+34 600 111 222",
            "reason": "Asked by letter",
        },
    )
    assert added.status_code == 302
    again = web.post(
        base, data={"csrf_token": csrf_of(page), "kind": "phone", "value": "34600111222"}
    )
    assert again.status_code == 422 and 'id="e-value"' in _text(again)
    not_an_address = web.post(
        base, data={"csrf_token": csrf_of(page), "kind": "email", "value": "nobody"}
    )
    assert not_an_address.status_code == 422 and 'id="e-value"' in _text(not_an_address)

    listed = _text(web.get(f"{base}?q=111"))
    assert "34600111222" in listed and "Asked by letter" in listed
    entry_id = re.search(r"/do-not-contact/([0-9a-f-]{36})/remove", listed)[1]
    removed = web.post(f"{base}/{entry_id}/remove", data={"csrf_token": csrf_of(page)})
    assert removed.status_code == 302
    assert "34600111222" not in _text(web.get(base))

    viewer = sign_in(app, factory.user("client_viewer", tenant).email)
    assert viewer.get(base).status_code == 403

    bpo = sign_in(app, factory.user("bpo_admin").email)
    console = bpo.get("/console/do-not-contact")
    assert console.status_code == 200
    kept = bpo.post(
        "/console/do-not-contact",
        data={"csrf_token": csrf_of(console), "kind": "email", "value": "Ana@Example.com"},
    )
    assert kept.status_code == 302
    assert "ana@example.com" in _text(bpo.get("/console/do-not-contact"))
    supervisor = sign_in(app, factory.user("supervisor", tenant).email)
    assert supervisor.get("/console/do-not-contact").status_code == 403


def test_another_firms_campaign_is_a_404_page(app, client, factory):
    mine, theirs = factory.tenant(locale="en-GB"), factory.tenant(locale="en-GB")
    queue_id = make_queue(app, theirs, channels=["voice"])
    campaign = create_campaign(client, factory.caller("bpo_admin"), theirs, queue_id)
    web = sign_in(app, factory.user("client_admin", mine).email)

    for path in (
        f"/firms/{mine.id}/campaigns/{campaign['id']}",
        f"/firms/{mine.id}/campaigns/{campaign['id']}/edit",
        f"/firms/{theirs.id}/campaigns/{campaign['id']}",
    ):
        answer = web.get(path)
        assert answer.status_code == 404, path
        assert campaign["name"] not in _text(answer)


def test_the_campaign_pages_speak_spanish(app, client, factory):
    tenant = factory.tenant(locale="es-ES")
    queue_id = make_queue(app, tenant, channels=["voice"])
    campaign = create_campaign(client, factory.caller("bpo_admin"), tenant, queue_id)
    web = sign_in(app, factory.user("client_admin", tenant).email)

    listed = _text(web.get(f"/firms/{tenant.id}/campaigns"))
    assert "Nueva campaña" in listed and "Borrador" in listed
    page = _text(web.get(f"/firms/{tenant.id}/campaigns/{campaign['id']}"))
    assert "Cargar la lista" in page and "Ventana de llamadas" in page
    form = _text(web.get(f"/firms/{tenant.id}/campaigns/new"))
    assert "Disposiciones" in form or "Resultados" in form
    assert "No contactar" in _text(web.get(f"/firms/{tenant.id}/do-not-contact"))
