"""HTTP resources of contacts (intake, import, reads, lifecycle actions, message threads) and of
the departments contacts are escalated to."""

from __future__ import annotations

import uuid

from flask import url_for
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema

from app import idempotency
from app.api_base import CSV, NDJSON, Blueprint, SelectPage, batch_rows
from app.auth.permissions import (
    CONTACT_ASSIGN,
    CONTACT_CREATE,
    CONTACT_MESSAGE,
    CONTACT_READ,
    CONTACT_WORK,
    MESSAGE_INBOUND,
    MESSAGE_NOTE,
    MESSAGE_REPLY,
    SETTINGS_ADMIN,
    TENANT_READ,
    Permission,
)
from app.auth.principal import (
    Forbidden,
    check,
    current_actor,
    current_principal,
    current_tenant,
    require,
)
from app.contacts import departments as contacts_departments
from app.contacts import intake as contacts_intake
from app.contacts import messages as contacts_messages
from app.contacts import service as contacts_service
from app.contacts.schemas import (
    ContactActionSchema,
    ContactAssignSchema,
    ContactCreateSchema,
    ContactCsatSchema,
    ContactEscalateSchema,
    ContactEventSchema,
    ContactImportSchema,
    ContactMessageCreateSchema,
    ContactMessageSchema,
    ContactQueryArgsSchema,
    ContactResolveSchema,
    ContactRespondSchema,
    ContactSchema,
    ContactTransferSchema,
    DepartmentCreateSchema,
    DepartmentQueryArgsSchema,
    DepartmentSchema,
    DepartmentUpdateSchema,
)
from app.crud import CollectionView, ItemView, found
from app.db import utcnow
from app.sla import service as sla_service
from app.sla.schemas import ContactSlaSchema

contacts_blp = Blueprint(
    "contacts",
    __name__,
    # Not ".../contacts": the import's path, `contacts:import`, continues that segment.
    url_prefix="/v1/tenants/<uuid:tenant_id>",
    description="A client firm's contacts: intake, history, and the lifecycle's actions.",
)

messages_blp = Blueprint(
    "messages",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/contacts/<uuid:contact_id>/messages",
    description="A contact's thread: the end customer's messages, replies and internal notes.",
)

departments_blp = Blueprint(
    "departments",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/departments",
    description="A client firm's back offices that contacts are escalated to.",
)


@departments_blp.route("")
class Departments(CollectionView):
    blp, schema, query_schema = departments_blp, DepartmentSchema, DepartmentQueryArgsSchema
    create_schema = DepartmentCreateSchema
    read, write = require(TENANT_READ), require(SETTINGS_ADMIN)
    conflict = "A department with this name exists."
    docs = {
        "get": "List the client firm's departments, by name",
        "post": "Add a department contacts can be escalated to",
    }

    def select(self, **args):
        return contacts_departments.list_departments(**args)

    def create(self, department_in, **_path):
        return contacts_departments.create_department(
            department_in=department_in, actor=current_actor()
        )


@departments_blp.route("/<uuid:department_id>")
class DepartmentById(ItemView):
    blp, schema, update_schema = departments_blp, DepartmentSchema, DepartmentUpdateSchema
    read, write = require(TENANT_READ), require(SETTINGS_ADMIN)
    conflict = "A department with this name exists."
    docs = {
        "get": "Read a department",
        "patch": "Change a department's name, kind or email, or reactivate it",
        "delete": """Deactivate a department: no new escalations, history kept

        Idempotent; no If-Match needed. PATCH `is_active: true` brings it back.
        """,
    }

    def item(self, department_id, **_path):
        return found(
            contacts_departments.get_department(department_id=department_id),
            "No such department in this client firm.",
        )

    def update(self, department, department_in):
        return contacts_departments.update_department(
            department=department, department_in=department_in, actor=current_actor()
        )

    def delete_item(self, department):
        contacts_departments.deactivate_department(department=department, actor=current_actor())


# --- contacts --------------------------------------------------------------------------------

# A historical batch is larger than any other request body.
IMPORT_MAX_BYTES = 8 * 1024 * 1024


def _acting_agent_id() -> uuid.UUID | None:
    """The caller's agent profile when it acts on this firm as an agent; None otherwise."""
    principal = current_principal()
    if principal.role_on(current_tenant().id) == "agent":
        return principal.agent_id
    return None


