"""Switchboard's OAuth 2.0 authorization server, built on Authlib.

Grants: client_credentials (integrations and scripts), authorization_code with PKCE S256 (people
in a browser) and refresh_token (rotated on every use). Access tokens are RFC 9068 JWTs signed
with the configured asymmetric key. Revocation (RFC 7009) and introspection (RFC 7662) accept
both JWT access tokens (revoked by `jti`) and refresh tokens. There is no password grant.

A code and a refresh token are each good once: the one request whose conditional UPDATE marks
it used wins; presenting it again revokes its whole token family (app/auth/families.py).
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Response, current_app, json
from sqlalchemy import select
from werkzeug.http import HTTP_STATUS_CODES

from app.auth import families
from app.auth.models import AuthorizationCode, RefreshToken, RevokedAccessToken, digest
from app.auth.permissions import SCOPES
from app.auth.principal import (
    AuthError,
    check_access_token,
    decode_access_token,
    find_client,
    issued_before_deactivation,
    load_principal,
)
from app.db import db, utcnow
from app.errors import PROBLEM_JSON
from tenants.models import ApiClient, User

# The public client of the API docs page (/docs), seeded by `flask demo seed`.
DOCS_CLIENT_ID = "switchboard-docs"
DOCS_REDIRECT_PATH = "/docs/assets/oauth2-redirect.html"


def docs_redirect_uri() -> str:
    """Where Swagger UI on /docs receives its code: under the configured issuer, read now, so
    /docs signs in on whatever host and port the issuer names."""
    return current_app.config["OAUTH_ISSUER"].rstrip("/") + DOCS_REDIRECT_PATH


class OAuthClient(ClientMixin):
    """Authlib's view of an ApiClient row."""

    def __init__(self, record: ApiClient) -> None:
        self.record = record

    def get_client_id(self) -> str:
        return self.record.client_id

    def redirect_uris(self) -> list[str]:
        if self.record.client_id == DOCS_CLIENT_ID:
            return [docs_redirect_uri()]
        return list(self.record.redirect_uris)

    def get_default_redirect_uri(self) -> str | None:
        uris = self.redirect_uris()
        return uris[0] if uris else None

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.record.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris()

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.record.client_secret_hash
        return stored is not None and hmac.compare_digest(stored, digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # The same on every endpoint: public clients send no secret, confidential ones one.
        if self.record.client_secret_hash is None:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.record.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.record.grant_types


def effective_scope(client: OAuthClient, user: User | None, requested: str | None) -> str:
    """The scope a token gets: what was asked for, within what the client and role allow.

    Asking for a scope outside that is an error, not a silent narrowing, so a client admin's
    script that asks for `tenants:admin` learns it at once.
    """
    principal = load_principal(client.record, user, frozenset())
    allowed = set(client.record.scope.split()) & principal.allowed_scopes()
    wanted = set((requested or "").split())
    if not wanted:
        return " ".join(sorted(allowed))
    refused = wanted - allowed
    if refused:
        raise InvalidScopeError(
            description=f"Scope not allowed for this client or role: {' '.join(sorted(refused))}"
        )
    return " ".join(sorted(wanted))


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """RFC 9068 JWTs; issuer, audience, keys and lifetimes come from the running app."""

    def __init__(self) -> None:
        super().__init__(issuer=None, refresh_token_generator=self._refresh_token)

    # Authlib reads `issuer` and `alg` as attributes; here they belong to the running app.
    @property
    def issuer(self) -> str:
        return current_app.config["OAUTH_ISSUER"]

    @issuer.setter
    def issuer(self, _value) -> None:
        pass

    @property
    def alg(self) -> str:
        return current_app.extensions["signing_keys"].algorithm

    @alg.setter
    def alg(self, _value) -> None:
        pass

    def get_jwks(self):
        return current_app.extensions["signing_keys"].signing_set

    def get_audiences(self, client, user, scope):
        return current_app.config["OAUTH_AUDIENCE"]

    def get_jti(self, client, grant_type, user, scope):
        return uuid.uuid4().hex

    def get_auth_time(self, user):
        return None

    def _get_expires_in(self, client, grant_type):
        return int(current_app.config["ACCESS_TOKEN_TTL"])

    @staticmethod
    def _refresh_token(client, grant_type, user, scope):
        return secrets.token_urlsafe(48)

    def get_extra_claims(self, client, grant_type, user, scope):
        record = client.record
        claims = {}
        # The tenant an integration acts for, so resource servers need not look it up.
        if user is None and record.user_id is None and record.tenant_id is not None:
            claims["tenant_id"] = str(record.tenant_id)
        # The sign-in (token family) the token belongs to: revoking it revokes the token.
        family_id = families.bound()
        if family_id is not None:
            claims["sid"] = str(family_id)
        return claims


class ScopedGrantMixin:
    def validate_requested_scope(self):
        requested = set((self.request.payload.scope or "").split())
        unknown = requested - set(SCOPES)
        if unknown:
            raise InvalidScopeError(description=f"Unknown scope: {' '.join(sorted(unknown))}")


class ClientCredentialsGrant(ScopedGrantMixin, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def create_token_response(self):
        scope = effective_scope(self.client, None, self.request.payload.scope)
        token = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class AuthorizationCodeGrant(ScopedGrantMixin, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code, request):
        try:
            scope = effective_scope(request.client, request.user, request.payload.scope)
        except InvalidScopeError as error:
            # Tell the client through its redirect URI, as RFC 6749 4.1.2.1 has it.
            client = request.client
            error.redirect_uri = request.payload.redirect_uri or client.get_default_redirect_uri()
            error.redirect_fragment = False
            raise
        family = families.create(client_id=request.client.get_client_id(), user_id=request.user.id)
        record = AuthorizationCode(
            code_hash=digest(code),
            client_id=request.client.get_client_id(),
            user_id=request.user.id,
            redirect_uri=request.payload.redirect_uri or "",
            scope=scope,
            # PKCE.validate_code_challenge let only S256 through.
            code_challenge=request.payload.data["code_challenge"],
            code_challenge_method=request.payload.data["code_challenge_method"],
            expires_at=utcnow() + timedelta(seconds=current_app.config["AUTHORIZATION_CODE_TTL"]),
            family_id=family.id,
        )
        db.session.add(record)
        db.session.flush()
        return record

    def query_authorization_code(self, code, client):
        record = db.session.scalar(
            select(AuthorizationCode).where(AuthorizationCode.code_hash == digest(code))
        )
        if record is None or record.client_id != client.get_client_id():
            return None
        if record.used_at is not None:
            # A replay: whoever holds the code may also hold what it bought (RFC 6749 4.1.2).
            families.revoke_on_replay(record.family_id)
            return None
        return record if record.expires_at > utcnow() else None

    def create_token_response(self):
        code = self.request.authorization_code
        # Checked and marked in one statement: of simultaneous redemptions exactly one wins.
        if not families.claim_code(code):
            families.revoke_on_replay(code.family_id)
            raise InvalidGrantError("The code has already been used.")
        families.bind(code.family_id)
        return super().create_token_response()

    def delete_authorization_code(self, authorization_code):
        # Kept, marked used, until it expires: a replay must still be recognised.
        pass

    def authenticate_user(self, authorization_code):
        user = db.session.get(User, authorization_code.user_id)
        if user is None or not user.is_active:
            return None
        return None if issued_before_deactivation(user, authorization_code.auth_time) else user


class PKCE(CodeChallenge):
    # S256 only: "plain" would let an intercepted code be redeemed.
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        # Authlib lets a request with neither parameter through; here every code needs one.
        data = grant.request.payload.data
        if not data.get("code_challenge") and not data.get("code_challenge_method"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE (S256) is required.")
        # RFC 7636 reads a missing method as "plain", which would accept the challenge itself
        # as the verifier: the method must be said, and be S256.
        if not data.get("code_challenge_method"):
            raise InvalidRequestError(
                "Missing 'code_challenge_method': PKCE requires code_challenge_method=S256."
            )
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        code = grant.request.authorization_code
        if code is not None and self.get_authorization_code_challenge_method(code) != "S256":
            raise InvalidGrantError("The code was not issued for PKCE S256.")
        super().validate_code_verifier(grant, result)

    def get_authorization_code_challenge(self, authorization_code):
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code):
        return authorization_code.code_challenge_method


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        record = db.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == digest(refresh_token))
        )
        if record is None:
            return None
        if record.is_revoked():
            # A rotated (or revoked) token presented again: it leaked, and nobody can tell the
            # thief from the client, so the whole family goes (RFC 9700 4.14.2).
            families.revoke_on_replay(record.family_id)
            return None
        if record.is_expired() or families.is_revoked(record.family_id):
            return None
        # A deactivated person's refresh tokens are dead grants (invalid_grant, RFC 6749 5.2).
        if self.authenticate_user(record) is None:
            return None
        return record

    def authenticate_user(self, refresh_token):
        if refresh_token.user_id is None:
            return None
        user = db.session.get(User, refresh_token.user_id)
        if user is None or not user.is_active:
            return None
        return None if issued_before_deactivation(user, refresh_token.issued_at) else user

    def create_token_response(self):
        record = self.request.refresh_token
        # Rotated out in one statement: of simultaneous refreshes exactly one wins, and the
        # others are reuse of a rotated token.
        if not families.claim_refresh_token(record):
            families.revoke_on_replay(record.family_id)
            raise InvalidGrantError("The refresh token has already been used.")
        families.bind(record.family_id)
        return super().create_token_response()

    def revoke_old_credential(self, refresh_token):
        # Already rotated out by create_token_response's claim.
        pass


