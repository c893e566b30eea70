"""Schemas of the quality, calibration and coaching reports (their query and their figures).
May import: app.reports.quality, app.reports.schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.reports.quality import COACHING_WEEKS, QUALITY_GRANULARITIES
from app.reports.schemas import PeriodQueryArgsSchema


def _bps(description: str) -> fields.Integer:
    return fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": f"{description} Basis points (10000 = 100%); null: none."},
    )


def _count(description: str) -> fields.Integer:
    return fields.Integer(dump_only=True, metadata={"description": description})


def _question_text() -> fields.String:
    return fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The question's words in the newest version that asks it."},
    )


class QualityReportQueryArgsSchema(PeriodQueryArgsSchema):
    granularity = fields.String(
        load_default="week",
        validate=validate.OneOf(QUALITY_GRANULARITIES),
        metadata={"description": "Buckets of `over_time`, at the firm's local boundaries."},
    )


class CoachingQueryArgsSchema(Schema):
    weeks = fields.Integer(
        load_default=COACHING_WEEKS,
        validate=validate.Range(min=1, max=52),
        metadata={"description": "How many weeks back from now the reviews are read."},
    )


class QualityFiguresSchema(Schema):
    evaluations = _count("Current reviews submitted in the period.")
    average_score_bps = _bps("The reviews' average score, rounded half up once.")
    pass_rate_bps = _bps("Share of the reviews that passed.")
    critical_failures = _count("Reviews with a critical question answered no (scored 0).")
    disputes_raised = _count("Disputes raised in the period on these reviews.")
    disputes_open = _count("Of those, still open.")
    disputes_rescored = _count("Of those, decided by scoring the contact again.")


class QualityAgentRowSchema(QualityFiguresSchema):
    agent_id = fields.UUID(dump_only=True, allow_none=True)
    name = fields.String(dump_only=True, allow_none=True)


class QualityQueueRowSchema(QualityFiguresSchema):
    queue_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True, allow_none=True)


class QualityScorecardRowSchema(QualityFiguresSchema):
    scorecard_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True, allow_none=True)


class QualityBucketSchema(QualityFiguresSchema):
    start = fields.AwareDateTime(dump_only=True)
    end = fields.AwareDateTime(dump_only=True)


class AnswersFiguresSchema(Schema):
    answered = _count("Answers where the question applied.")
    not_applicable = _count("Answers 'not applicable' (left out of every share).")
    failures = _count("Answers that earned nothing (no, or a scale's step 0).")
    critical_failures = _count("Critical questions answered no.")
    earned_share_bps = _bps("Points earned over points possible on the answers that applied.")


class QualitySectionRowSchema(AnswersFiguresSchema):
    scorecard_id = fields.UUID(dump_only=True)
    scorecard_name = fields.String(dump_only=True, allow_none=True)
    section_key = fields.String(dump_only=True)


class QualityQuestionRowSchema(QualitySectionRowSchema):
    question_key = fields.String(dump_only=True)
    question_text = _question_text()


class QualityReportSchema(Schema):
    tenant_id = fields.UUID(dump_only=True)
    time_zone = fields.String(dump_only=True)
    from_ = fields.AwareDateTime(dump_only=True, data_key="from", attribute="from")
    to = fields.AwareDateTime(dump_only=True)
    generated_at = fields.AwareDateTime(dump_only=True)
    granularity = fields.String(dump_only=True)
    total = fields.Nested(QualityFiguresSchema, dump_only=True)
    agents = fields.List(fields.Nested(QualityAgentRowSchema), dump_only=True)
    queues = fields.List(fields.Nested(QualityQueueRowSchema), dump_only=True)
    scorecards = fields.List(fields.Nested(QualityScorecardRowSchema), dump_only=True)
    sections = fields.List(fields.Nested(QualitySectionRowSchema), dump_only=True)
    questions = fields.List(fields.Nested(QualityQuestionRowSchema), dump_only=True)
    over_time = fields.List(fields.Nested(QualityBucketSchema), dump_only=True)


class QualityCsvRowSchema(QualityFiguresSchema, AnswersFiguresSchema):
    """One CSV row: a total, a group or a bucket (the answer columns empty), or a section or a
    question (the review columns empty)."""

    group = fields.String(dump_only=True)
    id = fields.String(dump_only=True, allow_none=True)
    name = fields.String(dump_only=True, allow_none=True)
    section_key = fields.String(dump_only=True, allow_none=True)
    question_key = fields.String(dump_only=True, allow_none=True)
    start = fields.AwareDateTime(dump_only=True, allow_none=True)
    end = fields.AwareDateTime(dump_only=True, allow_none=True)


class CalibrationQuestionSchema(Schema):
    section_key = fields.String(dump_only=True)
    question_key = fields.String(dump_only=True)
    bpo_answer = fields.String(dump_only=True)
    firm_answer = fields.String(dump_only=True, allow_none=True)
    bpo_earned_bps = _bps("Share the BPO's review gave.")
    firm_earned_bps = _bps("Share the firm's calibration gave.")
    gap_bps = _bps("Firm minus BPO; null when either found it not applicable.")


class CalibrationRowSchema(Schema):
    review_id = fields.UUID(dump_only=True)
    calibration_id = fields.UUID(dump_only=True)
    contact_id = fields.UUID(dump_only=True)
    agent_id = fields.UUID(dump_only=True, allow_none=True)
    submitted_at = fields.AwareDateTime(dump_only=True)
    bpo_score_bps = _bps("The BPO's review score.")
    firm_score_bps = _bps("The firm's calibration score.")
    gap_bps = _bps("Firm minus BPO.")
    questions = fields.List(fields.Nested(CalibrationQuestionSchema), dump_only=True)


class CalibrationCsvRowSchema(CalibrationQuestionSchema):
    """One CSV row: a question of a calibration, beside the calibration's scores."""

    review_id = fields.UUID(dump_only=True)
    calibration_id = fields.UUID(dump_only=True)
    contact_id = fields.UUID(dump_only=True)
    agent_id = fields.UUID(dump_only=True, allow_none=True)
    submitted_at = fields.AwareDateTime(dump_only=True)
    bpo_score_bps = _bps("The BPO's review score.")
    firm_score_bps = _bps("The firm's calibration score.")
    score_gap_bps = _bps("Firm minus BPO, the whole score.")


