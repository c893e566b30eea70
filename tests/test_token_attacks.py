"""Bearer-token attacks on real protected routes: forged, confused, stale, revoked, malformed.

Issue 8's token list in one place. Every attack impersonates a BPO admin, the most powerful
caller, and is sent to a client firm's contacts and to the BPO-only agent roster; a genuine
token of that admin reads both (the control), every attack must get a 401 problem with an
RFC 6750 `invalid_token` challenge that neither echoes the token nor carries any data.
Tokens are crafted with joserfc, by hand where joserfc rightly refuses (`alg: none`, HS256 with
a public key), and reuse the helpers of tests/test_oauth.py.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry
from sqlalchemy import select, update

from app.auth.permissions import ROLE_SCOPES, SCOPES
from app.db import db
from tenants import service as tenants_service
from tenants.models import ApiClient
from tenants.scoping import unscoped
from tests.factories import one_row_of_everything
from tests.test_oauth import (
    PROBLEM_JSON,
    REDIRECT_URI,
    _hmac_token,
    b64url,
    b64url_json,
    basic,
    bearer,
    deactivate,
    server_key,
    sign,
    tokens_by_code_flow,
    unverified,
    valid_claims,
)

# What a refusal may hold: the problem fields, never a resource's.
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "request_id"}
BPO_ONLY_SCOPES = sorted(set(SCOPES) - ROLE_SCOPES["client_admin"])


# --- the target and how a refusal looks ------------------------------------------------------


@dataclass
class Target:
    """A client firm with data, a BPO admin who can read it, and the routes under attack."""

    app: object
    tenant_id: uuid.UUID
    contact_id: uuid.UUID
    agent_id: uuid.UUID
    admin: object  # tests.factories.Caller
    claims: dict  # what a genuine token of the admin carries, issued now
    jku: str  # an attacker's key-set URL (see `attacker_site`)

    @property
    def routes(self) -> list[str]:
        return [f"/v1/tenants/{self.tenant_id}/contacts", "/v1/agents"]

    @property
    def secrets(self) -> list[str]:
        """What no refusal may reveal: the data behind the routes."""
        return [str(self.contact_id), str(self.agent_id)]


class AttackerSite:
    """A local web server publishing an attacker's JWKS; records every request it gets."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256", auto_kid=True)
        self.hits: list[str] = []
        jwks = json.dumps({"keys": [self.key.as_dict(private=False)]}).encode()
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(jwks)))
                self.end_headers()
                self.wfile.write(jwks)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def attacker_site():
    site = AttackerSite()
    yield site
    site.close()


@pytest.fixture
def target(app, factory, attacker_site) -> Target:
    tenant = factory.tenant()
    rows = one_row_of_everything(app, tenant)
    admin = factory.caller("bpo_admin")
    return Target(
        app=app,
        tenant_id=tenant.id,
        contact_id=rows["contact"],
        agent_id=rows["agent"],
        admin=admin,
        claims=valid_claims(admin),
        jku=f"{attacker_site.url}/jwks.json",
    )


def assert_refused(response, token: str, target: Target | None = None) -> str:
    """401 problem+json with an RFC 6750 invalid_token challenge, no token, no data."""
    text = response.get_data(as_text=True)
    assert response.status_code == 401, (response.status_code, text[:500])
    assert response.mimetype == PROBLEM_JSON
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="switchboard"'), challenge
    assert 'error="invalid_token"' in challenge, challenge
    body = response.get_json()
    assert set(body) <= PROBLEM_FIELDS, body
    assert body["status"] == 401
    # Neither the token nor any sizeable piece of it comes back (logs and proxies keep these).
    pieces = [p for p in token.replace(",", ".").replace(" ", ".").split(".") if len(p) >= 12]
    for piece in [token.strip(), *pieces]:
        if piece:
            assert piece not in text, "the token is echoed in the body"
            assert piece not in challenge, "the token is echoed in WWW-Authenticate"
    assert len(text) < 2000
    for secret in target.secrets if target else []:
        assert secret not in text
    return body["detail"]


