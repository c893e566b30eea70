"""Memory benchmark: the resident memory of one API worker after 100,000 requests, served by
the real `gunicorn -c gunicorn.conf.py wsgi:app` (one worker) on a throwaway PostgreSQL
database, compared with the same worker's memory after a warm-up.

    python -m bench.memory [--requests 100000] [--warmup 1000] [--clients 4]

A client firm, a queue and an integration's OAuth client are made with the project's services
and a few contacts are posted; then `--clients` threads, each on its own keep-alive
`http.client` connection to 127.0.0.1, send a fixed mix: list contacts, get one contact, post a
contact with an `Idempotency-Key` (some of them replays of an earlier key), `GET /healthz`.
The worker is the gunicorn master's only child; its VmRSS (`/proc/<pid>/status`) and Pss
(`/proc/<pid>/smaps_rollup`) are read with no request in flight after the warm-up and at
every tenth of the run. Growth = RSS after the run / RSS after the warm-up; above
`--leak-ratio` (1.25) the run fails, as it does on any unexpected answer or a restarted worker.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

from bench.common import (
    HOST,
    ROOT,
    AppSettings,
    _wait_until_ready,
    add_json_out,
    busy_before,
    create_migrated_app,
    exit_cleanly_on_sigterm,
    fmt,
    free_port,
    machine,
    postgres_version,
    print_table,
    ratio,
    stop_process_group,
    throwaway_database,
    today,
    workdir,
    write_result,
)
from bench.ingest import access_token, contact_body, set_up_firm

# One cycle of the load: reads dominate, as they do for a client firm's dashboards and
# integrations; every fifth POST replays the key and body of a seeded contact.
MIX = ("list", "get", "healthz", "get", "list", "post", "get", "healthz", "list", "post")
EXPECTED = {"list": 200, "get": 200, "healthz": 200, "post": 201}
SEEDED = 50


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--requests", type=int, default=100_000, help="measured requests (100000)")
    parser.add_argument(
        "--warmup", type=int, default=1000, help="requests before the reference reading (1000)"
    )
    parser.add_argument("--clients", type=int, default=4, help="client threads (4)")
    parser.add_argument(
        "--leak-ratio",
        type=float,
        default=1.25,
        help="fail when RSS after the run / RSS after the warm-up is above this (1.25)",
    )
    add_json_out(parser)
    args = parser.parse_args(argv)
    if args.requests < 10 or args.warmup < 1 or args.clients < 1:
        parser.error("--requests must be at least 10, --warmup and --clients at least 1")
    return args


# --- the worker ------------------------------------------------------------------------------


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


# --- the load --------------------------------------------------------------------------------


class Client:
    """Threads sending the mix over keep-alive connections; counts answers per kind."""

    def __init__(self, *, port: int, clients: int, firm: dict, run: str, received_at: str):
        self.port = port
        self.clients = clients
        self.tenant = firm["tenant_id"]
        self.run = run
        self.received_at = received_at
        self.token = ""
        self.ids: list[str] = []
        self.lock = threading.Lock()
        self.unexpected: Counter = Counter()
        self.answers: Counter = Counter()
        self.reconnects = 0
        self.sample = ""

    def request(self, n: int, conn: http.client.HTTPConnection) -> tuple[str, int, bytes]:
        kind = MIX[n % len(MIX)]
        headers = {"Authorization": f"Bearer {self.token}"}
        body = None
        base = f"/v1/tenants/{self.tenant}/contacts"
        if kind == "list":
            path = f"{base}?page={1 + n % 3}&page_size=20"
        elif kind == "get":
            path = f"{base}/{self.ids[n % len(self.ids)]}"
        elif kind == "healthz":
            path, headers = "/healthz", {}
        else:
            path = base
            # Every fifth POST is a client's retry of a seeded contact: the first answer again.
            number = n % SEEDED if n % 5 == 0 else SEEDED + n
            body = json.dumps(contact_body(number, run=self.run, received_at=self.received_at))
            headers |= {
                "Content-Type": "application/json",
                "Idempotency-Key": f"{self.run}-{number}",
            }
        conn.request("POST" if kind == "post" else "GET", path, body=body, headers=headers)
        response = conn.getresponse()
        return kind, response.status, response.read()

    def send(self, first: int, total: int) -> float:
        """Requests `first` ... `first + total - 1` from the client threads; their seconds."""
        numbers = iter(range(first, first + total))

        def next_number() -> int | None:
            with self.lock:
                return next(numbers, None)

        def thread() -> None:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
            answers: Counter = Counter()
            try:
                while (n := next_number()) is not None:
                    try:
                        kind, status, data = self.request(n, conn)
                    except (OSError, http.client.HTTPException):
                        # The server closed an idle keep-alive connection: a new one, once.
                        conn.close()
                        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
                        with self.lock:
                            self.reconnects += 1
                        kind, status, data = self.request(n, conn)
                    answers[(kind, status)] += 1
                    if status != EXPECTED[kind]:
                        with self.lock:
                            self.unexpected[(kind, status)] += 1
                            self.sample = self.sample or f"{kind} {status}: {data[:300]!r}"
            except Exception as exc:  # a failed thread fails the run below
                with self.lock:
                    self.unexpected[("error", type(exc).__name__)] += 1
                    self.sample = self.sample or f"{type(exc).__name__}: {exc}"
            finally:
                conn.close()
                with self.lock:
                    self.answers.update(answers)

        threads = [threading.Thread(target=thread, daemon=True) for _ in range(self.clients)]
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - began

    def seed(self) -> None:
        """The contacts GETs read and POST replays repeat, posted with their keys."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        try:
            for number in range(SEEDED):
                body = contact_body(number, run=self.run, received_at=self.received_at)
                conn.request(
                    "POST",
                    f"/v1/tenants/{self.tenant}/contacts",
                    body=json.dumps(body),
                    headers={
                        "Authorization": f"Bearer {self.token}",
                        "Content-Type": "application/json",
                        "Idempotency-Key": f"{self.run}-{number}",
                    },
                )
                response = conn.getresponse()
                data = response.read()
                if response.status != 201:
                    raise RuntimeError(f"seeding answered {response.status}: {data[:500]!r}")
                self.ids.append(json.loads(data)["id"])
        finally:
            conn.close()


