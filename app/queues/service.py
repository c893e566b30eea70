"""Queues and briefings: each tenant's waiting lines, and the notices agents see on them.

Services take keyword arguments, return ORM objects (or a select to paginate) and never commit:
the request, or onboarding's transaction, owns it. They act on the tenant in scope; only
`current_briefings` is meant for a scope of several tenants (an agent's queues across firms).
`staffing` sizes a queue by Erlang C (app.queues.staffing), reading the queue's own recent
contacts and the tenant's default SLA policy when the caller leaves inputs out.
May import: app.changes, app.db, app.errors, app.queues.models, app.queues.staffing, tenants.service
(audit), and for reading only app.contacts.models and app.sla.models.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from app import changes
from app.contacts.models import Contact
from app.db import db, utcnow
from app.errors import Conflict, Unprocessable
from app.queues import staffing as erlang
from app.queues.models import Briefing, Queue
from app.sla.models import SlaPolicy
from app.vocabulary import CHANNELS
from tenants.service import Actor, auditor

# --- queues ----------------------------------------------------------------------------------


def default_queues_in() -> list[dict]:
    """Return the queues a new client firm gets when onboarding names none."""
    return [
        {
            "name": "General",
            "description": "Every contact of the firm, on every channel, until it is split up.",
            "channels": list(CHANNELS),
            "categories": [],
            "languages": [],
            "answer_threshold_seconds": 20,
        }
    ]


def get(*, queue_id: uuid.UUID) -> Queue | None:
    """Return one queue of the tenant in scope."""
    return db.session.scalar(select(Queue).where(Queue.id == queue_id))


def list_(*, active: bool | None = None, within: Collection[uuid.UUID] | None = None) -> Select:
    """Select the queues in scope by name (optionally only active ones, or only `within`)."""
    stmt = select(Queue).order_by(Queue.name, Queue.id)
    if active is not None:
        stmt = stmt.where(Queue.is_active.is_(active))
    if within is not None:
        stmt = stmt.where(Queue.id.in_(list(within)))
    return stmt


def create(*, queue_in: dict, actor: Actor) -> Queue:
    """Create a queue for the tenant in scope."""
    _ensure_name_free(queue_in["name"])
    queue = Queue(**queue_in)
    db.session.add(queue)
    db.session.flush()
    _audit_queue(queue, "queue.created", actor, {"channels": list(queue.channels)})
    return queue


def update(*, queue: Queue, queue_in: dict, actor: Actor) -> Queue:
    """Change a queue's name, routing rules or threshold, or (re)activate it."""
    fields = dict(queue_in)
    active = fields.pop("is_active", None)
    if "name" in changes.diff(queue, fields):
        _ensure_name_free(fields["name"], other_than=queue.id)
    changes.apply(queue, fields, kind="queue", actor=actor, audit=_audit_queue)
    changes.set_active(queue, active, kind="queue", actor=actor, audit=_audit_queue)
    db.session.flush()
    return queue


def deactivate(*, queue: Queue, actor: Actor) -> Queue:
    """Take a queue out of routing, keeping it (and its history) readable."""
    if changes.set_active(queue, False, kind="queue", actor=actor, audit=_audit_queue):
        db.session.flush()
    return queue


def _ensure_name_free(name: str, other_than: uuid.UUID | None = None) -> None:
    # Case-insensitive, so that "Billing" and "billing" are not two queues agents must tell apart.
    stmt = select(Queue.id).where(func.lower(Queue.name) == name.lower())
    if other_than is not None:
        stmt = stmt.where(Queue.id != other_than)
    if db.session.scalar(stmt) is not None:
        raise Conflict(f"A queue named {name!r} already exists in this client firm.")


_audit_queue = auditor("queue", summary=lambda queue: {"name": queue.name})


# --- briefings -------------------------------------------------------------------------------


def get_briefing(
    *, briefing_id: uuid.UUID, concerning: Collection[uuid.UUID] | None = None
) -> Briefing | None:
    """Return one briefing of the tenant in scope (if given, only one concerning those queues)."""
    stmt = select(Briefing).where(Briefing.id == briefing_id)
    if concerning is not None:
        stmt = stmt.where(_concerning(concerning))
    return db.session.scalar(stmt)


