"""A year of contacts and their SLA clocks for the report benchmarks: client firms onboarded
with the project's services, and their contacts drawn inside PostgreSQL by one
`INSERT ... SELECT` per table over `generate_series` (seeded), however many firms.

bench/report.py builds one firm's year with it, bench/portfolio.py fifty firms' and bench/web.py
a month of one firm. May import: psycopg and the standard library; the app's services inside
the functions, once the caller has made the app.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

TIME_ZONE = "Europe/Madrid"
AGENTS = 40
CHANNELS = ("voice", "email", "chat", "web", "social")  # the vocabulary's order


def onboard_firm(application, *, slug: str, name: str, time_zone: str = TIME_ZONE) -> dict:
    """A client firm onboarded with the project's services: calendar, three queues and the
    default SLA policy."""
    from app.db import db
    from app.onboarding import service as onboarding_service
    from tenants import service as tenants_service

    with application.app_context():
        onboarded = onboarding_service.onboard(
            onboarding_in={
                "slug": slug,
                "name": name,
                "time_zone": time_zone,
                "locale": "es-ES",
                "currency": "EUR",
                "queues": [
                    {"name": "Teléfono y chat", "channels": ["voice", "chat"]},
                    {"name": "Escrito", "channels": ["email", "web", "social"]},
                    {
                        "name": "Reclamaciones",
                        "channels": ["email", "web"],
                        "categories": ["complaint", "claim"],
                        "answer_threshold_seconds": 30,
                    },
                ],
            },
            actor=tenants_service.SYSTEM,
        )
        db.session.commit()
        queues = {queue.name: queue.id for queue in onboarded.queues}
        return {
            "tenant_id": onboarded.tenant.id,
            "time_zone": time_zone,
            "policy_id": onboarded.sla_policy.id,
            "voice_chat": queues["Teléfono y chat"],
            "written": queues["Escrito"],
            "claims": queues["Reclamaciones"],
        }


def add_agents(application, firm: dict, count: int = AGENTS) -> list[uuid.UUID]:
    """`count` agents on every channel, serving the firm's three queues."""
    from app.agents import queue_assignments
    from app.agents import service as agents_service
    from app.db import db
    from tenants import service as tenants_service
    from tenants.scoping import tenant_scope

    system = tenants_service.SYSTEM
    queues = [firm["voice_chat"], firm["written"], firm["claims"]]
    agent_ids = []
    with application.app_context():
        for n in range(count):
            agent = agents_service.create(
                agent_in={
                    "email": f"agent-{n}-{uuid.uuid4().hex[:6]}@bench.example",
                    "name": f"Agente {n:02d}",
                    "channels": list(CHANNELS),
                    "concurrency": dict.fromkeys(CHANNELS, 1),
                    "languages": ["es"],
                },
                password_hash=None,
                actor=system,
            )
            with tenant_scope(firm["tenant_id"]):
                queue_assignments.set_assignments(
                    agent=agent,
                    assignments_in=[{"queue_id": q, "priority": 1} for q in queues],
                    actor=system,
                )
            agent_ids.append(agent.id)
        db.session.commit()
    return agent_ids


