"""A private PostgreSQL 15 cluster for tests that restart or crash the server.

The shared server on 127.0.0.1:5432 serves every other test run, so it is never restarted;
a fault test starts its own cluster in a temporary directory (initdb, trust authentication,
fsync off), makes the owner and app roles and a database as tests/conftest.py does, and then
restarts it (`pg_ctl restart -m fast`) or crashes it (`pg_ctl stop -m immediate`: no
checkpoint, crash recovery on the next start) as often as it likes. initdb refuses to run as
root, so under root every server command runs as the `postgres` OS user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.conftest import APP_ROLE, OWNER_ROLE, _ensure_role

PG_BIN = Path(os.environ.get("SWITCHBOARD_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """One PostgreSQL server of our own: its data directory, port and the URLs to reach it."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = port
        self.admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self._as_server_user = os.geteuid() == 0

    # --- the server ------------------------------------------------------------------------

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if self._as_server_user:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}\n{self.log_tail()}"
            )

    def _options(self) -> str:
        return (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = self._options()
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, *, down_seconds: float = 0.0) -> None:
        """A clean restart: sessions are ended, the server checkpoints and comes back."""
        self.stop("fast")
        time.sleep(down_seconds)
        self.start()

    def crash(self, *, down_seconds: float = 0.0) -> None:
        """Kill the server with no shutdown checkpoint; it recovers from its WAL on start."""
        self.stop("immediate")
        time.sleep(down_seconds)
        self.start()

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def url_of(self, database: str) -> str:
        """A psycopg URL for the superuser on `database` (row-level security does not bind)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    # --- a database like the test harness's ------------------------------------------------

    def create_database(self, name: str) -> dict[str, str]:
        """Make the owner and app roles and a database owned by the owner; return the URLs
        (`owner` migrates, `app` is what the app connects as, under row-level security)."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn, conn.cursor() as cur:
            _ensure_role(cur, OWNER_ROLE)
            _ensure_role(cur, APP_ROLE)
            cur.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(OWNER_ROLE)
                )
            )
        host = f"127.0.0.1:{self.port}"
        return {
            "name": name,
            "owner": f"postgresql+psycopg://{OWNER_ROLE}@{host}/{name}",
            "app": f"postgresql+psycopg://{APP_ROLE}@{host}/{name}",
        }


@contextmanager
def private_cluster() -> Iterator[PgCluster]:
    """Start a throwaway cluster on a free loopback port; stop and delete it afterwards."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL server binaries in {PG_BIN} (set SWITCHBOARD_TEST_PG_BIN)")
    directory = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
    cluster = PgCluster(directory, free_port())
    if cluster._as_server_user:
        server = pwd.getpwnam(SERVER_USER)
        os.chown(directory, server.pw_uid, server.pw_gid)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop("immediate")
        except RuntimeError:
            pass  # never started, or already down
        shutil.rmtree(directory, ignore_errors=True)
