"""Claim benchmark: N agents drain M contacts waiting in Q queues of F client firms, every agent
serving every queue, through the claim-next service (`app.contacts.routing.claim_next`, called
directly, one application context and one commit per claim, as `POST /v1/me/next` would),
beside a raw `SELECT ... FOR UPDATE SKIP LOCKED` + `UPDATE` loop in psycopg on an equivalent
table; then checks every contact was claimed exactly once.

    python -m bench.claim [--contacts 2000] [--agents 8] [--firms 10] [--queues 20]
                          [--via service|http]

With `--via service` (the default) each agent is a separate process with its own application,
engine and database session (the reference: its own psycopg connection), so the agents contend
in PostgreSQL, not on Python's GIL; processes are started and connected before the clock
starts. With `--via http` the agents are threads calling `POST /v1/me/next` on gunicorn, each
with its own keep-alive connection and its own access token from the real `/oauth/token`.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections import Counter
from datetime import timedelta

import psycopg

from bench.claim_agents import (
    REFERENCE_TABLE,
    access_tokens,
    drain,
    drain_http,
    reference_agent,
    service_agent,
)
from bench.common import (
    HOST,
    AppSettings,
    LoadResult,
    ServerOptions,
    add_json_out,
    busy_before,
    copy_table_as_reference,
    create_migrated_app,
    exit_cleanly_on_sigterm,
    fmt,
    free_port,
    gunicorn,
    machine,
    post_load,
    postgres_version,
    print_table,
    ratio,
    throwaway_database,
    today,
    workdir,
    write_result,
)

CHANNELS = ("email", "chat", "web", "voice", "social")
PRIORITIES = ("normal", "high", "low", "normal", "urgent")
PRIORITY_RANK = {"low": 1, "normal": 2, "high": 3, "urgent": 4}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.claim", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--contacts", type=int, default=2000, help="contacts queued (2000)")
    parser.add_argument("--agents", type=int, default=8, help="agents, one process each (8)")
    parser.add_argument("--firms", type=int, default=10, help="client firms (10)")
    parser.add_argument("--queues", type=int, default=20, help="queues, spread over the firms (20)")
    parser.add_argument(
        "--max-seconds", type=float, default=90, help="give up on a side after (90)"
    )
    parser.add_argument(
        "--via",
        choices=("service", "http"),
        default="service",
        help="claim through the service in processes (default) or POST /v1/me/next",
    )
    parser.add_argument(
        "--no-ceiling",
        action="store_true",
        help="skip the agents' GET /v1/me over HTTP (the ceiling)",
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers, http (4)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker, http (4)")
    add_json_out(parser)
    return parser.parse_args(argv)


# --- set-up ----------------------------------------------------------------------------------


def set_up(application, *, contacts: int, agents: int, firms: int = 1, queues: int = 1) -> dict:
    """`firms` client firms, `queues` queues dealt out among them, `contacts` waiting contacts
    dealt out among the queues, and `agents` available agents assigned to every queue and
    taking work from all of them, each with an OAuth client acting as it (as `flask
    api-clients create` makes), all made with the project's services."""
    from app.agents import presence as agent_presence
    from app.agents import queue_assignments
    from app.agents import service as agents_service
    from app.auth.principal import principal_for_user
    from app.contacts.models import Contact
    from app.db import db, utcnow
    from app.queues import service as queues_service
    from tenants import service as tenants_service
    from tenants.models import User
    from tenants.scoping import tenant_scope, unscoped

    if not 1 <= firms <= queues:
        raise SystemExit("--firms must be at least 1 and at most --queues")
    system = tenants_service.SYSTEM
    with application.app_context():
        tenant_ids = []
        for n in range(firms):
            tenant = tenants_service.create(
                tenant_in={
                    "slug": f"bench-{n}-{uuid.uuid4().hex[:8]}",
                    "name": f"Benchmark Firm {n} S.A.",
                    "time_zone": "Europe/Madrid",
                    "locale": "es-ES",
                    "currency": "EUR",
                },
                actor=system,
            )
            tenant_ids.append(tenant.id)
        db.session.commit()
        queue_ids = []  # (tenant, queue), queue n in firm n % firms
        for n in range(queues):
            tenant_id = tenant_ids[n % firms]
            with tenant_scope(tenant_id):
                queue = queues_service.create(
                    queue_in={"name": f"Cola {n}", "channels": list(CHANNELS)}, actor=system
                )
                queue_ids.append((tenant_id, queue.id))
        db.session.commit()

        now = utcnow()
        start = now - timedelta(seconds=contacts)
        for n in range(contacts):
            tenant_id, queue_id = queue_ids[n % queues]
            priority = PRIORITIES[n % len(PRIORITIES)]
            arrived = start + timedelta(milliseconds=500 * n)
            with tenant_scope(tenant_id):
                db.session.add(
                    Contact(
                        external_id=f"bench-{n}",
                        channel=CHANNELS[n % len(CHANNELS)],
                        direction="inbound",
                        category="information_request",
                        priority=priority,
                        priority_rank=PRIORITY_RANK[priority],
                        language="es",
                        subject=f"Consulta {n}",
                        queue_id=queue_id,
                        status="queued",
                        status_since=arrived,
                        received_at=arrived,
                        queued_at=arrived,
                    )
                )
        db.session.commit()
        every_queue = [queue_id for _, queue_id in queue_ids]

        agent_ids = []
        for n in range(agents):
            agent = agents_service.create(
                agent_in={
                    "email": f"agent-{n}-{uuid.uuid4().hex[:6]}@bench.example",
                    "name": f"Agent {n}",
                    "channels": list(CHANNELS),
                    # Room for the whole queue: the drain measures claiming, and an agent
                    # never stops because it holds its maximum (real agents finish work).
                    "concurrency": dict.fromkeys(CHANNELS, contacts),
                    "languages": ["es"],
                },
                password_hash=None,
                actor=system,
            )
            queue_assignments.set_assignments(
                agent=agent,
                assignments_in=[{"queue_id": q, "priority": 1} for q in every_queue],
                actor=system,
            )
            agent_presence.set_presence(agent=agent, presence="available", actor=system)
            agent_presence.set_active_queues(agent=agent, queue_ids=every_queue, actor=system)
            agent_ids.append((agent.id, agent.user_id))
        db.session.commit()
        clients = []
        for agent_id, user_id in agent_ids:
            user = db.session.get(User, user_id)
            scope = " ".join(sorted(principal_for_user(user).allowed_scopes()))
            # Staff scripts belong to the BPO itself, not to a tenant.
            with unscoped():
                client, secret = tenants_service.create_api_client(
                    name="benchmark agent", scope=scope, user=user, actor=system
                )
            clients.append((agent_id, client.client_id, secret))
        db.session.commit()
    return {
        "tenant_ids": tenant_ids,
        "queue_ids": every_queue,
        "agents": agent_ids,
        "clients": clients,
    }


