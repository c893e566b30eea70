"""A firm's SLA dashboard (any range, granularity and filters, with its CSV) and its monthly
report (one local month, made to print), read from the same SLA report as the API's."""

from __future__ import annotations

from flask import abort, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from app.auth.permissions import REPORTS_READ
from app.auth.principal import check
from app.csv_responses import csv_response
from app.db import utcnow
from app.reports.periods import zone_of
from app.reports.schemas import SlaRowSchema
from app.reports.sla import sla_report
from app.web import nav
from app.web.portal import report
from app.web.portal.blueprint import bp
from app.web.shell import render

# Who reads the firm's reports (REPORTS_READ): the menu shows them the pages.
_READERS = ("client_admin", "client_viewer", "bpo_admin", "supervisor")


@bp.get("/dashboard")
def dashboard(tenant_id):
    """The SLA dashboard: this local month by default; the filter form narrows it."""
    check(REPORTS_READ)
    typed, question, errors = report.read_question(request.args)
    context = {
        "firm": g.tenant,
        "typed": typed,
        "errors": errors,
        "options": report.form_options(),
        "found": None,
    }
    if question is not None:
        found = report.answer(question)
        context |= {
            "found": found,
            "tiles": report.tiles(found["report"]),
            "charts": report.charts(found),
            "period": report.period_text(found["report"]),
            "csv_args": question.query_args(),
        }
    page = render("portal/dashboard.html", partial="portal/_dashboard.html", **context)
    return (page, 422) if errors else page


@bp.get("/dashboard.csv")
def dashboard_csv(tenant_id):
    """The dashboard's rows as CSV: the API's SLA report CSV for the same question."""
    check(REPORTS_READ)
    _typed, question, _errors = report.read_question(request.args)
    if question is None:
        # A CSV link is built from a valid question; a hand-edited one gets the page's errors.
        return dashboard(tenant_id)
    found = sla_report(
        tenant=g.tenant,
        from_=question.start,
        to=question.end,
        granularity=question.granularity,
        filters=question.filters,
        now=question.now,
    )
    filename = f"sla-{g.tenant.slug}-{found['from'].date()}-{found['to'].date()}.csv"
    return csv_response(
        SlaRowSchema(exclude=("group", "group_name")),
        found["rows"],
        filename,
        lead=("start", "end"),
    )


@bp.get("/reports")
def reports(tenant_id):
    """The monthly reports: a picker of the last twelve local months, or any month typed."""
    check(REPORTS_READ)
    typed = (request.args.get("month") or "").strip()
    errors = {}
    if typed:
        month = report.parse_month(typed)
        if month is not None:
            return redirect(url_for("web.portal.monthly_report", tenant_id=tenant_id, month=typed))
        errors = {"month": [_("Not a valid month (YYYY-MM).")]}
    today = utcnow().astimezone(zone_of(g.tenant)).date()
    page = render(
        "portal/reports.html",
        firm=g.tenant,
        months=report.months_before(today),
        typed=typed,
        errors=errors,
    )
    return (page, 422) if errors else page


@bp.get("/reports/<month>")
def monthly_report(tenant_id, month):
    """One local month's SLA report, day by day, laid out to print."""
    check(REPORTS_READ)
    first = report.parse_month(month)
    if first is None:
        abort(404)
    question = report.month_question(first)
    found = report.answer(question, by_queue=True)
    return render(
        "portal/monthly_report.html",
        firm=g.tenant,
        month=first,
        found=found,
        tiles=report.tiles(found["report"]),
        charts=report.charts(found),
        period=report.period_text(found["report"]),
        csv_args=question.query_args(),
    )


nav.portal("web.portal.dashboard", lazy_gettext("Dashboard"), order=10, roles=_READERS)
nav.portal("web.portal.reports", lazy_gettext("Monthly report"), order=15, roles=_READERS)
