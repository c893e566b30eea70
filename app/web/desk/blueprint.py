"""The desk area's blueprint, which its page modules add routes to, and the agent it serves."""

from __future__ import annotations

from flask import Blueprint, g
from flask_babel import gettext as _

from app.agents.models import Agent
from app.agents.service import get_by_user
from app.auth.principal import Forbidden

bp = Blueprint("desk", __name__, url_prefix="/desk")


@bp.before_request
def _agents_only():
    """The desk is an agent's: a person with an active agent profile."""
    principal = g.principal
    agent = get_by_user(user_id=principal.user_id) if "agent" in principal.platform_roles else None
    if agent is None or not agent.is_active:
        raise Forbidden(_("The desk is for the BPO's agents."))
    g.agent = agent


def my_agent() -> Agent:
    return g.agent
