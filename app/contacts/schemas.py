"""Request and response shapes of contacts. For now: departments.

`DepartmentCreateSchema` is also nested in the onboarding request: keep it free of anything
that needs a tenant or the database.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.contacts.models import DEPARTMENT_KINDS
from app.queues.schemas import TrimmedString

_NAME = validate.Length(min=1, max=100)
_EMAIL = validate.Length(max=254)


class DepartmentSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    kind = fields.String(dump_only=True, metadata={"enum": list(DEPARTMENT_KINDS)})
    email = fields.String(dump_only=True, allow_none=True)
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class DepartmentUpdateSchema(Schema):
    name = TrimmedString(validate=_NAME, metadata={"example": "Returns desk"})
    kind = fields.String(validate=validate.OneOf(DEPARTMENT_KINDS))
    email = fields.Email(
        allow_none=True,
        validate=_EMAIL,
        metadata={"description": "Where escalations are sent; null: none."},
    )
    is_active = fields.Boolean(
        metadata={"description": "False: no new escalations go there; DELETE does the same."}
    )


class DepartmentCreateSchema(DepartmentUpdateSchema):
    name = TrimmedString(
        validate=_NAME,
        metadata={
            "description": "Required for kind `custom`; defaults to the kind's name otherwise "
            "(e.g. `Logistics`).",
            "example": "Logistics",
        },
    )
    kind = fields.String(
        required=True,
        validate=validate.OneOf(DEPARTMENT_KINDS),
        metadata={"example": "logistics"},
    )
    email = fields.Email(allow_none=True, load_default=None, validate=_EMAIL)

    class Meta:
        # A new department is always active.
        exclude = ("is_active",)

    @validates_schema(skip_on_field_errors=False)
    def _custom_needs_a_name(self, data: dict, **_kwargs) -> None:
        if data.get("kind") == "custom" and not data.get("name"):
            raise ValidationError("A custom department needs a name.", "name")


class DepartmentQueryArgsSchema(Schema):
    active = fields.Boolean(
        metadata={"description": "true: active departments only; false: deactivated only."}
    )
