"""Invitations: an admin invites a person, the mail brings a single-use link, the link sets a
password and the person signs in. Mail goes to a real SMTP server in the test process."""

# ruff: noqa: F811 (the mail server fixtures are imported, then asked for by name)
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import requests
from authlib.common.security import generate_token
from sqlalchemy import func, select, update

from app.accounts import service as accounts_service
from app.accounts.models import AccountToken
from app.db import db, utcnow
from tenants.models import User
from tenants.scoping import unscoped
from tests.mail_server import (  # noqa: F401 (fixtures)
    html_of,
    inbox,
    link_in,
    mail_down,
    no_mail_server,
    serving_inbox,
    text_of,
)
from tests.test_oauth import REDIRECT_URI, Browser, browser_app, code_from

NEW_PASSWORD = "a brand new passphrase 42"


def invite(client, caller, tenant, **body):
    body = {"email": "vera@acme.test", "name": "Vera Viewer", "role": "client_viewer", **body}
    return client.post(f"/v1/tenants/{tenant.id}/invitations", json=body, headers=caller.headers)


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


def accept(app, link: str, password: str = NEW_PASSWORD, name: str | None = None):
    with app.app_context():
        user = accounts_service.accept_invitation(
            token=token_of(link), password=password, name=name
        )
        db.session.commit()
        return user.id


def refused(app, link: str, password: str = NEW_PASSWORD) -> str:
    """Why accepting the link is refused."""
    with app.app_context():
        with pytest.raises(accounts_service.LinkRefused) as caught:
            accounts_service.accept_invitation(token=token_of(link), password=password)
        db.session.rollback()
    return caught.value.reason


def sign_in(live_server: str, factory, email: str, password: str, scope: str = "tenants:read"):
    """The person signs in through a browser app (authorization code with PKCE)."""
    client_id = factory.browser_client(REDIRECT_URI)
    oauth = browser_app(client_id, scope)
    verifier = generate_token(64)
    url, state = oauth.create_authorization_url(
        f"{live_server}/oauth/authorize", code_verifier=verifier
    )
    browser = Browser()
    try:
        browser.open(url)
        answer = browser.sign_in(url, email, password)
        if answer.status_code != 302:
            return None
        code = code_from(answer, state)
    finally:
        browser.close()
    token = oauth.fetch_token(f"{live_server}/oauth/token", code=code, code_verifier=verifier)
    return {**token, "client_id": client_id}


# --- the story -------------------------------------------------------------------------------


def test_a_client_admin_invites_a_viewer_who_sets_a_password_and_signs_in(
    app, client, factory, inbox, live_server
):
    tenant = factory.tenant(name="Acme Retail", locale="es-MX")
    admin = factory.caller("client_admin", tenant)

    answer = invite(client, admin, tenant)

    assert answer.status_code == 201, answer.get_json()
    invitation = answer.get_json()
    assert invitation["status"] == "pending"
    assert invitation["email"] == "vera@acme.test"
    assert "accept_url" not in invitation  # the mail carried it
    message = inbox.last_to("vera@acme.test")
    # The firm's locale, es-MX, is Spanish.
    assert message["Subject"] == "Tu invitación a Switchboard"
    assert "Acme Retail" in text_of(message) and "lector" in text_of(message)
    link = link_in(message, "/invitations/")
    assert link in html_of(message)
    assert link.startswith(app.config["OAUTH_ISSUER"])
    # Not signed up yet: no password, so no sign-in.
    assert sign_in(live_server, factory, "vera@acme.test", NEW_PASSWORD) is None

    accept(app, link, name="Vera V.")

    token = sign_in(live_server, factory, "vera@acme.test", NEW_PASSWORD)
    assert token is not None
    me = requests.get(
        f"{live_server}/v1/tenants/{tenant.id}",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    assert me.status_code == 200
    listed = client.get(f"/v1/tenants/{tenant.id}/invitations", headers=admin.headers).get_json()
    assert [(i["email"], i["status"], i["name"]) for i in listed] == [
        ("vera@acme.test", "accepted", "Vera V.")
    ]


def test_an_invitation_link_sets_a_password_only_once(app, client, factory, inbox):
    tenant = factory.tenant()
    admin = factory.caller("client_admin", tenant)
    invite(client, admin, tenant, language="en")
    message = inbox.last_to("vera@acme.test")
    assert message["Subject"] == "Your invitation to Switchboard"
    link = link_in(message, "/invitations/")
    accept(app, link)

    assert refused(app, link, password="someone else's password") == "accepted"
    invitation = client.get(f"/v1/tenants/{tenant.id}/invitations", headers=admin.headers)
    revoked = client.delete(
        f"/v1/tenants/{tenant.id}/invitations/{invitation.get_json()[0]['id']}",
        headers=admin.headers,
    )
    assert revoked.status_code == 409
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "vera@acme.test"))
        from app.auth.passwords import verify_password

        assert verify_password(user, NEW_PASSWORD)


