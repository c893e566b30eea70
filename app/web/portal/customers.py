"""A firm's end customers' rights in the portal, for its client admin (and the BPO admin): one
end customer's data exported as a JSON file, or their personal data erased, as
`POST /v1/tenants/{id}/data-subjects/export|erase` do, through the same service."""

from __future__ import annotations

from flask import Response, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from marshmallow import ValidationError

from app.auth.permissions import DATA_SUBJECT_ERASE, DATA_SUBJECT_EXPORT
from app.auth.principal import check, current_actor
from app.contacts import data_rights
from app.contacts.data_rights_routes import DataSubjectExportSchema, DataSubjectSchema
from app.db import utcnow
from app.web import nav
from app.web.portal.blueprint import bp
from app.web.shell import form_errors, render

# How the page names an end customer: the API's identifiers, in the order people reach for them.
_KINDS = data_rights.IDENTIFIERS


def _kind_options() -> list[tuple[str, str]]:
    names = {"email": _("E-mail"), "phone": _("Phone"), "ref": _("The firm's customer id")}
    return [(kind, names.get(kind, kind)) for kind in _KINDS]


def _typed() -> dict:
    return {
        "kind": request.form.get("kind", "email"),
        "value": (request.form.get("value") or "").strip(),
        "confirm": request.form.get("confirm") == "yes",
    }


def _subject(typed: dict) -> dict:
    """The API's identifier from the form's kind and value; its errors beside `value`."""
    if typed["kind"] not in _KINDS:
        raise ValidationError({"kind": [_("Choose how to name the end customer.")]})
    if not typed["value"]:
        raise ValidationError({"value": [_("Name the end customer.")]})
    try:
        return DataSubjectSchema().load({typed["kind"]: typed["value"]})
    except ValidationError as err:
        messages = [m for value in err.normalized_messages().values() for m in _flat(value)]
        raise ValidationError({"value": messages}) from err


def _flat(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [m for inner in value.values() for m in _flat(inner)]
    return [m for inner in value for m in _flat(inner)]


def _page(typed=None, errors=None, status=200):
    return render(
        "portal/customers.html",
        firm=g.tenant,
        kinds=_kind_options(),
        typed=typed or {"kind": "email", "value": ""},
        errors=errors or {},
    ), status


@bp.get("/customers")
def customers(tenant_id):
    """The forms to export or erase what the firm holds about one end customer."""
    check(DATA_SUBJECT_EXPORT)
    return _page()


@bp.post("/customers/export")
def customers_export(tenant_id):
    """Everything held about one end customer, as a JSON file (audited)."""
    check(DATA_SUBJECT_EXPORT)
    typed = _typed()
    try:
        subject = _subject(typed)
    except ValidationError as err:
        return _page(typed, form_errors(err.messages), 422)
    answer = data_rights.export(identifier=subject, tenant=g.tenant, actor=current_actor())
    filename = f"end-customer-{g.tenant.slug}-{utcnow():%Y%m%dT%H%M%SZ}.json"
    return Response(
        DataSubjectExportSchema().dumps(answer),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.post("/customers/erase")
def customers_erase(tenant_id):
    """Erase one end customer's personal data, once the box confirming it is ticked."""
    check(DATA_SUBJECT_ERASE)
    typed = _typed()
    errors: dict[str, list[str]] = {}
    subject = None
    try:
        subject = _subject(typed)
    except ValidationError as err:
        errors = form_errors(err.messages)
    if not typed["confirm"]:
        errors["confirm"] = [_("Tick the box: erasing cannot be undone.")]
    if errors or subject is None:
        return _page(typed, errors, 422)
    answer = data_rights.erase(identifier=subject, tenant=g.tenant, actor=current_actor())
    counts = answer["counts"]
    if counts["contacts"]:
        flash(
            _(
                "Erased: %(contacts)s contacts and %(messages)s messages; their figures stay.",
                contacts=counts["contacts"],
                messages=counts["messages"],
            ),
            "ok",
        )
    else:
        flash(_("Nothing held about this end customer is left to erase."), "ok")
    return redirect(url_for("web.portal.customers", tenant_id=tenant_id))


nav.portal(
    "web.portal.customers",
    lazy_gettext("End customers' data"),
    order=85,
    roles=("client_admin", "bpo_admin"),
)
