"""HTTP resources of SLA configuration (the business calendar, SLA policies) and of SLA
monitoring across client firms (the at-risk list)."""

from __future__ import annotations

import uuid
from datetime import UTC

from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import select

from app.api_base import Blueprint, SelectPage
from app.auth.permissions import SLA_MONITOR, TENANT_ADMIN, TENANT_READ
from app.auth.principal import Principal, current_actor, current_principal, current_tenant, require
from app.crud import CollectionView, ItemView, found
from app.db import db, utcnow
from app.sla import at_risk
from app.sla import calendars as sla_calendars
from app.sla import policies as sla_policies
from app.sla.schemas import (
    AtRiskContactSchema,
    AtRiskQueryArgsSchema,
    BusinessSecondsQueryArgsSchema,
    BusinessSecondsSchema,
    CalendarCreateSchema,
    CalendarQueryArgsSchema,
    CalendarSchema,
    DueQueryArgsSchema,
    DueSchema,
    SlaPolicyCreateSchema,
    SlaPolicySchema,
    SlaPolicyUpdateSchema,
)
from tenants.models import Tenant
from tenants.scoping import tenants_scope

calendar_blp = Blueprint(
    "calendar",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/calendar",
    description="A client firm's business calendar (versioned) and business-time arithmetic.",
)
sla_policies_blp = Blueprint(
    "sla_policies",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/sla-policies",
    description="A client firm's SLA policies: targets per priority, channel and category.",
)

sla_blp = Blueprint(
    "sla",
    __name__,
    url_prefix="/v1/sla",
    description="SLA monitoring across the client firms a supervisor oversees.",
)

NO_CALENDAR = "This client firm has no business calendar yet; PUT one first."


@calendar_blp.route("")
class CalendarInForce(MethodView):
    @require(TENANT_READ)
    @calendar_blp.etag
    @calendar_blp.arguments(CalendarQueryArgsSchema, location="query")
    @calendar_blp.response(200, CalendarSchema)
    @calendar_blp.alt_response(404, description="The client firm has no calendar yet.")
    def get(self, args, tenant_id):
        """Read the business calendar in force now (or at `at`)

        Its `ETag` is what a change sends as `If-Match`.
        """
        version = sla_calendars.calendar_in_force(at=args.get("at"))
        if version is None:
            abort(404, message=NO_CALENDAR)
        return version

    @require(TENANT_ADMIN)
    @calendar_blp.etag
    @calendar_blp.arguments(CalendarCreateSchema)
    @calendar_blp.response(201, CalendarSchema)
    @calendar_blp.alt_response(409, description="A version already takes effect at that instant.")
    def put(self, calendar_in, tenant_id):
        """Change the business calendar from `effective_from` on (a new version)

        Send `If-Match` with the ETag of the calendar in force (`If-Match: *` when the firm
        has none yet). Earlier versions stay: time before the change is still counted with
        the calendar in force then.
        """
        in_force = sla_calendars.calendar_in_force(for_update=True)
        # With no calendar yet, only `If-Match: *` matches.
        calendar_blp.check_etag(in_force, CalendarSchema if in_force is not None else None)
        return sla_calendars.create_calendar_version(
            calendar_in=calendar_in, tenant=current_tenant(), actor=current_actor()
        )


@calendar_blp.route("/versions")
class CalendarVersions(MethodView):
    @require(TENANT_READ)
    @calendar_blp.response(200, CalendarSchema(many=True))
    @calendar_blp.paginate(SelectPage)
    def get(self, tenant_id):
        """List every version of the business calendar, newest first"""
        return sla_calendars.list_calendar_versions()


@calendar_blp.route("/business-seconds")
class BusinessSeconds(MethodView):
    @require(TENANT_READ)
    @calendar_blp.arguments(BusinessSecondsQueryArgsSchema, location="query")
    @calendar_blp.response(200, BusinessSecondsSchema)
    @calendar_blp.alt_response(404, description="The client firm has no calendar yet.")
    def get(self, args, tenant_id):
        """Count the business seconds between two instants

        Open time only: outside opening windows, public holidays and closure days do not
        count. Each instant counts with the calendar version in force at that instant.
        """
        start, end = args["from_"].astimezone(UTC), args["to"].astimezone(UTC)
        seconds = sla_calendars.business_seconds_between(start=start, end=end)
        return {"from_": start, "to": end, "business_seconds": seconds}


