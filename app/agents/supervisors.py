"""The BPO's supervisors: who they are and which client firms each oversees, for listing.

A supervisor is a user holding supervisor memberships (one per client firm overseen); their
memberships span tenants, so the read is the BPO admin's, across every tenant.
May import: app.db, app.agents.service, tenants (models, scoping).
"""

from __future__ import annotations

from sqlalchemy import func, select

from app.agents.service import SUPERVISOR
from app.db import db
from tenants.models import Membership, Tenant, User
from tenants.scoping import unscoped


def list_(*, offset: int, limit: int) -> tuple[int, list[dict]]:
    """Return how many supervisors there are and one page of them, by name, with their firms.

    Only users overseeing at least one firm are found: a supervisor stripped of every firm
    holds no membership left to tell them apart from any other user.
    """
    supervising = select(Membership.user_id).where(Membership.role == SUPERVISOR)
    # Memberships of every tenant say who supervises what; only a BPO admin calls this.
    with unscoped():
        total = db.session.scalar(
            select(func.count()).select_from(User).where(User.id.in_(supervising))
        )
        users = db.session.scalars(
            select(User)
            .where(User.id.in_(supervising))
            .order_by(User.name, User.id)
            .limit(limit)
            .offset(offset)
        ).all()
        firms = db.session.execute(
            select(Membership.user_id, Tenant)
            .join(Tenant, Tenant.id == Membership.tenant_id)
            .where(Membership.role == SUPERVISOR, Membership.user_id.in_([u.id for u in users]))
            .order_by(Tenant.name, Tenant.id)
        ).all()
    by_user: dict = {}
    for user_id, tenant in firms:
        by_user.setdefault(user_id, []).append(
            {"id": tenant.id, "name": tenant.name, "status": tenant.status}
        )
    return int(total or 0), [
        {
            "user_id": user.id,
            "name": user.name,
            "email": user.email,
            "is_active": user.is_active,
            "tenant_ids": [t["id"] for t in by_user.get(user.id, [])],
            "tenants": by_user.get(user.id, []),
        }
        for user in users
    ]
