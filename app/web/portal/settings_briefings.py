"""A firm's briefings in its settings: the texts its agents read before answering, with the
period they are in force and the queues they concern. List, create, edit, delete."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from app.auth.permissions import SETTINGS_ADMIN
from app.auth.principal import check, current_actor
from app.db import db
from app.errors import DomainError
from app.queues import service as queues_service
from app.queues.schemas import BriefingCreateSchema, BriefingUpdateSchema
from app.web.portal.blueprint import bp
from app.web.portal.settings_forms import (
    firm_moment,
    form_of,
    gathered,
    local_input,
    problems_of,
)
from app.web.shell import form_errors, render


def _briefing_or_404(briefing_id):
    briefing = queues_service.get_briefing(briefing_id=briefing_id)
    if briefing is None:
        abort(404)
    return briefing


def _queues():
    return db.session.scalars(queues_service.list_()).all()


def _typed(*, creating: bool) -> dict:
    """The posted briefing as the API's body: moments in the firm's zone; a blank start is
    "now" (create) or "unchanged" (edit), a blank end is "until withdrawn"."""
    typed = form_of("title", "body", "effective_from", "effective_to", lists=("queue_ids",))
    if not (typed.get("effective_from") or "").strip():
        typed.pop("effective_from", None)
    if "effective_to" in typed and not typed["effective_to"].strip():
        if creating:
            typed.pop("effective_to")
        else:
            typed["effective_to"] = None
    return typed


def _body(typed: dict) -> dict:
    return {
        key: firm_moment(value) if key in ("effective_from", "effective_to") else value
        for key, value in typed.items()
    }


def _form_page(briefing, errors=None, typed=None, status=200):
    if typed is None:
        typed = (
            {
                "title": briefing.title,
                "body": briefing.body,
                "effective_from": local_input(briefing.effective_from),
                "effective_to": local_input(briefing.effective_to),
                "queue_ids": list(briefing.queue_ids or []),
            }
            if briefing is not None
            else {}
        )
    page = render(
        "portal/settings/briefing.html",
        briefing=briefing,
        queue_options=[(str(queue.id), queue.name) for queue in _queues()],
        errors=errors or {},
        typed=typed,
    )
    return page, status


@bp.get("/settings/briefings")
def settings_briefings(tenant_id):
    """The firm's briefings, latest start first."""
    check(SETTINGS_ADMIN)
    briefings = db.session.scalars(queues_service.list_briefings()).all()
    queue_names = {str(queue.id): queue.name for queue in _queues()}
    return render("portal/settings/briefings.html", briefings=briefings, queue_names=queue_names)


@bp.get("/settings/briefings/new")
def settings_briefing_new(tenant_id):
    """The form of a new briefing."""
    check(SETTINGS_ADMIN)
    return _form_page(None)


@bp.post("/settings/briefings/new")
def settings_briefing_create(tenant_id):
    """Post a briefing to the agents of some (or all) of the firm's queues."""
    check(SETTINGS_ADMIN)
    typed = _typed(creating=True)
    try:
        briefing_in = BriefingCreateSchema().load(_body(typed))
        queues_service.create_briefing(briefing_in=briefing_in, actor=current_actor())
    except ValidationError as err:
        return _form_page(None, gathered(form_errors(err.messages), "queue_ids"), typed, 422)
    except DomainError as err:
        db.session.rollback()
        return _form_page(None, problems_of(err), typed, 422)
    flash(_("The briefing was posted."), "ok")
    return redirect(url_for("web.portal.settings_briefings", tenant_id=tenant_id))


@bp.get("/settings/briefings/<uuid:briefing_id>")
def settings_briefing(tenant_id, briefing_id):
    """One briefing's form."""
    check(SETTINGS_ADMIN)
    return _form_page(_briefing_or_404(briefing_id))


@bp.post("/settings/briefings/<uuid:briefing_id>")
def settings_briefing_update(tenant_id, briefing_id):
    """Change a briefing's text, period or queues."""
    check(SETTINGS_ADMIN)
    briefing = _briefing_or_404(briefing_id)
    typed = _typed(creating=False)
    try:
        briefing_in = BriefingUpdateSchema().load(_body(typed))
        queues_service.update_briefing(
            briefing=briefing, briefing_in=briefing_in, actor=current_actor()
        )
    except ValidationError as err:
        return _form_page(briefing, gathered(form_errors(err.messages), "queue_ids"), typed, 422)
    except DomainError as err:
        db.session.rollback()
        return _form_page(_briefing_or_404(briefing_id), problems_of(err), typed, 422)
    flash(_("The briefing was saved."), "ok")
    return redirect(url_for("web.portal.settings_briefings", tenant_id=tenant_id))


@bp.post("/settings/briefings/<uuid:briefing_id>/delete")
def settings_briefing_delete(tenant_id, briefing_id):
    """Withdraw a briefing for good (the audit log keeps its title and period)."""
    check(SETTINGS_ADMIN)
    queues_service.delete_briefing(briefing=_briefing_or_404(briefing_id), actor=current_actor())
    flash(_("The briefing was deleted."), "ok")
    return redirect(url_for("web.portal.settings_briefings", tenant_id=tenant_id))
