"""The supervisor's wallboard: a snapshot, per firm and queue, of what waits, today's service
level against target, the contacts at risk and breached, and the agents by state with what
each works on, in a fixed number of grouped queries whatever the number of firms.

Every figure reuses a definition made elsewhere: today's counts are the reports' per-contact
measures (app.reports.measures) over the firm's local day (app.wallboard.today, which also
keeps them per process while a firm's contacts do not change), the risk is the SLA engine's
at-risk rule (app.sla.at_risk.list_at_risk) as each open contact keeps it (`sla_risk_at`,
`sla_breach_at`: app.sla.clocks.risk_instants), the wait is the agent desk's (queued and
reopened contacts, from `queued_at`), what an agent holds is the lifecycle's HELD_STATUSES.
May import: app.db, the models of agents, contacts, queues and SLA, app.contacts.lifecycle,
app.readings, app.reports (measures, periods, targets), app.sla.service, app.wallboard.today,
tenants (models, scoping).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from functools import cache, partial
from typing import Any

from sqlalchemy import bindparam, func, select

from app.agents.models import Agent, Assignment
from app.contacts.lifecycle import HELD_STATUSES, WAITING_STATUSES
from app.contacts.models import Contact
from app.db import UTCDateTime, db, utcnow
from app.queues.models import Queue
from app.readings import shared
from app.reports import targets
from app.reports.measures import DEFAULT_SETTINGS, flag, service_level
from app.reports.periods import instant, zone_of
from app.sla import service as sla_service
from app.sla.models import SlaPolicy
from app.wallboard.today import COUNTED
from app.wallboard.today import counts as today_counts
from tenants.models import Tenant, User
from tenants.scoping import tenants_scope

# The order agents are shown and counted in; a presence not listed (a newer one) follows them.
PRESENCE_ORDER = ("available", "busy", "after_contact_work", "break", "offline")
# The most urgent contacts listed (the counts per queue include them all).
URGENT_LIMIT = 50
# The contacts listed as what each agent works on, longest held first (all are counted).
HELD_SHOWN = 10
_COUNTED = COUNTED


def shared_snapshot(
    *, tenant_ids: frozenset[uuid.UUID] | None, renew: bool = False, within_fresh: bool = False
) -> dict:
    """The wallboard of these firms as every viewer of the same firms sees it: read at most
    once a second or so in this process however many watch (app.readings says how fresh);
    `generated_at` says when it was read. `renew`: read now (the viewer has just changed it);
    `within_fresh`: never one past its freshness (what a rendering of it is made from).

    Keyed by the firms alone: the snapshot depends on nothing else (not on who looks)."""
    key = ("wallboard", None if tenant_ids is None else frozenset(tenant_ids))
    return shared(
        key, partial(snapshot, tenant_ids=tenant_ids), renew=renew, within_fresh=within_fresh
    )


def shared_rendering(
    render: Callable[[dict], Any], *, as_: str, tenant_ids: frozenset[uuid.UUID] | None
) -> Any:
    """`render(snapshot)` of the shared snapshot of these firms (the API's JSON, `as_` names
    it), made once per snapshot for every viewer rather than once per viewer: at 2,000 agents
    serializing the board cost each request most of its time. Shared like the snapshot, and
    made from the shared snapshot while that is fresh (else from one read for it, kept for
    the snapshot's viewers too); `generated_at` inside says when the snapshot was read."""
    ids = None if tenant_ids is None else frozenset(tenant_ids)

    def rendered() -> Any:
        return render(shared_snapshot(tenant_ids=ids, within_fresh=True))

    return shared(("wallboard", as_, ids), rendered)


def snapshot(*, tenant_ids: frozenset[uuid.UUID] | None, now: datetime | None = None) -> dict:
    """The wallboard of these firms (None: every firm), offboarded ones left out, as of `now`.

    Reads in the firms' own scope (so row-level security holds); needs no scope of its own.
    """
    at = now or utcnow()
    firms = _firms(tenant_ids)
    if not firms:
        return {
            "generated_at": at,
            "floor": _floor([], {}),
            "tenants": [],
            "agents": [],
            "urgent": [],
        }
    with tenants_scope(firm.id for firm in firms):
        settings = _settings(firms)
        queues = _queues()
        today = today_counts(firms=firms, settings=settings, queues=queues, at=at)
        waiting = _waiting()
        risk, urgent = _risk(at)
        staff = _staff()
        held = _held()
    firm_names = {firm.id: firm.name for firm in firms}
    queue_names = {queue.id: queue.name for queue in queues}
    agents, serving, staffed = _agents(
        staff, held, urgent, queues=queues, firm_names=firm_names, queue_names=queue_names
    )
    queues_of: dict[uuid.UUID, list] = defaultdict(list)
    for queue in queues:
        queues_of[queue.tenant_id].append(queue)
    rows = [
        _firm_row(
            firm,
            settings[firm.id],
            queues_of[firm.id],
            today=today,
            waiting=waiting,
            risk=risk,
            serving=serving,
            staffed=staffed.get(firm.id, []),
            at=at,
        )
        for firm in firms
    ]
    return {
        "generated_at": at,
        "floor": _floor(rows, agents),
        "tenants": rows,
        "agents": sorted(agents.values(), key=lambda a: (presence_rank(a["presence"]), a["name"])),
        "urgent": [
            {
                **item,
                "tenant_name": firm_names.get(item["tenant_id"]),
                "queue_name": queue_names.get(item["queue_id"]),
                "agent_name": agents[item["agent_id"]]["name"] if item["agent_id"] else None,
            }
            for item in urgent
        ],
    }


def presence_rank(presence: str) -> tuple[int, str]:
    """Where a presence sorts: the known states in PRESENCE_ORDER, any other after them."""
    if presence in PRESENCE_ORDER:
        return (PRESENCE_ORDER.index(presence), "")
    return (len(PRESENCE_ORDER), presence)


# --- reads -----------------------------------------------------------------------------------


def _firms(tenant_ids: frozenset[uuid.UUID] | None) -> list:
    """The firms shown, as (id, name, status, time_zone) rows (not entities: four columns)."""
    t = Tenant
    stmt = (
        select(t.id, t.name, t.status, t.time_zone)
        .where(t.status != "offboarded")
        .order_by(t.name, t.id)
    )
    if tenant_ids is not None:
        if not tenant_ids:
            return []
        stmt = stmt.where(Tenant.id.in_(sorted(tenant_ids)))
    return db.session.execute(stmt).all()


def _settings(firms: list) -> dict[uuid.UUID, dict]:
    """Each firm's abandon treatment, short-abandon threshold and service-level target: its
    default policy's (the first made), else the policy defaults, as the reports read them.
    Four columns of each policy, not entities."""
    p = SlaPolicy
    policies: dict[uuid.UUID, Any] = {}
    for policy in db.session.execute(
        select(
            p.tenant_id, p.abandon_treatment, p.short_abandon_seconds, p.service_level_target_bps
        )
        .where(p.is_default.is_(True))
        .order_by(p.created_at)
    ):
        policies.setdefault(policy.tenant_id, policy)
    settings = {}
    for firm in firms:
        policy = policies.get(firm.id)
        own = dict(DEFAULT_SETTINGS)
        if policy is not None:
            own |= {
                "abandon_treatment": policy.abandon_treatment,
                "short_abandon_seconds": policy.short_abandon_seconds,
            }
        own["service_level_target"] = targets.service_level_of(policy)
        settings[firm.id] = own
    return settings


def _queues() -> list:
    """The firms' queues as column tuples, not entities: the board reads six columns of each."""
    q = Queue
    return db.session.execute(
        select(
            q.id, q.tenant_id, q.name, q.channels, q.answer_threshold_seconds, q.is_active
        ).order_by(q.name, q.id)
    ).all()


def _staff() -> list:
    """Each active agent's assignments to the firms' queues: (queue id, agent id, presence,
    presence since, name)."""
    return db.session.execute(
        select(
            Assignment.queue_id,
            Agent.id,
            Agent.presence,
            Agent.presence_since,
            User.name,
        )
        .join(Agent, Agent.id == Assignment.agent_id)
        .join(User, User.id == Agent.user_id)
        .where(Agent.is_active.is_(True))
    ).all()


def _held() -> list:
    """The firms' contacts an agent holds, longest held first, at most HELD_SHOWN of each
    agent: (id, queue id, agent id, channel, status, since, how many the agent holds in all).

    Held includes contacts parked waiting for a customer or a department: on a floor of
    e-mail those pile up by the thousand, and listing every one (15,000 at 1M contacts a
    month in bench.web) made the board take seconds to draw."""
    c = Contact
    ranked = (
        select(
            c.id,
            c.queue_id,
            c.agent_id,
            c.channel,
            c.status,
            c.status_since,
            func.row_number()
            .over(partition_by=c.agent_id, order_by=(c.status_since, c.id))
            .label("rank"),
            func.count().over(partition_by=c.agent_id).label("held"),
        )
        .where(c.status.in_(HELD_STATUSES), c.agent_id.is_not(None))
        .subquery("ranked")
    )
    r = ranked.c
    return db.session.execute(
        select(r.id, r.queue_id, r.agent_id, r.channel, r.status, r.status_since, r.held)
        .where(r.rank <= HELD_SHOWN)
        .order_by(r.status_since, r.id)
    ).all()


def _waiting() -> dict[tuple, tuple[int, datetime]]:
    """(tenant id, queue id) -> how many wait, and since when the oldest has waited."""
    c = Contact
    rows = db.session.execute(
        select(c.tenant_id, c.queue_id, func.count(), func.min(c.queued_at))
        .where(c.status.in_(WAITING_STATUSES))
        .group_by(c.tenant_id, c.queue_id)
    )
    return {(t, q): (count, oldest) for t, q, count, oldest in rows}


def _risk(at: datetime) -> tuple[dict[str, dict[tuple, int]], list[dict]]:
    """The open contacts with an open SLA clock at risk or breached as of `at` (the at-risk
    list's rule, app.sla.at_risk.list_at_risk): state (at_risk, breached) -> (tenant id, queue
    id) -> how many, and the URGENT_LIMIT most urgent, nearest deadline first."""
    counts: dict[str, dict[tuple, int]] = {"at_risk": {}, "breached": {}}
    counted, most_urgent = _risk_statements()
    for tenant_id, queue_id, breached, how_many in db.session.execute(
        counted, {"wallboard_now": at}
    ):
        counts["breached" if breached else "at_risk"][(tenant_id, queue_id)] = how_many
    urgent = [
        {
            "contact_id": row.id,
            "tenant_id": row.tenant_id,
            "queue_id": row.queue_id,
            "agent_id": row.agent_id,
            "channel": row.channel,
            "priority": row.priority,
            "status": row.status,
            "sla_state": "breached" if row.breached else "at_risk",
            "due_at": row.sla_due_at,
        }
        for row in db.session.execute(most_urgent, {"wallboard_now": at})
    ]
    return counts, urgent


@cache
def _risk_statements():
    """The counts per (firm, queue, breached) and the most urgent contacts, built once (the
    time is a parameter).

    The contacts at risk by now are a range of the contacts' partial index on `sla_risk_at`
    (the at-risk list's rule kept on each open contact by the SLA engine, app.sla.clocks.
    risk_instants), which includes what the counts read: they come from the index alone. The
    most urgent are the first rows of the partial index on (`sla_due_at`, `id`) that are at
    risk: a page, not a sort of every contact at risk (a quarter of a million on a floor of
    a million open contacts)."""
    c = Contact
    now = bindparam("wallboard_now", type_=UTCDateTime())
    at_risk = (c.sla_risk_at <= now, c.status.not_in(sla_service.FINISHED_STATUSES))
    breached = flag(c.sla_breach_at <= now).label("breached")
    flagged = select(c.tenant_id, c.queue_id, breached).where(*at_risk).subquery("flagged")
    f = flagged.c
    counted = select(f.tenant_id, f.queue_id, f.breached, func.count()).group_by(
        f.tenant_id, f.queue_id, f.breached
    )
    most_urgent = (
        select(
            c.id,
            c.tenant_id,
            c.queue_id,
            c.agent_id,
            c.channel,
            c.priority,
            c.status,
            c.sla_due_at,
            breached,
        )
        .where(*at_risk)
        .order_by(c.sla_due_at.asc().nulls_last(), c.id)
        .limit(URGENT_LIMIT)
    )
    return counted, most_urgent


def _agents(
    staff: list,
    held: list,
    urgent: list[dict],
    *,
    queues: list,
    firm_names: dict,
    queue_names: dict,
) -> tuple[dict, dict, dict]:
    """The agents as the wallboard shows them, from one pass over the assignments: agent id ->
    the agent (serving the firms' queues, or holding or named on one of their contacts); queue
    id -> its agents as (id, presence); firm id -> its agents' presences (each agent once).
    A queue's firm is its own (assignments and contacts belong to their queue's firm), so the
    rows read carry no firm id of their own."""
    firm_of = {queue.id: queue.tenant_id for queue in queues}
    agents: dict[uuid.UUID, dict] = {}
    serving: dict[uuid.UUID, list[tuple]] = defaultdict(list)
    for queue_id, agent_id, presence, since, name in staff:
        agent = agents.get(agent_id)
        if agent is None:
            agent = agents[agent_id] = _agent(agent_id, name, presence, since)
        agent["tenant_ids"][firm_of[queue_id]] = None
        agent["queue_ids"][queue_id] = None
        serving[queue_id].append((agent_id, presence))
    # Each agent counted once per firm: its firms are already a set.
    staffed: dict[uuid.UUID, list[str]] = defaultdict(list)
    for agent in agents.values():
        for tenant_id in agent["tenant_ids"]:
            staffed[tenant_id].append(agent["presence"])
    # An agent no longer assigned may still hold (or be named on) a contact of these firms.
    missing = {row[2] for row in held} | {u["agent_id"] for u in urgent if u["agent_id"]}
    missing -= agents.keys()
    if missing:
        for agent_id, presence, since, name in db.session.execute(
            select(Agent.id, Agent.presence, Agent.presence_since, User.name)
            .join(User, User.id == Agent.user_id)
            .where(Agent.id.in_(sorted(missing)))
        ):
            agents[agent_id] = _agent(agent_id, name, presence, since)
    for contact_id, queue_id, agent_id, channel, status, since, in_all in held:
        tenant_id = firm_of[queue_id]
        agents[agent_id]["working_on_count"] = in_all
        agents[agent_id]["working_on"].append(
            {
                "contact_id": contact_id,
                "tenant_id": tenant_id,
                "tenant_name": firm_names[tenant_id],
                "queue_id": queue_id,
                "queue_name": queue_names[queue_id],
                "channel": channel,
                "status": status,
                "since": since,
            }
        )
    for agent in agents.values():
        agent["tenant_ids"] = list(agent["tenant_ids"])
        agent["queue_ids"] = list(agent["queue_ids"])
    return agents, serving, staffed


def _agent(agent_id: uuid.UUID, name: str, presence: str, since: datetime) -> dict:
    return {
        "agent_id": agent_id,
        "name": name,
        "presence": presence,
        "presence_since": since,
        # Dicts as ordered sets: the firms and queues in the order first met.
        "tenant_ids": {},
        "queue_ids": {},
        "working_on": [],
        "working_on_count": 0,
    }


# --- the rows --------------------------------------------------------------------------------


def _firm_row(
    firm,
    settings: dict,
    queues: list,
    *,
    today: dict,
    waiting: dict,
    risk: dict,
    serving: dict[uuid.UUID, list[tuple]],
    staffed: list[str],
    at: datetime,
) -> dict:
    treatment, target = settings["abandon_treatment"], settings["service_level_target"]
    rows = []
    # The firm's totals, summed as its queues are read (each key looked up once).
    summed = dict.fromkeys(_COUNTED, 0)
    waits: list[tuple[int, datetime]] = []
    at_risk = breached = 0
    for queue in queues:
        key = (firm.id, queue.id)
        agents = serving.get(queue.id, ())
        counts = today.get(key)
        wait = waiting.get(key)
        risks = (risk["at_risk"].get(key, 0), risk["breached"].get(key, 0))
        if counts:
            for name in _COUNTED:
                summed[name] += counts[name]
        if wait:
            waits.append(wait)
        at_risk, breached = at_risk + risks[0], breached + risks[1]
        # A queue switched off stays out unless it still has work or figures today.
        if not (queue.is_active or counts or wait or any(risks)):
            continue
        rows.append(
            {
                "queue_id": queue.id,
                "name": queue.name,
                "channels": list(queue.channels),
                "answer_threshold_seconds": queue.answer_threshold_seconds,
                "is_active": queue.is_active,
                "agent_ids": [agent_id for agent_id, _presence in agents],
                **_figures(
                    counts=counts,
                    waiting=[wait] if wait else [],
                    at_risk=risks[0],
                    breached=risks[1],
                    presences=[presence for _agent_id, presence in agents],
                    treatment=treatment,
                    target=target,
                    at=at,
                ),
            }
        )
    zone = zone_of(firm)
    return {
        "tenant_id": firm.id,
        "name": firm.name,
        "status": firm.status,
        "time_zone": firm.time_zone,
        "day_start": instant(at.astimezone(zone).date(), zone).astimezone(zone),
        "abandon_treatment": treatment,
        "short_abandon_seconds": settings["short_abandon_seconds"],
        "service_level_target": target,
        "totals": _figures(
            counts=summed,
            waiting=waits,
            at_risk=at_risk,
            breached=breached,
            presences=staffed,
            treatment=treatment,
            target=target,
            at=at,
        ),
        "queues": rows,
    }


def _figures(
    *,
    counts: dict | None,
    waiting: list[tuple[int, datetime]],
    at_risk: int,
    breached: int,
    presences: list[str],
    treatment: str,
    target: float | None,
    at: datetime,
) -> dict:
    """The tiles of a queue, or of a firm (its queues summed); `presences`: one per agent."""
    counts = counts or dict.fromkeys(_COUNTED, 0)
    level = service_level(counts, treatment)
    oldest = min((since for _n, since in waiting), default=None)
    return {
        "waiting": sum(n for n, _since in waiting),
        "longest_wait_seconds": None
        if oldest is None
        else max(0, int((at - oldest).total_seconds())),
        "answered": counts["answered"],
        "answered_within_threshold": counts["answered_within"],
        "abandoned": counts["abandoned"],
        "short_abandoned": counts["short_abandoned"],
        "handled": counts["handled"],
        "service_level": level,
        "service_level_state": targets.state("service_level", level, target),
        "at_risk": at_risk,
        "breached": breached,
        "agents": len(presences),
        "agents_by_state": by_state(presences),
    }


def by_state(presences) -> list[dict]:
    """How many agents are in each presence: every known state (zero too), then others."""
    counted: dict[str, int] = dict.fromkeys(PRESENCE_ORDER, 0)
    for presence in presences:
        counted[presence] = counted.get(presence, 0) + 1
    # Only a presence outside PRESENCE_ORDER needs sorting (counted keeps the known ones first).
    order = counted if len(counted) == len(PRESENCE_ORDER) else sorted(counted, key=presence_rank)
    return [{"presence": presence, "count": counted[presence]} for presence in order]


def _floor(rows: list[dict], agents: dict) -> dict:
    """The whole floor: the firms' totals summed, each agent counted once."""
    totals = [row["totals"] for row in rows]
    longest = [t["longest_wait_seconds"] for t in totals if t["longest_wait_seconds"] is not None]
    return {
        "waiting": sum(t["waiting"] for t in totals),
        "longest_wait_seconds": max(longest, default=None),
        "abandoned": sum(t["abandoned"] for t in totals),
        "handled": sum(t["handled"] for t in totals),
        "at_risk": sum(t["at_risk"] for t in totals),
        "breached": sum(t["breached"] for t in totals),
        "agents": len(agents),
        "agents_by_state": by_state(a["presence"] for a in agents.values()),
    }
