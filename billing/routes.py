"""HTTP resources of billing: the rate card, usage records, invoices and closing a month."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import abort
from werkzeug.http import quote_etag

from app.api_base import Blueprint, SelectPage
from app.auth.permissions import BILLING_ADMIN, BILLING_READ, TENANT_ADMIN
from app.auth.principal import current_actor, current_tenant, require
from app.csv_responses import csv_doc, csv_response, wants_csv
from app.db import db, utcnow
from billing import service as billing_service
from billing.models import RateCard
from billing.schemas import (
    InvoiceDetailSchema,
    InvoiceLineSchema,
    InvoiceSchema,
    PeriodArgsSchema,
    PeriodCloseSchema,
    RateCardCreateSchema,
    RateCardSchema,
    StripeWebhookResultSchema,
    UsageRecordSchema,
    UsageVoidSchema,
)

rate_card_blp = Blueprint(
    "rate_card",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/rate-card",
    description="A client firm's prices per handled contact, versioned by effective date. "
    "Amounts are integer minor units of the firm's currency; shares are integer basis points "
    "(10000 = 100 %). A firm onboarded without prices has a placeholder version that charges "
    "nothing (default_unit_amount 0, no prices, no minimum, no credits): price it before billing.",
)

_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The ETag of the version in force (from GET). Required when one is in "
    "force (428 without it, 412 when stale); leave it out to create the first version.",
    "schema": {"type": "string"},
}


@rate_card_blp.route("")
class RateCardInForce(MethodView):
    @require(BILLING_READ)
    @rate_card_blp.etag
    @rate_card_blp.response(200, RateCardSchema)
    @rate_card_blp.alt_response(404, description="No version is in force yet.")
    def get(self, tenant_id):
        """Read the version of the rate card in force now"""
        rate_card = billing_service.rate_card_in_force()
        if rate_card is None:
            abort(404, message="No rate card is in force for this client firm.")
        return rate_card

    @require(TENANT_ADMIN)
    @rate_card_blp.arguments(RateCardCreateSchema)
    @rate_card_blp.response(201, RateCardSchema)
    @rate_card_blp.alt_response(409, description="A version with this effective_from exists.")
    @rate_card_blp.alt_response(412, description="If-Match is not the version in force.")
    @rate_card_blp.alt_response(428, description="A version is in force and If-Match is missing.")
    @rate_card_blp.doc(parameters=[_IF_MATCH])
    def put(self, rate_card_in, tenant_id):
        """Add a version of the rate card, effective from an instant (default now)

        Versions are never edited, so past contacts stay priced as they were. The new
        version must not take effect before the version in force. The response carries an
        ETag when the new version is in force at once.
        """
        tenant = current_tenant()
        billing_service.lock_rate_cards(tenant=tenant)
        _check_if_match(billing_service.rate_card_in_force())
        rate_card = billing_service.create_rate_card(
            rate_card_in=rate_card_in, tenant=tenant, actor=current_actor()
        )
        if rate_card.effective_from > utcnow():
            return rate_card
        return rate_card, {"ETag": quote_etag(_etag(rate_card))}


@rate_card_blp.route("/versions")
class RateCardVersions(MethodView):
    @require(BILLING_READ)
    @rate_card_blp.response(200, RateCardSchema(many=True))
    @rate_card_blp.paginate(SelectPage)
    def get(self, tenant_id):
        """List every version of the rate card, latest effective first (scheduled ones too)"""
        return billing_service.list_rate_cards()


def _check_if_match(in_force: RateCard | None) -> None:
    """If-Match on the version in force, which PUT supersedes (with none, nothing to match)."""
    # Not flask-smorest's @etag: that demands If-Match even when no version exists yet.
    if in_force is None:
        if request.if_match:
            # RFC 9110 13.1.1: If-Match is false when there is no current representation.
            abort(412, message="No rate card is in force: send no If-Match to create one.")
        return
    if not request.if_match:
        abort(
            428,
            message="A rate card is in force: send its ETag (from GET) in If-Match.",
        )
    rate_card_blp.check_etag(in_force, RateCardSchema)


def _etag(rate_card: RateCard) -> str:
    # The same tag GET computes from the same dump, so it can be sent back as If-Match.
    return rate_card_blp._generate_etag(RateCardSchema().dump(rate_card))


# --- usage and invoices ----------------------------------------------------------------------

invoices_blp = Blueprint(
    "invoices",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>",
    description="A client firm's usage (one record per handled contact) and monthly invoices. "
    "Amounts are integer minor units of the firm's currency. JSON, or CSV with "
    "`Accept: text/csv` (an invoice's lines; a month's usage).",
)


@invoices_blp.route("/invoices")
class Invoices(MethodView):
    @require(BILLING_READ)
    @invoices_blp.response(200, InvoiceSchema(many=True))
    @invoices_blp.paginate(SelectPage)
    def get(self, tenant_id):
        """List the firm's closed invoices, latest month first"""
        return billing_service.list_invoices()


@invoices_blp.route("/invoices/preview")
class InvoicePreview(MethodView):
    @require(BILLING_READ)
    @invoices_blp.arguments(PeriodArgsSchema, location="query")
    @invoices_blp.response(200, InvoiceDetailSchema)
    def get(self, args, tenant_id):
        """Preview a month's invoice as it stands now (computed, not stored)

        Usage lines per channel, category, direction and tier, the top-up to the monthly
        minimum, and the SLA credit with the KPI figures it came from (`sla_figures`). The
        month's terms are those of the rate card in force at the month's end; each contact
        keeps the list price in force when it was handled.
        """
        return billing_service.preview_invoice(tenant=current_tenant(), period=args["period"])


