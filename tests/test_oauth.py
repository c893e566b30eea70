"""The OAuth 2.0 server and the bearer-token checks, driven by a real OAuth client.

Authlib's `OAuth2Session` talks to the app served on a loopback port (`live_server`), the way an
integration or a browser app would; forged and stale tokens are crafted with joserfc (and by
hand where joserfc rightly refuses) and sent through the test client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import select, update
from werkzeug.serving import make_server

from app.auth.models import LoginThrottle
from app.auth.permissions import ROLE_SCOPES
from app.db import db, utcnow
from tenants.models import User
from tests.factories import PASSWORD

PROBLEM_JSON = "application/problem+json"
REDIRECT_URI = "http://127.0.0.1:9/callback"
INTEGRATION_SCOPE = " ".join(sorted(ROLE_SCOPES["integration"]))


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def live_server(app, live_port):
    """conftest's `live_server`, polling for shutdown every 20 ms instead of 500 ms.

    Most tests here talk to the live server; the default poll made each teardown take ~0.6 s.
    """
    server = make_server("127.0.0.1", live_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{live_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(obj: dict) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def unverified(token: str) -> tuple[dict, dict]:
    """A JWT's header and claims, read without checking anything."""
    header, payload, _ = token.split(".")

    def load(part: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    return load(header), load(payload)


def basic(client_id: str, secret: str) -> dict[str, str]:
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_oauth_error(response, status: int, error: str) -> dict:
    """An OAuth error answer: RFC 6749 `error` inside an RFC 9457 problem document."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["error"] == error, body
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    assert "access_token" not in body
    return body


def assert_invalid_token(response) -> str:
    """A 401 for an unacceptable bearer token, with an RFC 6750 challenge; returns the detail."""
    assert response.status_code == 401, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == PROBLEM_JSON
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="switchboard"'), challenge
    assert 'error="invalid_token"' in challenge, challenge
    body = response.get_json()
    assert body["status"] == 401
    return body["detail"]


def recording(session: requests.Session) -> list[requests.PreparedRequest]:
    """Keep every request the session sends, to see how the client authenticated."""
    sent: list[requests.PreparedRequest] = []
    session.hooks["response"].append(lambda response, **_: sent.append(response.request))
    return sent


def form_of(request: requests.PreparedRequest) -> dict[str, list[str]]:
    body = request.body or ""
    return parse_qs(body.decode() if isinstance(body, bytes) else body)


class Browser:
    """A person at the sign-in page: keeps cookies, reads the CSRF token, never follows
    the redirect back to the app (nothing listens there)."""

    def __init__(self) -> None:
        self.http = requests.Session()
        self.csrf = ""

    def open(self, url: str) -> requests.Response:
        page = self.http.get(url, allow_redirects=False, timeout=10)
        self._read_csrf(page)
        return page

    def sign_in(self, url: str, email: str, password: str) -> requests.Response:
        response = self.http.post(
            url,
            data={"csrf_token": self.csrf, "email": email, "password": password},
            allow_redirects=False,
            timeout=10,
        )
        self._read_csrf(response)
        return response

    def _read_csrf(self, page: requests.Response) -> None:
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if found:
            self.csrf = found.group(1)

    def close(self) -> None:
        self.http.close()


def page_error(page: requests.Response) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page.text, re.S)
    assert found, page.text
    return found.group(1).strip()


def code_from(response: requests.Response, state: str) -> str:
    assert response.status_code == 302, (response.status_code, response.text)
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    params = parse_qs(location.query)
    assert params["state"] == [state]
    assert "error" not in params
    return params["code"][0]


def browser_app(client_id: str, scope: str) -> OAuth2Session:
    """The public browser app's OAuth client (PKCE S256, no secret)."""
    return OAuth2Session(
        client_id,
        redirect_uri=REDIRECT_URI,
        scope=scope,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )


def sign_in_for_code(live_server: str, client_id: str, email: str, scope: str):
    """Run the browser part of the code flow; return (oauth session, code, verifier)."""
    oauth = browser_app(client_id, scope)
    verifier = generate_token(64)
    url, state = oauth.create_authorization_url(
        f"{live_server}/oauth/authorize", code_verifier=verifier
    )
    browser = Browser()
    try:
        page = browser.open(url)
        assert page.status_code == 200, page.text
        code = code_from(browser.sign_in(url, email, PASSWORD), state)
    finally:
        browser.close()
    return oauth, code, verifier


def tokens_by_code_flow(live_server: str, client_id: str, email: str, scope: str):
    """A person signs in through the browser app; return its session and the token response."""
    oauth, code, verifier = sign_in_for_code(live_server, client_id, email, scope)
    token = oauth.fetch_token(f"{live_server}/oauth/token", code=code, code_verifier=verifier)
    return oauth, token


def token_request(live_server: str, data: dict, headers: dict | None = None):
    return requests.post(f"{live_server}/oauth/token", data=data, headers=headers, timeout=10)


def server_key(app) -> ECKey:
    return app.extensions["signing_keys"].private


def sign(key, claims: dict, header: dict | None = None) -> str:
    header = {"alg": "ES256", "typ": "at+jwt", "kid": key.kid, **(header or {})}
    return jwt.encode(header, claims, key, algorithms=[header["alg"]])


def valid_claims(caller) -> dict:
    """Claims a genuine token for `caller` would carry, issued now."""
    _, claims = unverified(caller.token)
    now = int(time.time())
    return {**claims, "iat": now, "exp": now + 900, "jti": uuid.uuid4().hex}


def deactivate(app, user_id: uuid.UUID) -> None:
    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(is_active=False))
        db.session.commit()


