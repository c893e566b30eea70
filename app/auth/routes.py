"""HTTP endpoints of the authorization server: token, authorize (sign-in page), revoke,
introspect, and the discovery documents (RFC 8414 metadata, JWKS)."""

from __future__ import annotations

import hmac
import secrets

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, current_app, jsonify, render_template, request, session, url_for

from app.auth import passwords
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
    context = {"client_name": client.record.name, "scope": grant.request.payload.scope}
    if request.method == "GET":
        return _page(**context)

    if not hmac.compare_digest(request.form.get("csrf_token", ""), session.get("csrf_token", "-")):
        return _page(error="The form expired; please try again.", **context), 400
    email = request.form.get("email", "").strip()
    wait = passwords.seconds_until_allowed(email)
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
        passwords.record_failure(email)
        return _page(error="Wrong email or password.", email=email, **context), 401
    passwords.record_success(email)
    session.pop("csrf_token", None)
    return authorization.create_authorization_response(grant_user=user, grant=grant)


def _wants_html() -> bool:
    """A browser gets the page back; an API client asking for JSON gets problem details."""
    best = request.accept_mimetypes.best_match(
        ("text/html", PROBLEM_JSON, "application/json"), default="text/html"
    )
    return best == "text/html"


def _page(**context):
    session.setdefault("csrf_token", secrets.token_urlsafe(32))
    context.setdefault("show_form", True)
    return render_template("login.html", csrf_token=session["csrf_token"], **context)


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
