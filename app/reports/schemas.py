"""Request and response shapes of the reports: a client firm's (agent time, SLA, complaints
register, agents) and the BPO's portfolio."""

from __future__ import annotations

import re
from datetime import date, datetime

from marshmallow import Schema, ValidationError, fields, validate

from app.common_schemas import dump_only_choice
from app.reports.sla import GRANULARITIES, GROUP_BY
from app.sla.models import ABANDON_TREATMENTS
from app.vocabulary import CATEGORIES, CHANNELS, PRIORITIES

# --- query arguments -------------------------------------------------------------------------

# A `+` in a query string arrives as a space unless encoded (%2B): read "...T09:00:00 01:00" as
# the offset it was meant to be.
_SPACE_FOR_PLUS = re.compile(r"^(\d{4}-\d{2}-\d{2}T[\d:.]+) (\d{2}:?\d{2})$")


class DateOrDateTime(fields.String):
    """A plain date (`YYYY-MM-DD`, local midnight in the firm's time zone) or an RFC 3339
    date-time with an offset."""

    def _deserialize(self, value, attr, data, **kwargs) -> date | datetime:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if len(text) == 10:
            try:
                return date.fromisoformat(text)
            except ValueError as exc:
                raise ValidationError("Not a valid date (YYYY-MM-DD).") from exc
        text = _SPACE_FOR_PLUS.sub(r"\1+\2", text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValidationError(
                "Not a valid date (YYYY-MM-DD) or RFC 3339 date-time with an offset."
            ) from exc
        if parsed.tzinfo is None:
            raise ValidationError(
                "A date-time needs an offset (e.g. 2026-03-01T00:00:00+01:00); or give a plain "
                "date for local midnight."
            )
        return parsed


def _bound(description: str, example: str, **kwargs) -> DateOrDateTime:
    return DateOrDateTime(metadata={"description": description, "example": example}, **kwargs)


class PeriodQueryArgsSchema(Schema):
    # `from` is a Python keyword: the field is `from_`, the parameter `from`.
    from_ = _bound(
        "Start, inclusive: a date (local midnight in the firm's time zone) or an RFC 3339 "
        "date-time. With `to`, or neither: both default to the current local month.",
        "2026-03-01",
        data_key="from",
    )
    to = _bound("End, exclusive: a date (local midnight) or an RFC 3339 date-time.", "2026-04-01")


class SlaReportQueryArgsSchema(PeriodQueryArgsSchema):
    granularity = fields.String(
        load_default="day",
        validate=validate.OneOf(GRANULARITIES),
        metadata={
            "description": "Bucket size, at local boundaries (weeks start on Monday). The range "
            "may span at most 31 days by hour, 366 by day, 3 years by week or month."
        },
    )
    group_by = fields.String(
        validate=validate.OneOf(GROUP_BY),
        metadata={"description": "Split each bucket by this dimension of the contacts."},
    )
    queue_id = fields.UUID(metadata={"description": "Only the contacts of this queue."})
    channel = fields.String(
        validate=validate.OneOf(CHANNELS), metadata={"description": "Only this channel."}
    )
    category = fields.String(
        validate=validate.OneOf(CATEGORIES), metadata={"description": "Only this category."}
    )
    priority = fields.String(
        validate=validate.OneOf(PRIORITIES), metadata={"description": "Only this priority."}
    )


class ComplaintsRegisterQueryArgsSchema(Schema):
    year = fields.Integer(
        validate=validate.Range(min=1970, max=9998),
        metadata={
            "description": "The local calendar year (default: the current one).",
            "example": 2026,
        },
    )


# --- agent time ------------------------------------------------------------------------------


class AgentTimeRowSchema(Schema):
    agent_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True, metadata={"description": "The agent's name."})
    working_seconds = fields.Float(
        dump_only=True,
        metadata={
            "description": "Working time (presence available, busy or after-contact work) "
            "attributed to this client firm, seconds (2 decimals): available_seconds + "
            "busy_seconds + after_contact_work_seconds."
        },
    )
    available_seconds = fields.Float(
        dump_only=True, metadata={"description": "Of it, in presence `available`, seconds."}
    )
    busy_seconds = fields.Float(
        dump_only=True, metadata={"description": "Of it, in presence `busy`, seconds."}
    )
    after_contact_work_seconds = fields.Float(
        dump_only=True,
        metadata={
            "description": "Of it, in presence `after_contact_work`: wrapping up this firm's "
            "contacts (all of it this firm's, whatever queues were active), seconds."
        },
    )