def list_briefings(
    *,
    current: bool | None = None,
    concerning: Collection[uuid.UUID] | None = None,
    at: datetime | None = None,
) -> Select:
    """Select the briefings in scope, latest start first.

    `current`: in force at `at` (default now), or not. `concerning`: those naming any of these
    queues, plus the firm-wide ones of the queues' tenants; an empty collection selects none.
    """
    stmt = select(Briefing).order_by(Briefing.effective_from.desc(), Briefing.id)
    if current is not None:
        in_force = _in_force(at or utcnow())
        stmt = stmt.where(in_force if current else not_(in_force))
    if concerning is not None:
        stmt = stmt.where(_concerning(concerning))
    return stmt


def current_briefings(*, queue_ids: list[uuid.UUID], at: datetime) -> list[Briefing]:
    """Return the briefings in force at `at` that concern any of these queues.

    Works in a scope of several tenants: a firm-wide briefing (no queues named) concerns every
    queue of its own tenant only. Queues outside the scope are ignored.
    """
    if not queue_ids:
        return []
    stmt = (
        select(Briefing)
        .where(_in_force(at), _concerning(queue_ids))
        .order_by(Briefing.tenant_id, Briefing.effective_from.desc(), Briefing.id)
    )
    return list(db.session.scalars(stmt))


def create_briefing(*, briefing_in: dict, actor: Actor) -> Briefing:
    """Post a briefing to agents of the tenant in scope."""
    effective_from = _utc(briefing_in.get("effective_from")) or utcnow()
    effective_to = _utc(briefing_in.get("effective_to"))
    queue_ids = list(briefing_in.get("queue_ids") or [])
    _check_briefing(effective_from=effective_from, effective_to=effective_to, queue_ids=queue_ids)
    briefing = Briefing(
        title=briefing_in["title"],
        body=briefing_in["body"],
        effective_from=effective_from,
        effective_to=effective_to,
        queue_ids=[str(q) for q in queue_ids],
        created_by_user_id=actor.user_id,
    )
    db.session.add(briefing)
    db.session.flush()
    _audit_briefing(briefing, "briefing.created", actor)
    return briefing


def update_briefing(*, briefing: Briefing, briefing_in: dict, actor: Actor) -> Briefing:
    """Change a briefing's text, period or queues."""
    values = dict(briefing_in)
    for key in ("effective_from", "effective_to"):
        if key in values:
            values[key] = _utc(values[key])
    if "queue_ids" in values:
        values["queue_ids"] = [str(q) for q in values["queue_ids"]]
    changed = {key: change.new for key, change in changes.diff(briefing, values).items()}
    _check_briefing(
        effective_from=changed.get("effective_from", briefing.effective_from),
        effective_to=changed.get("effective_to", briefing.effective_to),
        queue_ids=[uuid.UUID(q) for q in changed.get("queue_ids", [])],
        # Name the field the caller sent: moving the start past the stored end is its fault.
        period_field="effective_from" if "effective_to" not in values else "effective_to",
    )
    if changes.apply(briefing, changed, kind="briefing", actor=actor, audit=_audit_briefing):
        db.session.flush()
    return briefing


def delete_briefing(*, briefing: Briefing, actor: Actor) -> None:
    """Withdraw a briefing for good; the audit log keeps its title and period."""
    _audit_briefing(
        briefing,
        "briefing.deleted",
        actor,
        {
            "effective_from": briefing.effective_from.isoformat(),
            "effective_to": briefing.effective_to.isoformat() if briefing.effective_to else None,
        },
    )
    db.session.delete(briefing)
    db.session.flush()


def _check_briefing(
    *,
    effective_from: datetime,
    effective_to: datetime | None,
    queue_ids: list[uuid.UUID],
    period_field: str = "effective_to",
) -> None:
    """Raise Unprocessable naming every field a briefing's rules refuse."""
    errors: dict[str, list[str]] = {}
    if effective_to is not None and effective_to <= effective_from:
        errors[period_field] = [
            "Must be after effective_from."
            if period_field == "effective_to"
            else f"Must be before effective_to ({effective_to.isoformat()})."
        ]
    if queue_ids:
        found = set(db.session.scalars(select(Queue.id).where(Queue.id.in_(queue_ids))))
        unknown = [str(q) for q in queue_ids if q not in found]
        if unknown:
            errors["queue_ids"] = [f"Not queues of this client firm: {', '.join(unknown)}."]
    if errors:
        raise Unprocessable(f"Invalid input: {', '.join(sorted(errors))}.", errors={"json": errors})


def _utc(moment: datetime | None) -> datetime | None:
    # Stored and answered in UTC, so a write answers exactly what a later read does.
    return moment.astimezone(UTC) if moment is not None else None


def _in_force(at: datetime) -> ColumnElement[bool]:
    return and_(
        Briefing.effective_from <= at,
        or_(Briefing.effective_to.is_(None), Briefing.effective_to > at),
    )


