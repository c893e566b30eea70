"""The console's agents: the list with the firms each serves, creating an agent, changing its
skills, channels and concurrency, and deactivating it, through the service /v1/agents calls."""

from __future__ import annotations

import re
import uuid

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from marshmallow import ValidationError
from werkzeug.exceptions import NotFound as HttpNotFound

from app.agents import queue_assignments
from app.agents import service as agents_service
from app.agents.models import Agent
from app.agents.schemas import AgentCreateSchema, AgentUpdateSchema
from app.auth.passwords import hash_password
from app.auth.permissions import AGENT_ADMIN, AGENT_READ, COACHING_READ
from app.auth.principal import check, current_actor
from app.db import utcnow
from app.errors import Conflict, Unprocessable
from app.reports import quality as quality_reports
from app.vocabulary import CHANNELS
from app.web import nav
from app.web.console.blueprint import bp
from app.web.console.scope import overseen, page_of, scoped
from app.web.shell import form_errors, render

_SPLIT = re.compile(r"[\s,]+")


@bp.get("/agents")
def agents():
    """Every agent the caller may read, by name, with the firms each serves."""
    check(AGENT_READ)
    tenant_ids = overseen()
    within = None
    if tenant_ids is not None:
        within = agents_service.assigned_agent_ids(tenant_ids=tenant_ids)
    page = page_of(agents_service.list_(within=within))
    seen = agents_service.as_seen_by(agents=page.items, tenant_ids=tenant_ids)
    rows = [
        {
            "agent": shown,
            "id": agent.id,
            # Read here, not by the template: no query runs while a page is drawn.
            "name": agent.user.name,
            "email": agent.user.email,
            "firms": _firms(agent, tenant_ids),
        }
        for agent, shown in zip(page.items, seen, strict=True)
    ]
    return render("console/agents.html", rows=rows, page=page, may_change=_may_change())


@bp.route("/agents/new", methods=["GET", "POST"])
def agent_new():
    """Create an agent: a BPO user with the agent role and its profile."""
    check(AGENT_ADMIN)
    values = _values(request.form) if request.method == "POST" else _blank()
    if request.method == "GET":
        return render("console/agent_form.html", values=values, errors={}, agent=None)
    try:
        agent_in = AgentCreateSchema().load(_profile_in(request.form, creating=True))
        password = agent_in.pop("password", None)
        agent = agents_service.create(
            agent_in=agent_in,
            password_hash=hash_password(password) if password else None,
            actor=current_actor(),
        )
    except ValidationError as err:
        return _invalid(values, _beside_fields(err.messages), agent=None)
    except Conflict as err:
        return _invalid(values, {"email": [err.detail]}, agent=None, status=409)
    flash(_("Agent %(name)s created.", name=agent.user.name), "info")
    return redirect(url_for("web.console.agents"))


@bp.route("/agents/<uuid:agent_id>", methods=["GET", "POST"])
def agent_edit(agent_id: uuid.UUID):
    """An agent's profile; a BPO admin changes its name, skills, channels and concurrency."""
    check(AGENT_READ)
    agent = agent_or_404(agent_id)
    if request.method == "GET":
        check(COACHING_READ)
        # Coaching over the firms the caller oversees (every firm for a BPO admin).
        with scoped():
            coaching = quality_reports.coaching(agent_id=agent.id, now=utcnow())
        return render(
            "console/agent_form.html",
            values=_values_of(agent),
            errors={},
            agent=agent,
            who=agent.user,
            may_change=_may_change(),
            coaching=coaching,
            coaching_weeks=quality_reports.COACHING_WEEKS,
        )
    check(AGENT_ADMIN)
    values = _values(request.form)
    try:
        agent_in = AgentUpdateSchema().load(_profile_in(request.form, creating=False))
        agents_service.update(agent=agent, agent_in=agent_in, actor=current_actor())
    except ValidationError as err:
        return _invalid(values, _beside_fields(err.messages), agent=agent)
    except Unprocessable as err:
        messages = err.extra.get("errors", {}).get("json") or {"_schema": [err.detail]}
        return _invalid(values, _beside_fields(messages), agent=agent)
    flash(_("Agent %(name)s saved.", name=agent.user.name), "info")
    return redirect(url_for("web.console.agent_edit", agent_id=agent.id))


