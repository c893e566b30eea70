"""HTTP resources of reports: a client firm's (/v1/tenants/{id}/reports/...) and the BPO's
portfolio (/v1/reports/portfolio). JSON, or CSV with `Accept: text/csv`."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask.views import MethodView

from app.api_base import Blueprint
from app.auth.permissions import PORTFOLIO_READ, REPORTS_READ
from app.auth.principal import current_principal, current_tenant, require
from app.csv_responses import csv_doc, csv_response, wants_csv
from app.db import utcnow
from app.reports.agents import agent_time, agents_report
from app.reports.complaints import complaints_register, year_bounds
from app.reports.periods import MAX_PLAIN_RANGE_DAYS, resolve_period, zone_of
from app.reports.portfolio import overseen_tenant_ids, portfolio, visible_tenants
from app.reports.quality import quality_against_target
from app.reports.schemas import (
    AgentReportRowSchema,
    AgentsReportSchema,
    AgentTimeReportSchema,
    AgentTimeRowSchema,
    ComplaintSchema,
    ComplaintsRegisterQueryArgsSchema,
    ComplaintsRegisterSchema,
    PeriodQueryArgsSchema,
    PortfolioRowSchema,
    PortfolioSchema,
    SlaReportQueryArgsSchema,
    SlaReportSchema,
    SlaRowSchema,
)
from app.reports.sla import FILTERS, MAX_RANGE_DAYS, sla_report
from tenants.scoping import tenants_scope

reports_blp = Blueprint(
    "reports",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/reports",
    description="A client firm's reports. JSON, or CSV with `Accept: text/csv`.",
)
portfolio_blp = Blueprint(
    "portfolio",
    __name__,
    url_prefix="/v1/reports",
    description="The BPO's reports across the client firms it runs.",
)

UTC_ZONE = ZoneInfo("UTC")


def _firm_period(args: dict, *, max_days: int):
    """The firm in the URL, its zone, now, and the report's [from, to) in that zone."""
    tenant = current_tenant()
    zone = zone_of(tenant)
    now = utcnow()
    period = resolve_period(
        zone=zone, from_=args.get("from_"), to=args.get("to"), max_days=max_days, now=now
    )
    return tenant, zone, now, period


@reports_blp.route("/agent-time")
class AgentTime(MethodView):
    @require(REPORTS_READ)
    @reports_blp.arguments(PeriodQueryArgsSchema, location="query")
    @reports_blp.response(200, AgentTimeReportSchema)
    @reports_blp.doc(**csv_doc("one row per agent.", json="The report as JSON"))
    def get(self, args, tenant_id):
        """Report the agents' working time (seconds) attributed to the client firm

        Working time is presence available, busy or after-contact work; time an agent spends
        with queues of several firms active is shared equally between them, while wrapping up
        a contact after resolving it counts for that contact's firm alone; break and offline
        time counts for nobody. `from`/`to` as in every report: a date (local midnight in the
        firm's zone) or an RFC 3339 date-time, `to` exclusive, both defaulting to this local
        month; at most 366 days. `Accept: text/csv` gives one row per agent.
        """
        tenant, zone, now, (start, end) = _firm_period(args, max_days=MAX_PLAIN_RANGE_DAYS)
        agents = agent_time(from_=start, to=end, now=now)
        if wants_csv():
            filename = f"agent-time-{tenant.slug}-{start.astimezone(zone).date()}.csv"
            return csv_response(AgentTimeRowSchema(), agents, filename, lead=("agent_id", "name"))
        return {
            "tenant_id": tenant.id,
            "time_zone": tenant.time_zone,
            "from": start.astimezone(zone),
            "to": end.astimezone(zone),
            "generated_at": now,
            "agents": agents,
        }


@reports_blp.route("/sla")
class SlaReport(MethodView):
    @require(REPORTS_READ)
    @reports_blp.arguments(SlaReportQueryArgsSchema, location="query")
    @reports_blp.response(200, SlaReportSchema)
    @reports_blp.doc(**csv_doc("one row per bucket (and group).", json="The report as JSON"))
    def get(self, args, tenant_id):
        """Report service level and KPIs per hour, day, week or month, optionally by group

        Buckets follow the firm's time zone (a day is 23 or 25 hours when the clocks change);
        a contact counts in the bucket it was received in, with what is known about it now.
        The service level follows the firm's default SLA policy's abandon treatment and
        short-abandon threshold, echoed in `settings`. Business-time figures (first response,
        resolution) come from the contacts' SLA clocks. `queue_id`, `channel`, `category` and
        `priority` narrow the contacts counted. Rates are fractions, null when nothing
        was there to measure. `Accept: text/csv` gives the rows as CSV (nested figures
        flattened: `first_response_median_seconds`); errors stay problem+json.
        """
        tenant, _zone, now, (start, end) = _firm_period(
            args, max_days=MAX_RANGE_DAYS[args["granularity"]]
        )
        report = sla_report(
            tenant=tenant,
            from_=start,
            to=end,
            granularity=args["granularity"],
            group_by=args.get("group_by"),
            filters={name: args.get(name) for name in FILTERS},
            now=now,
        )
        report["quality"] = quality_against_target(
            from_=start, to=end, target_bps=report["settings"]["targets"].get("quality_score_bps")
        )
        if not wants_csv():
            return report
        exclude = () if report["group_by"] else ("group", "group_name")
        filename = f"sla-{tenant.slug}-{report['from'].date()}-{report['to'].date()}.csv"
        return csv_response(
            SlaRowSchema(exclude=exclude),
            report["rows"],
            filename,
            lead=("start", "end", "group", "group_name"),
        )


