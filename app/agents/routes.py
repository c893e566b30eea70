"""HTTP resources of agents: the BPO's view (/v1/agents, /v1/supervisors) and the agent's own
day (/v1/me)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask.views import MethodView
from flask_smorest import abort

from app.agents import common as agents_common
from app.agents import me as me_service
from app.agents import presence as agent_presence
from app.agents import queue_assignments
from app.agents import service as agents_service
from app.agents import supervisors as supervisors_service
from app.agents import timeline as agent_timeline
from app.agents.models import Agent
from app.agents.schemas import (
    MAX_TIMELINE_DAYS,
    ActiveQueuesUpdateSchema,
    AgentAssignmentsSchema,
    AgentAssignmentsUpdateSchema,
    AgentCreateSchema,
    AgentQueryArgsSchema,
    AgentSchema,
    AgentStateSchema,
    AgentUpdateSchema,
    AssignmentPriorityUpdateSchema,
    MeQueueSchema,
    MeSchema,
    MyContactSchema,
    NothingToClaimSchema,
    PresenceUpdateSchema,
    SupervisorSchema,
    SupervisorTenantsSchema,
    SupervisorTenantsUpdateSchema,
    TimelineQueryArgsSchema,
    TimelineSchema,
)
from app.api_base import Blueprint, SelectPage
from app.auth.passwords import hash_password
from app.auth.permissions import AGENT_ADMIN, AGENT_READ, AGENT_WORK
from app.auth.principal import Principal, current_actor, current_principal, require
from app.campaigns import dialer
from app.contacts import routing
from app.crud import ItemView, found
from app.db import utcnow

agents_blp = Blueprint(
    "agents",
    __name__,
    url_prefix="/v1/agents",
    description="BPO agents: skills, channels, concurrency, queue assignments, timelines.",
)
supervisors_blp = Blueprint(
    "supervisors",
    __name__,
    url_prefix="/v1/supervisors",
    description="Which client firms each supervisor oversees.",
)
me_blp = Blueprint(
    "me",
    __name__,
    url_prefix="/v1/me",
    description="The caller's own profile and, for agents, their working day.",
)


def _overseen(principal: Principal) -> frozenset[uuid.UUID] | None:
    """The tenants whose agents the caller may read: None for all (a BPO admin)."""
    if principal.is_bpo_admin:
        return None
    return frozenset(t for t, role in principal.tenant_roles.items() if role == "supervisor")


def _agent_or_404(agent_id: uuid.UUID) -> Agent:
    """An agent the caller may see: any for a BPO admin; for a supervisor, one serving a queue
    of a client firm they oversee. Any other answers 404, like one that does not exist."""
    agent = agents_service.get(agent_id=agent_id)
    overseen = _overseen(current_principal())
    if agent is not None and overseen is not None:
        if agent.id not in agents_service.assigned_agent_ids(tenant_ids=overseen):
            agent = None
    return found(agent, "No such agent.")


# --- /v1/agents ------------------------------------------------------------------------------


@agents_blp.route("")
class Agents(MethodView):
    @require(AGENT_READ)
    @agents_blp.arguments(AgentQueryArgsSchema, location="query")
    @agents_blp.response(200, AgentSchema(many=True))
    @agents_blp.paginate()
    def get(self, args, pagination_parameters):
        """List agents (for a supervisor: those serving the client firms they oversee)"""
        overseen = _overseen(current_principal())
        within = None
        if overseen is not None:
            within = agents_service.assigned_agent_ids(tenant_ids=overseen)
        page = SelectPage(agents_service.list_(within=within, **args), pagination_parameters)
        return agents_service.as_seen_by(agents=page.items, tenant_ids=overseen)

    @require(AGENT_ADMIN)
    @agents_blp.arguments(AgentCreateSchema)
    @agents_blp.response(201, AgentSchema)
    @agents_blp.alt_response(409, description="A user with this email exists.")
    def post(self, agent_in):
        """Create an agent: a BPO user with the agent role and its profile"""
        password = agent_in.pop("password", None)
        return agents_service.create(
            agent_in=agent_in,
            password_hash=hash_password(password) if password else None,
            actor=current_actor(),
        )


@agents_blp.route("/<uuid:agent_id>")
class AgentById(ItemView):
    blp, schema, update_schema = agents_blp, AgentSchema, AgentUpdateSchema
    write = require(AGENT_ADMIN)
    docs = {
        "patch": (
            "Change an agent's name, skills, channels, concurrency or languages, or deactivate it"
            "\n\nConcurrency entries sent merge into the current ones; channels dropped lose "
            "theirs."
        ),
    }

    # Its own GET: a supervisor reads the agent as seen from the firms they oversee.
    @require(AGENT_READ)
    @agents_blp.etag
    @agents_blp.response(200, AgentSchema)
    def get(self, agent_id):
        """Read an agent (for a supervisor: active queues of the firms they oversee only)"""
        [agent] = agents_service.as_seen_by(
            agents=[_agent_or_404(agent_id)], tenant_ids=_overseen(current_principal())
        )
        return agent

    def item(self, agent_id):
        return _agent_or_404(agent_id)

    def update(self, agent, agent_in):
        return agents_service.update(agent=agent, agent_in=agent_in, actor=current_actor())


@agents_blp.route("/<uuid:agent_id>/assignments")
class AgentAssignments(MethodView):
    @require(AGENT_READ)
    @agents_blp.etag
    @agents_blp.response(200, AgentAssignmentsSchema)
    def get(self, agent_id):
        """List the queues the agent serves (for a supervisor: those of firms they oversee)"""
        agent = _agent_or_404(agent_id)
        return queue_assignments.assignments(agent=agent, tenant_ids=_overseen(current_principal()))

    @require(AGENT_ADMIN)
    @agents_blp.etag
    @agents_blp.arguments(AgentAssignmentsUpdateSchema)
    @agents_blp.response(200, AgentAssignmentsSchema)
    @agents_blp.alt_response(409, description="A queue is deactivated or its firm not active.")
    def put(self, assignments_in, agent_id):
        """Set the queues, of any client firms, the agent serves, each with a priority

        The list is complete: queues left out are unassigned and leave the agent's active
        queues. Unknown queues answer 422; newly listed queues must be active, of an active
        client firm (409 otherwise); queues already served may stay while their firm is
        suspended.
        """
        agent = _agent_or_404(agent_id)
        agents_blp.check_etag(
            queue_assignments.assignments(agent=agent, tenant_ids=None), AgentAssignmentsSchema
        )
        queue_assignments.set_assignments(
            agent=agent, assignments_in=assignments_in["assignments"], actor=current_actor()
        )
        return queue_assignments.assignments(agent=agent, tenant_ids=None)


@agents_blp.route("/<uuid:agent_id>/assignments/<uuid:queue_id>")
class AgentAssignmentByQueue(MethodView):
    @require(AGENT_ADMIN)
    @agents_blp.arguments(AssignmentPriorityUpdateSchema)
    @agents_blp.response(200, AgentAssignmentsSchema)
    @agents_blp.alt_response(404, description="No such agent or queue.")
    @agents_blp.alt_response(409, description="The queue is deactivated or its firm not active.")
    def put(self, assignment_in, agent_id, queue_id):
        """Assign the agent to one queue, or change its priority there, leaving the others

        No need to send (or read first) the whole list. A queue newly assigned must be active,
        of an active client firm (409 otherwise). Audited like a change of the whole list.
        Answers the agent's assignments after the change.
        """
        agent = _agent_or_404(agent_id)
        queue_assignments.put(
            agent=agent,
            queue_id=queue_id,
            priority=assignment_in["priority"],
            actor=current_actor(),
        )
        return queue_assignments.assignments(agent=agent, tenant_ids=None)

    @require(AGENT_ADMIN)
    @agents_blp.response(204)
    @agents_blp.alt_response(404, description="No such agent, or it does not serve the queue.")
    def delete(self, agent_id, queue_id):
        """Unassign the agent from one queue, leaving the others

        The queue also leaves the agent's active queues. Audited like a change of the whole
        list.
        """
        queue_assignments.delete(
            agent=_agent_or_404(agent_id), queue_id=queue_id, actor=current_actor()
        )


@agents_blp.route("/<uuid:agent_id>/timeline")
class AgentTimeline(MethodView):
    @require(AGENT_READ)
    @agents_blp.arguments(TimelineQueryArgsSchema, location="query")
    @agents_blp.response(200, TimelineSchema)
    def get(self, args, agent_id):
        """Read the agent's day: presence changes, queue switches and time per client firm

        A supervisor sees only the client firms they oversee: segments of other firms are
        left out, and events show only the queues of overseen firms.
        """
        agent = _agent_or_404(agent_id)
        to = args.get("to") or utcnow()
        from_ = args.get("from_") or to - timedelta(days=1)
        # With a default filled in, the range is checked here rather than by the schema.
        if from_ >= to:
            abort(422, errors={"query": {"from": ["`from` must be before `to`."]}})
        if to - from_ > timedelta(days=MAX_TIMELINE_DAYS):
            abort(
                422,
                errors={
                    "query": {"from": [f"The range may span at most {MAX_TIMELINE_DAYS} days."]}
                },
            )
        return agent_timeline.timeline(
            agent=agent, tenant_ids=_overseen(current_principal()), from_=from_, to=to
        )


# --- /v1/supervisors -------------------------------------------------------------------------


def _supervisor_or_404(user_id: uuid.UUID):
    return found(supervisors_service.get_supervisor(user_id=user_id), "No such supervisor.")


@supervisors_blp.route("")
class Supervisors(MethodView):
    @require(AGENT_ADMIN)
    @supervisors_blp.response(200, SupervisorSchema(many=True))
    @supervisors_blp.paginate()
    def get(self, pagination_parameters):
        """List the supervisors, each with the client firms they oversee, by name

        A supervisor overseeing no firm any more holds no membership and is not listed.
        """
        count, supervisors = supervisors_service.list_(
            offset=pagination_parameters.first_item, limit=pagination_parameters.page_size
        )
        pagination_parameters.item_count = count
        return supervisors


@supervisors_blp.route("/<uuid:user_id>/tenants")
class SupervisorTenants(MethodView):
    @require(AGENT_ADMIN)
    @supervisors_blp.etag
    @supervisors_blp.response(200, SupervisorTenantsSchema)
    def get(self, user_id):
        """List the client firms a supervisor oversees"""
        return supervisors_service.supervised_tenants(user=_supervisor_or_404(user_id))

    @require(AGENT_ADMIN)
    @supervisors_blp.etag
    @supervisors_blp.arguments(SupervisorTenantsUpdateSchema)
    @supervisors_blp.response(200, SupervisorTenantsSchema)
    @supervisors_blp.alt_response(409, description="An offboarded client firm was listed.")
    def put(self, tenants_in, user_id):
        """Set the client firms a supervisor oversees (the full list)"""
        user = _supervisor_or_404(user_id)
        supervisors_blp.check_etag(
            supervisors_service.supervised_tenants(user=user), SupervisorTenantsSchema
        )
        return supervisors_service.set_supervised_tenants(
            user=user, tenant_ids=tenants_in["tenant_ids"], actor=current_actor()
        )


# --- /v1/me ----------------------------------------------------------------------------------


def _my_agent(*, lock: bool = False) -> Agent:
    """The calling agent's active profile, or 403; with `lock`, its row locked at once (as
    every change of an agent's work takes it: one read instead of two)."""
    agent_id = current_principal().agent_id
    if agent_id is None:
        agent = None
    elif lock:
        agent = agents_common.lock_id(agent_id)
    else:
        agent = agents_service.get(agent_id=agent_id)
    if agent is None or not agent.is_active:
        abort(403, message="You have no active agent profile; a BPO admin manages agents.")
    return agent