class CalibrationAverageSchema(Schema):
    section_key = fields.String(dump_only=True)
    question_key = fields.String(dump_only=True)
    calibrations = _count("Calibrations where both applied the question.")
    average_gap_bps = _bps("Average of firm minus BPO, rounded half away from zero.")
    average_absolute_gap_bps = _bps("Average size of the gap, whichever way.")


class CalibrationReportSchema(Schema):
    tenant_id = fields.UUID(dump_only=True)
    time_zone = fields.String(dump_only=True)
    from_ = fields.AwareDateTime(dump_only=True, data_key="from", attribute="from")
    to = fields.AwareDateTime(dump_only=True)
    calibrations = fields.List(fields.Nested(CalibrationRowSchema), dump_only=True)
    questions = fields.List(fields.Nested(CalibrationAverageSchema), dump_only=True)


class CoachingRowSchema(AnswersFiguresSchema):
    tenant_id = fields.UUID(dump_only=True)
    scorecard_id = fields.UUID(dump_only=True)
    scorecard_name = fields.String(dump_only=True, allow_none=True)
    section_key = fields.String(dump_only=True)
    question_key = fields.String(dump_only=True)
    question_text = _question_text()


class CoachingSchema(Schema):
    tenant_id = fields.UUID(
        dump_only=True, metadata={"description": "The firm read (absent: every firm served)."}
    )
    agent_id = fields.UUID(dump_only=True)
    weeks = fields.Integer(dump_only=True)
    since = fields.AwareDateTime(dump_only=True)
    questions = fields.List(
        fields.Nested(CoachingRowSchema),
        dump_only=True,
        metadata={"description": "The agent's questions, weakest (lowest earned share) first."},
    )