def assert_refused_everywhere(client, target: Target, token: str) -> list[str]:
    return [
        assert_refused(client.get(route, headers=bearer(token)), token, target)
        for route in target.routes
    ]


# --- the control: the routes do answer with data to a genuine token ---------------------------


def test_a_genuine_token_and_ones_crafted_with_the_server_key_read_both_routes(client, target):
    """So the crafting itself is not what the attacks below are refused for."""
    crafted = sign(server_key(target.app), target.claims)
    hand_signed = _raw_es256(target, {})

    for token in (target.admin.token, crafted, hand_signed):
        contacts, agents = (client.get(r, headers=bearer(token)) for r in target.routes)
        assert contacts.status_code == 200, contacts.get_json()
        assert [c["id"] for c in contacts.get_json()] == [str(target.contact_id)]
        assert agents.status_code == 200, agents.get_json()
        assert str(target.agent_id) in [a["id"] for a in agents.get_json()]


# --- the forgeries ---------------------------------------------------------------------------


def _flip_a_bit(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{header}.{payload}.{b64url(bytes(raw))}"


def _unsigned(header: dict, claims: dict, trailing_dot: bool = True) -> str:
    token = f"{b64url_json(header)}.{b64url_json(claims)}"
    return token + "." if trailing_dot else token


def _reclaimed(token: str, **changes) -> str:
    """The token with some claims edited and its original signature kept."""
    header, _, signature = token.split(".")
    return f"{header}.{b64url_json({**unverified(token)[1], **changes})}.{signature}"


def _kid(t: Target) -> str:
    return server_key(t.app).kid


def _attacker_ec(kid: str | None = None) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid} if kid else None, auto_kid=True)


def _attacker_rsa(kid: str | None = None) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid} if kid else None, auto_kid=True)


def _public_jwk_json(t: Target) -> bytes:
    return json.dumps(t.app.extensions["signing_keys"].jwks()["keys"][0]).encode()


def _now() -> int:
    return int(time.time())


def _without(claims: dict, name: str) -> dict:
    return {k: v for k, v in claims.items() if k != name}


