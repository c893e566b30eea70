"""The pages a mail's link opens: set a password to accept an invitation, ask for a reset, and
choose a new password; each error beside its field, a dead link said plainly, no token logged."""

# ruff: noqa: F811 (the mail server fixtures are imported, then asked for by name)
from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from tests.mail_server import inbox, link_in, no_mail_server  # noqa: F401
from tests.test_invitations import invite
from tests.web_helpers import csrf_of, web_client
from tests.web_helpers import sign_in as web_sign_in

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
    signed_in = web_sign_in(app, "vera@acme.test", NEW_PASSWORD)
    assert signed_in.get(f"/firms/{tenant.id}/", follow_redirects=True).status_code == 200
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
    web_sign_in(app, "ana@acme.test", NEW_PASSWORD)


def test_the_sign_in_page_offers_a_reset(app):
    browser = web_client(app)
    started = urlsplit(browser.get("/signin?next=/").headers["Location"])
    page = browser.get(f"{started.path}?{started.query}")

    assert "/forgot-password" in page.get_data(as_text=True)


# --- the firm's settings: invitations ---------------------------------------------------------


def _settings_admin(app, factory):
    firm = factory.tenant(locale="en-GB")
    admin = factory.user("client_admin", firm)
    return firm, web_sign_in(app, admin.email)


def _invite_on_page(browser, firm, **fields):
    page = browser.get(f"/firms/{firm.id}/settings/invitations")
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    data = {"email": "vera@acme.test", "name": "Vera", "role": "client_viewer", **fields}
    return browser.post(
        f"/firms/{firm.id}/settings/invitations", data={**data, "csrf_token": csrf_of(page)}
    )


def test_a_client_admin_invites_from_settings_and_the_mail_goes_out(app, factory, inbox):
    firm, browser = _settings_admin(app, factory)

    sent = _invite_on_page(browser, firm)

    assert sent.status_code == 302
    assert inbox.last_to("vera@acme.test")["Subject"] == "Your invitation to Switchboard"
    listed = browser.get(f"/firms/{firm.id}/settings/invitations").get_data(as_text=True)
    assert "vera@acme.test" in listed and "Send again" in listed


def test_without_a_mail_server_the_settings_page_shows_the_link_once(app, factory, no_mail_server):
    firm, browser = _settings_admin(app, factory)

    shown = _invite_on_page(browser, firm)

    assert shown.status_code == 200
    link = re.search(r'id="accept-url">([^<]+)<', shown.get_data(as_text=True)).group(1)
    secret = link.rsplit("/", 1)[1]
    listed = browser.get(f"/firms/{firm.id}/settings/invitations").get_data(as_text=True)
    assert secret not in listed
    assert web_client(app).get(path_of(link)).status_code == 200


def test_a_bad_invitation_shows_its_errors_beside_the_fields(app, factory, no_mail_server):
    firm, browser = _settings_admin(app, factory)
    factory.user("client_viewer", factory.tenant(), email="taken@acme.test")

    bad = _invite_on_page(browser, firm, email="not-an-address", name="")
    taken = _invite_on_page(browser, firm, email="taken@acme.test")

    assert bad.status_code == 422
    assert 'id="e-email"' in bad.get_data(as_text=True)
    assert 'id="e-name"' in bad.get_data(as_text=True)
    assert taken.status_code == 422
    assert "already belongs" in taken.get_data(as_text=True)


def test_a_viewer_cannot_reach_invitations_and_another_firm_is_not_found(app, factory):
    firm, other = factory.tenant(), factory.tenant()
    viewer = factory.user("client_viewer", firm)
    admin = factory.user("client_admin", firm)

    as_viewer = web_sign_in(app, viewer.email).get(f"/firms/{firm.id}/settings/invitations")
    elsewhere = web_sign_in(app, admin.email).get(f"/firms/{other.id}/settings/invitations")

    assert as_viewer.status_code == 403
    assert elsewhere.status_code == 404


def test_a_bpo_admin_invites_a_supervisor_from_the_console_and_they_sign_in(
    app, factory, no_mail_server
):
    browser = web_sign_in(app, factory.user("bpo_admin").email)
    page = browser.get("/console/invitations")
    assert page.status_code == 200
    shown = browser.post(
        "/console/invitations",
        data={
            "email": "sam@bpo.test",
            "name": "Sam",
            "role": "supervisor",
            "csrf_token": csrf_of(page),
        },
    )
    assert shown.status_code == 200
    link = re.search(r'id="accept-url">([^<]+)<', shown.get_data(as_text=True)).group(1)
    listed = browser.get("/console/invitations").get_data(as_text=True)
    assert "sam@bpo.test" in listed and link.rsplit("/", 1)[1] not in listed

    invitee = web_client(app)
    form = invitee.get(path_of(link))
    accepted = invitee.post(
        path_of(link),
        data={
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
            "csrf_token": csrf_of(form),
        },
    )
    assert accepted.status_code in (200, 302), accepted.get_data(as_text=True)[:500]
    supervisor = web_sign_in(app, "sam@bpo.test", NEW_PASSWORD)
    assert supervisor.get("/console/invitations").status_code == 403


def test_a_bad_staff_invitation_shows_its_errors_beside_the_fields(app, factory, no_mail_server):
    browser = web_sign_in(app, factory.user("bpo_admin").email)
    page = browser.get("/console/invitations")
    bad = browser.post(
        "/console/invitations",
        data={"email": "nope", "name": "", "role": "client_admin", "csrf_token": csrf_of(page)},
    )
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert 'id="e-email"' in body and 'id="e-name"' in body and 'id="e-role"' in body
    assert 'value="nope"' in body
