"""Quality across the floor: for each firm the caller oversees, the reviews waiting, being
scored and the disputes open, and the oldest reviews waiting anywhere, each opening the firm's
own scoring page."""

from __future__ import annotations

from flask import g
from flask_babel import lazy_gettext
from sqlalchemy import select

from app.auth.permissions import QUALITY_REVIEW
from app.auth.principal import check
from app.db import db
from app.quality import evaluations
from app.web import nav
from app.web.console.blueprint import bp
from app.web.console.scope import overseen, scoped
from app.web.shell import render
from tenants.models import Tenant

OLDEST = 25


@bp.get("/quality")
def quality():
    """The quality work waiting in every firm overseen."""
    check(QUALITY_REVIEW)
    firms = overseen()
    with scoped():
        counts = evaluations.per_firm()
        oldest = list(
            db.session.scalars(evaluations.list_(state="queued", purpose="review").limit(OLDEST))
        )
        mine = list(
            db.session.scalars(
                evaluations.list_(state="in_progress", reviewer_user_id=g.principal.user_id)
            )
        )
    stmt = select(Tenant).where(Tenant.status != "offboarded").order_by(Tenant.name)
    if firms is not None:
        stmt = stmt.where(Tenant.id.in_(sorted(firms)))
    tenants = list(db.session.scalars(stmt))
    return render(
        "console/quality.html",
        tenants=tenants,
        counts=counts,
        oldest=oldest,
        mine=mine,
        names={t.id: t.name for t in tenants},
    )


nav.console("web.console.quality", lazy_gettext("Reviews"), order=38)
