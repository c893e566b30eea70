"""The portfolio: every firm the caller may see, side by side."""

from __future__ import annotations

from flask import g

from app.db import db
from app.web.console.blueprint import bp
from app.web.shell import render
from tenants import service as tenants_service


@bp.get("/")
def portfolio():
    """Every firm the caller sees, with its status."""
    principal = g.principal
    firms = db.session.scalars(tenants_service.list_(visible=principal.visible_tenant_ids())).all()
    return render("console/portfolio.html", firms=firms)
