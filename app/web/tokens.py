"""The web app's side of OAuth: it redeems codes and refreshes and revokes its tokens by calling
the authorization server's own token and revocation endpoints, in-process.

In-process rather than over HTTP: the app would otherwise call itself through its own front
door (one sync worker would wait on itself), yet every rule of the endpoints still applies:
client authentication with the web client's secret, PKCE, single-use codes, refresh rotation
and replay detection. It runs in the request's transaction, which commits with the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from flask import current_app
from werkzeug.test import EnvironBuilder

from app.auth.first_party import WEB_CLIENT_ID, web_client_secret, web_redirect_uri
from app.auth.server import authorization
from app.db import utcnow


class TokenRefused(Exception):
    """The authorization server refused: an expired or replayed code, a revoked sign-in."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: datetime


def _endpoint_request(path: str, form: dict[str, str]) -> FlaskOAuth2Request:
    issuer = current_app.config["OAUTH_ISSUER"].rstrip("/")
    builder = EnvironBuilder(
        path=path,
        base_url=issuer,
        method="POST",
        data={**form, "client_id": WEB_CLIENT_ID, "client_secret": web_client_secret()},
    )
    try:
        return FlaskOAuth2Request(builder.get_request())
    finally:
        builder.close()


def _tokens(response) -> Tokens:
    body = json.loads(response.get_data(as_text=True) or "{}")
    if response.status_code != 200 or "access_token" not in body:
        raise TokenRefused(body.get("error_description") or body.get("error") or "refused")
    return Tokens(
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token"),
        expires_at=utcnow() + timedelta(seconds=int(body.get("expires_in", 0))),
    )


def redeem_code(*, code: str, code_verifier: str) -> Tokens:
    """Exchange the sign-in page's authorization code (and the PKCE verifier) for tokens."""
    request = _endpoint_request(
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": web_redirect_uri(),
            "code_verifier": code_verifier,
        },
    )
    return _tokens(authorization.create_token_response(request))


def refresh(*, refresh_token: str) -> Tokens:
    """Trade the refresh token for a new pair (the old one is spent: rotation)."""
    request = _endpoint_request(
        "/oauth/token", {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )
    return _tokens(authorization.create_token_response(request))


def revoke(*, token: str, hint: str) -> None:
    """Revoke a token; a refresh token takes its whole sign-in (token family) with it."""
    request = _endpoint_request("/oauth/revoke", {"token": token, "token_type_hint": hint})
    authorization.create_endpoint_response("revocation", request)
