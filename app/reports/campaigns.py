"""The campaign report: a firm's outbound campaigns per local day, per agent and in total (records
loaded, attempts, who was reached, successes, handle time, dispositions), the records' states
now, and the console's view of every firm's running campaigns today.

An attempt is a contact with a campaign (`campaign_id`), outbound, counted on the day it started
(`received_at`). Whether it reached the customer or was a success is its disposition's, looked up
in its campaign's dispositions as they are now (a code no longer listed: neither). Counting is
done in SQL, grouped by campaign, day or agent and disposition; Python only folds those groups.
May import: app.db, app.errors, the models of agents, campaigns and contacts, app.reports
(measures, periods, sla's buckets), tenants.models.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, select

from app.agents.models import Agent
from app.campaigns.models import RECORD_STATES, Campaign, CampaignRecord
from app.contacts.models import Contact
from app.db import db
from app.errors import NotFound
from app.reports.measures import SECONDS_DIGITS, as_int, flag, ratio, sql_instant
from app.reports.periods import MAX_PLAIN_RANGE_DAYS, instant
from app.reports.sla import bucket_of, buckets
from tenants.models import Tenant, User

# One bucket per local day: a year at most, as the other reports without granularity.
MAX_RANGE_DAYS = MAX_PLAIN_RANGE_DAYS
# An attempt has ended when its contact has (its handle time is then final).
ENDED = ("resolved", "closed")
# Campaigns still calling: the console shows these, and the report shows them even when idle.
LIVE_STATES = ("running", "paused")


def outcomes(dispositions: list[dict] | None) -> dict[str, tuple[bool, bool]]:
    """Each disposition code of a campaign -> (reached the customer, a success)."""
    return {
        d["code"]: (bool(d.get("reached")), bool(d.get("success")))
        for d in dispositions or []
        if d.get("code")
    }


class _Tally:
    """The figures of a set of attempts (and records loaded), from grouped rows."""

    __slots__ = ("attempts", "dispositions", "ended", "handle", "loaded", "reached", "successes")

    def __init__(self) -> None:
        self.loaded = self.attempts = self.reached = self.successes = self.ended = 0
        self.handle = 0
        self.dispositions: Counter[str] = Counter()

    def add(self, row, outcome: dict[str, tuple[bool, bool]]) -> None:
        """Fold one group of attempts sharing a disposition (`row.n`, `row.ended`, `row.handle`)."""
        n = as_int(row.n)
        reached, success = outcome.get(row.disposition, (False, False))
        self.attempts += n
        self.reached += n if reached else 0
        self.successes += n if success else 0
        self.ended += as_int(row.ended)
        self.handle += as_int(row.handle)
        if row.disposition is not None:
            self.dispositions[row.disposition] += n

    def merge(self, other: _Tally) -> None:
        for name in ("loaded", "attempts", "reached", "successes", "ended", "handle"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.dispositions.update(other.dispositions)

    def figures(self) -> dict:
        return {
            "records_loaded": self.loaded,
            "attempts": self.attempts,
            "attempts_open": self.attempts - self.ended,
            "reached": self.reached,
            "successes": self.successes,
            "reach_rate": ratio(self.reached, self.attempts),
            "success_rate": ratio(self.successes, self.reached),
            "attempts_per_success": ratio(self.attempts, self.successes, SECONDS_DIGITS),
            "average_handle_seconds": ratio(self.handle, self.ended, SECONDS_DIGITS),
            "dispositions": dict(sorted(self.dispositions.items())),
        }

    def agent_figures(self) -> dict:
        return {
            "attempts": self.attempts,
            "reached": self.reached,
            "successes": self.successes,
            "success_rate": ratio(self.successes, self.reached),
            "average_handle_seconds": ratio(self.handle, self.ended, SECONDS_DIGITS),
        }


def _attempts_by(keys: dict[str, ColumnElement], *, where: list[ColumnElement[bool]]):
    """Attempts per key and disposition: how many, how many ended, their handle seconds."""
    c = Contact
    ended = c.status.in_(ENDED)
    per_attempt = (
        select(
            *(expr.label(name) for name, expr in keys.items()),
            c.disposition.label("disposition"),
            flag(ended).label("ended"),
            case((ended, c.talk_seconds + c.hold_seconds + c.acw_seconds), else_=0).label("handle"),
        )
        .where(c.campaign_id.is_not(None), c.direction == "outbound", *where)
        .subquery("per_attempt")
    )
    # Grouped outside: a key with bound parameters (the day's bucket) is one column there.
    p = per_attempt.c
    groups = [*(p[name] for name in keys), p.disposition]
    return select(
        *groups,
        func.count().label("n"),
        func.sum(p.ended).label("ended"),
        func.sum(p.handle).label("handle"),
    ).group_by(*groups)


def _agent_names(ids) -> dict:
    ids = sorted(i for i in ids if i is not None)
    if not ids:
        return {}
    rows = db.session.execute(
        select(Agent.id, User.name).join(User, User.id == Agent.user_id).where(Agent.id.in_(ids))
    )
    return dict(rows.all())


def _agent_rows(tallies: dict, names: dict) -> list[dict]:
    rows = [
        {"agent_id": key, "name": names.get(key), **tally.agent_figures()}
        for key, tally in tallies.items()
    ]
    rows.sort(key=lambda row: (row["name"] or "", str(row["agent_id"])))
    return rows


def _counts(ids: list[uuid.UUID], outcome_of: dict, *, spans: list, start, end):
    """Grouped reads of these campaigns: tallies per (campaign, day number) and per (campaign,
    agent) over [start, end), and the records per campaign and state now."""
    daily: dict = defaultdict(_Tally)
    by_agent: dict = defaultdict(_Tally)
    states: dict = defaultdict(dict)
    if not ids:
        return daily, by_agent, states
    starts = [s for s, _ in spans]
    c, r = Contact, CampaignRecord
    in_range = [
        c.campaign_id.in_(ids),
        c.received_at >= sql_instant(start),
        c.received_at < sql_instant(end),
    ]
    keys = {"campaign_id": c.campaign_id, "bucket": bucket_of(c.received_at, starts)}
    for row in db.session.execute(_attempts_by(keys, where=in_range)):
        daily[(row.campaign_id, row.bucket)].add(row, outcome_of[row.campaign_id])
    keys = {"campaign_id": c.campaign_id, "agent_id": c.agent_id}
    for row in db.session.execute(_attempts_by(keys, where=in_range)):
        by_agent[(row.campaign_id, row.agent_id)].add(row, outcome_of[row.campaign_id])
    per_record = (
        select(r.campaign_id, bucket_of(r.created_at, starts).label("bucket"))
        .where(
            r.campaign_id.in_(ids),
            r.created_at >= sql_instant(start),
            r.created_at < sql_instant(end),
        )
        .subquery("per_record")
    )
    pr = per_record.c
    loaded = select(pr.campaign_id, pr.bucket, func.count()).group_by(pr.campaign_id, pr.bucket)
    for campaign, bucket, n in db.session.execute(loaded):
        daily[(campaign, bucket)].loaded += as_int(n)
    for campaign, state, n in db.session.execute(
        select(r.campaign_id, r.state, func.count())
        .where(r.campaign_id.in_(ids))
        .group_by(r.campaign_id, r.state)
    ):
        states[campaign][state] = as_int(n)
    return daily, by_agent, states


def campaign_report(
    *,
    tenant: Tenant,
    start: datetime,
    end: datetime,
    zone: ZoneInfo | None = None,
    campaign_id: uuid.UUID | None = None,
) -> dict:
    """The firm's (the scope's) campaigns over [start, end): per campaign and local day (of
    `zone`, by default the firm's), per agent, in total, and each campaign's records by state
    now. NotFound for an unknown `campaign_id` (another firm's is unknown here)."""
    zone = zone or ZoneInfo(tenant.time_zone)
    stmt = select(Campaign).order_by(Campaign.name, Campaign.id)
    if campaign_id is not None:
        stmt = stmt.where(Campaign.id == campaign_id)
    campaigns = list(db.session.scalars(stmt))
    if campaign_id is not None and not campaigns:
        raise NotFound("No such campaign.")
    spans = buckets(start=start, end=end, granularity="day", zone=zone)
    daily, by_agent, states = _counts(
        [one.id for one in campaigns],
        {one.id: outcomes(one.dispositions) for one in campaigns},
        spans=spans,
        start=start,
        end=end,
    )

    names = _agent_names({agent for _, agent in by_agent})
    total, total_agents = _Tally(), defaultdict(_Tally)
    rows = []
    for one in campaigns:
        active = any(key[0] == one.id for key in daily)
        if not (active or one.state in LIVE_STATES or campaign_id is not None):
            continue
        whole = _Tally()
        days = []
        for number, (day_start, day_end) in enumerate(spans, start=1):
            tally = daily.get((one.id, number)) or _Tally()
            whole.merge(tally)
            days.append(
                {
                    "date": day_start.astimezone(zone).date(),
                    "start": day_start.astimezone(zone),
                    "end": day_end.astimezone(zone),
                    **tally.figures(),
                }
            )
        agents = {a: t for (cid, a), t in by_agent.items() if cid == one.id}
        for agent_id, tally in agents.items():
            total_agents[agent_id].merge(tally)
        total.merge(whole)
        rows.append(
            {
                "campaign_id": one.id,
                "name": one.name,
                "state": one.state,
                "purpose": one.purpose,
                "channel": one.channel,
                "total": whole.figures(),
                "days": days,
                "agents": _agent_rows(agents, names),
                "records": {state: states[one.id].get(state, 0) for state in RECORD_STATES},
                "disposition_labels": {
                    d["code"]: d.get("label") or d["code"]
                    for d in one.dispositions or []
                    if d.get("code")
                },
            }
        )
    return {
        "total": total.figures(),
        "agents": _agent_rows(total_agents, names),
        "campaigns": rows,
    }


def campaign_choices() -> list[tuple[uuid.UUID, str]]:
    """The scope's campaigns (id, name), by name: what a report may be narrowed to."""
    return list(db.session.execute(select(Campaign.id, Campaign.name).order_by(Campaign.name)))


def csv_rows(report: dict) -> list[dict]:
    """One row per campaign per local day; dispositions as `code=count` pairs in one cell."""
    return [
        {
            "campaign_id": campaign["campaign_id"],
            "campaign_name": campaign["name"],
            **day,
            "dispositions": "; ".join(f"{k}={v}" for k, v in day["dispositions"].items()),
        }
        for campaign in report["campaigns"]
        for day in campaign["days"]
    ]


# --- the console: every firm's running campaigns today -----------------------------------------


def today_of(tenant: Tenant, now: datetime) -> tuple[datetime, datetime]:
    """The firm's local today as UTC instants."""
    zone = ZoneInfo(tenant.time_zone)
    today = now.astimezone(zone).date()
    return instant(today, zone), instant(today + timedelta(days=1), zone)


def running_today(*, tenants: list[Tenant], now: datetime) -> list[dict]:
    """The running and paused campaigns of these firms (read in the caller's scope), each with
    its records pending and today's attempts (each firm's own local day), firm by firm."""
    days = {t.id: today_of(t, now) for t in tenants}
    if not days:
        return []
    campaigns = list(
        db.session.scalars(
            select(Campaign)
            .where(Campaign.state.in_(LIVE_STATES), Campaign.tenant_id.in_(sorted(days)))
            .order_by(Campaign.name, Campaign.id)
        )
    )
    ids = [one.id for one in campaigns]
    if not ids:
        return []
    r, c = CampaignRecord, Contact
    pending = dict(
        db.session.execute(
            select(r.campaign_id, func.count())
            .where(r.campaign_id.in_(ids), r.state == "pending")
            .group_by(r.campaign_id)
        ).all()
    )
    # Each firm's own midnight: the day's bounds looked up by the attempt's firm, in SQL.
    since = case({tid: sql_instant(day[0]) for tid, day in days.items()}, value=c.tenant_id)
    until = case({tid: sql_instant(day[1]) for tid, day in days.items()}, value=c.tenant_id)
    tallies: dict = defaultdict(_Tally)
    outcome_of = {one.id: outcomes(one.dispositions) for one in campaigns}
    where = [c.campaign_id.in_(ids), and_(c.received_at >= since, c.received_at < until)]
    for row in db.session.execute(_attempts_by({"campaign_id": c.campaign_id}, where=where)):
        tallies[row.campaign_id].add(row, outcome_of[row.campaign_id])
    firms = {t.id: t for t in tenants}
    rows = []
    for one in campaigns:
        figures = (tallies.get(one.id) or _Tally()).figures()
        rows.append(
            {
                "tenant_id": one.tenant_id,
                "firm": firms[one.tenant_id].name,
                "campaign_id": one.id,
                "name": one.name,
                "state": one.state,
                "pending": as_int(pending.get(one.id)),
                **{k: figures[k] for k in ("attempts", "reached", "successes", "success_rate")},
            }
        )
    rows.sort(key=lambda row: (row["firm"].casefold(), row["name"].casefold()))
    return rows
