"""Request and response shapes of invitations (to a client firm, or to a BPO role), and the
forms a person fills in through a link (set a password, ask for a reset)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.accounts.models import STATUSES
from app.auth.passwords import MIN_PASSWORD_LENGTH
from app.common_schemas import dump_only_choice
from app.mail import LANGUAGES
from tenants.models import BPO_ROLES, CLIENT_ROLES


class InvitationSchema(Schema):
    id = fields.UUID(dump_only=True)
    tenant_id = fields.UUID(
        dump_only=True, allow_none=True, metadata={"description": "Null for a BPO role."}
    )
    email = fields.Email(dump_only=True)
    name = fields.String(dump_only=True)
    role = dump_only_choice(CLIENT_ROLES + BPO_ROLES)
    language = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The mail's language; null: the firm's (else English)."},
    )
    status = dump_only_choice(STATUSES)
    created_at = fields.AwareDateTime(dump_only=True)
    created_by_user_id = fields.UUID(dump_only=True, allow_none=True)
    expires_at = fields.AwareDateTime(
        dump_only=True, metadata={"description": "The link works until then (24 hours)."}
    )
    used_at = fields.AwareDateTime(
        dump_only=True, allow_none=True, metadata={"description": "When it was accepted."}
    )
    revoked_at = fields.AwareDateTime(dump_only=True, allow_none=True)


class InvitationCreatedSchema(InvitationSchema):
    accept_url = fields.String(
        dump_only=True,
        metadata={
            "description": "Only when no mail server is configured: the link to hand to the "
            "person yourself. Shown this once; it is stored nowhere (only its digest) and "
            "logged nowhere."
        },
    )


class InvitationCreateSchema(Schema):
    email = fields.Email(
        required=True, validate=validate.Length(max=254), metadata={"example": "ana@acme.example"}
    )
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"example": "Ana Ruiz"}
    )
    role = fields.String(required=True, validate=validate.OneOf(CLIENT_ROLES))
    language = fields.String(
        validate=validate.OneOf(LANGUAGES),
        metadata={"description": "The mail's language; default the firm's locale."},
    )


class PlatformInvitationCreateSchema(InvitationCreateSchema):
    role = fields.String(required=True, validate=validate.OneOf(BPO_ROLES))
    language = fields.String(
        validate=validate.OneOf(LANGUAGES),
        metadata={"description": "The mail's language; default English."},
    )


class InvitationQueryArgsSchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))


class SetPasswordSchema(Schema):
    """A person setting their password through a link (invitation or reset)."""

    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(
            min=MIN_PASSWORD_LENGTH,
            max=256,
            error=f"Use at least {MIN_PASSWORD_LENGTH} characters (and at most 256).",
        ),
    )
    password_confirm = fields.String(required=True, load_only=True)
    name = fields.String(validate=validate.Length(max=200))

    @validates_schema
    def _same_twice(self, data: dict, **_kwargs) -> None:
        if data.get("password") != data.get("password_confirm"):
            raise ValidationError("The two passwords differ.", "password_confirm")


class PasswordResetRequestSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
