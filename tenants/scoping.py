"""Tenant scoping: which tenants the current unit of work may touch, enforced by the data layer.

Every tenant-owned model inherits `TenantScoped`. The session hooks installed by `install()`
add the tenant filter to every statement that names a tenant-owned model anywhere in it (what
it names comes from tenants/statements.py), refuse what the filter cannot reach (bare tables,
raw SQL), stamp `tenant_id` on new rows (bulk inserts too), refuse rows of tenants outside the
scope, and raise when tenant-owned data is touched with no scope at all. On PostgreSQL the
same scope is written into transaction-local settings that the row-level security policies
read, so a query that escapes the ORM filter still sees nothing.

The scope is set in one place per request (the auth layer, from the URL's `tenant_id`, after
checking the caller may act there) and in CLI commands. `unscoped()` is the only way around it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import ForeignKey, ForeignKeyConstraint, event, text
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)
from sqlalchemy.orm.attributes import PASSIVE_NO_INITIALIZE, get_history

from tenants import statements


class TenantScopeError(RuntimeError):
    """Tenant-owned data was touched outside a scope that allows it: a programming error."""


@dataclass(frozen=True)
class Scope:
    # None means every tenant: only `unscoped()` builds such a scope.
    tenant_ids: frozenset[uuid.UUID] | None
    # The one tenant new rows are stamped with; None when the scope spans several tenants.
    write_tenant_id: uuid.UUID | None
    # For agents: the queues they reach the tenant through. Rows of queue-scoped models
    # (a `queue_id` column and `__queue_scoped__ = True`) outside them are invisible.
    queue_ids: frozenset[uuid.UUID] | None = None

    @property
    def is_unscoped(self) -> bool:
        return self.tenant_ids is None


_scope: ContextVar[Scope | None] = ContextVar("tenant_scope", default=None)
# Whether PostgreSQL may reuse a generic plan of a prepared statement (see _SET_SCOPE).
_generic_plans: ContextVar[bool] = ContextVar("generic_plans", default=False)

# Tests switch this off to prove that PostgreSQL row-level security holds on its own.
ORM_FILTER_ENABLED = True


class TenantScoped:
    """Mixin for every tenant-owned model: a required `tenant_id` that leads the primary key.

    The table's key is `(tenant_id, id)` and every foreign key between tenant-owned tables is
    `(tenant_id, x_id) -> (tenant_id, id)`, so that (1) the database itself refuses a row that
    points at another tenant's row, and (2) the schema can be distributed by `tenant_id` (Citus
    needs the distribution column in every unique and foreign key; docs/scaling.md). The ORM
    still identifies a row by `id` alone (`session.get(Contact, contact_id)`): ids are UUIDs.
    """

    # sort_order puts the column first, so the primary key is (tenant_id, id), not (id, tenant_id).
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True, sort_order=-1
    )

    @declared_attr.directive
    def __mapper_args__(cls) -> dict:
        return {"primary_key": [cls.__table__.c.id]}


def tenant_foreign_key(column: str, table: str, *, ondelete: str | None = None):
    """The key from a tenant-owned row to another tenant-owned table: `(tenant_id, column)`
    references that table's `(tenant_id, id)`, so a row can only point inside its own tenant."""
    return ForeignKeyConstraint(
        ["tenant_id", column], [f"{table}.tenant_id", f"{table}.id"], ondelete=ondelete
    )


class OptionallyTenantScoped:
    """Mixin for rows that belong to one tenant or, with `tenant_id` NULL, to the BPO itself.

    Inside a tenant scope the BPO's own rows are invisible, exactly like another tenant's;
    only `unscoped()` code (and, on PostgreSQL, the policy's unscoped branch) sees them.
    """

    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )


SCOPED_MIXINS = (TenantScoped, OptionallyTenantScoped)


