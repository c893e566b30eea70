"""The quality report of a firm: its current reviews' scores per agent, queue, scorecard, section,
question and over time; the calibration report (the BPO's score beside the firm's); and an
agent's coaching (its weakest questions).

Only current reviews count: purpose review, submitted, not superseded by a rescoring. A review
counts in the period it was submitted in; a dispute, in the period it was raised. Averages are
exact: integer sums divided once, rounded half up to basis points.
May import: app.db, app.agents.models, app.quality (models, scoring), app.queues.models,
app.reports (sla's buckets, targets), tenants.models.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select

from app.agents.models import Agent, Assignment
from app.db import db
from app.quality.models import Dispute, Evaluation, EvaluationAnswer, Scorecard, ScorecardVersion
from app.quality.scoring import bps
from app.queues.models import Queue
from app.reports import targets
from app.reports.sla import buckets
from tenants.models import User

QUALITY_GRANULARITIES = ("day", "week", "month")
MAX_RANGE_DAYS = {"day": 366, "week": 3 * 366, "month": 3 * 366}
COACHING_WEEKS = 6


def _share(numerator: int, denominator: int) -> int | None:
    """numerator / denominator in basis points, rounded half up once; None when nothing."""
    return bps(Fraction(numerator, denominator)) if denominator else None


def _current_reviews(*, from_: datetime, to: datetime):
    return (
        select(Evaluation, ScorecardVersion.scorecard_id)
        .join(ScorecardVersion, ScorecardVersion.id == Evaluation.scorecard_version_id)
        .where(
            Evaluation.purpose == "review",
            Evaluation.state == "submitted",
            Evaluation.superseded_by_id.is_(None),
            Evaluation.submitted_at >= from_,
            Evaluation.submitted_at < to,
        )
    )


def average_score_bps(*, from_: datetime, to: datetime) -> int | None:
    """The average score of the current reviews submitted in [from_, to), rounded half up
    once; None without reviews: the SLA report's and the SLA credit's quality figure."""
    total = _Tally()
    for evaluation, _scorecard_id in db.session.execute(_current_reviews(from_=from_, to=to)):
        total.review(evaluation)
    return total.figures()["average_score_bps"]


def quality_against_target(*, from_: datetime, to: datetime, target_bps: int | None) -> dict:
    """The range's average score against the SLA policy's quality target (met when at least)."""
    average = average_score_bps(from_=from_, to=to)
    return {
        "average_score_bps": average,
        "target_bps": target_bps,
        "state": targets.state("quality_score_bps", average, target_bps),
    }


class _Tally:
    """The figures of a set of reviews and disputes, kept as integer sums."""

    __slots__ = ("critical", "evaluations", "open", "passed", "raised", "rescored", "score_sum")

    def __init__(self) -> None:
        self.evaluations = self.score_sum = self.passed = self.critical = 0
        self.raised = self.open = self.rescored = 0

    def review(self, evaluation: Evaluation) -> None:
        self.evaluations += 1
        self.score_sum += evaluation.score_bps or 0
        self.passed += bool(evaluation.passed)
        self.critical += bool(evaluation.critical_failed)

    def dispute(self, dispute: Dispute) -> None:
        self.raised += 1
        self.open += dispute.state == "open"
        self.rescored += dispute.outcome == "rescored"

    def figures(self) -> dict:
        return {
            "evaluations": self.evaluations,
            "average_score_bps": _share(self.score_sum, self.evaluations * 10_000)
            if self.evaluations
            else None,
            "pass_rate_bps": _share(self.passed, self.evaluations),
            "critical_failures": self.critical,
            "disputes_raised": self.raised,
            "disputes_open": self.open,
            "disputes_rescored": self.rescored,
        }


class _Answers:
    """A section's or question's answers: points-weighted earned share, n/a, failures."""

    __slots__ = ("answered", "critical", "earned", "failures", "na", "points")

    def __init__(self) -> None:
        self.answered = self.na = self.failures = self.critical = 0
        self.points = 0
        self.earned = 0  # sum of points x earned_bps

    def add(self, answer: EvaluationAnswer) -> None:
        if answer.points is None:
            self.na += 1
            return
        self.answered += 1
        self.points += answer.points
        self.earned += answer.points * answer.earned_bps
        self.failures += answer.earned_bps == 0
        self.critical += bool(answer.critical_failed)

    def figures(self) -> dict:
        return {
            "answered": self.answered,
            "not_applicable": self.na,
            "failures": self.failures,
            "critical_failures": self.critical,
            "earned_share_bps": _share(self.earned, self.points * 10_000) if self.points else None,
        }


def _agent_names(ids) -> dict:
    ids = sorted(i for i in ids if i is not None)
    if not ids:
        return {}
    rows = db.session.execute(
        select(Agent.id, User.name).join(User, User.id == Agent.user_id).where(Agent.id.in_(ids))
    )
    return dict(rows.all())


def _answers_of(evaluation_ids) -> list[EvaluationAnswer]:
    ids = sorted(evaluation_ids)
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(EvaluationAnswer)
            .where(EvaluationAnswer.evaluation_id.in_(ids))
            .order_by(EvaluationAnswer.evaluation_id)
        )
    )


def quality_report(*, from_: datetime, to: datetime, granularity: str, zone: ZoneInfo) -> dict:
    """The firm's (the scope's) quality figures over [from_, to)."""
    found = db.session.execute(_current_reviews(from_=from_, to=to)).all()
    disputes = db.session.execute(
        select(Dispute, Evaluation, ScorecardVersion.scorecard_id)
        .join(Evaluation, Evaluation.id == Dispute.evaluation_id)
        .join(ScorecardVersion, ScorecardVersion.id == Evaluation.scorecard_version_id)
        .where(Dispute.created_at >= from_, Dispute.created_at < to)
    ).all()
    spans = buckets(start=from_, end=to, granularity=granularity, zone=zone)
    starts = [start for start, _ in spans]

    def bucket(at: datetime) -> int:
        n = 0
        while n + 1 < len(starts) and at >= starts[n + 1]:
            n += 1
        return n

    total = _Tally()
    by: dict[str, dict] = {"agent": defaultdict(_Tally), "queue": defaultdict(_Tally)}
    by["scorecard"] = defaultdict(_Tally)
    over_time = [_Tally() for _ in spans]

    def keys(evaluation: Evaluation, scorecard_id) -> dict:
        return {
            "agent": evaluation.agent_id,
            "queue": evaluation.queue_id,
            "scorecard": scorecard_id,
        }

    scorecard_of: dict[uuid.UUID, uuid.UUID] = {}
    for evaluation, scorecard_id in found:
        scorecard_of[evaluation.id] = scorecard_id
        total.review(evaluation)
        for name, key in keys(evaluation, scorecard_id).items():
            by[name][key].review(evaluation)
        over_time[bucket(evaluation.submitted_at)].review(evaluation)
    for dispute, evaluation, scorecard_id in disputes:
        total.dispute(dispute)
        for name, key in keys(evaluation, scorecard_id).items():
            by[name][key].dispute(dispute)
        over_time[bucket(dispute.created_at)].dispute(dispute)

    sections: dict[tuple, _Answers] = defaultdict(_Answers)
    questions: dict[tuple, _Answers] = defaultdict(_Answers)
    for answer in _answers_of(scorecard_of):
        scorecard_id = scorecard_of[answer.evaluation_id]
        sections[(scorecard_id, answer.section_key)].add(answer)
        questions[(scorecard_id, answer.section_key, answer.question_key)].add(answer)

    agent_names = _agent_names(by["agent"])
    queue_names = _names(Queue, by["queue"])
    scorecard_names = _names(Scorecard, set(by["scorecard"]) | {k[0] for k in sections})
    texts = _question_texts({key[0] for key in questions})
    return {
        "granularity": granularity,
        "total": total.figures(),
        "agents": _rows(by["agent"], "agent_id", agent_names),
        "queues": _rows(by["queue"], "queue_id", queue_names),
        "scorecards": _rows(by["scorecard"], "scorecard_id", scorecard_names),
        "sections": sorted(
            (
                {
                    "scorecard_id": key[0],
                    "scorecard_name": scorecard_names.get(key[0]),
                    "section_key": key[1],
                    **tally.figures(),
                }
                for key, tally in sections.items()
            ),
            key=lambda row: (row["scorecard_name"] or "", row["section_key"]),
        ),
        "questions": sorted(
            (
                {
                    "scorecard_id": key[0],
                    "scorecard_name": scorecard_names.get(key[0]),
                    "section_key": key[1],
                    "question_key": key[2],
                    "question_text": texts.get((key[0], key[2])),
                    **tally.figures(),
                }
                for key, tally in questions.items()
            ),
            key=lambda row: (row["scorecard_name"] or "", row["section_key"], row["question_key"]),
        ),
        "over_time": [
            {"start": start.astimezone(zone), "end": end.astimezone(zone), **tally.figures()}
            for (start, end), tally in zip(spans, over_time, strict=True)
        ],
    }


def _question_texts(scorecard_ids) -> dict[tuple, str]:
    """(scorecard id, question key) -> the question's words in the newest version that asks
    it: a question keeps its key across versions, and its latest wording is how people know it."""
    ids = sorted(i for i in scorecard_ids if i is not None)
    if not ids:
        return {}
    texts: dict[tuple, str] = {}
    for scorecard_id, sections in db.session.execute(
        select(ScorecardVersion.scorecard_id, ScorecardVersion.sections)
        .where(ScorecardVersion.scorecard_id.in_(ids))
        .order_by(ScorecardVersion.number)
    ):
        for section in sections:
            for question in section["questions"]:
                texts[(scorecard_id, question["key"])] = question["text"]
    return texts


def _names(model, ids) -> dict:
    ids = sorted(i for i in ids if i is not None)
    if not ids:
        return {}
    return dict(db.session.execute(select(model.id, model.name).where(model.id.in_(ids))).all())


def _rows(tallies: dict, id_name: str, names: dict) -> list[dict]:
    rows = [
        {id_name: key, "name": names.get(key), **tally.figures()} for key, tally in tallies.items()
    ]
    rows.sort(key=lambda row: (row["name"] or "", str(row[id_name])))
    return rows


# --- calibration -----------------------------------------------------------------------------


def calibration_report(*, from_: datetime, to: datetime) -> dict:
    """Each calibration submitted in [from_, to) beside the review it calibrated: both scores,
    the gap (firm minus BPO) overall and per question, and the average gap per question."""
    calibrations = list(
        db.session.scalars(
            select(Evaluation)
            .where(
                Evaluation.purpose == "calibration",
                Evaluation.state == "submitted",
                Evaluation.submitted_at >= from_,
                Evaluation.submitted_at < to,
            )
            .order_by(Evaluation.submitted_at, Evaluation.id)
        )
    )
    review_ids = {c.calibration_of_id for c in calibrations if c.calibration_of_id}
    reviews = {
        e.id: e
        for e in (
            db.session.scalars(select(Evaluation).where(Evaluation.id.in_(sorted(review_ids))))
            if review_ids
            else []
        )
    }
    answers: dict[uuid.UUID, dict[str, EvaluationAnswer]] = defaultdict(dict)
    for answer in _answers_of({c.id for c in calibrations} | set(reviews)):
        answers[answer.evaluation_id][answer.question_key] = answer
    gaps: dict[tuple[str, str], list[int]] = defaultdict(list)
    rows = []
    for calibration in calibrations:
        review = reviews.get(calibration.calibration_of_id)
        if review is None:
            continue
        per_question = []
        for key, bpo in answers[review.id].items():
            firm = answers[calibration.id].get(key)
            gap = None
            if firm is not None and bpo.earned_bps is not None and firm.earned_bps is not None:
                gap = firm.earned_bps - bpo.earned_bps
                gaps[(bpo.section_key, key)].append(gap)
            per_question.append(
                {
                    "section_key": bpo.section_key,
                    "question_key": key,
                    "bpo_answer": bpo.answer,
                    "firm_answer": firm.answer if firm else None,
                    "bpo_earned_bps": bpo.earned_bps,
                    "firm_earned_bps": firm.earned_bps if firm else None,
                    "gap_bps": gap,
                }
            )
        per_question.sort(key=lambda row: (row["section_key"], row["question_key"]))
        rows.append(
            {
                "review_id": review.id,
                "calibration_id": calibration.id,
                "contact_id": review.contact_id,
                "agent_id": review.agent_id,
                "submitted_at": calibration.submitted_at,
                "bpo_score_bps": review.score_bps,
                "firm_score_bps": calibration.score_bps,
                "gap_bps": (calibration.score_bps or 0) - (review.score_bps or 0),
                "questions": per_question,
            }
        )
    averages = [
        {
            "section_key": section,
            "question_key": key,
            "calibrations": len(values),
            "average_gap_bps": _signed_mean(values),
            "average_absolute_gap_bps": _signed_mean([abs(v) for v in values]),
        }
        for (section, key), values in sorted(gaps.items())
    ]
    return {"calibrations": rows, "questions": averages}


def _signed_mean(values: list[int]) -> int | None:
    """The average of signed basis points, rounded half away from zero, once."""
    if not values:
        return None
    total, count = sum(values), len(values)
    magnitude = (2 * abs(total) + count) // (2 * count)
    return magnitude if total >= 0 else -magnitude


# --- coaching --------------------------------------------------------------------------------


def serves_firm(*, agent_id: uuid.UUID) -> bool:
    """Whether the agent serves one of the scope's queues or was ever evaluated there."""
    assigned = select(Assignment.id).where(Assignment.agent_id == agent_id).limit(1)
    evaluated = select(Evaluation.id).where(Evaluation.agent_id == agent_id).limit(1)
    return bool(db.session.scalar(assigned) or db.session.scalar(evaluated))


