"""Test harness: a throwaway PostgreSQL database per run, migrated by Alembic as the table
owner, while the app connects as a separate role that row-level security applies to.

Each test starts from empty tables; data comes from the factories in `tests/factories.py`.

Every response an app answers during a test is checked against the served /openapi.json
(tests/openapi_validation.py): a test that receives an answer the document does not describe
fails. A test that provokes such an answer on purpose (say, a raw 500 handler) says so with
`@pytest.mark.undocumented_response(reason=...)`.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import uuid

import psycopg
import pytest
from psycopg import sql
from werkzeug.serving import make_server

from app import create_app
from app.models import metadata
from tests import openapi_validation

ADMIN_URL = os.environ.get(
    "SWITCHBOARD_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
OWNER_ROLE = "switchboard_test_owner"
APP_ROLE = "switchboard_test_app"
TEST_CONFIG = {
    # Every event a test records must fit the payload schema the API docs show.
    "EVENTS_CHECK_PAYLOADS": True,
    # Other test runs share the PostgreSQL server, and their open transactions hold back
    # when events may be read (app/events/service.py): a worker pass waits for them longer.
    "EVENTS_SETTLE_SECONDS": 10.0,
    # Each read is made for its reader: a story reads what it has just done. The stories of
    # sharing (test_shared_readings.py) turn it on.
    "SHARED_READ_FRESH_SECONDS": 0.0,
    "SHARED_READ_STALE_SECONDS": 0.0,
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "undocumented_response(reason): the test receives, on purpose, answers that "
        "/openapi.json does not describe; they are not checked against it",
    )
    openapi_validation.install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    openapi_validation.reset()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fail a test that received a response its /openapi.json does not describe."""
    result = yield
    problems = openapi_validation.take()
    if problems and item.get_closest_marker("undocumented_response") is None:
        shown = "\n".join(dict.fromkeys(problems))  # each distinct problem once, in order
        pytest.fail(f"responses not described by /openapi.json:\n{shown}", pytrace=False)
    return result


def pytest_terminal_summary(terminalreporter):
    cost = openapi_validation.cost
    if cost["responses"]:
        terminalreporter.write_line(
            f"/openapi.json check: {cost['responses']} responses in {cost['seconds']:.1f} s"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_role(cur, name: str) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    if cur.fetchone() is None:
        try:
            cur.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                ).format(sql.Identifier(name))
            )
        except psycopg.errors.DuplicateObject:  # another run created it meanwhile
            pass


@pytest.fixture(scope="session")
def database():
    """Create a fresh database for this run; drop it afterwards."""
    name = f"switchboard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn, conn.cursor() as cur:
        _ensure_role(cur, OWNER_ROLE)
        _ensure_role(cur, APP_ROLE)
        cur.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(OWNER_ROLE)
            )
        )
    host = ADMIN_URL.split("@", 1)[1].rsplit("/", 1)[0]
    urls = {
        "name": name,
        "owner": f"postgresql+psycopg://{OWNER_ROLE}@{host}/{name}",
        "app": f"postgresql+psycopg://{APP_ROLE}@{host}/{name}",
    }
    yield urls
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def live_port() -> int:
    return _free_port()


@pytest.fixture(scope="session")
def app(database, live_port, tmp_path_factory):
    """The application, migrated to head, connecting as the non-owner app role."""
    instance = tmp_path_factory.mktemp("instance")
    application = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": database["app"],
            "MIGRATION_DATABASE_URL": database["owner"],
            "OAUTH_ISSUER": f"http://127.0.0.1:{live_port}",
            "SECRET_KEY": "test-secret",
            **TEST_CONFIG,
        }
    )
    from app import migrate

    migrate.upgrade(application)
    yield application
    # Stop the live listener, if a stream started it, before `database` drops the database
    # under it (it would log a lost connection and retry until the process ends).
    hub = application.extensions.get("live")
    if hub is not None and hub.listener is not None:
        hub.listener.stop()
        hub.listener.join(timeout=5)


def _table_names() -> list[str]:
    return [t.name for t in metadata.sorted_tables]


@pytest.fixture(autouse=True)
def _empty_tables(request):
    """Every test starts from empty tables (truncated as the owner; RLS does not apply)."""
    yield
    if "database" not in request.fixturenames:
        return
    database = request.getfixturevalue("database")
    url = database["owner"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("TRUNCATE {} CASCADE").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in _table_names())
            )
        )


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def live_server(app, live_port):
    """The app served over real HTTP on a loopback port, for real OAuth clients."""
    server = make_server("127.0.0.1", live_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{live_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def factory(app):
    from tests.factories import Factory

    return Factory(app)


@pytest.fixture
def sqlite_app(tmp_path):
    """The application on a fresh SQLite file, migrated: what `make run` serves a newcomer."""
    from app.db import db

    application = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'switchboard.db'}",
            "SECRET_KEY": "test-secret",
            **TEST_CONFIG,
        }
    )
    result = application.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def db_app(request):
    """The application on each database the product runs on, for cases that must hold on both."""
    if request.param == "postgresql":
        request.getfixturevalue("database")
        return request.getfixturevalue("app")
    return request.getfixturevalue("sqlite_app")


@pytest.fixture
def db_client(db_app):
    return db_app.test_client()


@pytest.fixture
def db_factory(db_app):
    from tests.factories import Factory

    return Factory(db_app)


# What names under the reserved test TLDs (RFC 2606: never on the internet) resolve to here: a
# public address, so that endpoints like https://hooks.acme.example/ can be saved. No test
# sends to such a name with private networks refused (delivery tests post to 127.0.0.1).
RESERVED_NAME_ADDRESS = "93.184.216.34"


@pytest.fixture(autouse=True)
def _no_dns_outside(monkeypatch):
    """Names resolve only on this machine: IP literals and localhost as usual, names under
    `.example` and `.test` to RESERVED_NAME_ADDRESS, anything else not at all. A name the app
    looks up (a webhook host checked when saved) never reaches a DNS server. Tests that need
    other answers patch `socket.getaddrinfo` with their own table."""
    real = socket.getaddrinfo

    def local_only(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or name == "localhost" or _is_ip_literal(name):
            return real(host, *args, **kwargs)
        if name.rstrip(".").endswith((".example", ".test")):
            return real(RESERVED_NAME_ADDRESS, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"{name}: no DNS in the tests")

    monkeypatch.setattr(socket, "getaddrinfo", local_only)


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True
