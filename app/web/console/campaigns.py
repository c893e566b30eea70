"""Campaigns across the floor: every overseen firm's running and paused campaigns side by side,
with today's attempts (each firm's own local day), each opening the firm's campaign report."""

from __future__ import annotations

from flask_babel import lazy_gettext
from sqlalchemy import select

from app.auth.permissions import CAMPAIGN_REPORTS_READ
from app.auth.principal import check
from app.db import db, utcnow
from app.reports.campaigns import running_today
from app.web import nav
from app.web.console.blueprint import bp
from app.web.console.scope import overseen, scoped
from app.web.shell import render
from tenants.models import Tenant


@bp.get("/campaigns")
def campaigns():
    """The campaigns calling now in every firm overseen, and how today went."""
    check(CAMPAIGN_REPORTS_READ)
    firms = overseen()
    stmt = select(Tenant).where(Tenant.status != "offboarded").order_by(Tenant.name)
    if firms is not None:
        stmt = stmt.where(Tenant.id.in_(sorted(firms)))
    tenants = list(db.session.scalars(stmt))
    with scoped():
        rows = running_today(tenants=tenants, now=utcnow())
    return render("console/campaigns.html", rows=rows)


nav.console("web.console.campaigns", lazy_gettext("Campaigns"), order=39)
