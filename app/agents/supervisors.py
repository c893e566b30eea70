"""The BPO's supervisors: who they are, which client firms each oversees, and granting or
revoking a firm.

A supervisor is a user holding supervisor memberships (one per client firm overseen); their
memberships span tenants, so those reads are the BPO admin's, across every tenant.
May import: app.db, app.errors, app.agents.common, tenants (models, scoping, service).
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from app.agents.common import ids, tenant_brief
from app.db import db
from app.errors import Conflict, Unprocessable
from tenants.models import Membership, Tenant, User
from tenants.scoping import tenant_scope, unscoped
from tenants.service import Actor, record_audit

SUPERVISOR = "supervisor"


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


def get_supervisor(*, user_id: uuid.UUID) -> User | None:
    """Return a BPO user whose only role is supervisor (of any number of client firms)."""
    user = db.session.get(User, user_id)
    if user is None:
        return None
    # A supervisor's memberships span tenants: all of them say what the user is.
    with unscoped():
        roles = set(
            db.session.scalars(select(Membership.role).where(Membership.user_id == user_id))
        )
    # Stripped of every client firm, a supervisor holds no membership at all (and stays one).
    return user if roles <= {SUPERVISOR} else None


def supervised_tenants(*, user: User) -> dict:
    """Return the client firms a supervisor oversees."""
    # As above: the supervisor's memberships across tenants.
    with unscoped():
        tenants = db.session.scalars(
            select(Tenant)
            .join(Membership, Membership.tenant_id == Tenant.id)
            .where(Membership.user_id == user.id, Membership.role == SUPERVISOR)
            .order_by(Tenant.name, Tenant.id)
        ).all()
    return {
        "user_id": user.id,
        "tenant_ids": [t.id for t in tenants],
        "tenants": [tenant_brief(t) for t in tenants],
    }


def set_supervised_tenants(*, user: User, tenant_ids: list[uuid.UUID], actor: Actor) -> dict:
    """Set the full list of client firms a supervisor oversees; audit each grant and removal."""
    wanted = list(dict.fromkeys(tenant_ids))
    tenants = {t.id: t for t in db.session.scalars(select(Tenant).where(Tenant.id.in_(wanted)))}
    unknown = [t for t in wanted if t not in tenants]
    if unknown:
        raise Unprocessable(
            f"No such client firms: {', '.join(ids(unknown))}.",
            errors={"json": {"tenant_ids": [f"No such client firm: {t}" for t in unknown]}},
        )
    # The supervisor's current memberships, in whichever tenants they are.
    with unscoped():
        current = {
            m.tenant_id: m
            for m in db.session.scalars(
                select(Membership).where(
                    Membership.user_id == user.id, Membership.role == SUPERVISOR
                )
            )
        }
    added = [tenants[t] for t in wanted if t not in current]
    offboarded = [t for t in added if t.status == "offboarded"]
    if offboarded:
        raise Conflict(
            "Offboarded client firms cannot be given a supervisor: "
            + ", ".join(f"{t.name} ({t.id})" for t in offboarded)
            + "."
        )
    for tenant in added:
        with tenant_scope(tenant.id):
            db.session.add(Membership(user_id=user.id, role=SUPERVISOR, tenant_id=tenant.id))
            record_audit(
                actor=actor,
                action="supervisor.granted",
                target_type="user",
                target_id=user.id,
                tenant_id=tenant.id,
            )
    for tenant_id, membership in current.items():
        if tenant_id in tenants:
            continue
        with tenant_scope(tenant_id):
            db.session.delete(membership)
            record_audit(
                actor=actor,
                action="supervisor.revoked",
                target_type="user",
                target_id=user.id,
                tenant_id=tenant_id,
            )
    db.session.flush()
    return supervised_tenants(user=user)
