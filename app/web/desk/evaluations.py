"""The agent's own evaluations across every firm it serves: each review's score and firm, newest
first, opening the firm's page where the agent reads it and may dispute it."""

from __future__ import annotations

from flask import g

from app.agents.common import assigned_tenant_ids, reading
from app.auth.permissions import QUALITY_DISPUTE
from app.auth.principal import check
from app.db import db
from app.quality import evaluations
from app.web.desk.blueprint import bp, my_agent
from app.web.shell import render
from tenants.models import Tenant

SHOWN = 50


@bp.get("/evaluations")
def my_evaluations():
    """The agent's reviews, newest first (the disputed ones marked)."""
    check(QUALITY_DISPUTE)
    agent = my_agent()
    firms = assigned_tenant_ids(agent.id)
    with reading(firms):
        rows = list(
            db.session.scalars(
                evaluations.list_for(
                    viewer=evaluations.Viewer("agent", g.principal.user_id, agent.id),
                    state="submitted",
                ).limit(SHOWN)
            )
        )
        disputed = {e.id for e in rows if evaluations.dispute_of(e) is not None}
    names = {t.id: t.name for t in db.session.query(Tenant).filter(Tenant.id.in_(sorted(firms)))}
    return render("desk/evaluations.html", rows=rows, disputed=disputed, names=names)