def unlock(app, email: str) -> None:
    """Let the sign-in lock of `email` pass, as if its wait had been sat out."""
    with app.app_context():
        db.session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key.startswith(f"account:{email.lower()}|"))
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()


# --- client credentials ----------------------------------------------------------------------


def test_integration_gets_a_short_lived_jwt_with_client_credentials(app, live_server, factory):
    tenant = factory.tenant()
    client_id, secret = factory.integration_client(tenant)

    with OAuth2Session(
        client_id, secret, token_endpoint_auth_method="client_secret_basic"
    ) as oauth:
        sent = recording(oauth)
        token = oauth.fetch_token(f"{live_server}/oauth/token", grant_type="client_credentials")
        api = oauth.get(f"{live_server}/v1/tenants/{tenant.id}", timeout=10)

    # The secret travelled in the Basic header, not in the body.
    assert sent[0].headers["Authorization"] == basic(client_id, secret)["Authorization"]
    assert "client_secret" not in form_of(sent[0])
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 900
    assert token["scope"] == INTEGRATION_SCOPE
    assert "refresh_token" not in token

    header, claims = unverified(token["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    jwks = requests.get(f"{live_server}/.well-known/jwks.json", timeout=10).json()
    assert header["kid"] in [k["kid"] for k in jwks["keys"]]
    assert all("d" not in k for k in jwks["keys"])  # public halves only
    # The signature verifies with the published key set, and only as ES256.
    verified = jwt.decode(token["access_token"], KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert verified.claims == claims

    assert claims["iss"] == live_server
    assert claims["aud"] == f"{live_server}/v1"
    assert claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - time.time()) < 60
    assert re.fullmatch(r"[0-9a-f]{32}", claims["jti"])
    assert claims["client_id"] == client_id
    assert claims["sub"] == client_id  # an integration acts for its tenant, not a person
    assert claims["scope"] == INTEGRATION_SCOPE
    assert claims["tenant_id"] == str(tenant.id)

    assert api.status_code == 200, api.text
    assert api.json()["id"] == str(tenant.id)


def test_integration_may_send_its_secret_in_the_form_body(app, live_server, factory):
    tenant = factory.tenant()
    client_id, secret = factory.integration_client(tenant)

    with OAuth2Session(
        client_id, secret, token_endpoint_auth_method="client_secret_post", scope="tenants:read"
    ) as oauth:
        sent = recording(oauth)
        token = oauth.fetch_token(f"{live_server}/oauth/token", grant_type="client_credentials")
        api = oauth.get(f"{live_server}/v1/tenants/{tenant.id}", timeout=10)

    assert "Authorization" not in sent[0].headers
    assert form_of(sent[0])["client_secret"] == [secret]
    assert form_of(sent[0])["client_id"] == [client_id]
    assert token["scope"] == "tenants:read"
    assert unverified(token["access_token"])[1]["scope"] == "tenants:read"
    assert api.status_code == 200, api.text


def test_each_token_has_its_own_jti(factory):
    tenant = factory.tenant()
    client_id, secret = factory.integration_client(tenant)

    jtis = {unverified(factory.token(client_id, secret))[1]["jti"] for _ in range(3)}

    assert len(jtis) == 3


def test_a_wrong_client_secret_gets_invalid_client(live_server, factory):
    tenant = factory.tenant()
    client_id, _ = factory.integration_client(tenant)

    response = token_request(
        live_server, {"grant_type": "client_credentials"}, basic(client_id, "not-the-secret")
    )

    assert_oauth_error(response, 401, "invalid_client")


def test_a_browser_app_cannot_use_client_credentials(live_server, factory):
    client_id = factory.browser_client(REDIRECT_URI)

    response = token_request(
        live_server, {"grant_type": "client_credentials", "client_id": client_id}
    )

    assert_oauth_error(response, 401, "invalid_client")


def test_there_is_no_password_grant(live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_admin", tenant)
    client_id, secret = factory.user_client(user)

    response = token_request(
        live_server,
        {"grant_type": "password", "username": user.email, "password": PASSWORD},
        basic(client_id, secret),
    )

    assert_oauth_error(response, 400, "unsupported_grant_type")


# --- authorization code with PKCE ------------------------------------------------------------


def test_a_person_signs_in_through_a_browser_app_with_pkce(live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_admin", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    oauth = browser_app(client_id, "tenants:read users:read")
    verifier = generate_token(64)
    url, state = oauth.create_authorization_url(
        f"{live_server}/oauth/authorize", code_verifier=verifier
    )
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"] == [create_s256_code_challenge(verifier)]
    browser = Browser()

    page = browser.open(url)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert browser.csrf
    assert "browser app" in page.text
    signed_in = browser.sign_in(url, user.email, PASSWORD)
    code = code_from(signed_in, state)
    token = oauth.fetch_token(f"{live_server}/oauth/token", code=code, code_verifier=verifier)
    api = oauth.get(f"{live_server}/v1/tenants/{tenant.id}/users", timeout=10)
    browser.close()

    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 900
    assert token["scope"] == "tenants:read users:read"
    assert token["refresh_token"]
    header, claims = unverified(token["access_token"])
    assert header["typ"] == "at+jwt"
    assert claims["sub"] == str(user.id)
    assert claims["client_id"] == client_id
    assert claims["scope"] == "tenants:read users:read"
    assert "tenant_id" not in claims
    assert api.status_code == 200, api.text
    assert user.email in [u["email"] for u in api.json()]


def test_the_login_form_refuses_a_post_without_its_csrf_token(live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_admin", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    oauth = browser_app(client_id, "tenants:read")
    url, _ = oauth.create_authorization_url(
        f"{live_server}/oauth/authorize", code_verifier=generate_token(64)
    )
    browser = Browser()
    browser.open(url)
    browser.csrf = "forged"

    response = browser.sign_in(url, user.email, PASSWORD)
    browser.close()

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "form expired" in page_error(response)


def test_an_authorization_code_works_only_once(live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_viewer", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    oauth, code, verifier = sign_in_for_code(live_server, client_id, user.email, "tenants:read")
    redeem = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": REDIRECT_URI,
        "client_id": client_id,
    }

    first = token_request(live_server, redeem)
    second = token_request(live_server, redeem)
    oauth.close()

    assert first.status_code == 200, first.text
    assert first.json()["access_token"]
    assert_oauth_error(second, 400, "invalid_grant")


def test_a_code_cannot_be_redeemed_with_the_wrong_verifier(live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_viewer", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    oauth, code, verifier = sign_in_for_code(live_server, client_id, user.email, "tenants:read")
    redeem = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": client_id,
    }

    wrong = token_request(live_server, {**redeem, "code_verifier": generate_token(64)})
    missing = token_request(live_server, redeem)
    right = token_request(live_server, {**redeem, "code_verifier": verifier})
    oauth.close()

    assert_oauth_error(wrong, 400, "invalid_grant")
    assert_oauth_error(missing, 400, "invalid_request")
    # The control: the same code with its own verifier was still good.
    assert right.status_code == 200, right.text


def test_a_code_issued_to_one_browser_app_cannot_be_redeemed_by_another(live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_viewer", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    other_id = factory.browser_client(REDIRECT_URI)
    oauth, code, verifier = sign_in_for_code(live_server, client_id, user.email, "tenants:read")

    response = token_request(
        live_server,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT_URI,
            "client_id": other_id,
        },
    )
    oauth.close()

    assert_oauth_error(response, 400, "invalid_grant")


def _authorize_url(live_server: str, client_id: str, **params: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "tenants:read",
        "state": "xyz",
        **params,
    }
    return requests.Request("GET", f"{live_server}/oauth/authorize", params=query).prepare().url


def _refused_without_a_code(response: requests.Response) -> str:
    """The authorization request failed: no code, whether shown here or sent back."""
    if response.status_code == 302:
        params = parse_qs(urlsplit(response.headers["Location"]).query)
        assert "code" not in params
        return params["error"][0]
    assert response.status_code == 400, (response.status_code, response.text)
    assert "Location" not in response.headers
    assert 'name="password"' not in response.text  # no sign-in form for a bad request
    return page_error(response)


def test_an_authorization_request_without_a_code_challenge_is_refused(live_server, factory):
    client_id = factory.browser_client(REDIRECT_URI)
    browser = Browser()

    response = browser.open(_authorize_url(live_server, client_id))
    browser.close()

    error = _refused_without_a_code(response)
    assert "code_challenge" in error or error == "invalid_request"


def test_the_plain_code_challenge_method_is_refused(live_server, factory):
    client_id = factory.browser_client(REDIRECT_URI)
    verifier = generate_token(64)
    browser = Browser()

    response = browser.open(
        _authorize_url(
            live_server, client_id, code_challenge=verifier, code_challenge_method="plain"
        )
    )
    browser.close()

    error = _refused_without_a_code(response)
    assert "code_challenge_method" in error or error == "invalid_request"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://evil.example/callback",
        "http://127.0.0.1:9/callback/../elsewhere",
        "http://127.0.0.1:9/callbackx",
        "http://127.0.0.1:9/callback?next=http://evil.example",
    ],
)
def test_a_redirect_uri_not_registered_shows_an_error_and_does_not_redirect(
    live_server, factory, redirect_uri
):
    client_id = factory.browser_client(REDIRECT_URI)
    challenge = create_s256_code_challenge(generate_token(64))
    browser = Browser()

    response = browser.open(
        _authorize_url(
            live_server,
            client_id,
            redirect_uri=redirect_uri,
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )
    browser.close()

    assert response.status_code == 400, response.text
    assert "Location" not in response.headers
    assert "evil.example" not in response.headers.get("Refresh", "")
    assert 'name="password"' not in response.text
    assert "redirect" in page_error(response).lower()


def test_an_unknown_client_shows_an_error_and_does_not_redirect(live_server):
    challenge = create_s256_code_challenge(generate_token(64))
    browser = Browser()

    response = browser.open(
        _authorize_url(
            live_server, "no-such-client", code_challenge=challenge, code_challenge_method="S256"
        )
    )
    browser.close()

    assert response.status_code == 400, response.text
    assert "Location" not in response.headers
    assert 'name="password"' not in response.text


def test_a_deactivated_person_cannot_sign_in(app, live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_viewer", tenant)
    deactivate(app, user.id)
    client_id = factory.browser_client(REDIRECT_URI)
    url = _authorize_url(
        live_server,
        client_id,
        code_challenge=create_s256_code_challenge(generate_token(64)),
        code_challenge_method="S256",
    )
    browser = Browser()
    browser.open(url)

    response = browser.sign_in(url, user.email, PASSWORD)
    browser.close()

    assert response.status_code == 401
    assert "Location" not in response.headers
    assert page_error(response) == "Wrong email or password."


# --- refresh tokens --------------------------------------------------------------------------


def test_refreshing_rotates_the_refresh_token(live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_admin", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    oauth, first = tokens_by_code_flow(live_server, client_id, user.email, "tenants:read")

    second = oauth.refresh_token(f"{live_server}/oauth/token", refresh_token=first["refresh_token"])
    # (Presenting `first` again now would revoke the whole family: tests/test_oauth_attacks.py.)
    third = oauth.refresh_token(f"{live_server}/oauth/token", refresh_token=second["refresh_token"])
    api = requests.get(
        f"{live_server}/v1/tenants/{tenant.id}", headers=bearer(third["access_token"]), timeout=10
    )
    oauth.close()

    assert second["refresh_token"] and second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == "tenants:read"
    assert unverified(second["access_token"])[1]["sub"] == str(user.id)
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    assert api.status_code == 200, api.text


def test_a_refresh_token_cannot_widen_the_scope(live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_admin", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    oauth, first = tokens_by_code_flow(live_server, client_id, user.email, "tenants:read")
    oauth.close()

    response = token_request(
        live_server,
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": client_id,
            "scope": "tenants:read users:admin",
        },
    )

    assert_oauth_error(response, 400, "invalid_scope")


def test_a_refresh_token_is_bound_to_its_client(live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_admin", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    other_id = factory.browser_client(REDIRECT_URI)
    oauth, first = tokens_by_code_flow(live_server, client_id, user.email, "tenants:read")
    oauth.close()

    response = token_request(
        live_server,
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": other_id,
        },
    )

    assert_oauth_error(response, 400, "invalid_grant")


def test_a_deactivated_person_can_no_longer_refresh(app, live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_admin", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    oauth, first = tokens_by_code_flow(live_server, client_id, user.email, "tenants:read")
    oauth.close()
    deactivate(app, user.id)

    response = token_request(
        live_server,
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": client_id,
        },
    )

    assert_oauth_error(response, 400, "invalid_grant")


# --- revocation (RFC 7009) and introspection (RFC 7662) --------------------------------------


def test_a_revoked_access_token_stops_working_at_once(live_server, factory):
    tenant = factory.tenant()
    client_id, secret = factory.integration_client(tenant)
    url = f"{live_server}/v1/tenants/{tenant.id}"

    with OAuth2Session(client_id, secret) as oauth:
        token = oauth.fetch_token(f"{live_server}/oauth/token", grant_type="client_credentials")
        before = oauth.get(url, timeout=10)
        revoked = oauth.revoke_token(
            f"{live_server}/oauth/revoke",
            token=token["access_token"],
            token_type_hint="access_token",
        )
        again = oauth.revoke_token(
            f"{live_server}/oauth/revoke",
            token=token["access_token"],
            token_type_hint="access_token",
        )
    after = requests.get(url, headers=bearer(token["access_token"]), timeout=10)

    assert before.status_code == 200
    assert revoked.status_code == 200
    assert again.status_code == 200  # revoking twice is harmless
    assert after.status_code == 401
    assert after.headers["Content-Type"].startswith(PROBLEM_JSON)
    challenge = after.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="switchboard"')
    assert 'error="invalid_token"' in challenge
    assert "revoked" in after.json()["detail"]


def test_a_revoked_refresh_token_can_no_longer_refresh(live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_admin", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    oauth, token = tokens_by_code_flow(live_server, client_id, user.email, "tenants:read")

    revoked = oauth.revoke_token(
        f"{live_server}/oauth/revoke",
        token=token["refresh_token"],
        token_type_hint="refresh_token",
    )
    oauth.close()
    refresh = token_request(
        live_server,
        {
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": client_id,
        },
    )

    assert revoked.status_code == 200, revoked.text
    assert_oauth_error(refresh, 400, "invalid_grant")


def test_a_client_cannot_revoke_another_clients_token(live_server, factory):
    tenant = factory.tenant()
    owner_id, owner_secret = factory.integration_client(tenant)
    other_id, other_secret = factory.integration_client(factory.tenant())
    token = factory.token(owner_id, owner_secret)

    response = requests.post(
        f"{live_server}/oauth/revoke",
        data={"token": token},
        headers=basic(other_id, other_secret),
        timeout=10,
    )
    api = requests.get(f"{live_server}/v1/tenants/{tenant.id}", headers=bearer(token), timeout=10)

    assert response.status_code == 400, response.text
    assert api.status_code == 200, api.text


def test_a_client_introspects_its_own_token_until_it_is_revoked(live_server, factory):
    tenant = factory.tenant()
    client_id, secret = factory.integration_client(tenant)
    token = factory.token(client_id, secret)
    _, claims = unverified(token)

    with OAuth2Session(client_id, secret) as oauth:
        live = oauth.introspect_token(
            f"{live_server}/oauth/introspect", token=token, token_type_hint="access_token"
        )
        oauth.revoke_token(f"{live_server}/oauth/revoke", token=token)
        dead = oauth.introspect_token(f"{live_server}/oauth/introspect", token=token)

    assert live.status_code == 200
    assert live.json() == {
        "active": True,
        "token_type": "Bearer",
        "client_id": client_id,
        "sub": client_id,
        "aud": f"{live_server}/v1",
        "iss": live_server,
        "exp": claims["exp"],
        "iat": claims["iat"],
        "jti": claims["jti"],
        "scope": INTEGRATION_SCOPE,
        "tenant_id": str(tenant.id),
    }
    assert dead.status_code == 200
    assert dead.json() == {"active": False}


def test_another_clients_token_introspects_as_inactive(live_server, factory):
    tenant = factory.tenant()
    owner_id, owner_secret = factory.integration_client(tenant)
    other_id, other_secret = factory.integration_client(tenant)
    token = factory.token(owner_id, owner_secret)

    with OAuth2Session(other_id, other_secret) as oauth:
        response = oauth.introspect_token(f"{live_server}/oauth/introspect", token=token)
        garbage = oauth.introspect_token(f"{live_server}/oauth/introspect", token="not-a-token")

    assert response.status_code == 200
    assert response.json() == {"active": False}
    assert garbage.json() == {"active": False}


def test_introspection_requires_client_authentication(live_server, factory):
    tenant = factory.tenant()
    client_id, secret = factory.integration_client(tenant)
    token = factory.token(client_id, secret)
    browser_id = factory.browser_client(REDIRECT_URI)

    anonymous = requests.post(f"{live_server}/oauth/introspect", data={"token": token}, timeout=10)
    public = requests.post(
        f"{live_server}/oauth/introspect",
        data={"token": token, "client_id": browser_id},
        timeout=10,
    )

    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    assert public.status_code == 401
    assert public.json()["error"] == "invalid_client"
    assert "active" not in public.json()


# --- discovery (RFC 8414, JWKS) --------------------------------------------------------------


def test_the_server_metadata_validates_and_points_at_live_endpoints(live_server):
    response = requests.get(f"{live_server}/.well-known/oauth-authorization-server", timeout=10)
    assert response.status_code == 200
    data = response.json()

    AuthorizationServerMetadata(data).validate()

    assert data["issuer"] == live_server
    assert data["authorization_endpoint"] == f"{live_server}/oauth/authorize"
    assert data["token_endpoint"] == f"{live_server}/oauth/token"
    assert data["revocation_endpoint"] == f"{live_server}/oauth/revoke"
    assert data["introspection_endpoint"] == f"{live_server}/oauth/introspect"
    assert data["jwks_uri"] == f"{live_server}/.well-known/jwks.json"
    assert sorted(data["grant_types_supported"]) == [
        "authorization_code",
        "client_credentials",
        "refresh_token",
    ]
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert data["response_types_supported"] == ["code"]
    assert set(ROLE_SCOPES["bpo_admin"]) == set(data["scopes_supported"])
    # Each advertised endpoint answers at its advertised address.
    assert requests.get(data["jwks_uri"], timeout=10).json()["keys"]
    for name in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        answer = requests.post(data[name], data={}, timeout=10)
        assert answer.status_code in (400, 401), (name, answer.status_code)
        assert "error" in answer.json()
    assert requests.get(data["authorization_endpoint"], timeout=10).status_code == 400


def test_the_jwks_publishes_the_signing_key_for_es256(app, live_server):
    response = requests.get(f"{live_server}/.well-known/jwks.json", timeout=10)

    assert response.status_code == 200
    assert "max-age=300" in response.headers["Cache-Control"]
    (key,) = response.json()["keys"]
    assert key["kid"] == server_key(app).kid
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert set(key) == {"kty", "crv", "x", "y", "kid", "alg", "use"}


# --- refused bearer tokens -------------------------------------------------------------------


def test_a_request_without_a_token_is_challenged_without_an_error_code(client, factory):
    tenant = factory.tenant()

    response = client.get(f"/v1/tenants/{tenant.id}")
    basic_scheme = client.get(f"/v1/tenants/{tenant.id}", headers=basic("a", "b"))

    for answer in (response, basic_scheme):
        assert answer.status_code == 401
        assert answer.mimetype == PROBLEM_JSON
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="switchboard"'


def test_a_token_crafted_with_the_server_key_and_sound_claims_is_accepted(app, client, factory):
    """The control for the forgeries below: the crafting itself is not what gets refused."""
    tenant = factory.tenant()
    caller = factory.caller("integration", tenant)

    token = sign(server_key(app), valid_claims(caller))
    response = client.get(f"/v1/tenants/{tenant.id}", headers=bearer(token))

    assert response.status_code == 200, response.get_json()


def _alg_none(app, claims):
    return f"{b64url_json({'alg': 'none', 'typ': 'at+jwt'})}.{b64url_json(claims)}."


def _alg_none_with_kid(app, claims):
    header = {"alg": "none", "typ": "at+jwt", "kid": server_key(app).kid}
    return f"{b64url_json(header)}.{b64url_json(claims)}."


def _another_es256_key(app, claims):
    # Same kid as the server's key, so only the signature can tell them apart.
    impostor = ECKey.generate_key("P-256", parameters={"kid": server_key(app).kid})
    return sign(impostor, claims)


def _hmac_token(secret: bytes, claims: dict, kid: str) -> str:
    signing_input = f"{b64url_json({'alg': 'HS256', 'typ': 'at+jwt', 'kid': kid})}." + (
        b64url_json(claims)
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def _hs256_with_public_pem(app, claims):
    key = server_key(app)
    return _hmac_token(key.as_pem(private=False), claims, key.kid)


def _hs256_with_public_jwk(app, claims):
    key = server_key(app)
    jwks = app.extensions["signing_keys"].jwks()
    return _hmac_token(json.dumps(jwks["keys"][0]).encode(), claims, key.kid)


def _expired(app, claims):
    now = int(time.time())
    return sign(server_key(app), {**claims, "iat": now - 2000, "exp": now - 600})


def _not_yet_valid(app, claims):
    return sign(server_key(app), {**claims, "nbf": int(time.time()) + 600})


def _wrong_audience(app, claims):
    return sign(server_key(app), {**claims, "aud": "https://other.example/v1"})


def _wrong_issuer(app, claims):
    return sign(server_key(app), {**claims, "iss": "https://other.example"})


def _typ_jwt(app, claims):
    return sign(server_key(app), claims, {"typ": "JWT"})


def _no_typ(app, claims):
    return jwt.encode({"alg": "ES256", "kid": server_key(app).kid}, claims, server_key(app))


def _tampered_payload(app, claims):
    header, _, signature = sign(server_key(app), claims).split(".")
    widened = {**claims, "scope": claims["scope"] + " tenants:admin users:admin"}
    return f"{header}.{b64url_json(widened)}.{signature}"


def _without(name):
    def craft(app, claims):
        return sign(server_key(app), {k: v for k, v in claims.items() if k != name})

    craft.__name__ = f"_without_{name}"
    return craft


def _unknown_client(app, claims):
    return sign(server_key(app), {**claims, "client_id": "no-such-client", "sub": "no-such"})


def _not_a_jwt(app, claims):
    return "not.a.jwt"


FORGERIES = [
    _alg_none,
    _alg_none_with_kid,
    _another_es256_key,
    _hs256_with_public_pem,
    _hs256_with_public_jwk,
    _expired,
    _not_yet_valid,
    _wrong_audience,
    _wrong_issuer,
    _typ_jwt,
    _no_typ,
    _tampered_payload,
    _without("exp"),
    _without("iss"),
    _without("aud"),
    _without("jti"),
    _without("client_id"),
    _without("sub"),
    _without("iat"),
    _unknown_client,
    _not_a_jwt,
]


@pytest.mark.parametrize("forge", FORGERIES, ids=[f.__name__.strip("_") for f in FORGERIES])
def test_a_forged_or_unacceptable_token_is_refused_with_401(app, client, factory, forge):
    tenant = factory.tenant()
    caller = factory.caller("integration", tenant)

    response = client.get(
        f"/v1/tenants/{tenant.id}", headers=bearer(forge(app, valid_claims(caller)))
    )

    assert_invalid_token(response)


def test_an_expired_token_within_the_leeway_is_still_accepted(app, client, factory):
    tenant = factory.tenant()
    caller = factory.caller("integration", tenant)
    now = int(time.time())
    claims = {**valid_claims(caller), "iat": now - 905, "exp": now - 5}

    response = client.get(f"/v1/tenants/{tenant.id}", headers=bearer(sign(server_key(app), claims)))

    assert response.status_code == 200


def test_a_revoked_token_is_refused(app, client, factory):
    tenant = factory.tenant()
    caller = factory.caller("integration", tenant)
    revoke = client.post(
        "/oauth/revoke",
        data={"token": caller.token},
        headers=basic(caller.client_id, caller.client_secret),
    )

    response = client.get(f"/v1/tenants/{tenant.id}", headers=caller.headers)

    assert revoke.status_code == 200
    assert "revoked" in assert_invalid_token(response)


def test_the_token_of_a_revoked_api_client_is_refused(app, client, factory):
    tenant = factory.tenant()
    admin = factory.caller("client_admin", tenant)
    integration = factory.caller("integration", tenant)
    record = factory.api_client_record(integration.client_id)
    assert client.get(f"/v1/tenants/{tenant.id}", headers=integration.headers).status_code == 200

    deleted = client.delete(
        f"/v1/tenants/{tenant.id}/api-clients/{record.id}", headers=admin.headers
    )
    response = client.get(f"/v1/tenants/{tenant.id}", headers=integration.headers)
    new_token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(integration.client_id, integration.client_secret),
    )

    assert deleted.status_code == 204, deleted.get_json()
    assert "revoked" in assert_invalid_token(response)
    assert new_token.status_code == 401
    assert new_token.get_json()["error"] == "invalid_client"


def test_the_token_of_a_deactivated_person_is_refused(app, client, live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_admin", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    oauth, token = tokens_by_code_flow(live_server, client_id, user.email, "tenants:read")
    oauth.close()
    assert (
        client.get(f"/v1/tenants/{tenant.id}", headers=bearer(token["access_token"])).status_code
        == 200
    )

    deactivate(app, user.id)
    response = client.get(f"/v1/tenants/{tenant.id}", headers=bearer(token["access_token"]))

    assert "deactivated" in assert_invalid_token(response)


def test_the_script_of_a_deactivated_person_stops_working(app, client, factory):
    """A client acting as a person (client_credentials) is refused once the person is gone."""
    tenant = factory.tenant()
    caller = factory.caller("client_admin", tenant)
    assert client.get(f"/v1/tenants/{tenant.id}", headers=caller.headers).status_code == 200

    deactivate(app, caller.user_id)
    response = client.get(f"/v1/tenants/{tenant.id}", headers=caller.headers)
    new_token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(caller.client_id, caller.client_secret),
    )

    assert "deactivated" in assert_invalid_token(response)
    assert new_token.status_code == 401, new_token.get_json()
    assert new_token.get_json()["error"] == "invalid_client"


# --- scopes and roles ------------------------------------------------------------------------


def test_a_client_admins_script_asking_for_tenants_admin_gets_invalid_scope(live_server, factory):
    tenant = factory.tenant()
    client_id, secret = factory.user_client(factory.user("client_admin", tenant))

    response = token_request(
        live_server,
        {"grant_type": "client_credentials", "scope": "tenants:admin"},
        basic(client_id, secret),
    )

    body = assert_oauth_error(response, 400, "invalid_scope")
    assert "tenants:admin" in body["error_description"]


def test_an_integration_asking_for_a_scope_beyond_its_role_gets_invalid_scope(live_server, factory):
    tenant = factory.tenant()
    client_id, secret = factory.integration_client(tenant)

    response = token_request(
        live_server,
        {"grant_type": "client_credentials", "scope": "tenants:read users:admin"},
        basic(client_id, secret),
    )

    assert_oauth_error(response, 400, "invalid_scope")


def test_an_unknown_scope_is_refused(live_server, factory):
    tenant = factory.tenant()
    client_id, secret = factory.user_client(factory.user("client_admin", tenant))

    response = token_request(
        live_server,
        {"grant_type": "client_credentials", "scope": "tenants:read tenants:destroy"},
        basic(client_id, secret),
    )

    body = assert_oauth_error(response, 400, "invalid_scope")
    assert "tenants:destroy" in body["error_description"]


def test_a_browser_sign_in_cannot_reach_beyond_the_persons_role(live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_viewer", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    oauth = browser_app(client_id, "tenants:read tenants:admin")
    url, _ = oauth.create_authorization_url(
        f"{live_server}/oauth/authorize", code_verifier=generate_token(64)
    )
    browser = Browser()
    browser.open(url)

    response = browser.sign_in(url, user.email, PASSWORD)
    browser.close()

    # Only once the person is known can their role bound the scope: the browser goes back to
    # the client with the error (RFC 6749 4.1.2.1), and no code.
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    params = parse_qs(location.query)
    assert params["error"] == ["invalid_scope"]
    assert "tenants:admin" in params["error_description"][0]
    assert "code" not in params


def _new_user_body() -> dict:
    return {
        "email": f"new-{uuid.uuid4().hex[:8]}@example.test",
        "name": "New Person",
        "role": "client_viewer",
    }


def test_a_token_narrowed_to_reading_cannot_add_users_even_for_a_client_admin(client, factory):
    tenant = factory.tenant()
    narrow = factory.caller("client_admin", tenant, scope="tenants:read")
    full = factory.caller("client_admin", tenant)
    url = f"/v1/tenants/{tenant.id}/users"

    response = client.post(url, json=_new_user_body(), headers=narrow.headers)
    control = client.post(url, json=_new_user_body(), headers=full.headers)

    assert response.status_code == 403
    assert response.mimetype == PROBLEM_JSON
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="switchboard"')
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="users:admin"' in challenge
    assert "users:admin" in response.get_json()["detail"]
    assert control.status_code == 201, control.get_json()


def test_a_client_viewer_may_not_add_users(client, factory):
    tenant = factory.tenant()
    viewer = factory.caller("client_viewer", tenant)

    response = client.post(
        f"/v1/tenants/{tenant.id}/users", json=_new_user_body(), headers=viewer.headers
    )

    assert response.status_code == 403
    assert response.mimetype == PROBLEM_JSON
    assert "insufficient_scope" not in response.headers.get("WWW-Authenticate", "")
    assert "client_viewer" in response.get_json()["detail"]


def test_an_integration_token_cannot_reach_another_tenant(client, factory):
    mine, theirs = factory.tenant(), factory.tenant()
    caller = factory.caller("integration", mine)

    response = client.get(f"/v1/tenants/{theirs.id}", headers=caller.headers)

    assert response.status_code == 404
    assert response.mimetype == PROBLEM_JSON


# --- passwords -------------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id(app, client, factory):
    tenant = factory.tenant()
    user = factory.user("client_viewer", tenant)
    admin = factory.caller("client_admin", tenant)
    created = client.post(
        f"/v1/tenants/{tenant.id}/users",
        json={**_new_user_body(), "password": "a long enough secret"},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.get_json()

    with app.app_context():
        stored = dict(
            db.session.execute(
                select(User.email, User.password_hash).where(
                    User.email.in_([user.email, created.get_json()["email"]])
                )
            ).all()
        )

    assert len(stored) == 2
    for hashed in stored.values():
        assert hashed.startswith("$argon2id$")
        assert PASSWORD not in hashed and "a long enough secret" not in hashed


def test_repeated_wrong_passwords_are_slowed_down(app, live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_viewer", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    free = app.config["LOGIN_FREE_ATTEMPTS"]
    oauth = browser_app(client_id, "tenants:read")
    url, state = oauth.create_authorization_url(
        f"{live_server}/oauth/authorize", code_verifier=generate_token(64)
    )
    browser = Browser()
    browser.open(url)

    wrong = [browser.sign_in(url, user.email, "wrong password!").status_code for _ in range(free)]
    locked = browser.sign_in(url, user.email, "wrong password!")
    right_but_locked = browser.sign_in(url, user.email, PASSWORD)
    unlock(app, user.email)
    wrong_again = browser.sign_in(url, user.email, "wrong password!")
    locked_longer = browser.sign_in(url, user.email, PASSWORD)
    unlock(app, user.email)
    signed_in = browser.sign_in(url, user.email, PASSWORD)
    browser.close()

    assert wrong == [401] * free
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "1"
    assert "Too many failed attempts" in page_error(locked)
    assert right_but_locked.status_code == 429
    assert "Location" not in right_but_locked.headers
    assert wrong_again.status_code == 401
    assert locked_longer.status_code == 429
    assert locked_longer.headers["Retry-After"] == "2"
    code_from(signed_in, state)
    with app.app_context():
        # Forgotten after success.
        assert not db.session.scalars(
            select(LoginThrottle).where(LoginThrottle.key.startswith(f"account:{user.email}|"))
        ).all()


def test_the_lock_lifts_by_itself_when_its_wait_has_passed(app, live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_viewer", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    oauth = browser_app(client_id, "tenants:read")
    url, state = oauth.create_authorization_url(
        f"{live_server}/oauth/authorize", code_verifier=generate_token(64)
    )
    browser = Browser()
    browser.open(url)
    for _ in range(app.config["LOGIN_FREE_ATTEMPTS"]):
        browser.sign_in(url, user.email, "wrong password!")
    locked = browser.sign_in(url, user.email, PASSWORD)
    assert locked.status_code == 429

    time.sleep(int(locked.headers["Retry-After"]) + 0.1)
    signed_in = browser.sign_in(url, user.email, PASSWORD)
    browser.close()

    code_from(signed_in, state)


def test_the_sign_in_page_does_not_say_whether_an_email_exists(app, live_server, factory):
    tenant = factory.tenant()
    user = factory.user("client_viewer", tenant)
    client_id = factory.browser_client(REDIRECT_URI)
    url = _authorize_url(
        live_server,
        client_id,
        code_challenge=create_s256_code_challenge(generate_token(64)),
        code_challenge_method="S256",
    )
    browser = Browser()
    browser.open(url)
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.test"

    # Each address's locked attempt comes right after its last free one: the first wait is 1 s,
    # and on a busy machine the other address's password check could outlast it.
    free = range(app.config["LOGIN_FREE_ATTEMPTS"])
    known = [browser.sign_in(url, user.email, "wrong password!") for _ in free]
    known_locked = browser.sign_in(url, user.email, "wrong password!")
    unknowns = [browser.sign_in(url, unknown, "wrong password!") for _ in free]
    unknown_locked = browser.sign_in(url, unknown, "wrong password!")
    browser.close()

    for known_wrong, unknown_email in zip(known, unknowns, strict=True):
        assert known_wrong.status_code == unknown_email.status_code == 401
        assert page_error(known_wrong) == page_error(unknown_email) == "Wrong email or password."
    # Unknown emails are slowed down exactly like real ones.
    assert known_locked.status_code == unknown_locked.status_code == 429
    assert known_locked.headers["Retry-After"] == unknown_locked.headers["Retry-After"]
    assert page_error(known_locked) == page_error(unknown_locked)
