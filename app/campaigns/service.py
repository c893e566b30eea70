"""A firm's campaigns: setting them up, their states (draft, running, paused, finished), the
calling window as app/campaigns/window.py reads it, and planning each record's next stretch
of time inside it.

Services take keyword arguments, return ORM objects (or a select to paginate) and never commit;
they act on the firm in scope.
May import: app.changes, app.db, app.errors, app.campaigns (models, window), app.queues.models,
tenants.service (audit).
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

from sqlalchemy import Select, func, select, update

from app import changes
from app.campaigns import window as windows
from app.campaigns.models import Campaign, CampaignRecord
from app.db import db, utcnow
from app.errors import Conflict, Unprocessable
from app.queues.models import Queue
from tenants.service import Actor, auditor

_audit = auditor("campaign", summary=lambda campaign: {"name": campaign.name})

# What changes when a record may be called: its records are planned again.
WINDOW_FIELDS = (
    "weekdays",
    "window_start",
    "window_end",
    "skip_holidays",
    "starts_on",
    "ends_on",
    "retry_delay_minutes",
    "max_attempts",
)
# What `check` reads of a campaign.
_CHECKED = (
    "queue_id",
    "channel",
    "category",
    "weekdays",
    "window_start",
    "window_end",
    "starts_on",
    "ends_on",
    "dispositions",
    "blend",
    "share_bps",
)
# The moves between states: action -> {from: to}.
MOVES = {
    "start": {"draft": "running", "paused": "running"},
    "pause": {"running": "paused"},
    "finish": {"draft": "finished", "running": "finished", "paused": "finished"},
}
# Records that may still be attempted.
OPEN_RECORD_STATES = ("pending", "in_progress")


def list_campaigns(*, state: str | None = None, queue_ids=None) -> Select:
    stmt = select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id)
    if state:
        stmt = stmt.where(Campaign.state == state)
    if queue_ids is not None:
        stmt = stmt.where(Campaign.queue_id.in_(sorted(queue_ids)))
    return stmt


def get_campaign(*, campaign_id: uuid.UUID) -> Campaign | None:
    return db.session.get(Campaign, campaign_id)


def record_counts(*, campaign_id: uuid.UUID) -> dict[str, int]:
    """How many of the campaign's records are in each state."""
    return dict(
        db.session.execute(
            select(CampaignRecord.state, func.count())
            .where(CampaignRecord.campaign_id == campaign_id)
            .group_by(CampaignRecord.state)
        ).all()
    )


def create_campaign(*, campaign_in: dict, actor: Actor) -> Campaign:
    """Set up a campaign (a draft): the checks of `check` first."""
    _ensure_name_free(campaign_in["name"])
    values = {"blend": "inbound_first", "share_bps": None, **campaign_in}
    check(values)
    campaign = Campaign(**values, state="draft", created_by_user_id=actor.user_id)
    db.session.add(campaign)
    db.session.flush()
    _audit(campaign, "campaign.created", actor)
    return campaign


def update_campaign(
    *, campaign: Campaign, campaign_in: dict, actor: Actor, now: datetime | None = None
) -> Campaign:
    """Change a campaign that has not finished; a new window or retry rule plans its waiting
    records again."""
    if campaign.state == "finished":
        raise Conflict("This campaign has finished: it can no longer change.")
    if "name" in changes.diff(campaign, {"name": campaign_in.get("name", campaign.name)}):
        _ensure_name_free(campaign_in["name"], other_than=campaign.id)
    check({column: campaign_in.get(column, getattr(campaign, column)) for column in _CHECKED})
    changed = changes.apply(campaign, campaign_in, kind="campaign", actor=actor, audit=_audit)
    db.session.flush()
    if campaign.state == "running" and set(changed) & set(WINDOW_FIELDS):
        replan(campaign=campaign, now=now or utcnow())
    return campaign


def change_state(
    *, campaign: Campaign, action: str, actor: Actor, now: datetime | None = None
) -> Campaign:
    """Start (or resume), pause or finish a campaign. Starting plans its waiting records;
    finishing closes them (an attempt under way ends first, then its record closes)."""
    at = now or utcnow()
    to_state = MOVES[action].get(campaign.state)
    if to_state is None:
        allowed = sorted(a for a, moves in MOVES.items() if campaign.state in moves)
        raise Conflict(
            f"A {campaign.state} campaign cannot {action}. Allowed now: "
            f"{', '.join(allowed) or 'none'}.",
            campaign_state=campaign.state,
            allowed_actions=allowed,
        )
    if action == "start":
        queue = db.session.get(Queue, campaign.queue_id)
        if queue is None or not queue.is_active:
            raise Conflict("The campaign's queue is deactivated: choose another before starting.")
        campaign.started_at = campaign.started_at or at
    from_state, campaign.state = campaign.state, to_state
    if to_state == "finished":
        campaign.finished_at = at
        db.session.execute(
            update(CampaignRecord)
            .where(CampaignRecord.campaign_id == campaign.id, CampaignRecord.state == "pending")
            .values(state="closed", next_attempt_at=None, window_closes_at=None)
            .execution_options(synchronize_session=False)
        )
    db.session.flush()
    if to_state == "running":
        replan(campaign=campaign, now=at)
    _audit(campaign, f"campaign.{_PAST[action]}", actor, {"from_state": from_state})
    return campaign


