"""Ingest benchmark: contacts per second through `POST /v1/tenants/{tenant_id}/contacts`,
served by gunicorn against a real PostgreSQL database, beside a bare Flask + SQLAlchemy insert
endpoint (bench/bare_app.py) served with the same gunicorn settings.

    python -m bench.ingest [--requests 5000] [--clients 16] [--workers 4] [--threads 4]

The database is created, migrated and dropped by the run. A client firm, one queue taking every
channel, and an integration's OAuth client are made with the project's services; the token comes
from the real `/oauth/token` (client credentials), so every measured request validates a JWT.
The load generator is Python threads, each on its own keep-alive `requests.Session`, on
127.0.0.1 only; it stops at `--requests` or `--max-seconds`, whichever comes first.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import timedelta

import psycopg
from psycopg import sql

from bench.common import (
    AppSettings,
    LoadResult,
    ServerOptions,
    add_json_out,
    basic_auth,
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

INTAKE_RULE = "/v1/tenants/<uuid:tenant_id>/contacts"
REFERENCE_TABLE = "bench_ref_contacts"
CHANNELS = ("email", "chat", "web", "voice", "social")
CATEGORIES = (
    "complaint",
    "information_request",
    "claim",
    "order_request",
    "incident",
    "suggestion",
    "compliment",
)
PRIORITIES = ("normal", "high", "low", "normal", "urgent")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--requests", type=int, default=5000, help="POSTs per side (5000)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured POSTs first (200)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections (16)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (4)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4)")
    parser.add_argument(
        "--max-seconds", type=float, default=45, help="stop a side's measured run after (45)"
    )
    parser.add_argument(
        "--idempotency-key",
        action="store_true",
        help="also send an Idempotency-Key header on every Switchboard request",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="measure without the ANALYZE after the warm-up (as a never-analysed database)",
    )
    parser.add_argument(
        "--no-ceiling",
        action="store_true",
        help="skip the integration's authenticated GET of one contact (the ceiling)",
    )
    parser.add_argument(
        "--only",
        choices=("ours", "reference"),
        help="measure one side only (e.g. to rerun it alone)",
    )
    add_json_out(parser)
    return parser.parse_args(argv)


def contact_body(n: int, *, run: str, received_at: str) -> dict:
    """The n-th contact: channels, categories and priorities in rotation, returning customers."""
    channel, category = CHANNELS[n % len(CHANNELS)], CATEGORIES[n % len(CATEGORIES)]
    if category == "claim" and channel == "voice":
        channel = "email"  # claims are written
    customer = n % 997  # some customers come back: intake counts their contacts
    body = {
        "external_id": f"{run}-{n}",
        "channel": channel,
        "category": category,
        "priority": PRIORITIES[n % len(PRIORITIES)],
        "language": "es",
        "subject": f"Pedido {100000 + n}",
        "body": "El paquete llegó con la caja abierta y falta uno de los artículos del pedido.",
        "customer": {
            "name": f"Cliente {customer}",
            "email": f"cliente{customer}@example.test",
            "phone": "+34 600 123 456",
            "ref": f"C-{customer}",
        },
        "received_at": received_at,
    }
    if category == "claim":
        body["remedy_requested"] = "Reembolso del artículo que falta."
    return body


def set_up_firm(application) -> dict:
    """A client firm with one queue for every channel and an integration client, committed."""
    from app.auth.permissions import ROLE_SCOPES
    from app.db import db
    from app.queues import service as queues_service
    from tenants import service as tenants_service
    from tenants.scoping import tenant_scope

    with application.app_context():
        tenant = tenants_service.create(
            tenant_in={
                "slug": f"bench-{uuid.uuid4().hex[:8]}",
                "name": "Benchmark Retail S.L.",
                "time_zone": "Europe/Madrid",
                "locale": "es-ES",
                "currency": "EUR",
            },
            actor=tenants_service.SYSTEM,
        )
        with tenant_scope(tenant.id):
            queue = queues_service.create(
                queue_in={"name": "Todo", "channels": list(CHANNELS)},
                actor=tenants_service.SYSTEM,
            )
            client, secret = tenants_service.create_api_client(
                name="benchmark integration",
                tenant_id=tenant.id,
                scope=" ".join(sorted(ROLE_SCOPES["integration"])),
                actor=tenants_service.SYSTEM,
            )
        db.session.commit()
        return {
            "tenant_id": tenant.id,
            "queue_id": queue.id,
            "client_id": client.client_id,
            "client_secret": secret,
        }


def access_token(base: str, firm: dict) -> str:
    """Client credentials at the real token endpoint of the server under test."""
    import requests

    response = requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(firm["client_id"], firm["client_secret"]),
        timeout=30,
    )
    if response.status_code != 200:
        raise RuntimeError(f"/oauth/token answered {response.status_code}: {response.text}")
    return response.json()["access_token"]


def count_rows(database, table: str, tenant_id: uuid.UUID, run: str) -> int:
    with psycopg.connect(database.admin_dsn) as conn:
        query = sql.SQL("SELECT count(*) FROM {} WHERE tenant_id = %s AND external_id LIKE %s")
        return conn.execute(
            query.format(sql.Identifier(table)), (tenant_id, f"{run}-%")
        ).fetchone()[0]


def run_side(
    url: str, args, *, database, run: str, received_at: str, headers=None
) -> tuple[LoadResult, int]:
    """Warm up (unmeasured), analyse, then measure; return the measurement and the warm-up's
    201s."""

    def body(n: int) -> dict:
        return contact_body(n, run=run, received_at=received_at)

    warm_ok = 0
    if args.warmup:
        warm = post_load(
            url,
            body=body,
            headers=headers,
            total=args.warmup,
            clients=args.clients,
            max_seconds=args.max_seconds,
        )
        if warm.ok == 0:
            raise RuntimeError(f"no request succeeded while warming up {url}: {warm.sample_error}")
        warm_ok = warm.ok
    if not args.no_analyze:
        analyze(database)
    measured = post_load(
        url,
        body=body,
        headers=headers,
        total=args.requests,
        clients=args.clients,
        max_seconds=args.max_seconds,
        first=args.warmup,
    )
    return measured, warm_ok


def analyze(database) -> None:
    """What autovacuum does in service (it is off on the project's test machine): without
    statistics, PostgreSQL plans against a table it takes for empty, and the plans it keeps
    then read every row of the firm as the table grows (the foreign keys' checks of the search
    terms went through the customer-ref index: 67M index rows read for 3,000 intakes)."""
    with psycopg.connect(database.admin_dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")


def measure_ceiling(url: str, args, *, token: str, received_at: str) -> LoadResult:
    """The integration's cheapest authenticated request: `GET` of one contact it made, with
    the same token, client threads and workers. Whatever it costs over the bare insert (the
    JWT, the client and its revocation, the firm's scope, RLS, one read, the JSON) every
    request of the integration pays before its own work, intake included."""
    import requests

    # Its external id is not the run's: the rows counted for the intake's 201s stay the same.
    body = contact_body(0, run=f"ceiling-{uuid.uuid4().hex[:8]}", received_at=received_at)
    headers = {"Authorization": f"Bearer {token}"}
    made = requests.post(url, json=body, headers=headers, timeout=30)
    if made.status_code != 201:
        raise RuntimeError(f"the ceiling's contact: {made.status_code}: {made.text[:500]}")
    one = f"{url}/{made.json()['id']}"

    def load(total: int, first: int = 0) -> LoadResult:
        return post_load(
            one,
            body=None,
            headers=lambda n: headers,
            total=total,
            clients=args.clients,
            max_seconds=args.max_seconds,
            first=first,
            method="GET",
            success=200,
        )

    if args.warmup:
        load(args.warmup)
    return load(args.requests, args.warmup)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_sigterm()
    # Other work on a small machine skews every figure: say how busy it was.
    busy = busy_before()
    options = ServerOptions(workers=args.workers, threads=args.threads)
    run = f"bench-{uuid.uuid4().hex[:8]}"
    ours: LoadResult | None = None
    reference: LoadResult | None = None
    ceiling: LoadResult | None = None
    rows_ours = rows_reference = 0
    notes: list[str] = []
    with workdir("ingest") as work, throwaway_database("ingest") as database:
        port = free_port()
        settings = AppSettings(database=database, issuer=f"http://127.0.0.1:{port}", workdir=work)
        print(f"migrating {database.name} ...", flush=True)
        application = create_migrated_app(settings)
        firm = set_up_firm(application)
        copy_table_as_reference(database, source="contacts", reference=REFERENCE_TABLE)
        # A minute ago: intake refuses times in the future, and the clocks are the same here.
        from app.db import utcnow

        received_at = (utcnow() - timedelta(minutes=1)).isoformat()
        has_intake = any(
            rule.rule == INTAKE_RULE and "POST" in rule.methods
            for rule in application.url_map.iter_rules()
        )

        if args.only == "reference":
            notes.append("NOT MEASURED: Switchboard (--only reference).")
        elif has_intake:
            with gunicorn(
                "wsgi:app",
                port=port,
                options=options,
                env=settings.environment(),
                log_path=work / "gunicorn-switchboard.log",
            ) as base:
                token = access_token(base, firm)
                url = f"{base}/v1/tenants/{firm['tenant_id']}/contacts"

                def headers(n: int) -> dict[str, str]:
                    sent = {"Authorization": f"Bearer {token}"}
                    if args.idempotency_key:
                        sent["Idempotency-Key"] = f"{run}-{n}"
                    return sent

                print(f"Switchboard: {args.requests} POSTs to {url} ...", flush=True)
                ours, warm_ok = run_side(
                    url,
                    args,
                    database=database,
                    run=run,
                    received_at=received_at,
                    headers=headers,
                )
                if not args.no_ceiling:
                    print(f"Switchboard: {args.requests} GETs of one contact ...", flush=True)
                    ceiling = measure_ceiling(url, args, token=token, received_at=received_at)
            # Every 201 made exactly one row: no more (idempotency), no fewer (lost writes).
            rows_ours = count_rows(database, "contacts", firm["tenant_id"], run) - warm_ok
        else:
            notes.append(f"NOT MEASURED: the app has no POST {INTAKE_RULE} yet.")

        def finish(good: bool, pg: str) -> int:
            notes.append(f"machine before the run: {busy}")
            report(args, options, ours, reference, rows_ours, rows_reference, notes, pg, ceiling)
            summarise(
                args,
                ours,
                reference,
                rows_ours,
                rows_reference,
                good=good,
                pg=pg,
                busy=busy,
                ceiling=ceiling,
            )
            return 0 if good else 1

        if args.only == "ours":
            notes.append("NOT MEASURED: the reference (--only ours).")
            good = ours is not None and not ours.failed and rows_ours == ours.ok
            good = good and not (ceiling is not None and ceiling.failed)
            return finish(good, postgres_version(database))
        env = {
            **settings.environment(),
            "BENCH_REF_DATABASE_URL": database.app_url,
            "BENCH_REF_TABLE": REFERENCE_TABLE,
            "BENCH_REF_TENANT_ID": str(firm["tenant_id"]),
            "BENCH_REF_QUEUE_ID": str(firm["queue_id"]),
        }
        with gunicorn(
            "bench.bare_app:app",
            port=free_port(),
            options=options,
            env=env,
            log_path=work / "gunicorn-reference.log",
        ) as base:
            url = f"{base}/contacts"
            print(f"reference: {args.requests} POSTs to {url} ...", flush=True)
            reference, warm_ok = run_side(
                url, args, database=database, run=run, received_at=received_at
            )
        rows_reference = count_rows(database, REFERENCE_TABLE, firm["tenant_id"], run) - warm_ok
        pg = postgres_version(database)

    failed = any(
        result is not None and (result.failed or rows != result.ok)
        for result, rows in ((ours, rows_ours), (reference, rows_reference))
    )
    bad = failed or (ours is None and args.only != "reference")
    bad = bad or (ceiling is not None and bool(ceiling.failed))
    return finish(not bad, pg)


def summarise(
    args,
    ours,
    reference,
    rows_ours,
    rows_reference,
    *,
    good: bool,
    pg: str,
    busy: str,
    ceiling: LoadResult | None = None,
) -> None:
    """The headline pair for `make bench`'s table: contacts/s, ours beside the bare insert."""
    checks = []
    sides = (("ours", ours, rows_ours), ("reference", reference, rows_reference))
    for label, result, rows in sides:
        if result is None:
            checks.append(f"{label} not measured")
        elif result.failed:
            checks.append(f"{label}: {result.failed} not 201")
        elif rows != result.ok:
            checks.append(f"{label}: {rows} rows for {result.ok} 201s")
    if ceiling is not None and ceiling.failed:
        checks.append(f"ceiling: {ceiling.failed} not 200")
    answered = ours.ok + ours.failed if ours is not None else 0
    verdict = "ok: every answer 201, rows = 201s" if good and not checks else "; ".join(checks)
    if good and ours is not None and answered < args.requests:
        verdict += f" ({answered:,} of {args.requests:,} in --max-seconds)"
    ceiling_ratio = None
    if ceiling is not None and reference is not None and reference.rate:
        ceiling_ratio = ceiling.rate / reference.rate
        verdict += (
            f"; the integration's authenticated GET of one contact: {ceiling.rate:,.1f}/s, "
            f"{ceiling_ratio:.2f}x"
        )
    write_result(
        args,
        parse_args([]),
        name="ingest",
        ours=(ours.rate if ours is not None else float("nan"), "contacts/s"),
        reference=(
            reference.rate if reference is not None else float("nan"),
            "contacts/s",
            "bare Flask + one INSERT, same gunicorn",
        ),
        ok=good,
        verdict=verdict,
        postgres=pg,
        busy=busy,
        details={
            "latency_p50_ms": ours.latency_ms(0.5) if ours else None,
            "latency_p99_ms": ours.latency_ms(0.99) if ours else None,
            "reference_latency_p50_ms": reference.latency_ms(0.5) if reference else None,
            "requests": answered,
            "ceiling_per_second": ceiling.rate if ceiling else None,
            "ceiling_ratio": ceiling_ratio,
            "ceiling_failed": ceiling.failed if ceiling else None,
        },
    )


def report(args, options, ours, reference, rows_ours, rows_reference, notes, pg, ceiling) -> None:
    def value(result: LoadResult | None, get) -> float:
        return get(result) if result is not None else float("nan")

    def row(metric: str, get, digits: int = 1, compare: bool = True) -> tuple[str, ...]:
        a, b = value(ours, get), value(reference, get)
        return (metric, fmt(a, digits), fmt(b, digits), ratio(a, b) if compare else "")

    rows = [
        row("contacts/s (201 Created)", lambda r: r.rate),
        row("latency p50 (ms)", lambda r: r.latency_ms(0.50)),
        row("latency p99 (ms)", lambda r: r.latency_ms(0.99)),
        row("requests answered 201", lambda r: float(r.ok), 0, compare=False),
        row("other answers or errors", lambda r: float(r.failed), 0, compare=False),
        (
            "rows written by measured 201s (DB)",
            fmt(float(rows_ours), 0) if ours else "n/a",
            fmt(float(rows_reference), 0) if reference else "n/a",
            "",
        ),
        row("measured seconds", lambda r: r.seconds, 2, compare=False),
        row("load generator CPU seconds", lambda r: r.cpu_seconds, 2, compare=False),
    ]
    if ceiling is not None:
        rate, bare = ceiling.rate, value(reference, lambda r: r.rate)
        rows.append(
            ("ceiling: GET one contact/s (200 OK)", fmt(rate), fmt(bare), ratio(rate, bare))
        )
        rows.append(("ceiling: latency p99 (ms)", fmt(ceiling.latency_ms(0.99)), "", ""))
        if ceiling.failed:
            notes.append(
                f"ceiling: answers {dict(ceiling.statuses)}, errors {dict(ceiling.errors)}; "
                f"first non-200: {ceiling.sample_error}"
            )
        notes.append(
            "ceiling: the integration's GET of one contact with the same token, the cheapest "
            "request it can make (JWT, client and revocation, scope, RLS, one read), beside the "
            "bare insert: no intake can be faster"
        )
    for label, result in (("Switchboard", ours), ("reference", reference)):
        answered = result.ok + result.failed if result is not None else args.requests
        if answered < args.requests:
            notes.append(
                f"{label}: stopped by --max-seconds {args.max_seconds:g} after {answered} "
                f"of {args.requests} requests"
            )
    for label, result in (("Switchboard", ours), ("reference", reference)):
        if result is not None and result.failed:
            notes.append(
                f"{label}: answers {dict(result.statuses)}, errors {dict(result.errors)}; "
                f"first non-201: {result.sample_error}"
            )
    notes += [
        f"ours: POST /v1/tenants/{{id}}/contacts (JWT, scope, routing, idempotency on "
        f"external_id{', Idempotency-Key' if args.idempotency_key else ''}, events, RLS)",
        f"reference: bench/bare_app.py, one INSERT into {REFERENCE_TABLE} "
        "(LIKE contacts INCLUDING ALL: same columns and indexes, no FKs, no RLS)",
        f"both: {options.describe()}; {args.clients} client threads (requests keep-alive), "
        f"{args.warmup} warm-up + {args.requests} measured POSTs each, 127.0.0.1",
        f"{machine()}; PostgreSQL {pg}; {today()}",
    ]
    print_table("Ingest: POST contacts", rows, notes)


if __name__ == "__main__":
    sys.exit(main())
