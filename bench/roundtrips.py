"""Where a hot request's time goes to the database: the statements (round trips) one contact
intake and one claim-next make, each listed with its share, counted on the app's own engine.

    .venv/bin/python -m bench.roundtrips                # intake and claim, 20 requests each
    .venv/bin/python -m bench.roundtrips --requests 5 --show 40
    .venv/bin/python -m bench.roundtrips --profile 25   # and where the Python time goes
    .venv/bin/python -m bench.roundtrips --firms 10 --waiting 2000  # ten firms, a backlog

Runs the real app in-process (Flask's test client: no HTTP, so only the app and PostgreSQL
count) on a throwaway database under row-level security, as the other benchmarks do. Prints,
per request kind, the mean statements per request and the statements of the last request in
order, normalised (literals out), so what repeats stands out. Issue 20's first step.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import re
import sys
import time
import uuid
from collections import Counter, defaultdict

from sqlalchemy import event

from bench.common import AppSettings, create_migrated_app, throwaway_database, workdir
from bench.ingest import contact_body, set_up_firm

# How much of each statement is shown.
WIDTH = 160
_LITERAL = re.compile(r"'[^']*'|\b\d+\b")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="requests of each kind")
    parser.add_argument("--show", type=int, default=60, help="statements of one request shown")
    parser.add_argument(
        "--firms",
        type=int,
        default=1,
        help="client firms the contacts go to and the agent serves (several: the firms' turn)",
    )
    parser.add_argument(
        "--waiting",
        type=int,
        default=0,
        help="contacts more queued (not measured) before the claims, to choose among",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also profile each kind (cProfile) and print its N costliest functions",
    )
    parser.add_argument(
        "--dump-profile",
        metavar="PREFIX",
        help="with --profile, also write each kind's profile to PREFIX-intake.pstats and "
        "PREFIX-claim.pstats (for pstats or snakeviz)",
    )
    return parser.parse_args(argv)


class Profile:
    """cProfile over the measured requests of one kind, with their wall and CPU time."""

    def __init__(self, top: int) -> None:
        self.top = top
        self.profiler = cProfile.Profile() if top else None
        self.wall = self.cpu = 0.0
        self.requests = 0

    def __call__(self, send):
        wall, cpu = time.perf_counter(), time.process_time()
        if self.profiler:
            self.profiler.enable()
        try:
            return send()
        finally:
            if self.profiler:
                self.profiler.disable()
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu
            self.requests += 1

    def dump(self, path: str | None) -> None:
        if self.profiler and path:
            self.profiler.dump_stats(path)
            print(f"   profile written to {path}")

    def report(self) -> None:
        shown = " (under the profiler: both inflated)" if self.profiler else ""
        print(
            f"   {self.wall / self.requests * 1000:.1f} ms wall, "
            f"{self.cpu / self.requests * 1000:.1f} ms CPU of this process per request{shown}"
        )
        if self.profiler:
            stats = pstats.Stats(self.profiler, stream=sys.stdout)
            calls = sum(stat[1] for stat in stats.stats.values())
            print(f"   {calls / self.requests:,.0f} Python calls per request (steadier than time)")
            print("   -- time of their own, by package")
            by_package = _by_package(stats)
            total = sum(by_package.values()) or 1.0
            for package, seconds in by_package.most_common(12):
                print(
                    f"   {package:32s} {seconds * 1000 / self.requests:6.2f} ms "
                    f"{seconds / total:6.1%}"
                )
            print(f"   -- the {self.top} functions with the most time of their own")
            stats.sort_stats("tottime").print_stats(self.top)
            # Past the framework's wrappers: which of our own steps the time goes through.
            print(f"   -- the {self.top} functions of Switchboard with the most time inside")
            stats.sort_stats("cumulative").print_stats(r"/(app|tenants|billing)/", self.top)


def _by_package(stats: pstats.Stats) -> Counter:
    """Each function's own time summed by the package it is in: the framework's share."""
    packages: Counter = Counter()
    for (path, _line, _name), (_cc, _nc, own, _cum, _callers) in stats.stats.items():
        if "/site-packages/" in path:
            package = path.split("/site-packages/")[1].split("/")[0]
        elif "/lib/python3" in path:
            package = "python: " + path.rsplit("/", 1)[-1]
        elif path.startswith("~") or path.startswith("<"):
            package = "builtins"
        else:
            package = "switchboard: " + path.split("/")[-2]
        packages[package] += own
    return packages


class Recorder:
    """Every statement the engine sends, and each transaction's begin and end; and how long
    each statement took from sending to its answer (the database's share of a request: the
    requests run one at a time, so that is PostgreSQL's work and the loopback)."""

    def __init__(self, engine) -> None:
        self.statements: list[str] = []
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self._sent = 0.0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "after_cursor_execute", self._answered)
        event.listen(engine, "begin", lambda conn: self.statements.append("BEGIN"))
        event.listen(engine, "commit", lambda conn: self.statements.append("COMMIT"))
        event.listen(engine, "rollback", lambda conn: self.statements.append("ROLLBACK"))

    def _statement(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(_LITERAL.sub("?", " ".join(statement.split()))[:WIDTH])
        self._sent = time.perf_counter()

    def _answered(self, conn, cursor, statement, parameters, context, executemany):
        self.seconds[self.statements[-1]].append(time.perf_counter() - self._sent)

    def take(self) -> list[str]:
        taken, self.statements = self.statements, []
        return taken

    def take_seconds(self) -> dict[str, list[float]]:
        taken, self.seconds = self.seconds, defaultdict(list)
        return taken


def _token(client, client_id: str, secret: str) -> str:
    import base64

    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["access_token"]


def _agent(application, firms: list[dict]) -> tuple[str, str]:
    """An agent working the firms' queues, available, with room for every claim; its client."""
    from app.agents import presence as agent_presence
    from app.agents import queue_assignments
    from app.agents import service as agents_service
    from app.auth.principal import principal_for_user
    from app.db import db
    from tenants import service as tenants_service
    from tenants.models import User
    from tenants.scoping import unscoped

    system = tenants_service.SYSTEM
    channels = ["voice", "chat", "email", "web", "social"]
    with application.app_context():
        agent = agents_service.create(
            agent_in={
                "email": f"agent-{uuid.uuid4().hex[:6]}@bench.example",
                "name": "Bench agent",
                "channels": channels,
                "concurrency": dict.fromkeys(channels, 999),
                "languages": ["es"],
            },
            password_hash=None,
            actor=system,
        )
        queue_ids = [firm["queue_id"] for firm in firms]
        queue_assignments.set_assignments(
            agent=agent,
            assignments_in=[{"queue_id": q, "priority": 1} for q in queue_ids],
            actor=system,
        )
        agent_presence.set_presence(agent=agent, presence="available", actor=system)
        agent_presence.set_active_queues(agent=agent, queue_ids=queue_ids, actor=system)
        db.session.commit()
        user = db.session.get(User, agent.user_id)
        scope = " ".join(sorted(principal_for_user(user).allowed_scopes()))
        # Staff scripts belong to the BPO itself, not to a tenant.
        with unscoped():
            client, secret = tenants_service.create_api_client(
                name="benchmark agent", scope=scope, user=user, actor=system
            )
        db.session.commit()
        return client.client_id, secret


def _report_seconds(seconds: dict[str, list[float]], requests: int, top: int = 5) -> None:
    total = sum(sum(times) for times in seconds.values())
    print(f"   {total / requests * 1000:.2f} ms per request waiting on the database; the most:")
    costliest = sorted(seconds.items(), key=lambda item: -sum(item[1]))[:top]
    for statement, times in costliest:
        print(f"   {sum(times) / requests * 1000:7.2f} ms  {statement[:100]}")


def _report(kind: str, requests: list[list[str]], show: int) -> None:
    counts = [sum(1 for s in r if s not in ("BEGIN", "COMMIT", "ROLLBACK")) for r in requests]
    print(
        f"\n== {kind}: {sum(counts) / len(counts):.1f} statements per request "
        f"(min {min(counts)}, max {max(counts)}), "
        f"{sum(r.count('BEGIN') for r in requests) / len(requests):.1f} transactions"
    )
    last = requests[-1]
    for n, statement in enumerate(last[:show], start=1):
        print(f"{n:3d}  {statement}")
    repeated = Counter(last)
    twice = [(s, c) for s, c in repeated.items() if c > 1 and s not in ("BEGIN", "COMMIT")]
    if twice:
        print("   repeated within the request:")
        for statement, count in sorted(twice, key=lambda x: -x[1]):
            print(f"   {count}x {statement}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with throwaway_database("roundtrips") as database, workdir("roundtrips") as path:
        settings = AppSettings(database=database, issuer="http://127.0.0.1:1", workdir=path)
        application = create_migrated_app(settings)
        firms = [set_up_firm(application) for _ in range(args.firms)]
        agent_client = _agent(application, firms)
        from app.db import db

        with application.app_context():
            recorder = Recorder(db.engine)
        client = application.test_client()
        logging.disable(logging.INFO)  # a log line per request would drown the figures
        # Each firm's integration posts to its own firm, in turn.
        tokens = [_token(client, firm["client_id"], firm["client_secret"]) for firm in firms]
        posts = [
            (f"/v1/tenants/{firm['tenant_id']}/contacts", {"Authorization": f"Bearer {token}"})
            for firm, token in zip(firms, tokens, strict=True)
        ]
        intake, profile = [], Profile(args.profile)
        for n in range(args.requests + 1):
            recorder.take()
            body = contact_body(n, run="rt", received_at="2026-12-01T10:00:00Z")
            url, headers = posts[n % len(posts)]
            send = lambda body=body, url=url, headers=headers: client.post(  # noqa: E731
                url, json=body, headers=headers
            )
            # The first warms caches.
            response = profile(send) if n else send()
            assert response.status_code == 201, response.get_data(as_text=True)
            if n:
                intake.append(recorder.take())
            else:
                recorder.take_seconds()
        _report("POST /v1/tenants/{id}/contacts", intake, args.show)
        _report_seconds(recorder.take_seconds(), args.requests)
        profile.report()
        profile.dump(args.dump_profile and f"{args.dump_profile}-intake.pstats")
        # A backlog for the claims to choose from (a firm's best is picked among its waiting).
        for n in range(args.waiting):
            url, headers = posts[n % len(posts)]
            body = contact_body(n, run="backlog", received_at="2026-12-01T09:00:00Z")
            response = client.post(url, json=body, headers=headers)
            assert response.status_code == 201, response.get_data(as_text=True)
        agent_headers = {"Authorization": f"Bearer {_token(client, *agent_client)}"}
        claims, profile = [], Profile(args.profile)
        for n in range(args.requests + 1):
            recorder.take()
            send = lambda: client.post("/v1/me/next", headers=agent_headers)  # noqa: E731
            response = profile(send) if n else send()
            assert response.status_code == 200, response.get_data(as_text=True)
            if n:
                claims.append(recorder.take())
            else:
                recorder.take_seconds()
        _report("POST /v1/me/next", claims, args.show)
        _report_seconds(recorder.take_seconds(), args.requests)
        profile.report()
        profile.dump(args.dump_profile and f"{args.dump_profile}-claim.pstats")
    return 0


if __name__ == "__main__":
    sys.exit(main())