_PAST = {"start": "started", "pause": "paused", "finish": "finished"}


def check(values: dict) -> None:
    """Refuse (422) a campaign whose parts do not fit: its queue (this firm's, active, taking
    the channel), its window (start before end, a weekday), dates, dispositions (unique codes,
    a reached one, a success only if reached) and its blend (a share with time_share)."""
    errors: dict[str, list[str]] = {}
    queue = db.session.get(Queue, values["queue_id"])
    if queue is None:
        errors["queue_id"] = ["No such queue in this client firm."]
    elif values["channel"] not in queue.channels:
        errors["queue_id"] = [f"The queue does not take {values['channel']} contacts."]
    if values.get("category") == "claim":
        errors["category"] = ["A campaign's attempts are not claims: choose another category."]
    start, end = parse_time(values["window_start"]), parse_time(values["window_end"])
    if start is not None and end is not None and end <= start:
        errors["window_end"] = ["Must be after window_start (no overnight windows)."]
    if not values["weekdays"]:
        errors["weekdays"] = ["Name at least one weekday (1 Monday .. 7 Sunday)."]
    if values.get("ends_on") and values["ends_on"] < values["starts_on"]:
        errors["ends_on"] = ["Must be on or after starts_on."]
    codes = [d["code"] for d in values["dispositions"]]
    if len(codes) != len(set(codes)):
        errors["dispositions"] = ["Each disposition's code must be unique."]
    elif not any(d.get("reached") for d in values["dispositions"]):
        errors["dispositions"] = ["Name at least one disposition that reached the customer."]
    elif any(d.get("success") and not d.get("reached") for d in values["dispositions"]):
        errors["dispositions"] = ["A success must have reached the customer."]
    if values.get("blend") == "time_share" and not values.get("share_bps"):
        errors["share_bps"] = ["A time share campaign needs its share of the agents' time."]
    if errors:
        raise Unprocessable(f"Invalid input: {', '.join(sorted(errors))}.", errors={"json": errors})


def parse_time(value: str) -> time | None:
    try:
        return time.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def window_of(campaign: Campaign) -> windows.Window:
    """The campaign's calling window, as app/campaigns/window.py reads it."""
    return windows.Window(
        weekdays=frozenset(campaign.weekdays),
        start=time.fromisoformat(campaign.window_start),
        end=time.fromisoformat(campaign.window_end),
        skip_holidays=campaign.skip_holidays,
        starts_on=campaign.starts_on,
        ends_on=campaign.ends_on,
    )


def disposition(campaign: Campaign, code: str) -> dict | None:
    return next((d for d in campaign.dispositions if d["code"] == code), None)


def plan(*, record: CampaignRecord, campaign: Campaign, not_before: datetime) -> None:
    """Set the record's next stretch inside the customer's window, from `not_before` on; none
    left (the campaign's dates are over): it waits with no stretch, unoffered."""
    opening = windows.next_opening(
        window=window_of(campaign),
        zone=record.time_zone,
        country=record.country,
        not_before=not_before,
    )
    record.next_attempt_at, record.window_closes_at = opening or (None, None)


def replan(*, campaign: Campaign, now: datetime) -> int:
    """Plan every waiting record of a running campaign again (its window or state changed):
    a record keeps its retry delay and call-back; return how many were planned."""
    records = db.session.scalars(
        select(CampaignRecord).where(
            CampaignRecord.campaign_id == campaign.id, CampaignRecord.state == "pending"
        )
    ).all()
    for record in records:
        plan(record=record, campaign=campaign, not_before=not_before(record, campaign, now))
    db.session.flush()
    return len(records)


def not_before(record: CampaignRecord, campaign: Campaign, now: datetime) -> datetime:
    """The earliest a waiting record may be tried: now, its call-back, or its retry delay (the
    disposition's, kept in `retry_after`, else the campaign's from the last attempt)."""
    if record.callback_at is not None:
        return max(now, record.callback_at)
    if record.retry_after is not None:
        return max(now, record.retry_after)
    if record.last_attempt_at is not None:
        return max(now, record.last_attempt_at + timedelta(minutes=campaign.retry_delay_minutes))
    return now


def _ensure_name_free(name: str, other_than: uuid.UUID | None = None) -> None:
    stmt = select(Campaign.id).where(func.lower(Campaign.name) == name.lower())
    if other_than is not None:
        stmt = stmt.where(Campaign.id != other_than)
    if db.session.scalar(stmt) is not None:
        raise Conflict(f"A campaign named {name!r} already exists in this client firm.")
