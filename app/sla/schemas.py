"""Request and response shapes of business calendars, business-time queries, SLA policies,
and of the SLA engine's readings (a contact's clocks, the at-risk list).

Validation errors name the field they are about, down to the window: a bad second window on
Tuesday is `errors["weekly_hours"]["tue"][1]`.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta

import holidays
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from app.common_schemas import dump_only_choice
from app.db import utcnow
from app.sla.calendar import WEEKDAYS
from app.sla.models import ABANDON_TREATMENTS, CLOCK_KINDS, CLOCK_STATES
from app.vocabulary import CATEGORIES, CHANNELS, PRIORITIES

CLOCK = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d\Z")
MAX_WINDOWS_PER_DAY = 12
MAX_CLOSURES = 1000
# How far in the past a new calendar version may take effect: clock skew, not rewriting history.
BACKDATE_TOLERANCE = timedelta(minutes=1)
# Bounds of the business-time queries, so one request cannot scan decades day by day.
MAX_QUERY_SPAN = timedelta(days=5 * 366)
MAX_DUE_SECONDS = 366 * 24 * 3600
TARGET_SECONDS = ("first_response_seconds", "answer_threshold_seconds", "resolution_seconds")
_DAY = 24 * 60


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


# --- business calendar -----------------------------------------------------------------------


class WindowSchema(Schema):
    start = fields.String(
        required=True,
        validate=validate.Regexp(CLOCK, error="Use a 24-hour HH:MM time, such as 09:00."),
        metadata={"description": "Local opening time, HH:MM (24-hour).", "example": "09:00"},
    )
    end = fields.String(
        required=True,
        validate=validate.Regexp(CLOCK, error="Use a 24-hour HH:MM time, such as 14:00."),
        metadata={
            "description": "Local closing time, HH:MM (24-hour). At or before `start`, the "
            "window runs past midnight into the next day; it still belongs to the day it starts "
            "on, so a holiday or closure on that day closes all of it. 00:00-00:00 is open all "
            "day.",
            "example": "14:00",
        },
    )


def _day_field(name: str) -> fields.List:
    return fields.List(
        fields.Nested(WindowSchema),
        validate=validate.Length(max=MAX_WINDOWS_PER_DAY),
        metadata={"description": f"Opening windows starting on {name}; omitted or [] is closed."},
    )


class WeeklyHoursSchema(Schema):
    """Opening windows per weekday, in local wall-clock time of the calendar's zone."""

    mon = _day_field("Monday")
    tue = _day_field("Tuesday")
    wed = _day_field("Wednesday")
    thu = _day_field("Thursday")
    fri = _day_field("Friday")
    sat = _day_field("Saturday")
    sun = _day_field("Sunday")

    @validates_schema(skip_on_field_errors=False)
    def _no_overlaps(self, data: dict, **_kwargs) -> None:
        # Each day's windows as minutes from its midnight; an overnight one ends past 1440.
        # A day with an invalid window is left out: that window's own error says enough.
        spans = {
            day: [
                (_minutes(w["start"]), _minutes(w["end"]) + (_DAY if w["end"] <= w["start"] else 0))
                for w in data.get(day) or ()
            ]
            for day in WEEKDAYS
            if all("start" in w and "end" in w for w in data.get(day) or ())
        }
        errors: dict[str, dict[int, list[str]]] = {}
        for position, day in enumerate(WEEKDAYS):
            previous = WEEKDAYS[position - 1]
            for index, (start, end) in enumerate(spans.get(day, ())):
                messages = [
                    f"Overlaps the window at index {other} of the same day."
                    for other, (o_start, o_end) in enumerate(spans[day][:index])
                    if start < o_end and o_start < end
                ]
                messages += [
                    f"Overlaps the window at index {other} of {previous}, which runs past "
                    "midnight into this day."
                    for other, (_o_start, o_end) in enumerate(spans.get(previous, ()))
                    if start < o_end - _DAY
                ]
                if messages:
                    errors.setdefault(day, {})[index] = messages
        if errors:
            raise ValidationError(errors)


