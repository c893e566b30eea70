"""Quality monitoring: a firm's scorecards (versioned), its sampling rule, the evaluations of
contacts on them (reviews by the BPO, calibrations by the firm) with their answers, and the
agents' disputes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, Timestamps, UUIDPrimaryKey, str_enum, utcnow
from tenants.scoping import TenantScoped, tenant_foreign_key

# review: the BPO's own evaluation of an agent's contact; calibration: the firm's reviewer
# scoring the same contact blind, beside a review.
PURPOSES = ("review", "calibration")
# queued (in the review queue) -> in_progress (claimed by one reviewer) -> submitted.
EVALUATION_STATES = ("queued", "in_progress", "submitted")
# Why a contact is evaluated: picked by the firm's sampling rule, picked because it is a
# complaint or a claim, or chosen by a supervisor.
REASONS = ("sampled", "complaint", "chosen", "calibration", "dispute")
DISPUTE_STATES = ("open", "decided")
# The second supervisor's decision: the score stands, or the contact is scored again (the new
# evaluation replaces the disputed one in every figure; both are kept).
DISPUTE_OUTCOMES = ("score_stands", "rescored")


_CURRENT_REVIEW = "purpose = 'review' AND superseded_by_id IS NULL"


class Scorecard(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A firm's scorecard: its name and whether it is in use; what it asks lives in versions."""

    __tablename__ = "scorecards"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)


class ScorecardVersion(UUIDPrimaryKey, TenantScoped, Base):
    """One version of a scorecard: its sections and questions, passing score and what it
    applies to. Never edited: a change adds a version, and an evaluation keeps the version it
    was scored on (as the business calendar keeps time already counted)."""

    __tablename__ = "scorecard_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "scorecard_id", "number"),
        tenant_foreign_key("scorecard_id", "scorecards", ondelete="CASCADE"),
    )

    scorecard_id: Mapped[uuid.UUID] = mapped_column()
    number: Mapped[int]  # 1, 2, ...: the newest is in force
    # [{"key", "title", "weight", "questions": [{"key", "text", "kind": "yes_no" | "scale",
    #   "scale_max", "points", "critical", "allows_na"}]}]: app/quality/scoring.py reads it.
    sections: Mapped[list[dict]] = mapped_column(JSONType)
    passing_score_bps: Mapped[int]
    # What it applies to; empty: every channel, queue, category.
    channels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    queue_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    categories: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[uuid.UUID | None]


class SamplingRule(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """How a firm's handled contacts reach the review queue (one rule per firm): at least so
    many per agent per week (the firm's weeks, Monday first), a share of all handled contacts,
    and a larger share of complaints and claims. Each contact is sampled at most once."""

    __tablename__ = "quality_sampling_rules"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    per_agent_per_week: Mapped[int | None]
    percent_bps: Mapped[int | None]  # of handled contacts, in basis points
    complaint_percent_bps: Mapped[int | None]  # of handled complaints and claims
    is_active: Mapped[bool] = mapped_column(default=True)


class Evaluation(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """One scoring of one handled contact on one scorecard version, by one reviewer: a review
    (the BPO's supervisors) or a calibration (the firm's reviewer, blind, beside a review).

    Submitted evaluations are not edited: a dispute the second supervisor decides by scoring
    again makes a new evaluation that supersedes this one (`superseded_by_id`), and the
    figures read only evaluations not superseded."""

    __tablename__ = "evaluations"
    __table_args__ = (
        tenant_foreign_key("contact_id", "contacts", ondelete="CASCADE"),
        tenant_foreign_key("scorecard_version_id", "scorecard_versions"),
        # A contact is reviewed once (a rescoring supersedes, and is the one row not superseded).
        Index(
            None,
            "tenant_id",
            "contact_id",
            unique=True,
            postgresql_where=text(_CURRENT_REVIEW),
            sqlite_where=text(_CURRENT_REVIEW),
        ),
        # A review is calibrated once, by the firm.
        Index(
            None,
            "tenant_id",
            "calibration_of_id",
            unique=True,
            postgresql_where=text("purpose = 'calibration'"),
            sqlite_where=text("purpose = 'calibration'"),
        ),
        # The review queue, oldest first; an agent's evaluations; the reports by time.
        Index(None, "tenant_id", "state", "created_at"),
        Index(None, "tenant_id", "agent_id", "submitted_at"),
        Index(None, "tenant_id", "submitted_at"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column()
    # The agent who handled the contact, and its queue: what the figures are grouped by.
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    queue_id: Mapped[uuid.UUID]
    scorecard_version_id: Mapped[uuid.UUID] = mapped_column()
    purpose: Mapped[str] = mapped_column(str_enum(*PURPOSES, name="evaluation_purpose"))
    reason: Mapped[str] = mapped_column(str_enum(*REASONS, name="evaluation_reason"))
    state: Mapped[str] = mapped_column(
        str_enum(*EVALUATION_STATES, name="evaluation_state"), default="queued"
    )
    # A calibration's review; a rescoring's disputed evaluation.
    calibration_of_id: Mapped[uuid.UUID | None]
    supersedes_id: Mapped[uuid.UUID | None]
    superseded_by_id: Mapped[uuid.UUID | None]
    reviewer_user_id: Mapped[uuid.UUID | None]
    claimed_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    comment: Mapped[str] = mapped_column(Text, default="")
    # The result (app/quality/scoring.py), set on submit.
    score_bps: Mapped[int | None]
    passed: Mapped[bool | None]
    critical_failed: Mapped[bool | None]


class EvaluationAnswer(UUIDPrimaryKey, TenantScoped, Base):
    """One question's answer in a submitted evaluation, with what it earned: the rows the
    quality report reads per section and question."""

    __tablename__ = "evaluation_answers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "evaluation_id", "question_key"),
        tenant_foreign_key("evaluation_id", "evaluations", ondelete="CASCADE"),
    )

    evaluation_id: Mapped[uuid.UUID] = mapped_column()
    section_key: Mapped[str] = mapped_column(String(64))
    question_key: Mapped[str] = mapped_column(String(64))
    # "yes", "no", "na", or a scale's step as digits ("0".."10").
    answer: Mapped[str] = mapped_column(String(8))
    # The question's points, and the share of them earned in basis points; both NULL when the
    # question did not apply (not applicable).
    points: Mapped[int | None]
    earned_bps: Mapped[int | None]
    critical_failed: Mapped[bool] = mapped_column(default=False)
    comment: Mapped[str] = mapped_column(Text, default="")


class Dispute(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """An agent's dispute of a review, and a second supervisor's decision on it."""

    __tablename__ = "evaluation_disputes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "evaluation_id"),
        tenant_foreign_key("evaluation_id", "evaluations", ondelete="CASCADE"),
        Index(None, "tenant_id", "state", "created_at"),
    )

    evaluation_id: Mapped[uuid.UUID] = mapped_column()
    raised_by_user_id: Mapped[uuid.UUID]
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(str_enum(*DISPUTE_STATES, name="dispute_state"))
    decided_by_user_id: Mapped[uuid.UUID | None]
    decided_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(str_enum(*DISPUTE_OUTCOMES, name="dispute_outcome"))
    decision_comment: Mapped[str] = mapped_column(Text, default="")
    # The rescoring, when the decision was to score again.
    rescored_evaluation_id: Mapped[uuid.UUID | None]
