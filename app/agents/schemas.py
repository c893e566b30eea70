"""Request and response shapes of agents, their queue assignments and timelines, the
supervisors' client firms, and the agent's own day (/v1/me)."""

from __future__ import annotations

import re
from datetime import timedelta

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from app.agents.models import AGENT_EVENT_KINDS, PRESENCES, SETTABLE_PRESENCES
from app.common_schemas import dump_only_choice
from app.contacts.models import CONTACT_STATUSES
from app.contacts.schemas import queue_wait_seconds_field, queued_seconds_field
from app.vocabulary import CATEGORIES, CHANNELS, DIRECTIONS, PRIORITIES
from tenants.models import TENANT_STATUSES

LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*\Z")
MAX_CONCURRENCY = 20
MAX_TIMELINE_DAYS = 92


def concurrency_errors(channels: list[str], concurrency: dict[str, int]) -> dict[str, list[str]]:
    """Name the concurrency entries for channels the agent does not handle."""
    return {
        channel: [f"The agent does not handle {channel}; add it to channels first."]
        for channel in concurrency
        if channel not in channels
    }


def _unique(values, what: str) -> None:
    seen, repeated = set(), []
    for value in values:
        key = str(value).lower()
        if key in seen:
            repeated.append(str(value))
        seen.add(key)
    if repeated:
        raise ValidationError(f"Each {what} may appear once; repeated: {', '.join(repeated)}.")


# --- agents ----------------------------------------------------------------------------------


class SkillSchema(Schema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"example": "billing-disputes"},
    )
    level = fields.Integer(required=True, validate=validate.Range(min=1, max=5))


class _PresenceSchema(Schema):
    """An agent's presence as the API shows it, in its profile and in its state."""

    presence = dump_only_choice(PRESENCES)
    presence_since = fields.AwareDateTime(dump_only=True)
    presence_auto = fields.Boolean(
        dump_only=True,
        metadata={
            "description": "True when the work rules set the presence (busy at the "
            "concurrency cap, after-contact work), not the agent."
        },
    )
    acw_contact_id = fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "In after_contact_work: the contact being wrapped up."},
    )
    acw_tenant_id = fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "In after_contact_work: the client firm of that contact."},
    )


class AgentSchema(_PresenceSchema):
    id = fields.UUID(dump_only=True)
    user_id = fields.UUID(dump_only=True)
    email = fields.Email(dump_only=True, attribute="user.email")
    name = fields.String(dump_only=True, attribute="user.name")
    skills = fields.List(fields.Nested(SkillSchema), dump_only=True)
    channels = fields.List(fields.String(), dump_only=True)
    concurrency = fields.Dict(keys=fields.String(), values=fields.Integer(), dump_only=True)
    languages = fields.List(fields.String(), dump_only=True)
    active_queue_ids = fields.List(fields.UUID(), dump_only=True)
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class _AgentProfileSchema(Schema):
    """The profile fields an agent is created or changed with."""

    skills = fields.List(
        fields.Nested(SkillSchema),
        validate=validate.Length(max=100),
        metadata={"example": [{"name": "lang:es", "level": 5}, {"name": "billing", "level": 3}]},
    )
    channels = fields.List(
        fields.String(validate=validate.OneOf(CHANNELS)),
        validate=validate.Length(min=1),
        metadata={"example": ["voice", "chat", "email"]},
    )
    concurrency = fields.Dict(
        keys=fields.String(validate=validate.OneOf(CHANNELS)),
        values=fields.Integer(validate=validate.Range(min=1, max=MAX_CONCURRENCY)),
        metadata={
            "description": "Contacts the agent holds at once, per channel it handles; a "
            "channel left out gets 1.",
            "example": {"voice": 1, "chat": 3, "email": 5},
        },
    )
    languages = fields.List(
        fields.String(
            validate=validate.Regexp(LANGUAGE, error="Use a BCP 47 tag such as es or en-GB.")
        ),
        validate=validate.Length(max=50),
        metadata={"example": ["es", "en"]},
    )

    @validates("skills")
    def _skills(self, value: list[dict], **_kwargs) -> None:
        # marshmallow runs this on what deserialized even when an item failed (its errors are
        # reported already): an item without a name is skipped, not a KeyError.
        _unique((skill["name"].strip() for skill in value if "name" in skill), "skill name")

    @validates("channels")
    def _channels(self, value: list[str], **_kwargs) -> None:
        _unique(value, "channel")

    @validates("languages")
    def _languages(self, value: list[str], **_kwargs) -> None:
        _unique(value, "language")