# Each entry: (name, craft(target) -> token). Beyond the leeway (30 s) means 600 s here.
FORGERIES = [
    # Signatures.
    ("another_es256_key_same_kid", lambda t: sign(_attacker_ec(_kid(t)), t.claims)),
    ("another_es256_key_own_kid", lambda t: sign(_attacker_ec(), t.claims)),
    ("bit_flipped_signature", lambda t: _flip_a_bit(sign(server_key(t.app), t.claims))),
    ("genuine_token_bit_flipped", lambda t: _flip_a_bit(t.admin.token)),
    ("signature_stripped", lambda t: sign(server_key(t.app), t.claims).rsplit(".", 1)[0] + "."),
    ("scope_widened_unsigned", lambda t: _reclaimed(t.admin.token, scope="tenants:admin")),
    ("subject_swapped_unsigned", lambda t: _reclaimed(t.admin.token, sub=str(uuid.uuid4()))),
    # alg: none, in the spellings libraries have tripped over.
    ("alg_none", lambda t: _unsigned({"alg": "none", "typ": "at+jwt"}, t.claims)),
    (
        "alg_none_no_trailing_dot",
        lambda t: _unsigned({"alg": "none", "typ": "at+jwt"}, t.claims, trailing_dot=False),
    ),
    (
        "alg_none_with_server_kid",
        lambda t: _unsigned({"alg": "none", "typ": "at+jwt", "kid": _kid(t)}, t.claims),
    ),
    ("alg_None", lambda t: _unsigned({"alg": "None", "typ": "at+jwt"}, t.claims)),
    ("alg_NONE", lambda t: _unsigned({"alg": "NONE", "typ": "at+jwt"}, t.claims)),
    (
        "alg_none_genuine_signature_kept",
        lambda t: (
            _unsigned({"alg": "none", "typ": "at+jwt"}, t.claims) + t.admin.token.rsplit(".", 1)[1]
        ),
    ),
    # Key confusion: the public key as an HMAC secret.
    (
        "hs256_with_public_pem",
        lambda t: _hmac_token(server_key(t.app).as_pem(private=False), t.claims, _kid(t)),
    ),
    ("hs256_with_public_jwk", lambda t: _hmac_token(_public_jwk_json(t), t.claims, _kid(t))),
    # Algorithm switch with a key the server does not have.
    ("rs256_same_kid", lambda t: sign(_attacker_rsa(_kid(t)), t.claims, {"alg": "RS256"})),
    ("rs256_own_kid", lambda t: sign(_attacker_rsa(), t.claims, {"alg": "RS256"})),
    (
        "es384_attacker_key",
        lambda t: jwt.encode(
            {"alg": "ES384", "typ": "at+jwt", "kid": _kid(t)},
            t.claims,
            ECKey.generate_key("P-384"),
            algorithms=["ES384"],
        ),
    ),
    # Headers naming a key elsewhere: ignored, never fetched (see the attacker site's log).
    (
        "jku_attacker_jwks",
        lambda t: sign(_attacker_ec(), t.claims, {"jku": t.jku}),
    ),
    ("jku_with_server_kid", lambda t: sign(_attacker_ec(_kid(t)), t.claims, {"jku": t.jku})),
    ("x5u_attacker_url", lambda t: sign(_attacker_ec(_kid(t)), t.claims, {"x5u": t.jku})),
    (
        "embedded_jwk_attacker_key",
        lambda t: _embedded_jwk(t, kid=None),
    ),
    ("embedded_jwk_with_server_kid", lambda t: _embedded_jwk(t, kid=_kid(t))),
    # Key ids.
    ("kid_unknown_server_signature", lambda t: sign(server_key(t.app), t.claims, {"kid": "k2"})),
    ("kid_path_traversal", lambda t: _attacker_kid(t, "../../../../../../dev/null")),
    ("kid_sql", lambda t: _attacker_kid(t, "' OR '1'='1' --")),
    ("kid_sql_server_signature", lambda t: _server_kid(t, "x' UNION SELECT kid FROM keys--")),
    ("kid_not_a_string", lambda t: _server_kid(t, 1)),
    ("kid_an_object", lambda t: _server_kid(t, {"$ne": None})),
    # Time.
    ("expired", lambda t: sign(server_key(t.app), {**t.claims, "exp": _now() - 600})),
    ("not_yet_valid_nbf", lambda t: sign(server_key(t.app), {**t.claims, "nbf": _now() + 600})),
    ("issued_in_the_future", lambda t: sign(server_key(t.app), {**t.claims, "iat": _now() + 600})),
    ("missing_exp", lambda t: sign(server_key(t.app), _without(t.claims, "exp"))),
    ("exp_not_a_number", lambda t: sign(server_key(t.app), {**t.claims, "exp": "9999999999"})),
    # Audience and issuer.
    (
        "wrong_audience",
        lambda t: sign(server_key(t.app), {**t.claims, "aud": "https://other.example/v1"}),
    ),
    ("missing_aud", lambda t: sign(server_key(t.app), _without(t.claims, "aud"))),
    (
        "wrong_issuer",
        lambda t: sign(server_key(t.app), {**t.claims, "iss": "https://other.example"}),
    ),
    ("missing_iss", lambda t: sign(server_key(t.app), _without(t.claims, "iss"))),
    # Not an access token, or a header the server must not ignore.
    ("typ_jwt", lambda t: sign(server_key(t.app), t.claims, {"typ": "JWT"})),
    (
        "crit_unknown_extension",
        lambda t: _raw_es256(t, {"crit": ["x-unknown"], "x-unknown": True}),
    ),
    # Malformed.
    ("one_part", lambda t: b64url_json(t.claims)),
    ("two_parts", lambda t: ".".join(t.admin.token.split(".")[:2])),
    ("four_parts", lambda t: t.admin.token + ".AAAA"),
    ("five_parts_jwe_shaped", lambda t: "eyJhbGciOiJkaXIifQ..AAAA.AAAA.AAAA"),
    ("bad_base64", lambda t: "!!!!.@@@@.####"),
    ("base64_but_not_json", lambda t: f"{b64url(b'not json')}.{b64url(b'{')}.AAAA"),
    ("header_a_json_array", lambda t: f"{b64url(b'[]')}.{b64url_json(t.claims)}.AAAA"),
    ("claims_a_json_array", lambda t: _raw_es256(t, {}, payload=b"[1, 2]")),
    ("not_a_jwt", lambda t: "not.a.jwt"),
    ("opaque_string", lambda t: "8xLOxBtZp8"),
    ("huge_100_kb", lambda t: "A" * 50_000 + "." + "B" * 50_000 + ".C"),
    ("huge_signed_claims", lambda t: sign(server_key(t.app), {**t.claims, "pad": "x" * 100_000})),
]


