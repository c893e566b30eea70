"""The desk's own page: presence, the agent's queues across firms (switched on and off), Next,
and the contacts it holds; each a fragment the live stream refreshes."""

from __future__ import annotations

import uuid

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from app.agents import me as me_service
from app.agents import presence as agent_presence
from app.agents.common import assigned_tenant_ids
from app.agents.schemas import PresenceUpdateSchema
from app.auth.permissions import AGENT_WORK
from app.auth.principal import check, current_actor
from app.campaigns import dialer
from app.contacts import routing
from app.db import utcnow
from app.errors import DomainError
from app.reports import quality as quality_reports
from app.web.desk.blueprint import bp, my_agent
from app.web.shell import is_htmx, render
from tenants.scoping import tenants_scope

# What an agent may choose by hand; busy and after-contact work follow the work itself.
CHOSEN_PRESENCES = ("available", "break", "offline")


def panel_context(*, reason: str | None = None) -> dict:
    """What the desk's side panel shows: presence, queues with what waits, held contacts."""
    agent = my_agent()
    return {
        "agent": agent,
        "queues": me_service.my_queues(agent=agent),
        "held": routing.held(agent=agent),
        "presences": CHOSEN_PRESENCES,
        "reason": reason,
    }


def coaching_context(agent) -> dict:
    """The agent's own weakest questions across the firms it serves (the desk's home)."""
    with tenants_scope(assigned_tenant_ids(agent.id)):
        rows = quality_reports.coaching(agent_id=agent.id, now=utcnow())
    return {"coaching": rows[:5], "coaching_weeks": quality_reports.COACHING_WEEKS}


@bp.get("/")
def desk():
    """The desk: presence, queues of every firm served, Next and what the agent holds."""
    check(AGENT_WORK)
    context = panel_context()
    return render(
        "desk/desk.html",
        workspace=None,
        **context,
        **coaching_context(context["agent"]),
    )


@bp.get("/_panel")
def panel():
    """The side panel alone, for the live refresh."""
    check(AGENT_WORK)
    return render("desk/_panel.html", **panel_context())


def _panel_or_desk(*, reason: str | None = None, status: int = 200):
    """An htmx form gets the panel back; a plain form the whole desk (no script needed)."""
    template = "desk/_panel.html" if is_htmx() else "desk/desk.html"
    return render(template, workspace=None, **panel_context(reason=reason)), status


@bp.post("/presence")
def set_presence():
    """One click: available, on a break or offline."""
    check(AGENT_WORK)
    try:
        loaded = PresenceUpdateSchema().load({"presence": request.form.get("presence", "")})
    except ValidationError:
        return _panel_or_desk(reason=_("Choose available, break or offline."), status=422)
    if loaded["presence"] not in CHOSEN_PRESENCES:
        return _panel_or_desk(reason=_("Choose available, break or offline."), status=422)
    try:
        agent_presence.set_presence(
            agent=my_agent(), presence=loaded["presence"], actor=current_actor()
        )
    except DomainError as error:
        return _panel_or_desk(reason=error.detail, status=error.status)
    return _panel_or_desk()


@bp.post("/queues/<uuid:queue_id>/active")
def switch_queue(queue_id: uuid.UUID):
    """Take work from a queue, or stop: the switch is logged and time follows it."""
    check(AGENT_WORK)
    agent = my_agent()
    active = [uuid.UUID(q) for q in agent.active_queue_ids]
    wanted = request.form.get("active") == "true"
    if wanted and queue_id not in active:
        active.append(queue_id)
    elif not wanted:
        active = [q for q in active if q != queue_id]
    try:
        agent_presence.set_active_queues(agent=agent, queue_ids=active, actor=current_actor())
    except DomainError as error:
        return _panel_or_desk(reason=error.detail, status=error.status)
    return _panel_or_desk()


def why_nothing(error: DomainError) -> str:
    """Why Next found nothing, in the agent's language (the API says it in English)."""
    reason = error.extra.get("reason")
    waiting = (error.extra.get("waiting") or {}).get("total", 0)
    said = {
        "profile_inactive": _("Your agent profile is deactivated: you cannot take contacts."),
        "presence_not_available": _("Set yourself available to take contacts."),
        "no_active_queue": _("Switch on at least one of your queues to take work from it."),
        "nothing_waiting": _("Nothing is waiting in your active queues."),
        "taken": _("What fitted you was just taken by another agent: try again."),
        "needs_unmet": _(
            "%(count)s contacts wait in your active queues, none that you can take: each needs "
            "a channel you do not work, a channel where you are at your limit, or a language "
            "you do not speak.",
            count=waiting,
        ),
    }
    return said.get(reason, error.detail)


@bp.post("/next")
def next_contact():
    """Claim the next contact and open it; with nothing to claim, say why."""
    check(AGENT_WORK)
    agent = my_agent()
    try:
        contact = dialer.claim_next(agent=agent, actor=current_actor())
        if contact is None:
            raise routing.nothing_to_claim(agent=agent)
    except DomainError as error:
        return _panel_or_desk(reason=why_nothing(error), status=error.status)
    target = url_for("web.desk.workspace", tenant_id=contact.tenant_id, contact_id=contact.id)
    if is_htmx():
        return "", 204, {"HX-Redirect": target}
    flash(_("Contact claimed."), "info")
    return redirect(target, code=303)
