"""Request and response shapes of scorecards, the sampling rule, evaluations and disputes."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.common_schemas import TrimmedString, no_duplicates
from app.quality.models import DISPUTE_OUTCOMES, DISPUTE_STATES, EVALUATION_STATES, PURPOSES
from app.quality.scoring import KINDS
from app.vocabulary import CATEGORIES, CHANNELS

KEY = validate.Regexp(
    r"^[a-z0-9_]{1,64}$", error="Use 1 to 64 lower-case letters, digits or underscores."
)
BPS = validate.Range(min=0, max=10_000)

# --- scorecards ------------------------------------------------------------------------------


class QuestionSchema(Schema):
    key = fields.String(
        required=True,
        validate=KEY,
        metadata={"description": "Stable across versions: the reports follow a question by it."},
    )
    text = TrimmedString(required=True, validate=validate.Length(min=1, max=500))
    kind = fields.String(
        required=True,
        validate=validate.OneOf(KINDS),
        metadata={"description": "yes_no: yes earns the points, no none; scale: 0 to scale_max."},
    )
    scale_max = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=10),
        metadata={"description": "A scale question's top step (step s earns s/scale_max)."},
    )
    points = fields.Integer(required=True, validate=validate.Range(min=1, max=1000))
    critical = fields.Boolean(
        load_default=False,
        metadata={"description": "A yes/no question whose `no` makes the evaluation's score 0."},
    )
    allows_na = fields.Boolean(
        load_default=False,
        metadata={"description": "May be answered `na` (not applicable): it then drops out."},
    )

    @validates_schema
    def _kind_fits(self, data, **_kwargs):
        errors = {}
        if data.get("kind") == "scale" and not data.get("scale_max"):
            errors["scale_max"] = ["A scale question needs its top step (scale_max)."]
        if data.get("critical") and data.get("kind") != "yes_no":
            errors["critical"] = ["Only a yes/no question can be critical."]
        if errors:
            raise ValidationError(errors)


class SectionSchema(Schema):
    key = fields.String(required=True, validate=KEY)
    title = TrimmedString(required=True, validate=validate.Length(min=1, max=200))
    weight = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "The section's weight in the evaluation's score."},
    )
    questions = fields.List(
        fields.Nested(QuestionSchema), required=True, validate=validate.Length(min=1, max=50)
    )


def _version_fields(*, required: bool) -> dict:
    return {
        "sections": fields.List(
            fields.Nested(SectionSchema),
            required=required,
            validate=validate.Length(min=1, max=30),
        ),
        "passing_score_bps": fields.Integer(
            required=required,
            validate=BPS,
            metadata={"description": "Passed at or above this score, in basis points."},
        ),
        "channels": fields.List(
            fields.String(validate=validate.OneOf(CHANNELS)),
            validate=no_duplicates("channel"),
            metadata={"description": "Channels it applies to; empty: every channel."},
        ),
        "queue_ids": fields.List(
            fields.UUID(),
            validate=no_duplicates("queue"),
            metadata={"description": "The firm's queues it applies to; empty: every queue."},
        ),
        "categories": fields.List(
            fields.String(validate=validate.OneOf(CATEGORIES)),
            validate=no_duplicates("category"),
            metadata={"description": "Categories it applies to; empty: every category."},
        ),
    }


class ScorecardVersionSchema(Schema):
    id = fields.UUID(dump_only=True)
    scorecard_id = fields.UUID(dump_only=True)
    number = fields.Integer(dump_only=True)
    sections = fields.List(fields.Nested(SectionSchema), dump_only=True)
    passing_score_bps = fields.Integer(dump_only=True)
    channels = fields.List(fields.String(), dump_only=True)
    queue_ids = fields.List(fields.String(), dump_only=True)
    categories = fields.List(fields.String(), dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    created_by_user_id = fields.UUID(dump_only=True, allow_none=True)


class ScorecardSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    is_active = fields.Boolean(dump_only=True)
    current_version = fields.Nested(
        ScorecardVersionSchema,
        dump_only=True,
        metadata={"description": "The version in force: new evaluations are scored on it."},
    )
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


ScorecardVersionCreateSchema = Schema.from_dict(
    _version_fields(required=False), name="ScorecardVersionCreateSchema"
)
ScorecardCreateSchema = Schema.from_dict(
    {
        "name": TrimmedString(required=True, validate=validate.Length(min=1, max=100)),
        "description": TrimmedString(load_default="", validate=validate.Length(max=2000)),
        "is_active": fields.Boolean(load_default=True),
        **_version_fields(required=True),
    },
    name="ScorecardCreateSchema",
)


class ScorecardUpdateSchema(Schema):
    name = TrimmedString(validate=validate.Length(min=1, max=100))
    description = TrimmedString(validate=validate.Length(max=2000))
    is_active = fields.Boolean()


class ScorecardQueryArgsSchema(Schema):
    active = fields.Boolean(metadata={"description": "Only scorecards in use (or not)."})


# --- the sampling rule -----------------------------------------------------------------------


class SamplingRuleSchema(Schema):
    id = fields.UUID(dump_only=True)
    per_agent_per_week = fields.Integer(
        required=True,
        allow_none=True,
        validate=validate.Range(min=0, max=1000),
        metadata={"description": "At least this many reviews per agent per week; null: none."},
    )
    percent_bps = fields.Integer(
        required=True,
        allow_none=True,
        validate=BPS,
        metadata={"description": "Share of handled contacts reviewed, in basis points."},
    )
    complaint_percent_bps = fields.Integer(
        required=True,
        allow_none=True,
        validate=BPS,
        metadata={"description": "Share of handled complaints and claims; null: the share above."},
    )
    is_active = fields.Boolean(load_default=True)
    updated_at = fields.AwareDateTime(dump_only=True)


# --- evaluations -----------------------------------------------------------------------------


class AnswerValue(fields.Field):
    """yes, no, na, or a scale's step (a number or its digits)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("Answer yes, no, na or a scale's step.")
        return str(value).strip().lower()


