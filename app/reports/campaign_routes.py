"""HTTP resource of a firm's campaign report (/v1/tenants/{id}/reports/campaigns): per campaign,
local day and agent. JSON, or CSV (one row per campaign per day).
May import: app.api_base, app.auth, app.csv_responses, app.db, app.reports."""

from __future__ import annotations

from flask.views import MethodView

from app.api_base import Blueprint
from app.auth.permissions import CAMPAIGN_REPORTS_READ
from app.auth.principal import current_tenant, require
from app.csv_responses import csv_doc, csv_response, wants_csv
from app.db import utcnow
from app.reports.campaign_schemas import (
    CampaignCsvRowSchema,
    CampaignReportQueryArgsSchema,
    CampaignReportSchema,
)
from app.reports.campaigns import MAX_RANGE_DAYS, campaign_report, csv_rows
from app.reports.periods import resolve_period, zone_of

campaign_reports_blp = Blueprint(
    "campaign_reports",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/reports",
    description="A client firm's outbound campaigns: attempts, reach, successes, dispositions.",
)

# The CSV's first columns: which campaign and day a row is.
CSV_LEAD = ("campaign_id", "campaign_name", "date")


def csv_filename(tenant, start, zone) -> str:
    return f"campaigns-{tenant.slug}-{start.astimezone(zone).date()}.csv"


@campaign_reports_blp.route("/campaigns")
class CampaignReport(MethodView):
    @require(CAMPAIGN_REPORTS_READ)
    @campaign_reports_blp.arguments(CampaignReportQueryArgsSchema, location="query")
    @campaign_reports_blp.response(200, CampaignReportSchema)
    @campaign_reports_blp.doc(
        **csv_doc(
            "one row per campaign per local day (dispositions as `code=count` pairs).",
            json="The report as JSON",
        )
    )
    def get(self, args, tenant_id):
        """Report the firm's outbound campaigns per local day, per agent and in total

        An attempt counts on the firm's local day it started (an agent took the record);
        whether it reached the customer, or was a success, is what its disposition says in the
        campaign's dispositions now (a code no longer listed: neither). Rates: `reach_rate`
        = reached / attempts, `success_rate` = successes / reached (4 digits, null when
        nothing to divide); `average_handle_seconds` is talk + hold + after-call work of the
        attempts ended. `records_loaded` counts records loaded in the period; `records`, each
        campaign's records by state now. Campaigns shown: those running or paused, and any
        with activity in the period (or the one asked for). At most 366 days; `from`/`to` as
        in every report (default: this local month). CSV with `Accept: text/csv` or
        `format=csv`.
        """
        tenant = current_tenant()
        zone = zone_of(tenant)
        now = utcnow()
        start, end = resolve_period(
            zone=zone, from_=args.get("from_"), to=args.get("to"), max_days=MAX_RANGE_DAYS, now=now
        )
        report = campaign_report(
            tenant=tenant, start=start, end=end, zone=zone, campaign_id=args.get("campaign_id")
        )
        if args.get("format") == "csv" or (args.get("format") is None and wants_csv()):
            return csv_response(
                CampaignCsvRowSchema(),
                csv_rows(report),
                csv_filename(tenant, start, zone),
                lead=CSV_LEAD,
            )
        return {
            "tenant_id": tenant.id,
            "time_zone": tenant.time_zone,
            "from": start.astimezone(zone),
            "to": end.astimezone(zone),
            "generated_at": now,
            **report,
        }
