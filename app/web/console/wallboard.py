"""The supervisor's live wallboard at /console/wallboard (and its TV mode at
/console/wallboard/tv): the firms the caller oversees, each with its queues' tiles, the agents by
state with what they work on, and the contacts at risk or breached, each reassignable here."""

from __future__ import annotations

import uuid

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_babel import force_locale, lazy_gettext
from flask_babel import gettext as _

from app.auth.permissions import CONTACT_ASSIGN, CONTACT_WORK, WALLBOARD_READ
from app.auth.principal import check, current_actor
from app.contacts import service as contacts_service
from app.db import utcnow
from app.errors import Conflict, DomainError, Unprocessable
from app.reports.portfolio import overseen_tenant_ids
from app.wallboard import service as wallboard_service
from app.web import i18n, nav
from app.web.console.blueprint import bp
from app.web.labels import label
from app.web.shell import is_htmx, render

# TV mode shows one firm at a time, for this many seconds unless the URL says otherwise.
ROTATE_SECONDS = 15
ROTATE_RANGE = (5, 300)


def _wanted() -> frozenset[uuid.UUID] | None:
    """The firms to show: those the caller oversees, narrowed by `?firm=<id>` (repeatable);
    a firm out of reach, or no id at all, is simply not shown, as in the API."""
    overseen = overseen_tenant_ids(g.principal)
    asked = set()
    for text in request.args.getlist("firm"):
        try:
            asked.add(uuid.UUID(text))
        except ValueError:
            continue
    if not asked:
        return overseen
    return frozenset(asked) if overseen is None else overseen & asked


def _board(*, renew: bool = False) -> dict:
    check(WALLBOARD_READ)
    board = wallboard_service.shared_snapshot(tenant_ids=_wanted(), renew=renew)
    # A board shared while a newer one is read (app.readings) asks for that one shortly, once:
    # the answer to that catch-up never asks again (else a page would poll every few seconds).
    age = (utcnow() - board["generated_at"]).total_seconds()
    config = current_app.config
    shared = float(config["SHARED_READ_STALE_SECONDS"]) > 0
    fresh = float(config["SHARED_READ_FRESH_SECONDS"])
    catch_up = shared and age > fresh and not request.args.get("caught")
    query = {"firm": request.args.getlist("firm"), "rotate": request.args.get("rotate")}
    try:
        rotate = int(request.args.get("rotate", ROTATE_SECONDS))
    except ValueError:
        rotate = ROTATE_SECONDS
    rotate = min(max(rotate, ROTATE_RANGE[0]), ROTATE_RANGE[1])
    # Agents by id, for the names of those a contact may be reassigned to.
    agents = {agent["agent_id"]: agent for agent in board["agents"]}
    queues = {q["queue_id"]: (firm, q) for firm in board["tenants"] for q in firm["queues"]}
    return {
        "board": board,
        "agents_by_id": agents,
        "queues_by_id": queues,
        # Kept in every URL the page builds, so a refresh or a reassign keeps the firms chosen.
        "query": query,
        "rotate": rotate,
        "catch_up": catch_up,
        "refresh_query": {**query, "caught": "1"} if catch_up else query,
    }


@bp.get("/wallboard")
def wallboard():
    """The wallboard; htmx asks for its firms and agents again on every change and each 30 s.
    `?tv=1` is TV mode, as /console/wallboard/tv."""
    if request.args.get("tv") == "1":
        return wallboard_tv()
    return render(
        "console/wallboard.html",
        partial="console/_wallboard_floor.html",
        **_board(),
        errors={},
        chosen={},
    )


@bp.get("/wallboard/urgent")
def wallboard_urgent():
    """The contacts at risk or breached, alone: the wallboard's list htmx refreshes."""
    return render("console/_wallboard_urgent.html", **_board(), errors={}, chosen={})


@bp.get("/wallboard/tv")
def wallboard_tv():
    """TV mode: no menus, large type, a dark theme, one firm at a time (`?rotate=` seconds)."""
    return render("console/wallboard_tv.html", partial="console/_wallboard_tv.html", **_board())


@bp.post("/wallboard/<uuid:tenant_id>/contacts/<uuid:contact_id>/reassign")
def wallboard_reassign(tenant_id: uuid.UUID, contact_id: uuid.UUID):
    """Reassign one contact: to an agent serving its queue (assign), or to another queue of its
    firm (transfer); a bad choice answers the list with the error beside the contact's field."""
    # The URL names the firm (so the auth layer binds it), but the answer belongs to the
    # console's page: it speaks the page's language, not the firm's.
    with force_locale(_console_language()):
        return _reassign(contact_id)


def _console_language() -> str:
    """The console's language: the person's choice, else their browser's (never the firm's)."""
    chosen = (getattr(g.get("web_user"), "language", None) or "").split("-")[0].lower()
    if chosen in i18n.LANGUAGES:
        return chosen
    return request.accept_languages.best_match(i18n.LANGUAGES) or "en"


def _reassign(contact_id: uuid.UUID):
    target = request.form.get("target", "")
    kind, _sep, value = target.partition(":")
    error = None
    try:
        target_id = uuid.UUID(value) if kind in ("agent", "queue") else None
    except ValueError:
        target_id = None
    if target_id is None:
        error = _("Choose an agent or a queue.")
    else:
        check(CONTACT_ASSIGN if kind == "agent" else CONTACT_WORK)
        contact = contacts_service.get(contact_id=contact_id, for_update=True)
        if contact is None:
            abort(404)
        try:
            contacts_service.act(
                contact=contact,
                action="assign" if kind == "agent" else "transfer",
                action_in={"agent_id": target_id} if kind == "agent" else {"queue_id": target_id},
                tenant=g.tenant,
                actor=current_actor(),
            )
        except Conflict:
            error = _refusal(kind, contact.status)
        except (Unprocessable, DomainError) as err:
            error = err.detail
    if error is None:
        if not is_htmx():
            flash(_("Contact reassigned."), "info")
            return redirect(url_for("web.console.wallboard"))
        # This viewer has just changed the board: it sees the change, not a shared reading.
        return render("console/_wallboard_urgent.html", **_board(renew=True), errors={}, chosen={})
    errors = {contact_id: error}
    if not is_htmx():
        # Without JavaScript the whole wallboard comes back, the error beside the field.
        page = render(
            "console/wallboard.html", **_board(), errors=errors, chosen={contact_id: target}
        )
        return page, 422
    page = render(
        "console/_wallboard_urgent.html", **_board(), errors=errors, chosen={contact_id: target}
    )
    return page, 422


def _refusal(kind: str, status: str) -> str:
    """Why the lifecycle refused the move, in the words of the person choosing it."""
    status_text = label(status, "contact_status").lower()
    if kind == "agent":
        return _(
            "A contact that is %(status)s cannot be given to another agent; transfer it to a "
            "queue instead.",
            status=status_text,
        )
    return _("A contact that is %(status)s cannot be transferred.", status=status_text)


nav.console("web.console.wallboard", lazy_gettext("Wallboard"), order=5)
