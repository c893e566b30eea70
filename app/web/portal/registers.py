"""A firm's registers in the portal: the yearly complaints and claims register (and its CSV) and
its agents' figures, each the API's report for the same question."""

from __future__ import annotations

from flask import g, request
from flask_babel import lazy_gettext
from marshmallow import ValidationError

from app.auth.permissions import REPORTS_READ
from app.auth.principal import check
from app.csv_responses import csv_response
from app.db import utcnow
from app.errors import Unprocessable
from app.reports.agents import agents_report
from app.reports.complaints import complaints_register, count_complaints
from app.reports.periods import MAX_PLAIN_RANGE_DAYS, resolve_period, zone_of
from app.reports.schemas import (
    ComplaintSchema,
    ComplaintsRegisterQueryArgsSchema,
    PeriodQueryArgsSchema,
)
from app.web import nav
from app.web.portal.blueprint import bp
from app.web.shell import form_errors, render


def _year(args) -> tuple[str, int | None, dict[str, list[str]]]:
    """The year typed, as the API's schema loads it (default: this local year), and errors."""
    typed = args.get("year", "").strip()
    try:
        loaded = ComplaintsRegisterQueryArgsSchema().load({"year": typed} if typed else {})
    except ValidationError as err:
        return typed, None, form_errors(err.messages)
    year = loaded.get("year") or utcnow().astimezone(zone_of(g.tenant)).year
    return typed or str(year), year, {}


@bp.get("/complaints")
def complaints(tenant_id):
    """Every complaint and claim received in a local calendar year, oldest first."""
    check(REPORTS_READ)
    typed, year, errors = _year(request.args)
    page = _page_number(request.args.get("page"))
    entries, total = [], 0
    if not errors:
        # A big firm's year holds hundreds of thousands: the page shows one page of them; the
        # CSV below carries them all.
        total = count_complaints(tenant=g.tenant, year=year)
        entries = list(
            complaints_register(
                tenant=g.tenant,
                year=year,
                offset=(page - 1) * REGISTER_PAGE_SIZE,
                limit=REGISTER_PAGE_SIZE,
            )
        )
    return render(
        "portal/complaints.html",
        partial="portal/_complaints.html",
        firm=g.tenant,
        year=year,
        typed=typed,
        errors=errors,
        complaints=entries,
        total=total,
        page=page,
        pages=max(1, -(-total // REGISTER_PAGE_SIZE)),
    ), (422 if errors else 200)


REGISTER_PAGE_SIZE = 100


def _page_number(text: str | None) -> int:
    """A page number from the query; anything else is the first page."""
    return int(text) if text and text.isdigit() and 0 < int(text) < 1_000_000 else 1


@bp.get("/complaints.csv")
def complaints_csv(tenant_id):
    """The register as CSV: the API's columns and cells (app/csv_responses.py)."""
    check(REPORTS_READ)
    typed, year, errors = _year(request.args)
    if errors:
        return render(
            "portal/complaints.html",
            firm=g.tenant,
            year=None,
            typed=typed,
            errors=errors,
            complaints=[],
        ), 422
    tenant = g.tenant
    return csv_response(
        ComplaintSchema(),
        complaints_register(tenant=tenant, year=year),
        f"complaints-register-{tenant.slug}-{year}.csv",
        tenant_id=tenant.id,
    )


def unprocessable_errors(exc: Unprocessable) -> dict[str, list[str]]:
    """A service's 422 by form field: its `errors` are under where the API read them (`query`,
    `path`: `{"query": {"to": [...]}}`); with none, the message is the whole form's."""
    located = exc.extra.get("errors") or {}
    by_field = next(iter(located.values()), None) if located else None
    return form_errors(by_field or {"_schema": [exc.detail]})


@bp.get("/agents")
def agents(tenant_id):
    """Each agent's work for the firm over a range (default: this local month)."""
    check(REPORTS_READ)
    typed = {name: request.args.get(name, "").strip() for name in ("from", "to")}
    tenant, report, errors = g.tenant, None, {}
    now = utcnow()
    try:
        args = PeriodQueryArgsSchema().load({k: v for k, v in typed.items() if v})
        start, end = resolve_period(
            zone=zone_of(tenant),
            from_=args.get("from_"),
            to=args.get("to"),
            max_days=MAX_PLAIN_RANGE_DAYS,
            now=now,
        )
    except ValidationError as err:
        errors = form_errors(err.messages)
    except Unprocessable as exc:
        errors = unprocessable_errors(exc)
    else:
        found = agents_report(from_=start, to=end, now=now, tenant=tenant)
        report = {"from": start, "to": end, **found}
    return render(
        "portal/agents.html",
        partial="portal/_agents.html",
        firm=tenant,
        typed=typed,
        errors=errors,
        report=report,
    ), (422 if errors else 200)


# The roles REPORTS_READ allows (an agent reads no reports); the integration never browses.
_READERS = ("bpo_admin", "supervisor", "client_admin", "client_viewer")
nav.portal("web.portal.complaints", lazy_gettext("Complaints"), order=30, roles=_READERS)
nav.portal("web.portal.agents", lazy_gettext("Agents"), order=40, roles=_READERS)
