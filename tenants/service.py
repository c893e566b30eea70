"""Tenancy rules: client firms, their users and API clients, their lifecycle, auditing.

Services take keyword arguments, return ORM objects and never commit: the request (or the CLI
command) owns the transaction. The export at offboarding reads every tenant-owned table of the
complete model registry (`app.models`), generically: no domain is imported by name.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, LargeBinary, Select, delete, exists, func, select
from sqlalchemy.orm import Mapper, defer

from app import changes
from app import models as app_models
from app.auth.models import digest
from app.db import db, utcnow
from app.errors import Conflict, Unprocessable
from tenants.models import (
    CLIENT_ROLES,
    ApiClient,
    AuditLog,
    Membership,
    Tenant,
    TenantExport,
    User,
)
from tenants.scoping import is_tenant_owned, tenant_scope, unscoped


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


def auditor(
    target_type: str,
    *,
    summary: Callable[[Any], dict] | None = None,
    tenant_of: Callable[[Any], uuid.UUID] | None = None,
) -> Callable[..., None]:
    """The audit function of one kind of record, as app/changes.py takes it:
    `audit(record, action, actor, details=None)` appends an entry about the record, in its
    tenant (`tenant_of`, default its `tenant_id`), its `summary` (say, its name) first."""

    def audit(record: Any, action: str, actor: Actor, details: dict | None = None) -> None:
        record_audit(
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=record.id,
            tenant_id=tenant_of(record) if tenant_of else record.tenant_id,
            details={**summary(record), **(details or {})} if summary else details,
        )

    return audit


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
        _audit_tenant(tenant, "tenant.created", actor, {"slug": tenant.slug})
        db.session.flush()
    return tenant


def update(*, tenant: Tenant, tenant_in: dict, actor: Actor) -> Tenant:
    """Change a client firm's profile."""
    changes.apply(tenant, tenant_in, kind="tenant", actor=actor, audit=_audit_tenant)
    db.session.flush()
    return tenant


# A firm's own entries are filed under the firm.
_audit_tenant = auditor("tenant", tenant_of=lambda tenant: tenant.id)


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


def set_language(*, user: User, language: str | None) -> None:
    """Keep the language a person chose for pages and mail (None: their firm's locale)."""
    user.language = language


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


def refuse_changing_own_standing(
    *, membership: Membership, member_in: dict, user_id: uuid.UUID | None
) -> None:
    """Refuse (422) a change of the caller's own role or active flag: another admin of the firm
    changes those, so that a firm cannot lock itself out by mistake."""
    if membership.user_id != user_id:
        return
    refused = {}
    if member_in.get("is_active") is False:
        refused["is_active"] = ["You may not deactivate yourself; another admin of the firm can."]
    if "role" in member_in and member_in["role"] != membership.role:
        refused["role"] = ["You may not change your own role; another admin of the firm can."]
    if refused:
        raise Unprocessable(
            f"Invalid input: {', '.join(sorted(refused))}.", errors={"json": refused}
        )


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


# --- lifecycle -------------------------------------------------------------------------------

# What may happen next to a client firm in each status. Offboarding is final: the firm's data
# is read-only until `flask tenants purge` deletes it.
LIFECYCLE_MOVES: dict[str, tuple[str, ...]] = {
    "active": ("suspend", "offboard"),
    "suspended": ("activate", "offboard"),
    "offboarded": (),
}


def allowed_moves(*, tenant: Tenant) -> tuple[str, ...]:
    """Return the lifecycle actions a tenant's status allows."""
    return LIFECYCLE_MOVES[tenant.status]


def _require_move(tenant: Tenant, move: str) -> None:
    # Lock the firm and read its status afresh: of two concurrent moves, the second waits
    # and then judges the status the first left (two offboardings would export twice).
    db.session.refresh(tenant, with_for_update=True)
    allowed = allowed_moves(tenant=tenant)
    if move not in allowed:
        raise Conflict(
            f"A client firm that is {tenant.status} cannot {move}; allowed now: "
            f"{', '.join(allowed) or 'none (read-only until purged)'}.",
            tenant_status=tenant.status,
            allowed_actions=list(allowed),
        )


# Domains holding live work for a tenant react when it stops being active (agents stop taking
# its work at once). tenants imports no domain, so they register here.
_stop_listeners: list[Callable[..., None]] = []


def when_tenant_stops(listener: Callable[..., None]) -> Callable[..., None]:
    """Register `listener(*, tenant, actor)`, called in the same transaction whenever a tenant
    is suspended or offboarded."""
    _stop_listeners.append(listener)
    return listener


def _notify_stopped(tenant: Tenant, actor: Actor) -> None:
    for listener in _stop_listeners:
        listener(tenant=tenant, actor=actor)


