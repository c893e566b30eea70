"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app import migrate
from app.db import db
from app.errors import problem

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    """The process is up; deliberately independent of the database."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz():
    """Ready for traffic: the database answers and its schema is at the migrations' head."""
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = migrate.current_revisions(connection)
    except Exception as exc:  # any failure to reach the database means "not ready"
        current_app.logger.warning("readiness: database unreachable: %s", exc)
        return problem(503, "The database does not answer.", database="unreachable")
    heads = migrate.head_revisions(current_app)
    if current != heads:
        return problem(
            503,
            "The database schema is not at the migrations' head; run `flask db upgrade`.",
            database="reachable",
            migrations={"current": sorted(current), "head": sorted(heads)},
        )
    return jsonify(status="ok", database="reachable", migrations={"current": sorted(current)})