# A year of contacts, drawn in SQL. Each row takes its own random numbers (r.*) first, so that
# the later steps can use the same draw for related columns. Opening hours 08:00-20:00 local;
# 8% outbound; voice 45%, chat 20%, email 20%, web 10%, social 5%. Voice and chat: 8% of the
# inbound ones abandoned after ~40 s, the rest answered after ~25 s (exponential, capped at
# 10 min). Written channels: first response after ~3 h, resolved ~1 day later. 1.5% still open
# (waiting on the customer, or escalated); of the rest 12% resolved, the others closed 1-3 days
# later. 30% of handled contacts rated 1-5, mostly 4 and 5. End customers: 250,000 keys drawn
# with a square law (a few call often), 5% unknown.
GENERATE_CONTACTS = """
WITH firms AS (
    SELECT * FROM unnest(%(tenant_ids)s::uuid[], %(zones)s::text[], %(counts)s::int[],
                         %(voice_chat)s::uuid[], %(written)s::uuid[], %(claims)s::uuid[])
        AS f (tenant_id, zone, contacts, voice_chat, written, claims)
), r AS (
    SELECT f.tenant_id, f.zone, f.voice_chat, f.written, f.claims,
           g, random() AS r_channel, random() AS r_direction, random() AS r_category,
           random() AS r_priority, random() AS r_day, random() AS r_time, random() AS r_fate,
           random() AS r_wait, random() AS r_talk, random() AS r_hold, random() AS r_acw,
           random() AS r_resolve, random() AS r_close, random() AS r_csat, random() AS r_score,
           random() AS r_customer, random() AS r_key, random() AS r_agent
    FROM firms AS f CROSS JOIN LATERAL generate_series(1, f.contacts) AS g
), b AS (
    SELECT r.*,
        CASE WHEN r_channel < 0.45 THEN 'voice' WHEN r_channel < 0.65 THEN 'chat'
             WHEN r_channel < 0.85 THEN 'email' WHEN r_channel < 0.95 THEN 'web'
             ELSE 'social' END AS channel,
        CASE WHEN r_direction < 0.08 THEN 'outbound' ELSE 'inbound' END AS direction,
        CASE WHEN r_category < 0.40 THEN 'information_request'
             WHEN r_category < 0.60 THEN 'incident' WHEN r_category < 0.75 THEN 'order_request'
             WHEN r_category < 0.87 THEN 'complaint' WHEN r_category < 0.92 THEN 'claim'
             WHEN r_category < 0.96 THEN 'suggestion' ELSE 'compliment' END AS category,
        CASE WHEN r_priority < 0.10 THEN 'low' WHEN r_priority < 0.75 THEN 'normal'
             WHEN r_priority < 0.95 THEN 'high' ELSE 'urgent' END AS priority,
        ((%(first_day)s::date + floor(r_day * %(days)s)::int)
            + make_interval(secs => 8 * 3600 + r_time * 12 * 3600))
            AT TIME ZONE zone AS received_at
    FROM r
), f AS (
    SELECT b.*,
        channel IN ('voice', 'chat') AS sync,
        CASE
            WHEN channel IN ('voice', 'chat') AND direction = 'inbound' AND r_fate < 0.08
                THEN 'abandoned'
            WHEN r_fate < 0.0875 THEN 'waiting_customer'
            WHEN r_fate < 0.095 THEN 'escalated'
            WHEN r_fate < 0.205 THEN 'resolved'
            ELSE 'closed' END AS status,
        CASE WHEN channel IN ('voice', 'chat')
             THEN least(600, -25 * ln(1 - r_wait))
             ELSE least(5 * 86400, -3 * 3600 * ln(1 - r_wait)) END AS wait,
        CASE WHEN channel IN ('voice', 'chat') THEN 60 + least(3600, -180 * ln(1 - r_talk))
             ELSE 0 END::int AS talk,
        CASE WHEN channel IN ('voice', 'chat') AND r_hold < 0.3 THEN 15 + 90 * r_hold
             ELSE 0 END::int AS hold,
        CASE WHEN channel IN ('voice', 'chat') THEN 15 + 45 * r_acw
             ELSE 120 + 480 * r_acw END::int AS acw
    FROM b
), t AS (
    SELECT f.*,
        CASE WHEN status <> 'abandoned' THEN received_at + make_interval(secs => wait)
             END AS touched_at,
        CASE WHEN status = 'abandoned'
             THEN received_at + make_interval(secs => -40 * ln(1 - r_wait)) END AS abandoned_at
    FROM f
), d AS (
    SELECT t.*,
        CASE WHEN status IN ('resolved', 'closed') THEN
            CASE WHEN sync THEN touched_at + make_interval(secs => talk + hold + acw)
                 ELSE touched_at + make_interval(secs => least(10 * 86400,
                                                                -86400 * ln(1 - r_resolve)))
                 END END AS resolved_at
    FROM t
)
INSERT INTO contacts (
    id, tenant_id, created_at, updated_at, external_id, channel, direction, category, priority,
    priority_rank, language, subject, body, customer_name, customer_email, customer_phone,
    customer_ref, customer_key, customer_contact_number, remedy_requested, outcome,
    compensation_amount, queue_id, agent_id, department_id, status, status_since, disposition,
    resolution_note, csat, reopen_count, received_at, queued_at, assigned_at, answered_at,
    first_response_at, resolved_at, closed_at, abandoned_at, sla_due_at, sla_state,
    answer_threshold_seconds, queued_seconds, talk_seconds, hold_seconds, acw_seconds
)
SELECT
    gen_random_uuid(), tenant_id, received_at, received_at, 'gen-' || g, channel, direction,
    category, priority,
    CASE priority WHEN 'low' THEN 1 WHEN 'normal' THEN 2 WHEN 'high' THEN 3 ELSE 4 END,
    'es', initcap(replace(category, '_', ' ')), '', NULL, NULL, NULL,
    CASE WHEN r_customer >= 0.05 THEN 'C' || floor(r_key * r_key * 250000)::int END,
    CASE WHEN r_customer >= 0.05 THEN 'ref:C' || floor(r_key * r_key * 250000)::int END,
    1,
    CASE WHEN category = 'claim' THEN 'Refund of the disputed amount' END,
    CASE WHEN category = 'claim' AND resolved_at IS NOT NULL
         THEN CASE WHEN r_score < 0.5 THEN 'upheld' ELSE 'rejected' END END,
    CASE WHEN category = 'claim' AND resolved_at IS NOT NULL AND r_score < 0.5
         THEN (1000 + 9000 * r_close)::int END,
    CASE WHEN sync THEN voice_chat
         WHEN category IN ('complaint', 'claim') AND channel IN ('email', 'web')
             THEN claims
         ELSE written END,
    CASE WHEN touched_at IS NOT NULL
         THEN (%(agents)s::uuid[])[1 + floor(r_agent * %(agent_count)s)::int] END,
    NULL,
    status,
    coalesce(
        CASE WHEN status = 'closed'
             THEN resolved_at + make_interval(secs => 86400 + 2 * 86400 * r_close) END,
        resolved_at, abandoned_at, touched_at, received_at),
    CASE WHEN resolved_at IS NOT NULL THEN 'solved' END, NULL,
    CASE WHEN resolved_at IS NOT NULL AND r_csat < 0.3 THEN
        CASE WHEN r_score < 0.05 THEN 1 WHEN r_score < 0.12 THEN 2 WHEN r_score < 0.25 THEN 3
             WHEN r_score < 0.60 THEN 4 ELSE 5 END END,
    0, received_at, received_at, touched_at,
    CASE WHEN sync THEN touched_at END,
    CASE WHEN NOT sync THEN touched_at END,
    resolved_at,
    CASE WHEN status = 'closed'
         THEN resolved_at + make_interval(secs => 86400 + 2 * 86400 * r_close) END,
    abandoned_at, NULL, NULL,
    CASE channel WHEN 'voice' THEN 20 END,  -- chat falls back to its queue's threshold
    CASE WHEN touched_at IS NOT NULL THEN wait::int ELSE 0 END,
    CASE WHEN touched_at IS NOT NULL THEN talk ELSE 0 END,
    CASE WHEN touched_at IS NOT NULL THEN hold ELSE 0 END,
    CASE WHEN touched_at IS NOT NULL THEN acw ELSE 0 END
FROM d
"""

