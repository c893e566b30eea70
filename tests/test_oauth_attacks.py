"""The authorization server under concurrency and tampering (issue 13), on both databases.

Each attack runs over real HTTP against the app served on a loopback port, on PostgreSQL
(conftest's `live_server`) and on SQLite (`sqlite_app` served the same way here). Races are
provoked by eight threads released together by a barrier.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask
from requests.adapters import HTTPAdapter
from sqlalchemy import update
from werkzeug.serving import make_server

from app.auth.models import AuthorizationCode, digest
from app.auth.server import DOCS_CLIENT_ID
from app.db import db
from tests.conftest import _free_port
from tests.factories import PASSWORD, Factory
from tests.test_oauth import (
    REDIRECT_URI,
    Browser,
    _authorize_url,
    _refused_without_a_code,
    assert_oauth_error,
    bearer,
    code_from,
    page_error,
    sign_in_for_code,
    token_request,
    tokens_by_code_flow,
)

AT_ONCE = 8


@dataclass
class Served:
    url: str
    app: Flask
    factory: Factory


def _serve(app: Flask, port: int):
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


@pytest.fixture(params=["postgresql", "sqlite"])
def served(request) -> Served:
    """The app over real HTTP, on PostgreSQL and on SQLite."""
    if request.param == "postgresql":
        request.getfixturevalue("database")
        app = request.getfixturevalue("app")
        port = request.getfixturevalue("live_port")
    else:
        app = request.getfixturevalue("sqlite_app")
        port = _free_port()
    request.addfinalizer(_serve(app, port))
    return Served(f"http://127.0.0.1:{port}", app, Factory(app))


def at_once(send: Callable[[int], requests.Response], n: int = AT_ONCE) -> list:
    """Run `send(i)` in n threads released together; return their responses in order."""
    barrier = threading.Barrier(n)
    responses: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        responses[i] = send(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return responses


def statuses(responses: list[requests.Response]) -> Counter:
    return Counter(r.status_code for r in responses)


def api_get(served: Served, path: str, access_token: str) -> requests.Response:
    return requests.get(f"{served.url}{path}", headers=bearer(access_token), timeout=10)


def refresh(served: Served, client_id: str, refresh_token: str) -> requests.Response:
    return token_request(
        served.url,
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id},
    )


def signed_in_person(served: Served, role: str = "client_viewer"):
    """A person of a firm and the browser app they sign in with."""
    tenant = served.factory.tenant()
    user = served.factory.user(role, tenant)
    client_id = served.factory.browser_client(REDIRECT_URI)
    return tenant, user, client_id


# --- 1. authorization codes are single-use ---------------------------------------------------


def test_of_eight_simultaneous_redemptions_of_one_code_exactly_one_gets_tokens(served):
    _, user, client_id = signed_in_person(served)
    oauth, code, verifier = sign_in_for_code(served.url, client_id, user.email, "tenants:read")
    oauth.close()
    redeem = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": REDIRECT_URI,
        "client_id": client_id,
    }

    responses = at_once(lambda _: token_request(served.url, redeem))

    assert statuses(responses) == {200: 1, 400: AT_ONCE - 1}, statuses(responses)
    for response in responses:
        if response.status_code == 400:
            assert_oauth_error(response, 400, "invalid_grant")


def test_a_code_presented_again_after_redemption_revokes_what_it_bought(served):
    tenant, user, client_id = signed_in_person(served)
    oauth, code, verifier = sign_in_for_code(served.url, client_id, user.email, "tenants:read")
    oauth.close()
    redeem = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": REDIRECT_URI,
        "client_id": client_id,
    }
    first = token_request(served.url, redeem)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert api_get(served, f"/v1/tenants/{tenant.id}", tokens["access_token"]).status_code == 200

    replayed = token_request(served.url, redeem)

    assert_oauth_error(replayed, 400, "invalid_grant")
    after = api_get(served, f"/v1/tenants/{tenant.id}", tokens["access_token"])
    assert after.status_code == 401
    assert "revoked" in after.json()["detail"]
    assert_oauth_error(refresh(served, client_id, tokens["refresh_token"]), 400, "invalid_grant")


# --- 2. refresh token rotation ---------------------------------------------------------------


def test_of_eight_simultaneous_refreshes_with_one_token_exactly_one_succeeds(served):
    _, user, client_id = signed_in_person(served)
    oauth, token = tokens_by_code_flow(served.url, client_id, user.email, "tenants:read")
    oauth.close()

    responses = at_once(lambda _: refresh(served, client_id, token["refresh_token"]))

    assert statuses(responses) == {200: 1, 400: AT_ONCE - 1}, statuses(responses)
    for response in responses:
        if response.status_code == 400:
            assert_oauth_error(response, 400, "invalid_grant")
    # The others presented a token already rotated out: reuse, so the family is revoked and
    # even the one successor is dead (RFC 9700 4.14.2).
    (winner,) = [r for r in responses if r.status_code == 200]
    assert_oauth_error(
        refresh(served, client_id, winner.json()["refresh_token"]), 400, "invalid_grant"
    )


def test_presenting_a_rotated_refresh_token_again_revokes_the_whole_family(served):
    tenant, user, client_id = signed_in_person(served)
    oauth, first = tokens_by_code_flow(served.url, client_id, user.email, "tenants:read")
    oauth.close()
    second = refresh(served, client_id, first["refresh_token"])
    assert second.status_code == 200, second.text
    second = second.json()
    assert api_get(served, f"/v1/tenants/{tenant.id}", second["access_token"]).status_code == 200

    reused = refresh(served, client_id, first["refresh_token"])

    assert_oauth_error(reused, 400, "invalid_grant")
    # The successor refresh token and every access token of the family are dead with it.
    assert_oauth_error(refresh(served, client_id, second["refresh_token"]), 400, "invalid_grant")
    for access_token in (first["access_token"], second["access_token"]):
        assert api_get(served, f"/v1/tenants/{tenant.id}", access_token).status_code == 401


def test_revoking_a_refresh_token_also_ends_its_access_tokens(served):
    tenant, user, client_id = signed_in_person(served)
    oauth, token = tokens_by_code_flow(served.url, client_id, user.email, "tenants:read")

    revoked = oauth.revoke_token(
        f"{served.url}/oauth/revoke",
        token=token["refresh_token"],
        token_type_hint="refresh_token",
    )
    oauth.close()

    assert revoked.status_code == 200, revoked.text
    assert api_get(served, f"/v1/tenants/{tenant.id}", token["access_token"]).status_code == 401


def test_a_sign_in_from_another_browser_is_not_touched_by_a_reused_token(served):
    tenant, user, client_id = signed_in_person(served)
    oauth, stolen = tokens_by_code_flow(served.url, client_id, user.email, "tenants:read")
    oauth.close()
    oauth, other = tokens_by_code_flow(served.url, client_id, user.email, "tenants:read")
    oauth.close()
    assert refresh(served, client_id, stolen["refresh_token"]).status_code == 200

    refresh(served, client_id, stolen["refresh_token"])  # reuse: that family is revoked

    assert api_get(served, f"/v1/tenants/{tenant.id}", other["access_token"]).status_code == 200
    assert refresh(served, client_id, other["refresh_token"]).status_code == 200


# --- 3. PKCE is S256 only --------------------------------------------------------------------


def test_a_code_challenge_without_its_method_is_refused_not_taken_as_plain(served):
    client_id = served.factory.browser_client(REDIRECT_URI)
    verifier = generate_token(64)
    browser = Browser()

    # Read as "plain" (RFC 7636's default), the challenge itself would be the verifier.
    response = browser.open(_authorize_url(served.url, client_id, code_challenge=verifier))
    browser.close()

    error = _refused_without_a_code(response)
    assert "code_challenge_method" in error or error == "invalid_request"


def test_a_code_stored_as_plain_cannot_be_redeemed_with_its_challenge(served):
    _, user, client_id = signed_in_person(served)
    oauth, code, _ = sign_in_for_code(served.url, client_id, user.email, "tenants:read")
    oauth.close()
    challenge = generate_token(64)
    # As the old server stored a challenge sent without a method (still live after an upgrade).
    with served.app.app_context():
        db.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.code_hash == digest(code))
            .values(code_challenge=challenge, code_challenge_method="plain")
        )
        db.session.commit()

    response = token_request(
        served.url,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": challenge,
            "redirect_uri": REDIRECT_URI,
            "client_id": client_id,
        },
    )

    assert_oauth_error(response, 400, "invalid_grant")


# --- 4. the sign-in form ---------------------------------------------------------------------


def _sign_in_url(served: Served, client_id: str) -> str:
    return _authorize_url(
        served.url,
        client_id,
        code_challenge=create_s256_code_challenge(generate_token(64)),
        code_challenge_method="S256",
    )


@pytest.mark.parametrize("csrf_token", ["-", "", None])
def test_the_sign_in_form_fails_closed_without_a_session(served, csrf_token):
    _, user, client_id = signed_in_person(served)
    form = {"email": user.email, "password": PASSWORD}
    if csrf_token is not None:
        form["csrf_token"] = csrf_token

    # No GET first: no session cookie, so nothing to compare the token with.
    response = requests.post(
        _sign_in_url(served, client_id), data=form, allow_redirects=False, timeout=10
    )

    assert response.status_code == 400, response.text
    assert "Location" not in response.headers
    assert "form expired" in page_error(response)


def test_the_sign_in_page_cannot_be_framed_and_runs_only_its_own_style(served):
    client_id = served.factory.browser_client(REDIRECT_URI)
    browser = Browser()

    page = browser.open(_sign_in_url(served, client_id))
    refused = browser.sign_in(_sign_in_url(served, client_id), "nobody@example.test", "wrong!")
    browser.close()

    for response in (page, refused):
        assert response.headers["X-Frame-Options"] == "DENY"
        policy = dict(
            part.strip().split(" ", 1)
            for part in response.headers["Content-Security-Policy"].split(";")
        )
        assert policy["frame-ancestors"] == "'none'"
        assert policy["default-src"] == "'none'"
        nonce = policy["style-src"].removeprefix("'nonce-").removesuffix("'")
        assert f'<style nonce="{nonce}">' in response.text
        # The form posts here; the browser then follows the redirect to the registered URI.
        assert policy["form-action"] == "'self' http://127.0.0.1:9"
    assert page.headers["Cache-Control"] == "no-store"


# --- 5. the sign-in throttle -----------------------------------------------------------------


class FromAddress(HTTPAdapter):
    """Connect from a given loopback address, as a browser on another machine would."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def browser_at(address: str) -> Browser:
    browser = Browser()
    browser.http.mount("http://", FromAddress(address))
    return browser