def is_tenant_owned(cls: type) -> bool:
    """Whether rows of this mapped class belong to tenants."""
    return issubclass(cls, SCOPED_MIXINS)


def current_scope() -> Scope | None:
    """Return the scope in force, or None when nothing is in scope."""
    return _scope.get()


def current_tenant_id() -> uuid.UUID:
    """Return the single tenant in scope; raise when there is none or several."""
    scope = _scope.get()
    if scope is None or scope.write_tenant_id is None:
        raise TenantScopeError("no single tenant in scope")
    return scope.write_tenant_id


@contextmanager
def _entered(scope: Scope) -> Iterator[Scope]:
    # Rows are written under the scope they were added in: flush what the outer scope added
    # before switching, and what this block added before leaving it.
    _flush_pending()
    token = _scope.set(scope)
    try:
        yield scope
        _flush_pending()
    finally:
        _scope.reset(token)


_session_getter: Callable[[], Session | None] = lambda: None  # noqa: E731


def _flush_pending() -> None:
    session = _session_getter()
    if session is not None and (session.new or session.dirty or session.deleted):
        session.flush()


def tenant_scope(tenant_id: uuid.UUID) -> AbstractContextManager[Scope]:
    """Scope reads and writes to one tenant."""
    return _entered(single(tenant_id))


def tenants_scope(tenant_ids: Iterable[uuid.UUID]) -> AbstractContextManager[Scope]:
    """Scope reads to several tenants (staff spanning tenants); to write, narrow to one."""
    ids = frozenset(tenant_ids)
    only = next(iter(ids)) if len(ids) == 1 else None
    return _entered(Scope(tenant_ids=ids, write_tenant_id=only))


def unscoped() -> AbstractContextManager[Scope]:
    """Lift tenant scoping. Every caller must say, in a comment, why no tenant applies."""
    return _entered(Scope(tenant_ids=None, write_tenant_id=None))


# --- session hooks ---------------------------------------------------------------------------


def install(session_factory, current_session: Callable[[], Session | None]) -> None:
    """Attach the scoping hooks to every session the factory makes.

    `current_session` returns the unit of work's session, if one is open, so that entering
    or leaving a scope can flush it first.
    """
    global _session_getter
    _session_getter = current_session
    event.listen(session_factory, "do_orm_execute", _filter_statement)
    event.listen(session_factory, "before_flush", _check_writes)
    event.listen(session_factory, "after_begin", _after_begin)
    event.listen(session_factory, "after_soft_rollback", _after_rollback)


def _filter_statement(state: ORMExecuteState) -> None:
    if state.is_column_load:
        _sync_database_scope(state.session)
        return
    statement = state.statement
    touched = statements.touched(statement)
    # Row-level security guards the tables with a tenant_id (and raw SQL may name any): the
    # scope is sent to PostgreSQL before a statement that reads or writes one, and only then,
    # so a request's reads of tokens, clients, tenants and users cost no round trip of it.
    if touched.texts or any(
        _has_tenant_column(getattr(c, "__table__", None)) for c in touched.entities
    ):
        _sync_database_scope(state.session)
    elif any("tenant_id" in t.c for t in touched.bare_tables):
        _sync_database_scope(state.session)
    entities = [cls for cls in touched.entities if is_tenant_owned(cls)]
    bare = sorted(t.name for t in touched.bare_tables if "tenant_id" in t.c)
    raw = [t for t in touched.texts if _names_tenant_table(t)]
    if not (entities or bare or raw):
        return
    scope = _scope.get()
    if scope is None:
        names = ", ".join(sorted({c.__name__ for c in entities} | set(bare)) or ["raw SQL"])
        raise TenantScopeError(f"tenant-owned data ({names}) queried with no tenant in scope")
    if state.is_insert:
        _check_insert(state, scope)
        return
    if state.is_update or state.is_delete:
        _require_single_tenant(scope, "bulk-updated or deleted")
        if _sets_tenant(statement):
            raise TenantScopeError("bulk update moving rows between tenants")
    if scope.is_unscoped or not ORM_FILTER_ENABLED:
        return
    # The ORM's loader criteria reach every mapped occurrence (aliases, subqueries, CTEs,
    # EXISTS, UNION members); bare tables and raw SQL are out of their reach.
    if bare:
        raise TenantScopeError(
            f"tenant-owned tables named bare ({', '.join(bare)}): the tenant filter cannot reach "
            "them; query through the mapped classes"
        )
    if raw:
        raise TenantScopeError("raw SQL on tenant-owned tables: the tenant filter cannot reach it")
    state.statement = _with_criteria(statement, scope, entities)


