"""HTTP resources of billing. For now: the rate card."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from werkzeug.http import quote_etag

from app.api import SelectPage
from app.auth.permissions import BILLING_READ, TENANT_ADMIN
from app.auth.principal import current_actor, current_tenant, require
from app.db import utcnow
from billing import service as billing_service
from billing.models import RateCard
from billing.schemas import RateCardCreateSchema, RateCardSchema

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
