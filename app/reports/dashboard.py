"""What a firm's dashboard reads beside its SLA report: the volume by channel, and the
breaches the report counts, one by one.

May import: app.db, the contact and SLA models, tenants and app.reports (daily, measures,
periods, settings, sla).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from app.contacts.models import Contact
from app.db import db
from app.reports import daily
from app.reports.measures import sql_instant
from app.reports.periods import check_range, zone_of
from app.reports.settings import report_settings
from app.reports.sla import MAX_RANGE_DAYS, bucket_of, buckets, narrowing, rolled_up_slice
from app.sla.models import SlaClock
from app.vocabulary import CHANNELS
from tenants.models import Tenant
from tenants.scoping import TenantScopeError, current_scope


def received_by_channel(
    *,
    tenant: Tenant,
    from_: datetime,
    to: datetime,
    granularity: str,
    filters: dict | None = None,
) -> dict:
    """Contacts received per bucket and channel: what sla_report(group_by="channel") says of
    volume, in the same buckets and under the same filters, from one grouped count instead of
    every measure (the dashboard's volume chart asks for nothing else)."""
    scope = current_scope()
    if scope is None or (not scope.is_unscoped and tenant.id not in scope.tenant_ids):
        raise TenantScopeError("the report's tenant is not in scope")
    zone = zone_of(tenant)
    check_range(start=from_, end=to, zone=zone, max_days=MAX_RANGE_DAYS[granularity])
    spans = buckets(start=from_, end=to, granularity=granularity, zone=zone)
    received = _received_from_days(
        tenant=tenant, spans=spans, granularity=granularity, filters=filters
    )
    if received is None:
        received = _received_from_contacts(spans=spans, filters=filters)
    channels = [name for name in CHANNELS if any(key[1] == name for key in received)]
    return {
        "rows": [
            {
                "start": start.astimezone(zone),
                "end": end.astimezone(zone),
                "group": channel,
                "received": received.get((number, channel), 0),
            }
            for number, (start, end) in enumerate(spans, start=1)
            for channel in channels
        ]
    }


def _received_from_days(
    *, tenant: Tenant, spans: list, granularity: str, filters: dict | None
) -> dict | None:
    """(bucket number, channel) -> contacts received, from the roll-ups if they can say."""
    of = rolled_up_slice(filters)
    if of is None or granularity == "hour":
        return None
    zone = zone_of(tenant)
    found = daily.read(
        tenant=tenant,
        zone=zone,
        settings=report_settings(),
        from_=spans[0][0],
        to=spans[-1][1],
        durations=False,
    )
    if found is None:
        return None
    received: dict = {}
    for number, (start, end) in enumerate(spans, start=1):
        first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        for key, count in found.received.items():
            if first <= key[0] < last and count and daily.within(key, of):
                channel = key[1]
                received[(number, channel)] = received.get((number, channel), 0) + count
    return received


def _received_from_contacts(*, spans: list, filters: dict | None) -> dict:
    c = Contact
    from_, to = spans[0][0], spans[-1][1]
    bucket = bucket_of(c.received_at, [span[0] for span in spans]).label("bucket")
    counted = db.session.execute(
        select(bucket, c.channel, func.count())
        .where(
            c.received_at >= sql_instant(from_),
            c.received_at < sql_instant(to),
            *narrowing(filters),
        )
        .group_by(bucket, c.channel)
    ).all()
    return {(number, channel): count for number, channel, count in counted}


def sla_breaches(
    *, from_: datetime, to: datetime, filters: dict | None = None, limit: int = 200
) -> list[dict]:
    """The breached SLA clocks of the contacts received in [from_, to) (narrowed by `filters`)
    in the tenant in scope, latest breach first, at most `limit`: what the report counts."""
    scope = current_scope()
    if scope is None:
        raise TenantScopeError("breaches are read in a tenant's scope")
    k, c = SlaClock, Contact
    rows = db.session.execute(
        select(
            c.id,
            c.subject,
            c.channel,
            c.priority,
            c.received_at,
            k.kind,
            k.breached_at,
        )
        .join(c, c.id == k.contact_id)
        .where(
            k.breached_at.is_not(None),
            c.received_at >= sql_instant(from_),
            c.received_at < sql_instant(to),
            *narrowing(filters),
        )
        .order_by(k.breached_at.desc(), c.id, k.kind)
        .limit(limit)
    )
    return [
        {
            "contact_id": r.id,
            "subject": r.subject,
            "channel": r.channel,
            "priority": r.priority,
            "received_at": r.received_at,
            "kind": r.kind,
            "breached_at": r.breached_at,
        }
        for r in rows
    ]
