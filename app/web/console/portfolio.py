"""The portfolio: every firm the caller oversees on one screen, with its headline KPIs against
its own targets, sortable by any column, over today, this week or this month."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import g, request
from flask_babel import lazy_gettext

from app.auth.permissions import PORTFOLIO_READ
from app.auth.principal import check
from app.db import utcnow
from app.reports import targets
from app.reports.periods import instant, next_month, zone_of
from app.reports.portfolio import overseen_tenant_ids, visible_tenants
from app.reports.portfolio import portfolio as portfolio_rows
from app.web import labels
from app.web.console.blueprint import bp
from app.web.shell import render
from tenants import service as tenants_service
from tenants.models import Tenant
from tenants.scoping import tenants_scope

PERIODS = labels.PERIOD_LABELS
# The columns a person may sort by: the report's keys, in the table's order.
COLUMNS = {
    "name": lazy_gettext("Firm"),
    "received": lazy_gettext("Received"),
    "service_level": lazy_gettext("Service level"),
    "asa_seconds": lazy_gettext("ASA"),
    "aht_seconds": lazy_gettext("AHT"),
    "abandonment_rate": lazy_gettext("Abandonment"),
    "breaches": lazy_gettext("Breaches"),
    "fcr": lazy_gettext("FCR"),
    "csat": lazy_gettext("CSAT"),
    "backlog_now": lazy_gettext("Backlog"),
    "status": lazy_gettext("Status"),
}


def period_of(choice: str, tenant: Tenant, now: datetime) -> tuple[datetime, datetime]:
    """Today, this week (from Monday) or this month in the firm's own zone, as UTC instants:
    what the report's `from`/`to` dates mean for that firm."""
    zone = zone_of(tenant)
    today = now.astimezone(zone).date()
    if choice == "today":
        start, end = today, today + timedelta(days=1)
    elif choice == "week":
        start = today - timedelta(days=today.weekday())
        end = start + timedelta(days=7)
    else:
        start = today.replace(day=1)
        end = next_month(start)
    return instant(start, zone), instant(end, zone)


def _sorted(rows: list[dict], key: str, descending: bool) -> list[dict]:
    """Sorted by one column; firms without a figure (nothing to divide) last either way."""
    present = [r for r in rows if r[key] is not None]
    missing = [r for r in rows if r[key] is None]

    def value(row):
        item = row[key]
        return item.casefold() if isinstance(item, str) else item

    present.sort(key=lambda r: (value(r), r["name"].casefold()), reverse=descending)
    return present + missing


# Portfolio column -> the headline figure whose target judges it (app/reports/targets.py).
_JUDGED = {
    "service_level": "service_level",
    "asa_seconds": "asa_seconds",
    "aht_seconds": "aht_seconds",
    "abandonment_rate": "abandonment_rate",
    "breaches": "breaches",
    "fcr": "fcr_rate",
    "csat": "csat_rate",
}


def _verdicts(row: dict) -> dict[str, bool | None]:
    """Met (True), missed (False) or nothing to judge (None), per KPI, against the firm's own
    targets, as its dashboard judges them."""
    verdicts = {}
    for column, figure in _JUDGED.items():
        state = targets.state(figure, row[column], row["targets"].get(figure))
        verdicts[column] = None if state is None else state == "met"
    return verdicts


@bp.get("/")
def portfolio():
    """Every firm the caller oversees, with its headline KPIs over the chosen period."""
    check(PORTFOLIO_READ)
    principal = g.principal
    choice = request.args.get("period")
    choice = choice if choice in PERIODS else "month"
    sort = request.args.get("sort")
    sort = sort if sort in COLUMNS else "name"
    descending = request.args.get("dir") == "desc"
    now = utcnow()
    tenants = visible_tenants(tenant_ids=overseen_tenant_ids(principal))
    rows: list[dict] = []
    if tenants:
        periods = {t.id: period_of(choice, t, now) for t in tenants}
        # Read-only across exactly the firms the caller may compare, as the API's report.
        with tenants_scope(t.id for t in tenants):
            rows = portfolio_rows(tenants=tenants, periods=periods, now=now)
    by_id = {t.id: t for t in tenants}
    for row in rows:
        row["verdicts"] = _verdicts(row)
        row["moves"] = tenants_service.allowed_moves(tenant=by_id[row["tenant_id"]])
    return render(
        "console/portfolio.html",
        partial="console/_portfolio_table.html",
        rows=_sorted(rows, sort, descending),
        periods=PERIODS,
        period=choice,
        columns=COLUMNS,
        sort=sort,
        descending=descending,
        generated_at=now,
        is_admin=principal.is_bpo_admin,
    )