def _embedded_jwk(t: Target, kid: str | None) -> str:
    attacker = _attacker_ec(kid)
    return sign(attacker, t.claims, {"jwk": attacker.as_dict(private=False)})


def _attacker_kid(t: Target, kid: str) -> str:
    return sign(_attacker_ec(), t.claims, {"kid": kid})


def _server_kid(t: Target, kid) -> str:
    return _raw_es256(t, {"kid": kid})


def _raw_es256(t: Target, header: dict, payload: bytes | None = None) -> str:
    """Signed by the server's own key over exactly these bytes: joserfc will not craft a header
    or payload this odd, so the ES256 signature is made directly."""
    protected = b64url_json({"alg": "ES256", "typ": "at+jwt", "kid": _kid(t), **header})
    body = b64url(payload if payload is not None else json.dumps(t.claims).encode())
    signing_input = f"{protected}.{body}"
    signature = JWSRegistry().get_alg("ES256").sign(signing_input.encode(), server_key(t.app))
    return f"{signing_input}.{b64url(signature)}"


def test_every_forged_or_unacceptable_token_gets_401_on_a_tenant_and_a_bpo_route(
    client, target, attacker_site, subtests
):
    # Subtests, not parametrize: one set of rows serves all the attacks (a test's setup and
    # teardown cost far more than the requests), and each attack still passes or fails alone.
    for name, craft in FORGERIES:
        with subtests.test(attack=name):
            assert_refused_everywhere(client, target, craft(target))

    assert attacker_site.hits == []


def test_the_attacker_site_records_a_fetch_of_its_key_set(target, attacker_site):
    """The control for `jku`/`x5u`: its empty log above means nothing was fetched."""
    published = requests.get(target.jku, timeout=5).json()

    assert attacker_site.hits == ["/jwks.json"]
    assert published["keys"][0]["kid"] == attacker_site.key.kid


def test_an_expired_token_still_inside_the_leeway_is_accepted(client, target):
    """The leeway is real but small: the `expired` forgery above is refused for its age."""
    now = _now()
    token = sign(server_key(target.app), {**target.claims, "iat": now - 905, "exp": now - 5})

    for route in target.routes:
        assert client.get(route, headers=bearer(token)).status_code == 200


# --- revoked, refresh tokens, deactivated people, deleted clients ----------------------------


def test_a_token_revoked_at_the_revocation_endpoint_is_refused(client, target):
    admin = target.admin
    before = [client.get(r, headers=admin.headers).status_code for r in target.routes]

    revoked = client.post(
        "/oauth/revoke",
        data={"token": admin.token, "token_type_hint": "access_token"},
        headers=basic(admin.client_id, admin.client_secret),
    )

    assert before == [200, 200]
    assert revoked.status_code == 200
    assert all("revoked" in d for d in assert_refused_everywhere(client, target, admin.token))


