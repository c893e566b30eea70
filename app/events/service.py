"""Domain events: recorded by the services in their own transaction, read in order by consumers.

Recording. `record()` (and `record_many()` or `record_each()` for a batch, e.g. a contacts
import or an SLA scan's) adds the event for the tenant in scope to the caller's transaction:
the change and its event commit together, or neither does. The type must be in the catalogue
(app/events/catalogue.py).

Reading. Each consumer (webhook deliveries now, live views next; app/worker.py lists them)
keeps a position in `event_consumers` and `consume()` hands it the events after it, in order,
never one twice and never one skipped. The order needs care on PostgreSQL: `seq` is taken at
INSERT, but transactions commit in another order, so a slow transaction can commit seq 7
after a quick one committed seq 8; a consumer that read 8 and moved on to "seq > 8" would
never see 7. So each event also stores its transaction's id (`tx`, 64-bit, never wrapping),
events are read in (tx, seq) order, and only those with `tx` below the current snapshot's
`xmin`: every transaction with a smaller id has ended (committed and visible, or rolled back
and gone), and every transaction still running or yet to write gets an id at least `xmin`.
So the events a consumer may read form a prefix of the (tx, seq) order that only grows at its
end, and "after my position" never skips. A transaction that stays open delays consumers (not
losing anything) until it ends. On SQLite one transaction writes at a time and holds the
lock until it commits, so commit order is seq order: tx is 0 and seq alone orders.

Services never commit; the worker owns the consumer's transaction. May import: app.db,
app.events (models, catalogue), tenants.scoping.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from flask import current_app
from sqlalchemy import BigInteger, Text, func, insert, select, true, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db import db, utcnow
from app.events import catalogue
from app.events.models import DomainEvent, EventConsumer
from tenants.scoping import tenant_scope, unscoped

# How many events one consumer handles per transaction.
BATCH = 500


class UnknownEventType(ValueError):
    """A type the catalogue does not list: a programming error."""


def record(
    *,
    type: str,
    payload: dict,
    occurred_at: datetime | None = None,
    id: uuid.UUID | None = None,
) -> DomainEvent:
    """Add an event of the tenant in scope to the caller's transaction and return it.

    `id` may be given to make it deterministic (e.g. derived from what happened, so a
    repeat is refused by the key); `occurred_at` defaults to now."""
    _check(type, payload)
    event = DomainEvent(
        id=id or uuid.uuid4(), type=type, payload=payload, occurred_at=occurred_at or utcnow()
    )
    if _is_sqlite():
        # No identity columns there: numbered inside the INSERT itself, which the one writer
        # SQLite allows at a time runs atomically.
        event.seq = select(func.coalesce(func.max(DomainEvent.seq), 0) + 1).scalar_subquery()
    db.session.add(event)
    return event


def record_many(
    *,
    type: str,
    payloads: Sequence[dict],
    occurred_at: datetime | None = None,
) -> int:
    """Add one event per payload, of the tenant in scope, to the caller's transaction, in a
    few multi-row INSERTs rather than one per event; return how many."""
    at = occurred_at or utcnow()
    return record_each(
        [{"type": type, "payload": p, "occurred_at": at, "id": uuid.uuid4()} for p in payloads]
    )


def record_each(events: Sequence[dict]) -> int:
    """Add events of the tenant in scope, each as `record` takes it (`type`, `payload`,
    `occurred_at` and `id` given), to the caller's transaction in a few multi-row INSERTs
    rather than one per event; return how many."""
    if not events:
        return 0
    if _is_sqlite():
        for event in events:
            record(**event)
        return len(events)
    at = utcnow()
    rows = []
    for event in events:
        _check(event["type"], event["payload"])
        rows.append({"recorded_at": at, **event})
    # With RETURNING, SQLAlchemy sends the rows as multi-row INSERTs ("insertmanyvalues",
    # 1,000 a statement); the tenant in scope is stamped on each (tenants/scoping.py). An
    # executemany would run the statement, and the live views' statement trigger
    # (domain_events_notify_live, a NOTIFY), once per event.
    db.session.execute(insert(DomainEvent).returning(DomainEvent.id), rows).all()
    return len(rows)


def _check(type: str, payload: dict) -> None:
    if type not in catalogue.CATALOGUE:
        raise UnknownEventType(f"{type!r} is not in the event catalogue")
    # On in tests: every event a test run records must fit what the docs promise.
    if current_app.config["EVENTS_CHECK_PAYLOADS"]:
        errors = catalogue.payload_errors(type=type, payload=payload)
        if errors:
            raise ValueError(f"{type} payload does not fit the catalogue: {errors}")


# --- reading ---------------------------------------------------------------------------------


def consume(
    *, consumer: str, handle: Callable[[DomainEvent], None], limit: int = BATCH
) -> int | None:
    """Hand the consumer's next events (up to `limit`, every tenant's, in log order) to
    `handle`, each inside its tenant's scope, and move the consumer's position past them.

    All in the caller's transaction: commit it to keep the work and the position together;
    an error rolls both back and the next call starts from the same event again. Returns how
    many events were handled, or None when another worker is running this consumer (its
    position row is locked: this one skips rather than waits or repeats its work).
    """
    position = _lock_position(consumer)
    if position is None:
        return None
    # The log is read across tenants: a consumer serves every tenant, in one order. Each
    # event is then handled in its own tenant's scope.
    with unscoped():
        events = db.session.scalars(
            select(DomainEvent)
            .where(
                tuple_(DomainEvent.tx, DomainEvent.seq) > tuple_(position.tx, position.seq),
                *_settled(),
            )
            .order_by(DomainEvent.tx, DomainEvent.seq)
            .limit(limit)
        ).all()
    for event in events:
        with tenant_scope(event.tenant_id):
            handle(event)
    if events:
        position.tx, position.seq = events[-1].tx, events[-1].seq
        db.session.flush()
    return len(events)


def read_after(*, tx: int, seq: int, limit: int = BATCH) -> list[DomainEvent]:
    """The settled events of the tenant in scope after position (tx, seq), in log order (the
    order `consume` reads in, so a reader resuming from its last position skips nothing)."""
    return list(
        db.session.scalars(
            select(DomainEvent)
            .where(tuple_(DomainEvent.tx, DomainEvent.seq) > tuple_(tx, seq), *_settled())
            .order_by(DomainEvent.tx, DomainEvent.seq)
            .limit(limit)
        )
    )


# Larger than any seq: a position of (tx, LAST_SEQ) is past every event of that transaction.
LAST_SEQ = 2**63 - 1


def position_now() -> tuple[int, int]:
    """A position past every settled event, before every event still to settle: where a
    reader that wants only what happens from now on starts."""
    if _is_sqlite():
        return 0, db.session.scalar(select(func.coalesce(func.max(DomainEvent.seq), 0)))
    return db.session.scalar(select(_XMIN)) - 1, LAST_SEQ


def unsettled() -> bool:
    """Whether events already committed may still wait to settle (a transaction that began
    before them is still open): a reader that read up to now should look again soon."""
    if _is_sqlite():
        return False
    newest, xmin = newest_tx(), horizon()
    return newest is not None and xmin is not None and newest >= xmin


def newest_tx() -> int | None:
    """The transaction id of the newest committed event (None with none, or on SQLite)."""
    if _is_sqlite():
        return None
    # Of every tenant: the worker waits until the log is settled up to it (horizon()).
    with unscoped():
        return db.session.scalar(select(func.max(DomainEvent.tx)))


def horizon() -> int | None:
    """The smallest transaction id still running (PostgreSQL's snapshot xmin): events of
    smaller ids are settled. None on SQLite, where every committed event is."""
    if _is_sqlite():
        return None
    return db.session.scalar(select(_XMIN))


def horizon_and_newest(
    *, tenant_ids: Iterable[uuid.UUID], since: int
) -> tuple[int, dict[uuid.UUID, int]]:
    """horizon(), and each of these tenants' newest event transaction id at or after `since`
    (tenants with none left out), read in one statement. PostgreSQL only."""
    newest = (
        select(DomainEvent.tenant_id, func.max(DomainEvent.tx).label("tx"))
        .where(DomainEvent.tx >= since, DomainEvent.tenant_id.in_(sorted(tenant_ids)))
        .group_by(DomainEvent.tenant_id)
        .subquery("newest")
    )
    stamp = select(_XMIN.label("stamp")).subquery("stamp")
    rows = db.session.execute(
        select(stamp.c.stamp, newest.c.tenant_id, newest.c.tx)
        .select_from(stamp)
        .outerjoin(newest, true())
    ).all()
    return rows[0].stamp, {row.tenant_id: row.tx for row in rows if row.tenant_id is not None}


def _lock_position(consumer: str) -> EventConsumer | None:
    if _is_sqlite():
        # SQLite locks the whole database for writing, not rows: writing first takes that
        # lock, so two workers there take turns instead of reading the same position.
        db.session.execute(
            update(EventConsumer)
            .where(EventConsumer.name == consumer)
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    position = _locked(consumer)
    if position is not None:
        return position
    if db.session.scalar(select(EventConsumer.name).where(EventConsumer.name == consumer)):
        return None  # another worker holds it
    # A consumer's first run: it starts from the beginning of the log.
    dialect_insert = sqlite_insert if _is_sqlite() else pg_insert
    db.session.execute(
        dialect_insert(EventConsumer)
        .values(name=consumer, tx=0, seq=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return _locked(consumer)


def _locked(consumer: str) -> EventConsumer | None:
    return db.session.scalar(
        select(EventConsumer)
        .where(EventConsumer.name == consumer)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


# pg_snapshot_xmin() is an xid8; through text it compares with the bigint `tx`.
_XMIN = func.pg_snapshot_xmin(func.pg_current_snapshot()).cast(Text).cast(BigInteger)


def _settled() -> list:
    # In the same statement as the read, so the horizon and the rows come from one snapshot.
    return [] if _is_sqlite() else [DomainEvent.tx < _XMIN]


def _is_sqlite() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"