def copy_contacts_to_reference(database) -> None:
    """The same waiting contacts, row for row, in the reference table."""
    copy_table_as_reference(database, source="contacts", reference=REFERENCE_TABLE)
    with psycopg.connect(database.admin_dsn) as conn:
        conn.execute(f"INSERT INTO {REFERENCE_TABLE} SELECT * FROM contacts")  # noqa: S608
        conn.execute(f"ANALYZE {REFERENCE_TABLE}")
        conn.execute("ANALYZE contacts")


# --- verification ----------------------------------------------------------------------------


def verify(database, *, table: str, outcome: dict, expected: int, events: bool) -> dict:
    """Every contact claimed exactly once: by the agents' own accounts and by the database."""
    reported = Counter(cid for ids in outcome["claimed"].values() for cid in ids)
    with psycopg.connect(database.admin_dsn) as conn:
        rows = conn.execute(f"SELECT id, status, agent_id FROM {table}").fetchall()  # noqa: S608
        in_events = 0
        if events:
            # The service records one `claim` event per claim: two for a contact is a double.
            in_events = conn.execute(
                "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM contact_events "
                "WHERE action = 'claim' GROUP BY contact_id HAVING count(*) > 1) AS d"
            ).fetchone()[0]
    holder = {cid: agent for cid, _, agent in rows}
    # Three views of a double claim, each enough on its own: a contact two agents report,
    # a contact with two claim events, a claim the database credits to another agent (one
    # claim overwrote the other). They overlap, so the largest is the count.
    doubles = max(
        sum(n - 1 for n in reported.values() if n > 1),
        int(in_events),
        sum(
            1
            for agent, ids in outcome["claimed"].items()
            for cid in ids
            if holder.get(cid) != agent
        ),
    )
    unclaimed = sum(1 for _, status, agent in rows if status != "assigned" or agent is None)
    return {
        "rows": len(rows),
        "claims": sum(reported.values()),
        "distinct": len(reported),
        "doubles": doubles,
        "unclaimed": unclaimed,
        "exactly_once": len(rows) == expected
        and len(reported) == expected
        and doubles == 0
        and unclaimed == 0,
    }


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_sigterm()
    # Other work on a small machine skews every figure: say how busy it was.
    busy = busy_before()
    notes: list[str] = []
    ours = ours_check = ceiling = None
    with workdir("claim") as work, throwaway_database("claim") as database:
        port = free_port()
        settings = AppSettings(database=database, issuer=f"http://{HOST}:{port}", workdir=work)
        print(f"migrating {database.name} ...", flush=True)
        application = create_migrated_app(settings)
        try:
            from app.contacts import routing  # absent until claim-next lands
        except ImportError:
            routing = None
        print(
            f"queueing {args.contacts} contacts in {args.queues} queues of {args.firms} firms "
            f"for {args.agents} agents ...",
            flush=True,
        )
        setup = set_up(
            application,
            contacts=args.contacts,
            agents=args.agents,
            firms=args.firms,
            queues=args.queues,
        )
        copy_contacts_to_reference(database)

        if routing is not None and hasattr(routing, "claim_next"):
            if args.via == "service":
                print("Switchboard: draining through claim_next ...", flush=True)
                overrides = settings.overrides()
                ours = drain(
                    service_agent,
                    [(overrides, agent_id, user_id) for agent_id, user_id in setup["agents"]],
                    max_seconds=args.max_seconds,
                )
            else:
                with gunicorn(
                    "wsgi:app",
                    port=port,
                    options=ServerOptions(workers=args.workers, threads=args.threads),
                    env=settings.environment(),
                    log_path=work / "gunicorn-switchboard.log",
                ) as base:
                    tokens = access_tokens(base, setup["clients"])
                    print(f"Switchboard: draining through {base}/v1/me/next ...", flush=True)
                    ours = drain_http(
                        base,
                        tokens,
                        waiting_dsn=database.admin_dsn,
                        max_seconds=args.max_seconds,
                    )
            ours_check = verify(
                database, table="contacts", outcome=ours, expected=args.contacts, events=True
            )
            if not args.no_ceiling:
                with gunicorn(
                    "wsgi:app",
                    port=free_port(),
                    options=ServerOptions(workers=args.workers, threads=args.threads),
                    env=settings.environment(),
                    log_path=work / "gunicorn-ceiling.log",
                ) as base:
                    print(f"Switchboard: {args.contacts} GETs of {base}/v1/me ...", flush=True)
                    ceiling = measure_ceiling(base, access_tokens(base, setup["clients"]), args)
        else:
            notes.append("NOT MEASURED: app.contacts.routing.claim_next does not exist yet.")

        print("reference: draining with SKIP LOCKED ...", flush=True)
        params = {"queue_ids": setup["queue_ids"], "channels": list(CHANNELS)}
        reference = drain(
            reference_agent,
            [(database.app_dsn, params, agent_id) for agent_id, _ in setup["agents"]],
            max_seconds=args.max_seconds,
        )
        reference_check = verify(
            database, table=REFERENCE_TABLE, outcome=reference, expected=args.contacts, events=False
        )
        pg = postgres_version(database)

    notes.append(f"machine before the run: {busy}")
    report(args, ours, ours_check, reference, reference_check, notes, pg, ceiling)
    checks = [c for c in (ours_check, reference_check) if c is not None]
    # A double claim fails the run; so does a drain that did not finish (too slow a machine
    # for --max-seconds, or agents that errored): the exactly-once check could not complete.
    good = ours is not None and all(c["exactly_once"] for c in checks)
    good = good and not (ceiling is not None and ceiling.failed)
    summarise(
        args,
        ours,
        ours_check,
        reference,
        reference_check,
        good=good,
        pg=pg,
        busy=busy,
        ceiling=ceiling,
    )
    return 0 if good else 1