class AnswerInSchema(Schema):
    answer = AnswerValue(required=True, metadata={"type": "string", "example": "yes"})
    comment = TrimmedString(load_default="", validate=validate.Length(max=2000))


def _answers_field(*, required: bool) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(validate=validate.Length(max=64)),
        values=fields.Nested(AnswerInSchema),
        required=required,
        validate=validate.Length(max=500),
        metadata={
            "description": "Question key -> its answer (yes, no, na, or a scale's step) and "
            "an optional comment; every question of the scorecard version answered."
        },
    )


class EvaluationSubmitSchema(Schema):
    answers = _answers_field(required=True)
    comment = TrimmedString(load_default="", validate=validate.Length(max=5000))


class EvaluationCreateSchema(Schema):
    contact_id = fields.UUID(required=True)
    scorecard_id = fields.UUID(
        load_default=None,
        metadata={"description": "Default: the active scorecard that applies to the contact."},
    )


class EvaluationQueryArgsSchema(Schema):
    state = fields.String(validate=validate.OneOf(EVALUATION_STATES))
    purpose = fields.String(validate=validate.OneOf(PURPOSES))
    agent_id = fields.UUID()
    queue_id = fields.UUID()
    contact_id = fields.UUID()
    current = fields.Boolean(metadata={"description": "Only those in force (not superseded)."})
    mine = fields.Boolean(metadata={"description": "Only those the caller claimed or scored."})


class AnswerSchema(Schema):
    section_key = fields.String(dump_only=True)
    question_key = fields.String(dump_only=True)
    answer = fields.String(dump_only=True)
    points = fields.Integer(dump_only=True, allow_none=True)
    earned_bps = fields.Integer(dump_only=True, allow_none=True)
    critical_failed = fields.Boolean(dump_only=True)
    comment = fields.String(dump_only=True)


