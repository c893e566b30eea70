"""HTTP resources of quality monitoring: scorecards and their versions, the sampling rule,
evaluations (the review queue, claim, submit, calibration) and disputes.

Who sees which evaluation (the data layer already confines each caller to its firms):
supervisors and BPO admins every one; the firm's people the submitted ones (a review's score
hidden from them while the firm calibrates it, so its reviewer scores blind); an agent only
its own submitted reviews. Anything else is a 404, as another firm's is.
"""

from __future__ import annotations

import uuid

from flask.views import MethodView

from app.api_base import Blueprint, SelectPage
from app.auth.permissions import (
    CALIBRATION_READ,
    QUALITY_CALIBRATE,
    QUALITY_DISPUTE,
    QUALITY_READ,
    QUALITY_REVIEW,
    QUALITY_SCORE,
    SCORECARD_ADMIN,
)
from app.auth.principal import current_actor, current_principal, current_tenant, require
from app.contacts.models import Contact
from app.crud import CollectionView, ItemView, found
from app.db import db
from app.errors import Conflict
from app.quality import evaluations
from app.quality import service as quality_service
from app.quality.schemas import (
    CalibrationCandidateSchema,
    DisputeCreateSchema,
    DisputeDecideSchema,
    DisputeQueryArgsSchema,
    DisputeSchema,
    EvaluationCreateSchema,
    EvaluationDetailSchema,
    EvaluationQueryArgsSchema,
    EvaluationSchema,
    EvaluationSubmitSchema,
    SamplingRuleSchema,
    ScorecardCreateSchema,
    ScorecardQueryArgsSchema,
    ScorecardSchema,
    ScorecardUpdateSchema,
    ScorecardVersionCreateSchema,
    ScorecardVersionSchema,
    SideBySideSchema,
)

scorecards_blp = Blueprint(
    "scorecards",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/scorecards",
    description="A client firm's quality scorecards, in versions: set up by the BPO, read by "
    "the firm. An evaluation keeps the version it was scored on.",
)
quality_blp = Blueprint(
    "quality",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>",
    description="Quality evaluations of a firm's handled contacts: the sampling rule, the "
    "review queue, scoring, the firm's blind calibration and the agents' disputes.",
)

FIRM = evaluations.FIRM


def _role() -> str | None:
    return current_principal().role_on(current_tenant().id)


def _viewer() -> evaluations.Viewer:
    principal = current_principal()
    return evaluations.Viewer(_role(), principal.user_id, principal.agent_id)


# --- scorecards ------------------------------------------------------------------------------


def _card_out(card) -> dict:
    return {
        "id": card.id,
        "name": card.name,
        "description": card.description,
        "is_active": card.is_active,
        "current_version": quality_service.current_version(scorecard_id=card.id),
        "created_at": card.created_at,
        "updated_at": card.updated_at,
    }


def _card_or_404(scorecard_id: uuid.UUID):
    return found(
        quality_service.get_scorecard(scorecard_id=scorecard_id),
        "No such scorecard in this client firm.",
    )


@scorecards_blp.route("")
class Scorecards(MethodView):
    @require(QUALITY_READ)
    @scorecards_blp.arguments(ScorecardQueryArgsSchema, location="query")
    @scorecards_blp.response(200, ScorecardSchema(many=True))
    def get(self, args, tenant_id):
        """List the firm's scorecards, by name, each with its version in force"""
        stmt = quality_service.list_scorecards(active=args.get("active"))
        return [_card_out(card) for card in db.session.scalars(stmt)]

    @require(SCORECARD_ADMIN)
    @scorecards_blp.arguments(ScorecardCreateSchema)
    @scorecards_blp.response(201, ScorecardSchema)
    @scorecards_blp.alt_response(409, description="A scorecard with this name exists.")
    def post(self, scorecard_in, tenant_id):
        """Set up a scorecard: its sections (weighted), questions and passing score (version 1)

        The score of an evaluation: each question that applies earns its points times its
        answer's share (yes 1, no 0, scale step s of m: s/m; `na` drops the question out); a
        section's result is points earned over points possible on its questions that apply;
        the score is the sections' results weighted by their weights, as basis points rounded
        half up; a critical question answered no makes it 0. Passed: not critically failed
        and at least `passing_score_bps`. Question keys must differ across the scorecard
        (422 beside the repeated key).
        """
        card = quality_service.create_scorecard(scorecard_in=scorecard_in, actor=current_actor())
        return _card_out(card)


