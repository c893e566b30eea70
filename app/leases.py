"""Leases on due rows: how a background job takes its next unit of work, and records how it went.

A job's table (webhook deliveries, the Stripe outbox, ...) has `tenant_id`, `status` ("pending"
while there is work to do), `attempts`, `next_attempt_at`, `locked_until` and `last_error`.
`lease_next` picks the next due row of any tenant with `FOR UPDATE SKIP LOCKED` (so workers
neither wait on each other nor take the same row), counts the attempt and stamps the lease;
the caller commits before doing the work. The attempt number and `locked_until` are the lease's
token: when the outcome comes back, `reclaim` (or `relock` and `holds`) locks the row again
and answers whether the lease is still ours; a worker slower than its lease finds that another
took the row over and records nothing (`LEASE_LOST`). `retry_later` schedules the next try with
the job's backoff or gives up after the last one. Never commits. May import: app.db, app.retry,
tenants.scoping.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select

from app.db import db
from app.retry import Retries
from tenants.scoping import tenant_scope, unscoped

PENDING = "pending"
# Given up on: the last attempt failed, or the work can no longer be done.
DEAD = "dead"
# What recording an outcome returns when the row was deleted or another worker leased it since.
LEASE_LOST = "gone"


@dataclass(frozen=True)
class Lease:
    """A row leased to this worker, and the token that says whether it still is."""

    model: type
    row_id: uuid.UUID
    tenant_id: uuid.UUID
    attempt: int
    locked_until: datetime

    @classmethod
    def of(cls, row: Any) -> Lease:
        """The lease `lease_next` just stamped on `row`."""
        return cls(type(row), row.id, row.tenant_id, row.attempts, row.locked_until)


def lease_next(
    model: type,
    *,
    now: datetime,
    seconds: float,
    retries: Retries,
    where: Iterable[ColumnElement[bool]] = (),
    refuse: Callable[[Any], str | None] | None = None,
) -> tuple[Any | None, int]:
    """Lease the next due pending row of `model` (matching `where`), of any tenant, to this
    worker until `now + seconds`; return it (None when nothing is due) and how many rows were
    given up on the way: those `refuse` gives a reason for (it is called in the row's tenant
    scope) and those whose last attempt never recorded its outcome.

    Call in a transaction of its own and commit before doing the work: the lease is what keeps
    other workers off the row meanwhile. A lease that ran out (its worker died) makes the row
    due again.
    """
    given_up = 0
    while True:
        # The worker serves every tenant: due rows are found across all of them, then each is
        # changed in its own tenant's scope.
        with unscoped():
            row = db.session.scalar(
                select(model)
                .where(
                    model.status == PENDING,
                    model.next_attempt_at <= now,
                    or_(model.locked_until.is_(None), model.locked_until <= now),
                    *where,
                )
                .order_by(model.next_attempt_at, model.id)
                .limit(1)
                .with_for_update(skip_locked=True, of=model)
                # The session outlives a unit of work: read what the lock protects, not a copy.
                .execution_options(populate_existing=True)
            )
        if row is None:
            return None, given_up
        with tenant_scope(row.tenant_id):
            reason = refuse(row) if refuse else None
            if reason is None and retries.spent(row.attempts):
                # The worker of the last attempt stopped before recording its outcome.
                reason = f"Gave up after {row.attempts} attempts."
            if reason is not None:
                give_up(row, reason)
                given_up += 1
                continue
            row.attempts += 1
            row.locked_until = now + timedelta(seconds=seconds)
        return row, given_up


def relock(lease: Lease) -> Any | None:
    """Lock the leased row again, as it is now, in the caller's scope (the lease's tenant);
    None when it was deleted meanwhile."""
    model = lease.model
    return db.session.scalar(
        select(model)
        .where(model.id == lease.row_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def holds(row: Any, lease: Lease) -> bool:
    """Whether `row` (relocked) is still pending under this lease: nobody re-leased it since."""
    return (
        row.status == PENDING
        and row.attempts == lease.attempt
        and row.locked_until == lease.locked_until
    )


def reclaim(lease: Lease) -> Any | None:
    """The leased row, locked again, if the lease is still ours; else None (`LEASE_LOST`)."""
    row = relock(lease)
    return row if row is not None and holds(row, lease) else None


def finish(row: Any, *, status: str) -> None:
    """Close the row's work with `status` (e.g. "delivered", "sent") and release its lease."""
    row.status = status
    row.locked_until = None


def retry_later(row: Any, *, now: datetime, retries: Retries) -> str:
    """After a failed attempt, release the lease and either give up ("dead": it was the last
    attempt) or make the row due again after the backoff ("retrying"); return which."""
    row.locked_until = None
    if retries.spent(row.attempts):
        row.status = DEAD
        return DEAD
    row.next_attempt_at = now + timedelta(seconds=retries.backoff_seconds(row.attempts))
    return "retrying"


def give_up(row: Any, reason: str) -> None:
    """Stop trying: the row is dead, with `reason` as its last error."""
    row.status = DEAD
    row.locked_until = None
    row.last_error = reason
