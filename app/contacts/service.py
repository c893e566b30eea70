"""Contacts of the tenant in scope: reading them and their history, and the lifecycle actions
(with the checks and the history record that intake shares).

Services take keyword arguments, return ORM objects (or a select to paginate) and never commit.
They act on the tenant in scope (for an agent: only the contacts of its queues).
The SLA engine (app.sla.service) keeps each contact's clocks as it changes. Intake lives in
app.contacts.intake, departments in app.contacts.departments.
May import: app.db, app.errors, app.contacts (models, lifecycle, schemas, events, messages,
escalations, search),
app.agents (models, presence), app.queues.models, app.sla.service, billing.service (usage),
tenants (models, scoping, service), app.metrics (counted on commit).
"""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, select

from app.agents import presence as agent_presence
from app.agents.models import Agent, Assignment
from app.contacts import escalations, lifecycle
from app.contacts import events as contact_log
from app.contacts import messages as contacts_messages
from app.contacts import search as contacts_search
from app.contacts.models import Contact, ContactEvent, Department
from app.contacts.schemas import claim_outcome_errors
from app.db import db, utcnow
from app.errors import Conflict, Unprocessable
from app.metrics import CONTACTS_HANDLED, count_on_commit
from app.queues.models import Queue
from app.sla import service as sla_service
from billing import service as billing_service
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tenants.service import Actor

# --- contacts: reading -----------------------------------------------------------------------


