"""A firm's invoices in the portal: the closed months, each with its lines (and their CSV), and
the month so far as the API previews it. Client admins and the BPO's admins only."""

from __future__ import annotations

from flask import abort, g, request
from flask_babel import lazy_gettext
from marshmallow import ValidationError

from app.auth.permissions import BILLING_READ
from app.auth.principal import check
from app.csv_responses import csv_response
from app.db import utcnow
from app.errors import Unprocessable
from app.reports.periods import zone_of
from app.web import nav
from app.web.portal.blueprint import bp
from app.web.portal.contacts import page_number, page_of
from app.web.portal.registers import unprocessable_errors
from app.web.shell import form_errors, render
from billing import service as billing_service
from billing.schemas import InvoiceLineSchema, PeriodArgsSchema

PAGE_SIZE = 24  # two years of months


@bp.get("/invoices")
def invoices(tenant_id):
    """The firm's closed invoices, latest month first."""
    check(BILLING_READ)
    page = page_number(request.args)
    rows, more = page_of(billing_service.list_invoices(), page, PAGE_SIZE)
    return render("portal/invoices.html", firm=g.tenant, invoices=rows, page=page, more=more)


@bp.get("/invoices/preview")
def invoice_preview(tenant_id):
    """A month's invoice as it stands now (default: this local month), computed, not stored."""
    check(BILLING_READ)
    tenant = g.tenant
    typed = request.args.get("period", "").strip()
    period = typed or billing_service.period_of(at=utcnow(), zone=zone_of(tenant))
    preview, errors = None, {}
    try:
        args = PeriodArgsSchema().load({"period": period})
        preview = billing_service.preview_invoice(tenant=tenant, period=args["period"])
    except ValidationError as err:
        errors = form_errors(err.messages)
    except Unprocessable as exc:
        errors = unprocessable_errors(exc)
    return render(
        "portal/invoice_preview.html",
        firm=tenant,
        period=period,
        errors=errors,
        invoice=preview,
    ), (422 if errors else 200)


def _invoice_or_404(invoice_id):
    invoice = billing_service.get_invoice(invoice_id=invoice_id)
    if invoice is None:  # another firm's invoice is out of scope: not found
        abort(404)
    return invoice


@bp.get("/invoices/<uuid:invoice_id>")
def invoice(tenant_id, invoice_id):
    """A closed invoice with its lines."""
    check(BILLING_READ)
    found = _invoice_or_404(invoice_id)
    lines = billing_service.invoice_lines(invoice=found)
    return render("portal/invoice.html", firm=g.tenant, invoice=found, lines=lines)


@bp.get("/invoices/<uuid:invoice_id>/lines.csv")
def invoice_csv(tenant_id, invoice_id):
    """An invoice's lines as CSV: the API's columns and cells."""
    check(BILLING_READ)
    found = _invoice_or_404(invoice_id)
    lines = billing_service.invoice_lines(invoice=found)
    filename = f"invoice-{g.tenant.slug}-{found.period}.csv"
    return csv_response(InvoiceLineSchema(), lambda: lines, filename, tenant_id=g.tenant.id)


nav.portal(
    "web.portal.invoices",
    lazy_gettext("Invoices"),
    order=50,
    roles=("client_admin", "bpo_admin"),
)
