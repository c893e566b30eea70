"""Request and response shapes of the audit log's reading (app/audit/routes.py)."""

from __future__ import annotations

import json

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

_SHORT = validate.Length(min=1, max=64)


class AuditQueryArgsSchema(Schema):
    actor_user_id = fields.UUID(metadata={"description": "Entries of what this person did."})
    actor_client_id = fields.String(
        validate=_SHORT,
        metadata={"description": "Entries of what was done through this API client."},
    )
    action = fields.String(
        validate=_SHORT,
        metadata={
            "description": "One action (`user.created`), or every action of a kind with a "
            "trailing dot (`user.`).",
            "example": "user.",
        },
    )
    target_type = fields.String(
        validate=_SHORT, metadata={"description": "The kind of object acted on (`user`)."}
    )
    target_id = fields.String(
        validate=_SHORT, metadata={"description": "The object acted on (its id)."}
    )
    # `from` is a Python keyword: the field is `from_`, the parameter `from`.
    from_ = fields.AwareDateTime(
        data_key="from", metadata={"description": "At or after this instant."}
    )
    to = fields.AwareDateTime(metadata={"description": "Before this instant."})

    @validates_schema
    def _range(self, data: dict, **_kwargs) -> None:
        start, end = data.get("from_"), data.get("to")
        if start is not None and end is not None and end <= start:
            raise ValidationError("Must be after from.", "to")


class BpoAuditQueryArgsSchema(AuditQueryArgsSchema):
    tenant_id = fields.UUID(
        metadata={"description": "Only the entries about this client firm's data."}
    )


class AuditActorSchema(Schema):
    user_id = fields.UUID(
        dump_only=True, allow_none=True, metadata={"description": "The person, if any."}
    )
    name = fields.String(dump_only=True, allow_none=True)
    email = fields.String(dump_only=True, allow_none=True)
    client_id = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The API client acted through (`system`: the platform itself, "
            "such as a scheduled job)."
        },
    )


class AuditEntrySchema(Schema):
    id = fields.UUID(dump_only=True)
    occurred_at = fields.AwareDateTime(dump_only=True)
    tenant_id = fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The client firm whose data it was; null: the BPO's own."},
    )
    actor = fields.Nested(AuditActorSchema, dump_only=True, metadata={"description": "Who."})
    action = fields.String(dump_only=True, metadata={"example": "user.role_changed"})
    target_type = fields.String(dump_only=True, metadata={"example": "user"})
    target_id = fields.String(dump_only=True, allow_none=True)
    details = fields.Dict(dump_only=True, metadata={"description": "What changed, by action."})
    request_id = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The request that did it (`X-Request-ID`), for the logs."},
    )


class AuditEntryCsvSchema(AuditEntrySchema):
    """One CSV row: the details as one JSON cell."""

    details = fields.Function(lambda entry: json.dumps(entry["details"], sort_keys=True))
