"""Helpers for the API tests: problem+json checks, audit reads, throwaway databases."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
from psycopg import sql
from sqlalchemy import select

from app.db import db
from tenants.models import AuditLog
from tenants.scoping import unscoped

PROBLEM_JSON = "application/problem+json"

TENANT_IN = {
    "slug": "acme-retail",
    "name": "Acme Retail",
    "time_zone": "Europe/Madrid",
    "locale": "es-ES",
    "currency": "EUR",
}


def assert_problem(response, status: int) -> dict:
    """Assert an RFC 9457 problem response with `status`; return its body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == PROBLEM_JSON, response.mimetype
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def audit_actions(app, *, target_id: object = None) -> list[str]:
    """The audit log's actions, oldest first (optionally for one target)."""
    with app.app_context():
        # The test reads the whole audit log, across tenants and the BPO's own rows.
        with unscoped():
            stmt = select(AuditLog).order_by(AuditLog.occurred_at)
            if target_id is not None:
                stmt = stmt.where(AuditLog.target_id == str(target_id))
            return [entry.action for entry in db.session.scalars(stmt)]


def audit_entries(app, action: str) -> list[AuditLog]:
    """Every audit entry with this action."""
    with app.app_context():
        # As above: the audit log as a whole.
        with unscoped():
            return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)))


def psycopg_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://")


@contextlib.contextmanager
def throwaway_database(admin_url: str, owner: str) -> Iterator[str]:
    """Create an empty database owned by `owner`; yield its name; drop it afterwards."""
    name = f"switchboard_extra_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )
    try:
        yield name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def database_url(admin_url: str, role: str, name: str) -> str:
    """A SQLAlchemy URL for `role` on database `name` of the admin URL's server."""
    host = admin_url.split("@", 1)[1].rsplit("/", 1)[0]
    return f"postgresql+psycopg://{role}@{host}/{name}"
