"""A firm's quality in the portal: its evaluations (as each role may see them), its scorecards,
the disputes waiting for a second supervisor, the reviews the firm may calibrate, and a
supervisor putting a handled contact in the review queue. The scoring page is
app/web/portal/quality_scoring.py's."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select

from app.agents.models import Agent
from app.auth.permissions import QUALITY_CALIBRATE, QUALITY_READ, QUALITY_REVIEW
from app.auth.principal import check, current_actor
from app.contacts import service as contacts_service
from app.db import db
from app.errors import DomainError
from app.quality import evaluations
from app.quality import service as quality_service
from app.quality.models import EVALUATION_STATES, PURPOSES, Scorecard, ScorecardVersion
from app.queues.models import Queue
from app.web import labels, nav
from app.web.portal.blueprint import bp
from app.web.portal.contacts import page_number, page_of
from app.web.shell import render
from tenants.models import User

PAGE_SIZE = 25


def caller() -> evaluations.Viewer:
    """Who looks, as the evaluations' rules read it."""
    principal = g.principal
    return evaluations.Viewer(principal.role_on(g.tenant.id), principal.user_id, principal.agent_id)


def names(rows=(), *, people=()) -> dict:
    """Names to show instead of ids: the firm's queues and scorecard versions, and the agents
    and people named on these evaluations (agents and users are the BPO's, read by id)."""
    queues = {q.id: q.name for q in db.session.execute(select(Queue.id, Queue.name))}
    versions = {
        version_id: (name, number)
        for version_id, number, name in db.session.execute(
            select(ScorecardVersion.id, ScorecardVersion.number, Scorecard.name).join(
                Scorecard, Scorecard.id == ScorecardVersion.scorecard_id
            )
        )
    }
    agent_ids = {row.agent_id for row in rows if getattr(row, "agent_id", None)}
    agents = {
        agent_id: name
        for agent_id, name in db.session.execute(
            select(Agent.id, User.name)
            .join(User, User.id == Agent.user_id)
            .where(Agent.id.in_(sorted(agent_ids)))
        )
    }
    user_ids = {getattr(row, "reviewer_user_id", None) for row in rows} | set(people)
    user_ids.discard(None)
    users = {
        user_id: name
        for user_id, name in db.session.execute(
            select(User.id, User.name).where(User.id.in_(sorted(user_ids)))
        )
    }
    return {"queues": queues, "versions": versions, "agents": agents, "people": users}


@bp.get("/quality")
def quality(tenant_id):
    """The firm's evaluations: for staff the review queue first (`state`), for the firm's
    people the scored ones, for an agent its own."""
    check(QUALITY_READ)
    who = caller()
    state = request.args.get("state", "")
    purpose = request.args.get("purpose", "")
    filters = {}
    if state in EVALUATION_STATES:
        filters["state"] = state
    if purpose in PURPOSES:
        filters["purpose"] = purpose
    mine = request.args.get("mine") == "1"
    stmt = evaluations.list_for(viewer=who, mine=mine, current=True, **filters)
    page = page_number(request.args)
    rows, more = page_of(stmt, page, PAGE_SIZE)
    role = who.role
    return render(
        "portal/quality.html",
        firm=g.tenant,
        rows=rows,
        page=page,
        more=more,
        state=state,
        purpose=purpose,
        mine=mine,
        staff=role in evaluations.STAFF,
        firm_reviewer=role == "client_admin",
        blind={e.id for e in rows if evaluations.blind(e, role=role)},
        names=names(rows),
        states=[("", _("Any state")), *labels.options("evaluation_state")],
        purposes=[("", _("Reviews and calibrations")), *labels.options("evaluation_purpose")],
    )


@bp.post("/quality/contacts/<uuid:contact_id>/review")
def quality_choose(tenant_id, contact_id):
    """A supervisor puts a handled contact in the review queue, on the scorecard that
    applies to it."""
    check(QUALITY_REVIEW)
    contact = contacts_service.get(contact_id=contact_id)
    if contact is None:
        abort(404)
    try:
        evaluation = evaluations.queue_review(
            contact=contact, reason="chosen", actor=current_actor()
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.detail, "error")
        return redirect(url_for("web.portal.contact", tenant_id=tenant_id, contact_id=contact_id))
    flash(_("The contact is in the review queue."), "ok")
    return redirect(
        url_for("web.portal.evaluation", tenant_id=tenant_id, evaluation_id=evaluation.id)
    )


@bp.get("/quality/scorecards")
def quality_scorecards(tenant_id):
    """The firm's scorecards, each with the questions of its version in force."""
    check(QUALITY_READ)
    cards = [
        (card, quality_service.current_version(scorecard_id=card.id))
        for card in db.session.scalars(quality_service.list_scorecards())
    ]
    return render(
        "portal/quality_scorecards.html",
        firm=g.tenant,
        cards=cards,
        queue_names={str(k): v for k, v in names()["queues"].items()},
    )


@bp.get("/quality/disputes")
def quality_disputes(tenant_id):
    """The disputes, open ones first, for a second supervisor to decide."""
    check(QUALITY_REVIEW)
    state = request.args.get("state", "open")
    stmt = evaluations.list_disputes(state=state if state in ("open", "decided") else None)
    page = page_number(request.args)
    rows, more = page_of(stmt, page, PAGE_SIZE)
    reviews = {d.evaluation_id: evaluations.get(evaluation_id=d.evaluation_id) for d in rows}
    raised_by = [d.raised_by_user_id for d in rows]
    return render(
        "portal/quality_disputes.html",
        firm=g.tenant,
        rows=rows,
        reviews=reviews,
        page=page,
        more=more,
        state=state,
        names=names(list(reviews.values()), people=raised_by),
    )


@bp.get("/quality/calibration")
def quality_calibration(tenant_id):
    """The BPO's scored reviews the firm has not calibrated yet, without their scores."""
    check(QUALITY_CALIBRATE)
    page = page_number(request.args)
    rows, more = page_of(evaluations.calibration_candidates(), page, PAGE_SIZE)
    return render(
        "portal/quality_calibration.html",
        firm=g.tenant,
        rows=rows,
        page=page,
        more=more,
        names=names(rows),
    )


nav.portal(
    "web.portal.quality",
    lazy_gettext("Quality"),
    order=45,
    roles=("bpo_admin", "supervisor", "agent", "client_admin", "client_viewer"),
)
