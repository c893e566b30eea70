"""HTTP resources of a client firm's webhook endpoints and their delivery log."""

from __future__ import annotations

import uuid

from flask import url_for
from flask.views import MethodView

from app.api_base import Blueprint, SelectPage
from app.auth.permissions import SETTINGS_ADMIN
from app.auth.principal import current_actor, require
from app.crud import CollectionView, ItemView, found
from app.webhooks import service as webhooks_service
from app.webhooks.schemas import (
    WebhookDeliveryDetailSchema,
    WebhookDeliveryQueryArgsSchema,
    WebhookDeliverySchema,
    WebhookEndpointCreateSchema,
    WebhookEndpointQueryArgsSchema,
    WebhookEndpointSchema,
    WebhookEndpointUpdateSchema,
    WebhookEndpointWithSecretSchema,
    WebhookSecretRotateSchema,
)

webhooks_blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/webhooks",
    description="A client firm's webhook endpoints: each receives the domain events it "
    "subscribes to (any of the *Events* section's: contacts' lifecycle and messages, SLA risks "
    "and breaches, invoices; each event's payload is documented there), signed as the Standard "
    "Webhooks specification says, retried with backoff, with a delivery log.",
)


@webhooks_blp.route("")
class WebhookEndpoints(CollectionView):
    blp, schema, query_schema = webhooks_blp, WebhookEndpointSchema, WebhookEndpointQueryArgsSchema
    create_schema, created_schema = WebhookEndpointCreateSchema, WebhookEndpointWithSecretSchema
    read = write = require(SETTINGS_ADMIN)
    docs = {
        "get": "List the client firm's webhook endpoints, oldest first (secrets are never shown)",
        "post": """Register a webhook endpoint; the answer shows its signing secret, once

        Each event is POSTed as JSON `{"id", "type", "created_at", "tenant_id", "data"}`, `data`
        being the event's payload as the *Events* section documents it, signed the Standard
        Webhooks way: `webhook-id` (the delivery's id, the same on every retry: deduplicate on
        it), `webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64>`, the
        HMAC-SHA256 of `"<webhook-id>.<webhook-timestamp>." + raw body` keyed with the
        base64-decoded part of the secret after `whsec_`; any Standard Webhooks library verifies
        it with the secret as shown. During a rotation window the header holds two signatures,
        space-separated: either one verifying is enough.

        The URL must be https:// on the public internet: its host is normalised, and a name
        must resolve to public addresses only (checked again before each delivery, on the
        addresses connected to).
        """,
    }

    def select(self, **args):
        return webhooks_service.list_(**args)

    def create(self, endpoint_in, tenant_id):
        endpoint = webhooks_service.create(endpoint_in=endpoint_in, actor=current_actor())
        location = url_for(
            "webhooks.WebhookEndpointById", tenant_id=tenant_id, endpoint_id=endpoint.id
        )
        return endpoint, 201, {"Location": location}


@webhooks_blp.route("/<uuid:endpoint_id>")
class WebhookEndpointById(ItemView):
    blp, schema, update_schema = webhooks_blp, WebhookEndpointSchema, WebhookEndpointUpdateSchema
    read = write = require(SETTINGS_ADMIN)
    docs = {
        "get": "Read a webhook endpoint (without its secret)",
        "patch": "Change a webhook endpoint's URL, description, event types, or pause it",
        "delete": """Delete a webhook endpoint with its delivery log

        To stop deliveries but keep the log, PATCH `is_active: false` instead.
        """,
    }

    def item(self, endpoint_id, **_path):
        return _endpoint_or_404(endpoint_id)

    def update(self, endpoint, endpoint_in):
        return webhooks_service.update(
            endpoint=endpoint, endpoint_in=endpoint_in, actor=current_actor()
        )

    def delete_item(self, endpoint):
        webhooks_service.delete(endpoint=endpoint, actor=current_actor())


