"""The contact workspace on the desk: the customer, the thread, the firm's briefings for the
queue, the SLA countdown and the actions the contact's state allows, as the API answers them."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision
from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from app.auth.permissions import CONTACT_READ, CONTACT_WORK, MESSAGE_NOTE, MESSAGE_REPLY
from app.auth.principal import check, current_actor
from app.campaigns import dispositions
from app.campaigns.models import CampaignRecord
from app.contacts import departments as departments_service
from app.contacts import lifecycle
from app.contacts import messages as messages_service
from app.contacts import service as contacts_service
from app.contacts.models import Contact
from app.contacts.schemas import (
    OUTCOMES,
    ContactActionSchema,
    ContactEscalateSchema,
    ContactResolveSchema,
    ContactTransferSchema,
)
from app.db import db, utcnow
from app.errors import Conflict, DomainError, Unprocessable
from app.queues import service as queues_service
from app.queues.models import Queue
from app.web.desk import attempt as attempts
from app.web.desk.blueprint import bp, my_agent
from app.web.desk.home import panel_context
from app.web.shell import form_errors, render

MAX_EVENTS = 200
# What an agent does from the desk, in the order the buttons show; the rest is the firm's
# (reopen, abandon, csat) or the supervisor's (assign).
DESK_ACTIONS = (
    "answer",
    "hold",
    "resume",
    "wait-customer",
    "transfer",
    "escalate",
    "resolve",
    "release",
)
# The API's input of each action that takes more than a note.
_SCHEMAS = {
    "transfer": ContactTransferSchema,
    "escalate": ContactEscalateSchema,
    "resolve": ContactResolveSchema,
}
# Actions with nothing to fill in: one button each.
ONE_CLICK = frozenset({"answer", "hold", "resume", "wait-customer", "release"})
# The key that does each (desk.js): n is Next, r the reply box.
SHORTCUTS = {
    "answer": "a",
    "hold": "h",
    "resume": "u",
    "wait-customer": "w",
    "transfer": "t",
    "escalate": "e",
    "resolve": "s",
}


def _contact_or_404(contact_id: uuid.UUID, *, for_update: bool = False) -> Contact:
    # Scoped to the firm of the URL and, for an agent, to its queues: anything else is 404.
    contact = contacts_service.get(contact_id=contact_id, for_update=for_update)
    if contact is None:
        abort(404)
    return contact


def workspace_context(contact: Contact, *, errors=None, opened: str | None = None, values=None):
    """Everything the workspace shows for one contact, in its firm's scope."""
    now = utcnow()
    holds = contact.agent_id == my_agent().id
    allowed = lifecycle.allowed_actions(status=contact.status, channel=contact.channel)
    attempt = attempts.attempt_context(contact)
    if attempt is not None:
        # A campaign's attempt ends by its disposition: only these stay in the agent's hands.
        allowed = [a for a in allowed if a in attempts.ATTEMPT_ACTIONS]
    queue = db.session.get(Queue, contact.queue_id)
    briefings = [
        b
        for b in queues_service.current_briefings(queue_ids=[contact.queue_id], at=now)
        if not b.queue_ids or str(contact.queue_id) in b.queue_ids
    ]
    events = list(
        db.session.scalars(contacts_service.list_events(contact=contact).limit(MAX_EVENTS))
    )
    return {
        "contact": contact,
        "firm": g.tenant,
        "queue": queue,
        "holds": holds,
        "actions": [a for a in DESK_ACTIONS if a in allowed] if holds else [],
        "one_click": ONE_CLICK,
        "shortcuts": SHORTCUTS,
        "can_reply": holds and _can_reply(contact, allowed),
        "messages": list(
            db.session.scalars(messages_service.list_(contact=contact, include_notes=True))
        ),
        "briefings": briefings,
        "events": events,
        "departments": list(db.session.scalars(departments_service.list_departments(active=True))),
        "transfer_queues": [
            q
            for q in db.session.scalars(queues_service.list_(active=True))
            if q.id != contact.queue_id and contact.channel in q.channels
        ],
        "outcomes": OUTCOMES,
        "attempt": attempt,
        "errors": errors or {},
        "opened": opened,
        "typed": values or {},
    }


@bp.get("/firms/<uuid:tenant_id>/contacts/<uuid:contact_id>")
def workspace(tenant_id: uuid.UUID, contact_id: uuid.UUID):
    """The desk with one contact open beside the agent's queues."""
    check(CONTACT_READ)
    contact = _contact_or_404(contact_id)
    return render("desk/desk.html", workspace=workspace_context(contact), **panel_context())


@bp.get("/firms/<uuid:tenant_id>/contacts/<uuid:contact_id>/_live")
def workspace_live(tenant_id: uuid.UUID, contact_id: uuid.UUID):
    """The parts of the workspace that change under the agent's eyes (state, SLA, thread)."""
    check(CONTACT_READ)
    contact = _contact_or_404(contact_id)
    return render("desk/_contact_live.html", workspace=workspace_context(contact))