def test_parallel_wrong_passwords_cannot_outrun_the_throttle(served):
    _, user, client_id = signed_in_person(served)
    url = _sign_in_url(served, client_id)
    free = served.app.config["LOGIN_FREE_ATTEMPTS"]
    browsers = [Browser() for _ in range(AT_ONCE)]
    for browser in browsers:
        browser.open(url)

    responses = at_once(lambda i: browsers[i].sign_in(url, user.email, f"wrong password {i}"))
    right_after = browsers[0].sign_in(url, user.email, PASSWORD)
    for browser in browsers:
        browser.close()

    # Only the free attempts had their password checked; the rest waited.
    assert statuses(responses) == {401: free, 429: AT_ONCE - free}, statuses(responses)
    assert right_after.status_code == 429
    assert "Location" not in right_after.headers


def test_a_stranger_elsewhere_cannot_lock_a_person_out(served):
    _, user, client_id = signed_in_person(served)
    url = _sign_in_url(served, client_id)
    free = served.app.config["LOGIN_FREE_ATTEMPTS"]
    stranger = browser_at("127.0.0.2")
    stranger.open(url)
    tries = [stranger.sign_in(url, user.email, "guess!").status_code for _ in range(free + 2)]
    stranger.close()
    person = browser_at("127.0.0.1")
    person.open(url)

    signed_in = person.sign_in(url, user.email, PASSWORD)
    person.close()

    assert tries == [401] * free + [429, 429]
    assert signed_in.status_code == 302
    assert "code" in parse_qs(urlsplit(signed_in.headers["Location"]).query)


