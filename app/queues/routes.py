"""HTTP resources of queues and briefings."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import inspect as sa_inspect

from app.api_base import Blueprint, SelectPage
from app.auth.permissions import REPORTS_READ, SETTINGS_ADMIN, TENANT_ADMIN, TENANT_READ
from app.auth.principal import current_actor, current_principal, current_tenant, require
from app.queues import coverage
from app.queues import service as queues_service
from app.queues.schemas import (
    BriefingCreateSchema,
    BriefingQueryArgsSchema,
    BriefingSchema,
    BriefingUpdateSchema,
    QueueCreateSchema,
    QueueQueryArgsSchema,
    QueueSchema,
    QueueUpdateSchema,
    QueueWrittenSchema,
    StaffingQueryArgsSchema,
    StaffingSchema,
)

queues_blp = Blueprint(
    "queues",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/queues",
    description="A client firm's queues: which channels, categories and languages land where.",
)
briefings_blp = Blueprint(
    "briefings",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/briefings",
    description="Notices a client firm gives agents working its queues.",
)


def _agent_queue_ids() -> frozenset[uuid.UUID] | None:
    """The queues an agent caller is assigned to; None for callers who see the whole firm.

    An agent reaches a firm only through its queues (SPEC 2), so sees only those and the
    briefings that concern them.
    """
    principal = current_principal()
    if principal.role_on(current_tenant().id) == "agent":
        return principal.queue_ids
    return None


# --- queues ----------------------------------------------------------------------------------


@queues_blp.route("")
class Queues(MethodView):
    @require(TENANT_READ)
    @queues_blp.arguments(QueueQueryArgsSchema, location="query")
    @queues_blp.response(200, QueueSchema(many=True))
    @queues_blp.paginate(SelectPage)
    def get(self, args, tenant_id):
        """List the client firm's queues, by name"""
        return queues_service.list_(within=_agent_queue_ids(), **args)

    @require(TENANT_ADMIN)
    @queues_blp.arguments(QueueCreateSchema)
    @queues_blp.response(201, QueueWrittenSchema)
    @queues_blp.alt_response(409, description="A queue with this name exists.")
    def post(self, queue_in, tenant_id):
        """Create a queue

        The answer's `warnings` names the queue's channels no agent can serve yet (a new
        queue has no agent assigned).
        """
        queue = queues_service.create(queue_in=queue_in, actor=current_actor())
        return _with_warnings(queue)


@queues_blp.route("/<uuid:queue_id>")
class QueueById(MethodView):
    @require(TENANT_READ)
    @queues_blp.etag
    @queues_blp.response(200, QueueSchema)
    def get(self, tenant_id, queue_id):
        """Read a queue"""
        return _queue_or_404(queue_id)

    @require(TENANT_ADMIN)
    @queues_blp.etag
    @queues_blp.arguments(QueueUpdateSchema)
    @queues_blp.response(200, QueueWrittenSchema)
    @queues_blp.alt_response(409, description="A queue with this name exists.")
    def patch(self, queue_in, tenant_id, queue_id):
        """Change a queue's name, routing rules or answer threshold, or reactivate it

        The answer's `warnings` names the queue's channels no agent assigned to it can serve
        (say, a channel just added). Its ETag is the queue's, as `GET` gives it.
        """
        queue = _queue_or_404(queue_id)
        queues_blp.check_etag(queue, QueueSchema)
        queue = queues_service.update(queue=queue, queue_in=queue_in, actor=current_actor())
        # The warnings are not part of the queue: its ETag stays what a read would give.
        queues_blp.set_etag(queue, QueueSchema)
        return _with_warnings(queue)

    @require(TENANT_ADMIN)
    @queues_blp.response(204)
    def delete(self, tenant_id, queue_id):
        """Deactivate a queue: it leaves routing but stays readable, with its history

        Idempotent; no If-Match needed. PATCH `is_active: true` brings it back.
        """
        queues_service.deactivate(queue=_queue_or_404(queue_id), actor=current_actor())


