"""Alembic environment: migrates `app.models.metadata` as the role that owns the tables, then
grants the application's own role what it needs (and no more)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

from app.models import metadata

config = context.config

APPEND_ONLY = ("audit_logs", "domain_events")


def _url(key: str, env: str) -> str:
    return (
        config.attributes.get(key)
        or os.environ.get(f"SWITCHBOARD_{env}")
        or os.environ.get("SWITCHBOARD_DATABASE_URL")
        or "sqlite:///instance/switchboard.db"
    )


def _grant_app_role(connection) -> None:
    """Let the app's role read and write rows, but not own tables nor rewrite append-only ones."""
    migrator = make_url(_url("database_url", "MIGRATION_DATABASE_URL")).username
    app_role = make_url(_url("app_database_url", "DATABASE_URL")).username
    if connection.dialect.name != "postgresql" or not app_role or app_role == migrator:
        return
    role = connection.dialect.identifier_preparer.quote(app_role)
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {role}",
    ]
    # The audit log and the domain events are append-only for the application (each absent
    # before its revision). Tenant deletion still removes a firm's events: the cascade from
    # `tenants` runs as the table's owner.
    for table in APPEND_ONLY:
        if connection.exec_driver_sql(f"SELECT to_regclass('{table}')").scalar() is not None:
            statements.append(f"REVOKE UPDATE, DELETE ON {table} FROM {role}")
    for statement in statements:
        connection.exec_driver_sql(statement)


def run_migrations_offline() -> None:
    context.configure(
        url=_url("database_url", "MIGRATION_DATABASE_URL"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = _url("database_url", "MIGRATION_DATABASE_URL")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            # SQLite alters tables by copying them; PostgreSQL alters in place.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            _grant_app_role(connection)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
