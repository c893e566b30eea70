"""HTTP resources of agents: the BPO's view (/v1/agents) and the agent's own (/v1/me)."""

from __future__ import annotations

from flask_smorest import Blueprint

agents_blp = Blueprint(
    "agents",
    __name__,
    url_prefix="/v1/agents",
    description="BPO agents: skills, channels, concurrency, queue assignments, timelines.",
)
supervisors_blp = Blueprint(
    "supervisors",
    __name__,
    url_prefix="/v1/supervisors",
    description="Which client firms each supervisor oversees.",
)
me_blp = Blueprint(
    "me",
    __name__,
    url_prefix="/v1/me",
    description="The caller's own profile and, for agents, their working day.",
)