class DisputeSchema(Schema):
    id = fields.UUID(dump_only=True)
    evaluation_id = fields.UUID(dump_only=True)
    raised_by_user_id = fields.UUID(dump_only=True)
    reason = fields.String(dump_only=True)
    state = fields.String(dump_only=True, metadata={"enum": list(DISPUTE_STATES)})
    outcome = fields.String(
        dump_only=True, allow_none=True, metadata={"enum": list(DISPUTE_OUTCOMES)}
    )
    decided_by_user_id = fields.UUID(dump_only=True, allow_none=True)
    decided_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    decision_comment = fields.String(dump_only=True)
    rescored_evaluation_id = fields.UUID(dump_only=True, allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)


class EvaluationSchema(Schema):
    id = fields.UUID(dump_only=True)
    contact_id = fields.UUID(dump_only=True)
    agent_id = fields.UUID(dump_only=True, allow_none=True)
    queue_id = fields.UUID(dump_only=True)
    scorecard_version_id = fields.UUID(dump_only=True)
    purpose = fields.String(dump_only=True, metadata={"enum": list(PURPOSES)})
    reason = fields.String(dump_only=True)
    state = fields.String(dump_only=True, metadata={"enum": list(EVALUATION_STATES)})
    calibration_of_id = fields.UUID(dump_only=True, allow_none=True)
    supersedes_id = fields.UUID(dump_only=True, allow_none=True)
    superseded_by_id = fields.UUID(dump_only=True, allow_none=True)
    reviewer_user_id = fields.UUID(dump_only=True, allow_none=True)
    claimed_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    submitted_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    comment = fields.String(dump_only=True)
    score_bps = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Null until submitted, and while the firm calibrates blind."},
    )
    passed = fields.Boolean(dump_only=True, allow_none=True)
    critical_failed = fields.Boolean(dump_only=True, allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)


class EvaluationDetailSchema(EvaluationSchema):
    answers = fields.List(fields.Nested(AnswerSchema), dump_only=True)
    scorecard_version = fields.Nested(ScorecardVersionSchema, dump_only=True)
    dispute = fields.Nested(DisputeSchema, dump_only=True, allow_none=True)


class CalibrationCandidateSchema(Schema):
    """A review the firm may calibrate: no score, so the firm's reviewer stays blind."""

    id = fields.UUID(dump_only=True)
    contact_id = fields.UUID(dump_only=True)
    agent_id = fields.UUID(dump_only=True, allow_none=True)
    queue_id = fields.UUID(dump_only=True)
    scorecard_version_id = fields.UUID(dump_only=True)
    submitted_at = fields.AwareDateTime(dump_only=True)


class GapSchema(Schema):
    section_key = fields.String(dump_only=True)
    question_key = fields.String(dump_only=True)
    text = fields.String(dump_only=True)
    bpo_answer = fields.String(dump_only=True, allow_none=True)
    bpo_earned_bps = fields.Integer(dump_only=True, allow_none=True)
    firm_answer = fields.String(dump_only=True, allow_none=True)
    firm_earned_bps = fields.Integer(dump_only=True, allow_none=True)
    gap_bps = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The firm's share less the BPO's; null where n/a on a side."},
    )


class SideBySideSchema(Schema):
    review_id = fields.UUID(dump_only=True)
    calibration_id = fields.UUID(dump_only=True)
    bpo_score_bps = fields.Integer(dump_only=True)
    firm_score_bps = fields.Integer(dump_only=True)
    gap_bps = fields.Integer(dump_only=True)
    questions = fields.List(fields.Nested(GapSchema), dump_only=True)


# --- disputes --------------------------------------------------------------------------------


class DisputeCreateSchema(Schema):
    reason = TrimmedString(required=True, validate=validate.Length(min=1, max=2000))


class DisputeDecideSchema(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(DISPUTE_OUTCOMES))
    comment = TrimmedString(load_default="", validate=validate.Length(max=5000))
    answers = _answers_field(required=False)


class DisputeQueryArgsSchema(Schema):
    state = fields.String(validate=validate.OneOf(DISPUTE_STATES))
