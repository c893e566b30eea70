"""Portfolio benchmark: a year of contacts (20,000,000 by default, with their SLA clocks) spread
over client firms (50) of uneven size, one of them big (10% of the volume); then, for the big
firm's last whole month, issue 20's two reads, each against the 1 s target:

1. the big firm's SLA report by day and by channel (`app.reports.sla.sla_report`, as
   `GET .../reports/sla?granularity=day&group_by=channel` runs it minus HTTP, and as
   bench/report.py times it), and the same by day and by queue (`group_by=queue`), from the
   contacts (before the worker's first pass) and from the daily roll-ups (after it); each
   must be the same report both ways;
2. the portfolio of every firm as a BPO admin sees it (`app.reports.portfolio.portfolio`, with
   the tenants, periods and scope `GET /v1/reports/portfolio?from=...&to=...` gives it), read
   from the contacts (before the worker's first pass) and from the daily roll-ups (after it).

    python -m bench.portfolio [--firms 50] [--contacts 20000000] [--repeat 3] [--month YYYY-MM]

The firms are onboarded with the project's services (bench/yeardata.py); the contacts and clocks
are drawn inside PostgreSQL, one `INSERT ... SELECT` per table (seeded), as a superuser, then
vacuumed and analysed: building them is not what is measured. Each read runs as the
application's role under row-level security in an app context, once to warm the cache, then
`--repeat` times measured. The portfolio's received, handled, answered and abandoned counts of
every firm must equal a plain `GROUP BY tenant_id` over its own local month.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from bench.common import (
    HOST,
    AppSettings,
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
    throwaway_database,
    today,
    workdir,
    write_result,
)
from bench.report import alternate, run_service
from bench.yeardata import (
    TIME_ZONE,
    add_agents,
    generate,
    local_midnight,
    month_bounds,
    onboard_firm,
)

TARGET_SECONDS = 1.0
# Firms other than the big one take turns between these zones, so that each firm's month is
# its own local month (the portfolio's periods differ by firm). Lisbon is an hour behind
# Madrid: its last contacts of the year still fall before "now", Madrid's midnight.
ZONES = (TIME_ZONE, "Europe/Lisbon")
# Database bytes per contact with its clocks, indexes included: 1,646 measured at 200,000
# (PostgreSQL 15); free space below this times 1.3 (WAL, vacuum) refuses to start.
BYTES_PER_CONTACT = 1_700
COUNTS = ("received", "handled", "answered", "abandoned")
# What the worker's first pass writes, counted after it (every firm's rows, as a superuser).
ROLLUP_TABLES = ("report_days", "report_durations", "report_departures", "report_agent_days")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.portfolio", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--firms", type=int, default=50, help="client firms (50)")
    parser.add_argument(
        "--contacts", type=int, default=20_000_000, help="contacts over the year (20000000)"
    )
    parser.add_argument(
        "--big-share",
        type=float,
        default=0.10,
        help="the big firm's share of the contacts (0.10; at least 2 / firms)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per read (3)")
    parser.add_argument(
        "--month",
        help="the month reported, YYYY-MM (default: the last whole month of the data)",
    )
    parser.add_argument("--seed", type=float, default=0.42, help="PostgreSQL setseed (0.42)")
    add_json_out(parser)
    args = parser.parse_args(argv)
    if args.firms < 2 or args.contacts < 1000 * args.firms or args.repeat < 1:
        parser.error("--firms at least 2, --contacts at least 1000 a firm, --repeat at least 1")
    if not 0 < args.big_share < 1:
        parser.error("--big-share must be between 0 and 1")
    return args


def sizes(contacts: int, firms: int, big_share: float) -> list[int]:
    """Contacts per firm: the big firm first, the others falling off as 1 / sqrt(rank) (the
    second about 5 times the last at 50 firms), summing to `contacts`."""
    big = round(contacts * max(big_share, 2 / firms))
    weights = [1 / (rank + 1) ** 0.5 for rank in range(1, firms)]
    rest = [int((contacts - big) * w / sum(weights)) for w in weights]
    rest[0] += contacts - big - sum(rest)
    return [big, *rest]


def check_disk(database, contacts: int) -> tuple[int | None, int]:
    """Free bytes where PostgreSQL keeps its data (None if it cannot be read from here), and the
    bytes this run needs; exit before generating anything if they are not there."""
    with psycopg.connect(database.admin_dsn) as conn:
        directory = conn.execute("SHOW data_directory").fetchone()[0]
    needed = int(contacts * BYTES_PER_CONTACT * 1.3)
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return None, needed
    if free < needed:
        sys.exit(
            f"not enough disk for {contacts:,} contacts: about {needed / 2**30:.1f} GiB needed "
            f"in {directory}, {free / 2**30:.1f} GiB free"
        )
    return free, needed


# --- set-up ----------------------------------------------------------------------------------


def set_up(application, counts: list[int]) -> list[dict]:
    """The firms, onboarded with the project's services; the big one has the agents, whom the
    others' contacts name too (a BPO's agents serve several firms; who handled a contact is not
    what these reads count)."""
    run = uuid.uuid4().hex[:6]
    firms = []
    for n, contacts in enumerate(counts):
        firm = onboard_firm(
            application,
            slug=f"bench-portfolio-{run}-{n:02d}",
            name=f"Firma {n:02d}" if n else "Firma 00 (la grande)",
            time_zone=TIME_ZONE if n == 0 else ZONES[n % len(ZONES)],
        )
        firms.append({**firm, "contacts": contacts})
    firms[0]["agents"] = add_agents(application, firms[0])
    return firms


# --- the reads -------------------------------------------------------------------------------


def run_portfolio(application, *, first: date, following: date, now: datetime) -> list[dict]:
    """The portfolio as GET /v1/reports/portfolio?from=first&to=following computes it for a BPO
    admin: every firm, each over its own local month, in a scope spanning exactly them."""
    from app.auth.principal import Principal
    from app.db import db
    from app.reports.periods import MAX_PLAIN_RANGE_DAYS, resolve_period, zone_of
    from app.reports.portfolio import overseen_tenant_ids, portfolio, visible_tenants
    from tenants.scoping import tenants_scope

    admin = Principal(client_id="bench", user_id=None, platform_roles=frozenset({"bpo_admin"}))
    with application.app_context():
        tenants = visible_tenants(tenant_ids=overseen_tenant_ids(admin))
        periods = {
            tenant.id: resolve_period(
                zone=zone_of(tenant),
                from_=first,
                to=following,
                max_days=MAX_PLAIN_RANGE_DAYS,
                now=now,
            )
            for tenant in tenants
        }
        with tenants_scope(tenant.id for tenant in tenants):
            rows = portfolio(tenants=tenants, periods=periods, now=now)
        db.session.rollback()
    return rows


def roll_up(application, now: datetime) -> float:
    """The worker's first pass over every firm: seconds."""
    from app.db import db
    from app.reports import rollups

    with application.app_context():
        began = time.perf_counter()
        rollups.refresh(now=now)
        db.session.commit()
        return time.perf_counter() - began