@queues_blp.route("/<uuid:queue_id>/staffing")
class QueueStaffing(MethodView):
    @require(REPORTS_READ)
    @queues_blp.arguments(StaffingQueryArgsSchema, location="query")
    @queues_blp.response(200, StaffingSchema)
    def get(self, args, tenant_id, queue_id):
        """Size a queue by Erlang C: agents needed, scheduled headcount, and what they achieve

        Traffic A = volume x aht / interval (erlangs). Agents needed: the least N > A whose
        service level, 1 - P(wait) x exp(-(N - A) x threshold / aht), reaches the target (and
        whose occupancy A / N is at most max_occupancy, when given); P(wait) is Erlang C from
        the Erlang B recursion. Scheduled: N / (1 - shrinkage), rounded up. A volume or AHT
        left out comes from the queue's own last 28 days (`sources` and `history` say so);
        without such history, 422. Target defaults to the firm's default SLA policy,
        threshold to the queue's answer threshold.
        """
        queue = _queue_or_404(queue_id)
        args["interval_seconds"] = args.pop("interval")
        return queues_service.staffing(queue=queue, **args)


def _with_warnings(queue) -> dict:
    fields = {attr.key: getattr(queue, attr.key) for attr in sa_inspect(queue).mapper.column_attrs}
    return {**fields, "warnings": coverage.warnings(queues=[queue])}


def _queue_or_404(queue_id: uuid.UUID):
    queue = queues_service.get(queue_id=queue_id)
    visible = _agent_queue_ids()
    if queue is None or (visible is not None and queue.id not in visible):
        abort(404, message="No such queue in this client firm.")
    return queue


# --- briefings -------------------------------------------------------------------------------


@briefings_blp.route("")
class Briefings(MethodView):
    @require(TENANT_READ)
    @briefings_blp.arguments(BriefingQueryArgsSchema, location="query")
    @briefings_blp.response(200, BriefingSchema(many=True))
    @briefings_blp.paginate(SelectPage)
    def get(self, args, tenant_id):
        """List the client firm's briefings, latest start first"""
        return queues_service.list_briefings(
            current=args.get("current"), concerning=_concerning(args.get("queue_id"))
        )

    @require(SETTINGS_ADMIN)
    @briefings_blp.arguments(BriefingCreateSchema)
    @briefings_blp.response(201, BriefingSchema)
    def post(self, briefing_in, tenant_id):
        """Post a briefing to the agents of some (or all) of the firm's queues"""
        return queues_service.create_briefing(briefing_in=briefing_in, actor=current_actor())


@briefings_blp.route("/<uuid:briefing_id>")
class BriefingById(MethodView):
    @require(TENANT_READ)
    @briefings_blp.etag
    @briefings_blp.response(200, BriefingSchema)
    def get(self, tenant_id, briefing_id):
        """Read a briefing"""
        return _briefing_or_404(briefing_id)

    @require(SETTINGS_ADMIN)
    @briefings_blp.etag
    @briefings_blp.arguments(BriefingUpdateSchema)
    @briefings_blp.response(200, BriefingSchema)
    def patch(self, briefing_in, tenant_id, briefing_id):
        """Change a briefing's text, period or queues"""
        briefing = _briefing_or_404(briefing_id)
        briefings_blp.check_etag(briefing, BriefingSchema)
        return queues_service.update_briefing(
            briefing=briefing, briefing_in=briefing_in, actor=current_actor()
        )

    @require(SETTINGS_ADMIN)
    @briefings_blp.response(204)
    def delete(self, tenant_id, briefing_id):
        """Delete a briefing (the audit log keeps its title and period)

        To end a briefing but keep it listed, PATCH its `effective_to` instead.
        """
        queues_service.delete_briefing(
            briefing=_briefing_or_404(briefing_id), actor=current_actor()
        )


def _concerning(queue_id: uuid.UUID | None) -> frozenset[uuid.UUID] | None:
    """The queues whose briefings the caller asks for and may see; None: every briefing."""
    agent_queues = _agent_queue_ids()
    asked = frozenset({queue_id}) if queue_id is not None else None
    if agent_queues is None:
        return asked
    return agent_queues & asked if asked is not None else agent_queues


def _briefing_or_404(briefing_id: uuid.UUID):
    briefing = queues_service.get_briefing(briefing_id=briefing_id, concerning=_concerning(None))
    if briefing is None:
        abort(404, message="No such briefing in this client firm.")
    return briefing