def suspend(*, tenant: Tenant, reason: str | None, actor: Actor) -> Tenant:
    """Suspend a client firm: reads go on, no new contacts or claims."""
    _require_move(tenant, "suspend")
    tenant.status = "suspended"
    tenant.suspended_at = utcnow()
    _record_move(tenant, "tenant.suspended", reason, actor)
    _notify_stopped(tenant, actor)
    return tenant


def activate(*, tenant: Tenant, reason: str | None, actor: Actor) -> Tenant:
    """Bring a suspended client firm back into service."""
    _require_move(tenant, "activate")
    tenant.status = "active"
    tenant.suspended_at = None
    _record_move(tenant, "tenant.activated", reason, actor)
    return tenant


def offboard(
    *, tenant: Tenant, reason: str | None, retention: timedelta, actor: Actor
) -> TenantExport:
    """Export all of a client firm's data, make it read-only, revoke its API clients and
    schedule its deletion after `retention`; return the export."""
    _require_move(tenant, "offboard")
    export = create_export(tenant=tenant, actor=actor)
    now = utcnow()
    tenant.status = "offboarded"
    tenant.offboarded_at = now
    tenant.purge_after = now + retention
    with tenant_scope(tenant.id):
        clients = db.session.scalars(
            select(ApiClient).where(
                ApiClient.tenant_id == tenant.id, ApiClient.revoked_at.is_(None)
            )
        ).all()
        for client in clients:
            revoke_api_client(client=client, actor=actor)
        _record_move(
            tenant,
            "tenant.offboarded",
            reason,
            actor,
            export_id=str(export.id),
            purge_after=tenant.purge_after.isoformat(),
            api_clients_revoked=len(clients),
        )
    _notify_stopped(tenant, actor)
    return export


def _record_move(tenant: Tenant, action: str, reason: str | None, actor: Actor, **details):
    with tenant_scope(tenant.id):
        _audit_tenant(tenant, action, actor, {"status": tenant.status, "reason": reason, **details})
        db.session.flush()


# --- exports ---------------------------------------------------------------------------------

# Columns never exported, whatever table they are in: credentials and their digests.
_SECRET_COLUMN = re.compile(r"password|secret|_hash$")


def _exported(column: Column) -> bool:
    if column.info.get("export") is False or _SECRET_COLUMN.search(column.name):
        return False
    return not isinstance(column.type, LargeBinary)  # bytes are not JSON