def test_one_address_guessing_across_many_accounts_is_slowed_down(served, monkeypatch):
    monkeypatch.setitem(served.app.config, "LOGIN_FREE_ATTEMPTS_PER_ADDRESS", 4)
    client_id = served.factory.browser_client(REDIRECT_URI)
    url = _sign_in_url(served, client_id)
    sprayer = browser_at("127.0.0.3")
    sprayer.open(url)

    tries = [
        sprayer.sign_in(url, f"someone-{n}@example.test", "Summer2026!").status_code
        for n in range(5)
    ]
    sprayer.close()

    assert tries == [401, 401, 401, 401, 429]


def test_a_right_password_does_not_refill_the_guesses_of_its_address(served, monkeypatch):
    monkeypatch.setitem(served.app.config, "LOGIN_FREE_ATTEMPTS_PER_ADDRESS", 3)
    _, user, client_id = signed_in_person(served)
    url = _sign_in_url(served, client_id)
    browser = browser_at("127.0.0.4")
    browser.open(url)

    guesses = [browser.sign_in(url, f"victim-{n}@example.test", "guess!") for n in range(2)]
    own = browser.sign_in(url, user.email, PASSWORD)
    browser.open(url)  # a signed-in form is used up; the next attempt starts on a new one
    last = browser.sign_in(url, "victim-3@example.test", "guess!")
    locked = browser.sign_in(url, "victim-4@example.test", "guess!")
    browser.close()

    assert [g.status_code for g in guesses] == [401, 401]
    code_from(own, "xyz")
    assert last.status_code == 401
    assert locked.status_code == 429


