"""One evaluation's page: the contact (details, thread, history) beside its scorecard. A
supervisor claims, scores and submits a review there; the firm's client admin calibrates blind;
the agent reads its review and disputes it; a second supervisor decides a dispute, scoring the
contact again if so decided. Each answer's error is shown beside its question."""

from __future__ import annotations

import re

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _

from app.auth.permissions import (
    CALIBRATION_READ,
    QUALITY_CALIBRATE,
    QUALITY_DISPUTE,
    QUALITY_READ,
    QUALITY_REVIEW,
    QUALITY_SCORE,
)
from app.auth.principal import check, current_actor
from app.contacts import messages as messages_service
from app.contacts import service as contacts_service
from app.contacts.models import Contact
from app.db import db
from app.errors import DomainError
from app.quality import evaluations, scoring
from app.quality import service as quality_service
from app.quality.models import Evaluation
from app.web.portal.blueprint import bp
from app.web.portal.quality import caller, names
from app.web.shell import render

# A contact's history is short; this bounds a pathological one.
MAX_EVENTS = 500


def _evaluation_or_404(evaluation_id) -> Evaluation:
    found = evaluations.visible(evaluations.get(evaluation_id=evaluation_id), viewer=caller())
    if found is None:
        abort(404)
    return found


def _may(permission) -> bool:
    return caller().role in permission.roles


def _posted_answers(sections: list[dict]) -> dict[str, dict]:
    """The form's answers as the API's body has them: a question left unanswered is left out
    (the scoring says so beside it)."""
    answers = {}
    for _section, question in scoring.questions(sections):
        key = question["key"]
        answer = request.form.get(f"answer.{key}", "").strip()
        if answer:
            answers[key] = {
                "answer": answer,
                "comment": request.form.get(f"comment.{key}", "").strip()[:2000],
            }
    return answers


def _page(evaluation: Evaluation, *, errors=None, typed=None, status: int = 200):
    who = caller()
    role = who.role
    version = quality_service.get_version_by_id(version_id=evaluation.scorecard_version_id)
    # The contact as the caller's scope reads it (an agent's: through its queues).
    contact = db.session.get(Contact, evaluation.contact_id)
    blind = evaluations.blind(evaluation, role=role)
    answers = {} if blind else {a.question_key: a for a in evaluations.answers_of(evaluation)}
    dispute = evaluations.dispute_of(evaluation)
    calibration = evaluations.calibration_of(evaluation) if evaluation.purpose == "review" else None
    side_by_side = (
        evaluations.side_by_side(review=evaluation)
        if role in CALIBRATION_READ.roles and evaluation.purpose == "review"
        else None
    )
    scoring_now = evaluation.state == "in_progress" and evaluation.reviewer_user_id == who.user_id
    deciding = (
        dispute is not None
        and dispute.state == "open"
        and role in QUALITY_REVIEW.roles
        and evaluation.reviewer_user_id != who.user_id
    )
    people = [dispute.raised_by_user_id, dispute.decided_by_user_id] if dispute else []
    page = render(
        "portal/evaluation.html",
        firm=g.tenant,
        evaluation=evaluation,
        version=version,
        contact=contact,
        messages=list(
            db.session.scalars(
                messages_service.list_(contact=contact, include_notes=role not in evaluations.FIRM)
            )
        )
        if contact
        else [],
        events=list(
            db.session.scalars(contacts_service.list_events(contact=contact).limit(MAX_EVENTS))
        )
        if contact
        else [],
        answers=answers,
        blind=blind,
        dispute=dispute,
        calibration=calibration,
        side_by_side=side_by_side,
        scoring_now=scoring_now,
        deciding=deciding,
        may={
            "claim": evaluation.state == "queued" and role in QUALITY_REVIEW.roles,
            "release": scoring_now and evaluation.purpose == "review",
            "dispute": role in QUALITY_DISPUTE.roles
            and dispute is None
            and evaluation.reason != "dispute"
            and evaluation.superseded_by_id is None,
            "calibrate": role in QUALITY_CALIBRATE.roles
            and evaluation.purpose == "review"
            and evaluation.state == "submitted"
            and evaluation.superseded_by_id is None
            and calibration is None,
        },
        errors=errors or {},
        typed=typed or {},
        names=names([evaluation], people=people),
    )
    return page, status


@bp.get("/quality/evaluations/<uuid:evaluation_id>")
def evaluation(tenant_id, evaluation_id):
    """An evaluation beside its contact."""
    check(QUALITY_READ)
    return _page(_evaluation_or_404(evaluation_id))


def _back(tenant_id, evaluation_id):
    return redirect(
        url_for("web.portal.evaluation", tenant_id=tenant_id, evaluation_id=evaluation_id)
    )


def _refused(evaluation_id, error: DomainError):
    db.session.rollback()
    return _page(
        _evaluation_or_404(evaluation_id), errors={"_form": [error.detail]}, status=error.status
    )


@bp.post("/quality/evaluations/<uuid:evaluation_id>/claim")
def evaluation_claim(tenant_id, evaluation_id):
    """Claim a queued review to score it (one reviewer only)."""
    check(QUALITY_REVIEW)
    found = _evaluation_or_404(evaluation_id)
    try:
        evaluations.claim(evaluation=found, user_id=g.principal.user_id, actor=current_actor())
    except DomainError as error:
        return _refused(evaluation_id, error)
    return _back(tenant_id, evaluation_id)


