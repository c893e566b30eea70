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
from bench.yeardata import TIME_ZONE, local_midnight, month_bounds

# Figures compared on every (day, channel) row and on the month's totals; rates to 4 decimals
# and seconds to 2, as the report rounds them.
COMPARED = {
    "received": 0,
    "handled": 0,
    "answered": 0,
    "abandoned": 0,
    "short_abandoned": 0,
    "service_level": 1e-4,
    "asa_seconds": 1e-2,
    "aht_seconds": 1e-2,
    "abandonment_rate": 1e-4,
    "first_response.median_seconds": 0,
    "first_response.p90_seconds": 0,
    "first_response.within_target_rate": 1e-4,
    "resolution.median_seconds": 0,
    "resolution.p90_seconds": 0,
    "resolution.within_target_rate": 1e-4,
    "breaches": 0,
    "fcr.rate": 1e-4,
    "csat.rate": 1e-4,
    "csat.responses": 0,
    "backlog": 0,
}
COUNTS = {"received", "handled", "answered", "abandoned", "short_abandoned", "breaches"}
COUNTS |= {"csat.responses", "backlog"}


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


def run_service(application, tenant_id, *, start: datetime, end: datetime, now: datetime):
    """The report as the API computes it: app context, tenant scope, sla_report."""
    from app.db import db
    from app.reports import sla as sla_reports
    from tenants.models import Tenant
    from tenants.scoping import tenant_scope

    with application.app_context(), tenant_scope(tenant_id):
        tenant = db.session.get(Tenant, tenant_id)
        report = sla_reports.sla_report(
            tenant=tenant, from_=start, to=end, granularity="day", group_by="channel", now=now
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


# --- the reference: hand-written SQL ---------------------------------------------------------

SET_SCOPE = (
    "SELECT set_config('app.tenant_id', %(t)s, true), set_config('app.tenant_ids', %(t)s, true),"
    " set_config('app.unscoped', 'off', true)"
)

# Per local day and channel, plus the month (GROUPING SETS): counts and sums of every contact
# KPI, then the KPIs themselves, in one statement. First-contact resolution looks at each end
# customer's previous and next inbound contact of the same category with lag/lead, over the
# month widened by the FCR window on both sides; only handled first contacts are judged, and a
# reopened one is not resolved first time.
REFERENCE_CONTACTS = """
WITH fcr AS (
    SELECT id,
        CASE WHEN prev_at >= received_at - make_interval(secs => %(fcr)s) THEN 0
             WHEN next_at <= received_at + make_interval(secs => %(fcr)s) THEN 1
             ELSE 2 END AS state
    FROM (
        SELECT id, received_at,
            lag(received_at) OVER w AS prev_at, lead(received_at) OVER w AS next_at
        FROM contacts
        WHERE tenant_id = %(t)s AND direction = 'inbound' AND customer_key IS NOT NULL
          AND received_at >= %(start)s::timestamptz - make_interval(secs => %(fcr)s)
          AND received_at <= %(end)s::timestamptz + make_interval(secs => %(fcr)s)
        WINDOW w AS (PARTITION BY customer_key, category ORDER BY received_at, id)
    ) AS neighbours
    WHERE received_at >= %(start)s AND received_at < %(end)s
), per_contact AS (
    SELECT
        (c.received_at AT TIME ZONE %(zone)s)::date AS day,
        c.channel,
        c.channel IN ('voice', 'chat') AND c.direction = 'inbound' AS sync,
        coalesce(c.answer_threshold_seconds, q.answer_threshold_seconds) AS threshold,
        greatest(extract(epoch FROM c.answered_at - c.received_at), 0) AS answer_wait,
        greatest(extract(epoch FROM c.abandoned_at - c.received_at), 0) AS abandon_wait,
        c.answered_at IS NOT NULL AS was_answered,
        c.abandoned_at IS NOT NULL AS was_abandoned,
        (c.answered_at IS NOT NULL OR c.first_response_at IS NOT NULL)
            AND (c.resolved_at IS NOT NULL OR c.closed_at IS NOT NULL) AS handled,
        c.talk_seconds + c.hold_seconds + c.acw_seconds AS handle,
        c.reopen_count > 0 AS reopened,
        c.csat,
        coalesce(fcr.state, 0) AS fcr
    FROM contacts AS c
    JOIN queues AS q ON q.id = c.queue_id
    LEFT JOIN fcr ON fcr.id = c.id
    WHERE c.tenant_id = %(t)s AND c.received_at >= %(start)s AND c.received_at < %(end)s
), sums AS (
    SELECT day, channel,
        count(*) AS received,
        count(*) FILTER (WHERE sync) AS offered,
        count(*) FILTER (WHERE handled) AS handled,
        count(*) FILTER (WHERE sync AND was_answered) AS answered,
        count(*) FILTER (WHERE sync AND was_answered AND answer_wait <= threshold)
            AS answered_within,
        coalesce(sum(answer_wait) FILTER (WHERE sync AND was_answered), 0) AS answer_wait,
        count(*) FILTER (WHERE sync AND was_abandoned) AS abandoned,
        count(*) FILTER (WHERE sync AND was_abandoned AND abandon_wait <= %(short)s)
            AS short_abandoned,
        count(*) FILTER (WHERE sync AND was_abandoned AND abandon_wait <= threshold)
            AS abandoned_within,
        coalesce(sum(handle) FILTER (WHERE handled), 0) AS handle,
        count(csat) AS rated,
        count(*) FILTER (WHERE csat >= 4) AS satisfied,
        count(*) FILTER (WHERE fcr > 0) AS first_contacts,
        count(*) FILTER (WHERE fcr > 0 AND handled) AS handled_first_contacts,
        count(*) FILTER (WHERE fcr = 2 AND handled AND NOT reopened) AS resolved_first_time,
        GROUPING(day, channel) AS total
    FROM per_contact
    GROUP BY GROUPING SETS ((day, channel), ())
)
SELECT total, day, channel, received, handled, answered, abandoned, short_abandoned,
    round(CASE %(treatment)s
        WHEN 'ignore' THEN answered_within::numeric / nullif(answered, 0)
        WHEN 'count_within_threshold_as_met'
            THEN (answered_within + abandoned_within)::numeric / nullif(answered + abandoned, 0)
        ELSE answered_within::numeric / nullif(answered + abandoned - short_abandoned, 0)
    END, 4) AS service_level,
    round(answer_wait::numeric / nullif(answered, 0), 2) AS asa_seconds,
    round(handle::numeric / nullif(handled, 0), 2) AS aht_seconds,
    round(abandoned::numeric / nullif(offered, 0), 4) AS abandonment_rate,
    round(resolved_first_time::numeric / nullif(handled_first_contacts, 0), 4) AS fcr_rate,
    rated AS csat_responses,
    round(satisfied::numeric / nullif(rated, 0), 4) AS csat_rate
FROM sums
"""

# Per local day, channel and clock kind, plus per kind for the month: clocks stopped (not
# cancelled), stopped within target, breaches, and the median and 90th percentile of the
# business seconds the stopped ones took (to three significant figures).
REFERENCE_CLOCKS = """
SELECT GROUPING(day, channel) AS total, day, channel, kind,
    round((count(*) FILTER (WHERE stopped AND NOT breached))::numeric
          / nullif(count(*) FILTER (WHERE stopped), 0), 4) AS within_target_rate,
    count(*) FILTER (WHERE breached) AS breaches,
    percentile_disc(0.5) WITHIN GROUP (ORDER BY elapsed) FILTER (WHERE stopped) AS median,
    percentile_disc(0.9) WITHIN GROUP (ORDER BY elapsed) FILTER (WHERE stopped) AS p90
FROM (
    SELECT (c.received_at AT TIME ZONE %(zone)s)::date AS day, c.channel, k.kind,
        k.stopped_at IS NOT NULL AND k.state <> 'cancelled' AS stopped,
        k.breached_at IS NOT NULL AS breached,
        -- Three significant figures, rounded up, as the report keeps them.
        CASE WHEN k.elapsed_seconds < 1000 THEN k.elapsed_seconds
             ELSE ceil(k.elapsed_seconds
                       / 10 ^ (floor(log(k.elapsed_seconds)) - 2))
                  * 10 ^ (floor(log(k.elapsed_seconds)) - 2)
        END::bigint AS elapsed
    FROM sla_clocks AS k
    JOIN contacts AS c ON c.id = k.contact_id
    WHERE k.tenant_id = %(t)s AND c.tenant_id = %(t)s
      AND c.received_at >= %(start)s AND c.received_at < %(end)s
) AS per_clock
GROUP BY GROUPING SETS ((day, channel, kind), (kind))
"""

# The backlog at the end of each local day, per channel: contacts received before then and not
# yet resolved, closed or abandoned. Each contact adds 1 on the day it arrived (the month's
# first day if earlier) and takes 1 off on the day it was done; a running sum per channel over
# every day of the month gives the backlog.
REFERENCE_BACKLOG = """
WITH life AS (
    SELECT channel, received_at,
        CASE WHEN raw_done IS NOT NULL THEN greatest(raw_done, received_at) END AS done_at
    FROM (
        SELECT channel, received_at,
            CASE WHEN status IN ('resolved', 'closed') THEN coalesce(resolved_at, closed_at)
                 WHEN status = 'abandoned' THEN abandoned_at END AS raw_done
        FROM contacts
        WHERE tenant_id = %(t)s AND received_at < %(end)s
    ) AS c
    WHERE raw_done IS NULL OR greatest(raw_done, received_at) >= %(start)s
), deltas AS (
    SELECT channel,
        greatest((received_at AT TIME ZONE %(zone)s)::date, %(first)s::date) AS day, 1 AS delta
    FROM life
    UNION ALL
    SELECT channel, (done_at AT TIME ZONE %(zone)s)::date, -1
    FROM life
    WHERE done_at < %(end)s
), days AS (
    SELECT day::date FROM generate_series(%(first)s::date, %(last)s::date, '1 day') AS day
), channels AS (
    SELECT DISTINCT channel FROM deltas
)
SELECT days.day, channels.channel,
    sum(coalesce(moved.delta, 0)) OVER (PARTITION BY channels.channel ORDER BY days.day)
        AS backlog
FROM days CROSS JOIN channels
LEFT JOIN (SELECT channel, day, sum(delta) AS delta FROM deltas GROUP BY channel, day) AS moved
    ON moved.channel = channels.channel AND moved.day = days.day
"""


def run_reference(dsn: str, params: dict) -> dict:
    """The same figures from three hand-written statements, in one transaction as the app role
    with the tenant scope set (row-level security applies, as it does to the service)."""
    with psycopg.connect(dsn) as conn:
        conn.execute(SET_SCOPE, params)
        contacts = conn.execute(REFERENCE_CONTACTS, params).fetchall()
        clocks = conn.execute(REFERENCE_CLOCKS, params).fetchall()
        backlog = conn.execute(REFERENCE_BACKLOG, params).fetchall()
        conn.rollback()
    return {"contacts": contacts, "clocks": clocks, "backlog": backlog}


def reference_figures(result: dict) -> dict:
    """Reshape the reference rows as {(day, channel) or 'total': {figure: value}}."""
    rows: dict = {}
    for r in result["contacts"]:
        key = "total" if r[0] else (r[1], r[2])
        rows[key] = {
            "received": r[3],
            "handled": r[4],
            "answered": r[5],
            "abandoned": r[6],
            "short_abandoned": r[7],
            "service_level": r[8],
            "asa_seconds": r[9],
            "aht_seconds": r[10],
            "abandonment_rate": r[11],
            "fcr.rate": r[12],
            "csat.responses": r[13],
            "csat.rate": r[14],
        }
    for r in result["clocks"]:
        key = "total" if r[0] else (r[1], r[2])
        figures = rows.setdefault(key, {})
        figures[f"{r[3]}.within_target_rate"] = r[4]
        figures[f"{r[3]}.median_seconds"] = r[6]
        figures[f"{r[3]}.p90_seconds"] = r[7]
        figures["breaches"] = figures.get("breaches", 0) + r[5]
    last_day = max((day for day, _, _ in result["backlog"]), default=None)
    for day, channel, backlog in result["backlog"]:
        rows.setdefault((day, channel), {})["backlog"] = backlog
    rows.setdefault("total", {})["backlog"] = sum(
        backlog for day, _, backlog in result["backlog"] if day == last_day
    )
    return rows


def service_figures(report: dict, zone: ZoneInfo) -> dict:
    """Reshape the service's report the same way."""

    def flat(figures: dict) -> dict:
        out = {}
        for name in COMPARED:
            value = figures
            for part in name.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            out[name] = value
        return out

    rows = {}
    for row in report["rows"]:
        rows[(row["start"].astimezone(zone).date(), row["group"])] = flat(row)
    rows["total"] = flat(report["totals"])
    return rows


def compare(ours: dict, reference: dict) -> tuple[int, int, list[str]]:
    """Compare every figure of every (day, channel) row and of the month's totals. A row one
    side lacks counts as an empty bucket: zero counts, no rates or times."""
    checked, mismatches, samples = 0, 0, []
    for key in sorted(set(ours) | set(reference), key=str):
        for name, tolerance in COMPARED.items():
            empty = 0 if name in COUNTS else None
            a = ours.get(key, {}).get(name, empty)
            b = reference.get(key, {}).get(name, empty)
            checked += 1
            if a is None or b is None:
                same = a is b
            else:
                same = abs(float(a) - float(b)) <= tolerance + 1e-9
            if not same:
                mismatches += 1
                if len(samples) < 8:
                    samples.append(f"{key} {name}: service {a!r}, SQL {b!r}")
    return checked, mismatches, samples


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