@bp.post("/agents/<uuid:agent_id>/active")
def agent_active(agent_id: uuid.UUID):
    """Deactivate an agent (it goes offline and leaves its queues), or reactivate it."""
    check(AGENT_ADMIN)
    agent = agent_or_404(agent_id)
    active = request.form.get("is_active") == "true"
    agents_service.update(agent=agent, agent_in={"is_active": active}, actor=current_actor())
    message = _("Agent reactivated.") if active else _("Agent deactivated.")
    flash(message, "info")
    return redirect(url_for("web.console.agent_edit", agent_id=agent.id))


# --- helpers ---------------------------------------------------------------------------------


def _may_change() -> bool:
    return g.principal.is_bpo_admin


def agent_or_404(agent_id: uuid.UUID) -> Agent:
    """An agent the caller may see, as the API finds it: another is a 404."""
    agent = agents_service.get(agent_id=agent_id)
    tenant_ids = overseen()
    if agent is not None and tenant_ids is not None:
        if agent.id not in agents_service.assigned_agent_ids(tenant_ids=tenant_ids):
            agent = None
    if agent is None:
        raise HttpNotFound()
    return agent


def _firms(agent: Agent, tenant_ids) -> list[str]:
    assigned = queue_assignments.assignments(agent=agent, tenant_ids=tenant_ids)["assignments"]
    return sorted({a["tenant"]["name"] for a in assigned})


def _invalid(values: dict, errors: dict, *, agent, status: int = 422):
    page = render(
        "console/agent_form.html",
        values=values,
        errors=errors,
        agent=agent,
        who=agent.user if agent else None,
        may_change=True,
    )
    return page, status


def _profile_in(form, *, creating: bool) -> dict:
    """The form as the API's agent schema reads a body; blanks left out, typed text kept."""
    data: dict = {}
    names = ("name", "email", "password") if creating else ("name",)
    for name in names:
        value = form.get(name, "")
        if value.strip():
            data[name] = value if name == "password" else value.strip()
    channels = form.getlist("channels")
    data["channels"] = channels
    # Only the channels ticked carry a concurrency: a box left filled in for an unticked
    # channel is not a request to handle it.
    concurrency = {
        c: form.get(f"concurrency.{c}", "").strip()
        for c in channels
        if c in CHANNELS and form.get(f"concurrency.{c}", "").strip()
    }
    if concurrency:
        data["concurrency"] = concurrency
    skills = []
    for line in form.get("skills", "").splitlines():
        if line.strip():
            name, _sep, level = line.rpartition(":") if ":" in line else (line, "", "")
            skills.append({"name": name.strip(), "level": level.strip()})
    if skills or not creating:
        data["skills"] = skills
    languages = [x for x in _SPLIT.split(form.get("languages", "")) if x]
    if languages or not creating:
        data["languages"] = languages
    return data


def _beside_fields(messages) -> dict[str, list[str]]:
    """The schema's errors under the form's field names: a list item's or a concurrency
    value's error goes beside the box it was typed in."""
    flat: dict[str, list[str]] = {}
    for key, texts in form_errors(messages).items():
        parts = key.split(".")
        field = ".".join(parts[:2]) if parts[0] == "concurrency" and len(parts) > 1 else parts[0]
        if field == "concurrency.value" or field == "concurrency.key":
            field = "concurrency"
        flat.setdefault(field, []).extend(texts)
    return flat


def _blank() -> dict:
    return {
        "name": "",
        "email": "",
        "channels": [],
        "concurrency": {},
        "skills": "",
        "languages": "",
    }


def _values(form) -> dict:
    """What was typed, to show again beside its errors."""
    return {
        "name": form.get("name", ""),
        "email": form.get("email", ""),
        "channels": form.getlist("channels"),
        "concurrency": {c: form.get(f"concurrency.{c}", "") for c in CHANNELS},
        "skills": form.get("skills", ""),
        "languages": form.get("languages", ""),
    }


def _values_of(agent: Agent) -> dict:
    return {
        "name": agent.user.name,
        "email": agent.user.email,
        "channels": list(agent.channels),
        "concurrency": {c: str(n) for c, n in agent.concurrency.items()},
        "skills": "\n".join(f"{s['name']}:{s['level']}" for s in agent.skills),
        "languages": ", ".join(agent.languages),
    }


nav.console("web.console.agents", lazy_gettext("Agents"), order=20)