class AgentTimeReportSchema(Schema):
    tenant_id = fields.UUID(dump_only=True)
    time_zone = fields.String(dump_only=True)
    from_ = fields.AwareDateTime(
        dump_only=True,
        data_key="from",
        attribute="from",
        metadata={"description": "Start, inclusive, in the firm's UTC offset then."},
    )
    to = fields.AwareDateTime(
        dump_only=True, metadata={"description": "End, exclusive, in the firm's UTC offset then."}
    )
    generated_at = fields.AwareDateTime(
        dump_only=True,
        metadata={"description": "Time still running is counted up to this instant."},
    )
    agents = fields.List(
        fields.Nested(AgentTimeRowSchema),
        dump_only=True,
        metadata={"description": "Agents with working time attributed to the firm, by name."},
    )


# --- shared pieces ---------------------------------------------------------------------------


def _count(description: str) -> fields.Integer:
    return fields.Integer(dump_only=True, metadata={"description": description})


def _rate(description: str) -> fields.Float:
    return fields.Float(
        dump_only=True,
        allow_none=True,
        metadata={"description": f"{description} A fraction 0-1 (4 decimals); null when 0/0."},
    )


def _seconds(description: str) -> fields.Float:
    return fields.Float(
        dump_only=True,
        allow_none=True,
        metadata={"description": f"{description} Seconds (2 decimals); null when 0/0."},
    )


def _local_time(description: str, **kwargs) -> fields.AwareDateTime:
    return fields.AwareDateTime(
        dump_only=True,
        metadata={"description": f"{description} RFC 3339, in the firm's UTC offset then."},
        **kwargs,
    )


# --- the SLA report --------------------------------------------------------------------------


class SlaClockFiguresSchema(Schema):
    measured = _count("Clocks of this kind that stopped (goal reached), cancelled ones aside.")
    within_target = _count("Stopped clocks that never breached.")
    within_target_rate = _rate("within_target / measured.")
    median_seconds = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Median business seconds the stopped clocks took (nearest rank: the "
            "ceil(0.5 n)-th smallest), each kept to three significant figures, rounded up "
            "(exact below 1,000 s; 1,234 s counts as 1,240 s); null when none stopped."
        },
    )
    p90_seconds = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "90th percentile of business seconds (nearest rank: the "
            "ceil(0.9 n)-th smallest), kept to three significant figures like the median; "
            "null when none stopped."
        },
    )
    breaches = _count("Clocks of this kind that breached (running or stopped).")


class FcrSchema(Schema):
    first_contacts = _count(
        "Inbound contacts with a known end customer and no inbound contact of the same customer "
        "and category in the FCR window before them."
    )
    handled_first_contacts = _count(
        "First contacts handled (answered or responded to, and resolved or closed, as known "
        "now): the rate's denominator. One not handled yet is neither a success nor a failure."
    )
    resolved_first_time = _count(
        "Handled first contacts never reopened and with no inbound contact of the same customer "
        "and category in the FCR window after them (as known now)."
    )
    rate = _rate(
        "First contact resolution: resolved_first_time / handled_first_contacts (null when "
        "none was handled)."
    )


class CsatSchema(Schema):
    responses = _count("Contacts rated (1-5).")
    satisfied = _count("Contacts rated 4 or 5.")
    rate = _rate("CSAT: satisfied / responses.")