def coaching(*, agent_id: uuid.UUID, now: datetime, weeks: int = COACHING_WEEKS) -> list[dict]:
    """The agent's questions over the last `weeks` weeks of current reviews (in the scope's
    firms), weakest first: points-weighted earned share, answers counted, failures."""
    since = now - timedelta(weeks=weeks)
    found = db.session.execute(
        select(EvaluationAnswer, ScorecardVersion.scorecard_id, Evaluation.tenant_id)
        .join(Evaluation, Evaluation.id == EvaluationAnswer.evaluation_id)
        .join(ScorecardVersion, ScorecardVersion.id == Evaluation.scorecard_version_id)
        .where(
            and_(
                Evaluation.agent_id == agent_id,
                Evaluation.purpose == "review",
                Evaluation.state == "submitted",
                Evaluation.superseded_by_id.is_(None),
                Evaluation.submitted_at >= since,
                Evaluation.submitted_at <= now,
            )
        )
    ).all()
    tallies: dict[tuple, _Answers] = defaultdict(_Answers)
    for answer, scorecard_id, tenant_id in found:
        tallies[(tenant_id, scorecard_id, answer.section_key, answer.question_key)].add(answer)
    names = _names(Scorecard, {key[1] for key in tallies})
    texts = _question_texts({key[1] for key in tallies})
    rows = [
        {
            "tenant_id": key[0],
            "scorecard_id": key[1],
            "scorecard_name": names.get(key[1]),
            "section_key": key[2],
            "question_key": key[3],
            "question_text": texts.get((key[1], key[3])),
            **tally.figures(),
        }
        for key, tally in tallies.items()
        if tally.answered
    ]
    rows.sort(key=lambda row: (row["earned_share_bps"], -row["answered"], row["question_key"]))
    return rows
