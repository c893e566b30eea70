"""The console's billing: closing a month for every firm (the API's close), the invoices of
every firm with filters, and the Stripe outbox's pushes not yet sent with their errors."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext

from app.auth.permissions import BILLING_ADMIN, BILLING_READ
from app.auth.principal import check, current_actor
from app.db import db, utcnow
from app.errors import Conflict, Unprocessable
from app.web import nav
from app.web.console.blueprint import bp
from app.web.console.scope import page_of
from app.web.shell import render
from billing import service as billing_service
from billing.models import INVOICE_STATUSES
from tenants import service as tenants_service
from tenants.scoping import tenant_scope, unscoped

OUTBOX_SHOWN = 100


@bp.get("/billing")
def billing():
    """Close a month; the invoices of every firm (by month, status, firm); the outbox."""
    check(BILLING_READ)
    filters, errors = _filters(request.args)
    page = _page(filters, errors, close_period=_last_month(), close_errors={})
    return page, 422 if errors else 200


@bp.post("/billing/close")
def billing_close():
    """Close a month (YYYY-MM) for every active firm, as POST /v1/billing/periods/<m>/close."""
    check(BILLING_ADMIN)
    period = request.form.get("period", "").strip()
    try:
        result = billing_service.close_billing_period(period=period, actor=current_actor())
    except (Unprocessable, Conflict) as err:
        messages = (err.extra.get("errors") or {}).get("path", {}).get("period") or [err.detail]
        page = _page({}, {}, close_period=period, close_errors={"period": messages})
        return page, err.status
    flash(
        ngettext(
            "%(period)s closed: %(num)d invoice made, %(already)d already closed.",
            "%(period)s closed: %(num)d invoices made, %(already)d already closed.",
            result["closed"],
            period=period,
            already=result["already_closed"],
        ),
        "info",
    )
    return redirect(url_for("web.console.billing", period=period))


def _page(filters: dict, errors: dict, *, close_period: str, close_errors: dict):
    firms = {f.id: f for f in db.session.scalars(tenants_service.list_(visible=None))}
    stmt = billing_service.list_invoices(period=filters.get("period"), status=filters.get("status"))
    firm_id = filters.get("firm")
    # Invoices of every firm are the BPO admin's reading; one firm's, in that firm's scope.
    with tenant_scope(firm_id) if firm_id else unscoped():
        page = page_of(stmt) if not errors else None
    with unscoped():
        outbox = db.session.execute(billing_service.list_outbox().limit(OUTBOX_SHOWN)).all()
    totals: dict[str, int] = {}
    for invoice in page.items if page else []:
        totals[invoice.currency] = totals.get(invoice.currency, 0) + invoice.total
    return render(
        "console/billing.html",
        firms=firms,
        statuses=INVOICE_STATUSES,
        values={k: request.args.get(k, "") for k in ("period", "status", "firm")},
        errors=errors,
        page=page,
        totals=totals,
        outbox=outbox,
        close_period=close_period,
        close_errors=close_errors,
    )


def _filters(args) -> tuple[dict, dict]:
    """The invoices' filters, each checked as the API checks a month, a status, an id."""
    filters: dict = {}
    errors: dict[str, list[str]] = {}
    period = args.get("period", "").strip()
    if period:
        try:
            billing_service.parse_period(period, location="query")
            filters["period"] = period
        except Unprocessable as err:
            errors["period"] = err.extra["errors"]["query"]["period"]
    status = args.get("status", "")
    if status:
        if status in INVOICE_STATUSES:
            filters["status"] = status
        else:
            errors["status"] = [_("Choose a status from the list.")]
    firm = args.get("firm", "")
    if firm:
        try:
            filters["firm"] = uuid.UUID(firm)
        except ValueError:
            errors["firm"] = [_("Choose a firm from the list.")]
    return filters, errors


def _last_month() -> str:
    return (utcnow().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


nav.console("web.console.billing", lazy_gettext("Billing"), order=30, roles=("bpo_admin",))
