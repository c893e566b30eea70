"""Evaluations of handled contacts: the review queue (sampled or chosen), one reviewer's claim,
the scoring and its submission; the agents' disputes and the second supervisor's decision; the
firm's blind calibration of a review and the two scores side by side.

A submitted evaluation is never edited. A dispute decided by scoring again adds an evaluation
that supersedes the disputed one: both are kept, and the figures read only the one in force
(`superseded_by_id` NULL).
May import: app.db, app.errors, app.quality (models, scoring, service), app.contacts.models
(reading), tenants.service (audit).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, false, func, select, update

from app.contacts.models import Contact
from app.db import db, utcnow
from app.errors import Conflict, NotFound, Unprocessable
from app.quality import scoring
from app.quality import service as quality_service
from app.quality.models import Dispute, Evaluation, EvaluationAnswer
from tenants.service import Actor, auditor

# A contact is evaluated once its work is done.
HANDLED_STATUSES = ("resolved", "closed")

_audit = auditor("evaluation", summary=lambda e: {"contact_id": str(e.contact_id)})
_audit_dispute = auditor(
    "evaluation_dispute", summary=lambda d: {"evaluation_id": str(d.evaluation_id)}
)


# --- reading ---------------------------------------------------------------------------------


def list_(
    *,
    state: str | None = None,
    purpose: str | None = None,
    agent_id: uuid.UUID | None = None,
    queue_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    reviewer_user_id: uuid.UUID | None = None,
    current: bool | None = None,
) -> Select:
    """The firm's evaluations, the review queue's order (oldest first) unless submitted,
    newest submitted first. `current`: only those in force (not superseded)."""
    e = Evaluation
    stmt = select(e)
    for column, value in (
        (e.state, state),
        (e.purpose, purpose),
        (e.agent_id, agent_id),
        (e.queue_id, queue_id),
        (e.contact_id, contact_id),
        (e.reviewer_user_id, reviewer_user_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if current is True:
        stmt = stmt.where(e.superseded_by_id.is_(None))
    elif current is False:
        stmt = stmt.where(e.superseded_by_id.is_not(None))
    if state == "submitted":
        return stmt.order_by(e.submitted_at.desc(), e.id)
    return stmt.order_by(e.created_at, e.id)


def list_for(*, viewer: Viewer, mine: bool = False, **filters) -> Select:
    """`list_` narrowed to what this viewer may see (see `visible`); `mine`: only those the
    viewer claimed or scored."""
    role = viewer.role
    if mine:
        filters["reviewer_user_id"] = viewer.user_id
    if role == "agent":
        filters |= {"agent_id": viewer.agent_id, "state": "submitted", "purpose": "review"}
    elif role in FIRM:
        if filters.get("state") not in (None, "submitted"):
            return list_(**filters).where(false())  # the firm sees only what is submitted
        filters["state"] = "submitted"
    elif role not in STAFF:
        return list_(**filters).where(false())
    return list_(**filters)


def get(*, evaluation_id: uuid.UUID) -> Evaluation | None:
    return db.session.get(Evaluation, evaluation_id)


def answers_of(evaluation: Evaluation) -> list[EvaluationAnswer]:
    """A submitted evaluation's answers, in the scorecard's order."""
    rows = {
        a.question_key: a
        for a in db.session.scalars(
            select(EvaluationAnswer).where(EvaluationAnswer.evaluation_id == evaluation.id)
        )
    }
    version = quality_service.get_version_by_id(version_id=evaluation.scorecard_version_id)
    ordered = [
        rows.pop(q["key"]) for _s, q in scoring.questions(version.sections) if q["key"] in rows
    ]
    return ordered + list(rows.values())


def calibration_of(review: Evaluation) -> Evaluation | None:
    return db.session.scalar(
        select(Evaluation).where(
            Evaluation.calibration_of_id == review.id, Evaluation.purpose == "calibration"
        )
    )


def dispute_of(evaluation: Evaluation) -> Dispute | None:
    return db.session.scalar(select(Dispute).where(Dispute.evaluation_id == evaluation.id))


STAFF = ("bpo_admin", "supervisor")
FIRM = ("client_admin", "client_viewer")


@dataclass(frozen=True)
class Viewer:
    """Who looks at evaluations: their role on the firm, their user, their agent profile."""

    role: str | None
    user_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None


def visible(evaluation: Evaluation | None, *, viewer: Viewer) -> Evaluation | None:
    """The evaluation if a caller of this role may see it, else None (a 404, as another
    firm's): the BPO's staff every one; the firm's people the submitted ones, and its client
    admin the calibration it is scoring; an agent only its own submitted reviews."""
    if evaluation is None:
        return None
    role = viewer.role
    if role in STAFF:
        return evaluation
    if evaluation.state != "submitted":
        mine = (
            evaluation.reviewer_user_id is not None
            and evaluation.reviewer_user_id == viewer.user_id
        )
        return evaluation if role == "client_admin" and mine else None
    if role == "agent":
        own = evaluation.agent_id is not None and evaluation.agent_id == viewer.agent_id
        return evaluation if own and evaluation.purpose == "review" else None
    return evaluation if role in FIRM else None


def blind(evaluation: Evaluation, *, role: str | None) -> bool:
    """Whether the firm's people must not see this review's score and answers yet: the firm
    is calibrating it, and its reviewer scores blind."""
    if role not in FIRM or evaluation.purpose != "review":
        return False
    calibration = calibration_of(evaluation)
    return calibration is not None and calibration.state != "submitted"


def per_firm() -> dict[uuid.UUID, dict[str, int]]:
    """For the firms in scope: reviews waiting, being scored, and disputes open (the
    console's overview of quality work across firms)."""
    counts: dict[uuid.UUID, dict[str, int]] = {}
    for tenant_id, state, n in db.session.execute(
        select(Evaluation.tenant_id, Evaluation.state, func.count())
        .where(Evaluation.purpose == "review", Evaluation.state != "submitted")
        .group_by(Evaluation.tenant_id, Evaluation.state)
    ):
        counts.setdefault(tenant_id, {})[state] = n
    for tenant_id, n in db.session.execute(
        select(Dispute.tenant_id, func.count())
        .where(Dispute.state == "open")
        .group_by(Dispute.tenant_id)
    ):
        counts.setdefault(tenant_id, {})["disputes"] = n
    return counts


# --- the review queue ------------------------------------------------------------------------


def queue_review(
    *,
    contact: Contact,
    reason: str,
    scorecard_id: uuid.UUID | None = None,
    actor: Actor | None = None,
) -> Evaluation | None:
    """Put a handled contact in the review queue, on the scorecard given or the one that
    applies to it. None when no scorecard applies (a chosen contact: 422 instead); 409 when
    the contact is already reviewed or queued."""
    if contact.status not in HANDLED_STATUSES:
        raise Conflict("Only a resolved or closed contact can be evaluated.")
    if scorecard_id is not None:
        card = quality_service.get_scorecard(scorecard_id=scorecard_id)
        if card is None:
            raise Unprocessable(
                "No such scorecard.",
                errors={"json": {"scorecard_id": ["No such scorecard in this firm."]}},
            )
        version = quality_service.current_version(scorecard_id=card.id)
    else:
        version = quality_service.scorecard_for(
            channel=contact.channel, queue_id=contact.queue_id, category=contact.category
        )
        if version is None:
            if reason == "chosen":
                raise Unprocessable(
                    "No active scorecard applies to this contact.",
                    errors={"json": {"scorecard_id": ["No active scorecard applies: name one."]}},
                )
            return None
    if db.session.scalar(current_review(contact.id)) is not None:
        raise Conflict("This contact is already in the review queue or reviewed.")
    evaluation = Evaluation(
        contact_id=contact.id,
        agent_id=contact.agent_id,
        queue_id=contact.queue_id,
        scorecard_version_id=version.id,
        purpose="review",
        reason=reason,
        state="queued",
    )
    db.session.add(evaluation)
    db.session.flush()
    if actor is not None:
        _audit(evaluation, "evaluation.queued", actor, {"reason": reason})
    return evaluation


def current_review(contact_id: uuid.UUID) -> Select:
    """The id of the contact's review in force (queued, in progress or submitted), if any."""
    return select(Evaluation.id).where(
        Evaluation.contact_id == contact_id,
        Evaluation.purpose == "review",
        Evaluation.superseded_by_id.is_(None),
    )


def claim(*, evaluation: Evaluation, user_id: uuid.UUID, actor: Actor) -> Evaluation:
    """Take a queued review to score it: one reviewer only, whoever asks at the same moment
    (the queued state is checked and changed in one statement)."""
    if evaluation.purpose != "review":
        raise Conflict("A calibration is started by the firm's reviewer, not claimed.")
    now = utcnow()
    taken = db.session.execute(
        update(Evaluation)
        .where(Evaluation.id == evaluation.id, Evaluation.state == "queued")
        .values(state="in_progress", reviewer_user_id=user_id, claimed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(evaluation)
    if not taken:
        if evaluation.state == "in_progress" and evaluation.reviewer_user_id == user_id:
            return evaluation  # claimed already, by this reviewer: nothing to do
        raise Conflict(
            "Another reviewer has claimed this review."
            if evaluation.state == "in_progress"
            else "This review is already submitted."
        )
    _audit(evaluation, "evaluation.claimed", actor)
    return evaluation


def release(*, evaluation: Evaluation, user_id: uuid.UUID, actor: Actor) -> Evaluation:
    """Give a claimed review back to the queue, unscored."""
    _ensure_scoring(evaluation, user_id)
    if evaluation.purpose != "review":
        raise Conflict("A calibration is not released: submit it.")
    evaluation.state, evaluation.reviewer_user_id, evaluation.claimed_at = "queued", None, None
    db.session.flush()
    _audit(evaluation, "evaluation.released", actor)
    return evaluation


def submit(
    *,
    evaluation: Evaluation,
    user_id: uuid.UUID,
    answers: dict[str, dict],
    comment: str,
    actor: Actor,
) -> Evaluation:
    """Score a claimed review (or a started calibration) and submit it: 422 with each wrong
    answer beside its question's key (`answers.<key>`); once submitted, it is not edited."""
    _ensure_scoring(evaluation, user_id)
    _score(evaluation, answers=answers, comment=comment, user_id=user_id)
    _audit(
        evaluation,
        "evaluation.submitted",
        actor,
        {"score_bps": evaluation.score_bps, "purpose": evaluation.purpose},
    )
    return evaluation


def _ensure_scoring(evaluation: Evaluation, user_id: uuid.UUID) -> None:
    if evaluation.state == "submitted":
        raise Conflict("This evaluation is already submitted.")
    if evaluation.state != "in_progress":
        raise Conflict("Claim this review first.")
    if evaluation.reviewer_user_id != user_id:
        raise Conflict("Another reviewer has claimed this evaluation.")


def _score(evaluation: Evaluation, *, answers: dict, comment: str, user_id) -> None:
    version = quality_service.get_version_by_id(version_id=evaluation.scorecard_version_id)
    errors = scoring.answer_errors(version.sections, answers)
    if errors:
        raise Unprocessable(
            "Some answers are missing or not valid.",
            errors={"json": {"answers": errors}},
        )
    result = scoring.score(version.sections, answers, passing_score_bps=version.passing_score_bps)
    db.session.add_all(
        EvaluationAnswer(
            evaluation_id=evaluation.id,
            section_key=a.section_key,
            question_key=a.question_key,
            answer=a.answer,
            points=a.points,
            earned_bps=a.earned_bps,
            critical_failed=a.critical_failed,
            comment=a.comment,
        )
        for a in result.answers
    )
    evaluation.score_bps = result.score_bps
    evaluation.passed = result.passed
    evaluation.critical_failed = result.critical_failed
    evaluation.comment = comment or ""
    evaluation.reviewer_user_id = user_id
    evaluation.state = "submitted"
    evaluation.submitted_at = utcnow()
    db.session.flush()


# --- disputes --------------------------------------------------------------------------------


def raise_dispute(
    *, evaluation: Evaluation, agent_id: uuid.UUID, user_id: uuid.UUID, reason: str, actor: Actor
) -> Dispute:
    """The evaluated agent disputes a submitted review in force, once, with a reason."""
    if evaluation.purpose != "review" or evaluation.agent_id != agent_id:
        raise NotFound("No such evaluation of yours.")
    if evaluation.state != "submitted" or evaluation.superseded_by_id is not None:
        raise Conflict("Only a submitted review in force can be disputed.")
    if evaluation.reason == "dispute":
        raise Conflict("This review decided a dispute already; it cannot be disputed again.")
    if dispute_of(evaluation) is not None:
        raise Conflict("This review is disputed already.")
    dispute = Dispute(
        evaluation_id=evaluation.id, raised_by_user_id=user_id, reason=reason, state="open"
    )
    db.session.add(dispute)
    db.session.flush()
    _audit_dispute(dispute, "evaluation.disputed", actor)
    return dispute


def list_disputes(*, state: str | None = None, agent_id: uuid.UUID | None = None) -> Select:
    stmt = select(Dispute).order_by(Dispute.created_at, Dispute.id)
    if state is not None:
        stmt = stmt.where(Dispute.state == state)
    if agent_id is not None:
        stmt = stmt.join(Evaluation, Evaluation.id == Dispute.evaluation_id).where(
            Evaluation.agent_id == agent_id
        )
    return stmt


def get_dispute(*, dispute_id: uuid.UUID) -> Dispute | None:
    return db.session.get(Dispute, dispute_id)


def decide(
    *,
    dispute: Dispute,
    user_id: uuid.UUID,
    outcome: str,
    comment: str,
    answers: dict[str, dict] | None,
    actor: Actor,
) -> Dispute:
    """A second supervisor (not the review's reviewer) decides an open dispute: the score
    stands, or the contact is scored again on the same version, and that evaluation replaces
    the disputed one in the figures (both kept)."""
    if dispute.state != "open":
        raise Conflict("This dispute is decided already.")
    disputed = get(evaluation_id=dispute.evaluation_id)
    if disputed.reviewer_user_id == user_id:
        raise Conflict("A second supervisor decides: not the one who scored the review.")
    if outcome == "rescored":
        if not answers:
            raise Unprocessable(
                "Score the contact again to decide so.",
                errors={"json": {"answers": ["Answer the scorecard's questions to score again."]}},
            )
        rescored = _another_scoring(
            disputed, purpose="review", reason="dispute", user_id=user_id, supersedes_id=disputed.id
        )
        # The disputed review leaves the one-review-per-contact index before its successor.
        disputed.superseded_by_id = rescored.id
        db.session.flush()
        db.session.add(rescored)
        db.session.flush()
        _score(rescored, answers=answers, comment=comment, user_id=user_id)
        dispute.rescored_evaluation_id = rescored.id
    dispute.state, dispute.outcome = "decided", outcome
    dispute.decided_by_user_id, dispute.decided_at = user_id, utcnow()
    dispute.decision_comment = comment or ""
    db.session.flush()
    _audit_dispute(dispute, "evaluation.dispute_decided", actor, {"outcome": outcome})
    return dispute


def _another_scoring(of: Evaluation, *, purpose: str, reason: str, user_id, **links) -> Evaluation:
    """A new evaluation of the same contact on the same version, claimed by `user_id` (a
    rescoring after a dispute, or the firm's calibration); not yet added to the session."""
    return Evaluation(
        id=uuid.uuid4(),
        contact_id=of.contact_id,
        agent_id=of.agent_id,
        queue_id=of.queue_id,
        scorecard_version_id=of.scorecard_version_id,
        purpose=purpose,
        reason=reason,
        state="in_progress",
        reviewer_user_id=user_id,
        claimed_at=utcnow(),
        **links,
    )


# --- calibration -----------------------------------------------------------------------------


def calibration_candidates() -> Select:
    """Submitted reviews in force that the firm has not calibrated yet, newest first."""
    calibrated = select(Evaluation.calibration_of_id).where(
        Evaluation.purpose == "calibration", Evaluation.calibration_of_id.is_not(None)
    )
    return (
        select(Evaluation)
        .where(
            Evaluation.purpose == "review",
            Evaluation.state == "submitted",
            Evaluation.superseded_by_id.is_(None),
            Evaluation.id.not_in(calibrated),
        )
        .order_by(Evaluation.submitted_at.desc(), Evaluation.id)
    )


def start_calibration(*, review: Evaluation, user_id: uuid.UUID, actor: Actor) -> Evaluation:
    """The firm's reviewer starts scoring a submitted review's contact blind, on the review's
    own scorecard version; once per review (409 after)."""
    if review.purpose != "review" or review.state != "submitted":
        raise Conflict("Only a submitted review can be calibrated.")
    if review.superseded_by_id is not None:
        raise Conflict("This review was scored again after a dispute: calibrate the new one.")
    existing = calibration_of(review)
    if existing is not None:
        if existing.state == "in_progress" and existing.reviewer_user_id == user_id:
            return existing
        raise Conflict("This review is calibrated already, or being calibrated.")
    calibration = _another_scoring(
        review,
        purpose="calibration",
        reason="calibration",
        user_id=user_id,
        calibration_of_id=review.id,
    )
    db.session.add(calibration)
    db.session.flush()
    _audit(calibration, "evaluation.calibration_started", actor)
    return calibration


def side_by_side(*, review: Evaluation) -> dict | None:
    """The review and its submitted calibration, question by question: each side's answer
    and share earned, and the gap (the firm's share less the BPO's, in basis points; None
    where either found the question not applicable). None until the calibration is in."""
    calibration = calibration_of(review)
    if calibration is None or calibration.state != "submitted":
        return None
    version = quality_service.get_version_by_id(version_id=review.scorecard_version_id)
    ours = {a.question_key: a for a in answers_of(review)}
    theirs = {a.question_key: a for a in answers_of(calibration)}
    rows = []
    for section, question in scoring.questions(version.sections):
        key = question["key"]
        bpo, firm = ours.get(key), theirs.get(key)
        gap = None
        if bpo and firm and bpo.earned_bps is not None and firm.earned_bps is not None:
            gap = firm.earned_bps - bpo.earned_bps
        rows.append(
            {
                "section_key": section["key"],
                "question_key": key,
                "text": question["text"],
                "bpo_answer": bpo.answer if bpo else None,
                "bpo_earned_bps": bpo.earned_bps if bpo else None,
                "firm_answer": firm.answer if firm else None,
                "firm_earned_bps": firm.earned_bps if firm else None,
                "gap_bps": gap,
            }
        )
    return {
        "review_id": review.id,
        "calibration_id": calibration.id,
        "bpo_score_bps": review.score_bps,
        "firm_score_bps": calibration.score_bps,
        "gap_bps": calibration.score_bps - review.score_bps,
        "questions": rows,
    }
