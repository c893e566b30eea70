"""Tenancy: client firms, the people and API clients who act on them, and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.db import Base, JSONType, Timestamps, UUIDPrimaryKey, str_enum, utcnow
from tenants.scoping import OptionallyTenantScoped, TenantScoped

TENANT_STATUSES = ("active", "suspended", "offboarded")
# BPO staff roles hold on every tenant (bpo_admin) or on the tenants they are granted.
BPO_ROLES = ("bpo_admin", "supervisor", "agent")
CLIENT_ROLES = ("client_admin", "client_viewer")
# An API client issued to a tenant, acting for the tenant rather than for a person.
INTEGRATION_ROLE = "integration"
ROLES = BPO_ROLES + CLIENT_ROLES + (INTEGRATION_ROLE,)


class Tenant(UUIDPrimaryKey, Timestamps, Base):
    """A client firm whose customer service the BPO runs."""

    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(
        str_enum(*TENANT_STATUSES, name="tenant_status"), default="active"
    )
    time_zone: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(35))
    currency: Mapped[str] = mapped_column(String(3))
    suspended_at: Mapped[datetime | None]
    offboarded_at: Mapped[datetime | None]
    # After offboarding, when `flask tenants purge` deletes the tenant's data.
    purge_after: Mapped[datetime | None]
    # How long after resolving or closing a contact the end customer may reopen it.
    reopen_window_days: Mapped[int] = mapped_column(default=30)
    # Bumped by the database on every change to the firm's queues, SLA policies or calendars
    # (migration 0034): what tenants/settings_cache.py checks its copies against. Never set.
    settings_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Internal notes on contacts are the BPO's and the firm's people's; the firm's integration
    # reads them only when the firm asks for that (its systems then hold the notes too).
    share_notes_with_integration: Mapped[bool] = mapped_column(default=False)
    # Minutes after which a department that has not answered an escalation is reminded (again
    # each such interval); None: no reminders.
    department_reminder_minutes: Mapped[int | None]
    # How long the end customers' personal data in finished contacts is kept, in months (None:
    # as long as the firm is served); `flask contacts purge-personal-data` wipes it when due.
    personal_data_retention_months: Mapped[int | None]


class User(UUIDPrimaryKey, Timestamps, Base):
    """A person who signs in: BPO staff or a client firm's user.

    Emails are global sign-in identities; what a user may see comes from memberships.
    """

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Tokens issued before this instant are dead even after the person is reactivated
    # (app/auth/principal.py); set on every deactivation. Server state, not the firm's data.
    tokens_valid_after: Mapped[datetime | None] = mapped_column(info={"export": False})
    # The language the person chose (en, es); None: their firm's locale, else the browser's.
    language: Mapped[str | None] = mapped_column(String(8))

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")

    @validates("is_active")
    def _deactivation_ends_tokens(self, _key: str, active: bool) -> bool:
        # Every path that deactivates a person goes through this attribute, so reactivating
        # them can never bring back a token issued before.
        if not active and self.is_active is not False:
            self.tokens_valid_after = utcnow()
        return active

    def get_user_id(self) -> str:
        """Authlib: the subject of tokens issued to this user."""
        return str(self.id)


class Membership(UUIDPrimaryKey, OptionallyTenantScoped, Base):
    """A role a user holds on one tenant, or (tenant_id NULL) across the BPO."""

    __tablename__ = "memberships"
    __table_args__ = (
        # One role per user and tenant; NULLS NOT DISTINCT makes that hold for BPO-wide rows too.
        UniqueConstraint("tenant_id", "user_id", postgresql_nulls_not_distinct=True),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(str_enum(*ROLES, name="role"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")


class ApiClient(UUIDPrimaryKey, OptionallyTenantScoped, Base):
    """An OAuth 2.0 client: a tenant's integration, a user's script, or a browser app.

    A client with a user acts as that user; a client with only a tenant acts for the tenant
    with the `integration` role; the BPO's own browser apps have neither.
    """

    __tablename__ = "api_clients"
    __table_args__ = (Index(None, "tenant_id", "created_at"),)

    # Server-generated and random, so its global uniqueness tells nobody anything.
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uris: Mapped[list[str]] = mapped_column(JSONType, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    scope: Mapped[str] = mapped_column(Text, default="")
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(32), default="client_secret_basic"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    user: Mapped[User | None] = relationship()
    # Read with the client when it authenticates (app.auth.principal): an integration's calls
    # name its own firm, which then needs no read of its own.
    tenant: Mapped[Tenant | None] = relationship()


class AuditLog(UUIDPrimaryKey, OptionallyTenantScoped, Base):
    """Who did what to which tenant's data; rows are only ever added."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        Index(None, "tenant_id", "occurred_at"),
        # Reading the whole log (the BPO admin), newest first, and an object's entries.
        Index(None, "occurred_at"),
        Index(None, "target_type", "target_id"),
    )

    # No foreign key: the record of what was done outlives the tenant it was done to.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[uuid.UUID | None]
    actor_client_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSONType, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(128))


class TenantExport(UUIDPrimaryKey, TenantScoped, Base):
    """A download of all of a tenant's data as gzip-compressed JSON lines (offboarding)."""

    __tablename__ = "tenant_exports"
    __table_args__ = (Index(None, "tenant_id", "created_at"),)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[uuid.UUID | None]
    row_count: Mapped[int]
    size_bytes: Mapped[int]  # uncompressed
    sha256: Mapped[str] = mapped_column(String(64))  # of the uncompressed JSON lines
    content: Mapped[bytes] = mapped_column(LargeBinary)
