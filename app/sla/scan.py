"""The SLA scan: the clocks that went at risk or breached while their contact did not change,
marked in batches across every firm, each transition recorded and announced once however many
scans run, and each contact's SLA fields kept current.

A large BPO has a million open contacts, ten thousand of whose clocks may cross an instant
between two passes: a batch reads its contacts and clocks as plain rows (not models) and writes
each firm's changes set-based (the clocks and contacts in one UPDATE each, the contact events
in one executemany, the domain events in multi-row INSERTs). Through the ORM's unit of work a
pass of 10,000 transitions (200,000 open contacts, in process) took 29 s on the project's
machine, 12.5 s so: the flush compared every attribute of each contact, and UPDATEd and
planned each row on its own.

The clock rules are app.sla.clocks's, the events' fields app.sla.service's (a request's action
marks what came due on the same terms). Writing around the ORM, the scan marks the hours the
daily roll-ups must re-sum itself (app.reports.marks.mark_received), which the flush hook does
for every other change. May import: app.db, app.sla, app.contacts.models, app.events.service,
app.reports.marks, tenants (models, scoping).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, insert, or_, select, tuple_
from sqlalchemy.orm.util import identity_key

from app.contacts.models import Contact, ContactEvent
from app.db import db, update_rows, utcnow
from app.events import service as events_service
from app.reports import marks as report_marks
from app.sla import clocks as clock_rules
from app.sla import service as sla_service
from app.sla.models import SlaClock
from tenants.models import Tenant
from tenants.scoping import allow_generic_plans, restore_plans, tenant_scope, unscoped

# What a batch reads of each contact: what its events name, its SLA fields, its receipt hour.
_CONTACT_FIELDS = (
    Contact.id,
    Contact.tenant_id,
    Contact.status,
    Contact.agent_id,
    Contact.external_id,
    Contact.channel,
    Contact.category,
    Contact.priority,
    Contact.queue_id,
    Contact.received_at,
    Contact.sla_state,
    Contact.sla_due_at,
    Contact.sla_risk_at,
    Contact.sla_breach_at,
)
_SLA_FIELDS = ("sla_state", "sla_due_at", "sla_risk_at", "sla_breach_at")


@dataclass(slots=True)
class _Clock:
    """A clock as the rules read and mark it (app.sla.clocks takes any object with these)."""

    id: uuid.UUID
    contact_id: uuid.UUID
    kind: str
    state: str
    target_seconds: int
    started_at: datetime | None
    running_since: datetime | None
    stopped_at: datetime | None
    at_risk_at: datetime | None
    due_at: datetime | None
    breached_at: datetime | None


_CLOCK_FIELDS = tuple(getattr(SlaClock, name) for name in _Clock.__slots__)


@dataclass
class _Writes:
    """One firm's changes in a batch."""

    clocks: list[dict] = field(default_factory=list)
    contacts: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    announcements: list[dict] = field(default_factory=list)
    received: list[datetime] = field(default_factory=list)


def scan_batch(*, now: datetime, limit: int) -> dict:
    """Mark the clocks that went at risk or breached with no change of their contact since.

    Up to `limit` contacts across every tenant, locked in the query that picks them
    (`FOR UPDATE SKIP LOCKED`): concurrent scans and requests never wait on each other, and a
    batch is short only when nothing more that is due can be locked (a row another scan or a
    request holds is skipped, not counted against the batch). Each contact's clocks are read
    again under the lock, so each transition is recorded and announced once however many scans
    run. Returns {"contacts": examined, "at_risk": newly at risk, "breached": newly breached}.
    """
    # The scan is the BPO's job, for every tenant at once: finding (and locking) what is due
    # precedes any tenant scope. Each tenant's contacts are then changed in its own scope; the
    # locks are the transaction's, so they hold across the switch.
    with unscoped():
        contacts = _lock_due(now=now, limit=limit)
        # Every locked contact's clocks, and which of them were announced at risk before, in
        # one read each, made once every lock is held: what a concurrent scan or request wrote
        # counts, and nothing else can write them until this transaction ends.
        clocks = _clocks_of(contacts)
        announced = _at_risk_announced(contacts)
    by_tenant: dict[uuid.UUID, list] = defaultdict(list)
    for contact in contacts:
        by_tenant[contact.tenant_id].append(contact)
    counts = {"contacts": len(contacts), "at_risk": 0, "breached": 0}
    for tenant_id, theirs in sorted(by_tenant.items(), key=lambda item: str(item[0])):
        writes = _Writes()
        for contact in theirs:
            for transition in _tick(contact, clocks.get(contact.id, []), now, announced, writes):
                counts[transition] += 1
        # Rows reached by key: generic plans (tenants/scoping.py), or each event's INSERT of
        # the executemany is planned afresh (0.35 s for 1,000, against 0.14 s).
        plans = allow_generic_plans()
        try:
            with tenant_scope(tenant_id):
                _write(writes)
        finally:
            restore_plans(plans)
    return counts