@scorecards_blp.route("/<uuid:scorecard_id>")
class ScorecardById(ItemView):
    blp, schema, update_schema = scorecards_blp, ScorecardSchema, ScorecardUpdateSchema
    read, write = require(QUALITY_READ), require(SCORECARD_ADMIN)
    conflict = "A scorecard with this name exists."
    docs = {
        "get": "Read a scorecard and its version in force",
        "patch": """Rename a scorecard, describe it, or take it out of use (or back)

        What it asks changes only through a new version (`POST .../versions`).
        """,
    }

    def item(self, scorecard_id, **_path):
        return _card_out(_card_or_404(scorecard_id))

    def update(self, card_out, scorecard_in):
        card = _card_or_404(card_out["id"])
        quality_service.update_scorecard(
            scorecard=card, scorecard_in=scorecard_in, actor=current_actor()
        )
        return _card_out(card)


@scorecards_blp.route("/<uuid:scorecard_id>/versions")
class ScorecardVersions(MethodView):
    @require(QUALITY_READ)
    @scorecards_blp.response(200, ScorecardVersionSchema(many=True))
    def get(self, tenant_id, scorecard_id):
        """List a scorecard's versions, newest (in force) first"""
        return quality_service.versions(scorecard_id=_card_or_404(scorecard_id).id)

    @require(SCORECARD_ADMIN)
    @scorecards_blp.arguments(ScorecardVersionCreateSchema)
    @scorecards_blp.response(201, ScorecardVersionSchema)
    def post(self, version_in, tenant_id, scorecard_id):
        """Change what a scorecard asks: a new version, in force from now

        A field left out is the current version's. Evaluations already queued or scored keep
        the version they were made on; new ones take this one.
        """
        card = _card_or_404(scorecard_id)
        return quality_service.add_version(
            scorecard=card, version_in=version_in, actor=current_actor()
        )


@scorecards_blp.route("/<uuid:scorecard_id>/versions/<int:number>")
class ScorecardVersionByNumber(MethodView):
    @require(QUALITY_READ)
    @scorecards_blp.response(200, ScorecardVersionSchema)
    def get(self, tenant_id, scorecard_id, number):
        """Read one version of a scorecard"""
        card = _card_or_404(scorecard_id)
        return found(
            quality_service.get_version(scorecard_id=card.id, number=number),
            "No such version of this scorecard.",
        )


# --- the sampling rule -----------------------------------------------------------------------


@quality_blp.route("/quality/sampling-rule")
class SamplingRule(MethodView):
    @require(QUALITY_READ)
    @quality_blp.response(200, SamplingRuleSchema)
    def get(self, tenant_id):
        """Read the firm's sampling rule (404 until one is set)"""
        return found(quality_service.sampling_rule(), "This client firm has no sampling rule.")

    @require(SCORECARD_ADMIN)
    @quality_blp.arguments(SamplingRuleSchema)
    @quality_blp.response(200, SamplingRuleSchema)
    def put(self, rule_in, tenant_id):
        """Set how handled contacts reach the review queue

        As each contact is resolved (or closed unresolved) by an agent: complaints and claims
        are drawn at `complaint_percent_bps` (else `percent_bps`), others at `percent_bps`,
        by the contact id's own random bits (uniform, and the same however often it is
        looked at); and while the agent has fewer than `per_agent_per_week` reviews queued
        this week (Monday to Sunday in the firm's zone), the contact is taken whatever the
        draw. It is queued on the active scorecard that applies to it (none: not queued).
        """
        return quality_service.set_sampling_rule(rule_in=rule_in, actor=current_actor())


# --- evaluations -----------------------------------------------------------------------------


def _visible(evaluation):
    """The evaluation if the caller may see it, else None (answered as a 404)."""
    return evaluations.visible(evaluation, viewer=_viewer())


def _out(evaluation, *, detail: bool = False) -> dict:
    fields = {c: getattr(evaluation, c) for c in EvaluationSchema().fields}
    blind = evaluations.blind(evaluation, role=_role())
    if blind:
        fields |= {"score_bps": None, "passed": None, "critical_failed": None, "comment": ""}
    if not detail:
        return fields
    return fields | {
        "answers": [] if blind else evaluations.answers_of(evaluation),
        "scorecard_version": quality_service.get_version_by_id(
            version_id=evaluation.scorecard_version_id
        ),
        "dispute": evaluations.dispute_of(evaluation),
    }