class CalendarSchema(Schema):
    """One version of a client firm's business calendar."""

    id = fields.UUID(dump_only=True)
    effective_from = fields.AwareDateTime(
        dump_only=True, metadata={"description": "In force from this instant until the next."}
    )
    time_zone = fields.String(dump_only=True, metadata={"example": "Europe/Madrid"})
    weekly_hours = fields.Nested(WeeklyHoursSchema, dump_only=True)
    holiday_country = fields.String(dump_only=True, allow_none=True, metadata={"example": "ES"})
    holiday_subdivision = fields.String(dump_only=True, allow_none=True, metadata={"example": "MD"})
    closures = fields.List(
        fields.String(metadata={"format": "date"}),
        dump_only=True,
        metadata={"example": ["2025-12-24"]},
    )
    created_at = fields.AwareDateTime(dump_only=True)


class CalendarCreateSchema(Schema):
    """A new calendar version; earlier versions keep counting the time they were in force."""

    effective_from = fields.AwareDateTime(
        metadata={
            "description": "When this version takes effect (RFC 3339 with offset); default now. "
            "It may not be in the past, nor before the version in force took effect: a change "
            "never rewrites how past time was counted."
        }
    )
    time_zone = fields.String(
        validate=validate.Length(max=64),
        metadata={
            "description": "IANA zone; default the client firm's.",
            "example": "Europe/Madrid",
        },
    )
    weekly_hours = fields.Nested(
        WeeklyHoursSchema,
        required=True,
        metadata={
            "example": {
                "mon": [{"start": "09:00", "end": "14:00"}, {"start": "16:00", "end": "19:00"}],
                "fri": [{"start": "09:00", "end": "15:00"}],
            }
        },
    )
    holiday_country = fields.String(
        allow_none=True,
        metadata={
            "description": "ISO 3166 country whose public holidays close the firm (the "
            "`holidays` library's codes); null for none.",
            "example": "ES",
        },
    )
    holiday_subdivision = fields.String(
        allow_none=True,
        metadata={
            "description": "The country's subdivision (region) for regional holidays.",
            "example": "MD",
        },
    )
    closures = fields.List(
        fields.Date(),
        validate=validate.Length(max=MAX_CLOSURES),
        metadata={
            "description": "The firm's own closure days, local dates (YYYY-MM-DD).",
            "example": ["2025-12-24"],
        },
    )

    @validates("effective_from")
    def _effective_from(self, value, **_kwargs) -> None:
        if value < utcnow() - BACKDATE_TOLERANCE:
            raise ValidationError("May not be in the past: a change never rewrites history.")

    @validates("time_zone")
    def _time_zone(self, value: str, **_kwargs) -> None:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError(f"Unknown IANA time zone: {value!r}.") from exc

    @validates("weekly_hours")
    def _weekly_hours(self, value: dict, **_kwargs) -> None:
        if not any(value.values()):
            raise ValidationError("Open at least one window a week, or no deadline could be set.")

    @validates("holiday_country")
    def _holiday_country(self, value: str | None, **_kwargs) -> None:
        if value is not None and value not in _supported_countries():
            raise ValidationError(
                f"Unknown holiday country: {value!r}; use an ISO 3166 alpha-2 code the "
                "`holidays` library supports, such as ES or MX."
            )

    @validates_schema(skip_on_field_errors=False)
    def _holiday_subdivision(self, data: dict, **_kwargs) -> None:
        subdivision = data.get("holiday_subdivision")
        if subdivision is None:
            return
        country = data.get("holiday_country")
        if country is None:
            raise ValidationError(
                "Give holiday_country too: a subdivision belongs to a country.",
                "holiday_subdivision",
            )
        known = _supported_countries().get(country)
        if known is not None and subdivision not in known:
            listed = ", ".join(known) or "none"
            raise ValidationError(
                f"Unknown subdivision of {country}: {subdivision!r}; known: {listed}.",
                "holiday_subdivision",
            )