@invoices_blp.route("/invoices/<uuid:invoice_id>")
class InvoiceById(MethodView):
    @require(BILLING_READ)
    @invoices_blp.response(200, InvoiceDetailSchema)
    @invoices_blp.doc(**csv_doc("the invoice's lines."))
    def get(self, tenant_id, invoice_id):
        """Read a closed invoice with its lines (`Accept: text/csv`: the lines as CSV)"""
        invoice = billing_service.get_invoice(invoice_id=invoice_id)
        if invoice is None:
            abort(404, message="No such invoice for this client firm.")
        lines = billing_service.invoice_lines(invoice=invoice)
        if wants_csv():
            filename = f"invoice-{current_tenant().slug}-{invoice.period}.csv"
            return csv_response(InvoiceLineSchema(), lambda: lines, filename, tenant_id=tenant_id)
        return {**{name: getattr(invoice, name) for name in InvoiceSchema().fields}, "lines": lines}


@invoices_blp.route("/usage")
class Usage(MethodView):
    @require(BILLING_READ)
    @invoices_blp.arguments(PeriodArgsSchema, location="query")
    @invoices_blp.response(200, UsageRecordSchema(many=True))
    @invoices_blp.paginate()
    @invoices_blp.doc(**csv_doc("every usage record of the month (not a page)."))
    def get(self, args, tenant_id, pagination_parameters):
        """List a month's usage records in handled order, voided ones included

        `Accept: text/csv` gives the whole month as CSV.
        """
        stmt = billing_service.list_usage(period=args["period"])
        page = SelectPage(stmt, page_params=pagination_parameters)
        pagination_parameters.item_count = page.item_count
        if wants_csv():
            filename = f"usage-{current_tenant().slug}-{args['period']}.csv"
            return csv_response(
                UsageRecordSchema(), lambda: db.session.scalars(stmt), filename, tenant_id=tenant_id
            )
        return page.items


@invoices_blp.route("/usage/<uuid:usage_id>/void")
class UsageVoid(MethodView):
    @require(BILLING_ADMIN)
    @invoices_blp.arguments(UsageVoidSchema)
    @invoices_blp.response(200, UsageRecordSchema)
    @invoices_blp.alt_response(409, description="Already voided, or its month is closed.")
    def post(self, void_in, tenant_id, usage_id):
        """Void a usage record: the contact was not really handled (audited)

        Only while its month is open: a closed invoice never changes.
        """
        usage = billing_service.get_usage(usage_id=usage_id)
        if usage is None:
            abort(404, message="No such usage record for this client firm.")
        return billing_service.void_usage(
            usage=usage, reason=void_in["reason"], actor=current_actor()
        )


billing_periods_blp = Blueprint(
    "billing_periods",
    __name__,
    url_prefix="/v1/billing/periods",
    description="Closing a month: every active client firm's invoice is frozen and queued "
    "for Stripe. Also `flask --app wsgi billing close YYYY-MM` for a CronJob.",
)


@billing_periods_blp.route("/<string:period>/close")
class BillingPeriodClose(MethodView):
    @require(BILLING_ADMIN)
    @billing_periods_blp.response(200, PeriodCloseSchema)
    @billing_periods_blp.alt_response(409, description="The month has not ended everywhere.")
    @billing_periods_blp.alt_response(422, description="Not a YYYY-MM month.")
    def post(self, period):
        """Close a month (YYYY-MM): freeze every active firm's invoice, once

        Refused until the month has ended in every active firm's time zone. Closing twice
        changes nothing: a firm already closed is reported `already_closed`.
        """
        return billing_service.close_billing_period(period=period, actor=current_actor())


# --- Stripe's webhook --------------------------------------------------------------------------

stripe_webhook_blp = Blueprint(
    "stripe_webhook",
    __name__,
    url_prefix="/v1/billing/stripe",
    description="Stripe's notifications about the invoices pushed to it. Authenticated by "
    "Stripe's signature, not by an access token.",
)


@stripe_webhook_blp.route("/webhook")
class StripeWebhook(MethodView):
    # No @require: Stripe holds no token. The `Stripe-Signature` header, checked against
    # STRIPE_WEBHOOK_SECRET, is what authenticates the caller.
    @stripe_webhook_blp.response(
        200, StripeWebhookResultSchema, description="Processed, or already processed before."
    )
    @stripe_webhook_blp.alt_response(400, description="The signature or body does not verify.")
    @stripe_webhook_blp.alt_response(503, description="No webhook secret is configured.")
    @stripe_webhook_blp.doc(security=[])
    def post(self):
        """Receive a Stripe event (invoice.paid, invoice.payment_failed)

        Verified with the endpoint's signing secret; each event id is acted on once (a
        redelivery answers 200 and changes nothing). `invoice.paid` marks our invoice paid;
        `invoice.payment_failed` marks it payment_failed and starts the firm's past-due
        clock, unless it was already paid (events may arrive out of order). Other events
        are acknowledged and ignored.
        """
        from billing import stripe_sync  # the one module that imports stripe

        outcome = stripe_sync.handle_webhook(
            payload=request.get_data(), signature=request.headers.get("Stripe-Signature")
        )
        return {"received": True, "outcome": outcome}
