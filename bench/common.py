"""What both benchmarks share: a throwaway PostgreSQL database created and migrated the way
tests/conftest.py does it (an owner role migrates, a non-owner role that row-level security
applies to serves), the application bound to it, gunicorn in its own process group, a
keep-alive HTTP load generator on loopback, and the results table.

Everything here cleans up after itself in `finally` blocks: databases are dropped with
`WITH (FORCE)` and server process groups are terminated, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # everything binds and connects on loopback only
ADMIN_URL = os.environ.get(
    "SWITCHBOARD_BENCH_ADMIN_URL",
    os.environ.get("SWITCHBOARD_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
OWNER_ROLE = "switchboard_bench_owner"
APP_ROLE = "switchboard_bench_app"


# --- the database ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    name: str
    owner_url: str  # SQLAlchemy URLs (postgresql+psycopg://)
    app_url: str

    @property
    def owner_dsn(self) -> str:
        """The owner's URL for psycopg itself."""
        return self.owner_url.replace("postgresql+psycopg://", "postgresql://")

    @property
    def app_dsn(self) -> str:
        """The application role's URL for psycopg itself."""
        return self.app_url.replace("postgresql+psycopg://", "postgresql://")

    @property
    def admin_dsn(self) -> str:
        """The administrator's URL on this database: row-level security is forced even for
        the owner, so counting and copying every tenant's rows takes a superuser."""
        return ADMIN_URL.rsplit("/", 1)[0] + "/" + self.name


def _ensure_role(cur, name: str) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    if cur.fetchone() is None:
        try:
            cur.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                ).format(sql.Identifier(name))
            )
        except psycopg.errors.DuplicateObject:  # a concurrent run created it meanwhile
            pass


@contextmanager
def throwaway_database(label: str) -> Iterator[Database]:
    """Create an empty database owned by the owner role; drop it afterwards, whatever happens."""
    name = f"switchboard_bench_{label}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn, conn.cursor() as cur:
        _ensure_role(cur, OWNER_ROLE)
        _ensure_role(cur, APP_ROLE)
        cur.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(OWNER_ROLE)
            )
        )
    host = ADMIN_URL.split("@", 1)[1].rsplit("/", 1)[0]
    try:
        yield Database(
            name=name,
            owner_url=f"postgresql+psycopg://{OWNER_ROLE}@{host}/{name}",
            app_url=f"postgresql+psycopg://{APP_ROLE}@{host}/{name}",
        )
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def copy_table_as_reference(database: Database, *, source: str, reference: str) -> None:
    """Create `reference` with the columns, defaults, checks and indexes of `source`, but no
    foreign keys and no row-level security, owned by the owner role, and readable and writable
    by the app role."""
    with psycopg.connect(database.owner_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                sql.Identifier(reference), sql.Identifier(source)
            )
        )
        conn.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(
                sql.Identifier(reference), sql.Identifier(APP_ROLE)
            )
        )


# --- the application -------------------------------------------------------------------------


@dataclass
class AppSettings:
    """The configuration both the in-process app and the gunicorn workers run with."""

    database: Database
    issuer: str
    workdir: Path
    secret_key: str = field(default_factory=lambda: "bench-" + secrets.token_hex(16))

    @property
    def key_file(self) -> Path:
        return self.workdir / "jwt-es256.pem"

    def overrides(self) -> dict:
        return {
            "INSTANCE_PATH": str(self.workdir),
            "DATABASE_URL": self.database.app_url,
            "MIGRATION_DATABASE_URL": self.database.owner_url,
            "OAUTH_ISSUER": self.issuer,
            "SECRET_KEY": self.secret_key,
            "JWT_PRIVATE_KEY_FILE": str(self.key_file),
        }

    def environment(self) -> dict[str, str]:
        """The same settings as SWITCHBOARD_* variables, for `gunicorn wsgi:app`."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        for key, value in self.overrides().items():
            if key != "INSTANCE_PATH":  # create_app takes it only as an override
                env[f"SWITCHBOARD_{key}"] = value
        return env


def create_migrated_app(settings: AppSettings):
    """Write a signing key, build the app on the benchmark database, migrate it to head."""
    from joserfc.jwk import ECKey

    from app import create_app, migrate

    settings.workdir.mkdir(parents=True, exist_ok=True)
    if not settings.key_file.exists():
        settings.key_file.write_bytes(ECKey.generate_key("P-256").as_pem(private=True))
    application = create_app(settings.overrides())
    migrate.upgrade(application)
    return application


@contextmanager
def workdir(label: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"switchboard-bench-{label}-") as path:
        yield Path(path)


# --- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class ServerOptions:
    workers: int = 4
    threads: int = 4  # gthread: keep-alive connections need a threaded worker

    def describe(self) -> str:
        return f"gunicorn gthread, {self.workers} workers x {self.threads} threads"


@contextmanager
def gunicorn(
    app_spec: str,
    *,
    port: int,
    options: ServerOptions,
    env: dict[str, str],
    log_path: Path,
    ready_path: str = "/healthz",
) -> Iterator[str]:
    """Serve `app_spec` with gunicorn on 127.0.0.1:`port` in a process group of its own;
    yield its base URL; terminate the whole group afterwards."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(options.workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(options.threads),
        "--bind",
        f"{HOST}:{port}",
        "--keep-alive",
        "30",
        "--backlog",
        "1024",
        "--log-level",
        "warning",
        app_spec,
    ]
    base = f"http://{HOST}:{port}"
    with open(log_path, "ab") as log:
        # The server's own session, so that one killpg reaches the arbiter and every worker.
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_ready(base + ready_path, process, log_path)
        _wait_until_settled(process)
        yield base
    finally:
        stop_process_group(process)