@calendar_blp.route("/due")
class Due(MethodView):
    @require(TENANT_READ)
    @calendar_blp.arguments(DueQueryArgsSchema, location="query")
    @calendar_blp.response(200, DueSchema)
    @calendar_blp.alt_response(404, description="The client firm has no calendar yet.")
    def get(self, args, tenant_id):
        """Find when a number of business seconds after an instant have elapsed

        How SLA deadlines are set: e.g. a first response due 4 business hours after a
        contact arrived.
        """
        try:
            due = sla_calendars.add_business_seconds(start=args["start"], seconds=args["seconds"])
        except ValueError as exc:
            abort(422, message=f"No deadline can be set: {exc}.")
        return {"start": args["start"].astimezone(UTC), "seconds": args["seconds"], "due": due}


@sla_policies_blp.route("")
class SlaPolicies(CollectionView):
    blp, schema, create_schema = sla_policies_blp, SlaPolicySchema, SlaPolicyCreateSchema
    read, write = require(TENANT_READ), require(TENANT_ADMIN)
    conflict = "A policy with this name exists."
    docs = {
        "get": "List the client firm's SLA policies, the default first",
        "post": "Create an SLA policy",
    }

    def select(self):
        return sla_policies.list_policies()

    def create(self, policy_in, **_path):
        return sla_policies.create_policy(policy_in=policy_in, actor=current_actor())


@sla_policies_blp.route("/<uuid:sla_policy_id>")
class SlaPolicyById(ItemView):
    blp, schema, update_schema = sla_policies_blp, SlaPolicySchema, SlaPolicyUpdateSchema
    read, write = require(TENANT_READ), require(TENANT_ADMIN)
    conflict = "A policy with this name exists."
    docs = {
        "get": "Read one SLA policy",
        "patch": "Change an SLA policy; `targets`, if sent, replaces them all",
    }

    def item(self, sla_policy_id, **_path):
        return found(
            sla_policies.get_policy(policy_id=sla_policy_id),
            "No such SLA policy in this client firm.",
        )

    def update(self, policy, policy_in):
        return sla_policies.update_policy(policy=policy, policy_in=policy_in, actor=current_actor())


@sla_blp.route("/at-risk")
class AtRisk(MethodView):
    @require(SLA_MONITOR)
    @sla_blp.arguments(AtRiskQueryArgsSchema, location="query")
    @sla_blp.response(200, AtRiskContactSchema(many=True))
    @sla_blp.paginate()
    def get(self, args, pagination_parameters):
        """List open contacts whose SLA is at risk or breached, nearest deadline first

        Across the client firms the caller supervises (a BPO admin: every firm not
        offboarded). A contact is listed while it is not resolved, closed or abandoned and has
        a clock not yet stopped (running, or paused) that is at risk or breached as of now,
        also when the scan has not recorded it yet. `clock` is that worst open clock, its
        figures in business seconds up to now; `sla_state` is the worst of all its clocks.
        Filters combine (AND): `tenant_id`, `state` (of the worst open clock), `queue_id`,
        `channel`.

        The total (`X-Pagination`) is counted at most about once a second per server process
        for everyone watching the same firms with the same filters, and while a newer count is
        made (up to 10 s) the last one is answered: it may differ from the pages by the
        contacts that crossed meanwhile. The page itself is read as of the request.
        """
        tenant_ids = _supervised(current_principal())
        if args.get("tenant_id") is not None:
            tenant_ids &= {args["tenant_id"]}
        if not tenant_ids:
            pagination_parameters.item_count = 0
            return []
        filters = {name: value for name, value in args.items() if name != "tenant_id"}
        # The total is shared between everyone watching the same firms (app.readings); the
        # page is read for this caller, as of now.
        total = at_risk.count_at_risk(tenant_ids=frozenset(tenant_ids), **filters)
        now = utcnow()
        with tenants_scope(tenant_ids):
            page = SelectPage(
                at_risk.list_at_risk(now=now, **filters), pagination_parameters, total=total
            )
            return at_risk.describe_at_risk(contacts=page.items, now=now)


def _supervised(principal: Principal) -> set[uuid.UUID]:
    """The client firms whose SLA the caller watches: every firm for a BPO admin."""
    if principal.is_bpo_admin:
        return set(db.session.scalars(select(Tenant.id).where(Tenant.status != "offboarded")))
    return {t for t, role in principal.tenant_roles.items() if role == "supervisor"}