def _supported_countries() -> dict[str, list[str]]:
    """Countries and their subdivisions (codes that fit the stored columns)."""
    return {
        country: [s for s in subdivisions if len(s) <= 10]
        for country, subdivisions in holidays.list_supported_countries(
            include_aliases=False
        ).items()
        if len(country) == 2
    }


class CalendarQueryArgsSchema(Schema):
    at = fields.AwareDateTime(
        metadata={"description": "Read the version in force at this instant; default now."}
    )


class BusinessSecondsQueryArgsSchema(Schema):
    from_ = fields.AwareDateTime(
        required=True, data_key="from", metadata={"example": "2025-03-28T09:00:00+01:00"}
    )
    to = fields.AwareDateTime(required=True, metadata={"example": "2025-03-31T18:00:00+02:00"})

    @validates_schema
    def _order(self, data: dict, **_kwargs) -> None:
        if data["to"] < data["from_"]:
            raise ValidationError("Must not be before `from`.", "to")
        if data["to"] - data["from_"] > MAX_QUERY_SPAN:
            raise ValidationError(f"At most {MAX_QUERY_SPAN.days} days after `from`.", "to")


class BusinessSecondsSchema(Schema):
    from_ = fields.AwareDateTime(dump_only=True, data_key="from")
    to = fields.AwareDateTime(dump_only=True)
    business_seconds = fields.Integer(
        dump_only=True, metadata={"description": "Whole seconds of open time between them."}
    )


class DueQueryArgsSchema(Schema):
    start = fields.AwareDateTime(required=True, metadata={"example": "2025-03-28T17:00:00+01:00"})
    seconds = fields.Integer(
        required=True,
        validate=validate.Range(min=0, max=MAX_DUE_SECONDS),
        metadata={"description": "Business seconds to add.", "example": 7200},
    )


class DueSchema(Schema):
    start = fields.AwareDateTime(dump_only=True)
    seconds = fields.Integer(dump_only=True)
    due = fields.AwareDateTime(
        dump_only=True,
        metadata={"description": "When that much open time has elapsed after `start` (UTC)."},
    )


# --- SLA policies ----------------------------------------------------------------------------


def _seconds_field(description: str) -> fields.Integer:
    return fields.Integer(
        allow_none=True,
        strict=True,
        # A year at most: a deadline is found by walking the calendar that far.
        validate=validate.Range(min=1, max=MAX_DUE_SECONDS),
        metadata={"description": description},
    )


class SlaTargetSchema(Schema):
    """Targets for contacts of one priority, optionally narrowed to a channel and category.

    The SLA engine uses the most specific target that matches a contact.
    """

    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    channel = fields.String(
        allow_none=True,
        load_default=None,
        validate=validate.OneOf(CHANNELS),
        metadata={"description": "Null: any channel."},
    )
    category = fields.String(
        allow_none=True,
        load_default=None,
        validate=validate.OneOf(CATEGORIES),
        metadata={"description": "Null: any category."},
    )
    first_response_seconds = _seconds_field(
        "First response (async channels) within this many business seconds."
    )
    answer_threshold_seconds = _seconds_field(
        "Answer threshold T of the service level (voice, chat), in seconds of queue wait."
    )
    resolution_seconds = _seconds_field("Resolution within this many business seconds.")

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _some_target(self, _data: dict, original: dict, **_kwargs) -> None:
        # As sent: an invalid value is named by its own field, not as a missing one.
        if all(original.get(name) is None for name in TARGET_SECONDS):
            raise ValidationError(f"Give at least one of {', '.join(TARGET_SECONDS)}.")


