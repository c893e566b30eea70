"""The end customer's rights over what a firm holds about them (the firm is the controller, the
BPO its processor): finding one end customer's contacts, exporting everything held about them,
and erasing their personal data while every figure stays, the routine the retention purge
(app/contacts/retention.py) shares.

What erasure wipes, and why the figures cannot move:
- On each contact the end customer's name, e-mail, phone and the firm's customer id, the
  subject and body, the remedy asked for and the resolution note; in the thread every message's
  body and author name (the customer's words, the agents' replies and internal notes alike,
  since each may quote them); the notes of the contact's history and the agent's notes to
  departments (escalations); the comments of the contacts' quality evaluations (a reviewer
  may quote the customer), their answers and scores kept. Times, durations, statuses,
  queue, channel, category, priority, disposition, outcome, compensation, CSAT, the SLA clocks
  and the usage record stay, and the reports and invoices are computed from those alone.
- `customer_key` is not nulled but pseudonymised: first contact resolution counts a contact's
  repeats by the same key, so each original key is replaced by one random token, the same for
  every contact erased together. The contacts that were one customer's stay one customer's, no
  other contact can share the token, and nothing leads back from it to the person. A later
  contact of the same person starts afresh, as a person the firm has forgotten should.
- The domain events hold the end customer's data in one place only, a reply's text in
  `contact.message.created` (app/events/catalogue.py); it is blanked there and in the webhook
  deliveries made from it. Idempotency-Key answers kept for replays (a day) that name an
  erased contact are dropped. The audit log names contacts by id only and keeps no identifier.

Services take keyword arguments, run in the firm's scope (the route or the CLI sets it) and
never commit. Who may call them is the routes' to check (app.auth.permissions: DATA_SUBJECT_*).
May import: sqlalchemy, app.db, app.idempotency, app.contacts.models, app.events.models,
app.quality.models, app.sla.models, app.webhooks.models, tenants (models, service).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.orm.attributes import flag_modified

from app.campaigns import register as campaign_register
from app.campaigns.models import CampaignRecord
from app.contacts.models import Contact, ContactEvent, ContactMessage, Escalation
from app.db import db, utcnow
from app.events.models import DomainEvent
from app.idempotency import IdempotencyRecord
from app.quality.models import Evaluation, EvaluationAnswer
from app.sla.models import SlaClock
from app.webhooks.models import WebhookDelivery
from tenants.models import Tenant
from tenants.service import Actor, record_audit

IDENTIFIERS = ("email", "phone", "ref")
MESSAGE_EVENT = "contact.message.created"
# What a wiped contact holds in place of the personal fields (columns that take no NULL get "").
WIPED_FIELDS = {
    "customer_name": None,
    "customer_email": None,
    "customer_phone": None,
    "customer_ref": None,
    "subject": "",
    "body": "",
    "remedy_requested": None,
    "resolution_note": None,
}
PSEUDONYM_PREFIX = "erased:"
# Per kind, what an erasure or a purge counts (the answer and the audit entry).
KINDS = ("contacts", "messages", "contact_events", "escalations", "domain_events")
KINDS += ("webhook_deliveries", "evaluations", "campaign_records")


def phone_digits(phone: str) -> str:
    """The digits of a phone number, as the customer key compares them."""
    return "".join(ch for ch in phone if ch.isdigit())


def find(*, identifier: dict) -> list[Contact]:
    """Return the contacts of the one end customer named by `identifier` (one of `email`,
    `phone`, `ref`), oldest first: those that carry it, and every contact the firm keys to the
    same customer (a contact known by the firm's id also counts for its e-mail, say)."""
    matched = list(db.session.scalars(select(Contact).where(_carries(identifier))))
    keys = {c.customer_key for c in matched if c.customer_key}
    if keys:
        known = {c.id for c in matched}
        same = db.session.scalars(select(Contact).where(Contact.customer_key.in_(sorted(keys))))
        matched += [c for c in same if c.id not in known]
    return sorted(matched, key=lambda c: (c.received_at, c.id))


def _carries(identifier: dict):
    """The contacts that carry the identifier itself, or the customer key it makes."""
    if identifier.get("email"):
        email = identifier["email"].strip().lower()
        as_keyed = Contact.customer_key == f"email:{email}"
        return or_(func.lower(Contact.customer_email) == email, as_keyed)
    if identifier.get("ref"):
        ref = identifier["ref"]
        return or_(Contact.customer_ref == ref, Contact.customer_key == f"ref:{ref}")
    phone = identifier["phone"]
    digits = phone_digits(phone)
    as_keyed = Contact.customer_key == f"phone:{digits}"
    if db.session.get_bind().dialect.name == "postgresql":
        # However the firm's systems wrote the number ("+34 600 11 22 33", "0034600112233"...).
        stored = func.regexp_replace(Contact.customer_phone, "[^0-9]", "", "g")
        return or_(stored == digits, as_keyed)
    return or_(Contact.customer_phone == phone.strip(), as_keyed)


# --- export ----------------------------------------------------------------------------------


def _jsonable(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _row(obj, *, leave_out: Iterable[str] = ()) -> dict:
    """Every column of a row, as JSON values."""
    columns = obj.__table__.columns
    return {c.key: _jsonable(getattr(obj, c.key)) for c in columns if c.key not in leave_out}


def _by_contact(model, ids: list[uuid.UUID], order) -> dict[uuid.UUID, list]:
    rows: dict[uuid.UUID, list] = {contact_id: [] for contact_id in ids}
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        stmt = select(model).where(model.contact_id.in_(chunk)).order_by(*order)
        for row in db.session.scalars(stmt):
            rows[row.contact_id].append(row)
    return rows


def export(*, identifier: dict, tenant: Tenant, actor: Actor) -> dict:
    """Return everything the firm holds about one end customer: each of their contacts with
    all its fields, its history, its thread (internal notes too: they are about the customer),
    its SLA clocks and its CSAT; audit the export (`data_subject.exported`)."""
    contacts = find(identifier=identifier)
    ids = [c.id for c in contacts]
    events = _by_contact(ContactEvent, ids, (ContactEvent.occurred_at, ContactEvent.id))
    messages = _by_contact(ContactMessage, ids, (ContactMessage.created_at, ContactMessage.id))
    clocks = _by_contact(SlaClock, ids, (SlaClock.started_at, SlaClock.id))
    escalations = _by_contact(Escalation, ids, (Escalation.started_at, Escalation.id))
    evaluations = _by_contact(Evaluation, ids, (Evaluation.created_at, Evaluation.id))
    answers = _answers_of([e.id for rows in evaluations.values() for e in rows])
    exported = [
        {
            **_row(contact, leave_out=("tenant_id",)),
            "events": [_row(e, leave_out=("tenant_id", "contact_id")) for e in events[contact.id]],
            "messages": [
                _row(m, leave_out=("tenant_id", "contact_id")) for m in messages[contact.id]
            ],
            "sla_clocks": [
                _row(k, leave_out=("tenant_id", "contact_id")) for k in clocks[contact.id]
            ],
            # The department's link is a secret of the department's, not data about the person.
            "escalations": [
                _row(x, leave_out=("tenant_id", "contact_id", "token_hash"))
                for x in escalations[contact.id]
            ],
            "evaluations": [
                {
                    **_row(e, leave_out=("tenant_id", "contact_id")),
                    "answers": [
                        _row(a, leave_out=("tenant_id", "evaluation_id")) for a in answers[e.id]
                    ],
                }
                for e in evaluations[contact.id]
            ],
        }
        for contact in contacts
    ]
    counts = {
        "contacts": len(contacts),
        "messages": sum(len(v) for v in messages.values()),
        "contact_events": sum(len(v) for v in events.values()),
        "sla_clocks": sum(len(v) for v in clocks.values()),
        "escalations": sum(len(v) for v in escalations.values()),
        "evaluations": sum(len(v) for v in evaluations.values()),
        "csat_scores": sum(1 for c in contacts if c.csat is not None),
    }
    records = _campaign_records(identifier, campaign_register.region_of(tenant.locale))
    counts["campaign_records"] = len(records)
    _audit("data_subject.exported", identifier, tenant, actor, counts, ids)
    return {
        "tenant_id": tenant.id,
        "identifier": identifier,
        "exported_at": utcnow(),
        "counts": counts,
        "contacts": exported,
        # The outbound campaigns' lists that named them.
        "campaign_records": [_row(r, leave_out=("tenant_id",)) for r in records],
    }


# --- erasure ---------------------------------------------------------------------------------


def erase(*, identifier: dict, tenant: Tenant, actor: Actor, now: datetime | None = None) -> dict:
    """Wipe one end customer's personal data from every contact of theirs (see the module's
    docstring), keep every figure, audit it (`data_subject.erased`) and return when, with the
    counts per kind. Idempotent: once erased, nothing carries the identifier, and a repeat
    counts zeros."""
    at = now or utcnow()
    contacts = [c for c in find(identifier=identifier) if _holds_personal_data(c)]
    counts = wipe(contacts=contacts, now=at)
    counts["campaign_records"] = _wipe_campaign_records(
        _campaign_records(identifier, campaign_register.region_of(tenant.locale))
    )
    counts["idempotency_records"] = _drop_replays([c.id for c in contacts])
    _audit("data_subject.erased", identifier, tenant, actor, counts, [c.id for c in contacts])
    return {"erased_at": at, "counts": counts}


def _holds_personal_data(contact: Contact) -> bool:
    if any(getattr(contact, name) != value for name, value in WIPED_FIELDS.items()):
        return True
    key = contact.customer_key
    return key is not None and not key.startswith(PSEUDONYM_PREFIX)


def wipe(*, contacts: list[Contact], now: datetime) -> dict[str, int]:
    """Wipe the personal data of these contacts (of the firm in scope), their threads, their
    history's notes and the events and deliveries that quote their replies; return the counts
    per kind. Contacts of one customer key must be wiped together (the caller's to ensure:
    `find` and the retention purge do) so that their first contact resolution stays."""
    counts = dict.fromkeys(KINDS, 0)
    if not contacts:
        return counts
    pseudonyms: dict[str, str] = {}
    for contact in contacts:
        for name, value in WIPED_FIELDS.items():
            setattr(contact, name, value)
        key = contact.customer_key
        if key is not None and not key.startswith(PSEUDONYM_PREFIX):
            if key not in pseudonyms:
                pseudonyms[key] = PSEUDONYM_PREFIX + secrets.token_hex(16)
            contact.customer_key = pseudonyms[key]
        contact.personal_data_erased_at = now
    # Through the ORM, so the reports' hook (app/reports/marks.py) sees the keys change.
    # On PostgreSQL the triggers of migration 0026 replace the search terms these fields and
    # the threads' bodies gave: no word of theirs stays findable.
    db.session.flush()
    counts["contacts"] = len(contacts)
    ids = [c.id for c in contacts]
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        counts["messages"] += _rowcount(
            update(ContactMessage)
            .where(
                ContactMessage.contact_id.in_(chunk),
                or_(ContactMessage.body != "", ContactMessage.author_name.is_not(None)),
            )
            .values(body="", author_name=None)
        )
        counts["contact_events"] += _rowcount(
            update(ContactEvent)
            .where(ContactEvent.contact_id.in_(chunk), ContactEvent.note.is_not(None))
            .values(note=None)
        )
        # The agent's note to the department may quote the customer, as a history note may.
        counts["escalations"] += _rowcount(
            update(Escalation)
            .where(Escalation.contact_id.in_(chunk), Escalation.note.is_not(None))
            .values(note=None)
        )
        counts["evaluations"] += _wipe_evaluation_comments(chunk)
        counts["domain_events"] += _redact_events(chunk)
        counts["webhook_deliveries"] += _redact_deliveries(chunk)
    return counts


def _campaign_records(identifier: dict, region: str | None) -> list[CampaignRecord]:
    """The campaign records (lists loaded for outbound work) naming the end customer (a phone
    written nationally read in `region`, the firm's country)."""
    if identifier.get("email"):
        named = CampaignRecord.email_lower == identifier["email"].strip().lower()
    elif identifier.get("ref"):
        named = CampaignRecord.customer_ref == identifier["ref"]
    else:
        phone = identifier["phone"]
        # As the lists keyed it (international digits), or as it was written.
        keys = {phone_digits(phone), campaign_register.phone_key(phone, region=region)}
        named = CampaignRecord.phone_digits.in_(sorted(k for k in keys if k))
    return list(
        db.session.scalars(select(CampaignRecord).where(named).order_by(CampaignRecord.created_at))
    )


def _wipe_campaign_records(records: list[CampaignRecord]) -> int:
    """Blank who the records name (their attempts' figures stay); a record not yet worked to
    its end is closed: there is no one left to call."""
    for record in records:
        record.name = record.phone = record.email = record.customer_ref = None
        record.phone_digits = record.email_lower = None
        record.fields = {}
        record.dedupe_key = PSEUDONYM_PREFIX + secrets.token_hex(16)
        if record.state in ("pending", "in_progress"):
            record.state = "closed"
        record.next_attempt_at = record.window_closes_at = record.callback_at = None
    db.session.flush()
    return len(records)


def _answers_of(evaluation_ids: list[uuid.UUID]) -> dict[uuid.UUID, list]:
    found: dict[uuid.UUID, list] = {i: [] for i in evaluation_ids}
    for start in range(0, len(evaluation_ids), 1000):
        chunk = evaluation_ids[start : start + 1000]
        for answer in db.session.scalars(
            select(EvaluationAnswer).where(EvaluationAnswer.evaluation_id.in_(chunk))
        ):
            found[answer.evaluation_id].append(answer)
    return found


def _wipe_evaluation_comments(contact_ids: list[uuid.UUID]) -> int:
    """Blank the comments of these contacts' evaluations and of their answers; count the
    evaluations that had any. Answers and scores stay: the quality figures rest on them."""
    evaluations = select(Evaluation.id).where(Evaluation.contact_id.in_(contact_ids))
    touched = set(
        db.session.scalars(
            update(EvaluationAnswer)
            .where(EvaluationAnswer.evaluation_id.in_(evaluations), EvaluationAnswer.comment != "")
            .values(comment="")
            .returning(EvaluationAnswer.evaluation_id)
        )
    )
    touched |= set(
        db.session.scalars(
            update(Evaluation)
            .where(Evaluation.contact_id.in_(contact_ids), Evaluation.comment != "")
            .values(comment="")
            .returning(Evaluation.id)
        )
    )
    return len(touched)


def _rowcount(statement) -> int:
    return db.session.execute(statement, execution_options={"synchronize_session": False}).rowcount


def _without_body(payload: dict) -> dict:
    message = payload.get("message")
    if not isinstance(message, dict) or message.get("body") is None:
        return payload
    return {**payload, "message": {**message, "body": None}}


def _quoting(model, type_column, ids: list[uuid.UUID]):
    return select(model).where(
        type_column == MESSAGE_EVENT,
        model.payload["contact_id"].as_string().in_([str(i) for i in ids]),
    )


def _redact_events(ids: list[uuid.UUID]) -> int:
    """Blank the reply texts the domain events carry for these contacts."""
    if db.session.get_bind().dialect.name == "postgresql":
        # The events are append-only for the application's role: the database's own function
        # (revision 0025) blanks these texts and can do nothing else.
        statement = text("SELECT redact_message_bodies(CAST(:ids AS uuid[]))")
        return db.session.execute(statement, {"ids": ids}).scalar_one()
    redacted = 0
    for event in db.session.scalars(_quoting(DomainEvent, DomainEvent.type, ids)):
        blanked = _without_body(event.payload)
        if blanked is not event.payload:
            event.payload = blanked
            flag_modified(event, "payload")
            redacted += 1
    return redacted


def _redact_deliveries(ids: list[uuid.UUID]) -> int:
    """Blank the reply texts of webhook deliveries made from these contacts' events (sent or
    not: one still pending then carries no text, which the firm's systems must cope with for
    an erased customer anyway)."""
    redacted = 0
    stmt = _quoting(WebhookDelivery, WebhookDelivery.event_type, ids)
    for delivery in db.session.scalars(stmt):
        blanked = _without_body(delivery.payload)
        if blanked is not delivery.payload:
            delivery.payload = blanked
            flag_modified(delivery, "payload")
            redacted += 1
    return redacted


def _drop_replays(ids: list[uuid.UUID]) -> int:
    """Drop the stored Idempotency-Key answers that show these contacts."""
    if not ids:
        return 0
    naming = or_(*(IdempotencyRecord.body.contains(str(i)) for i in ids))
    return _rowcount(delete(IdempotencyRecord).where(naming))


def _audit(action, identifier, tenant, actor, counts, contact_ids) -> None:
    # Which kind of identifier, never its value: the log would otherwise keep what was erased.
    record_audit(
        actor=actor,
        action=action,
        target_type="data_subject",
        tenant_id=tenant.id,
        details={
            "identifier": next(k for k in IDENTIFIERS if identifier.get(k)),
            "counts": counts,
            "contact_ids": [str(i) for i in contact_ids],
        },
    )
