"""The console's assignments grid: agents (rows) by the queues of every firm (columns), each
cell assigning or unassigning one agent to one queue through the assignments service."""

from __future__ import annotations

import uuid

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from app.agents import queue_assignments
from app.agents import service as agents_service
from app.auth.permissions import AGENT_ADMIN, AGENT_READ
from app.auth.principal import check, current_actor
from app.db import db
from app.errors import DomainError
from app.queues import service as queues_service
from app.web import nav
from app.web.console.agents import agent_or_404
from app.web.console.blueprint import bp
from app.web.console.scope import overseen, page_of, scoped
from app.web.shell import is_htmx, render
from tenants import service as tenants_service


@bp.get("/assignments")
def assignments():
    """The grid: a page of active agents by the active queues of the firms the caller sees."""
    check(AGENT_READ)
    return render("console/assignments.html", **_grid())


@bp.post("/assignments")
def assignments_save():
    """The whole grid sent at once (without JavaScript): each cell shown that changed."""
    check(AGENT_ADMIN)
    ticked = set(request.form.getlist("cell"))
    queue_ids = {uuid.UUID(q) for q in request.form.getlist("queue")}
    changes = 0
    try:
        for agent_id in request.form.getlist("agent"):
            agent = agent_or_404(uuid.UUID(agent_id))
            served = _served(agent)
            for queue_id in queue_ids:
                wanted = f"{agent.id}:{queue_id}" in ticked
                if wanted != (queue_id in served):
                    _assign(agent, queue_id, wanted)
                    changes += 1
    except DomainError as err:
        # Nothing of a half-applied grid is kept: the person sees why and sends it again.
        db.session.rollback()
        flash(err.detail, "error")
        return redirect(url_for("web.console.assignments", page=request.form.get("page", 1)))
    flash(_("Assignments saved (%(n)s changed).", n=changes), "info")
    return redirect(url_for("web.console.assignments", page=request.form.get("page", 1)))


@bp.post("/assignments/<uuid:agent_id>/<uuid:queue_id>")
def assignment_cell(agent_id: uuid.UUID, queue_id: uuid.UUID):
    """One cell ticked or unticked (htmx): assign or unassign, and answer the cell."""
    check(AGENT_ADMIN)
    agent = agent_or_404(agent_id)
    wanted = f"{agent_id}:{queue_id}" in request.form.getlist("cell")
    error = None
    try:
        if wanted != (queue_id in _served(agent)):
            _assign(agent, queue_id, wanted)
    except DomainError as err:
        error = err.detail
    assigned = queue_id in _served(agent)
    cell = {"agent_id": agent_id, "queue_id": queue_id, "assigned": assigned, "error": error}
    if not is_htmx():
        if error:
            flash(error, "error")
        return redirect(url_for("web.console.assignments"))
    return render("console/_assignment_cell.html", cell=cell, may_change=True, name=agent.user.name)


def _assign(agent, queue_id: uuid.UUID, wanted: bool) -> None:
    if wanted:
        queue_assignments.put(agent=agent, queue_id=queue_id, priority=1, actor=current_actor())
    else:
        queue_assignments.delete(agent=agent, queue_id=queue_id, actor=current_actor())


def _served(agent) -> set[uuid.UUID]:
    listed = queue_assignments.assignments(agent=agent, tenant_ids=overseen())["assignments"]
    return {a["queue_id"] for a in listed}


def _grid() -> dict:
    tenant_ids = overseen()
    within = None
    if tenant_ids is not None:
        within = agents_service.assigned_agent_ids(tenant_ids=tenant_ids)
    page = page_of(agents_service.list_(within=within, is_active=True))
    firms = [
        firm
        for firm in db.session.scalars(tenants_service.list_(visible=tenant_ids))
        if firm.status != "offboarded"
    ]
    with scoped():
        queues = list(db.session.scalars(queues_service.list_(active=True)))
    columns = []
    for firm in firms:
        own = [q for q in queues if q.tenant_id == firm.id]
        if own:
            columns.append({"firm": firm, "queues": own})
    # Names read here, not by the template: no query runs while a page is drawn.
    rows = [
        {"agent": agent, "name": agent.user.name, "served": _served(agent)} for agent in page.items
    ]
    return {
        "columns": columns,
        "queue_ids": [q.id for c in columns for q in c["queues"]],
        "rows": rows,
        "page": page,
        "may_change": g.principal.is_bpo_admin,
    }


nav.console("web.console.assignments", lazy_gettext("Assignments"), order=25)
