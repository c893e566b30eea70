"""The console's supervisors: each with the client firms they oversee, a firm added or
removed through the supervisors service, as PUT /v1/supervisors/<id>/tenants does."""

from __future__ import annotations

import uuid

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from werkzeug.exceptions import NotFound as HttpNotFound

from app.agents import supervisors as supervisors_service
from app.auth.permissions import AGENT_ADMIN
from app.auth.principal import check, current_actor
from app.db import db
from app.errors import DomainError
from app.web import nav
from app.web.console.blueprint import bp
from app.web.console.scope import PAGE_SIZE, Page
from app.web.shell import render
from tenants import service as tenants_service


@bp.get("/supervisors")
def supervisors():
    """Every supervisor, by name, with their firms and the firms that may be added."""
    check(AGENT_ADMIN)
    number = max(request.args.get("page", 1, type=int) or 1, 1)
    total, rows = supervisors_service.list_(offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    firms = [
        f
        for f in db.session.scalars(tenants_service.list_(visible=None))
        if f.status != "offboarded"
    ]
    page = Page(rows, number, number * PAGE_SIZE < total)
    return render("console/supervisors.html", page=page, firms=firms)


@bp.post("/supervisors/<uuid:user_id>/firms")
def supervisor_firms(user_id: uuid.UUID):
    """Add a firm to a supervisor's (`add`) or take one away (`remove`)."""
    check(AGENT_ADMIN)
    user = supervisors_service.get_supervisor(user_id=user_id)
    if user is None:
        raise HttpNotFound()
    current = supervisors_service.supervised_tenants(user=user)["tenant_ids"]
    try:
        if request.form.get("add"):
            wanted = [*current, uuid.UUID(request.form["add"])]
        else:
            gone = uuid.UUID(request.form.get("remove", ""))
            wanted = [t for t in current if t != gone]
    except ValueError:
        flash(_("Choose a client firm."), "error")
        return redirect(url_for("web.console.supervisors"))
    try:
        supervisors_service.set_supervised_tenants(
            user=user, tenant_ids=wanted, actor=current_actor()
        )
    except DomainError as err:
        flash(err.detail, "error")
        return redirect(url_for("web.console.supervisors"))
    flash(_("Firms of %(name)s saved.", name=user.name), "info")
    return redirect(url_for("web.console.supervisors"))


nav.console("web.console.supervisors", lazy_gettext("Supervisors"), order=28, roles=("bpo_admin",))
