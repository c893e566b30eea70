"""A firm's webhook endpoints in its settings: register (secret shown once), edit, disable,
rotate the secret, and each endpoint's delivery log with a retry of a failed delivery."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from app.auth.permissions import SETTINGS_ADMIN
from app.auth.principal import check, current_actor
from app.db import db
from app.errors import DomainError
from app.web.portal.blueprint import bp
from app.web.portal.settings_forms import form_of, problems_of
from app.web.shell import form_errors, render
from app.webhooks import service as webhooks_service
from app.webhooks.models import EVENT_TYPES
from app.webhooks.schemas import WebhookEndpointCreateSchema, WebhookEndpointUpdateSchema

_FIELDS = ("url", "description")
# The delivery log shows the latest deliveries; the API pages through all of them.
LOG_LENGTH = 50


def _form_errors(err: ValidationError) -> dict[str, list[str]]:
    """The form's errors, an unknown event type's (`event_types.<index>`) beside the events."""
    flat = form_errors(err.messages)
    for key in [k for k in flat if k.startswith("event_types.")]:
        flat.setdefault("event_types", []).extend(flat.pop(key))
    return flat


def _endpoint_or_404(endpoint_id):
    endpoint = webhooks_service.get(endpoint_id=endpoint_id)
    if endpoint is None:
        abort(404)
    return endpoint


def _to_endpoint(tenant_id, endpoint_id):
    return redirect(
        url_for("web.portal.settings_webhook", tenant_id=tenant_id, endpoint_id=endpoint_id)
    )


def _list_page(errors=None, typed=None, status=200):
    endpoints = db.session.scalars(webhooks_service.list_()).all()
    page = render(
        "portal/settings/webhooks.html",
        endpoints=endpoints,
        event_types=EVENT_TYPES,
        errors=errors or {},
        typed=typed if typed is not None else {"event_types": ["sla.breached"]},
    )
    return page, status


@bp.get("/settings/webhooks")
def settings_webhooks(tenant_id):
    """The firm's webhook endpoints, and the form to register one."""
    check(SETTINGS_ADMIN)
    return _list_page()


@bp.post("/settings/webhooks")
def settings_webhook_create(tenant_id):
    """Register an endpoint; this answer is the only page that shows its signing secret."""
    check(SETTINGS_ADMIN)
    typed = form_of(*_FIELDS, lists=("event_types",))
    try:
        endpoint_in = WebhookEndpointCreateSchema().load(typed)
        endpoint = webhooks_service.create(endpoint_in=endpoint_in, actor=current_actor())
    except ValidationError as err:
        return _list_page(_form_errors(err), typed, 422)
    except DomainError as err:
        db.session.rollback()
        return _list_page(problems_of(err), typed, 422)
    return render("portal/settings/webhook_secret.html", endpoint=endpoint, created=True)


def _endpoint_page(endpoint, errors=None, typed=None, status=200):
    page = render(
        "portal/settings/webhook.html",
        endpoint=endpoint,
        event_types=EVENT_TYPES,
        deliveries=_deliveries(endpoint),
        errors=errors or {},
        typed=typed
        if typed is not None
        else {
            "url": endpoint.url,
            "description": endpoint.description,
            "event_types": list(endpoint.event_types),
        },
    )
    return page, status


def _deliveries(endpoint):
    return db.session.scalars(
        webhooks_service.list_deliveries(endpoint=endpoint).limit(LOG_LENGTH)
    ).all()


@bp.get("/settings/webhooks/<uuid:endpoint_id>")
def settings_webhook(tenant_id, endpoint_id):
    """One endpoint: its settings and its delivery log."""
    check(SETTINGS_ADMIN)
    return _endpoint_page(_endpoint_or_404(endpoint_id))