class AgentCreateSchema(_AgentProfileSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(
        load_only=True,
        validate=validate.Length(min=12, max=256),
        metadata={"description": "Optional; without one the agent cannot sign in yet."},
    )
    channels = fields.List(
        fields.String(validate=validate.OneOf(CHANNELS)),
        required=True,
        validate=validate.Length(min=1),
        metadata={"example": ["voice", "chat", "email"]},
    )

    @validates_schema
    def _concurrency_for_its_channels(self, data: dict, **_kwargs) -> None:
        errors = concurrency_errors(data.get("channels") or [], data.get("concurrency") or {})
        if errors:
            raise ValidationError({"concurrency": errors})


class AgentUpdateSchema(_AgentProfileSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    is_active = fields.Boolean(
        metadata={
            "description": "False deactivates the agent: it goes offline, leaves its active "
            "queues and reaches no client firm until reactivated."
        }
    )


class AgentQueryArgsSchema(Schema):
    is_active = fields.Boolean()


# --- assignments -----------------------------------------------------------------------------


class AssignmentInSchema(Schema):
    queue_id = fields.UUID(required=True)
    priority = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1, max=10),
        metadata={"description": "1 is served first."},
    )


class AgentAssignmentsUpdateSchema(Schema):
    assignments = fields.List(
        fields.Nested(AssignmentInSchema),
        required=True,
        validate=validate.Length(max=500),
        metadata={"description": "The full list: queues not listed are unassigned."},
    )

    @validates("assignments")
    def _assignments(self, value: list[dict], **_kwargs) -> None:
        # As for skills: an item that failed to deserialize may lack its queue_id.
        _unique((a["queue_id"] for a in value if "queue_id" in a), "queue")


class AssignmentPriorityUpdateSchema(Schema):
    priority = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1, max=10),
        metadata={"description": "1 is served first (default 1)."},
    )


class TenantBriefSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    status = dump_only_choice(TENANT_STATUSES)


