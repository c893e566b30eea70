"""The at-risk list: the open contacts whose SLA is at risk or breached across the firms a
supervisor watches, nearest deadline first, their total shared between viewers, and each with
its worst open clock as the supervisor reads it.

Read from the instants each open contact keeps (`sla_risk_at`, `sla_breach_at`, kept by
app.sla.service as the clocks move). May import: app.db, app.readings, app.sla (calendars,
clocks, models, service), app.contacts.models, tenants (models, scoping).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Select, and_, func, or_, select

from app.contacts.models import Contact
from app.db import db, utcnow
from app.readings import shared
from app.sla import clocks as clock_rules
from app.sla.calendars import read_schedules, schedule_for
from app.sla.models import SlaClock
from app.sla.service import FINISHED_STATUSES
from tenants.models import Tenant
from tenants.scoping import tenants_scope


def list_at_risk(
    *,
    now: datetime,
    tenant_id: uuid.UUID | None = None,
    state: str | None = None,
    queue_id: uuid.UUID | None = None,
    channel: str | None = None,
) -> Select:
    """Select the open contacts in scope with a running (or paused) clock at risk or breached
    as of `now`, nearest deadline first. `state` narrows to the worst such clock's state.

    Read from the instants each open contact keeps (`sla_risk_at`, `sla_breach_at`:
    app.sla.clocks.risk_instants, which tell at any `now` what the clocks' own rule,
    `risk_now`, tells): the partial index on `sla_risk_at` reaches the few contacts at risk
    instead of testing every open contact's clocks (a second a page at 1M open contacts)."""
    breached = Contact.sla_breach_at <= now
    if state == "breached":
        condition = breached
    elif state == "at_risk":
        not_breached = or_(Contact.sla_breach_at.is_(None), Contact.sla_breach_at > now)
        condition = and_(Contact.sla_risk_at <= now, not_breached)
    else:
        condition = Contact.sla_risk_at <= now
    stmt = (
        select(Contact)
        .where(condition, Contact.status.not_in(FINISHED_STATUSES))
        .order_by(Contact.sla_due_at.asc().nulls_last(), Contact.id)
    )
    for column, value in (
        (Contact.tenant_id, tenant_id),
        (Contact.queue_id, queue_id),
        (Contact.channel, channel),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def describe_at_risk(*, contacts: list[Contact], now: datetime) -> list[dict]:
    """Return at-risk contacts as a supervisor sees them: the contact, its firm, and its worst
    open clock as of `now`."""
    tenant_ids = {c.tenant_id for c in contacts}
    read_schedules(tenant_ids)
    names = dict(
        db.session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(tenant_ids))).all()
    )
    clocks: dict[uuid.UUID, list[SlaClock]] = {c.id: [] for c in contacts}
    for clock in db.session.scalars(select(SlaClock).where(SlaClock.contact_id.in_(list(clocks)))):
        clocks[clock.contact_id].append(clock)
    items = []
    for contact in contacts:
        schedule = schedule_for(contact.tenant_id)
        if schedule is None:
            continue
        readings = [clock_rules.reading(c, schedule=schedule, now=now) for c in clocks[contact.id]]
        open_ = [r for r in readings if r["stopped_at"] is None]
        if not open_:
            continue
        far = datetime.max.replace(tzinfo=UTC)
        worst = max(
            open_,
            key=lambda r: (clock_rules.SEVERITY[r["state"]], -(r["due_at"] or far).timestamp()),
        )
        items.append(
            {
                "tenant_id": contact.tenant_id,
                "tenant_name": names.get(contact.tenant_id),
                "contact_id": contact.id,
                "external_id": contact.external_id,
                "channel": contact.channel,
                "category": contact.category,
                "priority": contact.priority,
                "status": contact.status,
                "queue_id": contact.queue_id,
                "agent_id": contact.agent_id,
                "sla_state": clock_rules.worst(r["state"] for r in readings),
                "sla_due_at": contact.sla_due_at,
                "clock": worst,
            }
        )
    return items


def count_at_risk(*, tenant_ids: frozenset[uuid.UUID], **filters) -> int:
    """How many contacts `list_at_risk` lists across these firms with these filters: counted
    once for every viewer of the same firms and filters (app.readings: a count over a quarter
    of a million contacts at risk costs 80 ms; a page of them, a few)."""
    wanted = {name: value for name, value in filters.items() if value is not None}
    key = ("at_risk_total", frozenset(tenant_ids), tuple(sorted(wanted.items())))
    return shared(key, partial(_count, tenant_ids=frozenset(tenant_ids), filters=wanted))


def _count(*, tenant_ids: frozenset[uuid.UUID], filters: dict) -> int:
    with tenants_scope(tenant_ids):
        listed = list_at_risk(now=utcnow(), **filters).order_by(None)
        return db.session.scalar(select(func.count()).select_from(listed.subquery()))
