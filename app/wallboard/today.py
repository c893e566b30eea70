"""The wallboard's today: each firm's answer counts per queue over its local day so far (the
reports' per-contact measures, app.reports.measures), and a per-process memo of them that spares
summing again a firm none of whose contacts changed.

Why a memo, and why it is honest. Summing a busy floor's day (20,000 contacts for 50 firms) is
most of the snapshot's time, and between two reads a few seconds apart most firms have not
changed. A firm's counts depend on its contacts' rows (received, channel, direction, queue,
answered, abandoned, first response, resolved, closed, the contact's own threshold) and on
things the memo's key holds: the firm's day (its bounds), its short-abandon threshold and the
answer threshold of each of its queues. The snapshot reads in a scope of whole firms
(tenants_scope, no queue restriction), so an entry is the same whoever asks. Every change to
those contact columns goes through the contacts domain, which records a domain event
(app/events) in the same transaction: intake and imports (`contact.created`), every lifecycle
action including transfers and claims. An event's `tx` is its writing transaction's id. An entry
keeps the oldest transaction id still running when it was summed (PostgreSQL's snapshot xmin,
read before the sum): any transaction the sum could not see has an id at least that. So the
entry still holds while no event of the firm with `tx` >= that stamp is visible; one is found
through the events' (tx, seq) index, reading only the events since. A long transaction keeps the
stamp old and only makes entries look changed more often (they are summed again), never wrong.
Not memoized: anything that moves with the clock alone (waits, SLA risk): those are read afresh
by the snapshot every time. SQLite (the first-run demo, one process) has no transaction ids: it
always sums.
May import: app.db, the contact and queue models, app.events.service, app.reports
(measures, periods).
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta

from sqlalchemy import TIMESTAMP, Integer, Uuid, and_, bindparam, column, func, select, values
from sqlalchemy.dialects.postgresql import ARRAY

from app.contacts.models import Contact
from app.db import UTCDateTime, db
from app.events import service as events_service
from app.queues.models import Queue
from app.reports.measures import answer_measures, as_int, is_postgres
from app.reports.periods import instant, zone_of

COUNTED = ("answered", "answered_within", "abandoned", "short_abandoned", "abandoned_within")
COUNTED += ("handled",)
# Entries are one per firm; past this many (firms offboarded, keys moved on) start afresh.
MEMO_LIMIT = 5000

# tenant id -> (key, stamp, {queue id: counts}); each entry is replaced whole, never edited.
_memo: dict[uuid.UUID, tuple[tuple, int, dict]] = {}
_memo_lock = threading.Lock()


def counts(*, firms: list, settings: dict, queues: list, at: datetime) -> dict[tuple, dict]:
    """(tenant id, queue id) -> the answer counts of the contacts received in the firm's local
    day so far: the SLA report's figures for today. `queues` are the queues the reader sees."""
    days = {}
    for firm in firms:
        zone = zone_of(firm)
        day = at.astimezone(zone).date()
        days[firm.id] = (instant(day, zone), instant(day + timedelta(days=1), zone))
    if not is_postgres():
        return _sum(firms, days, settings)
    thresholds: dict[uuid.UUID, list] = {}
    for queue in queues:
        thresholds.setdefault(queue.tenant_id, []).append(
            (queue.id, queue.answer_threshold_seconds)
        )
    keys = {
        firm.id: (
            days[firm.id],
            settings[firm.id]["short_abandon_seconds"],
            frozenset(thresholds.get(firm.id, ())),
        )
        for firm in firms
    }
    kept = {
        firm_id: entry
        for firm_id in keys
        if (entry := _memo.get(firm_id)) is not None and entry[0] == keys[firm_id]
    }
    # Read before the sum: every transaction the sum cannot see has an id at least this.
    stamp, changed = _stamp_and_changed(kept)
    for firm_id in changed:
        del kept[firm_id]
    summed = _sum([firm for firm in firms if firm.id not in kept], days, settings)
    fresh: dict[uuid.UUID, dict] = {firm_id: {} for firm_id in keys if firm_id not in kept}
    for (tenant_id, queue_id), row in summed.items():
        fresh[tenant_id][queue_id] = row
    with _memo_lock:
        if len(_memo) + len(fresh) > MEMO_LIMIT:
            _memo.clear()
        for firm_id, per_queue in fresh.items():
            _memo[firm_id] = (keys[firm_id], stamp, per_queue)
    result = dict(summed)
    for firm_id, (_key, _stamp, per_queue) in kept.items():
        for queue_id, row in per_queue.items():
            result[(firm_id, queue_id)] = row
    return result


def forget() -> None:
    """Drop every entry (for a test that writes contacts behind the domain's back)."""
    with _memo_lock:
        _memo.clear()


def _stamp_and_changed(kept: dict) -> tuple[int, set[uuid.UUID]]:
    """The horizon, and the firms among `kept` with an event newer than their entry's stamp
    (maybe changed), in one round trip."""
    if not kept:
        return events_service.horizon(), set()
    oldest = min(stamp for _key, stamp, _counts in kept.values())
    stamp, newest = events_service.horizon_and_newest(tenant_ids=kept, since=oldest)
    return stamp, {tenant_id for tenant_id, tx in newest.items() if tx >= kept[tenant_id][1]}


def _sum(firms: list, days: dict, settings: dict) -> dict[tuple, dict]:
    """The counts of these firms, in one grouped query."""
    if not firms:
        return {}
    rows = [(firm.id, *days[firm.id], settings[firm.id]["short_abandon_seconds"]) for firm in firms]
    params = _params(rows)
    c, p = Contact, params.c
    measures = answer_measures(c, Queue, p.short_seconds)
    # The firms' days as one constant span too: it lets the receipt index bound the scan
    # (the planner cannot see through the per-firm bounds of the VALUES list).
    earliest, latest = min(r[1] for r in rows), max(r[2] for r in rows)
    stmt = (
        select(
            c.tenant_id,
            c.queue_id,
            *(func.sum(measures[name]).label(name) for name in COUNTED),
        )
        .select_from(c)
        .join(Queue, and_(Queue.tenant_id == c.tenant_id, Queue.id == c.queue_id))
        .join(
            params,
            and_(p.tenant_id == c.tenant_id, c.received_at >= p.starts, c.received_at < p.ends),
        )
        .where(c.received_at >= earliest, c.received_at < latest)
        .group_by(c.tenant_id, c.queue_id)
    )
    return {
        (row[0], row[1]): dict(zip(COUNTED, map(as_int, row[2:]), strict=True))
        for row in db.session.execute(stmt)
    }


def _params(rows: list[tuple]):
    """The firms' (tenant id, day start, day end, short-abandon seconds) as a table."""
    columns = (
        column("tenant_id", Uuid()),
        column("starts", UTCDateTime()),
        column("ends", UTCDateTime()),
        column("short_seconds", Integer()),
    )
    if not is_postgres():
        return values(*columns, name="params").data(rows).cte("params")
    # On PostgreSQL, four arrays unnested: one statement whatever the firms' days (the
    # compiled form is cached, where a VALUES list is compiled afresh on every read).
    types = (Uuid(), TIMESTAMP(timezone=True), TIMESTAMP(timezone=True), Integer())
    arrays = [
        bindparam(f"wallboard_{col.name}", [row[i] for row in rows], type_=ARRAY(kind))
        for i, (col, kind) in enumerate(zip(columns, types, strict=True))
    ]
    return func.unnest(*arrays).table_valued(*columns).render_derived(name="params")