def measure_ceiling(base: str, tokens: list[tuple], args) -> LoadResult:
    """The agents' cheapest request over HTTP: `GET /v1/me` (the token, the person, its
    memberships and assignments), as many as there are contacts, from one thread per agent on
    the same gunicorn settings as `--via http`. No claim over HTTP can be faster."""
    headers = [{"Authorization": f"Bearer {token}"} for _, token in tokens]

    def load(total: int, first: int = 0) -> LoadResult:
        return post_load(
            f"{base}/v1/me",
            body=None,
            headers=lambda n: headers[n % len(headers)],
            total=total,
            clients=len(headers),
            max_seconds=args.max_seconds,
            first=first,
            method="GET",
            success=200,
        )

    load(min(200, args.contacts))  # unmeasured: the workers' first requests
    return load(args.contacts)


def summarise(
    args,
    ours,
    ours_check,
    reference,
    reference_check,
    *,
    good: bool,
    pg: str,
    busy: str,
    ceiling: LoadResult | None = None,
):
    """The headline pair for `make bench`'s table: claims/s, ours beside SKIP LOCKED, and the
    double claims, which must be 0 on both sides."""

    def rate(outcome, check) -> float:
        if outcome is None or check is None or not outcome["seconds"]:
            return float("nan")
        return check["distinct"] / outcome["seconds"]

    if ours_check is None:
        verdict = "not measured"
    else:
        doubles = (
            f"double claims: ours {ours_check['doubles']}, SKIP LOCKED {reference_check['doubles']}"
        )
        unclaimed = ours_check["unclaimed"] + reference_check["unclaimed"]
        verdict = ("ok: " if good else "FAILED: ") + doubles
        if unclaimed:
            verdict += f"; {unclaimed} left unclaimed"
    ceiling_ratio = None
    reference_rate = rate(reference, reference_check)
    if ceiling is not None and reference_rate == reference_rate and reference_rate:
        ceiling_ratio = ceiling.rate / reference_rate
        verdict += f"; the agents' GET /v1/me: {ceiling.rate:,.1f}/s, {ceiling_ratio:.2f}x"
        if ceiling.failed:
            verdict += f" ({ceiling.failed} not 200)"
    write_result(
        args,
        parse_args([]),
        name="claim",
        ours=(rate(ours, ours_check), "claims/s"),
        reference=(rate(reference, reference_check), "claims/s", "raw SKIP LOCKED loop"),
        ok=good,
        verdict=verdict,
        postgres=pg,
        busy=busy,
        details={
            "via": args.via,
            "agents": args.agents,
            "contacts": args.contacts,
            "firms": args.firms,
            "queues": args.queues,
            "double_claims": ours_check["doubles"] if ours_check else None,
            "reference_double_claims": reference_check["doubles"],
            "ceiling_per_second": ceiling.rate if ceiling else None,
            "ceiling_ratio": ceiling_ratio,
            "ceiling_failed": ceiling.failed if ceiling else None,
        },
    )


