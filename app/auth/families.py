"""Token families: everything one sign-in issued, revoked together when a code or refresh
token is presented twice (RFC 6749 4.1.2, RFC 9700 4.14.2) or a refresh token is revoked.

The single-use checks are conditional UPDATEs whose row count picks the one winner, so they
hold across processes and on both PostgreSQL and SQLite; no Python lock is involved.
"""

from __future__ import annotations

import uuid

from flask import g
from sqlalchemy import update

from app.auth.models import AuthorizationCode, RefreshToken, TokenFamily
from app.db import db, utcnow


def create(*, client_id: str, user_id: uuid.UUID | None) -> TokenFamily:
    """Start the family of a new sign-in."""
    family = TokenFamily(client_id=client_id, user_id=user_id)
    db.session.add(family)
    db.session.flush()
    return family


def is_revoked(family_id: uuid.UUID) -> bool:
    """Whether the family was revoked (an unknown family counts as revoked)."""
    family = db.session.get(TokenFamily, family_id)
    return family is None or family.revoked_at is not None


def claim_code(code: AuthorizationCode) -> bool:
    """Mark a code used; True only for the one request that got there first."""
    result = db.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == code.id, AuthorizationCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def claim_refresh_token(token: RefreshToken) -> bool:
    """Rotate a refresh token out; True only for the one request that got there first."""
    result = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def revoke(family_id: uuid.UUID) -> None:
    """Revoke a family in the request's transaction (an answer that commits)."""
    _revoke(db.session, family_id)
    db.session.flush()


def revoke_on_replay(family_id: uuid.UUID) -> None:
    """Revoke a family in a transaction of its own: the request that found the replay answers
    an error, and an error's transaction is rolled back."""
    # The request's transaction holds nothing worth keeping, and on SQLite it may hold the
    # write lock the separate transaction needs.
    db.session.rollback()
    with db.new_session() as session, session.begin():
        _revoke(session, family_id)


def _revoke(session, family_id: uuid.UUID) -> None:
    now = utcnow()
    session.execute(
        update(TokenFamily)
        .where(TokenFamily.id == family_id, TokenFamily.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    # Access tokens of the family carry its id (`sid`) and die with it; its refresh tokens
    # are checked against it too, and are marked here for whoever reads the table.
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def bind(family_id: uuid.UUID) -> None:
    """Say which family the tokens this request issues belong to."""
    g.oauth_family_id = family_id


def bound() -> uuid.UUID | None:
    """The family bound to this request, if it issues tokens of one."""
    return g.get("oauth_family_id")