def _wait_until_ready(url: str, process: subprocess.Popen, log_path: Path) -> None:
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited ({process.returncode}); see {log_path}:\n{_tail(log_path)}"
            )
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer {url} within 60 s:\n" + _tail(log_path))


def _wait_until_settled(process: subprocess.Popen, limit: float = 90.0) -> None:
    """Wait until the server's workers have all booted: the first one answering says nothing
    of the others, each still importing and building its app (about 5 s of CPU each for
    Switchboard on a slow core, milliseconds for the bare app), which the measured run would
    otherwise pay for. Settled: the whole process group idle (under 5 % of a CPU) for 1 s."""
    tick = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + limit
    previous, quiet = _group_cpu_ticks(process.pid), 0
    while time.monotonic() < deadline and quiet < 2:
        time.sleep(0.5)
        now = _group_cpu_ticks(process.pid)
        quiet = quiet + 1 if (now - previous) / tick < 0.025 else 0
        previous = now


def _group_cpu_ticks(group: int) -> int:
    """User + system CPU ticks of every process in a process group (Linux /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command may hold spaces and parentheses: the fields follow the last ')'.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_process_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group we started (gunicorn drains), SIGKILL it if it lingers."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # stragglers of the group, if any
    except ProcessLookupError:
        pass
    process.wait()


# --- one production worker (bench.memory, bench.streams) -------------------------------------


def start_gunicorn(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """The production command with the production config file, one worker, on loopback only
    (the command line overrides the file's bind and worker count)."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "gunicorn.conf.py",
        "--workers",
        "1",
        "--bind",
        f"{HOST}:{port}",
        "wsgi:app",
    ]
    with open(log_path, "ab") as log:
        # Its own session, so that one killpg reaches the arbiter and the worker.
        return subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def worker_pid(master: int) -> int:
    """The arbiter's one child (the worker), waiting a little for it to be forked."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children: list[int] = []
        for task in Path(f"/proc/{master}/task").iterdir():
            children += [int(pid) for pid in (task / "children").read_text().split()]
        if len(children) == 1:
            return children[0]
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn {master} has children {children}, expected one worker")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS counts every resident page of the worker; Pss splits pages shared with the arbiter
    (the interpreter, copy-on-write) between them, so it is the worker's own share."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            figures["rss"] = int(line.split()[1])
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            figures["pss"] = int(line.split()[1])
    return figures


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so the `finally` blocks drop databases and stop servers."""

    def _raise(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _raise)


# --- the load generator ----------------------------------------------------------------------


@dataclass
class LoadResult:
    ok: int
    statuses: Counter
    errors: Counter
    seconds: float
    latencies: list[float]
    cpu_seconds: float = 0.0  # the load generator's own CPU time: it shares the machine
    sample_error: str = ""
    success: int = 201  # the status that counts as done

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]

    @property
    def failed(self) -> int:
        wrong = sum(n for s, n in self.statuses.items() if s != self.success)
        return wrong + sum(self.errors.values())


def post_load(
    url: str,
    *,
    body: Callable[[int], dict] | None,
    headers: Callable[[int], dict[str, str]] | None = None,
    total: int,
    clients: int,
    max_seconds: float,
    first: int = 0,
    method: str = "POST",
    success: int = 201,
) -> LoadResult:
    """Send `total` requests (numbered `first`...; a JSON body each unless `body` is None) to
    `url` from `clients` threads, each on its own keep-alive session; stop early after
    `max_seconds`. Counts answers of status `success` as done."""
    import requests

    if not url.startswith(f"http://{HOST}:"):
        raise ValueError("the load generator talks to 127.0.0.1 only")
    lock = threading.Lock()
    counter = iter(range(first, first + total))
    statuses: Counter = Counter()
    errors: Counter = Counter()
    latencies: list[float] = []
    sample: list[str] = []
    start = threading.Event()
    deadline = [0.0]

    def next_number() -> int | None:
        with lock:
            return next(counter, None)

    def client() -> None:
        session = requests.Session()
        mine: list[float] = []
        seen: Counter = Counter()
        start.wait()
        try:
            while time.monotonic() < deadline[0]:
                n = next_number()
                if n is None:
                    break
                began = time.perf_counter()
                try:
                    response = session.request(
                        method,
                        url,
                        json=body(n) if body else None,
                        headers=headers(n) if headers else None,
                        timeout=30,
                    )
                except requests.RequestException as exc:
                    with lock:
                        errors[type(exc).__name__] += 1
                    continue
                mine.append(time.perf_counter() - began)
                seen[response.status_code] += 1
                if response.status_code != success and not sample:
                    sample.append(f"{response.status_code}: {response.text[:500]}")
        finally:
            session.close()
            with lock:
                statuses.update(seen)
                latencies.extend(mine)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    began, cpu_began = time.perf_counter(), time.process_time()
    deadline[0] = time.monotonic() + max_seconds
    start.set()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    cpu_seconds = time.process_time() - cpu_began
    return LoadResult(
        ok=statuses.get(success, 0),
        statuses=statuses,
        errors=errors,
        seconds=seconds,
        latencies=latencies,
        cpu_seconds=cpu_seconds,
        sample_error=sample[0] if sample else "",
        success=success,
    )


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# --- reporting -------------------------------------------------------------------------------