def test_behind_a_trusted_proxy_the_throttle_counts_the_address_the_proxy_saw(served, monkeypatch):
    monkeypatch.setitem(served.app.config, "TRUSTED_PROXY_HOPS", 1)
    _, user, client_id = signed_in_person(served)
    url = _sign_in_url(served, client_id)
    free = served.app.config["LOGIN_FREE_ATTEMPTS"]

    def attempt(browser_address: str, password: str, claimed: str = "") -> requests.Response:
        # The ingress appends the peer it saw; anything before it is the client's own claim.
        forwarded = ", ".join(filter(None, [claimed, browser_address]))
        browser = Browser()
        browser.http.headers["X-Forwarded-For"] = forwarded
        browser.open(url)
        response = browser.sign_in(url, user.email, password)
        browser.close()
        return response

    # The stranger forges an extra hop naming the person's address: it is not believed.
    stranger = [attempt("203.0.113.9", "guess!", claimed="198.51.100.7") for _ in range(free + 1)]
    person = attempt("198.51.100.7", PASSWORD)

    assert [r.status_code for r in stranger] == [401] * free + [429]
    code_from(person, "xyz")


# --- 6. deactivation ends tokens for good ----------------------------------------------------


def _set_active(served: Served, admin, tenant, user, active: bool) -> None:
    path = f"/v1/tenants/{tenant.id}/users/{user.id}"
    current = requests.get(f"{served.url}{path}", headers=admin.headers, timeout=10)
    assert current.status_code == 200, current.text
    changed = requests.patch(
        f"{served.url}{path}",
        json={"is_active": active},
        headers={**admin.headers, "If-Match": current.headers["ETag"]},
        timeout=10,
    )
    assert changed.status_code == 200, changed.text


def test_reactivating_a_person_does_not_revive_their_old_tokens(served):
    tenant, user, client_id = signed_in_person(served)
    admin = served.factory.caller("client_admin", tenant)
    oauth, browser_tokens = tokens_by_code_flow(served.url, client_id, user.email, "tenants:read")
    oauth.close()
    script_id, script_secret = served.factory.user_client(user)
    script_token = served.factory.token(script_id, script_secret)
    where = f"/v1/tenants/{tenant.id}"
    assert api_get(served, where, browser_tokens["access_token"]).status_code == 200
    assert api_get(served, where, script_token).status_code == 200

    _set_active(served, admin, tenant, user, False)
    _set_active(served, admin, tenant, user, True)

    assert api_get(served, where, browser_tokens["access_token"]).status_code == 401
    assert api_get(served, where, script_token).status_code == 401
    assert_oauth_error(
        refresh(served, client_id, browser_tokens["refresh_token"]), 400, "invalid_grant"
    )
    # Tokens carry whole seconds: the deactivation's own second counts as before it.
    time.sleep(1.05)
    oauth, fresh = tokens_by_code_flow(served.url, client_id, user.email, "tenants:read")
    oauth.close()
    assert api_get(served, where, fresh["access_token"]).status_code == 200
    assert api_get(served, where, served.factory.token(script_id, script_secret)).status_code == 200


# --- 16. /docs signs in wherever the issuer says -----------------------------------------------


def test_docs_authorize_follows_the_issuer_seeded_under_another_port(sqlite_app):
    from app.demo import _ensure_docs_client

    # Seeded under the default issuer (port 8000), then served on another port.
    with sqlite_app.app_context():
        _ensure_docs_client()
        db.session.commit()
    sqlite_app.config["OAUTH_ISSUER"] = "http://127.0.0.1:9123"
    client = sqlite_app.test_client()
    query = {
        "response_type": "code",
        "client_id": DOCS_CLIENT_ID,
        "scope": "tenants:read",
        "state": "docs",
        "code_challenge": create_s256_code_challenge(generate_token(64)),
        "code_challenge_method": "S256",
    }

    on_new_port = client.get(
        "/oauth/authorize",
        query_string={
            **query,
            "redirect_uri": "http://127.0.0.1:9123/docs/assets/oauth2-redirect.html",
        },
    )
    on_old_port = client.get(
        "/oauth/authorize",
        query_string={
            **query,
            "redirect_uri": "http://127.0.0.1:8000/docs/assets/oauth2-redirect.html",
        },
    )

    assert on_new_port.status_code == 200, on_new_port.get_data(as_text=True)
    assert 'name="password"' in on_new_port.get_data(as_text=True)
    assert on_old_port.status_code == 400


def test_with_no_issuer_set_tokens_and_docs_follow_the_port_served_on(tmp_path, monkeypatch):
    from app import create_app

    monkeypatch.delenv("SWITCHBOARD_OAUTH_ISSUER", raising=False)
    monkeypatch.setenv("PORT", "9123")

    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'switchboard.db'}",
            "SECRET_KEY": "test-secret",
        }
    )

    assert app.config["OAUTH_ISSUER"] == "http://127.0.0.1:9123"
    assert app.config["OAUTH_AUDIENCE"] == "http://127.0.0.1:9123/v1"
    with app.app_context():
        from app.auth.server import docs_redirect_uri

        assert docs_redirect_uri() == "http://127.0.0.1:9123/docs/assets/oauth2-redirect.html"
