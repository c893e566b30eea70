"""Authorization-server state: codes, token families, refresh tokens, revoked access tokens,
login throttling.

None of it is tenant-owned: it is keyed by client and user, and only the server reads it.
Secrets are stored as SHA-256 digests; they are long random strings, so a slow hash adds nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UUIDPrimaryKey, utcnow


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret, as stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenFamily(UUIDPrimaryKey, Base):
    """Everything one sign-in issued: its code, every rotated refresh token and their access
    tokens (which carry its id as `sid`). Revoking the family kills all of them at once."""

    __tablename__ = "oauth_token_families"

    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class AuthorizationCode(UUIDPrimaryKey, Base):
    """A one-time code from the browser login, bound to a PKCE challenge.

    A redeemed code is kept (with `used_at`) until it expires, so that presenting it again is
    recognised as a replay and revokes the family it started (RFC 6749 4.1.2).
    """

    __tablename__ = "oauth_authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    auth_time: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    family_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("oauth_token_families.id", ondelete="CASCADE"), index=True
    )
    used_at: Mapped[datetime | None]

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class RefreshToken(UUIDPrimaryKey, Base):
    """A long-lived credential that buys new access tokens; rotated on every use.

    A rotated token keeps its row (revoked) so that presenting it again is recognised as reuse
    and revokes its whole family (RFC 9700 4.14.2).
    """

    __tablename__ = "oauth_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(Text, default="")
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    family_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("oauth_token_families.id", ondelete="CASCADE"), index=True
    )

    # Authlib's TokenMixin
    def check_client(self, client) -> bool:
        return self.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class RevokedAccessToken(Base):
    """The `jti` of a revoked JWT access token, kept until the token would have expired."""

    __tablename__ = "oauth_revoked_access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LoginThrottle(Base):
    """Sign-in attempts not (yet) known to have succeeded for one key, and when the next
    attempt is allowed. Keys: `account:<email>|address:<ip>` and `address:<ip>`
    (app/auth/passwords.py)."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
