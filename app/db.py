"""The database layer: typed declarative Base with named constraints, column types, sessions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, has_app_context
from sqlalchemy import JSON, DateTime, Enum, MetaData, bindparam, create_engine, event, func, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations can name what they alter or drop.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current instant as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC; naive values are refused rather than guessed at.

    PostgreSQL keeps `timestamptz`; SQLite keeps text without an offset, so values read back
    are re-marked as UTC here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: times must carry a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def _parse_long_statements_once() -> None:
    # psycopg remembers how it turned a statement's %(name)s placeholders into $n ones (an
    # LRU of 128 statements), but not for a statement over 4 KiB or of more than 50
    # parameters, caps meant for executemany's endless VALUES lists. A contact's INSERT has
    # about 60 parameters; an agent's claim across ten firms picks the firm in one UNION ALL
    # of a branch per firm, 35 KB and 151 parameters (about 175 KB for fifty): both were
    # parsed afresh on every request (a claim's CPU 69 -> 48 ms once cached). The LRU stays
    # at 128 statements; what is longer than these caps still passes, uncached.
    from psycopg import _queries

    if getattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", 2000) < 2000:
        _queries.MAX_CACHED_STATEMENT_PARAMS = 2000
    if getattr(_queries, "MAX_CACHED_STATEMENT_LENGTH", 262144) < 262144:
        _queries.MAX_CACHED_STATEMENT_LENGTH = 262144


class Database:
    """Engine and one session per application context; the request (or CLI command) commits."""

    def __init__(self) -> None:
        self._engines: dict[int, Engine] = {}
        self._factories: dict[int, sessionmaker[Session]] = {}

    def init_app(self, app: Flask) -> None:
        url = app.config["DATABASE_URL"]
        options: dict = {
            "echo": app.config["SQLALCHEMY_ECHO"],
            "pool_pre_ping": True,
            # Statement parameters are customers' emails, phone numbers and notes: keep them out
            # of exception messages, which end up in logs.
            "hide_parameters": True,
        }
        if url.startswith("sqlite"):
            options["connect_args"] = {"check_same_thread": False}
        else:
            options["pool_size"] = app.config["DATABASE_POOL_SIZE"]
            options["max_overflow"] = app.config["DATABASE_MAX_OVERFLOW"]
            options["pool_timeout"] = app.config["DATABASE_POOL_TIMEOUT"]
            # No JIT: compiling a statement costs PostgreSQL 0.1-1.5 s, more than any of ours
            # takes to run, and it triggers on cost estimates that correlated lookups inflate
            # (a report's day summed afresh was 2.2 s with it, a fraction without).
            options["connect_args"] = {"options": "-c jit=off"}
            if url.startswith("postgresql+psycopg:"):
                options["connect_args"]["prepare_threshold"] = app.config[
                    "DATABASE_PREPARE_THRESHOLD"
                ]
                _parse_long_statements_once()
        engine = create_engine(url, **options)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        self._engines[id(app)] = engine
        self._factories[id(app)] = sessionmaker(bind=engine, expire_on_commit=False)
        app.extensions["db"] = self
        app.teardown_appcontext(self._remove_session)

    def factory(self, app: Flask) -> sessionmaker[Session]:
        """The session factory bound to one app (scoping hooks attach here)."""
        return self._factories[id(app)]

    @property
    def engine(self) -> Engine:
        return self._engines[id(current_app._get_current_object())]

    @property
    def session(self) -> Session:
        """The session of the current application context, created on first use."""
        if "db_session" not in g:
            g.db_session = self._factories[id(current_app._get_current_object())]()
        return g.db_session

    @staticmethod
    def open_session() -> Session | None:
        """The application context's session if it has been opened, else None."""
        return g.get("db_session") if has_app_context() else None

    def new_session(self) -> Session:
        """A session outside the application context's one, for work that must commit apart."""
        return self._factories[id(current_app._get_current_object())]()

    @staticmethod
    def _remove_session(exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            # Whatever the request did not commit is rolled back, never half-kept.
            session.close()


def update_rows(session: Session, entity: type, rows: list[dict]) -> None:
    """UPDATE rows of a mapped class by primary key, each to its own values (every row names
    the same columns, the key's among them), as an ORM statement: tenant scoping and its
    checks apply.

    PostgreSQL takes them in one statement, the values as one array per column (`unnest`):
    an executemany runs the statement once per row, and each run's overhead (row-level
    security's settings read afresh, the executor started) costs several times the update
    itself (1,000 contacts: 0.2 s as an executemany, 0.04-0.07 s so). Elsewhere, the ORM's
    UPDATE by primary key. Objects of these rows already in the session are not refreshed:
    the caller expires them if it reads them again."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(update(entity), rows)
        return
    table = entity.__table__
    names = list(rows[0])
    keys = [column.name for column in table.primary_key.columns]
    arrays = [
        bindparam(f"{name}_values", [row[name] for row in rows], type_=ARRAY(table.c[name].type))
        for name in names
    ]
    given = func.unnest(*arrays).table_valued(*names).render_derived(name="given")
    session.execute(
        update(entity)
        .where(*(table.c[key] == given.c[key] for key in keys))
        .values({name: given.c[name] for name in names if name not in keys})
        .execution_options(synchronize_session=False)
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
    # PostgreSQL's `timezone(zone, at)::date`, which SQLite lacks (app/reports/rollups.py).
    dbapi_connection.create_function("switchboard_local_date", 2, _local_date, deterministic=True)


def _local_date(at: str | None, zone: str) -> str | None:
    """The local date (ISO) in `zone` of a UTC timestamp as SQLite keeps it."""
    if at is None:
        return None
    instant = datetime.fromisoformat(at).replace(tzinfo=UTC)
    return instant.astimezone(ZoneInfo(zone)).date().isoformat()


db = Database()


# JSON documents: JSONB on PostgreSQL, JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def str_enum(*values: str, name: str) -> Enum:
    """A closed set of strings: VARCHAR plus a named CHECK constraint on every database."""
    return Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)