def get(*, contact_id: uuid.UUID, for_update: bool = False) -> Contact | None:
    """Return one contact in scope; `for_update` locks its row until the transaction ends."""
    stmt = select(Contact).where(Contact.id == contact_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(stmt)


def list_(
    *,
    status: str | None = None,
    queue_id: uuid.UUID | None = None,
    channel: str | None = None,
    category: str | None = None,
    priority: str | None = None,
    agent_id: uuid.UUID | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    q: str | None = None,
    include_notes: bool = True,
) -> Select:
    """Select the contacts in scope, newest first, filtered by what is given; with `q`,
    those it finds, best first (app.contacts.search; notes searched if `include_notes`)."""
    stmt = select(Contact).order_by(Contact.created_at.desc(), Contact.id.desc())
    for column, value in (
        (Contact.status, status),
        (Contact.queue_id, queue_id),
        (Contact.channel, channel),
        (Contact.category, category),
        (Contact.priority, priority),
        (Contact.agent_id, agent_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if created_from is not None:
        stmt = stmt.where(Contact.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(Contact.created_at < created_to)
    if q is not None:
        stmt = contacts_search.narrow(stmt, q=q, include_notes=include_notes)
    return stmt


def list_events(*, contact: Contact) -> Select:
    """Select a contact's history, oldest first."""
    return (
        select(ContactEvent)
        .where(ContactEvent.contact_id == contact.id)
        .order_by(ContactEvent.occurred_at, ContactEvent.id)
    )


# --- contacts: lifecycle ---------------------------------------------------------------------

# Actions that give an agent a contact or take one from it: its presence follows
# (app.agents.presence.follow_work).
_MOVES_HELD_WORK = frozenset({"assign", "release", "transfer", "resolve", "unreached"})
# The moves that end a contact's handling.
_ENDS = frozenset({"resolve", "unreached"})


def act(
    *,
    contact: Contact,
    action: str,
    action_in: dict,
    tenant: Tenant,
    actor: Actor,
    acting_agent_id: uuid.UUID | None = None,
    now: datetime | None = None,
    by_disposition: bool = False,
) -> Contact:
    """Apply a lifecycle action to a (locked) contact, record it, and return the contact.

    Raises Conflict (with `allowed_actions`) for a move the lifecycle does not allow, and
    Unprocessable for what the action names (agent, queue, department, outcome) that does not fit.
    A campaign's attempt ends only `by_disposition` (app.campaigns.dispositions), which also
    moves its record on and bills it by the campaign's terms.
    """
    at = now or utcnow()
    if contact.campaign_record_id is not None and action in _ENDS and not by_disposition:
        raise Conflict(
            "A campaign attempt ends with its disposition: POST "
            f"/v1/tenants/{tenant.id}/contacts/{contact.id}/disposition.",
            allowed_actions=[],
            contact_status=contact.status,
        )
    ended_at = utc(action_in.get("ended_at"))
    allowed = lifecycle.allowed_actions(status=contact.status, channel=contact.channel)
    if ended_at is not None and action in allowed and not contact.status_since <= ended_at <= at:
        raise invalid("ended_at", "Must lie between the contact's last change and now.")
    try:
        move = lifecycle.plan(
            action=action,
            contact=contact,
            at=at,
            reopen_window=timedelta(days=tenant.reopen_window_days),
            ended_at=ended_at,
        )
    except lifecycle.IllegalMove as exc:
        raise Conflict(str(exc), allowed_actions=exc.allowed, contact_status=exc.status) from exc

    extra, details = _action_changes(contact, action, action_in)
    # The clocks first see the contact as it was, up to `at`, then what the action does.
    sla_service.apply_action(contact=contact, action=action, to_status=move.to_status, at=at)
    previous_agent_id = contact.agent_id
    from_status = contact.status
    # A transfer may hand the contact to a queue the acting agent does not serve. The row then
    # leaves the agent's sight, and PostgreSQL checks an UPDATE's new row against the policy
    # that hides other queues' contacts from an agent (migration 0008), so this one write is
    # made in the whole tenant's scope. Who may transfer was decided before we got here.
    with tenant_scope(tenant.id) if action == "transfer" else nullcontext():
        for name, value in {**move.changes, **extra}.items():
            setattr(contact, name, value)
        db.session.flush()
    if move.to_status == "resolved":
        # The contact is handled now: billed in this transaction, once per contact however
        # often it is reopened and resolved again. Imported history never passes here: it
        # is not billed.
        billing_service.record_usage(contact=contact, at=contact.resolved_at or at)
        if contact.reopen_count == 0 and (contact.answered_at or contact.first_response_at):
            count_on_commit(db.session, CONTACTS_HANDLED, channel=contact.channel)
    add_event(
        contact,
        action=action,
        from_status=from_status,
        at=at,
        actor=actor,
        agent_id=extra.get("agent_id") or previous_agent_id or acting_agent_id,
        note=action_in.get("note"),
        details=details,
    )
    contact_log.acted(
        contact,
        action=action,
        previous_status=from_status,
        at=at,
        previous_agent_id=previous_agent_id,
        previous_queue_id=details.get("from_queue_id"),
    )
    if action == "escalate":
        # Kept with the move: the department's mail goes from it once this commits (worker).
        escalations.open_(
            contact=contact,
            department=db.session.get(Department, contact.department_id),
            note=action_in.get("note"),
            actor=actor,
            at=at,
        )
    elif from_status == "escalated":
        # Taken back before the department answered: its link stops working.
        escalations.end_open(contact=contact, at=at)
    if action == "respond" and action_in.get("message"):
        # The reply's text joins the thread with the action, or neither is kept.
        contacts_messages.add(
            contact=contact,
            kind="reply",
            body=action_in["message"]["body"],
            body_format=action_in["message"].get("body_format", "text"),
            actor=actor,
            tenant=tenant,
            now=at,
        )
    if action in _MOVES_HELD_WORK:
        # Wrap-up follows the agent's own resolve: one resolved by a supervisor leaves its
        # agent simply with a contact fewer.
        own = action in _ENDS and acting_agent_id is not None
        agent_presence.follow_work(
            agent_ids=[previous_agent_id, contact.agent_id],
            actor=actor,
            now=at,
            resolved=contact if own and acting_agent_id == previous_agent_id else None,
        )
    return contact


def _action_changes(contact: Contact, action: str, action_in: dict) -> tuple[dict, dict]:
    """The fields an action sets beyond the lifecycle's own, and the details it records."""
    if action == "assign":
        agent_id = action_in["agent_id"]
        _check_agent_serves(agent_id, contact.queue_id)
        return {"agent_id": agent_id}, {"previous_agent_id": _str(contact.agent_id)}
    if action == "transfer":
        queue = named_queue(db.session.get(Queue, action_in["queue_id"]), contact.channel)
        # `requeue` (never from the API: its schema has no such field) puts a contact back in
        # line in its own queue, e.g. one a department answered whose agent has gone.
        if queue.id == contact.queue_id and not action_in.get("requeue"):
            raise invalid("queue_id", "The contact is already in this queue.")
        return {"queue_id": queue.id}, {
            "from_queue_id": str(contact.queue_id),
            "to_queue_id": str(queue.id),
        }
    if action == "escalate":
        department = db.session.get(Department, action_in["department_id"])
        if department is None or not department.is_active:
            raise invalid("department_id", "Not an active department of this client firm.")
        return {"department_id": department.id}, {"department_id": str(department.id)}
    if action == "resolve":
        errors = claim_outcome_errors({**action_in, "category": contact.category})
        if contact.category == "claim" and action_in.get("outcome") is None:
            errors["outcome"] = ["A claim is resolved with its outcome."]
        if errors:
            raise Unprocessable(
                f"Invalid input: {', '.join(sorted(errors))}.", errors={"json": errors}
            )
        changes = {
            "disposition": action_in["disposition"],
            "resolution_note": action_in["resolution_note"],
        }
        if contact.category == "claim":
            changes["outcome"] = action_in["outcome"]
            changes["compensation_amount"] = action_in.get("compensation_amount")
        details = {k: v for k, v in changes.items() if k != "resolution_note"}
        if action_in.get("ended_at"):
            details["ended_at"] = utc(action_in["ended_at"]).isoformat()
        return changes, details
    if action == "csat":
        if contact.csat is not None:
            raise Conflict(f"The contact already has a CSAT score ({contact.csat}).")
        return {"csat": action_in["score"]}, {"score": action_in["score"]}
    return {}, {}


def _check_agent_serves(agent_id: uuid.UUID, queue_id: uuid.UUID) -> None:
    agent = db.session.get(Agent, agent_id)
    serves = db.session.scalar(
        select(Assignment.id).where(
            Assignment.agent_id == agent_id, Assignment.queue_id == queue_id
        )
    )
    if agent is None or not agent.is_active or serves is None:
        raise invalid("agent_id", "Not an active agent assigned to the contact's queue.")


def add_event(
    contact: Contact,
    *,
    action: str,
    from_status: str | None,
    at: datetime,
    actor: Actor,
    agent_id: uuid.UUID | None = None,
    note: str | None = None,
    details: dict | None = None,
) -> ContactEvent:
    """Add a contact's history record of an action (intake's and the lifecycle's)."""
    event = ContactEvent(
        contact_id=contact.id,
        occurred_at=at,
        action=action,
        from_status=from_status,
        to_status=contact.status,
        actor_user_id=actor.user_id,
        actor_client_id=actor.client_id,
        agent_id=agent_id or contact.agent_id,
        note=note,
        details=details or {},
    )
    db.session.add(event)
    return event


def invalid(field: str, message: str) -> Unprocessable:
    """The answer to one input field that does not fit."""
    return Unprocessable(f"Invalid input: {field}. {message}", errors={"json": {field: [message]}})


def utc(moment: datetime | None) -> datetime | None:
    """Return `moment` in UTC (None stays None)."""
    # Stored and answered in UTC, so a write answers exactly what a later read does.
    return moment.astimezone(UTC) if moment is not None else None


def _str(value) -> str | None:
    return str(value) if value is not None else None


def named_queue(queue: Queue | None, channel: str) -> Queue:
    """Return the queue a contact is put in by name (intake, transfer), or raise Unprocessable
    saying why it cannot go there."""
    if queue is None:
        problem = "Not a queue of this client firm (or not one of yours)."
    elif not queue.is_active:
        problem = "The queue is deactivated."
    elif channel not in queue.channels:
        problem = f"The queue does not take {channel} contacts."
    else:
        return queue
    raise invalid("queue_id", problem)