@bp.post(
    "/firms/<uuid:tenant_id>/contacts/<uuid:contact_id>/<any("
    + ", ".join(f'"{a}"' for a in DESK_ACTIONS)
    + "):action>"
)
def act(tenant_id: uuid.UUID, contact_id: uuid.UUID, action: str):
    """Do one lifecycle action, as the API's action of the same name does."""
    check(CONTACT_WORK)
    contact = _contact_or_404(contact_id, for_update=True)
    values = {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}
    try:
        if contact.agent_id != my_agent().id:
            raise Unprocessable(_("This contact is not assigned to you."))
        if contact.campaign_record_id is not None and action not in attempts.ATTEMPT_ACTIONS:
            raise Conflict(_("A campaign's attempt ends with its disposition."))
        action_in = _load(action, values, contact)
        contacts_service.act(
            contact=contact,
            action=action,
            action_in=action_in,
            tenant=g.tenant,
            actor=current_actor(),
            acting_agent_id=my_agent().id,
        )
    except ValidationError as error:
        return _again(contact_id, action, values, form_errors(error.messages), 422)
    except DomainError as error:
        fields = (error.extra.get("errors") or {}).get("json")
        if fields:
            return _again(contact_id, action, values, form_errors(fields), error.status)
        return _again(contact_id, action, values, {"_form": [error.detail]}, error.status)
    if action in ("resolve", "transfer", "release"):
        # The contact has left the agent's hands: back to the desk for the next one.
        flash(_done(action), "info")
        return redirect(url_for("web.desk.desk"), code=303)
    return redirect(
        url_for("web.desk.workspace", tenant_id=tenant_id, contact_id=contact_id), code=303
    )


@bp.post("/firms/<uuid:tenant_id>/contacts/<uuid:contact_id>/disposition")
def dispose(tenant_id: uuid.UUID, contact_id: uuid.UUID):
    """End the campaign attempt the agent holds with its disposition, as the API does."""
    check(CONTACT_WORK)
    contact = _contact_or_404(contact_id, for_update=True)
    if contact.campaign_record_id is None:
        abort(404)
    values = {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}
    loaded = None
    try:
        record = db.session.get(CampaignRecord, contact.campaign_record_id)
        loaded = attempts.load(values, record)
        dispositions.dispose(
            contact=contact,
            disposition_in=loaded,
            tenant=g.tenant,
            actor=current_actor(),
            agent_id=my_agent().id,
        )
    except ValidationError as error:
        return _again(contact_id, "disposition", values, form_errors(error.messages), 422)
    except DomainError as error:
        errors = attempts.errors_of(error, loaded, contact)
        return _again(contact_id, "disposition", values, errors, error.status)
    flash(_("Disposition recorded. Wrap it up, then press Next or say you are ready."), "info")
    return redirect(url_for("web.desk.desk"), code=303)


def _can_reply(contact: Contact, allowed: list[str]) -> bool:
    """Whether the agent may write to the customer now: a written contact's response, or a
    chat in progress (a call is talked, not written)."""
    return "respond" in allowed or (contact.channel == "chat" and contact.status == "active")


@bp.post("/firms/<uuid:tenant_id>/contacts/<uuid:contact_id>/messages")
def post_message(tenant_id: uuid.UUID, contact_id: uuid.UUID):
    """A reply to the customer (which responds to a written contact) or an internal note."""
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    kind = values.get("kind")
    if kind not in ("reply", "note"):
        abort(400)
    check(MESSAGE_REPLY if kind == "reply" else MESSAGE_NOTE)
    contact = _contact_or_404(contact_id, for_update=True)
    body = values.get("body", "")
    try:
        if contact.agent_id != my_agent().id:
            raise Unprocessable(_("This contact is not assigned to you."))
        allowed = lifecycle.allowed_actions(status=contact.status, channel=contact.channel)
        if kind == "reply" and "respond" in allowed:
            # Answering a written contact is its response: the clock and the thread together.
            contacts_service.act(
                contact=contact,
                action="respond",
                action_in={"message": {"body": body, "body_format": "text"}},
                tenant=g.tenant,
                actor=current_actor(),
                acting_agent_id=my_agent().id,
            )
        elif kind == "reply" and not _can_reply(contact, allowed):
            raise Unprocessable(_("This contact cannot be written to now."))
        else:
            messages_service.add(
                contact=contact, kind=kind, body=body, actor=current_actor(), tenant=g.tenant
            )
    except DomainError as error:
        fields = (error.extra.get("errors") or {}).get("json") or {"body": [error.detail]}
        return _again(contact_id, kind, values, form_errors(fields), error.status)
    return redirect(
        url_for("web.desk.workspace", tenant_id=tenant_id, contact_id=contact_id), code=303
    )


def _done(action: str) -> str:
    return {
        "resolve": _("Contact resolved. Wrap it up, then press Next or say you are ready."),
        "transfer": _("Contact transferred."),
        "release": _("Contact released back to its queue."),
    }[action]


def _load(action: str, values: dict, contact: Contact) -> dict:
    """The form's fields as the API's schema for the action loads them."""
    schema = _SCHEMAS.get(action, ContactActionSchema)()
    given = {k: v for k, v in values.items() if v != "" and k in schema.fields}
    if action == "resolve" and values.get("compensation"):
        given["compensation_amount"] = _minor_units(values["compensation"], g.tenant.currency)
    return schema.load(given)


def _minor_units(text: str, currency: str) -> int:
    """An amount typed in the currency's units ("12.50", or "12,50") as integer minor units."""
    digits = get_currency_precision(currency)
    try:
        amount = Decimal(text.replace(" ", "").replace(",", "."))
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise ValidationError({"compensation": [_("Type an amount, such as 12.50.")]})
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        raise ValidationError(
            {"compensation": [_("At most %(n)s decimals in this currency.", n=digits)]}
        )
    return int(minor)


def _again(contact_id, action, values, errors, status):
    """The workspace again, the form that failed open with each error beside its field."""
    db.session.rollback()
    contact = _contact_or_404(contact_id)
    context = workspace_context(contact, errors=errors, opened=action, values=values)
    return render("desk/desk.html", workspace=context, **panel_context()), status