def report(args, ours, ours_check, reference, reference_check, notes, pg, ceiling=None) -> None:
    def rate(outcome, check) -> float:
        if outcome is None or not outcome["seconds"]:
            return float("nan")
        return check["distinct"] / outcome["seconds"]

    def cell(check, key) -> str:
        return fmt(float(check[key]), 0) if check is not None else "n/a"

    def per_claim_ms(claims_per_second: float) -> float:
        # Each agent waits this long, on average, for each of its claims.
        if not claims_per_second or claims_per_second != claims_per_second:
            return float("nan")
        return 1000 * args.agents / claims_per_second

    ours_rate, reference_rate = rate(ours, ours_check), rate(reference, reference_check)
    ours_ms, reference_ms = per_claim_ms(ours_rate), per_claim_ms(reference_rate)
    rows = [
        ("claims/s", fmt(ours_rate), fmt(reference_rate), ratio(ours_rate, reference_rate)),
        (
            "mean ms per claim per agent",
            fmt(ours_ms, 2),
            fmt(reference_ms, 2),
            ratio(ours_ms, reference_ms),
        ),
        ("contacts claimed", cell(ours_check, "distinct"), cell(reference_check, "distinct"), ""),
        (
            "double claims (must be 0)",
            cell(ours_check, "doubles"),
            cell(reference_check, "doubles"),
            "",
        ),
        ("left unclaimed", cell(ours_check, "unclaimed"), cell(reference_check, "unclaimed"), ""),
        (
            "errors in agents",
            fmt(float(sum(ours["errors"].values())), 0) if ours else "n/a",
            fmt(float(sum(reference["errors"].values())), 0),
            "",
        ),
        (
            "drain seconds",
            fmt(ours["seconds"], 2) if ours else "n/a",
            fmt(reference["seconds"], 2),
            "",
        ),
    ]
    if ceiling is not None:
        rows.append(
            (
                "ceiling: GET /v1/me/s",
                fmt(ceiling.rate),
                fmt(reference_rate),
                ratio(ceiling.rate, reference_rate),
            )
        )
        notes.append(
            f"ceiling: the agents' GET /v1/me over HTTP ({args.workers} workers x "
            f"{args.threads} threads, {args.agents} threads), their cheapest request, beside "
            "the raw loop: no claim over HTTP can be faster"
        )
        if ceiling.failed:
            notes.append(
                f"ceiling: answers {dict(ceiling.statuses)}, errors {dict(ceiling.errors)}; "
                f"first non-200: {ceiling.sample_error}"
            )
    for label, outcome, check in (
        ("Switchboard", ours, ours_check),
        ("reference", reference, reference_check),
    ):
        if outcome is None:
            continue
        if outcome["errors"]:
            notes.append(f"{label}: agent errors {dict(outcome['errors'])}")
        if outcome["timed_out"]:
            notes.append(f"{label}: gave up after --max-seconds {args.max_seconds}")
        if check["exactly_once"]:
            verdict = "every contact claimed exactly once"
        elif check["doubles"]:
            verdict = f"FAILED: {check['doubles']} double claim(s)"
        else:
            verdict = f"INCOMPLETE: {check['unclaimed']} contact(s) left unclaimed, none twice"
        notes.append(f"{label}: {verdict} ({check['claims']} claims of {check['rows']} rows)")
    if args.via == "service":
        how = (
            f"ours: app.contacts.routing.claim_next in {args.agents} processes (no HTTP); "
            "per claim one app context, Agent load, claim_next, commit"
        )
    else:
        how = (
            f"ours: POST /v1/me/next on gunicorn gthread {args.workers} workers x "
            f"{args.threads} threads, {args.agents} agent threads (requests keep-alive, JWT)"
        )
    notes += [
        how,
        f"reference: psycopg SELECT ... FOR UPDATE SKIP LOCKED + UPDATE on {REFERENCE_TABLE} "
        "(LIKE contacts INCLUDING ALL, same rows; no FKs, no RLS, no event)",
        f"reference: {args.agents} agent processes; both: {args.contacts} contacts, "
        f"5 channels x 4 priorities, {args.queues} queues of {args.firms} client firms, "
        "every agent serving every queue",
        f"{machine()}; PostgreSQL {pg}; {today()}",
    ]
    print_table("Claim: N agents drain the queues of several firms", rows, notes)


if __name__ == "__main__":
    sys.exit(main())
