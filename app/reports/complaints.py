"""The complaints register: every complaint and claim a firm received in a local calendar year.

A listing, streamed in batches: the one report that reads rows rather than aggregates.

May import: app.db, the contact model, tenants.models and app.reports (measures, periods,
departments).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.contacts.models import Contact
from app.db import db
from app.reports.departments import seconds_of_contact
from app.reports.measures import sql_instant
from app.reports.periods import instant, zone_of
from tenants.models import Tenant

REGISTER_CATEGORIES = ("complaint", "claim")


def year_bounds(*, year: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local year [1 January, next 1 January) as UTC instants."""
    return instant(date(year, 1, 1), zone), instant(date(year + 1, 1, 1), zone)


def _in_register(tenant: Tenant, year: int) -> list:
    start, end = year_bounds(year=year, zone=zone_of(tenant))
    return [
        Contact.category.in_(REGISTER_CATEGORIES),
        Contact.received_at >= sql_instant(start),
        Contact.received_at < sql_instant(end),
    ]


def count_complaints(*, tenant: Tenant, year: int) -> int:
    """How many complaints and claims the tenant in scope received in the local `year`."""
    return db.session.scalar(
        select(func.count()).select_from(Contact).where(*_in_register(tenant, year))
    )


def complaints_register(
    *,
    tenant: Tenant,
    year: int,
    batch: int = 500,
    offset: int = 0,
    limit: int | None = None,
) -> Iterator[dict]:
    """Yield every complaint and claim the tenant in scope received in the local `year`, oldest
    first, fetched `batch` rows at a time (or one page of them: `offset`, `limit`)."""
    zone = zone_of(tenant)
    c = Contact
    stmt = (
        select(
            c.id,
            c.external_id,
            c.received_at,
            c.closed_at,
            c.resolved_at,
            c.status,
            c.channel,
            c.category,
            c.priority,
            c.subject,
            c.remedy_requested,
            c.outcome,
            c.compensation_amount,
            seconds_of_contact(c.id).label("seconds_with_departments"),
        )
        .where(*_in_register(tenant, year))
        .order_by(c.received_at, c.id)
        .offset(offset)
        .limit(limit)
        .execution_options(yield_per=batch)
    )
    for row in db.session.execute(stmt):
        received = row.received_at.astimezone(zone)
        closed_at = row.closed_at or row.resolved_at
        closed = closed_at.astimezone(zone) if closed_at is not None else None
        yield {
            "contact_id": row.id,
            "external_id": row.external_id,
            "received_at": received,
            "closed_at": closed,
            "status": row.status,
            "channel": row.channel,
            "category": row.category,
            "priority": row.priority,
            "summary": row.subject,
            "remedy_requested": row.remedy_requested,
            "outcome": row.outcome,
            "compensation_amount": row.compensation_amount,
            "currency": tenant.currency,
            "seconds_with_departments": int(row.seconds_with_departments or 0),
            # Local calendar days, as a person reading the register would count them.
            "days_to_close": (closed.date() - received.date()).days if closed else None,
        }