class SlaPolicySchema(Schema):
    """A client firm's contractual targets (SPEC section 7)."""

    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    is_default = fields.Boolean(dump_only=True)
    targets = fields.List(fields.Nested(SlaTargetSchema), dump_only=True)
    service_level_target_bps = fields.Integer(dump_only=True)
    pause_on_escalated = fields.Boolean(dump_only=True)
    at_risk_bps = fields.Integer(dump_only=True)
    abandon_treatment = dump_only_choice(ABANDON_TREATMENTS)
    short_abandon_seconds = fields.Integer(dump_only=True)
    fcr_window_days = fields.Integer(dump_only=True)
    asa_target_seconds = fields.Integer(dump_only=True, allow_none=True)
    aht_target_seconds = fields.Integer(dump_only=True, allow_none=True)
    abandonment_target_bps = fields.Integer(dump_only=True, allow_none=True)
    fcr_target_bps = fields.Integer(dump_only=True, allow_none=True)
    csat_target_bps = fields.Integer(dump_only=True, allow_none=True)
    quality_target_bps = fields.Integer(dump_only=True, allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class SlaPolicyUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100), metadata={"example": "Standard"})
    is_default = fields.Boolean(
        metadata={
            "description": "Make this the firm's default policy (the previous default stops "
            "being one). A firm's first policy is its default."
        }
    )
    targets = fields.List(
        fields.Nested(SlaTargetSchema),
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Replaces every target; one per (priority, channel, category)."},
    )
    service_level_target_bps = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=10000),
        metadata={"description": "Promised service level, basis points (8000 = 80%)."},
    )
    pause_on_escalated = fields.Boolean(
        metadata={"description": "Whether clocks stop while a contact is escalated."}
    )
    at_risk_bps = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=10000),
        metadata={"description": "A clock is at risk once this share of its target elapsed."},
    )
    abandon_treatment = fields.String(
        validate=validate.OneOf(ABANDON_TREATMENTS),
        metadata={
            "description": "Service level: exclude abandons within short_abandon_seconds, "
            "ignore abandons, or count abandons within the threshold as met."
        },
    )
    short_abandon_seconds = fields.Integer(strict=True, validate=validate.Range(min=0))
    fcr_window_days = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=90),
        metadata={
            "description": "Days within which a repeat contact spoils first-contact resolution."
        },
    )

    asa_target_seconds = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=86400),
        metadata={
            "description": "Average speed of answer the contract promises, at most, seconds; "
            "null: the strictest answer threshold of the targets."
        },
    )
    aht_target_seconds = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=86400),
        metadata={"description": "Average handle time, at most, seconds; null: no target."},
    )
    abandonment_target_bps = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=10000),
        metadata={"description": "Abandonment rate, at most, basis points; null: no target."},
    )
    fcr_target_bps = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=10000),
        metadata={
            "description": "First-contact resolution, at least, basis points; null: no target."
        },
    )
    csat_target_bps = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=10000),
        metadata={
            "description": "Share of satisfied ratings, at least, basis points; null: no target."
        },
    )
    quality_target_bps = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=10000),
        metadata={
            "description": "The month's average quality score (current reviews), at least, "
            "basis points; null: no target.",
            "example": 8500,
        },
    )

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _distinct_targets(self, _data: dict, original: dict, **_kwargs) -> None:
        # Compared as sent, so that a duplicate is named even beside other invalid targets.
        targets = original.get("targets") if isinstance(original, dict) else None
        if not isinstance(targets, list):
            return
        seen: dict[tuple, int] = {}
        errors: dict[int, list[str]] = {}
        for index, target in enumerate(targets):
            if not isinstance(target, dict):
                continue
            key = tuple(repr(target.get(name)) for name in ("priority", "channel", "category"))
            if key in seen:
                errors[index] = [
                    f"Same priority, channel and category as the target at index {seen[key]}."
                ]
            seen.setdefault(key, index)
        if errors:
            raise ValidationError({"targets": errors})


