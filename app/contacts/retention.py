"""The retention of end customers' personal data per firm: which finished contacts are past the
firm's `personal_data_retention_months`, and wiping them in batches by the erasure routine
(app/contacts/data_rights.py), figures kept.

A contact is due once it was finished (closed, else resolved, else abandoned) longer ago than
the period. Its customer key is pseudonymised with it, and first contact resolution compares a
contact only with the same customer's contacts received within the firm's window (SLA policy
`fcr_window_days`): so the contacts of one customer that follow each other within that window
form a chain that is wiped whole, once every contact of it is due. A customer who came back
within the window of a due contact keeps that contact's data until the later one is due too;
no figure of any month changes.

Services take keyword arguments, run in the firm's scope (the CLI sets it) and never commit.
May import: sqlalchemy, app.db, app.contacts (models, data_rights), app.sla.models,
tenants (models, service).
"""

from __future__ import annotations

import calendar
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.contacts import data_rights
from app.contacts.models import Contact
from app.db import db
from app.sla.models import SlaPolicy
from tenants.models import Tenant
from tenants.service import SYSTEM, record_audit

FINISHED = ("closed", "resolved", "abandoned")
DEFAULT_FCR_WINDOW_DAYS = 7


def months_before(at: datetime, months: int) -> datetime:
    """The same instant `months` calendar months earlier (the 31st falls on a shorter month's
    last day)."""
    index = at.year * 12 + at.month - 1 - months
    year, month = divmod(index, 12)
    day = min(at.day, calendar.monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)


def firms_keeping_less() -> list[Tenant]:
    """The firms with a retention period, oldest first (to be read unscoped)."""
    stmt = select(Tenant).where(Tenant.personal_data_retention_months.is_not(None))
    return list(db.session.scalars(stmt.order_by(Tenant.created_at, Tenant.id)))


def _finished_at(contact: Contact) -> datetime | None:
    if contact.status not in FINISHED:
        return None
    return contact.closed_at or contact.resolved_at or contact.abandoned_at


def _fcr_window() -> timedelta:
    days = db.session.scalar(select(func.max(SlaPolicy.fcr_window_days)))
    return timedelta(days=max(days or 0, DEFAULT_FCR_WINDOW_DAYS))


def purge_batch(
    *, tenant: Tenant, now: datetime, limit: int, after: uuid.UUID | None = None
) -> tuple[dict[str, int], uuid.UUID | None]:
    """Wipe the personal data of up to `limit` due contacts of the firm in scope (and of the
    contacts chained to them), after contact id `after`; audit what was wiped
    (`contacts.personal_data_purged`). Return the counts per kind and the id to continue
    after (None: no due contact is left past `after`)."""
    assert tenant.personal_data_retention_months is not None
    cutoff = months_before(now, tenant.personal_data_retention_months)
    finished_at = func.coalesce(Contact.closed_at, Contact.resolved_at, Contact.abandoned_at)
    stmt = select(Contact).where(
        Contact.status.in_(FINISHED),
        finished_at < cutoff,
        Contact.personal_data_erased_at.is_(None),
    )
    if after is not None:
        stmt = stmt.where(Contact.id > after)
    candidates = list(db.session.scalars(stmt.order_by(Contact.id).limit(limit)))
    if not candidates:
        return dict.fromkeys(data_rights.KINDS, 0), None
    due = [c for c in candidates if not c.customer_key] + _whole_chains(
        candidates, cutoff=cutoff, window=_fcr_window()
    )
    counts = data_rights.wipe(contacts=due, now=now)
    if counts["contacts"]:
        record_audit(
            actor=SYSTEM,
            action="contacts.personal_data_purged",
            target_type="tenant",
            target_id=tenant.id,
            tenant_id=tenant.id,
            details={
                "retention_months": tenant.personal_data_retention_months,
                "finished_before": cutoff.isoformat(),
                "counts": counts,
            },
        )
    return counts, candidates[-1].id


def _whole_chains(
    candidates: list[Contact], *, cutoff: datetime, window: timedelta
) -> list[Contact]:
    """The contacts of the candidates' customers that may be wiped now: every chain (contacts
    of one key each received within `window` of the one before) whose contacts are all due."""
    keys = sorted({c.customer_key for c in candidates if c.customer_key})
    by_key: dict[str, list[Contact]] = defaultdict(list)
    for start in range(0, len(keys), 1000):
        stmt = select(Contact).where(Contact.customer_key.in_(keys[start : start + 1000]))
        for contact in db.session.scalars(stmt):
            by_key[contact.customer_key].append(contact)
    wiped = []
    for contacts in by_key.values():
        contacts.sort(key=lambda c: (c.received_at, c.id))
        chain: list[Contact] = []
        for contact in contacts:
            if chain and contact.received_at - chain[-1].received_at > window:
                wiped += _if_all_due(chain, cutoff)
                chain = []
            chain.append(contact)
        wiped += _if_all_due(chain, cutoff)
    return wiped


def _if_all_due(chain: list[Contact], cutoff: datetime) -> list[Contact]:
    for contact in chain:
        finished = _finished_at(contact)
        if finished is None or finished >= cutoff:
            return []
    return [c for c in chain if c.personal_data_erased_at is None]
