"""Request and response shapes of tenants, their users and their API clients."""

from __future__ import annotations

import re
import zoneinfo

from marshmallow import Schema, ValidationError, fields, validate, validates

from app.auth.permissions import ROLE_SCOPES
from app.common_schemas import dump_only_choice
from tenants.models import CLIENT_ROLES, TENANT_STATUSES

# \Z, not $: "$" also matches before a trailing newline, which would reach the database.
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
LOCALE = re.compile(r"^[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?\Z")
CURRENCY = re.compile(r"^[A-Z]{3}\Z")


def _valid_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"Unknown IANA time zone: {value!r}.") from exc


class TenantSchema(Schema):
    id = fields.UUID(dump_only=True)
    slug = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    status = dump_only_choice(TENANT_STATUSES)
    time_zone = fields.String(dump_only=True)
    locale = fields.String(dump_only=True)
    currency = fields.String(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)
    suspended_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    offboarded_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    purge_after = fields.AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "After offboarding: when the firm's data will be deleted."},
    )
    share_notes_with_integration = fields.Boolean(
        dump_only=True,
        metadata={
            "description": "Whether the firm's integration reads the internal notes of "
            "contacts' threads (default false: notes stay with the BPO's and the firm's people)."
        },
    )
    department_reminder_minutes = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Minutes after which a department that has not answered an "
            "escalation is mailed a reminder (again each such interval); null: no reminders."
        },
    )
    personal_data_retention_months = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "How many months the end customers' personal data is kept in a "
            "contact once it is finished (resolved, closed or abandoned); null: kept while "
            "the firm is served. `flask contacts purge-personal-data` wipes it when due."
        },
    )


class TenantUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    time_zone = fields.String(
        validate=validate.Length(max=64), metadata={"example": "Europe/Madrid"}
    )
    locale = fields.String(
        validate=validate.Regexp(LOCALE, error="Use a BCP 47 tag such as es-ES."),
        metadata={"example": "es-ES"},
    )
    currency = fields.String(
        validate=validate.Regexp(CURRENCY, error="Use an ISO 4217 code such as EUR."),
        metadata={"example": "EUR"},
    )
    share_notes_with_integration = fields.Boolean(
        metadata={
            "description": "Set at the firm's request: whether its integration reads the "
            "internal notes of contacts' threads."
        }
    )
    department_reminder_minutes = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=5, max=30 * 24 * 60),
        metadata={
            "description": "Remind a department that has not answered an escalation after "
            "this many minutes (again each such interval, while its link is valid); null: "
            "no reminders.",
            "example": 240,
        },
    )
    personal_data_retention_months = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=1, max=1200),
        metadata={
            "description": "Set as the firm's contract says: months the end customers' "
            "personal data is kept once a contact is finished (null: kept). Figures stay.",
            "example": 24,
        },
    )

    @validates("time_zone")
    def _time_zone(self, value: str, **_kwargs) -> None:
        _valid_time_zone(value)


class TenantCreateSchema(TenantUpdateSchema):
    class Meta:
        # A new firm shares no notes; that is changed later, when the firm asks for it.
        exclude = (
            "share_notes_with_integration",
            "department_reminder_minutes",
            "personal_data_retention_months",
        )

    slug = fields.String(
        required=True,
        validate=validate.Regexp(
            SLUG, error="Lowercase letters, digits and hyphens, 1-63 characters."
        ),
        metadata={"example": "acme-retail"},
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    time_zone = fields.String(required=True, validate=validate.Length(max=64))
    locale = fields.String(
        required=True, validate=validate.Regexp(LOCALE, error="Use a BCP 47 tag such as es-ES.")
    )
    currency = fields.String(
        required=True,
        validate=validate.Regexp(CURRENCY, error="Use an ISO 4217 code such as EUR."),
    )


class TenantQueryArgsSchema(Schema):
    status = fields.String(validate=validate.OneOf(TENANT_STATUSES))


class UserSchema(Schema):
    """A user as seen from one tenant: their role there."""

    # Dumped from the user's membership in the tenant.
    id = fields.UUID(dump_only=True, attribute="user.id")
    email = fields.Email(dump_only=True, attribute="user.email")
    name = fields.String(dump_only=True, attribute="user.name")
    role = dump_only_choice(CLIENT_ROLES)
    is_active = fields.Boolean(dump_only=True, attribute="user.is_active")
    created_at = fields.AwareDateTime(dump_only=True, attribute="user.created_at")


class UserCreateSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = fields.String(required=True, validate=validate.OneOf(CLIENT_ROLES))
    password = fields.String(
        load_only=True,
        validate=validate.Length(min=12, max=256),
        metadata={"description": "Optional; without one the user cannot sign in yet."},
    )


class UserUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    role = fields.String(validate=validate.OneOf(CLIENT_ROLES))
    is_active = fields.Boolean()


INTEGRATION_SCOPES = sorted(ROLE_SCOPES["integration"])


class ApiClientSchema(Schema):
    id = fields.UUID(dump_only=True)
    client_id = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    scope = fields.String(dump_only=True)
    grant_types = fields.List(fields.String(), dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    revoked_at = fields.AwareDateTime(dump_only=True, allow_none=True)


class ApiClientCreatedSchema(ApiClientSchema):
    client_secret = fields.String(
        dump_only=True, metadata={"description": "Shown once, at creation; store it safely."}
    )


class ApiClientCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    scope = fields.String(
        metadata={
            "description": "Space-separated scopes; defaults to all an integration may hold: "
            + " ".join(INTEGRATION_SCOPES)
        }
    )

    @validates("scope")
    def _scope(self, value: str, **_kwargs) -> None:
        unknown = set(value.split()) - set(INTEGRATION_SCOPES)
        if unknown:
            raise ValidationError(f"Not available to integrations: {' '.join(sorted(unknown))}.")


class LifecycleActionSchema(Schema):
    reason = fields.String(
        validate=validate.Length(min=1, max=500),
        metadata={
            "description": "Optional; kept in the audit log.",
            "example": "Contract paused by the client",
        },
    )


class TenantExportSchema(Schema):
    id = fields.UUID(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    created_by_user_id = fields.UUID(dump_only=True, allow_none=True)
    row_count = fields.Integer(dump_only=True, metadata={"description": "JSON lines in it."})
    size_bytes = fields.Integer(dump_only=True, metadata={"description": "Uncompressed size."})
    sha256 = fields.String(
        dump_only=True, metadata={"description": "SHA-256 (hex) of the downloaded NDJSON."}
    )


class OffboardingSchema(Schema):
    tenant = fields.Nested(TenantSchema, dump_only=True)
    export = fields.Nested(TenantExportSchema, dump_only=True)