def person_token(application, base: str, user_id, *, name: str) -> str:
    """A bearer token for a script acting as the person `user_id` (as `flask api-clients
    create` makes one), fetched from the running server's `/oauth/token`."""
    import requests

    from app.auth.principal import principal_for_user
    from app.db import db
    from tenants import service as tenants_service
    from tenants.models import User
    from tenants.scoping import unscoped

    # The person's script belongs to the BPO, not to a tenant.
    with application.app_context(), unscoped():
        user = db.session.get(User, user_id)
        client, secret = tenants_service.create_api_client(
            name=name,
            scope=" ".join(sorted(principal_for_user(user).allowed_scopes())),
            user=user,
            actor=tenants_service.SYSTEM,
        )
        db.session.commit()
        client_id = client.client_id
    answer = requests.post(
        base + "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(client_id, secret),
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["access_token"]


def machine() -> str:
    """`nproc` and the CPU model, for the README's results."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}"


def busy_before() -> str:
    """How busy the machine is (all CPUs, one second's sample): other work skews every figure."""

    def sample() -> tuple[int, int]:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return 0, 0
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(1)
    total1, idle1 = sample()
    if total1 <= total0:
        return "unknown"
    return f"{100 * (1 - (idle1 - idle0) / (total1 - total0)):.0f}% CPU busy"


def postgres_version(database: Database) -> str:
    with psycopg.connect(database.owner_dsn) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ratio(ours: float, reference: float) -> str:
    """How our figure compares with the reference's, as a multiple."""
    if not reference or ours != ours or reference != reference:  # zero or NaN
        return "n/a"
    return f"{ours / reference:.2f}x"


def print_table(
    title: str,
    rows: list[tuple[str, str, str, str]],
    notes: list[str],
    header: tuple[str, str, str, str] = ("metric", "ours", "reference", "ratio"),
) -> None:
    """Print `metric | ours | reference | ratio` aligned, with notes under it."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]

    def line(cells) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "| " + " | ".join([first, *rest]) + " |"

    print(f"\n{title}")
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    for note in notes:
        print(f"  {note}")
    sys.stdout.flush()


# --- results for `make bench`'s summary (bench/table.py) -------------------------------------


def add_json_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json-out",
        metavar="PATH",
        help="also write the headline result as JSON here, for `python -m bench.table`",
    )


def non_default(args: argparse.Namespace, defaults: argparse.Namespace) -> dict:
    """The options this run changed: a run with any is not the full benchmark."""
    given, usual = vars(args), vars(defaults)
    return {k: v for k, v in given.items() if k != "json_out" and v != usual.get(k)}


def write_result(
    args: argparse.Namespace,
    defaults: argparse.Namespace,
    *,
    name: str,
    ours: tuple[float, str],
    reference: tuple[float, str, str],
    ok: bool,
    verdict: str,
    postgres: str,
    busy: str = "",
    details: dict | None = None,
) -> None:
    """Write the headline figure pair to `--json-out`, if given. `ours` is (value, unit),
    `reference` (value, unit, what the reference is); ratio = ours / reference."""
    if not getattr(args, "json_out", None):
        return
    ours_value, reference_value = ours[0], reference[0]
    finite = ours_value == ours_value and reference_value == reference_value
    result = {
        "name": name,
        "ours": {"value": ours_value if ours_value == ours_value else None, "unit": ours[1]},
        "reference": {
            "value": reference_value if reference_value == reference_value else None,
            "unit": reference[1],
            "what": reference[2],
        },
        "ratio": ours_value / reference_value if finite and reference_value else None,
        "ok": ok,
        "verdict": verdict,
        "non_default_options": non_default(args, defaults),
        "postgres": postgres,
        "busy_before": busy,
        "finished": today(),
        "details": details or {},
    }
    path = Path(args.json_out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value != value else f"{value:,.{digits}f}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
