"""Deletes the sign-in rows that can no longer matter: expired codes, refresh tokens, revoked
access-token ids, sign-ins (token families) with nothing left, and forgotten throttle counts.

Run by `flask tenants purge` (daily in the chart). Codes and refresh tokens are kept until
every access token they could have bought has expired too (their expiry plus the access-token
lifetime), and a family goes only after all of its codes and refresh tokens: until then a
replay must still be recognised, and an access token's `sid` must still find its family
(a missing family counts as revoked).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, or_, select

from app.auth.models import (
    AuthorizationCode,
    LoginThrottle,
    RefreshToken,
    RevokedAccessToken,
    TokenFamily,
)
from app.db import db


def prune(*, now: datetime, access_token_ttl: int, failure_window: int) -> dict[str, int]:
    """Delete what has expired for good; return how many rows of each kind went."""
    settled = now - timedelta(seconds=access_token_ttl)
    statements = {
        "authorization codes": delete(AuthorizationCode).where(
            AuthorizationCode.expires_at < settled
        ),
        "refresh tokens": delete(RefreshToken).where(RefreshToken.expires_at < settled),
        "revoked access-token ids": delete(RevokedAccessToken).where(
            RevokedAccessToken.expires_at < now
        ),
        # After the codes and refresh tokens above: a family is empty once they are gone.
        "token families": delete(TokenFamily).where(
            TokenFamily.created_at < settled,
            ~exists(select(1).where(AuthorizationCode.family_id == TokenFamily.id)),
            ~exists(select(1).where(RefreshToken.family_id == TokenFamily.id)),
        ),
        # Failures older than the window are forgotten anyway (app/auth/passwords.py).
        "sign-in throttle counts": delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < now - timedelta(seconds=failure_window),
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
        ),
    }
    return {
        what: db.session.execute(statement).rowcount or 0 for what, statement in statements.items()
    }
