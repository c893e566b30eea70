"""The BPO's portfolio: the headline KPIs of the client firms it oversees, side by side.

One row per firm, each over its own period and under its own SLA settings, in a fixed number of
grouped queries whatever the number of firms.

May import: app.db, the models of contacts and SLA, tenants.models and app.reports (measures,
periods).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import (
    Integer,
    Uuid,
    and_,
    column,
    func,
    select,
    values,
)

from app.contacts.models import Contact
from app.db import UTCDateTime, db, utcnow
from app.reports import daily, targets
from app.reports.measures import (
    DEFAULT_SETTINGS,
    SECONDS_DIGITS,
    as_int,
    contact_measures,
    counts_of,
    done_at,
    fcr_rate,
    ratio,
    service_level,
    sql_instant,
)
from app.reports.periods import zone_of
from app.sla.models import CLOCK_KINDS, SlaClock, SlaPolicy
from tenants.models import Tenant


def portfolio(
    *,
    tenants: list[Tenant],
    periods: dict[uuid.UUID, tuple[datetime, datetime]],
    now: datetime | None = None,
) -> list[dict]:
    """One row of headline KPIs per tenant (all in scope), each over its own period and under its
    own abandon treatment: from each firm's daily roll-ups where they can say, the others from
    the contacts in a fixed number of grouped queries whatever their number."""
    if not tenants:
        return []
    at = now or utcnow()
    policies = {
        policy.tenant_id: policy
        for policy in db.session.scalars(
            select(SlaPolicy).where(SlaPolicy.is_default.is_(True)).order_by(SlaPolicy.created_at)
        )
    }
    settings = {}
    for tenant in tenants:
        policy = policies.get(tenant.id)
        settings[tenant.id] = (
            {
                "abandon_treatment": policy.abandon_treatment,
                "short_abandon_seconds": policy.short_abandon_seconds,
                "fcr_window_days": policy.fcr_window_days,
                "service_level_target_bps": policy.service_level_target_bps,
            }
            if policy is not None
            else dict(DEFAULT_SETTINGS)
        )
        settings[tenant.id]["targets"] = targets.of_policy(policy)
    figures = _from_rollups(tenants=tenants, periods=periods, settings=settings)
    rest = [tenant for tenant in tenants if tenant.id not in figures]
    if rest:
        figures |= _from_contacts(tenants=rest, periods=periods, settings=settings, at=at)
    rows = []
    for tenant in tenants:
        zone = zone_of(tenant)
        own = settings[tenant.id]
        counts, breaches, backlog = figures[tenant.id]
        start, end = periods[tenant.id]
        rows.append(
            {
                "tenant_id": tenant.id,
                "slug": tenant.slug,
                "name": tenant.name,
                "status": tenant.status,
                "time_zone": tenant.time_zone,
                "from": start.astimezone(zone),
                "to": end.astimezone(zone),
                "received": counts["received"],
                "handled": counts["handled"],
                "answered": counts["answered"],
                "abandoned": counts["abandoned"],
                "short_abandoned": counts["short_abandoned"],
                "abandon_treatment": own["abandon_treatment"],
                "short_abandon_seconds": own["short_abandon_seconds"],
                "service_level": service_level(counts, own["abandon_treatment"]),
                "service_level_target": own["service_level_target_bps"] / 10000,
                "asa_seconds": ratio(counts["answer_wait"], counts["answered"], SECONDS_DIGITS),
                "aht_seconds": ratio(counts["handle"], counts["handled"], SECONDS_DIGITS),
                "abandonment_rate": ratio(counts["abandoned"], counts["offered"]),
                "breaches": breaches,
                "fcr": fcr_rate(counts),
                "csat": ratio(counts["satisfied"], counts["rated"]),
                "backlog_now": backlog,
                "targets": own["targets"],
            }
        )
    return rows


def _from_rollups(*, tenants: list[Tenant], periods: dict, settings: dict) -> dict:
    """tenant id -> (counts, breaches, backlog now) of the firms whose roll-ups can say."""
    return {
        tenant_id: (
            daily.as_counts(summed),
            sum(summed[f"{kind}_breaches"] for kind in CLOCK_KINDS),
            open_now,
        )
        for tenant_id, (summed, open_now) in daily.firms(
            tenants=tenants, periods=periods, settings=settings
        ).items()
    }


def _from_contacts(*, tenants: list[Tenant], periods: dict, settings: dict, at: datetime) -> dict:
    """tenant id -> (counts, breaches, backlog now), read from the contacts, in a fixed number
    of grouped queries whatever the number of firms."""
    params = (
        values(
            column("tenant_id", Uuid()),
            column("starts", UTCDateTime()),
            column("ends", UTCDateTime()),
            column("short_seconds", Integer()),
            column("fcr_seconds", Integer()),
            # The period widened by the FCR window, for the repeats around its edges.
            column("around_starts", UTCDateTime()),
            column("around_ends", UTCDateTime()),
            name="params",
        )
        .data(
            [
                _portfolio_params(tenant, periods[tenant.id], settings[tenant.id])
                for tenant in tenants
            ]
        )
        .cte("params")
    )
    c = Contact
    p = params.c
    in_period = and_(p.tenant_id == c.tenant_id, c.received_at >= p.starts, c.received_at < p.ends)
    around = and_(
        p.tenant_id == c.tenant_id, c.received_at >= p.around_starts, c.received_at <= p.around_ends
    )
    measured = {
        row.tenant_id: row
        for row in db.session.execute(
            contact_measures(
                keys={"tenant_id": c.tenant_id},
                joins=[(params, around)],
                in_range=and_(c.received_at >= p.starts, c.received_at < p.ends),
                around=[],
                short_seconds=p.short_seconds,
                fcr_seconds=p.fcr_seconds,
            )
        )
    }
    k = SlaClock
    breaches = dict(
        db.session.execute(
            select(c.tenant_id, func.count())
            .select_from(k)
            .join(c, c.id == k.contact_id)
            .join(params, in_period)
            .where(k.breached_at.is_not(None))
            .group_by(c.tenant_id)
        ).all()
    )
    backlog = dict(
        db.session.execute(
            select(c.tenant_id, func.count())
            .where(c.received_at <= sql_instant(at), done_at(c).is_(None))
            .group_by(c.tenant_id)
        ).all()
    )
    return {
        tenant.id: (
            counts_of(measured.get(tenant.id)),
            as_int(breaches.get(tenant.id)),
            as_int(backlog.get(tenant.id)),
        )
        for tenant in tenants
    }


def _portfolio_params(tenant: Tenant, period: tuple[datetime, datetime], settings: dict) -> tuple:
    window = timedelta(days=settings["fcr_window_days"])
    start, end = period
    return (
        tenant.id,
        start,
        end,
        settings["short_abandon_seconds"],
        int(window.total_seconds()),
        start - window,
        end + window,
    )


def overseen_tenant_ids(principal) -> frozenset[uuid.UUID] | None:
    """The tenants whose figures a caller (app.auth.principal.Principal) compares: None for all
    (a BPO admin), else those it supervises (the same rule as the agents' routes)."""
    if principal.is_bpo_admin:
        return None
    return frozenset(t for t, role in principal.tenant_roles.items() if role == "supervisor")


def visible_tenants(*, tenant_ids: frozenset[uuid.UUID] | None) -> list[Tenant]:
    """The tenants with these ids (None: every tenant), by name."""
    stmt = select(Tenant).order_by(Tenant.name, Tenant.id)
    if tenant_ids is not None:
        stmt = stmt.where(Tenant.id.in_(sorted(tenant_ids)))
    return list(db.session.scalars(stmt))