# --- the run ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_sigterm()
    busy = busy_before()
    run = f"mem-{uuid.uuid4().hex[:8]}"
    samples: list[dict] = []
    notes: list[str] = []
    # A tenth of the run between readings, and one at the middle (the 50k).
    marks = sorted({args.requests * k // 10 for k in range(1, 11)} | {args.requests // 2})
    with workdir("memory") as work, throwaway_database("memory") as database:
        port = free_port()
        settings = AppSettings(database=database, issuer=f"http://{HOST}:{port}", workdir=work)
        print(f"migrating {database.name} ...", flush=True)
        application = create_migrated_app(settings)
        firm = set_up_firm(application)
        from app.db import utcnow

        received_at = (utcnow() - timedelta(minutes=1)).isoformat()
        log_path = work / "gunicorn.log"
        server = start_gunicorn(port, settings.environment(), log_path)
        try:
            base = f"http://{HOST}:{port}"
            _wait_until_ready(base + "/healthz", server, log_path)
            pid = worker_pid(server.pid)
            client = Client(
                port=port, clients=args.clients, firm=firm, run=run, received_at=received_at
            )
            client.token = access_token(base, firm)
            client.seed()
            print(f"worker {pid}: {args.warmup:,} warm-up requests ...", flush=True)
            client.send(0, args.warmup)
            samples.append({"requests": 0, "pid": pid, **memory_kib(pid)})
            done, busy_seconds = 0, 0.0
            print(f"{args.requests:,} requests from {args.clients} client threads ...", flush=True)
            for mark in marks:
                # Tokens live 15 minutes; a slow machine's run outlives one.
                client.token = access_token(base, firm)
                busy_seconds += client.send(args.warmup + done, mark - done)
                done = mark
                now_pid = worker_pid(server.pid)
                samples.append({"requests": done, "pid": now_pid, **memory_kib(now_pid)})
                print(
                    f"  {done:>9,} requests  RSS {samples[-1]['rss'] / 1024:7.1f} MiB  "
                    f"PSS {samples[-1]['pss'] / 1024:7.1f} MiB  "
                    f"{done / busy_seconds:6.0f} requests/s",
                    flush=True,
                )
        finally:
            stop_process_group(server)
        pg = postgres_version(database)

    warm, middle = samples[0], next(s for s in samples if s["requests"] == args.requests // 2)
    last = samples[-1]
    growth = last["rss"] / warm["rss"]
    restarted = len({s["pid"] for s in samples}) > 1
    unexpected = sum(client.unexpected.values())
    leak = growth > args.leak_ratio
    good = not leak and not restarted and unexpected == 0
    rate = args.requests / busy_seconds

    def mib(kib: int) -> str:
        return fmt(kib / 1024, 1)

    rows = [
        ("worker RSS (MiB)", mib(last["rss"]), mib(warm["rss"]), ratio(last["rss"], warm["rss"])),
        ("worker PSS (MiB)", mib(last["pss"]), mib(warm["pss"]), ratio(last["pss"], warm["pss"])),
        (
            f"worker RSS at {middle['requests']:,} (MiB)",
            mib(middle["rss"]),
            mib(warm["rss"]),
            ratio(middle["rss"], warm["rss"]),
        ),
        ("requests/s (all client threads)", fmt(rate), "", ""),
        ("unexpected answers or errors (must be 0)", fmt(float(unexpected), 0), "", ""),
    ]
    by_kind = Counter()
    for (kind, _status), count in client.answers.items():
        by_kind[kind] += count
    notes += [
        f"growth {growth:.3f}x: "
        + (f"LEAK? above --leak-ratio {args.leak_ratio:g}" if leak else "no leak")
        + f" (limit {args.leak_ratio:g}x)",
        "RSS by tenth: " + ", ".join(mib(s["rss"]) for s in samples) + " MiB",
    ]
    if restarted:
        notes.append(f"FAILED: the worker was replaced during the run ({samples})")
    if unexpected:
        notes.append(f"FAILED: unexpected {dict(client.unexpected)}; first: {client.sample}")
    notes += [
        f"mix of {sum(by_kind.values()):,} answers: "
        + ", ".join(f"{kind} {n:,}" for kind, n in sorted(by_kind.items()))
        + f"; client reconnects {client.reconnects}",
        "server: gunicorn -c gunicorn.conf.py wsgi:app --workers 1 (gthread, the config's "
        "threads), on a throwaway PostgreSQL database under RLS",
        f"{args.clients} client threads (http.client keep-alive); list = page of 20 newest; "
        f"post = Idempotency-Key, 1 in 5 a replay; machine before the run: {busy}",
        f"{machine()}; PostgreSQL {pg}; {today()}",
    ]
    print_table(
        f"Memory: one API worker after {args.requests:,} requests",
        rows,
        notes,
        header=("metric", f"after {args.requests:,}", "after warm-up", "ratio"),
    )
    verdict = f"{'LEAK? ' if leak else 'ok: '}RSS grew {growth:.2f}x (limit {args.leak_ratio:g}x)"
    if restarted:
        verdict = "FAILED: the worker was replaced"
    elif unexpected:
        verdict = f"FAILED: {unexpected} unexpected answers; " + verdict
    write_result(
        args,
        parse_args([]),
        name="memory",
        ours=(last["rss"] / 1024, "MiB RSS"),
        reference=(warm["rss"] / 1024, "MiB RSS", f"after {args.warmup:,}-request warm-up"),
        ok=good,
        verdict=verdict,
        postgres=pg,
        busy=busy,
        details={
            "samples_kib": samples,
            "requests_per_second": rate,
            "answers": {f"{k} {s}": n for (k, s), n in sorted(client.answers.items())},
        },
    )
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