class SlaFiguresSchema(Schema):
    received = _count("Contacts received (any channel and direction).")
    offered = _count(
        "Inbound voice and chat contacts received: those that wait in line and can be abandoned."
    )
    handled = _count(
        "Handled contacts (SPEC): answered or responded to, and resolved or closed (as known now)."
    )
    answered = _count("Offered contacts answered.")
    answered_within_threshold = _count(
        "Answered with a queue wait (answered_at - received_at) of at most T, the contact's "
        "answer threshold (the queue's when the contact has none)."
    )
    abandoned = _count("Offered contacts abandoned.")
    short_abandoned = _count(
        "Abandoned with a queue wait (abandoned_at - received_at) of at most "
        "`settings.short_abandon_seconds`."
    )
    abandoned_within_threshold = _count("Abandoned with a queue wait of at most T.")
    service_level = _rate(
        "Service level under `settings.abandon_treatment`: exclude_short = answered within T / "
        "(answered + abandoned - short abandoned); ignore = answered within T / answered; "
        "count_within_threshold_as_met = (answered within T + abandoned within T) / "
        "(answered + abandoned)."
    )
    asa_seconds = _seconds(
        "Average speed of answer: the queue waits of answered contacts (each its "
        "`answered_at - received_at`, a contact's `queue_wait_seconds`) / answered."
    )
    aht_seconds = _seconds("Average handle time: (talk + hold + after-contact work) / handled.")
    abandonment_rate = _rate("abandoned / offered.")
    first_response = fields.Nested(
        SlaClockFiguresSchema,
        dump_only=True,
        metadata={"description": "First-response clocks (written channels), business time."},
    )
    resolution = fields.Nested(
        SlaClockFiguresSchema,
        dump_only=True,
        metadata={"description": "Resolution clocks, business time."},
    )
    breaches = _count("SLA clocks (both kinds) of these contacts that breached.")
    fcr = fields.Nested(FcrSchema, dump_only=True)
    csat = fields.Nested(CsatSchema, dump_only=True)
    backlog = _count(
        "Contacts received before the end and neither resolved, closed nor abandoned by then "
        "(a reopened contact counts as open since its receipt)."
    )


class SlaRowSchema(SlaFiguresSchema):
    start = _local_time("The bucket's start, inclusive.")
    end = _local_time("The bucket's end, exclusive.")
    group = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The group's value (queue or agent id, channel, category, priority); "
            "null for contacts with no agent. Only with `group_by`."
        },
    )
    group_name = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The queue's or agent's name; the value itself otherwise."},
    )


class SlaTotalsSchema(SlaFiguresSchema):
    start = _local_time("`from`.")
    end = _local_time("`to`; the backlog is as of this instant.")


class KpiTargetsSchema(Schema):
    """The firm's target for each headline figure (null: none), from its default SLA policy."""

    service_level = fields.Float(
        dump_only=True, allow_none=True, metadata={"description": "At least."}
    )
    asa_seconds = fields.Integer(
        dump_only=True, allow_none=True, metadata={"description": "At most."}
    )
    aht_seconds = fields.Integer(
        dump_only=True, allow_none=True, metadata={"description": "At most."}
    )
    abandonment_rate = fields.Float(
        dump_only=True, allow_none=True, metadata={"description": "At most."}
    )
    first_response_within_target = fields.Float(
        dump_only=True, allow_none=True, metadata={"description": "At least."}
    )
    resolution_within_target = fields.Float(
        dump_only=True, allow_none=True, metadata={"description": "At least."}
    )
    fcr_rate = fields.Float(dump_only=True, allow_none=True, metadata={"description": "At least."})
    csat_rate = fields.Float(dump_only=True, allow_none=True, metadata={"description": "At least."})
    breaches = fields.Integer(dump_only=True, allow_none=True, metadata={"description": "At most."})
    quality_score_bps = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Average quality score, at least, basis points."},
    )


class SlaSettingsSchema(Schema):
    policy_id = fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The default SLA policy read; null: policy defaults applied."},
    )
    abandon_treatment = dump_only_choice(ABANDON_TREATMENTS)
    short_abandon_seconds = fields.Integer(
        dump_only=True, metadata={"description": "Short-abandon threshold, seconds."}
    )
    fcr_window_days = fields.Integer(
        dump_only=True,
        metadata={"description": "FCR window, days of 24 hours, before and after a contact."},
    )
    service_level_target = fields.Float(
        dump_only=True, metadata={"description": "The contract's service level, fraction 0-1."}
    )
    targets = fields.Nested(KpiTargetsSchema, dump_only=True)


class DepartmentTimeSchema(Schema):
    department_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    escalations = fields.Integer(
        dump_only=True,
        metadata={"description": "Escalations to it that came back (answered, or taken back)."},
    )
    seconds = fields.Integer(dump_only=True, metadata={"description": "Their time there, in all."})
    average_seconds = fields.Float(
        dump_only=True, metadata={"description": "Their time there per escalation (1 decimal)."}
    )


