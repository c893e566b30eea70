"""HTTP resources of a client firm's webhook endpoints and their delivery log."""

from __future__ import annotations

import uuid

from flask import url_for
from flask.views import MethodView
from flask_smorest import abort

from app.api_base import Blueprint, SelectPage
from app.auth.permissions import SETTINGS_ADMIN
from app.auth.principal import current_actor, require
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
)

webhooks_blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/webhooks",
    description="A client firm's webhook endpoints: signed event notifications (SLA breaches "
    "and risks), retried with backoff, with a delivery log.",
)


@webhooks_blp.route("")
class WebhookEndpoints(MethodView):
    @require(SETTINGS_ADMIN)
    @webhooks_blp.arguments(WebhookEndpointQueryArgsSchema, location="query")
    @webhooks_blp.response(200, WebhookEndpointSchema(many=True))
    @webhooks_blp.paginate(SelectPage)
    def get(self, args, tenant_id):
        """List the client firm's webhook endpoints, oldest first (secrets are never shown)"""
        return webhooks_service.list_(**args)

    @require(SETTINGS_ADMIN)
    @webhooks_blp.arguments(WebhookEndpointCreateSchema)
    @webhooks_blp.response(201, WebhookEndpointWithSecretSchema)
    def post(self, endpoint_in, tenant_id):
        """Register a webhook endpoint; the answer shows its signing secret, once

        Each event is POSTed as JSON with `Switchboard-Signature: t=<unix seconds>,v1=<hex>`,
        where `v1` is the HMAC-SHA256, keyed with the secret, of `"<t>." + raw body`. The URL
        must be https:// on the public internet: its host is normalised, and a name must
        resolve to public addresses only (checked again before each delivery, on the addresses
        connected to).
        """
        endpoint = webhooks_service.create(endpoint_in=endpoint_in, actor=current_actor())
        location = url_for(
            "webhooks.WebhookEndpointById", tenant_id=tenant_id, endpoint_id=endpoint.id
        )
        return endpoint, 201, {"Location": location}


@webhooks_blp.route("/<uuid:endpoint_id>")
class WebhookEndpointById(MethodView):
    @require(SETTINGS_ADMIN)
    @webhooks_blp.etag
    @webhooks_blp.response(200, WebhookEndpointSchema)
    def get(self, tenant_id, endpoint_id):
        """Read a webhook endpoint (without its secret)"""
        return _endpoint_or_404(endpoint_id)

    @require(SETTINGS_ADMIN)
    @webhooks_blp.etag
    @webhooks_blp.arguments(WebhookEndpointUpdateSchema)
    @webhooks_blp.response(200, WebhookEndpointSchema)
    def patch(self, endpoint_in, tenant_id, endpoint_id):
        """Change a webhook endpoint's URL, description, event types, or pause it"""
        endpoint = _endpoint_or_404(endpoint_id)
        webhooks_blp.check_etag(endpoint, WebhookEndpointSchema)
        return webhooks_service.update(
            endpoint=endpoint, endpoint_in=endpoint_in, actor=current_actor()
        )

    @require(SETTINGS_ADMIN)
    @webhooks_blp.response(204)
    def delete(self, tenant_id, endpoint_id):
        """Delete a webhook endpoint with its delivery log

        To stop deliveries but keep the log, PATCH `is_active: false` instead.
        """
        webhooks_service.delete(endpoint=_endpoint_or_404(endpoint_id), actor=current_actor())


@webhooks_blp.route("/<uuid:endpoint_id>/rotate-secret")
class WebhookEndpointRotateSecret(MethodView):
    @require(SETTINGS_ADMIN)
    @webhooks_blp.response(200, WebhookEndpointWithSecretSchema)
    def post(self, tenant_id, endpoint_id):
        """Replace the endpoint's signing secret; the answer shows the new one, once

        Every delivery sent from now on, retries included, is signed with the new secret.
        """
        endpoint = _endpoint_or_404(endpoint_id)
        return webhooks_service.rotate_secret(endpoint=endpoint, actor=current_actor())


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
    endpoint = webhooks_service.get(endpoint_id=endpoint_id)
    if endpoint is None:
        abort(404, message="No such webhook endpoint in this client firm.")
    return endpoint


def _delivery_or_404(endpoint_id: uuid.UUID, delivery_id: uuid.UUID, *, endpoint=None):
    endpoint = endpoint or _endpoint_or_404(endpoint_id)
    delivery = webhooks_service.get_delivery(endpoint=endpoint, delivery_id=delivery_id)
    if delivery is None:
        abort(404, message="No such delivery for this webhook endpoint.")
    return delivery