def test_a_refresh_token_is_not_an_access_token(app, client, live_server, factory, target):
    user = factory.user("bpo_admin")
    browser_app = factory.browser_client(REDIRECT_URI)
    oauth, token = tokens_by_code_flow(
        live_server, browser_app, user.email, "contacts:read agents:read"
    )
    oauth.close()
    access = [client.get(r, headers=bearer(token["access_token"])) for r in target.routes]

    assert [r.status_code for r in access] == [200, 200]
    assert token["refresh_token"]
    assert_refused_everywhere(client, target, token["refresh_token"])


def test_the_token_of_a_deactivated_person_is_refused(app, client, target):
    deactivate(app, target.admin.user_id)

    details = assert_refused_everywhere(client, target, target.admin.token)

    assert all("deactivated" in d for d in details)


def test_the_token_of_a_deleted_api_client_is_refused(app, client, factory, target):
    """An integration's client deleted by its client admin, and a BPO admin's script revoked
    by the service the CLI uses: their live tokens stop at once."""
    tenant_admin = factory.caller("client_admin", _tenant(app, target))
    integration = factory.caller("integration", _tenant(app, target))
    record = factory.api_client_record(integration.client_id)
    contacts = target.routes[0]
    assert client.get(contacts, headers=integration.headers).status_code == 200

    deleted = client.delete(
        f"/v1/tenants/{target.tenant_id}/api-clients/{record.id}", headers=tenant_admin.headers
    )
    with app.app_context(), unscoped():
        script = db.session.scalar(
            select(ApiClient).where(ApiClient.client_id == target.admin.client_id)
        )
        tenants_service.revoke_api_client(client=script, actor=tenants_service.SYSTEM)
        db.session.commit()

    assert deleted.status_code == 204, deleted.get_json()
    assert_refused(client.get(contacts, headers=integration.headers), integration.token, target)
    assert_refused_everywhere(client, target, target.admin.token)


def test_the_token_of_a_client_whose_row_is_gone_is_refused(app, client, target):
    with app.app_context(), unscoped():
        db.session.execute(
            update(ApiClient)
            .where(ApiClient.client_id == target.admin.client_id)
            .values(client_id=f"gone-{uuid.uuid4().hex}")
        )
        db.session.commit()

    assert_refused_everywhere(client, target, target.admin.token)


def _tenant(app, target: Target):
    from tenants.models import Tenant

    with app.app_context(), unscoped():
        return db.session.get(Tenant, target.tenant_id)


# --- scopes: a client admin cannot get a BPO scope ------------------------------------------


def test_a_client_admin_asking_for_any_bpo_scope_gets_invalid_scope(client, factory, subtests):
    tenant = factory.tenant()
    user = factory.user("client_admin", tenant)
    # Even a client record that lists every scope does not lift the role's bound.
    client_id, secret = factory.user_client(user, scope=" ".join(sorted(SCOPES)))
    assert BPO_ONLY_SCOPES  # tenants:admin, billing:admin, agents:*, agent:work

    for scope in BPO_ONLY_SCOPES:
        with subtests.test(scope=scope):
            response = client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "scope": f"tenants:read {scope}"},
                headers=basic(client_id, secret),
            )
            assert response.status_code == 400, response.get_json()
            body = response.get_json()
            assert body["error"] == "invalid_scope"
            assert scope in body["error_description"]
            assert "access_token" not in body