def test_an_expired_invitation_link_is_refused(app, client, factory, inbox):
    tenant = factory.tenant()
    admin = factory.caller("client_admin", tenant)
    invitation = invite(client, admin, tenant).get_json()
    link = link_in(inbox.last_to("vera@acme.test"), "/invitations/")
    with app.app_context(), unscoped():
        db.session.execute(
            update(AccountToken)
            .where(AccountToken.id == invitation["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()

    assert refused(app, link) == "expired"
    listed = client.get(
        f"/v1/tenants/{tenant.id}/invitations?status=expired", headers=admin.headers
    ).get_json()
    assert [i["id"] for i in listed] == [invitation["id"]]


def test_a_resent_invitation_supersedes_the_old_link(app, client, factory, inbox):
    tenant = factory.tenant()
    admin = factory.caller("client_admin", tenant)
    first = invite(client, admin, tenant).get_json()
    old_link = link_in(inbox.last_to("vera@acme.test"), "/invitations/")

    resent = client.post(
        f"/v1/tenants/{tenant.id}/invitations/{first['id']}/resend", headers=admin.headers
    )

    assert resent.status_code == 201, resent.get_json()
    assert resent.get_json()["id"] != first["id"]
    new_link = link_in(inbox.last_to("vera@acme.test"), "/invitations/")
    assert new_link != old_link
    assert refused(app, old_link) == "superseded"
    old = client.get(f"/v1/tenants/{tenant.id}/invitations/{first['id']}", headers=admin.headers)
    assert old.get_json()["status"] == "superseded"
    again = client.post(
        f"/v1/tenants/{tenant.id}/invitations/{first['id']}/resend", headers=admin.headers
    )
    assert again.status_code == 409
    accept(app, new_link)


def test_a_revoked_invitation_link_is_refused(app, client, factory, inbox):
    tenant = factory.tenant()
    admin = factory.caller("client_admin", tenant)
    invitation = invite(client, admin, tenant).get_json()
    link = link_in(inbox.last_to("vera@acme.test"), "/invitations/")

    gone = client.delete(
        f"/v1/tenants/{tenant.id}/invitations/{invitation['id']}", headers=admin.headers
    )

    assert gone.status_code == 204
    assert refused(app, link) == "revoked"


def test_a_client_admin_cannot_invite_into_another_firm_nor_to_a_bpo_role(
    app, client, factory, inbox
):
    tenant, other = factory.tenant(), factory.tenant()
    admin = factory.caller("client_admin", tenant)

    elsewhere = invite(client, admin, other)
    bpo_role = client.post(
        "/v1/invitations",
        json={"email": "boss@bpo.test", "name": "Boss", "role": "bpo_admin"},
        headers=admin.headers,
    )
    supervisor_here = invite(client, admin, tenant, role="supervisor")

    assert elsewhere.status_code == 404
    assert bpo_role.status_code == 403
    assert supervisor_here.status_code == 422
    assert "role" in supervisor_here.get_json()["errors"]["json"]
    assert inbox.messages == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1  # the admin


def test_a_viewer_cannot_invite(client, factory, inbox):
    tenant = factory.tenant()
    viewer = factory.caller("client_viewer", tenant)

    assert invite(client, viewer, tenant).status_code == 403


def test_inviting_a_person_of_another_firm_is_a_conflict(client, factory, inbox):
    tenant, other = factory.tenant(), factory.tenant()
    factory.user("client_viewer", other, email="vera@acme.test")
    admin = factory.caller("client_admin", tenant)

    answer = invite(client, admin, tenant)

    assert answer.status_code == 409
    assert "already belongs" in answer.get_json()["detail"]
    assert inbox.messages == []


def test_inviting_someone_who_already_signed_up_is_a_conflict(client, factory, inbox):
    tenant = factory.tenant()
    factory.user("client_viewer", tenant, email="vera@acme.test")
    admin = factory.caller("client_admin", tenant)

    answer = invite(client, admin, tenant)

    assert answer.status_code == 409
    assert "reset link" in answer.get_json()["detail"]


def test_without_a_mail_server_the_link_is_shown_once_and_logged_nowhere(
    app, client, factory, no_mail_server, caplog
):
    caplog.set_level(logging.DEBUG)
    tenant = factory.tenant()
    admin = factory.caller("client_admin", tenant)

    answer = invite(client, admin, tenant)

    assert answer.status_code == 201
    link = answer.get_json()["accept_url"]
    secret = token_of(link)
    assert link == f"{app.config['OAUTH_ISSUER']}/invitations/{secret}"
    listed = client.get(f"/v1/tenants/{tenant.id}/invitations", headers=admin.headers)
    one = client.get(
        f"/v1/tenants/{tenant.id}/invitations/{answer.get_json()['id']}", headers=admin.headers
    )
    assert secret not in listed.get_data(as_text=True)
    assert secret not in one.get_data(as_text=True)
    with app.app_context(), unscoped():
        stored = db.session.scalars(select(AccountToken.token_hash)).all()
    assert secret not in stored
    accept(app, link)
    assert caplog.records, "the request lines are logged"
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in str(vars(record))


def test_when_the_mail_server_is_down_nothing_is_saved(app, client, factory, mail_down):
    tenant = factory.tenant()
    admin = factory.caller("client_admin", tenant)

    answer = invite(client, admin, tenant)

    assert answer.status_code == 503
    assert "mail server could not be reached" in answer.get_json()["detail"]
    with app.app_context(), unscoped():
        assert db.session.scalar(select(func.count()).select_from(AccountToken)) == 0
        assert db.session.scalar(select(User).where(User.email == "vera@acme.test")) is None


def test_a_bpo_admin_invites_an_agent(app, client, factory, inbox, live_server):
    bpo_admin = factory.caller("bpo_admin")

    answer = client.post(
        "/v1/invitations",
        json={"email": "ana@bpo.test", "name": "Ana Agent", "role": "agent"},
        headers=bpo_admin.headers,
    )

    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["tenant_id"] is None
    message = inbox.last_to("ana@bpo.test")
    assert message["Subject"] == "Your invitation to Switchboard"
    accept(app, link_in(message, "/invitations/"))
    assert sign_in(live_server, factory, "ana@bpo.test", NEW_PASSWORD) is not None
    listed = client.get("/v1/invitations", headers=bpo_admin.headers)
    assert [i["status"] for i in listed.get_json()] == ["accepted"]
    assert listed.headers["X-Pagination"]


def test_onboarding_a_firm_invites_its_first_admin_given_no_password(app, client, factory, inbox):
    bpo_admin = factory.caller("bpo_admin")

    answer = client.post(
        "/v1/tenants",
        json={
            "slug": "acme-retail",
            "name": "Acme Retail",
            "time_zone": "Europe/Madrid",
            "locale": "es-ES",
            "currency": "EUR",
            "first_admin": {"email": "ana@acme.test", "name": "Ana Ruiz"},
        },
        headers=bpo_admin.headers,
    )

    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["first_admin_accept_url"] is None
    message = inbox.last_to("ana@acme.test")
    assert "Acme Retail" in text_of(message)
    assert "administrador" in text_of(message)
    accept(app, link_in(message, "/invitations/"))


def test_onboarding_without_a_mail_server_answers_the_first_admins_link_once(
    app, client, factory, no_mail_server
):
    bpo_admin = factory.caller("bpo_admin")

    answer = client.post(
        "/v1/tenants",
        json={
            "slug": "acme-retail",
            "name": "Acme Retail",
            "time_zone": "Europe/Madrid",
            "locale": "es-ES",
            "currency": "EUR",
            "first_admin": {"email": "ana@acme.test", "name": "Ana Ruiz"},
        },
        headers=bpo_admin.headers,
    )

    link = answer.get_json()["first_admin_accept_url"]
    assert "/invitations/" in link
    accept(app, link)


def test_an_invitation_story_on_each_database(db_app, db_client, db_factory, monkeypatch):
    with serving_inbox(db_app, monkeypatch) as mails:
        tenant = db_factory.tenant()
        admin = db_factory.caller("client_admin", tenant)

        answer = invite(db_client, admin, tenant)

        assert answer.status_code == 201, answer.get_json()
        link = link_in(mails.last_to("vera@acme.test"), "/invitations/")
    accept(db_app, link)
    assert refused(db_app, link) == "accepted"
    listed = db_client.get(f"/v1/tenants/{tenant.id}/invitations", headers=admin.headers)
    assert [i["status"] for i in listed.get_json()] == ["accepted"]


def test_a_replayed_onboarding_does_not_show_the_first_admins_link_again(
    app, client, factory, no_mail_server
):
    bpo_admin = factory.caller("bpo_admin")
    body = {
        "slug": "acme-retail",
        "name": "Acme Retail",
        "time_zone": "Europe/Madrid",
        "locale": "es-ES",
        "currency": "EUR",
        "first_admin": {"email": "ana@acme.test", "name": "Ana Ruiz"},
    }
    headers = {**bpo_admin.headers, "Idempotency-Key": "onboard-acme"}

    first = client.post("/v1/tenants", json=body, headers=headers)
    again = client.post("/v1/tenants", json=body, headers=headers)

    assert first.get_json()["first_admin_accept_url"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["first_admin_accept_url"] is None
    assert again.get_json()["tenant"] == first.get_json()["tenant"]
