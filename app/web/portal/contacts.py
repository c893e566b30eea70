"""A firm's contacts in the portal: the filtered, paged list and each contact with its history."""

from __future__ import annotations

import re
from datetime import date

from flask import abort, g, request
from flask_babel import lazy_gettext
from marshmallow import ValidationError
from sqlalchemy import Select

from app.auth.permissions import CONTACT_READ
from app.auth.principal import check
from app.contacts import messages as contacts_messages
from app.contacts import service as contacts_service
from app.contacts.models import CONTACT_STATUSES
from app.contacts.schemas import ContactQueryArgsSchema
from app.db import db
from app.quality import evaluations
from app.queues import service as queues_service
from app.reports.periods import instant, zone_of
from app.vocabulary import CATEGORIES, CHANNELS, PRIORITIES
from app.web import labels, nav
from app.web.portal.blueprint import bp
from app.web.shell import form_errors, render

PAGE_SIZE = 25
# A contact's history is short (a handful of moves); this bounds a pathological one.
MAX_EVENTS = 500
FILTERS = (
    "q",
    "status",
    "channel",
    "queue_id",
    "category",
    "priority",
    "created_from",
    "created_to",
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _agent_queue_ids():
    """The queues of an agent on this firm (what it may see), None for everyone else."""
    principal = g.principal
    if principal.role_on(g.tenant.id) == "agent":
        return principal.queue_ids
    return None


def _as_instants(typed: dict[str, str]) -> dict[str, str]:
    """A date typed in the form (`<input type="date">`) is local midnight in the firm's zone;
    the API's schema wants an instant with its offset, so the date becomes one."""
    values = dict(typed)
    for name in ("created_from", "created_to"):
        text = values.get(name)
        if text and _DATE.match(text):
            try:
                values[name] = instant(date.fromisoformat(text), zone_of(g.tenant)).isoformat()
            except ValueError:
                pass  # left as typed: the schema says what is wrong with it
    return values


def read_filters(args) -> tuple[dict[str, str], dict, dict[str, list[str]]]:
    """The filters as typed, as the API's schema loads them, and the errors beside each."""
    typed = {name: args.get(name, "").strip() for name in FILTERS}
    given = {name: value for name, value in typed.items() if value}
    try:
        return typed, ContactQueryArgsSchema().load(_as_instants(given)), {}
    except ValidationError as err:
        return typed, {}, form_errors(err.messages)


def page_number(args) -> int:
    text = args.get("page", "1")
    return int(text) if text.isdigit() and 0 < int(text) < 100_000 else 1


def page_of(stmt: Select, page: int, size: int) -> tuple[list, bool]:
    """One page of a select (the API's limit and offset), and whether another follows: one row
    more than the page is read instead of counting them all."""
    rows = list(db.session.scalars(stmt.limit(size + 1).offset((page - 1) * size)))
    return rows[:size], len(rows) > size


def _options(vocabulary, values, label) -> list[tuple[str, str]]:
    return [("", label), *labels.options(vocabulary, values)]


@bp.get("/contacts")
def contacts(tenant_id):
    """The firm's contacts, newest first, narrowed by the API's filters, or found by what was
    typed in the search box (best first, as `?q=` in the API); htmx swaps the list."""
    check(CONTACT_READ)
    typed, args, errors = read_filters(request.args)
    page = page_number(request.args)
    rows, more = ([], False) if errors else page_of(contacts_service.list_(**args), page, PAGE_SIZE)
    agent_queues = _agent_queue_ids()
    queues = list(db.session.scalars(queues_service.list_(within=agent_queues)))
    context = dict(
        firm=g.tenant,
        contacts=rows,
        typed=typed,
        errors=errors,
        page=page,
        more=more,
        query={k: v for k, v in typed.items() if v},
        queue_names={queue.id: queue.name for queue in queues},
        options={
            "status": _options("contact_status", CONTACT_STATUSES, lazy_gettext("Any status")),
            "channel": _options("channel", CHANNELS, lazy_gettext("Any channel")),
            "category": _options("category", CATEGORIES, lazy_gettext("Any category")),
            "priority": _options("priority", PRIORITIES, lazy_gettext("Any priority")),
            "queue_id": [("", lazy_gettext("Any queue"))]
            + [(str(queue.id), queue.name) for queue in queues],
        },
    )
    page_html = render("portal/contacts.html", partial="portal/_contacts.html", **context)
    return page_html, 422 if errors else 200


@bp.get("/contacts/<uuid:contact_id>")
def contact(tenant_id, contact_id):
    """One contact: its details and its history, oldest first (an agent: of its queues only)."""
    check(CONTACT_READ)
    # Another firm's contact, or (for an agent) one outside its queues, is not in scope: 404.
    found = contacts_service.get(contact_id=contact_id)
    if found is None:
        abort(404)
    events = list(db.session.scalars(contacts_service.list_events(contact=found).limit(MAX_EVENTS)))
    # The firm's people read the whole thread, notes and departments' answers included.
    messages = list(
        db.session.scalars(
            contacts_messages.list_(contact=found, include_notes=True).limit(MAX_EVENTS)
        )
    )
    queue = queues_service.get(queue_id=found.queue_id)
    staff = g.principal.role_on(g.tenant.id) in evaluations.STAFF
    return render(
        "portal/contact.html",
        firm=g.tenant,
        contact=found,
        events=events,
        messages=messages,
        queue_name=queue.name if queue else None,
        # A supervisor opens the contact's review, or puts a handled contact in the queue.
        review_id=db.session.scalar(evaluations.current_review(found.id)) if staff else None,
        reviewable=staff and found.status in evaluations.HANDLED_STATUSES,
    )


nav.portal("web.portal.contacts", lazy_gettext("Contacts"), order=20)