def test_a_client_admins_token_cannot_call_a_bpo_route(client, factory, target):
    tenant = _tenant(target.app, target)
    user = factory.user("client_admin", tenant)
    client_id, secret = factory.user_client(user, scope=" ".join(sorted(SCOPES)))
    token = factory.token(client_id, secret)  # no scope asked: everything the role allows
    onboarding = {"slug": "evil", "name": "Evil", "time_zone": "UTC", "locale": "en-GB"}

    granted = set(unverified(token)[1]["scope"].split())
    agents = client.get("/v1/agents", headers=bearer(token))
    portfolio = client.get("/v1/reports/portfolio", headers=bearer(token))
    onboard = client.post("/v1/tenants", json=onboarding, headers=bearer(token))

    assert granted <= ROLE_SCOPES["client_admin"]
    assert not granted & set(BPO_ONLY_SCOPES)
    for response in (agents, portfolio, onboard):
        assert response.status_code == 403, response.get_json()
        assert response.mimetype == PROBLEM_JSON
        assert str(target.agent_id) not in response.get_data(as_text=True)


def test_an_integrations_tenant_claim_edited_to_another_tenant_breaks_the_signature(
    client, factory, target
):
    other = factory.tenant()
    integration = factory.caller("integration", _tenant(target.app, target))
    assert unverified(integration.token)[1]["tenant_id"] == str(target.tenant_id)
    edited = _reclaimed(integration.token, tenant_id=str(other.id))
    widened = _reclaimed(integration.token, tenant_id=str(other.id), scope=" ".join(sorted(SCOPES)))

    for token in (edited, widened):
        for tenant_id in (other.id, target.tenant_id):
            response = client.get(f"/v1/tenants/{tenant_id}/contacts", headers=bearer(token))
            detail = assert_refused(response, token, target)
            assert "signature" in detail


# --- the Authorization header itself ---------------------------------------------------------


def test_bearer_without_a_token_is_refused(client, target):
    for header in ("Bearer", "Bearer ", "Bearer    ", "Bearer \t", "bearer"):
        for route in target.routes:
            response = client.get(route, headers={"Authorization": header})
            assert "empty" in assert_refused(response, "", target)


def test_a_lowercase_scheme_is_still_the_bearer_scheme(client, target):
    """RFC 7235 2.1: the scheme is case-insensitive, so `bearer` is no way around the checks:
    a forged token is refused under it, a genuine one works as under `Bearer`."""
    forged = _unsigned({"alg": "none", "typ": "at+jwt"}, target.claims)

    for scheme in ("bearer", "BEARER", "bEaReR"):
        for route in target.routes:
            refused = client.get(route, headers={"Authorization": f"{scheme} {forged}"})
            genuine = client.get(route, headers={"Authorization": f"{scheme} {target.admin.token}"})
            assert_refused(refused, forged, target)
            assert genuine.status_code == 200


def test_two_authorization_headers_are_refused_whatever_their_order(client, target):
    forged = _unsigned({"alg": "none", "typ": "at+jwt"}, target.claims)
    genuine = target.admin.token

    for first, second in ((genuine, forged), (forged, genuine), (genuine, genuine)):
        for route in target.routes:
            response = client.get(
                route,
                headers=[
                    ("Authorization", f"Bearer {first}"),
                    ("Authorization", f"Bearer {second}"),
                ],
            )
            assert "exactly one" in assert_refused(response, genuine, target)


def test_two_authorization_headers_over_real_http_are_refused(app, live_server, target):
    """Through a real HTTP server, which joins repeated headers with a comma."""
    host, port = live_server.removeprefix("http://").split(":")
    forged = _unsigned({"alg": "none", "typ": "at+jwt"}, target.claims)

    for first, second in ((target.admin.token, forged), (forged, target.admin.token)):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.putrequest("GET", target.routes[0])
        connection.putheader("Authorization", f"Bearer {first}")
        connection.putheader("Authorization", f"Bearer {second}")
        connection.endheaders()
        response = connection.getresponse()
        text = response.read().decode()
        connection.close()

        assert response.status == 401, text
        assert response.getheader("Content-Type").startswith(PROBLEM_JSON)
        assert 'error="invalid_token"' in response.getheader("WWW-Authenticate")
        assert "exactly one" in json.loads(text)["detail"]
        assert str(target.contact_id) not in text
        assert target.admin.token not in text
