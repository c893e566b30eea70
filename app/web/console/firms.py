"""A firm's admin page in the console: its profile and status, the lifecycle actions (suspend,
activate, offboard) and its data exports, through the same services and checks as the API."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, abort, current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from app.auth.permissions import EXPORT_READ, TENANT_ADMIN, TENANT_READ
from app.auth.principal import Forbidden, check, current_actor
from app.db import db
from app.errors import Conflict
from app.web.console.blueprint import bp
from app.web.shell import form_errors, render
from tenants import service as tenants_service
from tenants.schemas import LifecycleActionSchema

NDJSON = "application/x-ndjson"
MOVES = ("suspend", "activate", "offboard")


def _may(permission) -> bool:
    try:
        check(permission)
    except Forbidden:
        return False
    return True


def _page(errors: dict | None = None, values: dict | None = None, status: int = 200):
    tenant = g.tenant
    may_export = _may(EXPORT_READ)
    exports = db.session.scalars(tenants_service.list_exports()).all() if may_export else []
    return (
        render(
            "console/firm.html",
            firm=tenant,
            moves=tenants_service.allowed_moves(tenant=tenant),
            is_admin=_may(TENANT_ADMIN),
            may_export=may_export,
            exports=exports,
            errors=errors or {},
            values=values or {},
        ),
        status,
    )


@bp.get("/firms/<uuid:tenant_id>")
def firm(tenant_id):
    """The firm's profile, status, lifecycle actions and exports."""
    check(TENANT_READ)
    return _page()


def _reason(move: str) -> dict:
    """The form's reason, through the API's schema (blank: none given)."""
    reason = (request.form.get(f"{move}.reason") or "").strip()
    return LifecycleActionSchema().load({"reason": reason} if reason else {})


@bp.post("/firms/<uuid:tenant_id>/<any(suspend, activate, offboard):move>")
def move(tenant_id, move):
    """Suspend, activate or offboard the firm; offboarding only once confirmed on the form."""
    check(TENANT_ADMIN)
    values = {"reason": request.form.get(f"{move}.reason", ""), "move": move}
    try:
        action_in = _reason(move)
    except ValidationError as err:
        errors = {f"{move}.{k}": v for k, v in form_errors(err.messages).items()}
        return _page(errors, values, 422)
    if move == "offboard" and request.form.get("confirm") != "yes":
        errors = {"offboard.confirm": [_("Tick the box to confirm the offboarding.")]}
        return _page(errors, values, 422)
    tenant, actor, reason = g.tenant, current_actor(), action_in.get("reason")
    try:
        if move == "suspend":
            tenants_service.suspend(tenant=tenant, reason=reason, actor=actor)
            flash(_("%(name)s is suspended.", name=tenant.name))
        elif move == "activate":
            tenants_service.activate(tenant=tenant, reason=reason, actor=actor)
            flash(_("%(name)s is active again.", name=tenant.name))
        else:
            retention = timedelta(days=current_app.config["OFFBOARDING_RETENTION_DAYS"])
            tenants_service.offboard(tenant=tenant, reason=reason, retention=retention, actor=actor)
            flash(_("%(name)s is offboarded; its data export is listed below.", name=tenant.name))
    except Conflict as exc:
        # The status moved on (another admin, another tab): said where the actions are.
        return _page({"lifecycle": [exc.detail]}, values, 409)
    return redirect(url_for("web.console.firm", tenant_id=tenant.id))


@bp.post("/firms/<uuid:tenant_id>/exports")
def create_export(tenant_id):
    """Export all of the firm's data now (as offboarding does), audited."""
    check(TENANT_ADMIN)
    tenants_service.create_export(tenant=g.tenant, actor=current_actor())
    flash(_("The export is ready to download."))
    return redirect(url_for("web.console.firm", tenant_id=tenant_id) + "#exports")


@bp.get("/firms/<uuid:tenant_id>/exports/<uuid:export_id>")
def download_export(tenant_id, export_id):
    """Download an export as NDJSON, the download audited as in the API."""
    check(EXPORT_READ)
    export = tenants_service.get_export(export_id=export_id)
    if export is None:
        abort(404)
    file = tenants_service.export_file(export=export, tenant=g.tenant, actor=current_actor())
    return Response(
        file.body,
        mimetype=NDJSON,
        headers={
            "Content-Disposition": f'attachment; filename="{file.filename}"',
            "Repr-Digest": file.repr_digest,
        },
    )
