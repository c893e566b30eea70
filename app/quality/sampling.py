"""Sampling: handled contacts reach the review queue by the firm's rule, as the domain events
say they were handled (a consumer of the event log, listed in app/worker.py's CONSUMERS).

For each contact resolved (or closed without being resolved) by an agent:
- a complaint or a claim is drawn at the rule's complaint share (else its general share), any
  other contact at the general share; the draw is the contact id's own random bits (a uuid4's
  integer modulo 10,000 against the share in basis points), so it is uniform and the same
  however often the event is handled;
- while its agent has fewer reviews queued this week (the firm's week, Monday to Sunday in
  its zone) than the rule's `per_agent_per_week`, the contact is taken whatever the draw: the
  floor a contract sets per agent, met by the first contacts of the week;
- a contact is queued once, on the scorecard that applies to it; none applies: not queued.
May import: app.contacts.models, app.db, app.events.models, app.quality (evaluations, models,
service), app.reports.periods, tenants.models.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.contacts.models import Contact
from app.db import db, utcnow
from app.events.models import DomainEvent
from app.quality import evaluations
from app.quality import service as quality_service
from app.quality.models import Evaluation, SamplingRule
from app.reports.periods import instant, zone_of
from tenants.models import Tenant

HANDLED_EVENTS = ("contact.resolved", "contact.closed")
COMPLAINTS = ("complaint", "claim")
# The reasons a rule queues a review for (a supervisor's own choices do not fill the floor).
SAMPLED = ("sampled", "complaint")


def handle(event: DomainEvent) -> None:
    """Queue the event's contact for review when the firm's rule picks it (called in the
    event's tenant scope; handing the same event over again queues nothing more)."""
    if event.type not in HANDLED_EVENTS:
        return
    rule = quality_service.sampling_rule()
    if rule is None or not rule.is_active:
        return
    contact = db.session.get(Contact, _contact_id(event))
    if contact is None or contact.agent_id is None:
        return
    if contact.status not in evaluations.HANDLED_STATUSES:
        return  # reopened meanwhile: its next resolution decides
    if db.session.scalar(evaluations.current_review(contact.id)) is not None:
        return
    reason = pick(rule, contact, now=event.occurred_at or utcnow())
    if reason is not None:
        evaluations.queue_review(contact=contact, reason=reason)


def pick(rule: SamplingRule, contact: Contact, *, now: datetime) -> str | None:
    """Why the rule takes this contact (`complaint`, `sampled`), or None."""
    complaint = contact.category in COMPLAINTS
    share = rule.percent_bps
    if complaint and rule.complaint_percent_bps is not None:
        share = rule.complaint_percent_bps
    if share and draw(contact) < share:
        return "complaint" if complaint else "sampled"
    if rule.per_agent_per_week and _queued_this_week(contact, now) < rule.per_agent_per_week:
        return "complaint" if complaint else "sampled"
    return None


def draw(contact: Contact) -> int:
    """The contact's draw, 0-9999: its id's random bits, so the same every time."""
    return contact.id.int % 10_000


def _queued_this_week(contact: Contact, now: datetime) -> int:
    zone = zone_of(db.session.get(Tenant, contact.tenant_id))
    local = now.astimezone(zone).date()
    monday = instant(local - timedelta(days=local.weekday()), zone)
    return db.session.scalar(
        select(func.count())
        .select_from(Evaluation)
        .where(
            Evaluation.agent_id == contact.agent_id,
            Evaluation.purpose == "review",
            Evaluation.reason.in_(SAMPLED),
            Evaluation.created_at >= monday,
        )
    )


def _contact_id(event: DomainEvent) -> uuid.UUID:
    return uuid.UUID(str(event.payload.get("contact_id")))
