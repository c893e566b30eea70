"""Request and response shapes of the wallboard (GET /v1/wallboard)."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.common_schemas import dump_only_choice
from app.contacts.models import CONTACT_STATUSES
from app.sla.models import ABANDON_TREATMENTS
from app.vocabulary import CHANNELS, PRIORITIES

_PRESENCE = (
    "An agent's presence: `available`, `busy`, `after_contact_work`, `break`, `offline` "
    "(in that order), or a newer one after them."
)


class WallboardQueryArgsSchema(Schema):
    tenant_id = fields.List(
        fields.UUID(),
        metadata={
            "description": "Only these client firms (repeat the parameter for several). A firm "
            "the caller does not oversee is never shown, as if it did not exist."
        },
    )


class PresenceCountSchema(Schema):
    presence = fields.String(dump_only=True, metadata={"description": _PRESENCE})
    count = fields.Integer(dump_only=True)


class FiguresSchema(Schema):
    """The tiles of a queue, a firm's totals (each agent counted once), or the floor's."""

    waiting = fields.Integer(
        dump_only=True, metadata={"description": "Contacts waiting now (`queued`, `reopened`)."}
    )
    longest_wait_seconds = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "How long the oldest waiting contact has waited (its place in "
            "line, `queued_at`, to now); null when none waits."
        },
    )
    abandoned = fields.Integer(
        dump_only=True,
        metadata={"description": "Inbound voice and chat contacts received today and abandoned."},
    )
    handled = fields.Integer(
        dump_only=True,
        metadata={
            "description": "Contacts received today, answered or responded to, and "
            "resolved or closed (the SLA report's `handled`)."
        },
    )
    at_risk = fields.Integer(
        dump_only=True,
        metadata={"description": "Open contacts whose worst open SLA clock is at risk now."},
    )
    breached = fields.Integer(
        dump_only=True, metadata={"description": "Open contacts with an open SLA clock breached."}
    )
    agents = fields.Integer(dump_only=True, metadata={"description": "Agents serving it."})
    agents_by_state = fields.List(
        fields.Nested(PresenceCountSchema),
        dump_only=True,
        metadata={"description": "Its agents by presence, every known state listed."},
    )


class ServiceLevelSchema(FiguresSchema):
    answered = fields.Integer(
        dump_only=True, metadata={"description": "Inbound voice and chat answered, of today's."}
    )
    answered_within_threshold = fields.Integer(
        dump_only=True,
        metadata={"description": "Of those, answered within the answer threshold T."},
    )
    short_abandoned = fields.Integer(
        dump_only=True,
        metadata={"description": "Abandoned within the firm's short-abandon threshold."},
    )
    service_level = fields.Float(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Today's service level (SPEC section 7) under the firm's abandon "
            "treatment, as its SLA report computes it; null with nothing to divide."
        },
    )
    service_level_state = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "`met` or `missed` against the firm's target; null when "
            "either is missing."
        },
    )


class WallboardQueueSchema(ServiceLevelSchema):
    queue_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    channels = fields.List(fields.String(), dump_only=True)
    answer_threshold_seconds = fields.Integer(dump_only=True)
    is_active = fields.Boolean(
        dump_only=True,
        metadata={"description": "An inactive queue is listed only while it has work or figures."},
    )
    agent_ids = fields.List(
        fields.UUID(), dump_only=True, metadata={"description": "The active agents serving it."}
    )


class WallboardTenantSchema(Schema):
    tenant_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    time_zone = fields.String(dump_only=True)
    day_start = fields.AwareDateTime(
        dump_only=True,
        metadata={"description": "Local midnight of the firm's today, which `today` counts from."},
    )
    abandon_treatment = dump_only_choice(ABANDON_TREATMENTS)
    short_abandon_seconds = fields.Integer(dump_only=True)
    service_level_target = fields.Float(dump_only=True, allow_none=True)
    totals = fields.Nested(ServiceLevelSchema, dump_only=True)
    queues = fields.List(fields.Nested(WallboardQueueSchema), dump_only=True)


class HeldContactSchema(Schema):
    contact_id = fields.UUID(dump_only=True)
    tenant_id = fields.UUID(dump_only=True)
    tenant_name = fields.String(dump_only=True, allow_none=True)
    queue_id = fields.UUID(dump_only=True)
    queue_name = fields.String(dump_only=True, allow_none=True)
    channel = dump_only_choice(CHANNELS)
    status = dump_only_choice(CONTACT_STATUSES)
    since = fields.AwareDateTime(
        dump_only=True, metadata={"description": "When it entered its status."}
    )


class WallboardAgentSchema(Schema):
    agent_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    presence = fields.String(dump_only=True, metadata={"description": _PRESENCE})
    presence_since = fields.AwareDateTime(dump_only=True)
    tenant_ids = fields.List(
        fields.UUID(), dump_only=True, metadata={"description": "The shown firms it serves."}
    )
    queue_ids = fields.List(
        fields.UUID(), dump_only=True, metadata={"description": "The shown queues it serves."}
    )
    working_on = fields.List(
        fields.Nested(HeldContactSchema),
        dump_only=True,
        metadata={
            "description": "The contacts of the shown firms it holds, longest held first: at "
            "most 10 (`working_on_count` says how many in all)."
        },
    )
    working_on_count = fields.Integer(
        dump_only=True,
        metadata={"description": "How many contacts of the shown firms it holds in all."},
    )


class UrgentContactSchema(Schema):
    contact_id = fields.UUID(dump_only=True)
    tenant_id = fields.UUID(dump_only=True)
    tenant_name = fields.String(dump_only=True, allow_none=True)
    queue_id = fields.UUID(dump_only=True)
    queue_name = fields.String(dump_only=True, allow_none=True)
    agent_id = fields.UUID(dump_only=True, allow_none=True)
    agent_name = fields.String(dump_only=True, allow_none=True)
    channel = dump_only_choice(CHANNELS)
    priority = dump_only_choice(PRIORITIES)
    status = dump_only_choice(CONTACT_STATUSES)
    sla_state = dump_only_choice(("at_risk", "breached"))
    due_at = fields.AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The nearest deadline of its running clocks (past when "
            "breached); null while its clocks are paused."
        },
    )


class WallboardSchema(Schema):
    generated_at = fields.AwareDateTime(dump_only=True)
    floor = fields.Nested(
        FiguresSchema, dump_only=True, metadata={"description": "Every shown firm together."}
    )
    tenants = fields.List(
        fields.Nested(WallboardTenantSchema),
        dump_only=True,
        metadata={"description": "One row per firm, by name, with its queues' tiles."},
    )
    agents = fields.List(
        fields.Nested(WallboardAgentSchema),
        dump_only=True,
        metadata={"description": "The agents serving the shown firms, by presence then name."},
    )
    urgent = fields.List(
        fields.Nested(UrgentContactSchema),
        dump_only=True,
        metadata={
            "description": "Open contacts at risk or breached, nearest deadline first "
            "(50 at most; the counts include them all)."
        },
    )
