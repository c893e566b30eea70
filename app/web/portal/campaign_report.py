"""A firm's campaign report page: its outbound campaigns per local day, per agent and in total
for a period (one campaign or all), with a chart and the CSV, read from the same report as the
API's. May import: app.auth, app.csv_responses, app.db, app.errors, app.reports (campaigns,
campaign_routes, campaign_schemas, periods), app.web."""

from __future__ import annotations

from flask import g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from app.auth.permissions import CAMPAIGN_REPORTS_READ
from app.auth.principal import check
from app.csv_responses import csv_response
from app.reports.campaign_routes import CSV_LEAD, csv_filename
from app.reports.campaign_schemas import CampaignCsvRowSchema, CampaignReportQueryArgsSchema
from app.reports.campaigns import MAX_RANGE_DAYS, campaign_choices, campaign_report, csv_rows
from app.reports.periods import zone_of
from app.web import nav
from app.web.period_form import read_period_form
from app.web.portal.blueprint import bp
from app.web.shell import render

FORM_FIELDS = ("from", "to", "campaign_id")
_READERS = ("bpo_admin", "supervisor", "client_admin", "client_viewer")
# One colour per campaign in the chart (Okabe-Ito: told apart by the colour-blind too).
_COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442")


def read_filters(args):
    """The filter form read with the API's schema and period rules: (typed, query, errors)."""
    typed, loaded, period, errors = read_period_form(
        args,
        fields=FORM_FIELDS,
        schema=CampaignReportQueryArgsSchema,
        max_days=lambda _loaded: MAX_RANGE_DAYS,
    )
    if errors:
        return typed, None, errors
    zone = zone_of(g.tenant)
    start, end = period
    shown = {
        "from": start.astimezone(zone).date().isoformat(),
        "to": end.astimezone(zone).date().isoformat(),
        "campaign_id": typed["campaign_id"],
    }
    return shown, (start, end, loaded.get("campaign_id")), {}


def attempts_chart(report: dict) -> dict:
    """Chart.js: attempts per local day, a stacked bar per campaign."""
    campaigns = report["campaigns"]
    days = campaigns[0]["days"] if campaigns else []
    return {
        "type": "bar",
        "data": {
            "labels": [day["date"].isoformat() for day in days],
            "datasets": [
                {
                    "label": campaign["name"],
                    "data": [day["attempts"] for day in campaign["days"]],
                    "backgroundColor": _COLOURS[n % len(_COLOURS)],
                }
                for n, campaign in enumerate(campaigns)
            ],
        },
        "options": {
            "scales": {"x": {"stacked": True}, "y": {"stacked": True, "beginAtZero": True}}
        },
    }


def _report(query):
    start, end, campaign_id = query
    return campaign_report(
        tenant=g.tenant, start=start, end=end, zone=zone_of(g.tenant), campaign_id=campaign_id
    )


@bp.get("/campaigns/report")
def campaign_report_page(tenant_id):
    """The campaign report: this local month, every campaign, unless the form says otherwise."""
    check(CAMPAIGN_REPORTS_READ)
    typed, query, errors = read_filters(request.args)
    choices = [("", _("All campaigns"))] + [(str(i), name) for i, name in campaign_choices()]
    context = {"firm": g.tenant, "typed": typed, "errors": errors, "found": None}
    context["choices"] = choices
    if query is not None:
        found = _report(query)  # an unknown campaign: the 404 page
        context |= {"found": found, "chart": attempts_chart(found), "csv_args": typed}
    page = render("portal/campaign_report.html", **context)
    return (page, 422) if errors else page


@bp.get("/campaigns/report.csv")
def campaign_report_csv(tenant_id):
    """The page's report as CSV: the API's campaign report CSV for the same filters."""
    check(CAMPAIGN_REPORTS_READ)
    _typed, query, _errors = read_filters(request.args)
    if query is None:
        return campaign_report_page(tenant_id)
    return csv_response(
        CampaignCsvRowSchema(),
        csv_rows(_report(query)),
        csv_filename(g.tenant, query[0], zone_of(g.tenant)),
        lead=CSV_LEAD,
    )


nav.portal(
    "web.portal.campaign_report_page",
    lazy_gettext("Campaign report"),
    order=47,
    roles=_READERS,
)
