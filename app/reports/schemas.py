"""Request and response shapes of a client firm's reports."""

from __future__ import annotations

from datetime import timedelta

from marshmallow import Schema, ValidationError, fields, validates_schema

from app.agents.models import PRESENCES

MAX_REPORT_DAYS = 92


class AgentTimeQueryArgsSchema(Schema):
    # `from` is a Python keyword: the field is `from_`, the parameter `from`.
    from_ = fields.AwareDateTime(
        data_key="from",
        required=True,
        metadata={
            "description": "Start, inclusive (RFC 3339 with offset).",
            "example": "2026-03-01T00:00:00+01:00",
        },
    )
    to = fields.AwareDateTime(
        required=True,
        metadata={
            "description": "End, exclusive; at most 92 days after `from`.",
            "example": "2026-04-01T00:00:00+02:00",
        },
    )

    @validates_schema
    def _range(self, data: dict, **_kwargs) -> None:
        if data["from_"] >= data["to"]:
            raise ValidationError("Must be before `to`.", field_name="from")
        if data["to"] - data["from_"] > timedelta(days=MAX_REPORT_DAYS):
            raise ValidationError(
                f"The range may span at most {MAX_REPORT_DAYS} days.", field_name="to"
            )


class AgentTimeRowSchema(Schema):
    agent_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True, metadata={"description": "The agent's name."})
    minutes = fields.Float(
        dump_only=True,
        metadata={"description": "Working minutes attributed to this client firm (2 decimals)."},
    )
    minutes_by_presence = fields.Dict(
        keys=fields.String(metadata={"enum": list(PRESENCES)}),
        values=fields.Float(),
        dump_only=True,
        metadata={"example": {"available": 42.5, "busy": 17.5}},
    )


class AgentTimeReportSchema(Schema):
    tenant_id = fields.UUID(dump_only=True)
    from_ = fields.AwareDateTime(dump_only=True, data_key="from")
    to = fields.AwareDateTime(dump_only=True)
    generated_at = fields.AwareDateTime(
        dump_only=True,
        metadata={"description": "Time still running is counted up to this instant."},
    )
    agents = fields.List(fields.Nested(AgentTimeRowSchema), dump_only=True)
