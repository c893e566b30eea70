"""Tenancy rules: onboarding and editing client firms, their users and API clients, auditing.

Services take keyword arguments, return ORM objects and never commit: the request (or the CLI
command) owns the transaction.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import Select, func, select

from app.auth.models import digest
from app.db import db, utcnow
from app.errors import Conflict
from tenants.models import CLIENT_ROLES, ApiClient, AuditLog, Membership, Tenant, User
from tenants.scoping import tenant_scope


@dataclass(frozen=True)
class Actor:
    """Who is acting, for the audit log."""

    user_id: uuid.UUID | None = None
    client_id: str | None = None
    request_id: str | None = None


SYSTEM = Actor(client_id="system")


def record_audit(
    *,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: object = None,
    tenant_id: uuid.UUID | None = None,
    details: dict | None = None,
) -> AuditLog:
    """Append one audit entry (in the caller's transaction)."""
    entry = AuditLog(
        tenant_id=tenant_id,
        actor_user_id=actor.user_id,
        actor_client_id=actor.client_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        details=details or {},
        request_id=actor.request_id,
    )
    db.session.add(entry)
    return entry


# --- tenants ---------------------------------------------------------------------------------


def get(*, tenant_id: uuid.UUID) -> Tenant | None:
    """Return a tenant by id."""
    return db.session.get(Tenant, tenant_id)


def get_by_slug(*, slug: str) -> Tenant | None:
    """Return a tenant by slug."""
    return db.session.scalar(select(Tenant).where(Tenant.slug == slug))


def list_(*, visible: frozenset[uuid.UUID] | None, status: str | None = None) -> Select:
    """Select the tenants a caller may see (None: all), oldest first."""
    stmt = select(Tenant).order_by(Tenant.created_at, Tenant.id)
    if visible is not None:
        stmt = stmt.where(Tenant.id.in_(visible))
    if status is not None:
        stmt = stmt.where(Tenant.status == status)
    return stmt


def create(*, tenant_in: dict, actor: Actor) -> Tenant:
    """Onboard a client firm."""
    if get_by_slug(slug=tenant_in["slug"]) is not None:
        raise Conflict(f"A tenant with slug {tenant_in['slug']!r} already exists.")
    tenant = Tenant(**tenant_in)
    db.session.add(tenant)
    db.session.flush()
    # Everything onboarding creates belongs to the new tenant: narrow to it.
    with tenant_scope(tenant.id):
        record_audit(
            actor=actor,
            action="tenant.created",
            target_type="tenant",
            target_id=tenant.id,
            tenant_id=tenant.id,
            details={"slug": tenant.slug},
        )
        db.session.flush()
    return tenant


def update(*, tenant: Tenant, tenant_in: dict, actor: Actor) -> Tenant:
    """Change a client firm's profile."""
    changed = {k: v for k, v in tenant_in.items() if getattr(tenant, k) != v}
    for key, value in changed.items():
        setattr(tenant, key, value)
    if changed:
        record_audit(
            actor=actor,
            action="tenant.updated",
            target_type="tenant",
            target_id=tenant.id,
            tenant_id=tenant.id,
            details={"changed": sorted(changed)},
        )
    db.session.flush()
    return tenant


# --- users -----------------------------------------------------------------------------------


def find_user(*, email: str) -> User | None:
    """Return the user with this email (case-insensitive)."""
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def list_members() -> Select:
    """Select the client firm's own users (tenant in scope), by email.

    BPO staff granted to the tenant (supervisors) are not the firm's users to manage.
    """
    return (
        select(Membership)
        .join(Membership.user)
        .where(Membership.role.in_(CLIENT_ROLES))
        .order_by(User.email)
    )


def get_member(*, user_id: uuid.UUID) -> Membership | None:
    """Return the membership of one of the client firm's users (tenant in scope)."""
    return db.session.scalar(
        select(Membership).where(Membership.user_id == user_id, Membership.role.in_(CLIENT_ROLES))
    )


def create_user(
    *,
    email: str,
    name: str,
    password_hash: str | None,
    role: str,
    tenant_id: uuid.UUID | None,
    actor: Actor,
) -> Membership:
    """Create a user holding `role` on a tenant (or, with tenant_id None, across the BPO)."""
    if find_user(email=email) is not None:
        raise Conflict("A user with this email already exists.")
    user = User(email=email.strip().lower(), name=name, password_hash=password_hash)
    db.session.add(user)
    db.session.flush()
    membership = Membership(user=user, role=role, tenant_id=tenant_id)
    db.session.add(membership)
    db.session.flush()
    record_audit(
        actor=actor,
        action="user.created",
        target_type="user",
        target_id=user.id,
        tenant_id=tenant_id,
        details={"role": role},
    )
    return membership


def update_member(*, membership: Membership, member_in: dict, actor: Actor) -> Membership:
    """Change a tenant user's name, role or active flag."""
    user = membership.user
    if "name" in member_in:
        user.name = member_in["name"]
    if "is_active" in member_in and member_in["is_active"] != user.is_active:
        user.is_active = member_in["is_active"]
        record_audit(
            actor=actor,
            action="user.activated" if user.is_active else "user.deactivated",
            target_type="user",
            target_id=user.id,
            tenant_id=membership.tenant_id,
        )
    if "role" in member_in and member_in["role"] != membership.role:
        record_audit(
            actor=actor,
            action="user.role_changed",
            target_type="user",
            target_id=user.id,
            tenant_id=membership.tenant_id,
            details={"from": membership.role, "to": member_in["role"]},
        )
        membership.role = member_in["role"]
    db.session.flush()
    return membership


# --- API clients -----------------------------------------------------------------------------


def list_api_clients() -> Select:
    """Select the API clients of the tenant in scope, newest first."""
    return select(ApiClient).order_by(ApiClient.created_at.desc(), ApiClient.id)


def get_api_client(*, api_client_id: uuid.UUID) -> ApiClient | None:
    """Return one API client of the tenant in scope."""
    return db.session.scalar(select(ApiClient).where(ApiClient.id == api_client_id))


def create_api_client(
    *,
    name: str,
    scope: str,
    actor: Actor,
    user: User | None = None,
    tenant_id: uuid.UUID | None = None,
    grant_types: list[str] | None = None,
    redirect_uris: list[str] | None = None,
    confidential: bool = True,
) -> tuple[ApiClient, str | None]:
    """Create an OAuth client; return it with its secret (shown once; None if public)."""
    secret = secrets.token_urlsafe(32) if confidential else None
    client = ApiClient(
        client_id=secrets.token_urlsafe(18),
        client_secret_hash=digest(secret) if secret else None,
        name=name,
        user_id=user.id if user is not None else None,
        tenant_id=tenant_id,
        scope=scope,
        grant_types=grant_types or ["client_credentials"],
        redirect_uris=redirect_uris or [],
        token_endpoint_auth_method="client_secret_basic" if confidential else "none",
    )
    db.session.add(client)
    db.session.flush()
    record_audit(
        actor=actor,
        action="api_client.created",
        target_type="api_client",
        target_id=client.id,
        tenant_id=tenant_id,
        details={"scope": scope, "name": name},
    )
    return client, secret


def revoke_api_client(*, client: ApiClient, actor: Actor) -> ApiClient:
    """Revoke a client: its tokens stop working at once."""
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        record_audit(
            actor=actor,
            action="api_client.revoked",
            target_type="api_client",
            target_id=client.id,
            tenant_id=client.tenant_id,
        )
        db.session.flush()
    return client
