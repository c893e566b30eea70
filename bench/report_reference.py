"""bench.report's yardstick: the month's SLA report by day and channel in hand-written SQL (three
statements as the app role, row-level security applying), both sides' figures reshaped alike,
and their comparison figure by figure.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import psycopg

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