def _jsonable(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    raise TypeError(f"cannot export a {type(value).__name__}")


def _line(table: str, row: dict) -> bytes:
    return json.dumps(
        {"table": table, "row": row},
        default=_jsonable,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def tenant_owned_mappers() -> list[Mapper]:
    """Every mapped model whose rows belong to tenants, by table name."""
    mappers = [m for m in app_models.Base.registry.mappers if is_tenant_owned(m.class_)]
    return sorted(mappers, key=lambda m: m.local_table.name)


def _rows(mapper: Mapper, *where) -> Iterator[dict]:
    attrs = [a for a in mapper.column_attrs if _exported(a.columns[0])]
    stmt = (
        select(*(getattr(mapper.class_, a.key) for a in attrs))
        .where(*where)
        .order_by(*mapper.primary_key)
    )
    for row in db.session.execute(stmt.execution_options(yield_per=500)):
        yield {a.columns[0].name: value for a, value in zip(attrs, row, strict=True)}


def _export_lines(tenant: Tenant) -> Iterator[bytes]:
    """The tenant row, its users' public fields, then every tenant-owned table's rows."""
    yield from (_line("tenants", r) for r in _rows(Tenant.__mapper__, Tenant.id == tenant.id))
    with tenant_scope(tenant.id):
        # The firm's own people, as `list_members` has them; BPO staff granted to the firm
        # appear by id only (memberships, audit log).
        members = select(Membership.user_id).where(
            Membership.tenant_id == tenant.id, Membership.role.in_(CLIENT_ROLES)
        )
        member_ids = set(db.session.scalars(members))
        yield from (_line("users", r) for r in _rows(User.__mapper__, User.id.in_(member_ids)))
        for mapper in tenant_owned_mappers():
            table = mapper.local_table.name
            for row in _rows(mapper, mapper.class_.tenant_id == tenant.id):
                yield _line(table, row)


def create_export(*, tenant: Tenant, actor: Actor) -> TenantExport:
    """Export all of a tenant's data as JSON lines (gzip), store it and audit it."""
    lines = list(_export_lines(tenant))
    data = b"".join(line + b"\n" for line in lines)
    with tenant_scope(tenant.id):
        export = TenantExport(
            tenant_id=tenant.id,
            created_by_user_id=actor.user_id,
            row_count=len(lines),
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content=gzip.compress(data, mtime=0),
        )
        db.session.add(export)
        db.session.flush()
        record_audit(
            actor=actor,
            action="tenant.exported",
            target_type="tenant_export",
            target_id=export.id,
            tenant_id=tenant.id,
            details={"row_count": export.row_count, "sha256": export.sha256},
        )
        db.session.flush()
    return export


def list_exports() -> Select:
    """Select the exports of the tenant in scope, newest first, without their content."""
    return (
        select(TenantExport)
        .options(defer(TenantExport.content))
        .order_by(TenantExport.created_at.desc(), TenantExport.id)
    )


def get_export(*, export_id: uuid.UUID) -> TenantExport | None:
    """Return one export of the tenant in scope."""
    return db.session.scalar(select(TenantExport).where(TenantExport.id == export_id))


@dataclass(frozen=True)
class ExportFile:
    body: bytes
    filename: str
    repr_digest: str  # RFC 9530 Repr-Digest of the body


def export_file(*, export: TenantExport, tenant: Tenant, actor: Actor) -> ExportFile:
    """An export as the file a person downloads (name, content digest), the download audited."""
    digest = base64.b64encode(bytes.fromhex(export.sha256)).decode()
    return ExportFile(
        body=read_export(export=export, actor=actor),
        filename=f"{tenant.slug}-export-{export.created_at:%Y%m%dT%H%M%SZ}.ndjson",
        repr_digest=f"sha-256=:{digest}:",
    )


def read_export(*, export: TenantExport, actor: Actor) -> bytes:
    """Return an export's JSON lines, recording who downloaded it."""
    record_audit(
        actor=actor,
        action="tenant.export_downloaded",
        target_type="tenant_export",
        target_id=export.id,
        tenant_id=export.tenant_id,
    )
    db.session.flush()
    return gzip.decompress(export.content)


# --- purge -----------------------------------------------------------------------------------


def list_due_for_purge(*, now: datetime) -> list[Tenant]:
    """Return the offboarded tenants whose retention has run out, oldest first."""
    return list(
        db.session.scalars(
            select(Tenant)
            .where(Tenant.status == "offboarded", Tenant.purge_after <= now)
            .order_by(Tenant.purge_after, Tenant.id)
        )
    )


def count_rows(*, tenant: Tenant) -> dict[str, int]:
    """Count the tenant's rows that purging deletes, per table (those with any): every
    tenant-owned table whose tenant_id cascades; the audit log, with no foreign key, stays."""
    counts = {}
    with tenant_scope(tenant.id):
        for mapper in tenant_owned_mappers():
            if not mapper.local_table.c.tenant_id.foreign_keys:
                continue
            n = db.session.scalar(
                select(func.count())
                .select_from(mapper.class_)
                .where(mapper.class_.tenant_id == tenant.id)
            )
            if n:
                counts[mapper.local_table.name] = n
    return counts


def purge(*, tenant: Tenant, actor: Actor) -> dict | None:
    """Delete an offboarded tenant and everything it owns; keep the audit log. Return what
    went (rows per table, the firm's users left with no membership anywhere), or None when a
    concurrent purge got there first."""
    if tenant.status != "offboarded":
        raise Conflict(f"Only offboarded client firms are purged; this one is {tenant.status}.")
    rows = count_rows(tenant=tenant)
    with tenant_scope(tenant.id):
        client_users = set(
            db.session.scalars(
                select(Membership.user_id).where(
                    Membership.tenant_id == tenant.id, Membership.role.in_(CLIENT_ROLES)
                )
            )
        )
    tenant_id, slug = tenant.id, tenant.slug
    # Unscoped: whether a user has a membership left must be read across every tenant (in
    # the purged tenant's scope, row-level security would hide the others and every one of
    # its people would look orphaned). The tenant row goes, its rows follow by ON DELETE
    # CASCADE; the audit log has no foreign key and stays. BPO staff keep their accounts.
    with unscoped():
        db.session.expunge(tenant)
        deleted = db.session.execute(delete(Tenant).where(Tenant.id == tenant_id))
        if deleted.rowcount == 0:
            return None
        orphaned = db.session.execute(
            delete(User)
            .where(
                User.id.in_(client_users),
                ~exists().where(Membership.user_id == User.id),
            )
            .returning(User.id)
        ).all()
        record_audit(
            actor=actor,
            action="tenant.purged",
            target_type="tenant",
            target_id=tenant_id,
            tenant_id=tenant_id,
            details={"slug": slug, "rows": rows, "users_deleted": len(orphaned)},
        )
        db.session.flush()
    return {"rows": rows, "users_deleted": len(orphaned)}