# Two SLA clocks per inbound contact (first response and resolution); outbound ones have none.
# Elapsed business seconds are approximated: voice and chat are handled within opening hours
# (wall time), written channels cross nights and weekends (about 35% of wall time is business
# time at 12 hours a day, 5 days a week). Targets follow the default policy per priority.
GENERATE_CLOCKS = """
WITH k AS (
    SELECT c.tenant_id, f.policy_id, c.id AS contact_id, kind.kind, c.received_at,
        c.channel IN ('voice', 'chat') AS sync,
        CASE WHEN kind.kind = 'first_response' THEN
            CASE WHEN c.channel IN ('voice', 'chat') THEN 60
                 ELSE CASE c.priority WHEN 'urgent' THEN 1800 WHEN 'high' THEN 3600
                                      WHEN 'normal' THEN 14400 ELSE 28800 END END
        ELSE CASE c.priority WHEN 'urgent' THEN 4 * 3600 WHEN 'high' THEN 9 * 3600
                             WHEN 'normal' THEN 27 * 3600 ELSE 45 * 3600 END
        END AS target,
        CASE WHEN c.status = 'abandoned' THEN c.abandoned_at
             WHEN kind.kind = 'first_response'
                 THEN coalesce(c.answered_at, c.first_response_at)
             ELSE c.resolved_at END AS stopped_at,
        c.status = 'abandoned' AS cancelled
    FROM contacts AS c
    JOIN unnest(%(tenant_ids)s::uuid[], %(policy_ids)s::uuid[]) AS f (tenant_id, policy_id)
        ON f.tenant_id = c.tenant_id
    CROSS JOIN (VALUES ('first_response'), ('resolution')) AS kind (kind)
    WHERE c.direction = 'inbound'
), e AS (
    SELECT k.*,
        (extract(epoch FROM coalesce(stopped_at, %(now)s::timestamptz) - received_at)
            * CASE WHEN sync THEN 1 ELSE 0.35 END)::int AS elapsed
    FROM k
)
INSERT INTO sla_clocks (
    id, tenant_id, contact_id, kind, policy_id, target_seconds, started_at, elapsed_seconds,
    running_since, paused_seconds, paused_since, at_risk_at, due_at, stopped_at, breached_at,
    state
)
SELECT
    gen_random_uuid(), tenant_id, contact_id, kind, policy_id, target, received_at,
    CASE WHEN cancelled THEN 0 ELSE elapsed END,
    CASE WHEN stopped_at IS NULL THEN %(now)s::timestamptz END,
    0, NULL,
    CASE WHEN stopped_at IS NULL
         THEN received_at + make_interval(secs => 0.8 * target / CASE WHEN sync THEN 1
                                                                       ELSE 0.35 END) END,
    CASE WHEN stopped_at IS NULL
         THEN received_at + make_interval(secs => target / CASE WHEN sync THEN 1
                                                                 ELSE 0.35 END) END,
    stopped_at,
    CASE WHEN NOT cancelled AND elapsed > target
         THEN received_at + make_interval(secs => target / CASE WHEN sync THEN 1
                                                                 ELSE 0.35 END) END,
    CASE WHEN cancelled THEN 'cancelled'
         WHEN elapsed > target THEN 'breached'
         WHEN stopped_at IS NOT NULL THEN 'met'
         WHEN elapsed >= 0.8 * target THEN 'at_risk'
         ELSE 'ok' END
FROM e
"""


