"""Escalations to a department: each one kept (when it went, when it came back, how), the
single-use link the department answers through, and the department's mails (the first, then a
reminder each interval the firm sets) sent by the worker after the escalation has committed.

The link is signed: its token is an HMAC of the escalation's id under the app's SECRET_KEY, so
a reminder carries the same link as the first mail without the token being stored; only its
SHA-256 digest is (to find the row), and `used_at` makes it single-use. Mails go through the
leased outbox of app/leases.py on the escalation's own row: a mail server that is down delays
the mail (retried with a backoff), never the escalation, which committed with the contact.

What a mail says of the contact: the firm, the channel, category, priority, subject and the
end customer's name and the firm's own customer id (so the back office finds the customer in
its own systems), and the agent's note; never the customer's e-mail or phone, nor the thread:
the department answers the BPO, not the customer, and the link may be forwarded.

Services take keyword arguments and never commit (the worker's job does, around each mail).
May import: flask, app.db, app.leases, app.mail, app.retry, app.contacts.models, tenants
(models, scoping, service).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app import leases, mail
from app.contacts.models import Contact, Department, Escalation
from app.db import db, utcnow
from app.retry import Retries
from tenants.models import Tenant
from tenants.scoping import tenant_scope, unscoped
from tenants.service import Actor

# The path of the page a link opens (app/web/department_answers.py).
ANSWER_PATH = "/department-answers/"
# A worker holds a mail this long before another may take it over.
LEASE_SECONDS = 60
SUBJECTS = {
    ("en", False): "{firm}: a contact escalated to {department}",
    ("es", False): "{firm}: un contacto escalado a {department}",
    ("en", True): "Reminder - {firm}: a contact escalated to {department} awaits your answer",
    ("es", True): "Recordatorio - {firm}: un contacto escalado a {department} espera respuesta",
}


class LinkRefused(Exception):
    """A link that cannot be used: `reason` is unknown, used, ended or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- the link --------------------------------------------------------------------------------


def token_of(escalation_id: uuid.UUID) -> str:
    """The link's secret for an escalation: an HMAC of its id under the app's SECRET_KEY."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    mac = hmac.new(key, b"escalation:" + escalation_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def digest(token: str) -> str:
    """SHA-256 of a link's secret, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def link_of(escalation: Escalation) -> str:
    """The answer page's address for an escalation."""
    issuer = current_app.config["OAUTH_ISSUER"].rstrip("/")
    return issuer + ANSWER_PATH + token_of(escalation.id)


def find(*, token: str) -> Escalation:
    """Return the escalation a link opens, still awaiting its answer, or raise LinkRefused."""
    # The link is the credential: no firm is known until its row is read.
    with unscoped():
        row = db.session.scalar(select(Escalation).where(Escalation.token_hash == digest(token)))
    if row is None:
        raise LinkRefused("unknown")
    if row.used_at is not None:
        raise LinkRefused("used")
    if row.ended_at is not None:
        raise LinkRefused("ended")
    if row.expires_at <= utcnow():
        raise LinkRefused("expired")
    return row


# --- an escalation's life --------------------------------------------------------------------


def open_(
    *, contact: Contact, department: Department, note: str | None, actor: Actor, at: datetime
) -> Escalation:
    """Keep a contact's escalation to a department (in the escalating transaction), its first
    mail due at once."""
    escalation_id = uuid.uuid4()
    days = int(current_app.config["DEPARTMENT_LINK_TTL_DAYS"])
    escalation = Escalation(
        id=escalation_id,
        contact_id=contact.id,
        department_id=department.id,
        agent_id=contact.agent_id,
        requested_by_user_id=actor.user_id,
        note=note,
        token_hash=digest(token_of(escalation_id)),
        started_at=at,
        expires_at=at + timedelta(days=days),
        status=leases.PENDING,
        next_attempt_at=at,
    )
    db.session.add(escalation)
    db.session.flush()
    return escalation


def open_of(*, contact: Contact) -> Escalation | None:
    """The contact's escalation still with its department, if any."""
    return db.session.scalar(
        select(Escalation)
        .where(Escalation.contact_id == contact.id, Escalation.ended_at.is_(None))
        .order_by(Escalation.started_at.desc())
        .limit(1)
    )