def _concerning(queue_ids: Iterable[uuid.UUID]) -> ColumnElement[bool]:
    """Briefings naming any of these queues, or naming none (firm-wide) in their tenants."""
    queue_ids = list(queue_ids)
    if not queue_ids:
        return false()
    # The queues' tenants, as far as the scope lets us see them.
    rows = db.session.execute(
        select(Queue.id, Queue.tenant_id).where(Queue.id.in_(queue_ids))
    ).all()
    if not rows:
        return false()
    ids = sorted(str(row.id) for row in rows)
    tenants = sorted({row.tenant_id for row in rows}, key=str)
    return or_(_names_any(ids), and_(_names_no_queue(), Briefing.tenant_id.in_(tenants)))


def _is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _names_any(ids: list[str]) -> ColumnElement[bool]:
    if _is_postgresql():
        # jsonb ?| text[]: any of the strings is an element of the array.
        return Briefing.queue_ids.op("?|", is_comparison=True)(literal(ids, ARRAY(Text)))
    element = func.json_each(Briefing.queue_ids).table_valued("value")
    return exists(select(1).select_from(element).where(element.c.value.in_(ids)))


def _names_no_queue() -> ColumnElement[bool]:
    if _is_postgresql():
        return func.jsonb_array_length(Briefing.queue_ids) == 0
    return func.json_array_length(Briefing.queue_ids) == 0


_audit_briefing = auditor("briefing", summary=lambda briefing: {"title": briefing.title})


# --- staffing --------------------------------------------------------------------------------

# How far back a queue's own contacts stand in for a volume or AHT the caller left out.
HISTORY_DAYS = 28
# Beyond this the recursion would still answer, but no single queue carries such traffic:
# it is a typo (seconds for minutes, a day's volume per interval) more often than a plan.
MAX_TRAFFIC_ERLANGS = 100_000
# Used when the tenant has no default SLA policy: the trade's usual 80/20.
DEFAULT_TARGET = Decimal("0.8")
_HANDLED = ("resolved", "closed")


def staffing(
    *,
    queue: Queue,
    interval_seconds: int,
    volume: Decimal | None = None,
    aht: Decimal | None = None,
    target: Decimal | None = None,
    threshold: Decimal | None = None,
    shrinkage: Decimal = Decimal(0),
    max_occupancy: Decimal | None = None,
    now: datetime | None = None,
) -> dict:
    """Size a queue by Erlang C; inputs left out come from its history, policy or settings."""
    sources = {
        "volume": "request",
        "aht": "request",
        "target": "request",
        "threshold": "request",
    }
    if threshold is None:
        threshold, sources["threshold"] = Decimal(queue.answer_threshold_seconds), "queue"
    if target is None:
        target, sources["target"] = _default_target()
    history = None
    if volume is None or aht is None:
        history = staffing_history(
            queue_id=queue.id, interval_seconds=interval_seconds, now=now or utcnow()
        )
        missing = {}
        if volume is None:
            if history["volume"] is None:
                missing["volume"] = [
                    f"No inbound contacts reached this queue in the last {HISTORY_DAYS} days: "
                    "give the contacts expected per interval."
                ]
            volume, sources["volume"] = history["volume"], "history"
        if aht is None:
            if history["aht"] is None:
                missing["aht"] = [
                    f"No handled inbound contacts with handle time in this queue in the last "
                    f"{HISTORY_DAYS} days: give the average handle time in seconds."
                ]
            aht, sources["aht"] = history["aht"], "history"
        if missing:
            raise Unprocessable(
                f"Not enough history to take {' and '.join(missing)} from: give "
                f"{'them' if len(missing) > 1 else 'it'} in the query.",
                errors={"query": missing},
            )
    erlangs = erlang.traffic(volume=volume, aht_seconds=aht, interval_seconds=interval_seconds)
    if erlangs > MAX_TRAFFIC_ERLANGS:
        raise Unprocessable(
            f"volume x aht / interval is {float(erlangs):,.0f} erlangs, more than the "
            f"{MAX_TRAFFIC_ERLANGS:,} this sizes: check the units (contacts per interval, "
            "seconds per contact).",
            errors={
                "query": {
                    name: [f"Gives {float(erlangs):,.0f} erlangs with the other inputs."]
                    for name in ("volume", "aht")
                }
            },
        )
    sized = erlang.staff(
        volume=volume,
        aht_seconds=aht,
        interval_seconds=interval_seconds,
        target=target,
        threshold_seconds=threshold,
        shrinkage=shrinkage,
        max_occupancy=max_occupancy,
    )
    needed = _level_out(sized.needed)
    del needed["meets_target"]
    return {
        "queue_id": queue.id,
        "interval": f"{interval_seconds // 60}m",
        "interval_seconds": interval_seconds,
        "inputs": {
            "volume": _round(volume, 4),
            "aht": _round(aht, 4),
            "target": _round(target, 4),
            "threshold": _round(threshold, 4),
            "shrinkage": _round(shrinkage, 4),
            "max_occupancy": _round(max_occupancy, 4) if max_occupancy is not None else None,
        },
        "sources": sources,
        # The window and what was in it, when any input came from there; None otherwise.
        "history": None
        if history is None
        else {k: v for k, v in history.items() if k not in ("volume", "aht")},
        "traffic_erlangs": _round(erlangs, 4),
        **needed,
        "curve": [_level_out(level) for level in sized.curve],
    }