def _evaluation_or_404(evaluation_id: uuid.UUID):
    return found(
        _visible(evaluations.get(evaluation_id=evaluation_id)),
        "No such evaluation in this client firm.",
    )


class _EvaluationPage(SelectPage):
    """A page of evaluations as the caller may see them (a blind review's score left out)."""

    @property
    def items(self):
        return [_out(evaluation) for evaluation in super().items]


@quality_blp.route("/evaluations")
class Evaluations(MethodView):
    @require(QUALITY_READ)
    @quality_blp.arguments(EvaluationQueryArgsSchema, location="query")
    @quality_blp.response(200, EvaluationSchema(many=True))
    @quality_blp.paginate(_EvaluationPage)
    def get(self, args, tenant_id):
        """List evaluations: the review queue (`state=queued`, oldest first), the submitted

        Supervisors and BPO admins see every evaluation; the firm's people the submitted
        ones; an agent only its own submitted reviews.
        """
        return evaluations.list_for(viewer=_viewer(), **args)

    @require(QUALITY_REVIEW)
    @quality_blp.arguments(EvaluationCreateSchema)
    @quality_blp.response(201, EvaluationSchema)
    @quality_blp.alt_response(409, description="Not handled yet, or already in review.")
    def post(self, evaluation_in, tenant_id):
        """Put a handled contact in the review queue (a supervisor's own choice)"""
        contact = found(
            db.session.get(Contact, evaluation_in["contact_id"]),
            "No such contact in this client firm.",
        )
        return _out(
            evaluations.queue_review(
                contact=contact,
                reason="chosen",
                scorecard_id=evaluation_in["scorecard_id"],
                actor=current_actor(),
            )
        )


@quality_blp.route("/evaluations/<uuid:evaluation_id>")
class EvaluationById(MethodView):
    @require(QUALITY_READ)
    @quality_blp.response(200, EvaluationDetailSchema)
    def get(self, tenant_id, evaluation_id):
        """Read an evaluation with its answers, its scorecard version and any dispute"""
        return _out(_evaluation_or_404(evaluation_id), detail=True)


@quality_blp.route("/evaluations/<uuid:evaluation_id>/claim")
class EvaluationClaim(MethodView):
    @require(QUALITY_REVIEW)
    @quality_blp.response(200, EvaluationSchema)
    @quality_blp.alt_response(409, description="Another reviewer claimed it, or it is scored.")
    def post(self, tenant_id, evaluation_id):
        """Claim a queued review to score it: one reviewer only (409 for the second)"""
        evaluation = _evaluation_or_404(evaluation_id)
        return _out(
            evaluations.claim(
                evaluation=evaluation, user_id=current_principal().user_id, actor=current_actor()
            )
        )


@quality_blp.route("/evaluations/<uuid:evaluation_id>/release")
class EvaluationRelease(MethodView):
    @require(QUALITY_REVIEW)
    @quality_blp.response(200, EvaluationSchema)
    @quality_blp.alt_response(409, description="Not claimed by the caller.")
    def post(self, tenant_id, evaluation_id):
        """Give a claimed review back to the queue, unscored"""
        evaluation = _evaluation_or_404(evaluation_id)
        return _out(
            evaluations.release(
                evaluation=evaluation, user_id=current_principal().user_id, actor=current_actor()
            )
        )


@quality_blp.route("/evaluations/<uuid:evaluation_id>/submit")
class EvaluationSubmit(MethodView):
    @require(QUALITY_SCORE)
    @quality_blp.arguments(EvaluationSubmitSchema)
    @quality_blp.response(200, EvaluationDetailSchema)
    @quality_blp.alt_response(409, description="Not claimed by the caller, or submitted.")
    def post(self, submit_in, tenant_id, evaluation_id):
        """Score a review you claimed (or the calibration you started) and submit it

        Every question of the evaluation's scorecard version answered: `yes`, `no`, `na`
        (where the question allows it) or a scale's step. A wrong or missing answer is a 422
        with the message beside `answers.<question key>`. Submitted evaluations are final;
        an agent may dispute a review.
        """
        evaluation = _evaluation_or_404(evaluation_id)
        if (evaluation.purpose == "calibration") != (_role() == "client_admin"):
            raise Conflict(
                "The firm's reviewer scores calibrations; the BPO's supervisors score reviews."
            )
        evaluations.submit(
            evaluation=evaluation,
            user_id=current_principal().user_id,
            answers=submit_in["answers"],
            comment=submit_in["comment"],
            actor=current_actor(),
        )
        return _out(evaluation, detail=True)