class QualityAgainstTargetSchema(Schema):
    average_score_bps = fields.Integer(dump_only=True, allow_none=True)
    target_bps = fields.Integer(dump_only=True, allow_none=True)
    state = fields.String(dump_only=True, allow_none=True, metadata={"enum": ["met", "missed"]})


class SlaReportSchema(Schema):
    tenant_id = fields.UUID(dump_only=True)
    time_zone = fields.String(
        dump_only=True, metadata={"description": "IANA zone of the buckets' boundaries."}
    )
    from_ = _local_time("Start, inclusive.", data_key="from", attribute="from")
    to = _local_time("End, exclusive.")
    granularity = dump_only_choice(GRANULARITIES)
    group_by = fields.String(dump_only=True, allow_none=True, metadata={"enum": list(GROUP_BY)})
    generated_at = fields.AwareDateTime(
        dump_only=True, metadata={"description": "When the figures were read (UTC)."}
    )
    catching_up = fields.Boolean(
        dump_only=True,
        metadata={
            "description": "True when contacts of the range changed since the worker last "
            "summed their days and there were too many to sum in the request: those days are "
            "as the worker summed them, at most one worker pass ago (a big firm only; see the "
            "daily roll-ups in the README). False: every figure is as of `generated_at`."
        },
    )
    settings = fields.Nested(SlaSettingsSchema, dump_only=True)
    rows = fields.List(
        fields.Nested(SlaRowSchema),
        dump_only=True,
        metadata={
            "description": "One row per bucket, or per bucket and group, in time order. Contacts "
            "count in the bucket they were received in."
        },
    )
    totals = fields.Nested(SlaTotalsSchema, dump_only=True)
    quality = fields.Nested(
        QualityAgainstTargetSchema,
        dump_only=True,
        metadata={
            "description": "The average score of the range's current quality reviews against "
            "the default SLA policy's `quality_target_bps` (basis points); `state` met or "
            "missed, null without reviews or target."
        },
    )
    departments = fields.List(
        fields.Nested(DepartmentTimeSchema),
        dump_only=True,
        metadata={
            "description": "Time with each department, by name: the escalations of the "
            "contacts counted (received in the range, narrowed alike) that came back."
        },
    )


# --- the complaints register -----------------------------------------------------------------


class ComplaintSchema(Schema):
    contact_id = fields.UUID(dump_only=True)
    external_id = fields.String(
        dump_only=True, allow_none=True, metadata={"description": "The firm's own reference."}
    )
    received_at = _local_time("Received.")
    closed_at = fields.AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Closed (else resolved); null while open. Local offset."},
    )
    status = fields.String(dump_only=True)
    channel = dump_only_choice(CHANNELS)
    category = fields.String(dump_only=True, metadata={"enum": ["complaint", "claim"]})
    priority = dump_only_choice(PRIORITIES)
    summary = fields.String(dump_only=True, metadata={"description": "The contact's subject."})
    remedy_requested = fields.String(
        dump_only=True, allow_none=True, metadata={"description": "What the customer asked for."}
    )
    outcome = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "granted, partially_granted, denied; null until decided."},
    )
    compensation_amount = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Compensation given, minor units of `currency`."},
    )
    currency = fields.String(dump_only=True, metadata={"description": "ISO 4217 code."})
    seconds_with_departments = fields.Integer(
        dump_only=True,
        metadata={
            "description": "Seconds the contact spent escalated to the firm's departments, "
            "over every escalation that came back (answered, or taken back by the agent)."
        },
    )
    days_to_close = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Local calendar days from received to closed (0: the same day); "
            "null while open."
        },
    )


class ComplaintsRegisterSchema(Schema):
    tenant_id = fields.UUID(dump_only=True)
    year = fields.Integer(dump_only=True)
    time_zone = fields.String(dump_only=True)
    from_ = _local_time("1 January, local midnight.", data_key="from", attribute="from")
    to = _local_time("The next 1 January, exclusive.")
    count = _count("Complaints and claims in the register.")
    complaints = fields.List(
        fields.Nested(ComplaintSchema),
        dump_only=True,
        metadata={"description": "Every complaint and claim received in the year, oldest first."},
    )