def staffing_history(*, queue_id: uuid.UUID, interval_seconds: int, now: datetime) -> dict:
    """Return a queue's inbound volume per interval and AHT over the last HISTORY_DAYS days.

    The window ends at the start of the interval in progress (a part-filled interval would
    pull the mean down); intervals are multiples of `interval_seconds` since the Unix epoch.
    Volume is the mean count per interval among intervals with any inbound contact received;
    AHT the mean talk + hold + after-contact work of the handled ones (answered or responded
    to, then resolved or closed). Both None without such contacts. Aggregated in SQL.
    """
    epoch_now = math.floor(now.timestamp())
    end = datetime.fromtimestamp(epoch_now - epoch_now % interval_seconds, UTC)
    start = end - timedelta(days=HISTORY_DAYS)
    window = (
        Contact.queue_id == queue_id,
        Contact.direction == "inbound",
        Contact.received_at >= start,
        Contact.received_at < end,
    )
    slot = _epoch_slot(Contact.received_at, interval_seconds).label("slot")
    per_interval = (
        select(slot, func.count().label("contacts")).where(*window).group_by(slot).subquery()
    )
    intervals, contacts = db.session.execute(
        select(func.count(), func.coalesce(func.sum(per_interval.c.contacts), 0))
    ).one()
    handle = Contact.talk_seconds + Contact.hold_seconds + Contact.acw_seconds
    handled, handle_total = db.session.execute(
        select(func.count(), func.coalesce(func.sum(handle), 0)).where(
            *window,
            Contact.status.in_(_HANDLED),
            or_(Contact.answered_at.is_not(None), Contact.first_response_at.is_not(None)),
        )
    ).one()
    contacts, handle_total = int(contacts), int(handle_total)
    return {
        "from_": start,
        "to": end,
        "days": HISTORY_DAYS,
        "intervals_with_contacts": intervals,
        "contacts": contacts,
        "handled_contacts": handled,
        "volume": Fraction(contacts, intervals) if intervals else None,
        # Handled contacts with no handle time recorded say nothing about AHT.
        "aht": Fraction(handle_total, handled) if handle_total else None,
    }


def _default_target() -> tuple[Decimal, str]:
    """The default SLA policy's promised service level, as a fraction, and where it came from."""
    bps = db.session.scalar(select(SlaPolicy.service_level_target_bps).where(SlaPolicy.is_default))
    if bps is None:
        return DEFAULT_TARGET, "default"
    if not 0 < bps < 10000:
        raise Unprocessable(
            f"The default SLA policy promises {bps / 100:g}% within the threshold, which sizes "
            "nothing (0% asks for no agents, 100% for endless ones): give a target between 0 "
            "and 1 (exclusive).",
            errors={"query": {"target": ["Required while the default policy says 0% or 100%."]}},
        )
    return Decimal(bps) / 10000, "sla_policy"


def _epoch_slot(column, interval_seconds: int):
    """The number of the epoch-aligned interval a timestamp falls in."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.floor(func.extract("epoch", column) / interval_seconds)
    # SQLite keeps UTC timestamps as text; strftime('%s') reads them as seconds.
    return cast(func.strftime("%s", column), Integer) // interval_seconds


def _level_out(level: erlang.Level) -> dict:
    return {
        "agents": level.agents,
        "scheduled": level.scheduled,
        "service_level": _round(level.service_level, 4),
        "asa_seconds": _round(level.asa_seconds, 2),
        "occupancy": _round(level.occupancy, 4),
        "probability_wait": _round(level.probability_wait, 4),
        "meets_target": level.meets_target,
    }


def _round(value, places: int) -> float | None:
    return None if value is None else round(float(value), places)