def _with_criteria(statement, scope: Scope, entities: list[type]):
    mixins = {mixin for cls in entities for mixin in SCOPED_MIXINS if issubclass(cls, mixin)}
    options = [_tenant_criteria(mixin, scope.tenant_ids) for mixin in mixins]
    if scope.queue_ids is not None:
        options += [
            _queue_criteria(cls, scope.queue_ids)
            for cls in entities
            if getattr(cls, "__queue_scoped__", False)
        ]
    return statement.options(*options)


# Made once per scope and reused: building the option (analysing its lambda) is most of what
# the hook costs on every statement. The scope's ids are closure variables, so SQLAlchemy's
# lambda cache binds them as parameters; a default argument would be baked into cached SQL.
@lru_cache(maxsize=1024)
def _tenant_criteria(mixin: type, tenant_ids: frozenset[uuid.UUID]):
    ids = sorted(tenant_ids)
    return with_loader_criteria(mixin, lambda cls: cls.tenant_id.in_(ids), include_aliases=True)


@lru_cache(maxsize=1024)
def _queue_criteria(cls: type, queue_ids: frozenset[uuid.UUID]):
    queues = sorted(queue_ids)
    return with_loader_criteria(cls, lambda cls: cls.queue_id.in_(queues), include_aliases=True)


def _check_insert(state: ORMExecuteState, scope: Scope) -> None:
    """Stamp a bulk INSERT's rows with the tenant in scope, or refuse them, as a flush would."""
    statement = state.statement
    if scope.is_unscoped:
        return
    what = f"{statement.table.name} bulk-inserted"
    _require_single_tenant(scope, what)
    if statement.select is not None or statement._multi_values:
        # Rows made by a SELECT or listed inline cannot be checked one by one before they land.
        raise TenantScopeError(f"{what} from a SELECT or inline rows: pass the rows as parameters")
    if not _is_tenant_table(statement.table):
        return
    inline = {getattr(key, "key", key): value for key, value in (statement._values or {}).items()}
    if "tenant_id" in inline:
        value = inline["tenant_id"]
        _require_tenant_in_scope(scope, getattr(value, "value", value), what)
        return
    params = state.parameters
    if not params:
        state.statement = statement.values(tenant_id=scope.write_tenant_id)
        return
    rows = [params] if isinstance(params, dict) else params
    for row in rows:
        if row.get("tenant_id") is not None:
            _require_tenant_in_scope(scope, row["tenant_id"], what)
    stamped = [{**row, "tenant_id": row.get("tenant_id") or scope.write_tenant_id} for row in rows]
    state.parameters = stamped[0] if isinstance(params, dict) else stamped


def _require_tenant_in_scope(scope: Scope, tenant_id, what: str) -> None:
    if tenant_id not in scope.tenant_ids:
        raise TenantScopeError(f"{what} for a tenant out of scope")


def _sets_tenant(statement) -> bool:
    return any(
        getattr(key, "key", key) == "tenant_id" for key in getattr(statement, "_values", None) or ()
    )


def _is_tenant_table(table) -> bool:
    return "tenant_id" in table.c


_tenant_table_pattern: re.Pattern[str] | None = None


