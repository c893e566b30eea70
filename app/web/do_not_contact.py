"""The do-not-contact registers' pages, shared by the portal (a firm's own register) and the
console (the BPO's, which no firm's campaign reaches): a search, a page of entries, a form to
add a phone number or an e-mail address with its reason, and a remove button, each calling
the same register service as the API."""

from __future__ import annotations

import uuid

from flask import abort, flash, request
from flask_babel import gettext as _
from marshmallow import ValidationError

from app.campaigns import register
from app.campaigns.models import DNC_KINDS
from app.campaigns.schemas import DoNotContactInSchema, DoNotContactQueryArgsSchema
from app.db import db
from app.errors import DomainError
from app.web import labels
from app.web.console.scope import page_of
from app.web.shell import form_errors, render

PAGE_SIZE = 50


def _filters() -> tuple[dict, dict]:
    """The search typed (`q`, `kind`) and the same loaded by the API's query schema."""
    typed = {name: request.args.get(name, "").strip() for name in ("q", "kind")}
    try:
        return typed, DoNotContactQueryArgsSchema().load({k: v for k, v in typed.items() if v})
    except ValidationError:
        return typed, {}


def page(
    *,
    bpo: bool,
    title: str,
    endpoints: dict,
    url_values: dict,
    may_admin: bool,
    errors=None,
    typed_entry=None,
    status=200,
):
    """The register's page: its entries the search narrows, newest first, and the forms."""
    typed, args = _filters()
    entries = page_of(
        register.list_entries(bpo=bpo, kind=args.get("kind"), q=args.get("q")), size=PAGE_SIZE
    )
    return (
        render(
            "components/do_not_contact.html",
            title=title,
            entries=entries,
            typed=typed,
            typed_entry=typed_entry or {"kind": "phone"},
            errors=errors or {},
            may_admin=may_admin,
            endpoints=endpoints,
            url_values=url_values,
            kind_options=labels.options("dnc_kind", DNC_KINDS),
        ),
        status,
    )


def add(*, actor, tenant_id: uuid.UUID | None) -> tuple[dict, dict]:
    """Add the posted entry to the firm's register (`tenant_id`) or the BPO's: what was typed
    and the errors beside its fields (none: added)."""
    typed = {name: request.form.get(name, "") for name in ("kind", "value", "reason")}
    try:
        entry_in = DoNotContactInSchema().load(typed)
        register.add(**entry_in, actor=actor, tenant_id=tenant_id)
    except ValidationError as err:
        return typed, form_errors(err.messages)
    except DomainError as err:
        db.session.rollback()
        fields = (err.extra.get("errors") or {}).get("json")
        # The one conflict is the entry being there already: said beside the value.
        return typed, form_errors(fields) if fields else {"value": [err.detail]}
    flash(_("Added to the register: no campaign reaches it from now on."), "ok")
    return typed, {}


def remove(*, actor, entry_id: uuid.UUID, bpo: bool) -> None:
    """Take an entry off its register, or the 404 page if it is not on this one."""
    entry = register.get_entry(entry_id=entry_id, bpo=bpo)
    if entry is None:
        abort(404)
    register.remove(entry=entry, actor=actor)
    flash(_("Taken off the register: its records stay as they are."), "ok")