@quality_blp.route("/evaluations/<uuid:evaluation_id>/dispute")
class EvaluationDispute(MethodView):
    @require(QUALITY_DISPUTE)
    @quality_blp.arguments(DisputeCreateSchema)
    @quality_blp.response(201, DisputeSchema)
    @quality_blp.alt_response(409, description="Disputed already, or not in force.")
    def post(self, dispute_in, tenant_id, evaluation_id):
        """Dispute one of your reviews, with your reason (once); a second supervisor decides"""
        evaluation = _evaluation_or_404(evaluation_id)
        principal = current_principal()
        return evaluations.raise_dispute(
            evaluation=evaluation,
            agent_id=principal.agent_id,
            user_id=principal.user_id,
            reason=dispute_in["reason"],
            actor=current_actor(),
        )


@quality_blp.route("/evaluations/<uuid:evaluation_id>/calibration")
class EvaluationCalibration(MethodView):
    @require(CALIBRATION_READ)
    @quality_blp.response(200, SideBySideSchema)
    def get(self, tenant_id, evaluation_id):
        """The review and the firm's calibration side by side, with the gap per question

        404 until the calibration is submitted. The gap is the firm's share earned less the
        BPO's, in basis points (null where either side found the question not applicable).
        """
        review = _evaluation_or_404(evaluation_id)
        return found(evaluations.side_by_side(review=review), "This review is not calibrated yet.")

    @require(QUALITY_CALIBRATE)
    @quality_blp.response(201, EvaluationDetailSchema)
    @quality_blp.alt_response(409, description="Calibrated (or being calibrated) already.")
    def post(self, tenant_id, evaluation_id):
        """Start the firm's blind calibration of a submitted review

        Answers the new calibration (in progress, the caller its reviewer), with the review's
        scorecard version; submit it through `.../evaluations/{calibration id}/submit`. Until
        it is submitted the review's score and answers are hidden from the firm's people.
        """
        review = _evaluation_or_404(evaluation_id)
        calibration = evaluations.start_calibration(
            review=review, user_id=current_principal().user_id, actor=current_actor()
        )
        return _out(calibration, detail=True)


@quality_blp.route("/calibration-candidates")
class CalibrationCandidates(MethodView):
    @require(QUALITY_CALIBRATE)
    @quality_blp.response(200, CalibrationCandidateSchema(many=True))
    @quality_blp.paginate(SelectPage)
    def get(self, tenant_id):
        """The submitted reviews the firm has not calibrated yet, newest first, without scores"""
        return evaluations.calibration_candidates()


# --- disputes --------------------------------------------------------------------------------


@quality_blp.route("/evaluation-disputes")
class Disputes(CollectionView):
    blp, schema, query_schema = quality_blp, DisputeSchema, DisputeQueryArgsSchema
    read = require(QUALITY_READ)
    docs = {
        "get": """List disputes, oldest first (`state=open`: those waiting for a decision)

        The BPO's staff and the firm's people see every dispute of the firm; an agent those
        of its own reviews.
        """
    }

    def select(self, **args):
        viewer = _viewer()
        mine = viewer.agent_id if viewer.role == "agent" else None
        return evaluations.list_disputes(state=args.get("state"), agent_id=mine)


@quality_blp.route("/evaluation-disputes/<uuid:dispute_id>/decide")
class DisputeDecision(MethodView):
    @require(QUALITY_REVIEW)
    @quality_blp.arguments(DisputeDecideSchema)
    @quality_blp.response(200, DisputeSchema)
    @quality_blp.alt_response(409, description="Decided already, or the caller scored it.")
    def post(self, decision_in, tenant_id, dispute_id):
        """Decide a dispute as a second supervisor: the score stands, or score the contact again

        Not the supervisor who scored the review (409). `rescored` needs `answers`, scored on
        the review's own version: that evaluation replaces the disputed one in every figure,
        and both are kept (`supersedes_id`, `superseded_by_id`).
        """
        dispute = found(
            evaluations.get_dispute(dispute_id=dispute_id), "No such dispute in this client firm."
        )
        return evaluations.decide(
            dispute=dispute,
            user_id=current_principal().user_id,
            outcome=decision_in["outcome"],
            comment=decision_in["comment"],
            answers=decision_in.get("answers"),
            actor=current_actor(),
        )