# The same four counts the portfolio shows, plain: per firm over its own [start, end).
PLAIN_COUNTS = """
SELECT c.tenant_id,
    count(*) AS received,
    count(*) FILTER (WHERE (c.answered_at IS NOT NULL OR c.first_response_at IS NOT NULL)
                       AND (c.resolved_at IS NOT NULL OR c.closed_at IS NOT NULL)) AS handled,
    count(*) FILTER (WHERE c.channel IN ('voice', 'chat') AND c.direction = 'inbound'
                       AND c.answered_at IS NOT NULL) AS answered,
    count(*) FILTER (WHERE c.channel IN ('voice', 'chat') AND c.direction = 'inbound'
                       AND c.abandoned_at IS NOT NULL) AS abandoned
FROM contacts AS c
JOIN unnest(%(ids)s::uuid[], %(starts)s::timestamptz[], %(ends)s::timestamptz[])
    AS p (tenant_id, starts, ends)
    ON p.tenant_id = c.tenant_id AND c.received_at >= p.starts AND c.received_at < p.ends
GROUP BY c.tenant_id
"""


def plain_counts(database, firms: list[dict], first: date, following: date) -> tuple[dict, float]:
    """tenant id -> the four counts, from PLAIN_COUNTS as a superuser; and its seconds."""
    params = {"ids": [], "starts": [], "ends": []}
    for firm in firms:
        zone = ZoneInfo(firm["time_zone"])
        params["ids"].append(firm["tenant_id"])
        params["starts"].append(local_midnight(first, zone))
        params["ends"].append(local_midnight(following, zone))
    with psycopg.connect(database.admin_dsn) as conn:
        began = time.perf_counter()
        rows = conn.execute(PLAIN_COUNTS, params).fetchall()
        took = time.perf_counter() - began
    return {row[0]: dict(zip(COUNTS, row[1:], strict=True)) for row in rows}, took