def end(*, escalation: Escalation, outcome: str, at: datetime, used: bool = False) -> None:
    """Close an escalation: back from the department (`done`, `needs_more`) or taken back by
    the agent (`withdrawn`); its link and its mails stop."""
    escalation.ended_at = at
    escalation.outcome = outcome
    if used:
        escalation.used_at = at
    leases.finish(escalation, status="closed")
    db.session.flush()


def end_open(*, contact: Contact, at: datetime) -> None:
    """Withdraw the contact's open escalation, if any (the agent resumed it themselves)."""
    escalation = open_of(contact=contact)
    if escalation is not None:
        end(escalation=escalation, outcome="withdrawn", at=at)


# --- the department's mails (the worker) -----------------------------------------------------


def retry_policy() -> Retries:
    """Mails retried from a minute, doubling to an hour, ten tries in all."""
    return Retries(base=60, cap=3600, max_attempts=10)


@dataclass(frozen=True)
class Claim:
    """A mail leased to this worker, rendered and ready to send."""

    lease: leases.Lease
    reminder: bool
    to: str
    subject: str
    text: str
    html: str


def claim_next(*, now: datetime) -> tuple[Claim | None, int]:
    """Lease the next due department mail of any firm and render it; return it (or None) and
    how many were given up on the way (a department without an e-mail address)."""
    escalation, given_up = leases.lease_next(
        Escalation,
        now=now,
        seconds=LEASE_SECONDS,
        retries=retry_policy(),
        refuse=_unmailable,
    )
    if escalation is None:
        return None, given_up
    with tenant_scope(escalation.tenant_id):
        return _claim(escalation), given_up


def _unmailable(escalation: Escalation) -> str | None:
    department = db.session.get(Department, escalation.department_id)
    if department is None or not department.email:
        return "The department has no e-mail address."
    return None


def _claim(escalation: Escalation) -> Claim:
    tenant = db.session.get(Tenant, escalation.tenant_id)
    department = db.session.get(Department, escalation.department_id)
    # The worker reads the whole firm: the escalated contact may be in any of its queues.
    contact = db.session.get(Contact, escalation.contact_id)
    language = mail.language_of(tenant.locale)
    reminder = escalation.mailed_at is not None
    text, html = mail.render(
        "department_escalation",
        language=language,
        reminder=reminder,
        firm=tenant.name,
        department=department.name,
        contact=contact,
        note=escalation.note,
        link=link_of(escalation),
        expires_at=escalation.expires_at,
    )
    subject = SUBJECTS[(language, reminder)].format(firm=tenant.name, department=department.name)
    return Claim(leases.Lease.of(escalation), reminder, department.email, subject, text, html)


def send(claim: Claim, *, now: datetime) -> str:
    """Send a leased mail and record how it went: "sent", "reminded", "retrying", "dead", or
    `leases.LEASE_LOST` when another worker took it over (or it was answered) meanwhile."""
    try:
        mail.send(to=claim.to, subject=claim.subject, text=claim.text, html=claim.html)
        error = None
    except mail.MailUnavailable as exc:
        error = str(exc)
    with tenant_scope(claim.lease.tenant_id):
        escalation = leases.reclaim(claim.lease)
        if escalation is None:
            return leases.LEASE_LOST
        if error is not None:
            escalation.last_error = error
            return leases.retry_later(escalation, now=now, retries=retry_policy())
        if claim.reminder:
            escalation.reminders_sent += 1
            escalation.reminded_at = now
        else:
            escalation.mailed_at = now
        escalation.attempts = 0
        escalation.last_error = None
        _schedule_reminder(escalation, now=now)
    return "reminded" if claim.reminder else "sent"


def _schedule_reminder(escalation: Escalation, *, now: datetime) -> None:
    # Read when each mail goes: a firm's change applies from its escalations' next mail.
    minutes = db.session.get(Tenant, escalation.tenant_id).department_reminder_minutes
    due = now + timedelta(minutes=minutes) if minutes else None
    if due is None or due >= escalation.expires_at:
        leases.finish(escalation, status="sent")
        return
    escalation.next_attempt_at = due
    escalation.locked_until = None
