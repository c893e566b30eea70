"""A firm's quality page: its quality report (scores per agent, question and over time) for a
period, with a chart and the CSV, read from the same report as the API's.
May import: app.auth, app.csv_responses, app.db, app.errors, app.reports (periods, quality,
quality_routes, quality_schemas), app.web."""

from __future__ import annotations

from flask import g, request
from flask_babel import gettext as _

from app.auth.permissions import QUALITY_REPORTS_READ
from app.auth.principal import check
from app.csv_responses import csv_response
from app.reports.periods import zone_of
from app.reports.quality import MAX_RANGE_DAYS, quality_report
from app.reports.quality_routes import csv_rows
from app.reports.quality_schemas import QualityCsvRowSchema, QualityReportQueryArgsSchema
from app.web.period_form import read_period_form
from app.web.portal.blueprint import bp
from app.web.shell import render

FORM_FIELDS = ("from", "to", "granularity")
_READERS = ("client_admin", "client_viewer", "bpo_admin", "supervisor")
_SCORE_COLOUR, _COUNT_COLOUR = "#0b5cad", "#e69f00"


def read_period(args):
    """The filter form read with the API's schema and period rules: (typed, period, errors)."""
    typed, loaded, period, errors = read_period_form(
        args,
        fields=FORM_FIELDS,
        schema=QualityReportQueryArgsSchema,
        max_days=lambda loaded: MAX_RANGE_DAYS[loaded["granularity"]],
    )
    if errors:
        return typed, None, errors
    zone = zone_of(g.tenant)
    start, end = period
    shown = {
        "from": start.astimezone(zone).date().isoformat(),
        "to": end.astimezone(zone).date().isoformat(),
        "granularity": loaded["granularity"],
    }
    return shown, (start, end, loaded["granularity"]), {}


def score_chart(report: dict) -> dict:
    """Chart.js: the average score per bucket (line) and the evaluations counted (bars)."""
    buckets = report["over_time"]
    return {
        "type": "bar",
        "data": {
            "labels": [b["start"].date().isoformat() for b in buckets],
            "datasets": [
                {
                    "type": "line",
                    "label": _("Average score (%)"),
                    "data": [
                        None if b["average_score_bps"] is None else b["average_score_bps"] / 100
                        for b in buckets
                    ],
                    "borderColor": _SCORE_COLOUR,
                    "spanGaps": True,
                    "yAxisID": "y",
                },
                {
                    "label": _("Evaluations"),
                    "data": [b["evaluations"] for b in buckets],
                    "backgroundColor": _COUNT_COLOUR,
                    "yAxisID": "count",
                },
            ],
        },
        "options": {
            "scales": {
                "y": {"beginAtZero": True, "suggestedMax": 100, "position": "left"},
                "count": {"beginAtZero": True, "position": "right"},
            }
        },
    }


@bp.get("/quality/report")
def quality_report_page(tenant_id):
    """The quality report: this local month by week unless the form says otherwise."""
    check(QUALITY_REPORTS_READ)
    typed, period, errors = read_period(request.args)
    context = {
        "firm": g.tenant,
        "typed": typed,
        "errors": errors,
        "found": None,
        "granularities": [("day", _("Day")), ("week", _("Week")), ("month", _("Month"))],
    }
    if period is not None:
        start, end, granularity = period
        found = quality_report(from_=start, to=end, granularity=granularity, zone=zone_of(g.tenant))
        context |= {"found": found, "chart": score_chart(found), "csv_args": typed}
    page = render("portal/quality_report.html", **context)
    return (page, 422) if errors else page


@bp.get("/quality/report.csv")
def quality_report_csv(tenant_id):
    """The page's report as CSV: the API's quality report CSV for the same period."""
    check(QUALITY_REPORTS_READ)
    _typed, period, _errors = read_period(request.args)
    if period is None:
        return quality_report_page(tenant_id)
    start, end, granularity = period
    zone = zone_of(g.tenant)
    found = quality_report(from_=start, to=end, granularity=granularity, zone=zone)
    return csv_response(
        QualityCsvRowSchema(),
        csv_rows(found),
        f"quality-{g.tenant.slug}-{start.astimezone(zone).date()}.csv",
        lead=("group", "id", "name", "section_key", "question_key", "start", "end"),
    )
