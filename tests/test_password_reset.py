"""Forgot password: a reset link by mail, valid 24 hours and once, that ends every sign-in."""

# ruff: noqa: F811 (the mail server fixtures are imported, then asked for by name)
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select, update

from app.accounts import service as accounts_service
from app.accounts.models import PASSWORD_RESET, AccountToken
from app.db import db, utcnow
from app.errors import Unprocessable
from tenants.scoping import unscoped
from tests.factories import PASSWORD
from tests.mail_server import inbox, link_in, no_mail_server, text_of  # noqa: F401
from tests.test_invitations import sign_in

NEW_PASSWORD = "my new and longer passphrase"


def forgot(app, email: str):
    with app.app_context():
        answer = accounts_service.request_password_reset(email=email)
        db.session.commit()
        return answer


def reset(app, link: str, password: str = NEW_PASSWORD) -> None:
    with app.app_context():
        accounts_service.reset_password(token=link.rsplit("/", 1)[1], password=password)
        db.session.commit()


def refused(app, link: str) -> str:
    with app.app_context():
        with pytest.raises(accounts_service.LinkRefused) as caught:
            accounts_service.reset_password(token=link.rsplit("/", 1)[1], password=NEW_PASSWORD)
        db.session.rollback()
    return caught.value.reason


def resets(app) -> int:
    with app.app_context(), unscoped():
        return db.session.scalar(
            select(func.count())
            .select_from(AccountToken)
            .where(AccountToken.purpose == PASSWORD_RESET)
        )


def test_a_person_who_forgot_their_password_resets_it_and_is_signed_out_everywhere(
    app, factory, inbox, live_server
):
    tenant = factory.tenant(locale="es-ES")
    user = factory.user("client_admin", tenant, email="ana@acme.test")
    before = sign_in(live_server, factory, user.email, PASSWORD)
    old_access = {"Authorization": f"Bearer {before['access_token']}"}
    assert requests.get(f"{live_server}/v1/me", headers=old_access, timeout=10).ok

    forgot(app, "ANA@acme.test ")

    message = inbox.last_to("ana@acme.test")
    assert message["Subject"] == "Restablece tu contraseña de Switchboard"
    assert "cierran todas tus sesiones" in text_of(message)
    link = link_in(message, "/reset-password/")
    with app.app_context():
        assert (
            accounts_service.check_token(
                token=link.rsplit("/", 1)[1], purpose=PASSWORD_RESET
            ).user_id
            == user.id
        )
    reset(app, link)

    assert requests.get(f"{live_server}/v1/me", headers=old_access, timeout=10).status_code == 401
    refreshed = requests.post(
        f"{live_server}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": before["refresh_token"],
            "client_id": before["client_id"],
        },
        timeout=10,
    )
    assert refreshed.status_code != 200
    assert sign_in(live_server, factory, user.email, PASSWORD) is None
    assert sign_in(live_server, factory, user.email, NEW_PASSWORD) is not None


def test_forgot_password_answers_the_same_for_an_unknown_address(app, factory, inbox):
    factory.user("client_viewer", factory.tenant(), email="ana@acme.test")

    unknown = forgot(app, "nobody@acme.test")
    known = forgot(app, "ana@acme.test")

    # The service tells its caller nothing it could repeat: no link, either way.
    assert unknown is None
    assert known.accept_url is None
    assert inbox.to("nobody@acme.test") == []
    assert len(inbox.to("ana@acme.test")) == 1


def test_one_reset_mail_per_address_per_interval(app, factory, inbox):
    factory.user("client_viewer", factory.tenant(), email="ana@acme.test")

    forgot(app, "ana@acme.test")
    forgot(app, "ana@acme.test")
    inbox.last_to("ana@acme.test")

    assert len(inbox.to("ana@acme.test")) == 1
    assert resets(app) == 1


def test_a_reset_link_works_once_and_not_after_it_expires(app, factory, inbox):
    factory.user("client_viewer", factory.tenant(), email="ana@acme.test")
    factory.user("client_viewer", factory.tenant(), email="bea@acme.test")
    forgot(app, "ana@acme.test")
    forgot(app, "bea@acme.test")
    used = link_in(inbox.last_to("ana@acme.test"), "/reset-password/")
    stale = link_in(inbox.last_to("bea@acme.test"), "/reset-password/")
    reset(app, used)
    with app.app_context(), unscoped():
        db.session.execute(
            update(AccountToken)
            .where(AccountToken.used_at.is_(None))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()

    assert refused(app, used) == "accepted"
    assert refused(app, stale) == "expired"


def test_a_reset_link_is_not_an_invitation_link(app, factory, inbox):
    factory.user("client_viewer", factory.tenant(), email="ana@acme.test")
    forgot(app, "ana@acme.test")
    link = link_in(inbox.last_to("ana@acme.test"), "/reset-password/")

    with app.app_context(), pytest.raises(accounts_service.LinkRefused) as caught:
        accounts_service.accept_invitation(token=link.rsplit("/", 1)[1], password=NEW_PASSWORD)

    assert caught.value.reason == "unknown"


def test_a_short_password_is_refused_and_the_link_still_works(app, factory, inbox):
    factory.user("client_viewer", factory.tenant(), email="ana@acme.test")
    forgot(app, "ana@acme.test")
    link = link_in(inbox.last_to("ana@acme.test"), "/reset-password/")

    with app.app_context(), pytest.raises(Unprocessable) as caught:
        accounts_service.reset_password(token=link.rsplit("/", 1)[1], password="short")

    assert "password" in caught.value.extra["errors"]["json"]
    reset(app, link)


def test_without_a_mail_server_no_reset_link_is_made(app, factory, no_mail_server, caplog):
    caplog.set_level(logging.DEBUG)
    factory.user("client_viewer", factory.tenant(), email="ana@acme.test")

    assert forgot(app, "ana@acme.test") is None

    assert resets(app) == 0
    assert "no mail server" in caplog.text
    assert "ana@acme.test" not in caplog.text


def test_a_deactivated_person_gets_no_reset_mail(app, factory, inbox):
    user = factory.user("client_viewer", factory.tenant(), email="ana@acme.test")
    with app.app_context():
        from tenants.models import User

        db.session.get(User, user.id).is_active = False
        db.session.commit()

    assert forgot(app, "ana@acme.test") is None
    assert inbox.messages == []