@me_blp.route("")
class Me(MethodView):
    @me_blp.response(200, MeSchema)
    def get(self):
        """Read who you are: your user, your roles per client firm, your agent profile

        Open to every authenticated caller, whatever its role and token scopes.
        """
        principal = current_principal()
        return me_service.caller_profile(
            user_id=principal.user_id,
            client_id=principal.client_id,
            platform_roles=principal.platform_roles,
            tenant_roles=principal.tenant_roles,
            scopes=principal.scopes,
        )


@me_blp.route("/queues")
class MyQueues(MethodView):
    @require(AGENT_WORK)
    @me_blp.response(200, MeQueueSchema(many=True))
    def get(self):
        """List your assigned queues across client firms, with what waits and the briefings"""
        return me_service.my_queues(agent=_my_agent())


@me_blp.route("/active-queues")
class MyActiveQueues(MethodView):
    @require(AGENT_WORK)
    @me_blp.arguments(ActiveQueuesUpdateSchema)
    @me_blp.response(200, AgentStateSchema)
    @me_blp.alt_response(409, description="A queue is deactivated or its firm not active.")
    def put(self, queues_in):
        """Switch the queues you take work from (assigned ones of active client firms)

        Every switch is logged, and your working time from now on is attributed to the client
        firms of these queues, in equal shares.
        """
        return agent_presence.set_active_queues(
            agent=_my_agent(), queue_ids=queues_in["queue_ids"], actor=current_actor()
        )


