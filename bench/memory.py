"""Memory benchmark: the resident memory of one API worker after 100,000 requests, served by
the real `gunicorn -c gunicorn.conf.py wsgi:app` (one worker) on a throwaway PostgreSQL
database, compared with the same worker's memory after a warm-up.

    python -m bench.memory [--requests 100000] [--warmup 1000] [--clients 4]

A client firm, a queue and an integration's OAuth client are made with the project's services,
and three people who sign in to the web app: a BPO admin, an agent serving the queue and a
viewer of the firm; a few contacts are posted. Then `--clients` threads, each on its own
keep-alive `http.client` connection to 127.0.0.1, send a fixed cycle of 21 requests (MIX):
10 API calls (list contacts, get one contact, post a contact with an `Idempotency-Key`, one in
five a replay of an earlier key, `GET /healthz`); 8 server-rendered pages with the people's
session cookies (the console's firms overview, the firm's console page, its contacts, one
contact, the wallboard; the agent's desk; the viewer's dashboard and monthly report); and 3
live streams (server-sent events: the admin's and the agent's `/live`, the integration's event
stream), each on a new connection, read to its first message, then reset, so the worker sees
streams opened and dropped thousands of times (at most 64 held at once: gunicorn.conf.py gives
the worker 208 threads). Every answer must be the expected 200 or 201.
The worker is the gunicorn master's only child; its VmRSS (`/proc/<pid>/status`) and Pss
(`/proc/<pid>/smaps_rollup`) are read with no request in flight after the warm-up and at
every tenth of the run. Growth = RSS after the run / RSS after the warm-up; above
`--leak-ratio` (1.25) the run fails, as it does on any unexpected answer or a restarted worker.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
import uuid
from collections import Counter, deque
from datetime import timedelta

from bench.common import (
    HOST,
    AppSettings,
    _wait_until_ready,
    add_json_out,
    busy_before,
    create_migrated_app,
    exit_cleanly_on_sigterm,
    fmt,
    free_port,
    machine,
    memory_kib,
    postgres_version,
    print_table,
    ratio,
    start_gunicorn,
    stop_process_group,
    throwaway_database,
    today,
    workdir,
    worker_pid,
    write_result,
)
from bench.ingest import access_token, contact_body, set_up_firm
from bench.streams import Streams
from bench.web import PASSWORD, sign_in

# One cycle of the load, 21 requests: the API's ten (reads dominate, as they do for a client
# firm's dashboards and integrations; one POST in five replays the key and body of a seeded
# contact), eight server-rendered pages of three signed-in people, and three live streams
# opened and dropped. Kinds are spread over the cycle, so the client threads mix them.
MIX = (
    "list",
    "console",
    "get",
    "live admin",
    "healthz",
    "firm",
    "get",
    "contacts page",
    "list",
    "post",
    "events",
    "contact page",
    "get",
    "wallboard",
    "healthz",
    "desk",
    "live agent",
    "list",
    "dashboard",
    "post",
    "report",
)
# Pages: (person, path). The BPO admin sees the console's firms overview, the firm's console
# page, the firm's contacts and one contact, the wallboard; the agent their desk; the firm's
# viewer its dashboard and this month's report.
PAGES = {
    "console": ("admin", "/console/"),
    "firm": ("admin", "/console/firms/{tenant}"),
    "contacts page": ("admin", "/firms/{tenant}/contacts"),
    "contact page": ("admin", "/firms/{tenant}/contacts/{contact}"),
    "wallboard": ("admin", "/console/wallboard"),
    "desk": ("agent", "/desk/"),
    "dashboard": ("viewer", "/firms/{tenant}/dashboard"),
    "report": ("viewer", "/firms/{tenant}/reports/{month}"),
}
# Live streams: (person, path); the integration's stream (person None) carries its token.
STREAMS = {
    "live admin": ("admin", "/live"),
    "live agent": ("agent", "/live"),
    "events": (None, "/v1/tenants/{tenant}/events/stream"),
}
EXPECTED = {
    "list": 200,
    "get": 200,
    "healthz": 200,
    "post": 201,
    "replay": 201,
    **dict.fromkeys(PAGES, 200),
    **dict.fromkeys(STREAMS, 200),
}
# A stream is read until its first message (`retry:`, sent once it is subscribed; a heartbeat
# would take 15 s), then reset as a closed browser tab does. It asks to end after
# STREAM_SECONDS (`?max_seconds=`): the server then writes its `bye` to the reset connection,
# fails, and closes the stream, so each one holds a worker thread for about that long. At
# most HELD_STREAMS are opened within any STREAM_SECONDS + 1 s: far below the config's 200
# streams and 208 threads (gunicorn.conf.py), leaving threads for pages and API calls.
STREAM_SECONDS = 1
HELD_STREAMS = 64
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


# --- the load --------------------------------------------------------------------------------


def set_up_people(application, firm: dict) -> dict[str, str]:
    """A BPO admin, an agent serving the firm's queue and a viewer of the firm, each with
    PASSWORD, committed; their e-mails by person."""
    from app.agents import queue_assignments
    from app.agents import service as agents_service
    from app.auth.passwords import hash_password
    from app.db import db
    from tenants import service as tenants_service
    from tenants.scoping import tenant_scope, unscoped

    tag = uuid.uuid4().hex[:6]
    emails = {person: f"{person}-{tag}@bench.test" for person in ("admin", "agent", "viewer")}
    password_hash, actor = hash_password(PASSWORD), tenants_service.SYSTEM
    with application.app_context():
        with unscoped():
            tenants_service.create_user(
                email=emails["admin"],
                name="Bench BPO admin",
                role="bpo_admin",
                password_hash=password_hash,
                tenant_id=None,
                actor=actor,
            )
        agent = agents_service.create(
            agent_in={"email": emails["agent"], "name": "Bench agent", "channels": ["email"]},
            password_hash=password_hash,
            actor=actor,
        )
        with unscoped():
            queue_assignments.set_assignments(
                agent=agent,
                assignments_in=[{"queue_id": firm["queue_id"], "priority": 1}],
                actor=actor,
            )
        with tenant_scope(firm["tenant_id"]):
            tenants_service.create_user(
                email=emails["viewer"],
                name="Bench viewer",
                role="client_viewer",
                password_hash=password_hash,
                tenant_id=firm["tenant_id"],
                actor=actor,
            )
        db.session.commit()
    return emails


class StreamGate:
    """Lets a stream open when fewer than `limit` were opened within the last
    STREAM_SECONDS + 1 s (those the worker may still hold); counts the waits."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.opened: deque[float] = deque()
        self.lock = threading.Lock()
        self.waits = 0

    def enter(self) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                while self.opened and now - self.opened[0] > STREAM_SECONDS + 1:
                    self.opened.popleft()
                if len(self.opened) < self.limit:
                    self.opened.append(now)
                    return
                self.waits += 1
                pause = STREAM_SECONDS + 1 - (now - self.opened[0])
            time.sleep(max(pause, 0.01))