@reports_blp.route("/complaints-register")
class ComplaintsRegister(MethodView):
    @require(REPORTS_READ)
    @reports_blp.arguments(ComplaintsRegisterQueryArgsSchema, location="query")
    @reports_blp.response(200, ComplaintsRegisterSchema)
    @reports_blp.doc(**csv_doc("one row per complaint or claim.", json="The report as JSON"))
    def get(self, args, tenant_id):
        """List every complaint and claim received in a year: the yearly register

        The year is the firm's local calendar year. Each entry has its received and closed
        dates (closed, else resolved), channel, category, summary, the remedy asked, the
        outcome, the compensation (minor units of the firm's currency) and the local calendar
        days it took to close. `Accept: text/csv` streams the register as CSV.
        """
        tenant = current_tenant()
        zone = zone_of(tenant)
        year = args.get("year") or utcnow().astimezone(zone).year
        entries = complaints_register(tenant=tenant, year=year)
        if wants_csv():
            return csv_response(
                ComplaintSchema(),
                entries,
                f"complaints-register-{tenant.slug}-{year}.csv",
                tenant_id=tenant.id,
            )
        start, end = year_bounds(year=year, zone=zone)
        complaints = list(entries)
        return {
            "tenant_id": tenant.id,
            "year": year,
            "time_zone": tenant.time_zone,
            "from": start.astimezone(zone),
            "to": end.astimezone(zone),
            "count": len(complaints),
            "complaints": complaints,
        }


@reports_blp.route("/agents")
class AgentsReport(MethodView):
    @require(REPORTS_READ)
    @reports_blp.arguments(PeriodQueryArgsSchema, location="query")
    @reports_blp.response(200, AgentsReportSchema)
    @reports_blp.doc(**csv_doc("one row per agent.", json="The report as JSON"))
    def get(self, args, tenant_id):
        """Report each agent's work for the client firm: handled, AHT, occupancy, CSAT

        Only this firm's work counts: contacts of the firm the agent handled and that were
        resolved (or closed) in the range, and the `available` time attributed to the firm
        (its share while several firms' queues were active). Agents stay `available` while
        working a contact, so idle time is available time minus handle time, never below 0,
        and occupancy = handle / (handle + idle). At most 366 days.
        """
        tenant, zone, now, (start, end) = _firm_period(args, max_days=MAX_PLAIN_RANGE_DAYS)
        report = agents_report(from_=start, to=end, now=now, tenant=tenant)
        if wants_csv():
            filename = f"agents-{tenant.slug}-{start.astimezone(zone).date()}.csv"
            return csv_response(
                AgentReportRowSchema(),
                report["agents"],
                filename,
                lead=("agent_id", "name"),
            )
        return {
            "tenant_id": tenant.id,
            "time_zone": tenant.time_zone,
            "from": start.astimezone(zone),
            "to": end.astimezone(zone),
            "generated_at": now,
            **report,
        }


@portfolio_blp.route("/portfolio")
class Portfolio(MethodView):
    @require(PORTFOLIO_READ)
    @portfolio_blp.arguments(PeriodQueryArgsSchema, location="query")
    @portfolio_blp.response(200, PortfolioSchema)
    @portfolio_blp.doc(**csv_doc("one row per client firm.", json="The report as JSON"))
    def get(self, args):
        """Compare the client firms' headline KPIs side by side

        A BPO admin sees every firm; a supervisor, the firms it supervises. Each firm's figures
        use its own time zone (a date means midnight there), abandon treatment and targets.
        At most 366 days; both bounds default to each firm's current month.
        """
        now = utcnow()
        # Bad bounds are refused even for a caller who oversees no firm.
        resolve_period(
            zone=UTC_ZONE,
            from_=args.get("from_"),
            to=args.get("to"),
            max_days=MAX_PLAIN_RANGE_DAYS,
            now=now,
        )
        tenants = visible_tenants(tenant_ids=overseen_tenant_ids(current_principal()))
        periods = {
            tenant.id: resolve_period(
                zone=zone_of(tenant),
                from_=args.get("from_"),
                to=args.get("to"),
                max_days=MAX_PLAIN_RANGE_DAYS,
                now=now,
            )
            for tenant in tenants
        }
        rows: list[dict] = []
        if tenants:
            # Read-only across exactly the firms the caller may compare.
            with tenants_scope(tenant.id for tenant in tenants):
                rows = portfolio(tenants=tenants, periods=periods, now=now)
        if wants_csv():
            return csv_response(PortfolioRowSchema(), rows, f"portfolio-{now.date()}.csv")
        return {"generated_at": now, "tenants": rows}
