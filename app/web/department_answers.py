"""The page a department reaches from an escalation's mail, without an account: the contact's
summary and the agent's note, and a form to answer it (the text, and done or needs more), once.
A link that cannot be used says why: unknown (404), used, ended or expired (410)."""

from __future__ import annotations

from flask import Blueprint, g, request
from flask_babel import gettext as _
from marshmallow import ValidationError

from app.contacts import department_answers, escalations
from app.contacts.schemas import DepartmentAnswerSchema
from app.db import db
from app.errors import Unprocessable
from app.web.shell import form_errors, public, render

bp = Blueprint("departments", __name__)


def _refused(error: escalations.LinkRefused):
    status = 404 if error.reason == "unknown" else 410
    return render("departments/link_refused.html", reason=error.reason), status


@bp.route("/department-answers/<token>", methods=["GET", "POST"])
@public
def answer(token: str):
    """Read what was escalated to your department and answer it."""
    try:
        opened = department_answers.open_request(token=token)
    except escalations.LinkRefused as error:
        return _refused(error)
    # The firm's language and time zone for the page (app/web/i18n.py reads g.tenant).
    g.tenant = opened.tenant
    page = {"opened": opened, "errors": {}, "typed": {}}
    if request.method == "GET":
        return _page(page)
    typed = {k: request.form.get(k, "") for k in ("body", "outcome")}
    try:
        form = DepartmentAnswerSchema().load(typed)
        department_answers.answer(token=token, body=form["body"], outcome=form["outcome"])
    except ValidationError as error:
        errors = _plain(form_errors(error.messages), typed)
        return _page({**page, "errors": errors, "typed": typed}, 422)
    except Unprocessable as error:
        db.session.rollback()
        errors = form_errors((error.extra.get("errors") or {}).get("json") or {})
        return _page({**page, "errors": errors, "typed": typed}, 422)
    except escalations.LinkRefused as error:
        db.session.rollback()
        return _refused(error)
    return render("departments/answered.html", outcome=form["outcome"], opened=opened)


def _plain(errors: dict, typed: dict) -> dict:
    """The schema's errors said as a person reads them, in the firm's language (marshmallow's
    own are English and name the values, not the choices on the page)."""
    if "body" in errors:
        errors["body"] = [
            _("Write your answer.")
            if not typed["body"].strip()
            else _("Your answer is too long: at most 20,000 characters.")
        ]
    if "outcome" in errors:
        errors["outcome"] = [_("Choose whether it is done or needs more.")]
    return errors


def _page(page: dict, status: int = 200):
    return render("departments/answer.html", **page), status
