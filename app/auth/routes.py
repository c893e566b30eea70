"""HTTP endpoints of the authorization server: token, authorize (sign-in page), revoke,
introspect, and the discovery documents (RFC 8414 metadata, JWKS)."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, current_app, g, jsonify, render_template, request, session, url_for

from app.auth import passwords
from app.auth.first_party import WEB_CLIENT_ID
from app.auth.permissions import SCOPES
from app.auth.server import authorization
from app.errors import PROBLEM_JSON, problem

blp = Blueprint("oauth", __name__, template_folder="templates")


@blp.post("/oauth/token")
def token():
    """Issue access tokens (client_credentials, authorization_code with PKCE, refresh_token)."""
    return authorization.create_token_response()


@blp.post("/oauth/revoke")
def revoke():
    """Revoke an access or refresh token (RFC 7009)."""
    return authorization.create_endpoint_response("revocation")


@blp.post("/oauth/introspect")
def introspect():
    """Describe a token issued to the calling client (RFC 7662)."""
    return authorization.create_endpoint_response("introspection")


@blp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize():
    """Sign a person in and hand their browser app an authorization code."""
    try:
        grant = authorization.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        # A bad client or redirect URI must not redirect anywhere: show the problem here.
        return _page(error=error.description or error.error, show_form=False), 400

    client = grant.client
    context = {
        "client_name": client.record.name,
        "scope": grant.request.payload.scope,
        "first_party": client.get_client_id() == WEB_CLIENT_ID,
    }
    g.csp_redirect_origin = _origin(
        grant.request.payload.redirect_uri or client.get_default_redirect_uri()
    )
    if request.method == "GET":
        return _page(**context)

    if not _csrf_token_matches():
        return _page(error="The form expired; please try again.", **context), 400
    email = request.form.get("email", "").strip()
    # The attempt is counted before the password is checked, so parallel guesses cannot all
    # slip past the count (app/auth/passwords.py).
    attempt = passwords.start_attempt(email, _client_address())
    wait = attempt.wait
    if wait:
        detail = f"Too many failed attempts. Try again in {wait} s."
        if _wants_html():
            response = current_app.make_response((_page(error=detail, email=email, **context), 429))
        else:
            response = problem(429, detail)
        response.headers["Retry-After"] = str(wait)
        return response
    user = passwords.find_user_by_email(email)
    if not passwords.verify_password(user, request.form.get("password", "")) or not user.is_active:
        passwords.record_failure(attempt)
        return _page(error="Wrong email or password.", email=email, **context), 401
    passwords.record_success(attempt)
    session.pop("csrf_token", None)
    return authorization.create_authorization_response(grant_user=user, grant=grant)


def _csrf_token_matches() -> bool:
    """The form's token equals the one in this browser's session; no session, no match."""
    expected = session.get("csrf_token")
    sent = request.form.get("csrf_token")
    if not isinstance(expected, str) or not expected or not sent:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


@blp.after_request
def _page_security_headers(response):
    """The sign-in page may not be framed (clickjacking) and runs nothing but its own style."""
    if request.endpoint == "oauth.authorize":
        nonce = g.get("csp_nonce")
        # The form posts here, and a successful post is redirected on to the client's
        # redirect URI, which browsers also hold to form-action.
        form_action = " ".join(filter(None, ["'self'", g.get("csp_redirect_origin")]))
        response.headers["Content-Security-Policy"] = "; ".join(
            [
                "default-src 'none'",
                f"style-src 'nonce-{nonce}'" if nonce else "style-src 'none'",
                f"form-action {form_action}",
                "frame-ancestors 'none'",
                "base-uri 'none'",
            ]
        )
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
    return response


def _client_address() -> str:
    """The browser's address: the TCP peer, or what the trusted proxies say they saw."""
    hops = int(current_app.config["TRUSTED_PROXY_HOPS"])
    if hops > 0:
        forwarded = [
            part.strip()
            for part in request.headers.get("X-Forwarded-For", "").split(",")
            if part.strip()
        ]
        # Each proxy appends the peer it saw; entries further left are the client's to forge.
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.remote_addr or ""


def _origin(uri: str | None) -> str | None:
    """A redirect URI as a CSP source: its origin, or its scheme for a native app's URI."""
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:" if parts.scheme else None


def _wants_html() -> bool:
    """A browser gets the page back; an API client asking for JSON gets problem details."""
    best = request.accept_mimetypes.best_match(
        ("text/html", PROBLEM_JSON, "application/json"), default="text/html"
    )
    return best == "text/html"


def _page(**context):
    session.setdefault("csrf_token", secrets.token_urlsafe(32))
    context.setdefault("show_form", True)
    g.csp_nonce = secrets.token_urlsafe(16)
    return render_template(
        "login.html", csrf_token=session["csrf_token"], csp_nonce=g.csp_nonce, **context
    )


@blp.get("/.well-known/jwks.json")
def jwks():
    """The public keys that verify access tokens."""
    response = jsonify(current_app.extensions["signing_keys"].jwks())
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


@blp.get("/.well-known/oauth-authorization-server")
def metadata():
    """Authorization server metadata (RFC 8414)."""
    issuer = current_app.config["OAUTH_ISSUER"].rstrip("/")
    return jsonify(
        {
            "issuer": current_app.config["OAUTH_ISSUER"],
            "authorization_endpoint": issuer + url_for("oauth.authorize"),
            "token_endpoint": issuer + url_for("oauth.token"),
            "revocation_endpoint": issuer + url_for("oauth.revoke"),
            "introspection_endpoint": issuer + url_for("oauth.introspect"),
            "jwks_uri": issuer + url_for("oauth.jwks"),
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "code_challenge_methods_supported": ["S256"],
            "service_documentation": issuer + "/docs",
        }
    )
