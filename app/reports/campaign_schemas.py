"""Schemas of the campaign report: its query, its figures per campaign, day and agent, and its
CSV row. May import: app.reports.schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.reports.schemas import PeriodQueryArgsSchema


def _count(description: str) -> fields.Integer:
    return fields.Integer(dump_only=True, metadata={"description": description})


def _rate(description: str) -> fields.Float:
    return fields.Float(
        dump_only=True,
        allow_none=True,
        metadata={"description": f"{description} Null when there is nothing to divide by."},
    )


class CampaignReportQueryArgsSchema(PeriodQueryArgsSchema):
    campaign_id = fields.UUID(
        metadata={"description": "Only this campaign of the firm (another's: 404)."}
    )
    format = fields.String(
        validate=validate.OneOf(("json", "csv")),
        metadata={"description": "`csv` answers CSV, as `Accept: text/csv` does."},
    )


class AgentFiguresSchema(Schema):
    attempts = _count("Attempts the agent started in the period.")
    reached = _count("Of those, with a disposition that reached the customer.")
    successes = _count("Of those, with a disposition counted a success.")
    success_rate = _rate("successes / reached, 4 digits.")
    average_handle_seconds = _rate("Talk, hold and after-call work of the ended attempts.")


class CampaignFiguresSchema(Schema):
    records_loaded = _count("Records (end customers) loaded in the period.")
    attempts = _count("Attempts started in the period (an agent took the record).")
    attempts_open = _count("Of those, not ended yet.")
    reached = _count("Attempts whose disposition reached the customer.")
    successes = _count("Attempts whose disposition is a success.")
    reach_rate = _rate("reached / attempts, 4 digits.")
    success_rate = _rate("successes / reached, 4 digits.")
    attempts_per_success = _rate("attempts / successes, 2 digits.")
    average_handle_seconds = _rate("Talk, hold and after-call work of the ended attempts.")
    dispositions = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        dump_only=True,
        metadata={"description": "Attempts per disposition code (open attempts have none)."},
    )


class CampaignAgentRowSchema(AgentFiguresSchema):
    agent_id = fields.UUID(dump_only=True, allow_none=True)
    name = fields.String(dump_only=True, allow_none=True)


class CampaignDaySchema(CampaignFiguresSchema):
    date = fields.Date(dump_only=True, metadata={"description": "The firm's local day."})
    start = fields.AwareDateTime(dump_only=True)
    end = fields.AwareDateTime(dump_only=True)


class CampaignRecordStatesSchema(Schema):
    pending = _count("Waiting for their next attempt (or a call-back).")
    in_progress = _count("Held by an agent's attempt now.")
    done = _count("Ended by a disposition that asks no retry.")
    exhausted = _count("Out of attempts.")
    do_not_contact = _count("Found on a do-not-contact register.")
    closed = _count("Closed when the campaign finished.")


class CampaignRowSchema(Schema):
    campaign_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    state = fields.String(dump_only=True)
    purpose = fields.String(dump_only=True)
    channel = fields.String(dump_only=True)
    total = fields.Nested(CampaignFiguresSchema, dump_only=True)
    days = fields.List(fields.Nested(CampaignDaySchema), dump_only=True)
    agents = fields.List(fields.Nested(CampaignAgentRowSchema), dump_only=True)
    records = fields.Nested(
        CampaignRecordStatesSchema,
        dump_only=True,
        metadata={"description": "The campaign's records by state now, whenever loaded."},
    )
    disposition_labels = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        dump_only=True,
        metadata={"description": "Each disposition code the campaign lists, and its label."},
    )


class CampaignReportSchema(Schema):
    tenant_id = fields.UUID(dump_only=True)
    time_zone = fields.String(dump_only=True)
    from_ = fields.AwareDateTime(dump_only=True, data_key="from", attribute="from")
    to = fields.AwareDateTime(dump_only=True)
    generated_at = fields.AwareDateTime(dump_only=True)
    total = fields.Nested(CampaignFiguresSchema, dump_only=True)
    agents = fields.List(
        fields.Nested(CampaignAgentRowSchema),
        dump_only=True,
        metadata={"description": "Each agent over every campaign shown."},
    )
    campaigns = fields.List(fields.Nested(CampaignRowSchema), dump_only=True)


class CampaignCsvRowSchema(CampaignFiguresSchema):
    """One CSV row: a campaign's local day; dispositions as `code=count` pairs, `; `-joined."""

    campaign_id = fields.UUID(dump_only=True)
    campaign_name = fields.String(dump_only=True)
    date = fields.Date(dump_only=True)
    dispositions = fields.String(dump_only=True)
