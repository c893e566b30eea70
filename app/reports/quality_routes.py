"""HTTP resources of quality reports: a firm's quality and calibration reports
(/v1/tenants/{id}/reports/quality...), an agent's coaching for its supervisors, and the calling
agent's own coaching across the firms it serves (/v1/me/coaching). JSON, or CSV.
May import: app.api_base, app.auth, app.csv_responses, app.db, app.agents, app.reports."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask.views import MethodView
from flask_smorest import abort

from app.agents.common import assigned_tenant_ids
from app.agents.models import Agent
from app.api_base import Blueprint
from app.auth.permissions import AGENT_WORK, COACHING_READ, QUALITY_REPORTS_READ
from app.auth.principal import NotVisible, current_principal, current_tenant, require
from app.csv_responses import csv_doc, csv_response, wants_csv
from app.db import db, utcnow
from app.reports.periods import MAX_PLAIN_RANGE_DAYS, resolve_period, zone_of
from app.reports.quality import (
    MAX_RANGE_DAYS,
    calibration_report,
    coaching,
    quality_report,
    serves_firm,
)
from app.reports.quality_schemas import (
    CalibrationCsvRowSchema,
    CalibrationReportSchema,
    CoachingQueryArgsSchema,
    CoachingSchema,
    QualityCsvRowSchema,
    QualityReportQueryArgsSchema,
    QualityReportSchema,
)
from app.reports.schemas import PeriodQueryArgsSchema
from tenants.scoping import tenants_scope

quality_reports_blp = Blueprint(
    "quality_reports",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/reports",
    description="A client firm's quality figures: its reviews' scores, calibrations, coaching.",
)
my_coaching_blp = Blueprint(
    "my_coaching",
    __name__,
    url_prefix="/v1/me",
    description="The calling agent's own coaching.",
)


def _period(args: dict, *, max_days: int):
    tenant = current_tenant()
    zone = zone_of(tenant)
    now = utcnow()
    start, end = resolve_period(
        zone=zone, from_=args.get("from_"), to=args.get("to"), max_days=max_days, now=now
    )
    return tenant, zone, now, start, end


def csv_rows(report: dict) -> list[dict]:
    """The report flattened: the total, each agent, queue, scorecard, bucket, section and
    question, one row each, named by `group`."""
    rows = [{"group": "total", **report["total"]}]
    for group, id_name in (
        ("agent", "agent_id"),
        ("queue", "queue_id"),
        ("scorecard", "scorecard_id"),
    ):
        rows += [{"group": group, "id": row[id_name], **row} for row in report[f"{group}s"]]
    rows += [{"group": "bucket", **row} for row in report["over_time"]]
    for group in ("section", "question"):
        rows += [
            {"group": group, "id": row["scorecard_id"], "name": row["scorecard_name"], **row}
            for row in report[f"{group}s"]
        ]
    return rows


@quality_reports_blp.route("/quality")
class QualityReport(MethodView):
    @require(QUALITY_REPORTS_READ)
    @quality_reports_blp.arguments(QualityReportQueryArgsSchema, location="query")
    @quality_reports_blp.response(200, QualityReportSchema)
    @quality_reports_blp.doc(
        **csv_doc(
            "one row per figure set: `group` is total, agent, queue, scorecard, bucket, "
            "section or question.",
            json="The report as JSON",
        )
    )
    def get(self, args, tenant_id):
        """Report the firm's quality: scores per agent, queue, scorecard, section, question, time

        Only current reviews count: purpose review, submitted, not superseded by a rescoring;
        a review counts in the period it was submitted in, a dispute in the period it was
        raised (grouped by the review disputed). Scores are basis points (10000 = 100%); an
        average is the integer sum divided once, rounded half up. A section's or question's
        `earned_share_bps` weights each answer by its question's points; answers "not
        applicable" are counted apart and weigh nothing; a failure is an answer that earned
        nothing. `over_time` buckets by day, week (Monday) or month of the firm's calendar.
        `from`/`to` as in every report (default: this local month).
        """
        tenant, zone, now, start, end = _period(args, max_days=MAX_RANGE_DAYS[args["granularity"]])
        report = quality_report(from_=start, to=end, granularity=args["granularity"], zone=zone)
        if wants_csv():
            filename = f"quality-{tenant.slug}-{start.astimezone(zone).date()}.csv"
            return csv_response(
                QualityCsvRowSchema(),
                csv_rows(report),
                filename,
                lead=("group", "id", "name", "section_key", "question_key", "start", "end"),
            )
        return {
            "tenant_id": tenant.id,
            "time_zone": tenant.time_zone,
            "from": start.astimezone(zone),
            "to": end.astimezone(zone),
            "generated_at": now,
            **report,
        }


@quality_reports_blp.route("/quality/calibration")
class CalibrationReport(MethodView):
    @require(QUALITY_REPORTS_READ)
    @quality_reports_blp.arguments(PeriodQueryArgsSchema, location="query")
    @quality_reports_blp.response(200, CalibrationReportSchema)
    @quality_reports_blp.doc(
        **csv_doc("one row per question of each calibration.", json="The report as JSON")
    )
    def get(self, args, tenant_id):
        """Report calibrations: the BPO's review score beside the firm's, and the gaps

        Each calibration submitted in the period (the firm's reviewer scoring a reviewed
        contact blind) beside the review it calibrated: both scores and the gap (firm minus
        BPO) overall and per question, null where either found the question not applicable;
        then per question the average gap and the average size of the gap. At most 366 days.
        `Accept: text/csv`: one row per question of each calibration (`gap_bps` the
        question's, `score_gap_bps` the whole score's).
        """
        tenant, zone, _now, start, end = _period(args, max_days=MAX_PLAIN_RANGE_DAYS)
        report = calibration_report(from_=start, to=end)
        if wants_csv():
            rows = [
                {**row, "score_gap_bps": row["gap_bps"], **question}
                for row in report["calibrations"]
                for question in row["questions"]
            ]
            return csv_response(
                CalibrationCsvRowSchema(),
                rows,
                f"calibration-{tenant.slug}-{start.astimezone(zone).date()}.csv",
                lead=("calibration_id", "review_id", "section_key", "question_key"),
            )
        return {
            "tenant_id": tenant.id,
            "time_zone": tenant.time_zone,
            "from": start.astimezone(zone),
            "to": end.astimezone(zone),
            **report,
        }


@quality_reports_blp.route("/quality/agents/<uuid:agent_id>/coaching")
class AgentCoaching(MethodView):
    @require(COACHING_READ)
    @quality_reports_blp.arguments(CoachingQueryArgsSchema, location="query")
    @quality_reports_blp.response(200, CoachingSchema)
    def get(self, args, tenant_id, agent_id):
        """Read an agent's weakest scorecard questions at this firm over the last weeks

        Per question of the agent's current reviews submitted in the last `weeks` weeks
        (default 6): the points-weighted earned share, answers counted, n/a and failures,
        weakest first (ties: more answers first). An agent who neither serves the firm's
        queues nor was ever evaluated there is not found (404).
        """
        if not serves_firm(agent_id=agent_id):
            raise NotVisible()
        return {"tenant_id": tenant_id, **_coaching(agent_id=agent_id, weeks=args["weeks"])}


@my_coaching_blp.route("/coaching")
class MyCoaching(MethodView):
    @require(AGENT_WORK)
    @my_coaching_blp.arguments(CoachingQueryArgsSchema, location="query")
    @my_coaching_blp.response(200, CoachingSchema)
    def get(self, args):
        """Read your own weakest scorecard questions, across the firms you serve

        As a supervisor reads it, over every firm whose queues you are assigned to.
        """
        agent_id = current_principal().agent_id
        agent = db.session.get(Agent, agent_id) if agent_id else None
        if agent is None:
            abort(403, message="You have no agent profile.")
        with tenants_scope(assigned_tenant_ids(agent.id)):
            return _coaching(agent_id=agent.id, weeks=args["weeks"])


def _coaching(*, agent_id: uuid.UUID, weeks: int) -> dict:
    now = utcnow()
    return {
        "agent_id": agent_id,
        "weeks": weeks,
        "since": now - timedelta(weeks=weeks),
        "questions": coaching(agent_id=agent_id, now=now, weeks=weeks),
    }
