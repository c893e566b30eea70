"""The single-use links of accounts: an invitation to set a first password, or a password reset.

Only the SHA-256 digest of a link's secret is stored (app/auth/models.py `digest`). An invitation
to a client firm belongs to that firm (`tenant_id`, row-level security like every tenant table);
an invitation to a BPO role, and every password reset, belongs to no firm (`tenant_id` NULL),
like a BPO-wide membership.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UUIDPrimaryKey, str_enum, utcnow
from tenants.models import ROLES, User
from tenants.scoping import OptionallyTenantScoped

INVITATION = "invitation"
PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose, not a password)
PURPOSES = (INVITATION, PASSWORD_RESET)
STATUSES = ("pending", "accepted", "expired", "revoked", "superseded")


class AccountToken(UUIDPrimaryKey, OptionallyTenantScoped, Base):
    """A link that lets one person set their password once, until it expires."""

    __tablename__ = "account_tokens"
    __table_args__ = (Index(None, "user_id", "created_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(str_enum(*PURPOSES, name="account_token_purpose"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Invitations: the role the person is invited to, and the language of the mail.
    role: Mapped[str | None] = mapped_column(str_enum(*ROLES, name="account_token_role"))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[uuid.UUID | None]
    created_by_client_id: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # A newer link for the same person ends this one.
    superseded_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def status(self) -> str:
        """pending, accepted (used), expired, revoked or superseded."""
        if self.used_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.superseded_at is not None:
            return "superseded"
        if self.expires_at <= utcnow():
            return "expired"
        return "pending"
