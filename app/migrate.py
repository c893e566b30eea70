"""Alembic, driven from the app: upgrade, downgrade, and whether the schema is at head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(app: Flask) -> Config:
    """An Alembic config that migrates as the table owner (MIGRATION_DATABASE_URL)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = app.config["MIGRATION_DATABASE_URL"]
    cfg.attributes["app_database_url"] = app.config["DATABASE_URL"]
    return cfg


def upgrade(app: Flask, revision: str = "head") -> None:
    command.upgrade(alembic_config(app), revision)


def downgrade(app: Flask, revision: str) -> None:
    command.downgrade(alembic_config(app), revision)


def head_revisions(app: Flask) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(app)).get_heads())


def current_revisions(connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())