class _AccessTokenRecord:
    """A decoded JWT access token, in the shape Authlib's token endpoints expect."""

    def __init__(self, claims: dict) -> None:
        self.claims = claims

    def check_client(self, client) -> bool:
        return self.claims["client_id"] == client.get_client_id()


def _query_token(token_string: str, hint: str | None):
    if hint != "refresh_token":
        try:
            return _AccessTokenRecord(decode_access_token(token_string))
        except AuthError:
            if hint == "access_token":
                return None
    return db.session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == digest(token_string))
    )


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string, token_type_hint):
        return _query_token(token_string, token_type_hint)

    def revoke_token(self, token, request):
        if isinstance(token, _AccessTokenRecord):
            jti = token.claims["jti"]
            if db.session.get(RevokedAccessToken, jti) is None:
                db.session.add(
                    RevokedAccessToken(
                        jti=jti,
                        client_id=token.claims["client_id"],
                        expires_at=_from_epoch(token.claims["exp"]),
                    )
                )
        else:
            # With the refresh token go the access tokens of the same grant (RFC 7009 2.1).
            families.revoke(token.family_id)
        db.session.flush()


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string, token_type_hint):
        return _query_token(token_string, token_type_hint)

    def check_permission(self, token, client, request):
        # A client may introspect the tokens issued to it, nothing else.
        return token.check_client(client)

    def introspect_token(self, token):
        if isinstance(token, _AccessTokenRecord):
            claims = token.claims
            try:
                check_access_token(claims)
            except AuthError:
                return {"active": False}
            body = {
                "active": True,
                "token_type": "Bearer",
                **{k: claims[k] for k in ("client_id", "sub", "aud", "iss", "exp", "iat", "jti")},
                "scope": claims.get("scope", ""),
            }
            if "tenant_id" in claims:
                body["tenant_id"] = claims["tenant_id"]
            return body
        if token.is_revoked() or token.is_expired() or families.is_revoked(token.family_id):
            return {"active": False}
        user = db.session.get(User, token.user_id) if token.user_id else None
        if user is not None and (
            not user.is_active or issued_before_deactivation(user, token.issued_at)
        ):
            return {"active": False}
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": token.client_id,
            "scope": token.scope,
            "sub": str(token.user_id) if token.user_id else token.client_id,
            "exp": int(token.expires_at.timestamp()),
            "iat": int(token.issued_at.timestamp()),
        }

    def create_introspection_payload(self, token):
        # Unknown, expired, revoked, or someone else's token: all simply inactive (RFC 7662 2.2).
        if not token:
            return {"active": False}
        return self.introspect_token(token)


