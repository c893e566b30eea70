"""Deployment settings of the database layer: pool sizes, psycopg preparation, instance folder."""

from __future__ import annotations

from app import create_app
from app.db import db


def _app(app, tmp_path, **settings):
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": app.config["DATABASE_URL"],
            "OAUTH_ISSUER": app.config["OAUTH_ISSUER"],
            "SECRET_KEY": "test-secret",
            **settings,
        }
    )


def test_behind_an_old_pgbouncer_statements_are_never_prepared_on_the_server(app, tmp_path):
    behind_pgbouncer = _app(app, tmp_path, DATABASE_PREPARE_THRESHOLD=None)

    with behind_pgbouncer.app_context():
        connection = db.engine.raw_connection()
        try:
            assert connection.driver_connection.prepare_threshold is None
        finally:
            connection.close()
        db.engine.dispose()


def test_by_default_psycopg_prepares_statements_it_runs_often(app, tmp_path):
    direct = _app(app, tmp_path)

    with direct.app_context():
        connection = db.engine.raw_connection()
        try:
            assert connection.driver_connection.prepare_threshold == 5
        finally:
            connection.close()
        assert db.engine.pool.size() == 5
        db.engine.dispose()


def test_the_pool_size_follows_the_settings(app, tmp_path):
    small = _app(app, tmp_path, DATABASE_POOL_SIZE=2, DATABASE_MAX_OVERFLOW=0)

    with small.app_context():
        assert db.engine.pool.size() == 2
        assert db.engine.pool._max_overflow == 0
        db.engine.dispose()


def test_the_instance_folder_can_be_moved_to_a_writable_volume(app, tmp_path, monkeypatch):
    volume = tmp_path / "volume"
    monkeypatch.setenv("SWITCHBOARD_INSTANCE_PATH", str(volume))

    moved = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": app.config["DATABASE_URL"],
            "OAUTH_ISSUER": app.config["OAUTH_ISSUER"],
        }
    )

    assert moved.instance_path == str(volume)
    # The generated demo secret went there, not next to the source.
    assert (volume / "secret-key").is_file()