class SlaPolicyCreateSchema(SlaPolicyUpdateSchema):
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=100), metadata={"example": "Standard"}
    )
    targets = fields.List(
        fields.Nested(SlaTargetSchema),
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "One per (priority, channel, category)."},
    )


# --- the SLA engine: clocks and the at-risk list ----------------------------------------------


class SlaClockReadSchema(Schema):
    """One SLA clock of a contact as of now: business seconds on the firm's calendar."""

    kind = dump_only_choice(CLOCK_KINDS)
    state = fields.String(
        dump_only=True,
        metadata={
            "enum": list(CLOCK_STATES),
            "description": "As of now: a deadline that has come shows `breached` even before "
            "the scan records it.",
        },
    )
    target_seconds = fields.Integer(dump_only=True, metadata={"description": "Business seconds."})
    started_at = fields.AwareDateTime(dump_only=True)
    due_at = fields.AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "While running: when the target runs out (for a breached clock, "
            "when it did). Null while paused or stopped."
        },
    )
    at_risk_at = fields.AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "While running: when the policy's at-risk share of the target is "
            "used up. Null while paused or stopped."
        },
    )
    elapsed_seconds = fields.Integer(
        dump_only=True,
        metadata={"description": "Business seconds counted against the target, up to now."},
    )
    paused_seconds = fields.Integer(
        dump_only=True, metadata={"description": "Business seconds spent paused, up to now."}
    )
    remaining_seconds = fields.Integer(
        dump_only=True,
        metadata={"description": "target - elapsed; negative by the overdue time."},
    )
    paused = fields.Boolean(dump_only=True)
    stopped_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    breached_at = fields.AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The instant the target ran out, if it did."},
    )


class ContactSlaSchema(Schema):
    """A contact's SLA: its clocks, worked out live to now."""

    contact_id = fields.UUID(dump_only=True)
    policy_id = fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The SLA policy that set the targets when it arrived."},
    )
    state = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "enum": list(CLOCK_STATES),
            "description": "The worst state of its clocks (breached, at_risk, ok, met, "
            "cancelled); null without clocks.",
        },
    )
    due_at = fields.AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The nearest deadline of its running clocks."},
    )
    answer_threshold_seconds = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "T of the service level (voice and chat), fixed at intake."},
    )
    note = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Why the contact has no clocks, when it has none."},
    )
    clocks = fields.List(fields.Nested(SlaClockReadSchema), dump_only=True)


class AtRiskQueryArgsSchema(Schema):
    tenant_id = fields.UUID(metadata={"description": "Only this client firm."})
    state = fields.String(
        validate=validate.OneOf(("at_risk", "breached")),
        metadata={"description": "Only contacts whose worst open clock is in this state."},
    )
    queue_id = fields.UUID()
    channel = fields.String(validate=validate.OneOf(CHANNELS))


class AtRiskContactSchema(Schema):
    """An open contact with an SLA clock at risk or breached."""

    tenant_id = fields.UUID(dump_only=True)
    tenant_name = fields.String(dump_only=True)
    contact_id = fields.UUID(dump_only=True)
    external_id = fields.String(dump_only=True, allow_none=True)
    channel = dump_only_choice(CHANNELS)
    category = dump_only_choice(CATEGORIES)
    priority = dump_only_choice(PRIORITIES)
    status = fields.String(dump_only=True)
    queue_id = fields.UUID(dump_only=True)
    agent_id = fields.UUID(dump_only=True, allow_none=True)
    sla_state = fields.String(
        dump_only=True,
        metadata={"enum": list(CLOCK_STATES), "description": "Worst of its clocks, as of now."},
    )
    sla_due_at = fields.AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The nearest deadline of its running clocks."},
    )
    clock = fields.Nested(
        SlaClockReadSchema,
        dump_only=True,
        metadata={"description": "Its worst open clock (breached before at risk, then due)."},
    )