def generate(
    database,
    firms: list[dict],
    *,
    counts: list[int],
    agents: list[uuid.UUID],
    first_day: date,
    now: datetime,
    seed: float,
    days: int = 365,
) -> dict:
    """Fill `days` from `first_day` (a year unless told) with `counts[n]` contacts of
    `firms[n]` (each in its own zone) handled by `agents`, and their clocks, as a superuser
    (generation is not what is measured); then vacuum and analyse as a maintained database
    would be."""
    params = {
        "tenant_ids": [firm["tenant_id"] for firm in firms],
        "zones": [firm.get("time_zone", TIME_ZONE) for firm in firms],
        "counts": counts,
        "voice_chat": [firm["voice_chat"] for firm in firms],
        "written": [firm["written"] for firm in firms],
        "claims": [firm["claims"] for firm in firms],
        "policy_ids": [firm["policy_id"] for firm in firms],
        "first_day": first_day,
        "days": days,
        "now": now,
        "agents": agents,
        "agent_count": len(agents),
    }
    timings = {}
    with psycopg.connect(database.admin_dsn) as conn:
        # The rows name only the firms, queues, agents, policies and contacts made just before,
        # so the per-row foreign-key triggers are skipped (superuser, this transaction only).
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("SELECT setseed(%s)", (seed,))
        # Millions of rows: the indexes no constraint needs are built once at the end, from
        # sorted rows, rather than kept row by row (at 20M, most of the generation's time).
        rebuilt = _drop_plain_indexes(conn, ("contacts", "sla_clocks"))
        began = time.perf_counter()
        conn.execute(GENERATE_CONTACTS, params)
        timings["contacts"] = time.perf_counter() - began
        began = time.perf_counter()
        conn.execute(GENERATE_CLOCKS, params)
        timings["clocks"] = time.perf_counter() - began
        began = time.perf_counter()
        conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
        for definition in rebuilt:
            conn.execute(definition)
        timings["indexes"] = time.perf_counter() - began
        counted = conn.execute(
            "SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM sla_clocks)"
        ).fetchone()
    with psycopg.connect(database.admin_dsn, autocommit=True) as conn:
        began = time.perf_counter()
        conn.execute("VACUUM ANALYZE contacts")
        conn.execute("VACUUM ANALYZE sla_clocks")
        timings["vacuum"] = time.perf_counter() - began
    return {"contacts": counted[0], "clocks": counted[1], "seconds": timings}


def _drop_plain_indexes(conn, tables: tuple[str, ...]) -> list[str]:
    """Drop the tables' indexes that back no constraint; return their definitions."""
    rows = conn.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = ANY (%s::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
        (list(tables),),
    ).fetchall()
    for name, _ in rows:
        conn.execute(f"DROP INDEX {name}")  # names read from the catalogue
    return [definition for _, definition in rows]


def month_bounds(month: str | None, anchor: date) -> tuple[date, date]:
    """The first and last local day of the month reported (default: the last whole one)."""
    if month:
        first = date.fromisoformat(f"{month}-01")
    else:
        first = (anchor.replace(day=1) - timedelta(days=1)).replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