def _lock_due(*, now: datetime, limit: int) -> list:
    due = or_(
        and_(SlaClock.state.in_(("ok", "at_risk")), SlaClock.due_at <= now),
        and_(SlaClock.state == "ok", SlaClock.at_risk_at <= now),
    )
    # The due clocks are few and their indexes find them: their contacts are read from them
    # (the CTE is materialized so the planner cannot instead walk a contacts index in the
    # batch's order, testing a million contacts' clocks one by one).
    due_contacts = (
        select(SlaClock.tenant_id, SlaClock.contact_id)
        .where(due)
        .distinct()
        .cte("due_contacts")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return db.session.execute(
        select(*_CONTACT_FIELDS)
        .join(
            due_contacts,
            and_(
                due_contacts.c.tenant_id == Contact.tenant_id,
                due_contacts.c.contact_id == Contact.id,
            ),
        )
        .join(Tenant, Tenant.id == Contact.tenant_id)
        # An offboarded firm is read-only and waits for deletion: nothing more to announce.
        .where(Tenant.status != "offboarded")
        # A firm's due contacts together, nearest deadline first: a batch then writes under
        # a scope or two, not one per firm.
        .order_by(Contact.tenant_id, Contact.sla_due_at.asc().nulls_last(), Contact.id)
        .limit(limit)
        .with_for_update(of=Contact, skip_locked=True)
    ).all()


def _clocks_of(contacts: list) -> dict[uuid.UUID, list[_Clock]]:
    """The clocks of the contacts, by contact, each contact's in the order of their kind."""
    found: dict[uuid.UUID, list[_Clock]] = defaultdict(list)
    if not contacts:
        return found
    # The firm and the contact, as the unique index (tenant_id, contact_id, kind) leads.
    keys = [(contact.tenant_id, contact.id) for contact in contacts]
    for row in db.session.execute(
        select(*_CLOCK_FIELDS)
        .where(tuple_(SlaClock.tenant_id, SlaClock.contact_id).in_(keys))
        .order_by(SlaClock.contact_id, SlaClock.kind)
    ):
        found[row.contact_id].append(_Clock(*row))
    return found


def _at_risk_announced(contacts: list) -> set[tuple[uuid.UUID, str]]:
    """(contact id, clock kind) of the clocks of these contacts already announced at risk."""
    if not contacts:
        return set()
    keys = [(contact.tenant_id, contact.id) for contact in contacts]
    rows = db.session.execute(
        select(ContactEvent.contact_id, ContactEvent.details).where(
            tuple_(ContactEvent.tenant_id, ContactEvent.contact_id).in_(keys),
            ContactEvent.action == sla_service.EVENT_ACTIONS["at_risk"],
        )
    )
    return {(contact_id, (details or {}).get("clock")) for contact_id, details in rows}


def _tick(contact, clocks: list[_Clock], now: datetime, announced: set, writes: _Writes) -> list:
    """Mark what came due on one contact's clocks, adding the changes and their events to the
    firm's writes; return the transitions announced."""
    announced_now = []
    marked_before = len(writes.clocks)
    for clock in clocks:
        # Marking needs no calendar: the instants were set when the clock last changed.
        transitions = clock_rules.tick(clock, now=now)
        if not transitions:
            continue
        writes.clocks.append(
            {
                "tenant_id": contact.tenant_id,
                "id": clock.id,
                "state": clock.state,
                "breached_at": clock.breached_at,
            }
        )
        for transition in transitions:
            # A reopened clock comes back at risk: it was announced when it first got there.
            if transition == "at_risk" and (contact.id, clock.kind) in announced:
                continue
            writes.events.append(
                sla_service.transition_event(contact, clock, transition, detected_at=now)
            )
            writes.announcements.append(
                sla_service.transition_announcement(contact, clock, transition, now)
            )
            announced_now.append(transition)
    finished = contact.status in sla_service.FINISHED_STATUSES
    summary = sla_service.summary(clocks, finished=finished)
    changed = summary != tuple(getattr(contact, name) for name in _SLA_FIELDS)
    if changed:
        writes.contacts.append(
            {
                "tenant_id": contact.tenant_id,
                "id": contact.id,
                **dict(zip(_SLA_FIELDS, summary, strict=True)),
            }
        )
    if changed or len(writes.clocks) > marked_before:
        # What the daily roll-ups summed of the contact's receipt hour changed.
        writes.received.append(contact.received_at)
    return announced_now


def _write(writes: _Writes) -> None:
    """Write one firm's changes, in its scope."""
    session = db.session
    update_rows(session, SlaClock, writes.clocks)
    changed_at = utcnow()
    update_rows(session, Contact, [{**row, "updated_at": changed_at} for row in writes.contacts])
    if writes.events:
        session.execute(insert(ContactEvent), writes.events)
    events_service.record_each(writes.announcements)
    report_marks.mark_received(session, writes.received)
    # Written around the unit of work: what the session holds of these rows is stale now.
    for entity, rows in ((SlaClock, writes.clocks), (Contact, writes.contacts)):
        for row in rows:
            held = session.identity_map.get(identity_key(entity, row["id"]))
            if held is not None:
                session.expire(held)