@webhooks_blp.route("/<uuid:endpoint_id>/rotate-secret")
class WebhookEndpointRotateSecret(MethodView):
    @require(SETTINGS_ADMIN)
    @webhooks_blp.arguments(WebhookSecretRotateSchema, required=False)
    @webhooks_blp.response(200, WebhookEndpointWithSecretSchema)
    def post(self, rotation_in, tenant_id, endpoint_id):
        """Replace the endpoint's signing secret; the answer shows the new one, once

        Every delivery sent from now on, retries included, is signed with the new secret and,
        for `expire_previous_in_seconds` (default 24 hours), with the replaced one too:
        `webhook-signature: v1,<new> v1,<old>`. Install the new secret in the receiver within
        that window. A secret replaced by an earlier rotation stops signing at once.
        """
        endpoint = _endpoint_or_404(endpoint_id)
        return webhooks_service.rotate_secret(
            endpoint=endpoint,
            actor=current_actor(),
            expire_previous_in_seconds=rotation_in.get("expire_previous_in_seconds"),
        )


@webhooks_blp.route("/<uuid:endpoint_id>/ping")
class WebhookEndpointPing(MethodView):
    @require(SETTINGS_ADMIN)
    @webhooks_blp.response(202, WebhookDeliverySchema)
    @webhooks_blp.alt_response(409, description="The endpoint is inactive.")
    def post(self, tenant_id, endpoint_id):
        """Queue a `webhook.ping` event to this endpoint only, to test the receiver

        The worker sends it like any event; follow it in the delivery log.
        """
        return webhooks_service.ping(endpoint=_endpoint_or_404(endpoint_id))


@webhooks_blp.route("/<uuid:endpoint_id>/deliveries")
class WebhookDeliveries(MethodView):
    @require(SETTINGS_ADMIN)
    @webhooks_blp.arguments(WebhookDeliveryQueryArgsSchema, location="query")
    @webhooks_blp.response(200, WebhookDeliverySchema(many=True))
    @webhooks_blp.paginate(SelectPage)
    def get(self, args, tenant_id, endpoint_id):
        """List the endpoint's deliveries, newest first: the delivery log"""
        return webhooks_service.list_deliveries(endpoint=_endpoint_or_404(endpoint_id), **args)


@webhooks_blp.route("/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>")
class WebhookDeliveryById(MethodView):
    @require(SETTINGS_ADMIN)
    @webhooks_blp.response(200, WebhookDeliveryDetailSchema)
    def get(self, tenant_id, endpoint_id, delivery_id):
        """Read a delivery with every attempt: when, HTTP status, error, duration"""
        delivery = _delivery_or_404(endpoint_id, delivery_id)
        detail = {name: getattr(delivery, name) for name in WebhookDeliverySchema().fields}
        detail["attempt_log"] = webhooks_service.list_attempts(delivery=delivery)
        return detail


@webhooks_blp.route("/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/retry")
class WebhookDeliveryRetry(MethodView):
    @require(SETTINGS_ADMIN)
    @webhooks_blp.response(202, WebhookDeliverySchema)
    @webhooks_blp.alt_response(
        409, description="The delivery is already pending, or the endpoint is inactive."
    )
    def post(self, tenant_id, endpoint_id, delivery_id):
        """Send a dead (or delivered) delivery again, now, with a fresh round of attempts"""
        endpoint = _endpoint_or_404(endpoint_id)
        delivery = _delivery_or_404(endpoint_id, delivery_id, endpoint=endpoint)
        return webhooks_service.retry(endpoint=endpoint, delivery=delivery, actor=current_actor())


def _endpoint_or_404(endpoint_id: uuid.UUID):
    return found(
        webhooks_service.get(endpoint_id=endpoint_id),
        "No such webhook endpoint in this client firm.",
    )


def _delivery_or_404(endpoint_id: uuid.UUID, delivery_id: uuid.UUID, *, endpoint=None):
    endpoint = endpoint or _endpoint_or_404(endpoint_id)
    return found(
        webhooks_service.get_delivery(endpoint=endpoint, delivery_id=delivery_id),
        "No such delivery for this webhook endpoint.",
    )
