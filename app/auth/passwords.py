"""Password hashing (argon2id) and the slow-down of repeated sign-in attempts.

The throttle counts per account from one client address and per client address across
accounts, so a stranger elsewhere cannot lock a person out (README, "Signing in").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

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


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt, counted before its password is checked."""

    account_key: str
    address_key: str
    wait: int  # seconds to wait before trying again; 0: go ahead and check the password
    # The waits this attempt started, by key: a wrong password restarts them from its answer.
    locks: tuple[tuple[str, int], ...] = ()


def start_attempt(email: str, address: str) -> Attempt:
    """Count a sign-in attempt for this account from this address, and for this address
    across accounts, unless either must still wait (then nothing is counted).

    Counted up front, in its own committed transaction that holds the rows' write lock, so
    parallel attempts each see the ones before them: no burst of guesses outruns the count.
    An attempt that turns out right is taken back by `record_success`.
    """
    config = current_app.config
    account = f"account:{email.strip().lower()[:254]}|address:{address[:45]}"
    by_address = f"address:{address[:45]}"
    budgets = {account: "LOGIN_FREE_ATTEMPTS", by_address: "LOGIN_FREE_ATTEMPTS_PER_ADDRESS"}
    with db.new_session() as session, session.begin():
        wait, locks = _count(session, budgets, config)
    return Attempt(account_key=account, address_key=by_address, wait=wait, locks=locks)


def _count(session, budgets: dict[str, str], config) -> tuple[int, tuple[tuple[str, int], ...]]:
    now = utcnow()
    rows: dict[str, LoginThrottle] = {}
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    # Each row made sure of, then locked, key by key in a fixed order: on PostgreSQL the rows
    # stay locked until commit (and two attempts cannot deadlock); on SQLite the first insert
    # takes the database's write lock before anything is read.
    for key in sorted(budgets):
        session.execute(
            insert(LoginThrottle)
            .values(key=key, failures=0, last_failure_at=now, locked_until=None)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        rows[key] = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
    wait = max(_seconds_left(row, now) for row in rows.values())
    if wait:
        return wait, ()
    locks = []
    window = timedelta(seconds=int(config["LOGIN_FAILURE_WINDOW"]))
    for key, budget in budgets.items():
        row = rows[key]
        if row.last_failure_at < now - window:
            # Failures further apart than the window are forgotten: typos never add up.
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        # Once the free attempts are used up, the next one waits: 1 s, then 2 s, 4 s, ...
        over = row.failures - int(config[budget])
        if over >= 0:
            delay = min(2**over, int(config["LOGIN_MAX_DELAY"]))
            row.locked_until = now + timedelta(seconds=delay)
            locks.append((key, delay))
    session.flush()
    return 0, tuple(locks)


def _seconds_left(row: LoginThrottle | None, now) -> int:
    if row is None or row.locked_until is None:
        return 0
    return max(0, int((row.locked_until - now).total_seconds() + 0.999))


def record_failure(attempt: Attempt) -> None:
    """A wrong password: the waits its attempt started run from now, when the person hears of
    it, not from before the (slow) password check."""
    if not attempt.locks:
        return
    now = utcnow()
    with db.new_session() as session, session.begin():
        for key, delay in sorted(attempt.locks):
            until = now + timedelta(seconds=delay)
            session.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key, LoginThrottle.locked_until < until)
                .values(locked_until=until)
                .execution_options(synchronize_session=False)
            )


def record_success(attempt: Attempt) -> None:
    """Take back a right attempt: the account's count starts again, while the address keeps
    the count of its other attempts (one good account must not buy guesses at others)."""
    budget = int(current_app.config["LOGIN_FREE_ATTEMPTS_PER_ADDRESS"])
    with db.new_session() as session, session.begin():
        session.execute(delete(LoginThrottle).where(LoginThrottle.key == attempt.account_key))
        session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == attempt.address_key, LoginThrottle.failures > 0)
            .values(
                failures=LoginThrottle.failures - 1,
                locked_until=case(
                    (LoginThrottle.failures - 1 < budget, None),
                    else_=LoginThrottle.locked_until,
                ),
            )
            .execution_options(synchronize_session=False)
        )