def disagreements(rows: list[dict], expected: dict, label: str) -> list[str]:
    """Where the portfolio's counts differ from the plain ones, firm by firm."""
    found = []
    seen = {row["tenant_id"] for row in rows}
    found += [f"{label}: firm {t} missing from the portfolio" for t in set(expected) - seen]
    for row in rows:
        plain = expected.get(row["tenant_id"], dict.fromkeys(COUNTS, 0))
        for name in COUNTS:
            if row[name] != plain[name]:
                found.append(f"{label}: {row['slug']} {name}: {row[name]} != SQL {plain[name]}")
    return found


# --- main ------------------------------------------------------------------------------------


def median_best(seconds: list[float]) -> tuple[float, float]:
    return statistics.median(seconds), min(seconds)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_sigterm()
    busy = busy_before()
    zone = ZoneInfo(TIME_ZONE)
    # The year ends at today's local midnight in the big firm's zone; "now" is that instant.
    anchor = datetime.now(zone).date()
    now = local_midnight(anchor, zone)
    first_day = anchor - timedelta(days=365)
    first, last = month_bounds(args.month, anchor)
    following = last + timedelta(days=1)
    start, end = local_midnight(first, zone), local_midnight(following, zone)
    counts = sizes(args.contacts, args.firms, args.big_share)
    with workdir("portfolio") as work, throwaway_database("portfolio") as database:
        free, needed = check_disk(database, args.contacts)
        port = free_port()
        settings = AppSettings(database=database, issuer=f"http://{HOST}:{port}", workdir=work)
        print(f"migrating {database.name} ...", flush=True)
        application = create_migrated_app(settings)
        print(f"onboarding {args.firms} firms ...", flush=True)
        began = time.perf_counter()
        firms = set_up(application, counts)
        onboard_s = time.perf_counter() - began
        big = firms[0]
        print(f"generating {args.contacts:,} contacts and their SLA clocks ...", flush=True)
        built = generate(
            database,
            firms,
            counts=counts,
            agents=big["agents"],
            first_day=first_day,
            now=now,
            seed=args.seed,
        )
        print(
            f"  {built['contacts']:,} contacts in {built['seconds']['contacts']:.1f} s, "
            f"{built['clocks']:,} clocks in {built['seconds']['clocks']:.1f} s, "
            f"indexes built in {built['seconds']['indexes']:.1f} s, "
            f"vacuum analyse {built['seconds']['vacuum']:.1f} s",
            flush=True,
        )
        with psycopg.connect(database.admin_dsn) as conn:
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        expected, plain_s = plain_counts(database, firms, first, following)
        in_month = sum(figures["received"] for figures in expected.values())
        reads = {
            "sla": lambda: run_service(
                application, big["tenant_id"], start=start, end=end, now=now
            ),
            "queues": lambda: run_service(
                application, big["tenant_id"], start=start, end=end, now=now, group_by="queue"
            ),
            "contacts": lambda: run_portfolio(
                application, first=first, following=following, now=now
            ),
        }
        print(
            f"timing {first:%Y-%m}: the big firm's SLA reports and the portfolio from the "
            f"contacts, {args.repeat} rounds ...",
            flush=True,
        )
        seconds, results = alternate(reads, args.repeat)
        print("rolling every firm's year up (the worker's first pass) ...", flush=True)
        roll_up_s = roll_up(application, now)
        with psycopg.connect(database.admin_dsn) as conn:
            rollup_rows = {
                table: conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                ).fetchone()[0]
                for table in ROLLUP_TABLES
            }
        print(
            f"timing the SLA reports and the portfolio from the roll-ups, {args.repeat} rounds ...",
            flush=True,
        )
        rolled_seconds, rolled_results = alternate(
            {
                "sla_rollups": reads["sla"],
                "queues_rollups": reads["queues"],
                "rollups": reads["contacts"],
            },
            args.repeat,
        )
        seconds |= rolled_seconds
        results |= rolled_results
        pg = postgres_version(database)

    problems = disagreements(results["contacts"], expected, "from the contacts")
    problems += disagreements(results["rollups"], expected, "from the roll-ups")
    if results["sla_rollups"] != results["sla"]:
        problems.append("the SLA report from the roll-ups is not the one from the contacts")
    if results["queues_rollups"] != results["queues"]:
        problems.append("the report by queue from the roll-ups is not the one from the contacts")
    sla_median, sla_best = median_best(seconds["sla_rollups"])
    sla_contacts_median, sla_contacts_best = median_best(seconds["sla"])
    queues_median, queues_best = median_best(seconds["queues_rollups"])
    queues_contacts_median, queues_contacts_best = median_best(seconds["queues"])
    contacts_median, contacts_best = median_best(seconds["contacts"])
    rollups_median, rollups_best = median_best(seconds["rollups"])
    target = fmt(TARGET_SECONDS, 3)
    rows = [
        (
            f"big firm's SLA report by day and channel from the roll-ups, s, median of "
            f"{args.repeat}",
            fmt(sla_median, 3),
            target,
            ratio(sla_median, TARGET_SECONDS),
        ),
        ("  best", fmt(sla_best, 3), target, ratio(sla_best, TARGET_SECONDS)),
        (
            "the same report from the contacts (before the worker's first pass), s, median",
            fmt(sla_contacts_median, 3),
            target,
            ratio(sla_contacts_median, TARGET_SECONDS),
        ),
        ("  best", fmt(sla_contacts_best, 3), target, ratio(sla_contacts_best, TARGET_SECONDS)),
        (
            "the big firm's SLA report by day and queue from the roll-ups, s, median",
            fmt(queues_median, 3),
            target,
            ratio(queues_median, TARGET_SECONDS),
        ),
        ("  best", fmt(queues_best, 3), target, ratio(queues_best, TARGET_SECONDS)),
        (
            "the same report from the contacts, s, median",
            fmt(queues_contacts_median, 3),
            target,
            ratio(queues_contacts_median, TARGET_SECONDS),
        ),
        (
            "  best",
            fmt(queues_contacts_best, 3),
            target,
            ratio(queues_contacts_best, TARGET_SECONDS),
        ),
        (
            f"portfolio of {args.firms} firms from the roll-ups, s, median",
            fmt(rollups_median, 3),
            target,
            ratio(rollups_median, TARGET_SECONDS),
        ),
        ("  best", fmt(rollups_best, 3), target, ratio(rollups_best, TARGET_SECONDS)),
        (
            "portfolio from the contacts (before the worker's first pass), s, median",
            fmt(contacts_median, 3),
            target,
            ratio(contacts_median, TARGET_SECONDS),
        ),
        ("  best", fmt(contacts_best, 3), target, ratio(contacts_best, TARGET_SECONDS)),
        ("the plain GROUP BY tenant_id of the month, s (once)", fmt(plain_s, 3), "", ""),
        ("the worker rolling every firm's year up, s", fmt(roll_up_s, 1), "", ""),
        ("  rows it wrote", fmt(float(sum(rollup_rows.values())), 0), "", ""),
        ("portfolio rows", fmt(float(len(results["rollups"])), 0), fmt(args.firms, 0), ""),
        ("count disagreements with the plain SQL (must be 0)", fmt(len(problems), 0), "", ""),
    ]
    notes = [f"MISMATCH {problem}" for problem in problems[:10]]
    notes += [
        f"data: {built['contacts']:,} contacts over {first_day} .. {anchor - timedelta(days=1)}, "
        f"{built['clocks']:,} SLA clocks; {in_month:,} contacts in the firms' {first:%Y-%m}, "
        f"{expected.get(big['tenant_id'], {}).get('received', 0):,} of them the big firm's",
        f"firms: {args.firms}, {counts[0]:,} contacts a year for the big one, then "
        f"{counts[1]:,} down to {counts[-1]:,}; zones {', '.join(ZONES)} in turn; "
        f"onboarded in {onboard_s:.1f} s",
        "roll-up rows: " + ", ".join(f"{table} {n:,}" for table, n in rollup_rows.items()),
        f"database {size / 2**30:.2f} GiB ({size / max(built['contacts'], 1):,.0f} bytes a "
        f"contact); free before: "
        + (f"{free / 2**30:.1f} GiB" if free is not None else "unknown (data directory unreadable)")
        + f", needed by the estimate {needed / 2**30:.1f} GiB",
        "SLA reports: sla_report(granularity='day', group_by='channel', then 'queue') in an app "
        "context and the firm's scope; each both ways the same report (checked)",
        "portfolio: portfolio(tenants=visible_tenants(...), periods=each firm's local month) in "
        "tenants_scope(every firm), as the route computes them for a BPO admin",
        f"reference: the {TARGET_SECONDS:g} s target (ratio = the share of it used); "
        f"each read: 1 warm-up run, then {args.repeat} measured; machine before: {busy}",
        f"{machine()}; PostgreSQL {pg}; {today()}",
    ]
    print_table(
        f"Portfolio: {args.firms} firms, {args.contacts:,} contacts a year, {first:%Y-%m}",
        rows,
        notes,
    )
    slowest = max(sla_median, queues_median, rollups_median)
    fast = slowest <= TARGET_SECONDS
    good = fast and not problems
    write_result(
        args,
        parse_args([]),
        name="portfolio",
        ours=(slowest, "s"),
        reference=(TARGET_SECONDS, "s", "the 1 s target"),
        ok=good,
        verdict=(
            f"ok: SLA report {sla_median:.3f} s (by queue {queues_median:.3f} s), "
            f"portfolio {rollups_median:.3f} s, counts agree"
            if good
            else f"FAILED: {len(problems)} disagreement(s): {problems[0]}"
            if problems
            else f"FAILED: over 1 s (SLA report {sla_median:.3f} s, by queue "
            f"{queues_median:.3f} s, portfolio {rollups_median:.3f} s)"
        ),
        postgres=pg,
        busy=busy,
        details={
            "firms": args.firms,
            "contacts": built["contacts"],
            "clocks": built["clocks"],
            "big_firm_contacts": counts[0],
            "month": f"{first:%Y-%m}",
            "contacts_in_month": in_month,
            "repeat": args.repeat,
            "sla_report_median_s": sla_median,
            "sla_report_contacts_median_s": sla_contacts_median,
            "sla_report_by_queue_median_s": queues_median,
            "sla_report_by_queue_contacts_median_s": queues_contacts_median,
            "portfolio_rollups_median_s": rollups_median,
            "portfolio_contacts_median_s": contacts_median,
            "plain_counts_s": plain_s,
            "roll_up_s": roll_up_s,
            "roll_up_rows": rollup_rows,
            "generate_s": built["seconds"],
            "database_bytes": size,
            "disagreements": problems[:10],
        },
    )
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
