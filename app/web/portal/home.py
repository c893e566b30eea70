"""A firm's front page in the portal: where a client lands after signing in."""

from __future__ import annotations

from flask import g, redirect, url_for

from app.auth.permissions import REPORTS_READ
from app.web.portal.blueprint import bp
from app.web.shell import render


@bp.get("/")
def home(tenant_id):
    """The firm's front page: its SLA dashboard for those who read its reports (sign-in lands
    here, so the endpoint stays); the firm's facts for anyone else with a role there."""
    if g.principal.role_on(tenant_id) in REPORTS_READ.roles:
        return redirect(url_for("web.portal.dashboard", tenant_id=tenant_id))
    return render("portal/home.html", firm=g.tenant)
