"""Password hashing (argon2id) and the slow-down of repeated failed sign-ins."""

from __future__ import annotations

from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.auth.models import LoginThrottle
from app.db import db, utcnow
from tenants.models import User

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("switchboard-timing-equaliser")

MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher.hash(password)


def verify_password(user: User | None, password: str) -> bool:
    """Check a password, spending the same effort whether or not the user exists."""
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and user is not None and user.password_hash is not None


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def seconds_until_allowed(email: str) -> int:
    """How long this email must wait before another sign-in attempt (0: go ahead)."""
    with db.new_session() as session:
        throttle = session.get(LoginThrottle, email.strip().lower())
        if throttle is None or throttle.locked_until is None:
            return 0
        remaining = (throttle.locked_until - utcnow()).total_seconds()
        return max(0, int(remaining + 0.999))


def record_failure(email: str) -> None:
    """Count a failed sign-in; past the free attempts each one doubles the wait.

    Failures older than the window are forgotten, so an occasional typo never adds up to a lock.
    """
    config = current_app.config
    key = email.strip().lower()[:254]
    for attempt in range(2):
        try:
            # Committed on its own session: the request's transaction is rolled back on failure.
            with db.new_session() as session, session.begin():
                _count_failure(session, key, config)
            return
        except IntegrityError:
            # Two first failures for the same email raced to insert the row; count again.
            if attempt:
                raise


def _count_failure(session, key: str, config) -> None:
    now = utcnow()
    throttle = session.get(LoginThrottle, key, with_for_update=True)
    if throttle is None:
        throttle = LoginThrottle(email=key, failures=0, last_failure_at=now)
        session.add(throttle)
    elif throttle.last_failure_at < now - timedelta(seconds=int(config["LOGIN_FAILURE_WINDOW"])):
        throttle.failures = 0
    throttle.failures += 1
    throttle.last_failure_at = now
    # Once the free attempts are used up, the next one waits: 1 s, then 2 s, 4 s, ...
    over = throttle.failures - int(config["LOGIN_FREE_ATTEMPTS"])
    if over >= 0:
        delay = min(2**over, int(config["LOGIN_MAX_DELAY"]))
        throttle.locked_until = now + timedelta(seconds=delay)


def record_success(email: str) -> None:
    """Forget earlier failures once the right password is given."""
    with db.new_session() as session, session.begin():
        throttle = session.get(LoginThrottle, email.strip().lower())
        if throttle is not None:
            session.delete(throttle)