def _agent_queue_ids() -> frozenset[uuid.UUID] | None:
    principal = current_principal()
    if principal.role_on(current_tenant().id) == "agent":
        return principal.queue_ids
    return None


def _contact_or_404(contact_id: uuid.UUID, *, for_update: bool = False):
    # For an agent, the data layer hides contacts outside its queues: they 404 here too.
    contact = contacts_service.get(contact_id=contact_id, for_update=for_update)
    if contact is None:
        abort(404, message="No such contact in this client firm.")
    return contact


@contacts_blp.route("/contacts")
class Contacts(MethodView):
    @require(CONTACT_READ)
    @contacts_blp.arguments(ContactQueryArgsSchema, location="query")
    @contacts_blp.response(200, ContactSchema(many=True))
    @contacts_blp.paginate(SelectPage)
    def get(self, args, tenant_id):
        """List or search the client firm's contacts, newest first

        Filters combine (AND); `created_from` is inclusive, `created_to` exclusive. `q`
        searches (see the parameter) and orders the page best first. An agent sees and finds
        only the contacts of the queues it is assigned to; the firm's integration finds none by
        the words of internal notes unless the firm shares notes with it.
        """
        return contacts_service.list_(**args, include_notes=_include_notes())

    @require(CONTACT_CREATE)
    @contacts_blp.doc(parameters=[idempotency.OPENAPI_PARAMETER])
    @idempotency.idempotent
    @contacts_blp.arguments(ContactCreateSchema)
    @contacts_blp.response(201, ContactSchema)
    @contacts_blp.alt_response(
        200,
        schema=ContactSchema,
        description="The `external_id` was taken in before: the contact made the first time, "
        "with `Idempotent-Replayed: true`; nothing new is created.",
    )
    @contacts_blp.alt_response(409, description="The client firm is suspended.")
    def post(self, contact_in, tenant_id):
        """Take in a contact

        From the firm's integration (any direction), a supervisor, or an agent (outbound, in
        one of its own queues). The contact joins a queue as `queued`:

        - the `queue_id` named, which must be active and take the channel; or else
        - routed: among the firm's active queues taking the channel, those whose categories and
          languages are empty or include the contact's; the most specific first (a named
          category, then a named language), then the oldest queue. None fits: 422 saying why.

        A claim must carry `remedy_requested` and is written (not `voice`). `received_at`
        defaults to now. The end customer is recognised by `customer.ref`, else email, else
        phone, and `customer_contact_number` counts their contacts with the firm.

        Retrying is safe twice over: a repeated `external_id` answers the contact made the first
        time (200, `Idempotent-Replayed: true`), also when both requests race, and an
        `Idempotency-Key` replays the first answer. A suspended firm takes no new contacts (409).
        """
        contact, created = contacts_intake.create(
            contact_in=contact_in,
            tenant=current_tenant(),
            actor=current_actor(),
            agent_queue_ids=_agent_queue_ids(),
        )
        if not created:
            return contact, 200, {idempotency.REPLAYED_HEADER: "true"}
        location = url_for("contacts.ContactById", tenant_id=tenant_id, contact_id=contact.id)
        return contact, 201, {"Location": location}


