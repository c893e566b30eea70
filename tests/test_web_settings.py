"""Stories of a client firm's settings in the portal: users, API clients, webhooks,
departments and briefings, for the firm's admins only."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from app.contacts.models import Department
from app.db import db
from app.queues.models import Briefing
from app.webhooks import service as webhooks_service
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from tenants import service as tenants_service
from tenants.scoping import tenant_scope
from tests.test_webhook_delivery import allow_local_receivers, make_endpoint
from tests.web_helpers import csrf_of, sign_in

SETTINGS_PAGES = (
    "settings",
    "settings/users",
    "settings/api-clients",
    "settings/webhooks",
    "settings/departments",
    "settings/briefings",
    "settings/briefings/new",
)


def _text(response) -> str:
    return response.get_data(as_text=True)


def _admin(app, factory, **firm_fields):
    firm = factory.tenant(locale="en-GB", **firm_fields)
    admin = factory.user("client_admin", firm)
    return firm, admin, sign_in(app, admin.email)


def _post(client, page_url: str, url: str, data: dict):
    """Post a form of `page_url` with its CSRF token, as the browser does."""
    page = client.get(page_url)
    assert page.status_code == 200, _text(page)[:500]
    return client.post(url, data={**data, "csrf_token": csrf_of(page)})


def _error_beside(html: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="e-{field}">([^<]*)</p>', html)
    assert found, f"no error beside {field}"
    return found.group(1)


def test_client_admin_sees_settings_in_the_menu_and_each_section(app, factory):
    firm, _admin_user, client = _admin(app, factory)
    home = _text(client.get(f"/firms/{firm.id}/", follow_redirects=True))
    assert f'href="/firms/{firm.id}/settings"' in home
    for path in SETTINGS_PAGES:
        page = client.get(f"/firms/{firm.id}/{path}")
        assert page.status_code == 200, (path, _text(page)[:300])


def test_client_viewer_cannot_reach_settings(app, factory):
    firm = factory.tenant()
    viewer = factory.user("client_viewer", firm)
    client = sign_in(app, viewer.email)
    home = _text(client.get(f"/firms/{firm.id}/", follow_redirects=True))
    assert f"/firms/{firm.id}/settings" not in home
    for path in SETTINGS_PAGES:
        assert client.get(f"/firms/{firm.id}/{path}").status_code == 403, path
    page = client.get(f"/firms/{firm.id}/", follow_redirects=True)
    refused = client.post(
        f"/firms/{firm.id}/settings/api-clients",
        data={"name": "sneaky", "csrf_token": csrf_of(page)},
    )
    assert refused.status_code == 403


def test_bpo_admin_opens_a_firms_settings(app, factory):
    firm = factory.tenant()
    client = sign_in(app, factory.user("bpo_admin").email)
    assert f'href="/firms/{firm.id}/settings"' in _text(
        client.get(f"/firms/{firm.id}/", follow_redirects=True)
    )
    for path in SETTINGS_PAGES:
        assert client.get(f"/firms/{firm.id}/{path}").status_code == 200, path


def test_another_firms_settings_are_not_found(app, factory):
    _firm, _admin_user, client = _admin(app, factory)
    other = factory.tenant(name="Other Firm")
    for path in SETTINGS_PAGES:
        page = client.get(f"/firms/{other.id}/{path}")
        assert page.status_code == 404, path
        assert "Other Firm" not in _text(page)


def test_another_firms_objects_are_not_found_from_my_settings(app, factory):
    firm, _admin_user, client = _admin(app, factory)
    other = factory.tenant()
    stranger = factory.user("client_admin", other)
    with app.app_context(), tenant_scope(other.id):
        from app.contacts import departments

        department = departments.create_department(
            department_in={"kind": "finance"}, actor=tenants_service.SYSTEM
        )
        db.session.commit()
    base = f"/firms/{firm.id}/settings"
    assert client.get(f"{base}/departments/{department.id}").status_code == 404
    assert client.get(f"{base}/briefings/{uuid.uuid4()}").status_code == 404
    assert client.get(f"{base}/webhooks/{uuid.uuid4()}").status_code == 404
    denied = _post(
        client, f"{base}/users", f"{base}/users/{stranger.id}", {"role": "client_viewer"}
    )
    assert denied.status_code == 404


# --- API clients -----------------------------------------------------------------------------


def test_client_admin_creates_an_api_client_and_sees_its_secret_once(app, factory):
    firm, _admin_user, client = _admin(app, factory)
    base = f"/firms/{firm.id}/settings/api-clients"
    created = _post(client, base, base, {"name": "CRM sync"})
    assert created.status_code == 200
    html = _text(created)
    secret = re.search(r'<p class="secret" id="client-secret">([^<]+)</p>', html).group(1)
    client_id = re.search(r"<dt>Client ID</dt><dd><code>([^<]+)</code>", html).group(1)

    listing = _text(client.get(base))
    assert "CRM sync" in listing and client_id in listing
    assert secret not in listing

    token = factory.token(client_id, secret)
    api = app.test_client().get(
        f"/v1/tenants/{firm.id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 200


def test_client_admin_revokes_an_api_client_and_it_stops_working(app, factory):
    firm, _admin_user, client = _admin(app, factory)
    client_id, secret = factory.integration_client(firm)
    record = factory.api_client_record(client_id)
    base = f"/firms/{firm.id}/settings/api-clients"
    page = _text(client.get(base))
    assert "data-confirm=" in page
    revoked = _post(client, base, f"{base}/{record.id}/revoke", {})
    assert revoked.status_code == 302
    assert "Revoked" in _text(client.get(base))
    basic = app.test_client().post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert basic.status_code == 401


def test_an_api_client_without_a_name_shows_the_error_and_keeps_the_scopes(app, factory):
    firm, _admin_user, client = _admin(app, factory)
    base = f"/firms/{firm.id}/settings/api-clients"
    page = client.get(base)
    refused = client.post(
        base,
        data={
            "name": "",
            "scope": "contacts:read",
            "scope__present": "1",
            "csrf_token": csrf_of(page),
        },
    )
    assert refused.status_code == 422
    html = _text(refused)
    assert _error_beside(html, "name")
    assert re.search(r'value="contacts:read" checked', html)


# --- users -----------------------------------------------------------------------------------


def test_changing_a_users_role_takes_effect(app, factory):
    firm, _admin_user, client = _admin(app, factory)
    colleague = factory.user("client_viewer", firm)
    base = f"/firms/{firm.id}/settings/users"
    page = _text(client.get(base))
    assert f'href="/firms/{firm.id}/settings/invitations"' in page
    changed = _post(client, base, f"{base}/{colleague.id}", {"role": "client_admin"})
    assert changed.status_code == 302

    api = factory.caller("bpo_admin")
    read = app.test_client().get(f"/v1/tenants/{firm.id}/users/{colleague.id}", headers=api.headers)
    assert read.get_json()["role"] == "client_admin"
    # And the colleague now opens the settings.
    assert sign_in(app, colleague.email).get(f"/firms/{firm.id}/settings").status_code == 200


def test_client_admin_deactivates_and_reactivates_a_colleague(app, factory):
    firm, _admin_user, client = _admin(app, factory)
    colleague = factory.user("client_viewer", firm)
    base = f"/firms/{firm.id}/settings/users"
    assert _post(client, base, f"{base}/{colleague.id}", {"is_active": "false"}).status_code == 302
    assert "Deactivated" in _text(client.get(base))
    assert _post(client, base, f"{base}/{colleague.id}", {"is_active": "true"}).status_code == 302
    with app.app_context():
        from tenants.models import User

        assert db.session.get(User, colleague.id).is_active is True


def test_client_admin_cannot_deactivate_themselves(app, factory):
    firm, admin, client = _admin(app, factory)
    base = f"/firms/{firm.id}/settings/users"
    refused = _post(client, base, f"{base}/{admin.id}", {"is_active": "false"})
    assert refused.status_code == 422
    assert "You may not deactivate yourself" in _text(refused)
    refused = _post(client, base, f"{base}/{admin.id}", {"role": "client_viewer"})
    assert refused.status_code == 422
    assert "You may not change your own role" in _text(refused)
    with app.app_context():
        from tenants.models import User

        assert db.session.get(User, admin.id).is_active is True
    assert client.get(base).status_code == 200


# --- webhooks --------------------------------------------------------------------------------


def test_a_bad_webhook_url_shows_its_error_beside_the_field(app, factory):
    firm, _admin_user, client = _admin(app, factory)
    base = f"/firms/{firm.id}/settings/webhooks"
    refused = _post(
        client,
        base,
        base,
        {
            "url": "http://localhost/hook",
            "description": "Ops",
            "event_types__present": "1",
            "event_types": "sla.at_risk",
        },
    )
    assert refused.status_code == 422
    html = _text(refused)
    assert _error_beside(html, "url")
    assert 'value="http://localhost/hook"' in html and 'value="Ops"' in html
    assert re.search(r'value="sla.at_risk"\s+checked', html)
    with app.app_context(), tenant_scope(firm.id):
        assert db.session.scalars(select(WebhookEndpoint)).all() == []


def test_registering_a_webhook_shows_the_secret_once(app, factory, monkeypatch):
    allow_local_receivers(app, monkeypatch)
    firm, _admin_user, client = _admin(app, factory)
    base = f"/firms/{firm.id}/settings/webhooks"
    created = _post(
        client,
        base,
        base,
        {
            "url": "http://127.0.0.1:9/hook",
            "event_types__present": "1",
            "event_types": "sla.breached",
        },
    )
    assert created.status_code == 200
    secret = re.search(r'id="webhook-secret">([^<]+)<', _text(created)).group(1)
    assert secret.startswith("whsec_")
    with app.app_context(), tenant_scope(firm.id):
        endpoint = db.session.scalars(select(WebhookEndpoint)).one()
        assert endpoint.secret == secret
    page = _text(client.get(f"{base}/{endpoint.id}"))
    assert secret not in page

    rotated = _post(client, f"{base}/{endpoint.id}", f"{base}/{endpoint.id}/rotate-secret", {})
    new_secret = re.search(r'id="webhook-secret">([^<]+)<', _text(rotated)).group(1)
    assert new_secret != secret
    # The replaced secret keeps signing for the rotation window, and the page says until when.
    assert 'id="previous-secret"' in _text(rotated)
    assert 'id="previous-secret"' not in _text(created)
    with app.app_context(), tenant_scope(firm.id):
        endpoint = db.session.scalars(select(WebhookEndpoint)).one()
        assert (endpoint.secret, endpoint.previous_secret) == (new_secret, secret)


def test_editing_and_disabling_a_webhook(app, factory, monkeypatch):
    allow_local_receivers(app, monkeypatch)
    firm, _admin_user, client = _admin(app, factory)
    endpoint = make_endpoint(app, firm, "http://127.0.0.1:9/hook")
    url = f"/firms/{firm.id}/settings/webhooks/{endpoint.id}"
    no_events = _post(client, url, url, {"url": endpoint.url, "event_types__present": "1"})
    assert no_events.status_code == 422
    assert _error_beside(_text(no_events), "event_types")
    unknown = {"url": endpoint.url, "event_types__present": "1", "event_types": "sla.broken"}
    refused = _post(client, url, url, unknown)
    assert refused.status_code == 422
    assert "Not an event of the catalogue: sla.broken." in _error_beside(
        _text(refused), "event_types"
    )
    saved = _post(
        client,
        url,
        url,
        {
            "url": "http://127.0.0.1:10/other",
            "description": "New",
            "event_types__present": "1",
            "event_types": "sla.at_risk",
        },
    )
    assert saved.status_code == 302
    disabled = _post(client, url, f"{url}/active", {"is_active": "false"})
    assert disabled.status_code == 302
    with app.app_context(), tenant_scope(firm.id):
        stored = db.session.get(WebhookEndpoint, endpoint.id)
        assert stored.url == "http://127.0.0.1:10/other"
        assert stored.event_types == ["sla.at_risk"] and stored.is_active is False


def test_retrying_a_failed_delivery_queues_it_again(app, factory, monkeypatch):
    allow_local_receivers(app, monkeypatch)
    firm, _admin_user, client = _admin(app, factory)
    endpoint = make_endpoint(app, firm, "http://127.0.0.1:9/hook")
    with app.app_context(), tenant_scope(firm.id):
        delivery = webhooks_service.ping(endpoint=db.session.get(WebhookEndpoint, endpoint.id))
        delivery.status, delivery.attempts = "dead", 8
        delivery.last_status_code, delivery.last_error = 500, "receiver says no"
        db.session.commit()
        delivery_id = delivery.id
    url = f"/firms/{firm.id}/settings/webhooks/{endpoint.id}"
    log = client.get(f"{url}/deliveries", headers={"HX-Request": "true"})
    assert log.status_code == 200
    assert "<html" not in _text(log) and "receiver says no" in _text(log)
    assert "Failed" in _text(log)

    retried = _post(client, url, f"{url}/deliveries/{delivery_id}/retry", {})
    assert retried.status_code == 302
    with app.app_context(), tenant_scope(firm.id):
        again = db.session.get(WebhookDelivery, delivery_id)
        assert again.status == "pending" and again.attempts == 0
    assert "Pending" in _text(client.get(f"{url}/deliveries"))
    again = _post(client, url, f"{url}/deliveries/{delivery_id}/retry", {})
    assert "already pending" in _text(client.get(again.headers["Location"]))


def test_a_test_event_is_queued_for_the_endpoint(app, factory, monkeypatch):
    allow_local_receivers(app, monkeypatch)
    firm, _admin_user, client = _admin(app, factory)
    endpoint = make_endpoint(app, firm, "http://127.0.0.1:9/hook")
    url = f"/firms/{firm.id}/settings/webhooks/{endpoint.id}"
    assert _post(client, url, f"{url}/ping", {}).status_code == 302
    assert "webhook.ping" in _text(client.get(url))


# --- departments and briefings ---------------------------------------------------------------


def test_client_admin_manages_departments(app, factory):
    firm, _admin_user, client = _admin(app, factory)
    base = f"/firms/{firm.id}/settings/departments"
    assert (
        _post(client, base, base, {"kind": "logistics", "name": "", "email": ""}).status_code == 302
    )
    taken = _post(client, base, base, {"kind": "custom", "name": "logistics", "email": ""})
    assert taken.status_code == 422
    assert "already exists" in _error_beside(_text(taken), "name")
    bad_email = _post(client, base, base, {"kind": "finance", "name": "Money", "email": "nope"})
    assert bad_email.status_code == 422 and _error_beside(_text(bad_email), "email")
    assert 'value="Money"' in _text(bad_email)
    with app.app_context(), tenant_scope(firm.id):
        department = db.session.scalars(select(Department)).one()
    edit = f"{base}/{department.id}"
    saved = _post(client, edit, edit, {"kind": "logistics", "name": "Returns", "email": "r@x.test"})
    assert saved.status_code == 302
    assert _post(client, base, f"{edit}/active", {"is_active": "false"}).status_code == 302
    with app.app_context(), tenant_scope(firm.id):
        department = db.session.get(Department, department.id)
        assert (department.name, department.email, department.is_active) == (
            "Returns",
            "r@x.test",
            False,
        )


def test_client_admin_posts_and_edits_a_briefing(app, factory):
    firm, _admin_user, client = _admin(app, factory, time_zone="Europe/Madrid")
    base = f"/firms/{firm.id}/settings/briefings"
    wrong = _post(
        client,
        f"{base}/new",
        f"{base}/new",
        {
            "title": "Outage",
            "body": "Madrid north down",
            "effective_from": "2030-01-02T10:00",
            "effective_to": "2030-01-01T10:00",
            "queue_ids__present": "1",
        },
    )
    assert wrong.status_code == 422
    assert _error_beside(_text(wrong), "effective_to")
    assert "Madrid north down" in _text(wrong)
    posted = _post(
        client,
        f"{base}/new",
        f"{base}/new",
        {
            "title": "Outage",
            "body": "Madrid north down",
            "effective_from": "2030-01-01T10:00",
            "effective_to": "",
            "queue_ids__present": "1",
        },
    )
    assert posted.status_code == 302
    with app.app_context(), tenant_scope(firm.id):
        briefing = db.session.scalars(select(Briefing)).one()
        assert briefing.effective_from.isoformat() == "2030-01-01T09:00:00+00:00"
    assert "Outage" in _text(client.get(base))
    edit = f"{base}/{briefing.id}"
    assert 'value="2030-01-01T10:00"' in _text(client.get(edit))
    saved = _post(
        client,
        edit,
        edit,
        {
            "title": "Outage over",
            "body": "All fine",
            "effective_from": "2030-01-01T10:00",
            "effective_to": "2030-01-01T12:00",
            "queue_ids__present": "1",
        },
    )
    assert saved.status_code == 302
    with app.app_context(), tenant_scope(firm.id):
        briefing = db.session.get(Briefing, briefing.id)
        assert briefing.title == "Outage over"
        assert briefing.effective_to.isoformat() == "2030-01-01T11:00:00+00:00"
    assert _post(client, edit, f"{edit}/delete", {}).status_code == 302
    with app.app_context(), tenant_scope(firm.id):
        assert db.session.scalars(select(Briefing)).all() == []


@pytest.mark.parametrize("path", ["settings/users", "settings/webhooks"])
def test_settings_forms_carry_the_csrf_token(app, factory, path):
    firm, _admin_user, client = _admin(app, factory)
    html = _text(client.get(f"/firms/{firm.id}/{path}"))
    assert html.count('method="post"') <= html.count('name="csrf_token"')


def test_a_role_changed_in_place_answers_only_the_row(app, factory):
    firm, admin, client = _admin(app, factory)
    colleague = factory.user("client_viewer", firm)
    base = f"/firms/{firm.id}/settings/users"
    token = csrf_of(client.get(base))
    htmx = {"HX-Request": "true", "X-CSRF-Token": token}
    row = client.post(f"{base}/{colleague.id}", data={"role": "client_admin"}, headers=htmx)
    assert row.status_code == 200
    html = _text(row)
    assert html.lstrip().startswith("{#") is False and "<html" not in html
    assert f'id="user-{colleague.id}"' in html and "Saved" in html
    mine = client.post(f"{base}/{admin.id}", data={"role": "client_viewer"}, headers=htmx)
    assert mine.status_code == 422
    assert "<html" not in _text(mine) and "You may not change your own role" in _text(mine)


def test_a_briefing_for_an_unknown_queue_shows_the_error_beside_the_queues(app, factory):
    firm, _admin_user, client = _admin(app, factory)
    url = f"/firms/{firm.id}/settings/briefings/new"
    typed = {"title": "Hi", "body": "Text", "queue_ids__present": "1"}
    for queue_id in ("not-a-uuid", str(uuid.uuid4())):
        refused = _post(client, url, url, {**typed, "queue_ids": queue_id})
        assert refused.status_code == 422
        assert _error_beside(_text(refused), "queue_ids")