def _names_tenant_table(sql: str) -> bool:
    """Whether raw SQL mentions a tenant-owned table (by name, as a word)."""
    global _tenant_table_pattern
    if _tenant_table_pattern is None:
        names = sorted(_tenant_table_names())
        _tenant_table_pattern = re.compile(
            r"\b(?:" + "|".join(map(re.escape, names)) + r")\b", re.IGNORECASE
        )
    return _tenant_table_pattern.search(sql) is not None


def _tenant_table_names() -> set[str]:
    names, pending = set(), list(SCOPED_MIXINS)
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        table = cls.__dict__.get("__table__")
        if table is not None:
            names.add(table.name)
    return names


def _check_writes(session: Session, _flush_context, _instances) -> None:
    # The flush's statements do not pass _filter_statement: the scope goes first.
    _sync_database_scope(session)
    scope = _scope.get()
    for obj in session.new:
        if not is_tenant_owned(type(obj)):
            continue
        _require_scope(scope, obj, "created")
        _require_single_tenant(scope, f"{type(obj).__name__} created")
        if obj.tenant_id is None:
            if scope.write_tenant_id is not None:
                obj.tenant_id = scope.write_tenant_id
            elif isinstance(obj, TenantScoped):
                raise TenantScopeError(f"{type(obj).__name__} created without tenant_id")
        elif not scope.is_unscoped and obj.tenant_id not in scope.tenant_ids:
            raise TenantScopeError(f"{type(obj).__name__} created for a tenant out of scope")
    for obj in list(session.dirty) + list(session.deleted):
        if not is_tenant_owned(type(obj)):
            continue
        _require_scope(scope, obj, "changed")
        _require_single_tenant(scope, f"{type(obj).__name__} changed")
        history = _tenant_history(obj)
        if history.has_changes() and history.deleted and history.deleted[0] is not None:
            raise TenantScopeError(f"{type(obj).__name__} moved between tenants")
        if not scope.is_unscoped and obj.tenant_id not in scope.tenant_ids:
            raise TenantScopeError(f"{type(obj).__name__} changed for a tenant out of scope")


def _require_single_tenant(scope: Scope, what: str) -> None:
    # Row-level security on PostgreSQL admits writes for the single tenant in scope only;
    # refusing here too keeps every database, and the error, the same.
    if not scope.is_unscoped and scope.write_tenant_id is None:
        raise TenantScopeError(f"{what} in a multi-tenant scope: narrow to one tenant to write")


def _tenant_history(obj):
    # What `inspect(obj).attrs.tenant_id.history` gives, without `.attrs` building a view of
    # every attribute of the object (once per object, for every object a flush changes).
    return get_history(obj, "tenant_id", passive=PASSIVE_NO_INITIALIZE)


def _require_scope(scope: Scope | None, obj, verb: str) -> None:
    if scope is None:
        raise TenantScopeError(f"{type(obj).__name__} {verb} with no tenant in scope")


# --- PostgreSQL: the scope as transaction-local settings read by row-level security ---------

# The same statement also says how prepared statements are planned. psycopg prepares a
# statement run 5 times on a connection (DATABASE_PREPARE_THRESHOLD), and PostgreSQL then
# settles on a generic plan when its guess without the values looks cheaper: for a report over
# a month of a big firm it guessed a thousand rows of a million and took 4x as long. So reads
# are planned with their own values (force_custom_plan); a write request, whose statements
# reach rows by key, keeps generic plans: planning each afresh cost a quarter of an intake.
_SET_SCOPE = text(
    "SELECT set_config('app.tenant_id', :tenant_id, true),"
    " set_config('app.tenant_ids', :tenant_ids, true),"
    " set_config('app.unscoped', :unscoped, true),"
    " set_config('app.queue_scoped', :queue_scoped, true),"
    " set_config('app.queue_ids', :queue_ids, true),"
    " set_config('plan_cache_mode', :plan_cache_mode, true)"
)


