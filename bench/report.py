"""Report benchmark: a client firm with a year of contacts (1,000,000 by default, with their SLA
clocks), and its monthly SLA report by day and by channel, timed through the report service
(`app.reports.sla.sla_report`, in a tenant scope and an app context, as
`GET .../reports/sla?granularity=day&group_by=channel` runs it minus HTTP) beside the same
figures from hand-written SQL in psycopg, in the same run; then checks the two agree.

    python -m bench.report [--contacts 1000000] [--repeat 3] [--month YYYY-MM]

The data is generated inside PostgreSQL by `INSERT ... SELECT` over `generate_series`
(seeded, so a run with the same options builds the same year), as a superuser: building it is
not what is measured. Both sides then read it as the application's role under row-level
security, in a transaction with the tenant scope set (the hand-written SQL also runs as a
superuser, to show what row-level security costs it); each is run once to warm the cache, then
`--repeat` times measured, the sides taking turns.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from bench import yeardata
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
from bench.report_reference import (
    SET_SCOPE,
    compare,
    reference_figures,
    run_reference,
    service_figures,
)
from bench.yeardata import TIME_ZONE, local_midnight, month_bounds


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--contacts", type=int, default=1_000_000, help="contacts over the year (1000000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per side (3)")
    parser.add_argument(
        "--month",
        help="the month reported, YYYY-MM (default: the last whole month of the data)",
    )
    parser.add_argument("--seed", type=float, default=0.42, help="PostgreSQL setseed (0.42)")
    add_json_out(parser)
    args = parser.parse_args(argv)
    if args.contacts < 1000 or args.repeat < 1:
        parser.error("--contacts must be at least 1000 and --repeat at least 1")
    return args


# --- set-up ----------------------------------------------------------------------------------


def set_up(application) -> dict:
    """A client firm onboarded with the project's services (calendar, three queues, the default
    SLA policy) and AGENTS agents serving its queues."""
    firm = yeardata.onboard_firm(
        application, slug=f"bench-report-{uuid.uuid4().hex[:8]}", name="Benchmark Energía S.A."
    )
    return {**firm, "agents": yeardata.add_agents(application, firm)}


def generate(
    database, setup: dict, *, contacts: int, first_day: date, now: datetime, seed, days: int = 365
):
    """Fill `days` from `first_day` (a year unless told) with the firm's contacts and their
    clocks (bench/yeardata.py)."""
    return yeardata.generate(
        database,
        [setup],
        counts=[contacts],
        agents=setup["agents"],
        first_day=first_day,
        now=now,
        seed=seed,
        days=days,
    )


# --- ours: the report service ----------------------------------------------------------------


def run_service(
    application,
    tenant_id,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    group_by: str = "channel",
):
    """The report as the API computes it: app context, tenant scope, sla_report."""
    from app.db import db
    from app.reports import sla as sla_reports
    from tenants.models import Tenant
    from tenants.scoping import tenant_scope

    with application.app_context(), tenant_scope(tenant_id):
        tenant = db.session.get(Tenant, tenant_id)
        report = sla_reports.sla_report(
            tenant=tenant, from_=start, to=end, granularity="day", group_by=group_by, now=now
        )
        db.session.rollback()
    return report


def measure_rollups(application, tenant_id, *, start: datetime, end: datetime, repeat: int):
    """The month's report by day, neither grouped nor filtered (the dashboard's): from the
    contacts, from the daily roll-ups, and with 1 and 3 days changed since the worker's last
    pass (summed afresh in the request); the worker rolling the year up, and re-summing."""
    from sqlalchemy import insert

    from app.db import db
    from app.reports import daily, rollups
    from app.reports import sla as sla_reports
    from app.reports.models import ReportMark
    from tenants.models import Tenant
    from tenants.scoping import tenant_scope

    def report(*, raw: bool = False):
        with application.app_context(), tenant_scope(tenant_id):
            tenant = db.session.get(Tenant, tenant_id)
            original = daily.read
            if raw:
                daily.read = lambda **_: None
            try:
                began = time.perf_counter()
                found = sla_reports.sla_report(
                    tenant=tenant, from_=start, to=end, granularity="day"
                )
                took = time.perf_counter() - began
            finally:
                daily.read = original
            db.session.rollback()
        found.pop("generated_at")
        return took, found

    def timed(**how):
        report(**how)  # warm-up
        runs = [report(**how) for _ in range(repeat)]
        return statistics.median(took for took, _ in runs), runs[-1][1]

    def mark(days: int) -> None:
        with application.app_context(), tenant_scope(tenant_id):
            hours = [start + timedelta(days=n, hours=12) for n in range(days)]
            db.session.execute(insert(ReportMark), [{"id": uuid.uuid4(), "hour": h} for h in hours])
            db.session.commit()

    def worker() -> float:
        with application.app_context():
            began = time.perf_counter()
            rollups.refresh()
            db.session.commit()
            return time.perf_counter() - began

    figures = {}
    print("timing the month's ungrouped report from the contacts ...", flush=True)
    figures["contacts"], expected = timed(raw=True)
    expected.pop("catching_up")
    print("rolling the year up (the worker's first pass) ...", flush=True)
    figures["roll_up_s"] = worker()
    figures["rollups"], found = timed()
    found.pop("catching_up")
    differences = _differences(found, expected, "rolled up")
    for days in (1, 3):
        mark(days)
        figures[f"marked_{days}"], found = timed()
        # Marks without a change: summed afresh or read as last summed, the figures agree.
        figures[f"catching_up_{days}"] = found.pop("catching_up")
        differences += _differences(found, expected, f"{days} day(s) changed")
        if days == 1:
            # What summing that day in the request costs, whatever its size.
            usual, rollups.FRESH_CONTACTS = rollups.FRESH_CONTACTS, 10**9
            try:
                figures["afresh_1"], found = timed()
            finally:
                rollups.FRESH_CONTACTS = usual
            found.pop("catching_up")
            differences += _differences(found, expected, "1 day summed afresh")
        figures[f"catch_up_{days}_s"] = worker()
    figures["agree"] = not differences
    figures["differences"] = differences[:10]
    return figures


def _differences(ours, expected, label: str, path: str = "") -> list[str]:
    """Where two reports differ, as 'label: path: ours != expected'."""
    if isinstance(ours, dict) and isinstance(expected, dict):
        found = []
        for key in sorted(set(ours) | set(expected), key=str):
            found += _differences(ours.get(key), expected.get(key), label, f"{path}.{key}")
        return found
    if isinstance(ours, list) and isinstance(expected, list) and len(ours) == len(expected):
        found = []
        for n, (a, b) in enumerate(zip(ours, expected, strict=True)):
            found += _differences(a, b, label, f"{path}[{n}]")
        return found
    return [] if ours == expected else [f"{label}: {path}: {ours!r} != {expected!r}"]


# --- main ------------------------------------------------------------------------------------


def alternate(runs: dict, repeat: int) -> tuple[dict, dict]:
    """One unmeasured run of each to warm the caches, then `repeat` rounds in which each runs
    once, in turn, so that a change in the machine's load falls on every side alike."""
    results = {name: run() for name, run in runs.items()}
    seconds: dict = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            began = time.perf_counter()
            results[name] = run()
            seconds[name].append(time.perf_counter() - began)
    return seconds, results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_sigterm()
    busy = busy_before()
    zone = ZoneInfo(TIME_ZONE)
    # The year ends at today's local midnight; "now" for clocks still running is that instant.
    anchor = datetime.now(zone).date()
    now = local_midnight(anchor, zone)
    first_day = anchor - timedelta(days=365)
    first, last = month_bounds(args.month, anchor)
    start, end = local_midnight(first, zone), local_midnight(last + timedelta(days=1), zone)
    notes: list[str] = []
    ours_rows = None
    with workdir("report") as work, throwaway_database("report") as database:
        port = free_port()
        settings = AppSettings(database=database, issuer=f"http://{HOST}:{port}", workdir=work)
        print(f"migrating {database.name} ...", flush=True)
        application = create_migrated_app(settings)
        setup = set_up(application)
        print(f"generating {args.contacts:,} contacts and their SLA clocks ...", flush=True)
        built = generate(
            database, setup, contacts=args.contacts, first_day=first_day, now=now, seed=args.seed
        )
        print(
            f"  {built['contacts']:,} contacts in {built['seconds']['contacts']:.1f} s, "
            f"{built['clocks']:,} clocks in {built['seconds']['clocks']:.1f} s, "
            f"indexes built in {built['seconds']['indexes']:.1f} s, "
            f"vacuum analyse {built['seconds']['vacuum']:.1f} s",
            flush=True,
        )
        from app.reports import sla as sla_reports

        policy = policy_settings(database, setup["tenant_id"])
        params = {
            "t": str(setup["tenant_id"]),
            "zone": TIME_ZONE,
            "start": start,
            "end": end,
            "first": first,
            "last": last,
            "fcr": policy["fcr_days"] * 86400,
            "short": policy["short_abandon_seconds"],
            "treatment": policy["abandon_treatment"],
        }
        with psycopg.connect(database.app_dsn) as conn:
            conn.execute(SET_SCOPE, params)
            in_month = conn.execute(
                "SELECT count(*) FROM contacts WHERE received_at >= %(start)s "
                "AND received_at < %(end)s",
                params,
            ).fetchone()[0]
        runs = {
            "reference": lambda: run_reference(database.app_dsn, params),
            # The same statements as a superuser: what row-level security costs them.
            "superuser": lambda: run_reference(database.admin_dsn, params),
        }
        if hasattr(sla_reports, "sla_report"):
            runs["ours"] = lambda: run_service(
                application, setup["tenant_id"], start=start, end=end, now=now
            )
        else:
            notes.append("NOT MEASURED: app.reports.sla.sla_report does not exist yet.")
        print(
            f"timing the {first:%Y-%m} report by day and channel: "
            f"{', '.join(runs)}, {args.repeat} rounds ...",
            flush=True,
        )
        seconds, results = alternate(runs, args.repeat)
        ours_seconds = seconds.get("ours", [])
        if "ours" in results:
            ours_rows = service_figures(results["ours"], zone)
        reference_seconds = seconds["reference"]
        reference_rows = reference_figures(results["reference"])
        superuser_seconds = seconds["superuser"]
        rolled = measure_rollups(
            application, setup["tenant_id"], start=start, end=end, repeat=args.repeat
        )
        pg = postgres_version(database)

    checked = mismatches = 0
    if ours_rows is not None:
        checked, mismatches, samples = compare(ours_rows, reference_rows)
        notes += [f"MISMATCH {sample}" for sample in samples]
    ours_median = statistics.median(ours_seconds) if ours_seconds else float("nan")
    ours_best = min(ours_seconds) if ours_seconds else float("nan")
    reference_median = statistics.median(reference_seconds)
    reference_best = min(reference_seconds)
    day_rows = sum(1 for key in reference_rows if key != "total")
    rows = [
        (
            f"seconds, median of {args.repeat}",
            fmt(ours_median, 3),
            fmt(reference_median, 3),
            ratio(ours_median, reference_median),
        ),
        (
            "seconds, best",
            fmt(ours_best, 3),
            fmt(reference_best, 3),
            ratio(ours_best, reference_best),
        ),
        (
            "day x channel rows",
            fmt(float(len(ours_rows) - 1), 0) if ours_rows else "n/a",
            fmt(float(day_rows), 0),
            "",
        ),
        (
            "reference as a superuser (no RLS), median",
            "",
            fmt(statistics.median(superuser_seconds), 3),
            ratio(ours_median, statistics.median(superuser_seconds)),
        ),
        ("figures compared", fmt(float(checked), 0), "", ""),
        ("disagreements (must be 0)", fmt(float(mismatches), 0) if ours_rows else "n/a", "", ""),
        (
            "by day, ungrouped: from the daily roll-ups, s",
            fmt(rolled["rollups"], 3),
            fmt(rolled["contacts"], 3),
            ratio(rolled["rollups"], rolled["contacts"]),
        ),
        (
            "  the same, 1 day changed since the worker's pass, s"
            + (" (read as last summed)" if rolled["catching_up_1"] else " (summed afresh)"),
            fmt(rolled["marked_1"], 3),
            fmt(rolled["contacts"], 3),
            ratio(rolled["marked_1"], rolled["contacts"]),
        ),
        (
            "  the same, that 1 day summed afresh in the request, s",
            fmt(rolled["afresh_1"], 3),
            fmt(rolled["contacts"], 3),
            ratio(rolled["afresh_1"], rolled["contacts"]),
        ),
        (
            "  the same, 3 days changed, s"
            + (" (read as last summed)" if rolled["catching_up_3"] else " (summed afresh)"),
            fmt(rolled["marked_3"], 3),
            fmt(rolled["contacts"], 3),
            ratio(rolled["marked_3"], rolled["contacts"]),
        ),
        ("  the worker rolling the year up, s", fmt(rolled["roll_up_s"], 1), "", ""),
        ("  the worker re-summing 3 days, s", fmt(rolled["catch_up_3_s"], 2), "", ""),
        (
            "  roll-ups agree with the contacts (must be yes)",
            "yes" if rolled["agree"] else "NO",
            "",
            "",
        ),
    ]
    notes += [f"ROLL-UP MISMATCH {difference}" for difference in rolled["differences"]]
    notes += [
        f"data: {built['contacts']:,} contacts over {first_day} .. {anchor - timedelta(days=1)} "
        f"({TIME_ZONE}), {built['clocks']:,} SLA clocks; {in_month:,} contacts in {first:%Y-%m}",
        "ours: app.reports.sla.sla_report(granularity='day', group_by='channel') in an app "
        "context and tenant scope (SQLAlchemy, RLS), no HTTP",
        "reference: 3 psycopg statements (GROUPING SETS, lag/lead for FCR, percentile_disc, "
        "a running sum for the backlog) as the app role with the same RLS settings",
        "reference as a superuser: the same statements, row-level security not applied",
        "by day, ungrouped: sla_report(granularity='day') as the dashboard asks it; reference "
        "column: the same report read from the contacts (no roll-ups), median of the rounds",
        f"each side: 1 warm-up run, then {args.repeat} rounds, the sides in turn; "
        f"machine before the run: {busy}",
        f"{machine()}; PostgreSQL {pg}; {today()}",
    ]
    print_table(
        f"Report: SLA report of {first:%Y-%m} by day and channel, {args.contacts:,} contacts",
        rows,
        notes,
    )
    good = ours_rows is not None and mismatches == 0 and rolled["agree"]
    write_result(
        args,
        parse_args([]),
        name="report",
        ours=(ours_median, "s"),
        reference=(reference_median, "s", "hand-written SQL, same RLS"),
        ok=good,
        verdict=(
            f"ok: {checked:,} figures agree"
            if good
            else "not measured"
            if ours_rows is None
            else f"FAILED: {mismatches:,} of {checked:,} figures disagree"
            if mismatches
            else "FAILED: the report from the roll-ups disagrees with the contacts"
        ),
        postgres=pg,
        busy=busy,
        details={
            "contacts": built["contacts"],
            "month": f"{first:%Y-%m}",
            "contacts_in_month": in_month,
            "repeat": args.repeat,
            "best_s": ours_best,
            "reference_best_s": reference_best,
            "superuser_reference_median_s": statistics.median(superuser_seconds),
            "rollups": rolled,
        },
    )
    return 0 if good else 1


def policy_settings(database, tenant_id) -> dict:
    """The abandon treatment, short-abandon threshold and FCR window of the firm's default SLA
    policy, which the report service applies, so that the reference applies the same."""
    with psycopg.connect(database.admin_dsn) as conn:
        treatment, short, fcr_days = conn.execute(
            "SELECT abandon_treatment, short_abandon_seconds, fcr_window_days FROM sla_policies "
            "WHERE tenant_id = %s AND is_default ORDER BY created_at LIMIT 1",
            (tenant_id,),
        ).fetchone()
    return {"abandon_treatment": treatment, "short_abandon_seconds": short, "fcr_days": fcr_days}


if __name__ == "__main__":
    sys.exit(main())
