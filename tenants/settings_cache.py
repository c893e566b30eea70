"""Per-process copies of a firm's slow-changing settings (its active queues, default SLA
policy, business calendar, running campaigns), each good for as long as the firm's
`settings_version` stands.

Every contact taken in read the first three afresh: three of its fifteen round trips, for rows
that change a few times a year; every claim read the running campaigns of the agent's firms.
PostgreSQL bumps the version whenever a row of a watched table changes (a trigger, migrations
0034 and 0036; SQLite's own triggers do the same for `make run`), and a copy is used only when
the version it was read under is the one this transaction sees, so a change made through any
pod is seen by every other pod's next transaction.

The version is the one the transaction itself read: noted when a Tenant row is loaded (an
integration's token loads its firm in the same statement as its client) or when a statement
reads it beside other columns (`note_versions`: a claim's read of the agent's queues), else
asked in one small statement. A transaction that changes a watched table itself reads afresh
until it ends; so does an agent's queue-limited scope, and any scope other than the one firm's.
May import: app.db, tenants (models, scoping).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import event, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.session import make_transient_to_detached

from app.db import db
from tenants import scoping
from tenants.models import Tenant

T = TypeVar("T")

# The tables whose rows are a firm's settings as the hot paths read them (and migrations
# 0034's and 0036's triggers watch).
WATCHED_TABLES = frozenset({"queues", "sla_policies", "business_calendars", "campaigns"})

# Keys of session.info, each for the current transaction only.
_VERSIONS = "settings_versions"  # tenant id -> settings_version read in this transaction
_CHANGED = "settings_changed"  # this transaction wrote a watched table

# (tenant id, name) -> (settings_version, value). Bounded: a pod serves at most a few hundred
# firms, each with three entries.
_MAX_ENTRIES = 3000
_copies: dict[tuple[uuid.UUID, str], tuple[int, object]] = {}
_lock = threading.Lock()


def install(session_factory) -> None:
    """Watch the sessions this factory makes, and every Tenant row loaded."""
    event.listen(session_factory, "before_flush", _note_flushed_changes)
    event.listen(session_factory, "do_orm_execute", _note_statement_changes)
    event.listen(session_factory, "after_transaction_end", _forget_transaction)
    if not event.contains(Tenant, "load", _note_loaded_version):
        event.listen(Tenant, "load", _note_loaded_version)
        event.listen(Tenant, "refresh", _note_refreshed_version)


def cached(name: str, load: Callable[[], T]) -> T:
    """The value `load()` gives for the one firm in scope, from this process's copy when the
    firm's settings have not changed since it was read; `load` runs in the current session
    and scope. What it returns is shared by every request of the process: never change it
    (`detached_copies` makes ORM rows safe to share)."""
    session = db.session
    tenant_id = single_firm()
    if tenant_id is None or session.info.get(_CHANGED):
        return load()
    version = _version(session, tenant_id)
    found = _copies.get((tenant_id, name))
    if found is not None and found[0] == version:
        return found[1]  # type: ignore[return-value]
    value = load()
    # Read after the version, in the same transaction: at least as new as that version.
    if not session.info.get(_CHANGED):
        with _lock:
            if len(_copies) >= _MAX_ENTRIES:
                _copies.clear()
            _copies[(tenant_id, name)] = (version, value)
    return value


def note_versions(versions: dict[uuid.UUID, int]) -> None:
    """Note the firms' versions a statement of this transaction read with other columns (an
    agent's claim reads its firms with its queues), sparing `cached` asking each."""
    db.session.info.setdefault(_VERSIONS, {}).update(versions)


def detached_copies(rows: list[T]) -> list[T]:
    """Copies of ORM rows that belong to no session: their columns loaded, safe to read from
    any thread. The session keeps its own instances (a change to them is still flushed)."""
    copies = []
    for row in rows:
        mapper = row.__mapper__  # type: ignore[attr-defined]
        copy = mapper.class_manager.new_instance()
        for attr in mapper.column_attrs:
            set_committed_value(copy, attr.key, getattr(row, attr.key))
        make_transient_to_detached(copy)
        copies.append(copy)
    return copies


def forget() -> None:
    """Drop every copy (tests that change settings behind the ORM's back use it)."""
    with _lock:
        _copies.clear()


def single_firm() -> uuid.UUID | None:
    """The firm whose settings may be read from the copies now: the scope's one firm, when
    the scope is that firm's whole (not an agent's queues) and no other's."""
    scope = scoping.current_scope()
    if scope is None or scope.is_unscoped or scope.queue_ids is not None:
        return None
    if len(scope.tenant_ids) != 1:
        return None
    (tenant_id,) = scope.tenant_ids
    return tenant_id


def _version(session: Session, tenant_id: uuid.UUID) -> int:
    versions = session.info.setdefault(_VERSIONS, {})
    if tenant_id not in versions:
        versions[tenant_id] = session.scalar(
            select(Tenant.settings_version).where(Tenant.id == tenant_id)
        )
    return versions[tenant_id]


def _note_loaded_version(tenant: Tenant, context) -> None:
    session = context.session
    if session is not None and "settings_version" in tenant.__dict__:
        session.info.setdefault(_VERSIONS, {})[tenant.id] = tenant.settings_version


def _note_refreshed_version(tenant: Tenant, context, attrs) -> None:
    # A refresh of other columns leaves the version read in an earlier transaction.
    if attrs is None or "settings_version" in attrs:
        _note_loaded_version(tenant, context)


def _note_flushed_changes(session: Session, _context, _instances) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table in WATCHED_TABLES:
            session.info[_CHANGED] = True
            return


def _note_statement_changes(state) -> None:
    # A bulk UPDATE or DELETE (or INSERT) through the session, which no flush sees.
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in WATCHED_TABLES:
            state.session.info[_CHANGED] = True


def _forget_transaction(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_VERSIONS, None)
        session.info.pop(_CHANGED, None)