@me_blp.route("/presence")
class MyPresence(MethodView):
    @require(AGENT_WORK)
    @me_blp.arguments(PresenceUpdateSchema)
    @me_blp.response(200, AgentStateSchema)
    def put(self, presence_in):
        """Set your presence: available, busy, break or offline

        Available and busy time is attributed to the client firms of your active queues.
        Presence also follows your work by itself: at your concurrency cap on every channel
        you work you are `busy` (`presence_auto`), and `available` again when a contact
        leaves you; resolving your last contact puts you in `after_contact_work` for it, whose
        time is handle time of that contact's firm alone. `after_contact_work` cannot be set
        here (422); setting any presence ends it ("Ready" is `available`), adding its seconds
        to the contact's `acw_seconds`. A `busy` you set stays until you change it. Setting
        `available` while at your cap answers `busy`.
        """
        return agent_presence.set_presence(
            agent=_my_agent(), presence=presence_in["presence"], actor=current_actor()
        )


@me_blp.route("/next")
class MyNextContact(MethodView):
    @require(AGENT_WORK)
    @me_blp.response(200, MyContactSchema)
    @me_blp.alt_response(
        409,
        schema=NothingToClaimSchema,
        content_type="application/problem+json",
        description="Nothing to claim now; `reason` (and the counts) say why.",
    )
    def post(self):
        """Claim the next contact from your active queues, or be told why there is none

        The best waiting contact you may take, across your active queues of active client
        firms: the firm first (SLA risk, then the one you served longest ago), then within it
        the highest priority, nearest SLA deadline, oldest. Only contacts on channels where you
        have spare concurrency and in languages you speak. Presence must be `available`,
        `busy` by the work rules (`presence_auto`: at your concurrency cap), or
        `after_contact_work`: Next ends the wrap-up (its seconds go to the contact wrapped
        up) and claims; if nothing can be claimed, nothing changes and the wrap-up goes on.
        After the claim, at your concurrency cap you are `busy`.

        With nothing to claim the answer is a 409 problem (not an empty 204) whose `reason`
        says why: `profile_inactive`; `presence_not_available` (with `presence`);
        `no_active_queue` (none chosen, or none usable; `queues` counts assigned, active and
        usable ones); `nothing_waiting`; `needs_unmet`: contacts wait but each needs a channel
        you do not work, a channel where your concurrency is full, or a language you do not
        speak (`needs` counts them by channel and language; `waiting` totals); `taken`: what
        fitted was just claimed by another agent, try again.
        """
        agent = _my_agent(lock=True)
        claimed = dialer.claim_next_described(agent=agent, actor=current_actor())
        if claimed is None:
            raise routing.nothing_to_claim(agent=agent)
        return claimed[1]


@me_blp.route("/contacts")
class MyContacts(MethodView):
    @require(AGENT_WORK)
    @me_blp.response(200, MyContactSchema(many=True))
    def get(self):
        """List the contacts you hold now, across client firms, oldest assignment first

        Held means assigned, active, on hold, waiting for the customer or escalated.
        """
        return routing.held(agent=_my_agent())
