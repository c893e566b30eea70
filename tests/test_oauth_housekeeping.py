"""The daily purge forgets sign-in rows that can no longer matter, and nothing that still can."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from app.auth.models import (
    AuthorizationCode,
    LoginThrottle,
    RefreshToken,
    RevokedAccessToken,
    TokenFamily,
)
from app.db import db, utcnow


def _sign_in(user_id, *, started, refresh_expires, code_expires=None) -> uuid.UUID:
    """A sign-in as the authorization server stores it: its family, code and refresh token."""
    family = TokenFamily(client_id="browser", user_id=user_id, created_at=started)
    db.session.add(family)
    db.session.flush()
    db.session.add(
        AuthorizationCode(
            code_hash=uuid.uuid4().hex,
            client_id="browser",
            user_id=user_id,
            redirect_uri="https://app.example.test/cb",
            code_challenge="x" * 43,
            code_challenge_method="S256",
            auth_time=started,
            expires_at=code_expires or started + timedelta(minutes=5),
            used_at=started,
            family_id=family.id,
        )
    )
    db.session.add(
        RefreshToken(
            token_hash=uuid.uuid4().hex,
            client_id="browser",
            user_id=user_id,
            issued_at=started,
            expires_at=refresh_expires,
            family_id=family.id,
        )
    )
    return family.id


def _left(model) -> int:
    return len(db.session.scalars(select(model)).all())


def test_the_daily_purge_forgets_finished_sign_ins_and_keeps_live_ones(db_app, db_factory):
    user = db_factory.user("bpo_admin")
    now = utcnow()
    with db_app.app_context():
        month_ago = now - timedelta(days=31)
        finished = _sign_in(user.id, started=month_ago, refresh_expires=now - timedelta(hours=1))
        # Expired a minute ago: an access token it bought may still be alive, so it stays.
        recent = _sign_in(user.id, started=month_ago, refresh_expires=now - timedelta(minutes=1))
        live = _sign_in(user.id, started=now, refresh_expires=now + timedelta(days=30))
        db.session.add_all(
            [
                RevokedAccessToken(jti="gone", client_id="c", expires_at=now - timedelta(hours=1)),
                RevokedAccessToken(jti="kept", client_id="c", expires_at=now + timedelta(hours=1)),
                LoginThrottle(key="address:old", failures=9, last_failure_at=month_ago),
                LoginThrottle(
                    key="address:locked",
                    failures=9,
                    last_failure_at=month_ago,
                    locked_until=now + timedelta(minutes=5),
                ),
                LoginThrottle(key="address:fresh", failures=2, last_failure_at=now),
            ]
        )
        db.session.commit()

    result = db_app.test_cli_runner().invoke(args=["tenants", "purge"])

    assert result.exit_code == 0, result.output
    assert (
        "pruned expired sign-in rows: 2 authorization codes, 1 refresh tokens, "
        "1 revoked access-token ids, 1 token families, 1 sign-in throttle counts, 0 web sessions"
    ) in result.output
    with db_app.app_context():
        families = set(db.session.scalars(select(TokenFamily.id)))
        assert families == {recent, live} and finished not in families
        # The recent sign-in's code expired a month ago; its refresh token keeps the family.
        assert _left(AuthorizationCode) == 1 and _left(RefreshToken) == 2
        assert list(db.session.scalars(select(RevokedAccessToken.jti))) == ["kept"]
        assert set(db.session.scalars(select(LoginThrottle.key))) == {
            "address:locked",
            "address:fresh",
        }