# --- the agents report -----------------------------------------------------------------------


class AgentFiguresSchema(Schema):
    handled = _count(
        "Handled contacts (answered or responded to) resolved or closed in the range, "
        "held by the agent."
    )
    handle_seconds = fields.Float(
        dump_only=True, metadata={"description": "Their talk + hold + after-contact work, seconds."}
    )
    aht_seconds = _seconds("handle_seconds / handled.")
    available_seconds = fields.Float(
        dump_only=True,
        metadata={
            "description": "Time in presence `available` attributed to this firm in the range "
            "(the firm's share of time while several firms' queues were active), seconds."
        },
    )
    idle_seconds = fields.Float(
        dump_only=True,
        metadata={
            "description": "Available idle time: available_seconds plus the time in "
            "after-contact work for this firm, less handle_seconds, at least 0 (agents stay "
            "available while they work contacts below their concurrency cap, and after-contact "
            "work is handle time)."
        },
    )
    occupancy = _rate("handle_seconds / (handle_seconds + idle_seconds).")
    csat_responses = _count("Handled contacts rated.")
    csat_satisfied = _count("Handled contacts rated 4 or 5.")
    csat = _rate("csat_satisfied / csat_responses.")


class AgentReportRowSchema(AgentFiguresSchema):
    agent_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True, allow_none=True, metadata={"description": "The agent."})


class AgentsReportSchema(Schema):
    tenant_id = fields.UUID(dump_only=True)
    time_zone = fields.String(dump_only=True)
    from_ = _local_time("Start, inclusive.", data_key="from", attribute="from")
    to = _local_time("End, exclusive.")
    generated_at = fields.AwareDateTime(
        dump_only=True,
        metadata={"description": "Presence time still running is counted up to this instant."},
    )
    agents = fields.List(
        fields.Nested(AgentReportRowSchema),
        dump_only=True,
        metadata={"description": "Agents with handled contacts or available time, by name."},
    )
    totals = fields.Nested(
        AgentFiguresSchema,
        dump_only=True,
        metadata={"description": "The firm's figures over all its agents."},
    )


# --- the portfolio ---------------------------------------------------------------------------


class PortfolioRowSchema(Schema):
    tenant_id = fields.UUID(dump_only=True)
    slug = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": ["active", "suspended", "offboarded"]})
    time_zone = fields.String(dump_only=True)
    from_ = _local_time(
        "The firm's start: a date is midnight in the firm's own zone.",
        data_key="from",
        attribute="from",
    )
    to = _local_time("The firm's end, exclusive.")
    received = _count("Contacts received.")
    handled = _count("Handled contacts received in the period.")
    answered = _count("Inbound voice and chat contacts answered.")
    abandoned = _count("Inbound voice and chat contacts abandoned.")
    short_abandoned = _count("Abandoned within the firm's short-abandon threshold.")
    abandon_treatment = dump_only_choice(ABANDON_TREATMENTS)
    short_abandon_seconds = fields.Integer(dump_only=True, metadata={"description": "Seconds."})
    service_level = _rate("Service level under the firm's own abandon treatment.")
    service_level_target = fields.Float(
        dump_only=True, metadata={"description": "The firm's contractual target, fraction 0-1."}
    )
    asa_seconds = _seconds(
        "Average speed of answer: mean queue wait (`answered_at - received_at`) of answered "
        "inbound voice and chat contacts."
    )
    aht_seconds = _seconds("Average handle time.")
    abandonment_rate = _rate("abandoned / inbound voice and chat received.")
    breaches = _count("SLA clocks of the period's contacts that breached.")
    fcr = _rate(
        "First contact resolution: handled first contacts never reopened nor repeated within "
        "the firm's FCR window / handled first contacts (as in the SLA report)."
    )
    csat = _rate("Share of ratings that are 4 or 5.")
    backlog_now = _count("Contacts open now (received, not resolved, closed or abandoned).")
    targets = fields.Nested(KpiTargetsSchema, dump_only=True)


class PortfolioSchema(Schema):
    generated_at = fields.AwareDateTime(dump_only=True)
    tenants = fields.List(
        fields.Nested(PortfolioRowSchema),
        dump_only=True,
        metadata={"description": "One row per client firm the caller oversees, by name."},
    )
