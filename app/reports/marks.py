"""Marking what the daily roll-ups must re-sum: a session hook that sees every change to a
contact or an SLA clock as it is flushed.

Every write to contacts and clocks but the SLA scan's goes through the ORM, so one hook sees
them all, whichever domain made them (intake, routing, the lifecycle, erasure), without any of
them knowing the reports exist; the scan writes its batches set-based, around the unit of work,
and marks what it changed through `mark_received`. For each change the hook marks the hour
(UTC) its contact was received in, and, when a contact appears, goes or changes customer, those
of its neighbours whose first contact resolution it may change. A change to what every day was
summed under (a queue's answer threshold, a firm's zone, its default policy) drops the firm's
roll-ups whole.
May import: app.db, the contact, queue and SLA models, tenants and app.reports.models.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import and_, bindparam, delete, event, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import PASSIVE_NO_INITIALIZE, get_history
from sqlalchemy.orm.util import identity_key

from app.contacts.models import Contact
from app.queues.models import Queue
from app.reports.models import ReportMark, ReportRollup
from app.sla.models import SlaClock, SlaPolicy
from tenants.models import Tenant
from tenants.scoping import current_tenant_id

# What a contact's neighbours' first contact resolution depends on.
_NEIGHBOURHOOD = ("customer_key", "category", "direction", "received_at")
_POLICY_SETTINGS = ("is_default", "short_abandon_seconds", "fcr_window_days")


def install(session_factory) -> None:
    """Attach the hook to every session the factory makes (after the scoping hooks, which
    stamp new rows with their tenant)."""
    event.listen(session_factory, "before_flush", _mark)


def _hour(at: datetime) -> datetime:
    # A new contact may still carry the zone it was given in (its row will hold UTC).
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# A change's history without loading what is not loaded (what `inspect(obj).attrs[name].history`
# gives), read from the one attribute: `.attrs` builds a view of every attribute of the object
# on each call, about 60 of a contact's, twice per changed contact per flush.
def _history(obj, name: str):
    return get_history(obj, name, passive=PASSIVE_NO_INITIALIZE)


def _old_and_new(obj, name: str) -> list:
    history = _history(obj, name)
    values = [*history.deleted, *history.added] if history.has_changes() else []
    return [v for v in values if v is not None] or [getattr(obj, name)]


def _changed(obj, names) -> bool:
    return any(_history(obj, name).has_changes() for name in names)


def _mark(session: Session, _context, _instances) -> None:
    hours: set[tuple[uuid.UUID, datetime]] = set()
    dropped: set[uuid.UUID] = set()
    contact_ids: set[uuid.UUID] = set()
    clock_contacts: dict[uuid.UUID, uuid.UUID] = {}  # contact id -> tenant id
    neighbourhoods: list[tuple[uuid.UUID, str, str, str, datetime]] = []
    # Each of these builds a set afresh on every call: read once (per object, the SLA scan's
    # flush of 2,000 contacts spent a second asking).
    new, dirty, deleted = session.new, session.dirty, session.deleted
    for obj in (*new, *dirty, *deleted):
        if isinstance(obj, Contact):
            if obj in dirty and not session.is_modified(obj):
                continue
            contact_ids.add(obj.id)
            for at in _old_and_new(obj, "received_at"):
                hours.add((obj.tenant_id, _hour(at)))
            if obj in new or obj in deleted or _changed(obj, _NEIGHBOURHOOD):
                neighbourhoods.extend(_neighbourhoods(obj))
        elif isinstance(obj, SlaClock):
            if obj in dirty and not session.is_modified(obj):
                continue
            clock_contacts[obj.contact_id] = obj.tenant_id
        elif isinstance(obj, Queue):
            if obj not in new and _changed(obj, ("answer_threshold_seconds",)):
                dropped.add(obj.tenant_id)
        elif isinstance(obj, SlaPolicy):
            if obj in new or obj in deleted or _changed(obj, _POLICY_SETTINGS):
                dropped.add(obj.tenant_id)
        elif isinstance(obj, Tenant) and obj not in new and _changed(obj, ("time_zone",)):
            dropped.add(obj.id)
    hours |= _clock_hours(session, clock_contacts, contact_ids)
    hours |= _neighbour_hours(session, neighbourhoods)
    # Written under the scope the flush runs in, which writes only its one firm's rows (or
    # is unscoped); entering another scope here would flush, and the session is flushing.
    _insert_marks(session, hours)
    if dropped:
        session.execute(delete(ReportRollup).where(ReportRollup.tenant_id.in_(sorted(dropped))))


def mark_received(session: Session, received: list[datetime]) -> None:
    """Mark the receipt hours of contacts of the tenant in scope whose SLA fields or clocks a
    statement changed around the unit of work (the SLA scan's set-based writes), which the
    flush hook never sees. Their neighbours' first contact resolution is not theirs to change:
    only the SLA changes so."""
    tenant_id = current_tenant_id()
    _insert_marks(session, {(tenant_id, _hour(at)) for at in received})


def _insert_marks(session: Session, hours: set[tuple[uuid.UUID, datetime]]) -> None:
    if hours:
        rows = [{"id": uuid.uuid4(), "tenant_id": t, "hour": hour} for t, hour in sorted(hours)]
        session.execute(insert(ReportMark), rows)


def _neighbourhoods(contact: Contact) -> list[tuple]:
    """Where the contact is, and was before this change, among its customer's contacts."""
    if contact.direction != "inbound" and not _changed(contact, ("direction",)):
        return []
    places = []
    for key in _old_and_new(contact, "customer_key"):
        for category in _old_and_new(contact, "category"):
            for at in _old_and_new(contact, "received_at"):
                places.append((contact.tenant_id, contact.id, key, category, at))
    return places


def _clock_hours(session: Session, clock_contacts: dict, seen: set) -> set[tuple]:
    """The receipt hours of the contacts whose clocks changed (and which did not themselves)."""
    hours = set()
    missing = {}
    for contact_id, tenant_id in clock_contacts.items():
        if contact_id in seen:
            continue
        contact = session.identity_map.get(identity_key(Contact, contact_id))
        if contact is not None:
            hours.add((contact.tenant_id, _hour(contact.received_at)))
        else:
            missing.setdefault(tenant_id, []).append(contact_id)
    for tenant_id, ids in missing.items():
        for at in session.scalars(select(Contact.received_at).where(Contact.id.in_(ids))):
            hours.add((tenant_id, _hour(at)))
    return hours


def _neighbour_hours(session: Session, places: list[tuple]) -> set[tuple]:
    """The receipt hours of the contacts just before and just after each place, of the same
    customer, category and direction: whether each was a repeat, or was repeated, may change."""
    hours = set()
    for tenant_id, contact_id, key, category, at in places:
        if key is None:
            continue
        found = session.execute(
            _NEIGHBOURS, {"key": key, "category": category, "contact_id": contact_id, "at": at}
        ).one()
        hours |= {(tenant_id, _hour(value)) for value in found if value is not None}
    return hours


def _neighbours_statement():
    c = Contact
    same = and_(
        c.customer_key == bindparam("key"),
        c.category == bindparam("category"),
        c.direction == "inbound",
        c.id != bindparam("contact_id"),
    )
    before = select(c.received_at).where(same, c.received_at <= bindparam("at"))
    after = select(c.received_at).where(same, c.received_at >= bindparam("at"))
    return select(
        before.order_by(c.received_at.desc()).limit(1).scalar_subquery(),
        after.order_by(c.received_at).limit(1).scalar_subquery(),
    )


# Built once: on every contact taken in, building it (and working out its cache key) cost more
# than the database took to answer it.
_NEIGHBOURS = _neighbours_statement()