@bp.post("/quality/evaluations/<uuid:evaluation_id>/release")
def evaluation_release(tenant_id, evaluation_id):
    """Give a claimed review back to the queue."""
    check(QUALITY_REVIEW)
    found = _evaluation_or_404(evaluation_id)
    try:
        evaluations.release(evaluation=found, user_id=g.principal.user_id, actor=current_actor())
    except DomainError as error:
        return _refused(evaluation_id, error)
    flash(_("The review is back in the queue."), "ok")
    return redirect(url_for("web.portal.quality", tenant_id=tenant_id, state="queued"))


@bp.post("/quality/evaluations/<uuid:evaluation_id>/submit")
def evaluation_submit(tenant_id, evaluation_id):
    """Submit the scoring (a review, or the firm's calibration)."""
    check(QUALITY_SCORE)
    found = _evaluation_or_404(evaluation_id)
    if (found.purpose == "calibration") != (caller().role == "client_admin"):
        abort(403)
    version = quality_service.get_version_by_id(version_id=found.scorecard_version_id)
    answers = _posted_answers(version.sections)
    comment = request.form.get("comment", "").strip()[:5000]
    try:
        evaluations.submit(
            evaluation=found,
            user_id=g.principal.user_id,
            answers=answers,
            comment=comment,
            actor=current_actor(),
        )
    except DomainError as error:
        db.session.rollback()
        return _page(
            _evaluation_or_404(evaluation_id),
            errors=_answer_errors(error),
            typed={"answers": answers, "comment": comment},
            status=error.status,
        )
    flash(_("The evaluation is submitted."), "ok")
    return _back(tenant_id, evaluation_id)


def _answer_errors(error: DomainError) -> dict:
    """A refusal's messages per question key (`answers`), or for the whole form, in the
    reader's language."""
    fields = (error.extra.get("errors") or {}).get("json") or {}
    answers = fields.get("answers")
    if isinstance(answers, dict):
        return {"answers": {key: _worded(messages) for key, messages in answers.items()}}
    if isinstance(answers, list):
        return {"_form": _worded(answers)}
    return {"_form": [error.detail]}


_STEP = re.compile(r"^Answer a step from 0 to (\d+)\.$")


def _worded(messages: list[str]) -> list[str]:
    """The scoring's messages (app/quality/scoring.py, English as the API's) as the page's."""
    words = {
        "Answer this question.": _("Answer this question."),
        "Answer yes, no or not applicable.": _("Answer yes, no or not applicable."),
        "This question always applies.": _("This question always applies."),
        "This scorecard has no such question.": _("This scorecard has no such question."),
        "At least one question must apply.": _("At least one question must apply."),
    }
    worded = []
    for message in messages:
        step = _STEP.match(message)
        if step:
            worded.append(_("Answer a step from 0 to %(top)s.", top=step[1]))
        else:
            worded.append(words.get(message, message))
    return worded


@bp.post("/quality/evaluations/<uuid:evaluation_id>/dispute")
def evaluation_dispute(tenant_id, evaluation_id):
    """The agent disputes its review, with a reason."""
    check(QUALITY_DISPUTE)
    found = _evaluation_or_404(evaluation_id)
    reason = request.form.get("reason", "").strip()
    if not reason or len(reason) > 2000:
        return _page(
            found,
            errors={"reason": [_("Say why, in up to 2,000 characters.")]},
            typed={"reason": reason},
            status=422,
        )
    try:
        evaluations.raise_dispute(
            evaluation=found,
            agent_id=g.principal.agent_id,
            user_id=g.principal.user_id,
            reason=reason,
            actor=current_actor(),
        )
    except DomainError as error:
        return _refused(evaluation_id, error)
    flash(_("Your dispute is sent: a second supervisor will decide."), "ok")
    return _back(tenant_id, evaluation_id)


@bp.post("/quality/evaluations/<uuid:evaluation_id>/calibrate")
def evaluation_calibrate(tenant_id, evaluation_id):
    """The firm's reviewer starts its blind calibration of a review."""
    check(QUALITY_CALIBRATE)
    found = _evaluation_or_404(evaluation_id)
    try:
        calibration = evaluations.start_calibration(
            review=found, user_id=g.principal.user_id, actor=current_actor()
        )
    except DomainError as error:
        return _refused(evaluation_id, error)
    return _back(tenant_id, calibration.id)


@bp.post("/quality/disputes/<uuid:dispute_id>/decide")
def dispute_decide(tenant_id, dispute_id):
    """A second supervisor decides: the score stands, or the contact is scored again."""
    check(QUALITY_REVIEW)
    dispute = evaluations.get_dispute(dispute_id=dispute_id)
    if dispute is None:
        abort(404)
    review = _evaluation_or_404(dispute.evaluation_id)
    outcome = request.form.get("outcome", "")
    comment = request.form.get("decision_comment", "").strip()[:5000]
    version = quality_service.get_version_by_id(version_id=review.scorecard_version_id)
    answers = _posted_answers(version.sections) if outcome == "rescored" else None
    typed = {"answers": answers or {}, "decision_comment": comment, "outcome": outcome}
    if outcome not in ("score_stands", "rescored"):
        return _page(
            review,
            errors={"outcome": [_("Choose whether the score stands or is scored again.")]},
            typed=typed,
            status=422,
        )
    try:
        evaluations.decide(
            dispute=dispute,
            user_id=g.principal.user_id,
            outcome=outcome,
            comment=comment,
            answers=answers,
            actor=current_actor(),
        )
    except DomainError as error:
        db.session.rollback()
        return _page(
            _evaluation_or_404(dispute.evaluation_id),
            errors=_answer_errors(error),
            typed=typed,
            status=error.status,
        )
    flash(_("The dispute is decided."), "ok")
    return redirect(url_for("web.portal.quality_disputes", tenant_id=tenant_id))