class Client:
    """Threads sending the mix over keep-alive connections (a stream on a connection of its
    own); counts answers per kind."""

    def __init__(self, *, port: int, clients: int, firm: dict, run: str, received_at: str):
        self.port = port
        self.clients = clients
        self.tenant = firm["tenant_id"]
        self.run = run
        self.received_at = received_at
        self.month = received_at[:7]
        self.token = ""
        self.cookies: dict[str, str] = {}  # session cookie by person
        self.ids: list[str] = []
        self.lock = threading.Lock()
        self.gate = StreamGate(HELD_STREAMS)
        self.unexpected: Counter = Counter()
        self.answers: Counter = Counter()
        self.reconnects = 0
        self.sample = ""

    def sign_in(self, base: str, emails: dict[str, str]) -> None:
        """Each person through the web sign-in, as a browser; keep their session cookies."""
        for person, email in emails.items():
            session, _landing = sign_in(base, email, PASSWORD)
            self.cookies[person] = session.cookies["switchboard_session"]
            session.close()

    def headers_of(self, person: str | None) -> dict[str, str]:
        if person is None:
            return {"Authorization": f"Bearer {self.token}"}
        return {"Cookie": f"switchboard_session={self.cookies[person]}"}

    def stream(self, kind: str) -> tuple[str, int, bytes]:
        """Open a stream, read its first message, reset it."""
        person, path = STREAMS[kind]
        path = path.format(tenant=self.tenant) + f"?max_seconds={STREAM_SECONDS}"
        self.gate.enter()
        streams = Streams(self.port, path, self.headers_of(person), 1)
        try:
            heard = streams.wait_for(b"retry:", timeout=60)
            (status_line,) = streams.status_lines()
            (head,) = streams.buffers.values()
        finally:
            streams.close(reset=True)
        parts = status_line.split()
        status = int(parts[1]) if heard and len(parts) > 1 and parts[1].isdigit() else 0
        return kind, status, f"{status_line}: {head!r}".encode()

    def request(self, n: int, conn: http.client.HTTPConnection) -> tuple[str, int, bytes]:
        kind = MIX[n % len(MIX)]
        if kind in STREAMS:
            return self.stream(kind)
        headers = self.headers_of(None)
        body = None
        base = f"/v1/tenants/{self.tenant}/contacts"
        if kind in PAGES:
            person, template = PAGES[kind]
            headers = self.headers_of(person)
            path = template.format(
                tenant=self.tenant, contact=self.ids[n % len(self.ids)], month=self.month
            )
        elif kind == "list":
            path = f"{base}?page={1 + n % 3}&page_size=20"
        elif kind == "get":
            path = f"{base}/{self.ids[n % len(self.ids)]}"
        elif kind == "healthz":
            path, headers = "/healthz", {}
        else:
            path = base
            # One POST in five is a client's retry of a seeded contact: the first answer again.
            cycle, place = divmod(n, len(MIX))
            ordinal = cycle * MIX.count("post") + MIX[:place].count("post")
            replay = ordinal % 5 == 0
            number = n % SEEDED if replay else SEEDED + n
            kind = "replay" if replay else "post"
            body = json.dumps(contact_body(number, run=self.run, received_at=self.received_at))
            headers |= {
                "Content-Type": "application/json",
                "Idempotency-Key": f"{self.run}-{number}",
            }
        method = "GET" if body is None else "POST"
        conn.request(method, path, body=body, headers=headers)
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
        seconds = time.perf_counter() - began
        # No stream the worker may still hold when its memory is read.
        time.sleep(STREAM_SECONDS + 1)
        return seconds

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
        emails = set_up_people(application, firm)
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
            client.sign_in(base, emails)
            print(f"worker {pid}: {args.warmup:,} warm-up requests ...", flush=True)
            client.send(0, args.warmup)
            warm_answers = Counter(client.answers)
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

    def by_kind(answers: Counter) -> Counter:
        kinds: Counter = Counter()
        for (kind, _status), count in answers.items():
            kinds[kind] += count
        return kinds

    measured, warmed = by_kind(client.answers - warm_answers), by_kind(warm_answers)
    rows += [
        (f"answers: {kind} ({EXPECTED[kind]})", fmt(measured[kind], 0), fmt(warmed[kind], 0), "")
        for kind in EXPECTED
    ]
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
        f"answers: the run's (and the warm-up's) by kind and expected status; "
        f"{sum(measured.values()):,} in the run; client reconnects {client.reconnects}; "
        f"streams held back at the gate {client.gate.waits}",
        "server: gunicorn -c gunicorn.conf.py wsgi:app --workers 1 (gthread, the config's "
        "threads), on a throwaway PostgreSQL database under RLS",
        f"{args.clients} client threads (http.client keep-alive); list = page of 20 newest; "
        f"post = Idempotency-Key, 1 in 5 a replay; pages with a web session cookie (BPO admin, "
        f"agent, client viewer); streams read to their first message, then reset "
        f"(max_seconds={STREAM_SECONDS}, at most {HELD_STREAMS} held); machine before: {busy}",
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
            "run_answers_by_kind": dict(measured),
        },
    )
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