@bp.post("/settings/webhooks/<uuid:endpoint_id>")
def settings_webhook_update(tenant_id, endpoint_id):
    """Change an endpoint's URL, description or event types."""
    check(SETTINGS_ADMIN)
    endpoint = _endpoint_or_404(endpoint_id)
    typed = form_of(*_FIELDS, lists=("event_types",))
    try:
        endpoint_in = WebhookEndpointUpdateSchema().load(typed)
        webhooks_service.update(endpoint=endpoint, endpoint_in=endpoint_in, actor=current_actor())
    except ValidationError as err:
        return _endpoint_page(endpoint, _form_errors(err), typed, 422)
    except DomainError as err:
        db.session.rollback()
        return _endpoint_page(_endpoint_or_404(endpoint_id), problems_of(err), typed, 422)
    flash(_("The endpoint was saved."), "ok")
    return _to_endpoint(tenant_id, endpoint_id)


@bp.post("/settings/webhooks/<uuid:endpoint_id>/active")
def settings_webhook_active(tenant_id, endpoint_id):
    """Pause an endpoint (nothing is sent; due deliveries are given up) or resume it."""
    check(SETTINGS_ADMIN)
    endpoint = _endpoint_or_404(endpoint_id)
    try:
        endpoint_in = WebhookEndpointUpdateSchema(only=("is_active",)).load(form_of("is_active"))
    except ValidationError:
        abort(400)
    webhooks_service.update(endpoint=endpoint, endpoint_in=endpoint_in, actor=current_actor())
    if endpoint.is_active:
        flash(_("The endpoint is active."), "ok")
    else:
        flash(_("The endpoint is disabled."), "ok")
    return _to_endpoint(tenant_id, endpoint_id)


@bp.post("/settings/webhooks/<uuid:endpoint_id>/rotate-secret")
def settings_webhook_rotate(tenant_id, endpoint_id):
    """Replace the signing secret; this answer is the only page that shows the new one."""
    check(SETTINGS_ADMIN)
    endpoint = webhooks_service.rotate_secret(
        endpoint=_endpoint_or_404(endpoint_id), actor=current_actor()
    )
    return render("portal/settings/webhook_secret.html", endpoint=endpoint, created=False)


@bp.post("/settings/webhooks/<uuid:endpoint_id>/ping")
def settings_webhook_ping(tenant_id, endpoint_id):
    """Queue a `webhook.ping` to this endpoint only, to test the receiver."""
    check(SETTINGS_ADMIN)
    try:
        webhooks_service.ping(endpoint=_endpoint_or_404(endpoint_id))
    except DomainError as err:
        db.session.rollback()
        flash(err.detail, "error")
    else:
        flash(_("A test event was queued; follow it in the delivery log."), "ok")
    return _to_endpoint(tenant_id, endpoint_id)


@bp.get("/settings/webhooks/<uuid:endpoint_id>/deliveries")
def settings_webhook_deliveries(tenant_id, endpoint_id):
    """The delivery log alone: what htmx refreshes in place."""
    check(SETTINGS_ADMIN)
    endpoint = _endpoint_or_404(endpoint_id)
    return render(
        "portal/settings/webhook_deliveries.html",
        partial="portal/settings/_deliveries.html",
        endpoint=endpoint,
        deliveries=_deliveries(endpoint),
    )


@bp.post("/settings/webhooks/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/retry")
def settings_webhook_retry(tenant_id, endpoint_id, delivery_id):
    """Send a failed (or delivered) delivery again, now, with a fresh round of attempts."""
    check(SETTINGS_ADMIN)
    endpoint = _endpoint_or_404(endpoint_id)
    delivery = webhooks_service.get_delivery(endpoint=endpoint, delivery_id=delivery_id)
    if delivery is None:
        abort(404)
    try:
        webhooks_service.retry(endpoint=endpoint, delivery=delivery, actor=current_actor())
    except DomainError as err:
        db.session.rollback()
        flash(err.detail, "error")
    else:
        flash(_("The delivery was queued again."), "ok")
    return _to_endpoint(tenant_id, endpoint_id)