@contacts_blp.route("/contacts:import")
class ContactImport(MethodView):
    # The one /v1 route whose body is not JSON (see app._require_json_body), and larger than
    # any other (see app._limit_body).
    accepted_body_types = (CSV, NDJSON)
    max_body_bytes = IMPORT_MAX_BYTES

    @require(CONTACT_CREATE)
    @contacts_blp.doc(
        parameters=[idempotency.OPENAPI_PARAMETER],
        requestBody={
            "required": True,
            "content": {
                CSV: {
                    "schema": {"type": "string"},
                    "example": "external_id,channel,direction,category,subject,"
                    "customer_email,received_at,status,resolved_at,disposition\n"
                    "ZD-1,email,inbound,complaint,Late parcel,ana@example.com,"
                    "2025-11-03T09:12:00+01:00,resolved,2025-11-03T11:40:00+01:00,refunded\n",
                },
                NDJSON: {
                    "schema": {"type": "string"},
                    "example": '{"external_id": "ZD-2", "channel": "chat", "category": '
                    '"information_request", "received_at": "2025-11-04T10:00:00Z"}\n',
                },
            },
        },
    )
    @idempotency.idempotent
    @contacts_blp.response(201, ContactImportSchema)
    @contacts_blp.alt_response(409, description="The client firm is suspended.")
    @contacts_blp.alt_response(
        422,
        description="Some rows were rejected; nothing was imported. `report` lists each "
        "rejected row as `{line, errors}` (errors by field).",
    )
    def post(self, tenant_id):
        """Import a batch of historical contacts (CSV or JSON lines), all or nothing

        The body is `text/csv` with a header row, or `application/x-ndjson` with one JSON object
        per line; at most 10,000 rows and 8 MiB. Every row is what `POST .../contacts` takes
        (in CSV, the end customer as `customer_name`, `customer_email`, `customer_phone`,
        `customer_ref` columns; empty cells are absent), plus its history: `status`
        (`queued`, default, or `resolved` / `closed` with `resolved_at` / `closed_at`), and
        `answered_at`, `first_response_at`, `disposition`, `resolution_note`, `outcome`,
        `compensation_amount`, `csat`. Rows are routed like single contacts; an `external_id`
        already taken, or repeated in the batch, rejects its row.

        If any row is rejected, nothing is imported: a 422 whose `report` names every rejected
        line (the file's line number) and its fields. Otherwise 201 with the new ids in row order.
        Agents cannot import.
        """
        if current_principal().role_on(tenant_id) == "agent":
            raise Forbidden(
                "Agents record single contacts; a batch import is for the firm or staff."
            )
        rows = batch_rows(
            what="batch",
            parse_csv=contacts_intake.rows_from_csv,
            parse_ndjson=contacts_intake.rows_from_ndjson,
            max_rows=contacts_intake.IMPORT_MAX_ROWS,
        )
        contacts = contacts_intake.import_(
            rows=rows, tenant=current_tenant(), actor=current_actor()
        )
        return {"imported": len(contacts), "ids": [c.id for c in contacts]}


@contacts_blp.route("/contacts/<uuid:contact_id>")
class ContactById(MethodView):
    @require(CONTACT_READ)
    @contacts_blp.etag
    @contacts_blp.response(200, ContactSchema)
    def get(self, tenant_id, contact_id):
        """Read a contact, with the actions allowed on it now"""
        return _contact_or_404(contact_id)


@contacts_blp.route("/contacts/<uuid:contact_id>/sla")
class ContactSla(MethodView):
    @require(CONTACT_READ)
    @contacts_blp.response(200, ContactSlaSchema)
    def get(self, tenant_id, contact_id):
        """Read a contact's SLA clocks: target, deadline, business time used, paused, state

        One clock per goal: `first_response` (answering, for voice and chat; the first
        response, for written channels; none for outbound contacts) and `resolution`, each
        with the target the firm's default SLA policy set when the contact arrived (the most
        specific target for its priority, channel and category). Time is counted in business
        seconds on the firm's calendar (the version in force when the time passed, in its
        time zone, skipping holidays and closures), up to now:

        - `elapsed_seconds` counts against the target, `remaining_seconds` is what is left
          (negative by the overdue time: a breached clock keeps counting until it stops);
        - clocks pause while the contact waits on the customer, and while it is escalated when
          the policy says so (`paused`, `paused_seconds`), and resume where they were;
        - `state` is `ok`, `at_risk` (the policy's `at_risk_bps` share of the target is used),
          `breached`, `met` (stopped in time) or `cancelled` (abandoned); a deadline that has
          come shows `breached` at once, with `breached_at` the instant the target ran out.

        The contact's `state` is the worst of its clocks and `due_at` the nearest deadline of
        those running. A contact of a firm with no business calendar or no default SLA policy
        has no clocks; `note` says why. Agents see the contacts of their queues only.
        """
        contact = _contact_or_404(contact_id)
        return sla_service.sla_of(contact=contact, now=utcnow())


@contacts_blp.route("/contacts/<uuid:contact_id>/events")
class ContactEvents(MethodView):
    @require(CONTACT_READ)
    @contacts_blp.response(200, ContactEventSchema(many=True))
    @contacts_blp.paginate(SelectPage)
    def get(self, tenant_id, contact_id):
        """List a contact's history, oldest first: who did what, when, from and to which status"""
        return contacts_service.list_events(contact=_contact_or_404(contact_id))


# --- contact actions -------------------------------------------------------------------------

