"""Stories of signing in and out of the web app."""

from __future__ import annotations

from sqlalchemy import select

from app.auth.models import TokenFamily
from app.db import db
from app.web.models import WebSession
from tests.web_helpers import csrf_of, sign_in, web_client


def test_visitor_is_sent_to_sign_in_and_lands_on_their_firm(app, factory):
    firm = factory.tenant(name="Acme Logistics")
    admin = factory.user("client_admin", firm)
    anonymous = web_client(app)
    assert anonymous.get("/").headers["Location"].startswith("/signin")

    client = sign_in(app, admin.email)
    landing = client.get("/")
    assert landing.status_code == 302
    assert landing.headers["Location"] == f"/firms/{firm.id}/"
    page = client.get(landing.headers["Location"], follow_redirects=True)
    assert page.status_code == 200
    assert "Acme Logistics" in page.get_data(as_text=True)


def test_session_cookie_is_httponly_samesite_and_holds_no_token(app, factory):
    firm = factory.tenant()
    admin = factory.user("client_admin", firm)
    client = sign_in(app, admin.email)
    cookie = client.cookie("switchboard_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert "." not in cookie.value  # an opaque key, not a JWT
    with app.app_context():
        stored = db.session.scalars(select(WebSession)).one()
        assert stored.key_hash != cookie.value and stored.access_token.count(".") == 2


def test_bpo_admin_lands_on_the_portfolio(app, factory):
    admin = factory.user("bpo_admin")
    client = sign_in(app, admin.email)
    assert client.get("/").headers["Location"] == "/console/"
    assert client.get("/console/").status_code == 200


def test_client_admin_cannot_open_another_firms_pages_or_the_console(app, factory):
    mine, theirs = factory.tenant(), factory.tenant(name="Other Firm")
    admin = factory.user("client_admin", mine)
    client = sign_in(app, admin.email)
    other = client.get(f"/firms/{theirs.id}/")
    assert other.status_code == 404
    assert "Other Firm" not in other.get_data(as_text=True)
    assert client.get("/console/").status_code == 403


def test_pages_carry_a_strict_content_security_policy(app, factory):
    firm = factory.tenant()
    client = sign_in(app, factory.user("client_admin", firm).email)
    page = client.get(f"/firms/{firm.id}/", follow_redirects=True)
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in page.get_data(as_text=True)


def test_a_form_without_its_csrf_token_is_refused(app, factory):
    firm = factory.tenant()
    client = sign_in(app, factory.user("client_admin", firm).email)
    refused = client.post("/language", data={"language": "en"})
    assert refused.status_code == 400
    page = client.get(f"/firms/{firm.id}/", follow_redirects=True)
    accepted = client.post(
        "/language", data={"language": "en", "csrf_token": csrf_of(page), "next": "/"}
    )
    assert accepted.status_code == 302


def test_sign_out_revokes_the_sign_in_and_the_old_cookie_is_dead(app, factory):
    firm = factory.tenant()
    client = sign_in(app, factory.user("client_admin", firm).email)
    page = client.get(f"/firms/{firm.id}/", follow_redirects=True)
    cookie = client.cookie("switchboard_session").value
    out = client.post("/signout", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(WebSession)).all() == []
        assert db.session.scalars(select(TokenFamily)).one().revoked_at is not None
    replay = web_client(app)
    replay.put_cookie("switchboard_session", cookie)
    assert replay.get(f"/firms/{firm.id}/").headers["Location"].startswith("/signin")


def test_firm_pages_speak_the_firms_language_until_the_person_chooses(app, factory):
    firm = factory.tenant(locale="es-MX")
    client = sign_in(app, factory.user("client_admin", firm).email)
    page = client.get(f"/firms/{firm.id}/", follow_redirects=True)
    assert 'lang="es"' in page.get_data(as_text=True)
    assert "Cerrar sesión" in page.get_data(as_text=True)
    client.post("/language", data={"language": "en", "csrf_token": csrf_of(page), "next": "/"})
    again = client.get(f"/firms/{firm.id}/", follow_redirects=True)
    assert 'lang="en"' in again.get_data(as_text=True)


def test_a_deactivated_person_is_signed_out_of_the_web_app(app, factory):
    firm = factory.tenant()
    person = factory.user("client_viewer", firm)
    client = sign_in(app, person.email)
    with app.app_context():
        from tenants.models import User

        db.session.get(User, person.id).is_active = False
        db.session.commit()
    assert client.get(f"/firms/{firm.id}/").headers["Location"].startswith("/signin")


def test_an_unknown_address_is_a_page_for_a_browser_and_problem_json_for_the_api(app, factory):
    firm = factory.tenant()
    client = sign_in(app, factory.user("client_admin", firm).email)
    page = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.mimetype == "text/html"
    api = client.get("/v1/no/such/thing", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.mimetype == "application/problem+json"


def test_the_access_token_is_refreshed_when_it_is_about_to_expire(app, factory):
    firm = factory.tenant()
    client = sign_in(app, factory.user("client_admin", firm).email)
    with app.app_context():
        stored = db.session.scalars(select(WebSession)).one()
        old_token = stored.access_token
        stored.access_expires_at = stored.created_at  # due now
        db.session.commit()
    assert client.get(f"/firms/{firm.id}/", follow_redirects=True).status_code == 200
    with app.app_context():
        stored = db.session.scalars(select(WebSession)).one()
        assert stored.access_token != old_token
        assert db.session.scalars(select(TokenFamily)).one().revoked_at is None


def test_a_stale_sign_in_callback_is_refused_without_a_session(app, factory):
    client = web_client(app)
    answer = client.get("/auth/callback?code=forged&state=forged")
    assert answer.status_code == 400
    assert client.cookie("switchboard_session") is None


def test_the_sign_in_page_of_the_web_app_asks_no_consent(app):
    client = web_client(app)
    started = client.get("/signin")
    page = client.get(started.headers["Location"]).get_data(as_text=True)
    assert "asks to act for you" not in page


def test_sign_in_works_on_sqlite_as_make_run_serves_it(sqlite_app):
    from tests.factories import Factory

    firm = Factory(sqlite_app).tenant(name="Lite Firm")
    admin = Factory(sqlite_app).user("client_admin", firm)
    client = sign_in(sqlite_app, admin.email)
    page = client.get(f"/firms/{firm.id}/", follow_redirects=True)
    assert page.status_code == 200 and "Lite Firm" in page.get_data(as_text=True)


def test_assets_load_for_a_signed_out_visitor_and_are_cached_by_their_hash(app):
    client = web_client(app)
    page = client.get("/signed-out").get_data(as_text=True)
    css = page.split('rel="stylesheet" href="')[1].split('"')[0]
    assert "?v=" in css
    with client.get(css) as asset:
        assert asset.status_code == 200 and asset.mimetype == "text/css"
        assert asset.cache_control.max_age == 365 * 24 * 3600
