"""A department's answer to an escalation, through the link of its mail (no account): the
answer joins the contact's thread, the contact goes back to its agent (or, the agent gone, to
its queue) as `resume` does, so the SLA clocks resume as the firm's policy says, and the
`contact.department_answered` event is recorded. All in the caller's transaction.

The link is the credential: nothing here knows a firm before the link's row is read, and
everything after is done in that firm's scope. May import: app.db, app.agents.models,
app.contacts (escalations, messages, models, service), app.events.service, tenants (models,
scoping, service).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from app.agents.models import Agent, Assignment
from app.contacts import escalations
from app.contacts import messages as contacts_messages
from app.contacts import service as contacts_service
from app.contacts.models import Contact, Department, Escalation
from app.db import db, utcnow
from app.events import service as events_service
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tenants.service import Actor

OUTCOMES = ("done", "needs_more")
_HISTORY = {
    "done": "{department} answered: done.",
    "needs_more": "{department} answered: needs more.",
}


@dataclass(frozen=True)
class Request:
    """What the answer page shows: the escalation, its contact, department and firm."""

    escalation: Escalation
    contact: Contact
    department: Department
    tenant: Tenant


def open_request(*, token: str) -> Request:
    """The escalation a link opens and what the page shows of it, or raise
    escalations.LinkRefused."""
    escalation = escalations.find(token=token)
    with tenant_scope(escalation.tenant_id):
        return Request(
            escalation,
            db.session.get(Contact, escalation.contact_id),
            db.session.get(Department, escalation.department_id),
            db.session.get(Tenant, escalation.tenant_id),
        )


def answer(*, token: str, body: str, outcome: str, now: datetime | None = None) -> Escalation:
    """Record a department's answer through its link, once; raise escalations.LinkRefused when
    the link cannot be used (and Unprocessable, on `body`, for an empty or too long answer)."""
    assert outcome in OUTCOMES, outcome
    at = now or utcnow()
    found = escalations.find(token=token)
    with tenant_scope(found.tenant_id):
        # Single use across processes: the row locked, then checked again.
        escalation = db.session.scalar(
            select(Escalation)
            .where(Escalation.id == found.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if escalation.used_at is not None or escalation.ended_at is not None:
            raise escalations.LinkRefused("used" if escalation.used_at else "ended")
        contact = contacts_service.get(contact_id=escalation.contact_id, for_update=True)
        department = db.session.get(Department, escalation.department_id)
        tenant = db.session.get(Tenant, escalation.tenant_id)
        actor = Actor(client_id=f"department:{department.id}")
        escalations.end(escalation=escalation, outcome=outcome, at=at, used=True)
        # The firm's back office writes to the BPO's agent, not to the end customer: never
        # sent, yet the firm's own words, which its integration reads (not an internal note).
        message, _new = contacts_messages.add(
            contact=contact,
            kind="department",
            body=body,
            actor=actor,
            tenant=tenant,
            author_name=department.name,
            now=at,
        )
        history = _HISTORY[outcome].format(department=department.name)
        contacts_service.act(
            contact=contact,
            action="resume",
            action_in={"note": history},
            tenant=tenant,
            actor=actor,
            now=at,
        )
        if not _agent_still_serves(contact):
            contacts_service.act(
                contact=contact,
                action="transfer",
                action_in={"queue_id": contact.queue_id, "requeue": True, "note": history},
                tenant=tenant,
                actor=actor,
                now=at,
            )
        events_service.record(
            type="contact.department_answered",
            payload={
                "contact_id": str(contact.id),
                "escalation_id": str(escalation.id),
                "department_id": str(department.id),
                "message_id": str(message.id),
                "outcome": outcome,
                "status": contact.status,
                "agent_id": str(contact.agent_id) if contact.agent_id else None,
                "escalated_at": escalation.started_at.astimezone(UTC).isoformat(),
                "seconds_with_department": escalation.seconds,
            },
            occurred_at=at,
        )
    return escalation


def _agent_still_serves(contact: Contact) -> bool:
    """Whether the contact's agent is still active and assigned to its queue."""
    if contact.agent_id is None:
        return False
    agent = db.session.get(Agent, contact.agent_id)
    serves = db.session.scalar(
        select(Assignment.id).where(
            Assignment.agent_id == contact.agent_id, Assignment.queue_id == contact.queue_id
        )
    )
    return agent is not None and agent.is_active and serves is not None
