"""What a person's live stream lets through: the firms, queues and agents whose changes they may
see, read from their roles and assignments (SPEC section 2), and the filter built from it.

BPO admin: every firm's contacts and every agent. Supervisor: the contacts of the firms they
oversee and the agents serving those firms' queues. Agent: the contacts of the queues they are
assigned to (firm and queue must both match) and their own agent. Client admin and viewer:
their firm's contacts. Nothing else reaches the stream.
May import: sqlalchemy, app.db, app.agents.models, app.auth.principal, app.live.hub,
tenants.scoping.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from app.agents.models import Assignment
from app.auth.principal import Principal
from app.db import db
from app.live.hub import Notice
from tenants.scoping import tenants_scope, unscoped

# Roles that see every contact of the firm they hold them on.
_WHOLE_FIRM_ROLES = frozenset({"supervisor", "client_admin", "client_viewer"})


@dataclass(frozen=True)
class Reach:
    all_firms: bool = False
    firms: frozenset[uuid.UUID] = frozenset()  # every contact of these
    queues: frozenset[tuple[uuid.UUID, uuid.UUID]] = frozenset()  # (firm, queue)
    all_agents: bool = False
    agents: frozenset[uuid.UUID] = frozenset()

    def matches(self, notice: Notice) -> bool:
        """Whether the notice concerns what this viewer may see."""
        if notice.kind == "agent":
            return self.all_agents or notice.agent_id in self.agents
        if self.all_firms or notice.tenant_id in self.firms:
            return True
        if notice.kind == "resync":  # a whole firm changed: any of its queues did
            return any(firm == notice.tenant_id for firm, _queue in self.queues)
        return (notice.tenant_id, notice.queue_id) in self.queues


def reach_of(principal: Principal) -> Reach:
    """Read what the person may follow live (their assignments may have changed: call again)."""
    if principal.is_bpo_admin:
        return Reach(all_firms=True, all_agents=True)
    firms = frozenset(t for t, role in principal.tenant_roles.items() if role in _WHOLE_FIRM_ROLES)
    supervised = [t for t, role in principal.tenant_roles.items() if role == "supervisor"]
    agents: set[uuid.UUID] = set()
    if supervised:
        with tenants_scope(supervised):
            agents |= set(db.session.scalars(select(Assignment.agent_id).distinct()))
    queues: frozenset[tuple[uuid.UUID, uuid.UUID]] = frozenset()
    if principal.agent_id is not None:
        agents.add(principal.agent_id)
        # An agent's own assignments, in whichever firms they are: the agent is the key.
        with unscoped():
            rows = db.session.execute(
                select(Assignment.tenant_id, Assignment.queue_id).where(
                    Assignment.agent_id == principal.agent_id
                )
            ).all()
        queues = frozenset((row.tenant_id, row.queue_id) for row in rows)
    return Reach(firms=firms, queues=queues, agents=frozenset(agents))
