"""A firm's front page in the portal."""

from __future__ import annotations

from flask import g

from app.web.portal.blueprint import bp
from app.web.shell import render


@bp.get("/")
def home(tenant_id):
    """The firm's front page: where a client lands after signing in."""
    return render("portal/home.html", firm=g.tenant)
