"""Request and response shapes of onboarding: the firm's profile plus every part it runs on.

Each part is the owning domain's own create schema, nested, so one 422 names every bad field
down to the item (`errors["json"]["queues"][1]["channels"]`). What needs more than one part
(names unique across the list, the rate card's currency against the firm's) is checked here.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.auth.passwords import MIN_PASSWORD_LENGTH
from app.contacts.schemas import DepartmentCreateSchema, DepartmentSchema
from app.queues.schemas import QueueCreateSchema, QueueSchema, warnings_field
from app.sla.schemas import (
    CalendarCreateSchema,
    CalendarSchema,
    SlaPolicyCreateSchema,
    SlaPolicySchema,
)
from billing.schemas import RateCardCreateSchema, RateCardSchema
from tenants.schemas import CURRENCY, TenantCreateSchema, TenantSchema, UserSchema

MAX_QUEUES = 100
MAX_DEPARTMENTS = 100


class FirstAdminCreateSchema(Schema):
    email = fields.Email(
        required=True, validate=validate.Length(max=254), metadata={"example": "ana@acme.example"}
    )
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"example": "Ana Ruiz"}
    )
    password = fields.String(
        load_only=True,
        validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=256),
        metadata={
            "description": f"Optional, at least {MIN_PASSWORD_LENGTH} characters; stored "
            "only as an argon2 hash and never shown. Without one the admin is invited: a "
            "single-use link to set their password, valid 24 hours, goes to them by mail (or, "
            "with no mail server, comes back once as `first_admin_accept_url`)."
        },
    )


class OnboardingCreateSchema(TenantCreateSchema):
    """The firm's profile (as for a tenant) and, optionally, each part it runs on."""

    calendar = fields.Nested(
        CalendarCreateSchema,
        metadata={"description": "Business calendar; its time_zone defaults to the firm's."},
    )
    queues = fields.List(
        fields.Nested(QueueCreateSchema),
        validate=validate.Length(min=1, max=MAX_QUEUES),
        metadata={"description": "At least one queue when given; names unique."},
    )
    departments = fields.List(
        fields.Nested(DepartmentCreateSchema),
        validate=validate.Length(max=MAX_DEPARTMENTS),
        metadata={"description": "Back offices for escalations; [] for none; names unique."},
    )
    sla_policy = fields.Nested(
        SlaPolicyCreateSchema, metadata={"description": "Becomes the firm's default policy."}
    )
    rate_card = fields.Nested(
        RateCardCreateSchema,
        metadata={"description": "Prices; its currency defaults to (and must be) the firm's."},
    )
    first_admin = fields.Nested(
        FirstAdminCreateSchema,
        metadata={"description": "The firm's first client admin, who manages its users."},
    )

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _across_parts(self, _data: dict, original: dict, **_kwargs) -> None:
        # The original input, not the loaded data: a list item that failed is left out of the
        # loaded list, which would shift the indexes the errors name.
        errors: dict = {}
        for part, name_of in (("queues", _queue_name), ("departments", _department_name)):
            duplicates = _duplicate_names(original.get(part), name_of)
            if duplicates:
                errors[part] = duplicates
        rate_card = original.get("rate_card")
        firm_currency = original.get("currency")
        # Against a valid firm currency only: an invalid one is reported on its own.
        if isinstance(rate_card, dict) and CURRENCY.match(str(firm_currency)):
            currency = rate_card.get("currency")
            if isinstance(currency, str) and currency != firm_currency:
                errors["rate_card"] = {
                    "currency": [f"Must be the client firm's currency, {firm_currency}."]
                }
        if errors:
            raise ValidationError(errors)


def _queue_name(item: dict) -> str | None:
    name = item.get("name")
    return name if isinstance(name, str) else None


def _department_name(item: dict) -> str | None:
    name = item.get("name")
    if isinstance(name, str) and name.strip():
        return name
    # Unnamed, a standard kind names itself (app.contacts.departments: "logistics" -> "Logistics").
    kind = item.get("kind")
    return kind.capitalize() if isinstance(kind, str) and kind != "custom" else None


def _duplicate_names(items, name_of) -> dict[int, dict[str, list[str]]]:
    """Errors for every item whose name (trimmed, any case) an earlier item already has."""
    if not isinstance(items, list):
        return {}
    first: dict[str, int] = {}
    errors = {}
    for index, item in enumerate(items):
        name = name_of(item) if isinstance(item, dict) else None
        if name is None:
            continue
        key = name.strip().lower()
        if key in first:
            errors[index] = {"name": [f"Same name as the item at index {first[key]}."]}
        first.setdefault(key, index)
    return errors


class OnboardingSchema(Schema):
    """Everything onboarding created, defaults included."""

    tenant = fields.Nested(TenantSchema, dump_only=True)
    calendar = fields.Nested(CalendarSchema, dump_only=True)
    queues = fields.List(fields.Nested(QueueSchema), dump_only=True)
    departments = fields.List(fields.Nested(DepartmentSchema), dump_only=True)
    sla_policy = fields.Nested(SlaPolicySchema, dump_only=True)
    rate_card = fields.Nested(RateCardSchema, dump_only=True)
    first_admin = fields.Nested(
        UserSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "Null when none was given."},
    )
    first_admin_accept_url = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Only when the first admin was given no password and no mail "
            "server is configured: their invitation link, to hand to them yourself. Shown "
            "this once, stored and logged nowhere."
        },
    )
    defaults_applied = fields.List(
        fields.String(),
        dump_only=True,
        metadata={
            "description": "The parts the request left out, which got the defaults shown.",
            "example": ["calendar", "sla_policy"],
        },
    )
    warnings = warnings_field()
