"""What every page of the web app shares: the parent blueprint `web` with the sign-in check,
tenant binding, CSRF, security headers and error pages, and the helpers views render with."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache
from pathlib import Path

from flask import (
    Blueprint,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException

from app.auth.principal import Forbidden, NotVisible, TenantOffboarded, bind_tenant_from_url
from app.db import db
from app.errors import DomainError, http_exception_to_problem
from app.web import i18n, nav, sessions
from tenants.models import User

web = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)
ASSET_MAX_AGE = 365 * 24 * 3600
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Each page may load only what this app serves: no other host, no inline script or style.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


def public(view):
    """Mark a view as open to people who are not signed in (sign-in, invitations, resets)."""
    view.web_public = True
    return view


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def render(template: str, partial: str | None = None, **context):
    """Render a page, or only its fragment when htmx asked for one (`partial`)."""
    return render_template(partial if partial and is_htmx() else template, **context)


def form_errors(messages) -> dict[str, list[str]]:
    """A marshmallow error dict flattened for a page: `calendar.windows.0.start` -> messages,
    with errors of the whole form under `_form`, so each shows beside its field."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                name = "_form" if key == "_schema" else str(key)
                walk(f"{prefix}.{name}" if prefix else name, inner)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            flat.setdefault(prefix or "_form", []).extend(value)
        elif isinstance(value, list):
            for inner in value:
                walk(prefix, inner)
        else:
            flat.setdefault(prefix or "_form", []).append(str(value))

    walk("", messages)
    return flat


def csrf_token() -> str:
    """This browser's CSRF token: its web session's, or (signed out) its Flask session's."""
    web_session = g.get("web_session")
    if web_session is not None:
        return web_session.csrf_token
    return session.setdefault("csrf_token", secrets.token_urlsafe(32))


@web.url_defaults
def _asset_version(endpoint: str, values: dict) -> None:
    """Asset URLs carry their content's hash, so browsers may keep them for a year and still
    fetch a changed file at once."""
    if endpoint == "web.static" and "v" not in values:
        values["v"] = _asset_hash(values["filename"])


@lru_cache(maxsize=256)
def _asset_hash(filename: str) -> str:
    path = Path(web.static_folder or "") / filename
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return "0"


web.get_send_file_max_age = lambda _filename: ASSET_MAX_AGE  # type: ignore[method-assign]


@web.before_request
def _load_person():
    """Who is signing in, from the session cookie; the tenant of the URL bound as in the API."""
    g.web = True
    if request.endpoint == "web.static":
        return None  # assets are public and need no session
    web_session = sessions.find(key=request.cookies.get(sessions.COOKIE))
    principal = sessions.principal(web_session=web_session) if web_session else None
    if principal is not None:
        g.web_session = web_session
        g.principal = principal
        g.web_user = db.session.get(User, principal.user_id)
    view = _view()
    if principal is None and not getattr(view, "web_public", False):
        return _to_sign_in()
    if request.method in _UNSAFE and not _csrf_ok():
        return render_template("errors/csrf.html"), 400
    if principal is not None:
        bind_tenant_from_url()
    return None


def _view():
    return current_app.view_functions.get(request.endpoint or "")


def _to_sign_in():
    target = url_for("web.signin.start", next=request.full_path.rstrip("?"))
    if is_htmx():
        return "", 204, {"HX-Redirect": target}
    return redirect(target)


def _csrf_ok() -> bool:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    return bool(sent) and hmac.compare_digest(sent.encode(), csrf_token().encode())


def _error_page(status: int, template: str):
    g.pop("tenant", None)  # the error page shows nothing of the firm it was refused
    return render_template(template), status


@web.errorhandler(NotVisible)
def _not_visible(_exc):
    return _error_page(404, "errors/404.html")


@web.errorhandler(Forbidden)
def _forbidden(_exc):
    return _error_page(403, "errors/403.html")


@web.errorhandler(TenantOffboarded)
def _offboarded(_exc):
    return _error_page(409, "errors/offboarded.html")


@web.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    return render_template("errors/domain.html", error=exc), getattr(exc, "status", 400)


@web.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if exc.code == 404:
        return _error_page(404, "errors/404.html")
    return render_template("errors/http.html", error=exc), exc.code or 500


_MACHINE_PATHS = ("/v1/", "/oauth/", "/.well-known/", "/openapi.json", "/metrics", "/healthz")


def page_not_found(error):
    """A URL that matches no route: a page for a person's browser, problem+json for the API."""
    wants_html = (
        request.accept_mimetypes.best_match(("application/json", "text/html")) == "text/html"
    )
    if request.path.startswith(_MACHINE_PATHS) or not wants_html:
        return http_exception_to_problem(error)
    g.web = True  # the page gets the web app's security headers
    return render_template("errors/404.html"), 404


def security_headers(response):
    if g.get("web"):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if request.endpoint != "web.static":
            # Pages show a person's data: never kept by a shared cache or the back button of
            # the next person at the desk.
            response.headers["Cache-Control"] = "no-store"
            response.vary.add("Cookie")
    return response


def template_context():
    return {
        "csrf_token": csrf_token,
        "principal": g.get("principal"),
        "person": g.get("web_user"),
        "tenant": g.get("tenant"),
        "languages": i18n.LANGUAGE_NAMES,
        "portal_nav": nav.portal_items,
        "console_nav": nav.console_items,
    }
