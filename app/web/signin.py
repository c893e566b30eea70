"""Signing in and out of the web app, the language switch, and where each role lands."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, request, url_for

from app.db import db
from app.web import sessions
from app.web.i18n import LANGUAGES
from app.web.shell import public, render
from tenants import service as tenants_service

bp = Blueprint("signin", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: a sign-in must never bounce the browser to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@bp.get("/signin")
@public
def start():
    """Send the browser to the authorization server's sign-in page (code flow with PKCE)."""
    if g.get("principal") is not None:
        return redirect(_safe_next(request.args.get("next")))
    issuer = current_app.config["OAUTH_ISSUER"].rstrip("/")
    here = request.host_url.rstrip("/")
    if here != issuer:
        # The code comes back to the issuer's host: the sign-in must start there, where the
        # browser's cookies for it live.
        return redirect(issuer + request.full_path.rstrip("?"))
    return redirect(sessions.begin(next_path=_safe_next(request.args.get("next"))))


@bp.get("/auth/callback")
@public
def callback():
    """Where the sign-in page returns the browser with its code."""
    if request.args.get("error"):
        return render("signin/failed.html", reason=request.args.get("error_description")), 400
    try:
        key, next_path = sessions.finish(
            code=request.args.get("code", ""), state=request.args.get("state", "")
        )
    except sessions.SignInFailed:
        return render("signin/failed.html", reason=None), 400
    response = redirect(_safe_next(next_path))
    response.set_cookie(
        sessions.COOKIE,
        key,
        httponly=True,
        samesite="Lax",
        # Secure whenever the site is served over HTTPS, even behind a TLS-terminating proxy.
        secure=request.is_secure
        or bool(current_app.config["SESSION_COOKIE_SECURE"])
        or current_app.config["OAUTH_ISSUER"].startswith("https://"),
        path="/",
    )
    return response


@bp.post("/signout")
def signout():
    """Revoke the sign-in's tokens and forget the browser."""
    sessions.end(web_session=g.web_session)
    response = redirect(url_for("web.signin.signed_out"))
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


@bp.get("/signed-out")
@public
def signed_out():
    return render("signin/signed_out.html")


@bp.post("/language")
def language():
    """Keep the person's choice of language for every page and mail from now on."""
    chosen = request.form.get("language")
    tenants_service.set_language(user=g.web_user, language=chosen if chosen in LANGUAGES else None)
    return redirect(_safe_next(request.form.get("next")))


@bp.get("/")
def home():
    """Each role lands where its work is."""
    principal = g.principal
    if principal.is_bpo_admin or "supervisor" in principal.roles:
        return redirect(url_for("web.console.portfolio"))
    if "agent" in principal.platform_roles:
        return redirect(url_for("web.desk.desk"))
    firms = db.session.scalars(
        tenants_service.list_(visible=frozenset(principal.tenant_roles))
    ).all()
    if len(firms) == 1 and principal.tenant_roles.get(firms[0].id) != "agent":
        return redirect(url_for("web.portal.home", tenant_id=firms[0].id))
    return render("signin/home.html", firms=firms, roles=principal.tenant_roles)