def _settings(scope: Scope | None, generic_plans: bool = False) -> dict[str, str]:
    # No scope reads nothing: the policies turn '' into NULL, which matches no row.
    settings = {
        "tenant_id": "",
        "tenant_ids": "",
        "unscoped": "off",
        "queue_scoped": "off",
        "queue_ids": "",
        "plan_cache_mode": "auto" if generic_plans else "force_custom_plan",
    }
    if scope is None:
        return settings
    if scope.is_unscoped:
        return {**settings, "unscoped": "on"}
    # An agent's scope also names the queues it reaches the tenant through; the policy of a
    # queue-scoped table (contacts, migration 0008) hides rows of other queues, so this holds
    # without the ORM filter too. No queues at all is "on" with an empty list: nothing visible.
    return {
        **settings,
        "tenant_id": str(scope.write_tenant_id or ""),
        "tenant_ids": ",".join(sorted(str(t) for t in scope.tenant_ids)),
        "queue_scoped": "on" if scope.queue_ids is not None else "off",
        "queue_ids": ",".join(sorted(str(q) for q in scope.queue_ids or ())),
    }


# What a transaction has been sent before its first statement on a tenant's table: nothing. The
# database then applies no scope at all, which row-level security reads as "no tenant": every
# tenant's row is hidden and no write passes.
_UNSENT = object()


def _after_begin(session: Session, transaction, connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    if transaction.nested:
        # A savepoint keeps the settings its transaction was sent (a rollback to it is seen
        # by _after_rollback).
        return
    # set_config(..., true) lasts until the transaction ends, so nothing leaks through the pool;
    # it is sent with the first statement that needs it (_sync_database_scope).
    session.info["db_scope"] = _UNSENT


def _after_rollback(session: Session, _previous_transaction) -> None:
    # A rollback to a savepoint also undoes the settings sent since it: send them again.
    if "db_scope" in session.info:
        session.info["db_scope"] = _UNSENT


def _has_tenant_column(table) -> bool:
    return table is not None and "tenant_id" in table.c


def send_scope(session: Session):
    """Send the scope in force to PostgreSQL now and return the session's connection: for raw
    SQL on that connection, which passes none of the session's hooks."""
    _sync_database_scope(session)
    return session.connection()


def _sync_database_scope(session: Session) -> None:
    """Send the scope to PostgreSQL, before a statement that needs it, when the transaction
    has not had it (or had another)."""
    # Takes the transaction's connection first: a transaction begun (autobegin) without one
    # gets it here, and _after_begin marks the scope unsent.
    connection = session.connection()
    if "db_scope" not in session.info:
        return
    wanted = (_scope.get(), _generic_plans.get())
    if session.info["db_scope"] == wanted:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(_SET_SCOPE, _settings(*wanted))
    session.info["db_scope"] = wanted


# --- request lifetime -----------------------------------------------------------------------


def bind(scope: Scope) -> Token[Scope | None]:
    """Put a scope in force until `release(token)`; used once per request by the auth layer."""
    return _scope.set(scope)


def release(token: Token[Scope | None]) -> None:
    """End a scope put in force by `bind`."""
    _scope.reset(token)


def allow_generic_plans() -> Token[bool]:
    """Let PostgreSQL reuse generic plans until `restore_plans(token)`: for a unit of work
    that writes rows it reaches by key (an API write), not for reads that sum many rows."""
    return _generic_plans.set(True)


def restore_plans(token: Token[bool]) -> None:
    """End `allow_generic_plans`."""
    _generic_plans.reset(token)


def single(tenant_id: uuid.UUID, *, queue_ids: frozenset[uuid.UUID] | None = None) -> Scope:
    """The scope of exactly one tenant (for an agent: only through `queue_ids`)."""
    return Scope(tenant_ids=frozenset({tenant_id}), write_tenant_id=tenant_id, queue_ids=queue_ids)