class AssignmentSchema(Schema):
    queue_id = fields.UUID(dump_only=True)
    queue_name = fields.String(dump_only=True)
    queue_is_active = fields.Boolean(dump_only=True)
    tenant = fields.Nested(TenantBriefSchema, dump_only=True)
    priority = fields.Integer(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class AgentAssignmentsSchema(Schema):
    agent_id = fields.UUID(dump_only=True)
    assignments = fields.List(fields.Nested(AssignmentSchema), dump_only=True)


# --- timeline --------------------------------------------------------------------------------


def validate_range(data: dict, max_days: int) -> None:
    """Refuse a range that ends before it starts or spans more than `max_days`."""
    start, end = data.get("from_"), data.get("to")
    if start is None or end is None:
        return
    if start >= end:
        raise ValidationError("`from` must be before `to`.", field_name="from")
    if end - start > timedelta(days=max_days):
        raise ValidationError(f"The range may span at most {max_days} days.", field_name="to")


class TimelineQueryArgsSchema(Schema):
    # `from` is a Python keyword: the field is `from_`, the parameter `from`.
    from_ = fields.AwareDateTime(
        data_key="from",
        metadata={"description": "Default: 24 hours before `to`.", "example": "2026-03-02T08:00Z"},
    )
    to = fields.AwareDateTime(metadata={"description": "Default: now (exclusive)."})

    @validates_schema
    def _range(self, data: dict, **_kwargs) -> None:
        validate_range(data, MAX_TIMELINE_DAYS)


class TimelineQueueSchema(Schema):
    queue_id = fields.UUID(dump_only=True)
    queue_name = fields.String(dump_only=True, allow_none=True)
    tenant_id = fields.UUID(dump_only=True, allow_none=True)
    tenant_name = fields.String(dump_only=True, allow_none=True)


class TimelineEventSchema(Schema):
    id = fields.UUID(dump_only=True)
    occurred_at = fields.AwareDateTime(dump_only=True)
    kind = dump_only_choice(AGENT_EVENT_KINDS)
    presence = fields.String(
        dump_only=True,
        metadata={"enum": list(PRESENCES), "description": "The presence after the event."},
    )
    active_queues = fields.List(
        fields.Nested(TimelineQueueSchema),
        dump_only=True,
        metadata={"description": "The active queues after the event."},
    )
    actor_user_id = fields.UUID(dump_only=True, allow_none=True)


class TimelineSegmentSchema(Schema):
    id = fields.UUID(dump_only=True)
    tenant_id = fields.UUID(dump_only=True)
    tenant_name = fields.String(dump_only=True)
    started_at = fields.AwareDateTime(dump_only=True)
    ended_at = fields.AwareDateTime(
        dump_only=True, allow_none=True, metadata={"description": "Null while running."}
    )
    presence = dump_only_choice(PRESENCES)
    share_bps = fields.Integer(
        dump_only=True,
        metadata={"description": "The tenant's share of the time, in basis points (10000: all)."},
    )


class TimelineSchema(Schema):
    agent_id = fields.UUID(dump_only=True)
    from_ = fields.AwareDateTime(dump_only=True, data_key="from")
    to = fields.AwareDateTime(dump_only=True)
    events = fields.List(fields.Nested(TimelineEventSchema), dump_only=True)
    segments = fields.List(fields.Nested(TimelineSegmentSchema), dump_only=True)


# --- supervisors -----------------------------------------------------------------------------


class SupervisorTenantsUpdateSchema(Schema):
    tenant_ids = fields.List(
        fields.UUID(),
        required=True,
        validate=validate.Length(max=500),
        metadata={"description": "The full list: client firms not listed are no longer overseen."},
    )

    @validates("tenant_ids")
    def _tenant_ids(self, value: list, **_kwargs) -> None:
        _unique(value, "tenant")


class SupervisorTenantsSchema(Schema):
    user_id = fields.UUID(dump_only=True)
    tenant_ids = fields.List(fields.UUID(), dump_only=True)
    tenants = fields.List(fields.Nested(TenantBriefSchema), dump_only=True)


class SupervisorSchema(SupervisorTenantsSchema):
    name = fields.String(dump_only=True)
    email = fields.Email(dump_only=True)
    is_active = fields.Boolean(dump_only=True)


class NothingToClaimQueuesSchema(Schema):
    assigned = fields.Integer(metadata={"description": "Queues you are assigned to."})
    active = fields.Integer(metadata={"description": "Queues you chose to take work from."})
    usable = fields.Integer(
        metadata={"description": "Of those, still assigned, active and of an active client firm."}
    )


class NothingToClaimWaitingSchema(Schema):
    total = fields.Integer(metadata={"description": "Contacts waiting in your usable queues."})
    fitting = fields.Integer(metadata={"description": "Of them, contacts you could take."})


class NothingToClaimNeedsSchema(Schema):
    channel = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Waiting contacts per channel you do not work."},
    )
    concurrency = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Waiting contacts per channel where your concurrency is full."},
    )
    language = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Waiting contacts per language (lower-cased) you do not speak."},
    )