_HOLDER_RULE = (
    "An agent may act only on a contact it holds (assigned to it); a contact outside its "
    "queues is 404."
)
# action: (permission, body, summary, description)
ACTIONS: dict[str, tuple[Permission, type[Schema], str, str]] = {
    "assign": (
        CONTACT_ASSIGN,
        ContactAssignSchema,
        "Assign (or reassign) a waiting contact to an agent",
        "From `queued`, `reopened` or `assigned`. The agent must be active and assigned to the "
        "contact's queue. Sets `assigned_at`; the queue wait so far is added to "
        "`queued_seconds`.",
    ),
    "release": (
        CONTACT_WORK,
        ContactActionSchema,
        "Release an assigned contact back to its queue, keeping its place",
        "From `assigned`; `queued_at` is kept, so it is served as if it never left.",
    ),
    "answer": (
        CONTACT_WORK,
        ContactActionSchema,
        "Answer an assigned voice or chat contact",
        "From `assigned` to `active`; sets `answered_at` the first time.",
    ),
    "respond": (
        CONTACT_WORK,
        ContactRespondSchema,
        "Respond to an email, web or social contact",
        "From `assigned` (to `active`) or `active`; sets `first_response_at` the first time. "
        "With a `message`, its text is added to the contact's thread as a `reply`, in the same "
        "transaction.",
    ),
    "hold": (
        CONTACT_WORK,
        ContactActionSchema,
        "Put an active contact on hold",
        "From `active` to `on_hold`; the talk time so far is added to `talk_seconds`.",
    ),
    "resume": (
        CONTACT_WORK,
        ContactActionSchema,
        "Resume a contact that was on hold, waiting for the customer, or escalated",
        "Back to `active`; time on hold is added to `hold_seconds`.",
    ),
    "wait-customer": (
        CONTACT_WORK,
        ContactActionSchema,
        "Wait for the end customer",
        "From `active` to `waiting_customer` (the SLA clock pauses there).",
    ),
    "transfer": (
        CONTACT_WORK,
        ContactTransferSchema,
        "Transfer a contact to another queue of the firm",
        "From `queued`, `reopened`, `assigned` or `active`: it waits in the new queue (which "
        "must be active and take the channel), unassigned.",
    ),
    "escalate": (
        CONTACT_WORK,
        ContactEscalateSchema,
        "Escalate an active contact to a department, with a note",
        "From `active` to `escalated`; the department must be active. `resume` brings it back.",
    ),
    "resolve": (
        CONTACT_WORK,
        ContactResolveSchema,
        "Resolve an active contact",
        "From `active` to `resolved`, with a disposition and a resolution note. Talk time runs "
        "to `ended_at` (default now) and after-contact work from it to now. A claim also needs "
        "its `outcome` (`granted`, `partially_granted`, `denied`) and, if granted, the "
        "`compensation_amount` in minor units.",
    ),
    "close": (
        CONTACT_WORK,
        ContactActionSchema,
        "Close a resolved contact",
        "From `resolved` to `closed`; sets `closed_at`.",
    ),
    "reopen": (
        CONTACT_CREATE,
        ContactActionSchema,
        "Reopen a resolved or closed contact (the end customer came back)",
        "Within the firm's reopen window (`reopen_window_days`) after it was closed (or "
        "resolved): back to its queue as `reopened`, unassigned, with `reopen_count` + 1. The "
        "firm's integration may report it too.",
    ),
    "abandon": (
        CONTACT_CREATE,
        ContactActionSchema,
        "Record that the end customer hung up or left while waiting",
        "A queued voice or chat contact becomes `abandoned`; the firm's integration (the "
        "telephony or chat system) may report it too.",
    ),
    "csat": (
        CONTACT_CREATE,
        ContactCsatSchema,
        "Record the end customer's satisfaction score (1-5), once",
        "Only on a resolved or closed contact; a second score is a 409. The firm's "
        "integration (its survey tool) may report it too.",
    ),
}


def _act(action: str, action_in: dict, contact_id: uuid.UUID):
    contact = _contact_or_404(contact_id, for_update=True)
    agent_id = _acting_agent_id()
    if agent_id is not None and contact.agent_id != agent_id:
        raise Forbidden("Agents act only on the contacts assigned to them.")
    return contacts_service.act(
        contact=contact,
        action=action,
        action_in=action_in,
        tenant=current_tenant(),
        actor=current_actor(),
        acting_agent_id=agent_id,
    )


