"""The web app as the authorization server's own first-party, confidential OAuth client.

It is defined here in code rather than as an `api_clients` row: it exists in every deployment
from the first start, belongs to no tenant, and cannot be revoked or listed by anyone. Its secret
is derived from the app's SECRET_KEY, so no one has to provision or store it; rotating the key
rotates the secret (and ends every web sign-in, which holds tokens issued to it).
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app

from app.auth.models import digest
from app.auth.permissions import SCOPES
from tenants.models import ApiClient

WEB_CLIENT_ID = "switchboard-web"
WEB_CALLBACK_PATH = "/auth/callback"


def web_client_secret() -> str:
    """The web client's secret: an HMAC of the app's secret key, never stored."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"switchboard-web-client", hashlib.sha256).hexdigest()


def web_redirect_uri() -> str:
    """Where the sign-in page sends the browser back with its code: under the issuer."""
    return current_app.config["OAUTH_ISSUER"].rstrip("/") + WEB_CALLBACK_PATH


def web_client() -> ApiClient:
    """A transient (never added to a session) client record, as the server reads clients."""
    return ApiClient(
        client_id=WEB_CLIENT_ID,
        client_secret_hash=digest(web_client_secret()),
        name="Switchboard",
        tenant_id=None,
        user_id=None,
        redirect_uris=[web_redirect_uri()],
        grant_types=["authorization_code", "refresh_token"],
        scope=" ".join(SCOPES),
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
        revoked_at=None,
    )