def _from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _query_client(client_id: str) -> OAuthClient | None:
    record = find_client(client_id)
    return OAuthClient(record) if record is not None else None


def _save_token(token: dict, request) -> None:
    refresh = token.get("refresh_token")
    if not refresh:
        return
    ttl = int(current_app.config["REFRESH_TOKEN_TTL"])
    user = request.user
    db.session.add(
        RefreshToken(
            token_hash=digest(refresh),
            client_id=request.client.get_client_id(),
            user_id=user.id if user is not None else None,
            scope=token.get("scope", ""),
            expires_at=utcnow() + timedelta(seconds=ttl),
            # Refresh tokens come only from a code or a refresh token, each of one family.
            family_id=families.bound(),
        )
    )
    db.session.flush()


class Server(AuthorizationServer):
    """Authlib's Flask server whose error answers are also RFC 9457 problem details."""

    def create_oauth2_request(self, request):
        # The web app (app/web/tokens.py) calls the token and revocation endpoints in-process
        # with a request of its own; every other caller is the HTTP request being served.
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(request)

    def handle_response(self, status_code, payload, headers):
        if status_code >= 400 and isinstance(payload, dict) and "error" in payload:
            detail = payload.get("error_description") or payload["error"].replace("_", " ")
            body = {
                "type": "about:blank",
                "title": HTTP_STATUS_CODES.get(status_code, "Error"),
                "status": status_code,
                "detail": detail,
                **payload,
            }
            kept = [(k, v) for k, v in headers if k.lower() != "content-type"]
            return Response(
                json.dumps(body), status=status_code, headers=kept, mimetype=PROBLEM_JSON
            )
        return super().handle_response(status_code, payload, headers)


authorization = Server()


def init_app(app) -> None:
    """Bind the authorization server and register grants and endpoints."""
    authorization.init_app(app, query_client=_query_client, save_token=_save_token)
    authorization.scopes_supported = list(SCOPES)
    authorization.register_token_generator("default", AccessTokenGenerator())
    if not getattr(authorization, "_switchboard_grants", False):
        authorization.register_grant(ClientCredentialsGrant)
        authorization.register_grant(AuthorizationCodeGrant, [PKCE(required=True)])
        authorization.register_grant(RefreshTokenGrant)
        authorization.register_endpoint(Revocation)
        authorization.register_endpoint(Introspection)
        authorization._switchboard_grants = True