def _action_view(action: str) -> type[MethodView]:
    permission, schema, summary, description = ACTIONS[action]

    def post(self, action_in, tenant_id, contact_id):
        return _act(action, action_in, contact_id)

    post.__doc__ = f"{summary}\n\n{description} {_HOLDER_RULE}"
    post = contacts_blp.alt_response(
        409,
        description="The contact's status does not allow this action: `detail` and "
        "`allowed_actions` say what it allows now (`contact_status`).",
    )(post)
    post = contacts_blp.response(200, ContactSchema)(post)
    post = contacts_blp.arguments(schema)(post)
    post = require(permission)(post)
    name = "Contact" + "".join(part.capitalize() for part in action.split("-"))
    view = type(name, (MethodView,), {"post": post, "__doc__": summary})
    return contacts_blp.route(f"/contacts/<uuid:contact_id>/{action}")(view)


for _action in ACTIONS:
    _action_view(_action)


# --- a contact's thread ----------------------------------------------------------------------

# Who may add each kind of message, once the caller may add messages at all.
_MESSAGE_KINDS = {"inbound": MESSAGE_INBOUND, "reply": MESSAGE_REPLY, "note": MESSAGE_NOTE}


def _include_notes() -> bool:
    tenant = current_tenant()
    return current_principal().role_on(tenant.id) != "integration" or (
        tenant.share_notes_with_integration
    )


@messages_blp.route("")
class ContactMessages(MethodView):
    @require(CONTACT_READ)
    @messages_blp.response(200, ContactMessageSchema(many=True))
    @messages_blp.paginate(SelectPage)
    def get(self, tenant_id, contact_id):
        """List a contact's messages, oldest first

        The end customer's (`inbound`), the replies, the internal notes and the answers of
        the firm's departments to escalations (`department`). The firm's integration reads
        notes only when the firm shares them (`share_notes_with_integration` on the firm);
        departments' answers, the firm's own words, always. An agent reads the threads of the
        contacts of its queues.
        """
        return contacts_messages.list_(
            contact=_contact_or_404(contact_id), include_notes=_include_notes()
        )

    @require(CONTACT_MESSAGE)
    @messages_blp.doc(parameters=[idempotency.OPENAPI_PARAMETER])
    @idempotency.idempotent
    @messages_blp.arguments(ContactMessageCreateSchema)
    @messages_blp.response(201, ContactMessageSchema)
    @messages_blp.alt_response(
        200,
        schema=ContactMessageSchema,
        description="The `external_id` was posted to this contact before: the message made "
        "the first time, with `Idempotent-Replayed: true`; nothing new is added.",
    )
    @messages_blp.alt_response(
        409, description="The `external_id` names another kind of message of this contact."
    )
    def post(self, message_in, tenant_id, contact_id):
        """Add a message to a contact's thread

        By kind: `inbound`, the end customer's message, is posted by the firm's integration
        (with the customer's `author_name` if it has it); a `reply` to the end customer by the
        agent holding the contact (staff record replies through `respond`); a `note`, internal,
        by the BPO's staff (BPO admins, supervisors, agents of the contact's queue). Another
        kind is a 403. A message changes nothing of the contact's status: `respond` is the
        action that counts the first response. It is recorded as a `contact.message.created`
        event; only a reply's event carries its text.

        HTML bodies are sanitised and every body is capped (see `body`). Retrying is safe: a
        repeated `external_id` on the contact answers the message made the first time (200),
        and an `Idempotency-Key` replays the first answer.
        """
        contact = _contact_or_404(contact_id)
        kind = message_in["kind"]
        check(_MESSAGE_KINDS[kind])
        agent_id = _acting_agent_id()
        if kind == "reply" and contact.agent_id != agent_id:
            raise Forbidden("Agents reply only on the contacts assigned to them.")
        message, created = contacts_messages.add(
            contact=contact,
            kind=kind,
            body=message_in["body"],
            body_format=message_in["body_format"],
            channel=message_in.get("channel"),
            author_name=message_in.get("author_name"),
            external_id=message_in.get("external_id"),
            actor=current_actor(),
            tenant=current_tenant(),
        )
        if not created:
            return message, 200, {idempotency.REPLAYED_HEADER: "true"}
        return message, 201
