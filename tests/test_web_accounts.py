"""The pages a mail's link opens: set a password to accept an invitation, ask for a reset, and
choose a new password; each error beside its field, a dead link said plainly, no token logged."""

# ruff: noqa: F811 (the mail server fixtures are imported, then asked for by name)
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from tests.mail_server import inbox, link_in, no_mail_server  # noqa: F401
from tests.test_invitations import invite
from tests.web_helpers import csrf_of, sign_in, web_client

NEW_PASSWORD = "a brand new passphrase 42"


def path_of(link: str) -> str:
    return urlsplit(link).path


def test_an_invited_viewer_sets_a_password_on_the_page_and_signs_in(
    app, client, factory, inbox, caplog
):
    caplog.set_level(logging.DEBUG)
    tenant = factory.tenant(locale="es-ES")
    admin = factory.caller("client_admin", tenant)
    invite(client, admin, tenant, language="en")
    link = link_in(inbox.last_to("vera@acme.test"), "/invitations/")
    browser = web_client(app)

    page = browser.get(path_of(link))
    assert page.status_code == 200
    assert "vera@acme.test" in page.get_data(as_text=True)
    assert 'name="password_confirm"' in page.get_data(as_text=True)
    no_csrf = browser.post(path_of(link), data={"password": NEW_PASSWORD})
    assert no_csrf.status_code == 400
    mismatch = browser.post(
        path_of(link),
        data={
            "csrf_token": csrf_of(page),
            "password": NEW_PASSWORD,
            "password_confirm": "something else entirely",
        },
    )
    assert mismatch.status_code == 422
    assert 'id="e-password_confirm"' in mismatch.get_data(as_text=True)
    short = browser.post(
        path_of(link),
        data={"csrf_token": csrf_of(page), "password": "short", "password_confirm": "short"},
    )
    assert short.status_code == 422
    assert 'id="e-password"' in short.get_data(as_text=True)
    done = browser.post(
        path_of(link),
        data={
            "csrf_token": csrf_of(page),
            "name": "Vera V.",
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )

    assert done.status_code == 200, done.get_data(as_text=True)
    assert "/signin" in done.get_data(as_text=True)
    signed_in = sign_in(app, "vera@acme.test", NEW_PASSWORD)
    assert signed_in.get(f"/firms/{tenant.id}/").status_code == 200
    again = browser.get(path_of(link))
    assert again.status_code == 410
    assert "already used" in again.get_data(as_text=True)
    secret = link.rsplit("/", 1)[1]
    # Every record but those of the test's own SMTP server (aiosmtpd's "mail.log").
    for record in (r for r in caplog.records if not r.name.startswith("mail.log")):
        assert secret not in record.getMessage()
        assert secret not in str(vars(record))


def test_a_link_of_nowhere_is_refused_plainly(app):
    page = web_client(app).get("/invitations/not-a-real-link")

    assert page.status_code == 410
    assert "not valid" in page.get_data(as_text=True)


def test_a_person_resets_a_forgotten_password_through_the_pages(app, factory, inbox):
    factory.user("client_admin", factory.tenant(), email="ana@acme.test")
    browser = web_client(app)
    form = browser.get("/forgot-password")
    assert form.status_code == 200

    sent = browser.post(
        "/forgot-password", data={"csrf_token": csrf_of(form), "email": "ana@acme.test"}
    )
    unknown = browser.post(
        "/forgot-password", data={"csrf_token": csrf_of(form), "email": "nobody@acme.test"}
    )
    bad = browser.post("/forgot-password", data={"csrf_token": csrf_of(form), "email": "nope"})

    assert sent.status_code == unknown.status_code == 200
    assert sent.get_data(as_text=True) == unknown.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="e-email"' in bad.get_data(as_text=True)
    link = link_in(inbox.last_to("ana@acme.test"), "/reset-password/")
    page = browser.get(path_of(link))
    assert page.status_code == 200
    done = browser.post(
        path_of(link),
        data={
            "csrf_token": csrf_of(page),
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    assert done.status_code == 200
    sign_in(app, "ana@acme.test", NEW_PASSWORD)


def test_the_sign_in_page_offers_a_reset(app):
    browser = web_client(app)
    started = urlsplit(browser.get("/signin?next=/").headers["Location"])
    page = browser.get(f"{started.path}?{started.query}")

    assert "/forgot-password" in page.get_data(as_text=True)