class NothingToClaimSchema(Schema):
    """The problem+json answer of POST /v1/me/next when there is nothing to claim."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer(metadata={"example": 409})
    detail = fields.String(metadata={"description": "Why, in a sentence, with the counts."})
    instance = fields.String()
    request_id = fields.String()
    reason = fields.String(
        metadata={
            "enum": [
                "profile_inactive",
                "presence_not_available",
                "no_active_queue",
                "nothing_waiting",
                "needs_unmet",
                "taken",
            ]
        }
    )
    presence = fields.String(
        metadata={"description": "With presence_not_available.", "enum": list(PRESENCES)}
    )
    queues = fields.Nested(NothingToClaimQueuesSchema)
    waiting = fields.Nested(
        NothingToClaimWaitingSchema, metadata={"description": "Not with no_active_queue."}
    )
    needs = fields.Nested(
        NothingToClaimNeedsSchema,
        metadata={
            "description": "What the waiting contacts need that you lack; a contact may "
            "need several things and counts under each."
        },
    )


# --- the agent's own day ---------------------------------------------------------------------


class MeUserSchema(Schema):
    id = fields.UUID(dump_only=True)
    email = fields.Email(dump_only=True)
    name = fields.String(dump_only=True)


class MeTenantSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    status = dump_only_choice(TENANT_STATUSES)
    role = fields.String(dump_only=True)


class MeSchema(Schema):
    user = fields.Nested(
        MeUserSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "Null for a client firm's integration."},
    )
    client_id = fields.String(dump_only=True)
    platform_roles = fields.List(
        fields.String(),
        dump_only=True,
        metadata={"description": "Roles held across the BPO (bpo_admin, agent)."},
    )
    tenants = fields.List(
        fields.Nested(MeTenantSchema),
        dump_only=True,
        metadata={
            "description": "Client firms reached, with the role on each (a bpo_admin "
            "reaches every client firm without being listed)."
        },
    )
    scopes = fields.List(fields.String(), dump_only=True)
    agent = fields.Nested(AgentSchema, dump_only=True, allow_none=True)


class MeBriefingSchema(Schema):
    id = fields.UUID(dump_only=True)
    title = fields.String(dump_only=True)
    body = fields.String(dump_only=True)
    effective_from = fields.AwareDateTime(dump_only=True)
    effective_to = fields.AwareDateTime(dump_only=True, allow_none=True)


class MeQueueSchema(Schema):
    queue_id = fields.UUID(dump_only=True)
    queue_name = fields.String(dump_only=True)
    channels = fields.List(fields.String(), dump_only=True)
    tenant = fields.Nested(TenantBriefSchema, dump_only=True)
    priority = fields.Integer(dump_only=True)
    active = fields.Boolean(
        dump_only=True, metadata={"description": "Whether the agent takes work from it now."}
    )
    waiting_count = fields.Integer(dump_only=True)
    oldest_wait_seconds = fields.Integer(
        dump_only=True, allow_none=True, metadata={"description": "Null when nothing waits."}
    )
    briefings = fields.List(
        fields.Nested(MeBriefingSchema),
        dump_only=True,
        metadata={"description": "The client firm's briefings in force for this queue."},
    )


class ActiveQueuesUpdateSchema(Schema):
    queue_ids = fields.List(
        fields.UUID(),
        required=True,
        validate=validate.Length(max=100),
        metadata={"description": "Assigned queues, of client firms that are active; [] stops."},
    )

    @validates("queue_ids")
    def _queue_ids(self, value: list, **_kwargs) -> None:
        _unique(value, "queue")


class PresenceUpdateSchema(Schema):
    presence = fields.String(
        required=True,
        validate=validate.OneOf(
            SETTABLE_PRESENCES,
            error="Must be one of: {choices} (after_contact_work follows a resolve by itself).",
        ),
    )


class AgentStateSchema(_PresenceSchema):
    agent_id = fields.UUID(dump_only=True, attribute="id")
    active_queue_ids = fields.List(fields.UUID(), dump_only=True)


class MyContactSchema(Schema):
    """A contact as the agent working it sees it, with its client firm."""

    id = fields.UUID(dump_only=True)
    tenant = fields.Nested(TenantBriefSchema, dump_only=True)
    queue_id = fields.UUID(dump_only=True)
    queue_name = fields.String(dump_only=True)
    external_id = fields.String(dump_only=True, allow_none=True)
    channel = dump_only_choice(CHANNELS)
    direction = dump_only_choice(DIRECTIONS)
    category = dump_only_choice(CATEGORIES)
    priority = dump_only_choice(PRIORITIES)
    language = fields.String(dump_only=True, allow_none=True)
    subject = fields.String(dump_only=True)
    body = fields.String(dump_only=True)
    customer_name = fields.String(dump_only=True, allow_none=True)
    customer_email = fields.String(dump_only=True, allow_none=True)
    customer_phone = fields.String(dump_only=True, allow_none=True)
    customer_ref = fields.String(dump_only=True, allow_none=True)
    customer_contact_number = fields.Integer(
        dump_only=True,
        metadata={"description": "1 for the end customer's first contact of this kind."},
    )
    remedy_requested = fields.String(dump_only=True, allow_none=True)
    status = dump_only_choice(CONTACT_STATUSES)
    status_since = fields.AwareDateTime(dump_only=True)
    agent_id = fields.UUID(dump_only=True, allow_none=True)
    campaign_id = fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The outbound campaign this contact is an attempt of."},
    )
    campaign_record_id = fields.UUID(dump_only=True, allow_none=True)
    received_at = fields.AwareDateTime(dump_only=True)
    queued_at = fields.AwareDateTime(dump_only=True)
    assigned_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    answered_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    first_response_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    sla_due_at = fields.AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The nearest SLA deadline; null until one is set."},
    )
    queue_wait_seconds = queue_wait_seconds_field()
    queued_seconds = queued_seconds_field()
