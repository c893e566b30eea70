"""The SLA engine: each contact's clocks (started, paused, stopped as the contact moves), their
at-risk and breach events, and the instants at which each open contact goes at risk and is
breached (which the at-risk list, app.sla.at_risk, reads). The scan, which marks what came due
while nothing happened to a contact, is app.sla.scan, on the same terms.

Everything here acts on the tenant in scope (the request's, or onboarding's `tenant_scope`).
Services take keyword arguments, return ORM objects and never commit: the request (or the CLI
command) owns the transaction. The clock rules live in `app.sla.clocks`, the calendars in
`app.sla.calendars`, the policies in `app.sla.policies`. The transitions are recorded as domain
events (app.events), from which webhook deliveries and other consumers are made. May import:
app.db, app.events.service, app.sla, app.contacts.models, app.queues.models, tenants.scoping.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select

from app.contacts.models import Contact, ContactEvent
from app.db import db
from app.events import service as events_service
from app.queues.models import Queue
from app.sla import calendar as business_time
from app.sla import clocks as clock_rules
from app.sla import policies
from app.sla.calendars import schedule_for
from app.sla.models import SlaClock, SlaPolicy
from tenants.scoping import current_tenant_id

# Entering these statuses pauses a contact's running clocks (escalated only where the policy
# says so); leaving them resumes the paused ones.
PAUSING_STATUSES = ("waiting_customer", "escalated")
# Statuses after which a contact needs nothing more from the BPO.
FINISHED_STATUSES = ("resolved", "closed", "abandoned")
EVENT_ACTIONS = {"at_risk": "sla_at_risk", "breached": "sla_breached"}
DOMAIN_EVENTS = {"at_risk": "sla.at_risk", "breached": "sla.breached"}


@dataclass
class PlannedClocks:
    """A new contact's clocks, worked out before the contact is stored (see `plan_clocks`)."""

    clocks: list[SlaClock]
    transitions: list[tuple[SlaClock, str]]


def plan_clocks(*, contact: Contact, queue: Queue, now: datetime) -> PlannedClocks:
    """Work out a new contact's SLA clocks and service-level threshold, before it is stored.

    The tenant's default policy chooses the target (see `app.sla.clocks.choose_target`); the
    clocks start when the contact arrived and are brought up to `now` at once, so a contact
    that arrived long ago may be at risk or breached from the start. Without a default policy,
    or a business calendar, the contact gets no clocks. Sets the contact's SLA fields (and its
    id), so that storing it takes one INSERT; `start_clocks` stores the clocks afterwards.
    """
    policy = policies.default_policy()
    target = _target_of(policy, contact)
    contact.answer_threshold_seconds = clock_rules.answer_threshold(
        target, channel=contact.channel, queue_threshold=queue.answer_threshold_seconds
    )
    schedule = schedule_for(current_tenant_id())
    if contact.id is None:
        contact.id = uuid.uuid4()
    clocks: list[SlaClock] = []
    if schedule is not None:
        start = min(contact.received_at, now)
        clocks = _new_clocks(contact, policy, target, schedule, start=start)
    transitions = []
    for clock in clocks:
        clock.id = uuid.uuid4()
        transitions += [(clock, t) for t in clock_rules.tick(clock, now=now)]
    _summarise(contact, clocks)
    return PlannedClocks(clocks, transitions)


def start_clocks(*, contact: Contact, planned: PlannedClocks, now: datetime) -> None:
    """Store the clocks planned for a contact just stored; announce what is already due."""
    if not planned.clocks:
        return
    for clock in planned.clocks:
        clock.tenant_id = contact.tenant_id
    db.session.add_all(planned.clocks)
    db.session.flush()
    for clock, transition in planned.transitions:
        _announce(contact, clock, transition, detected_at=now)


def plan_historical_clocks(
    *, contacts: list[Contact], queues: dict[uuid.UUID, Queue], now: datetime
) -> list[SlaClock]:
    """Work out the clocks of a batch of imported contacts from their own timestamps, before
    the contacts are stored (their SLA fields and ids are set here); return the clocks, for
    the caller to add once the contacts are stored.

    A resolved or closed contact's first-response clock stopped when it was answered or
    first responded to (else when it was resolved), its resolution clock when it was
    resolved: met, or breached at the instant the target ran out. A queued one is brought up
    to `now`. History is recorded, not announced: an import emits no SLA events or webhooks.
    The calendar and the policy are read once for the whole batch.
    """
    tenant_id = current_tenant_id()
    policy = policies.default_policy()
    schedule = schedule_for(tenant_id)
    bps = _at_risk_bps(policy)
    every: list[SlaClock] = []
    for contact in contacts:
        if contact.id is None:
            contact.id = uuid.uuid4()
        target = _target_of(policy, contact)
        queue = queues.get(contact.queue_id)
        contact.answer_threshold_seconds = clock_rules.answer_threshold(
            target,
            channel=contact.channel,
            queue_threshold=queue.answer_threshold_seconds if queue is not None else None,
        )
        clocks: list[SlaClock] = []
        if schedule is not None:
            start = min(contact.received_at, now)
            clocks = _new_clocks(contact, policy, target, schedule, start=start, at_risk_bps=bps)
        for clock in clocks:
            clock.tenant_id = tenant_id
            stopped = contact.resolved_at
            if stopped is not None and clock.kind == "first_response":
                stopped = contact.answered_at or contact.first_response_at or stopped
            clock_rules.tick(clock, now=stopped or now)
            if stopped is not None:
                clock_rules.stop(clock, schedule=schedule, at=max(stopped, start))
        _summarise(contact, clocks)
        every.extend(clocks)
    return every


def apply_action(*, contact: Contact, action: str, to_status: str, at: datetime) -> None:
    """Bring a (locked) contact's clocks up to `at`, then apply what a lifecycle action does.

    Call it before the contact takes its new status. Answering or responding stops the
    first-response clock, resolving the resolution clock; reopening restarts the resolution
    clock with the time it had left; abandoning cancels the running ones. Entering
    `waiting_customer` (or `escalated`, where the policy in force says so) pauses the running
    clocks and leaving it resumes them.
    """
    clocks = _clocks_of(contact)
    schedule = schedule_for(contact.tenant_id) if clocks else None
    if schedule is None:
        return
    policy = _policy_of(clocks)
    bps = _at_risk_bps(policy)
    _tick(contact, clocks, now=at)
    by_kind = {clock.kind: clock for clock in clocks}
    first, resolution = by_kind.get("first_response"), by_kind.get("resolution")
    if action in ("answer", "respond") and first is not None:
        clock_rules.stop(first, schedule=schedule, at=at)
    elif action == "resolve" and resolution is not None:
        clock_rules.stop(resolution, schedule=schedule, at=at)
    elif action == "reopen" and resolution is not None:
        clock_rules.restart(resolution, schedule=schedule, at=at, at_risk_bps=bps)
    elif action == "abandon":
        for clock in clocks:
            clock_rules.cancel(clock, schedule=schedule, at=at)
    if to_status != contact.status:
        pausing = to_status == "waiting_customer" or (
            to_status == "escalated" and policy is not None and policy.pause_on_escalated
        )
        for clock in clocks:
            if pausing:
                clock_rules.pause(clock, schedule=schedule, at=at)
            elif contact.status in PAUSING_STATUSES:
                clock_rules.resume(clock, schedule=schedule, at=at, at_risk_bps=bps)
    # A clock that restarted or resumed past its at-risk share is marked now, not by the scan.
    _tick(contact, clocks, now=at)
    _summarise(contact, clocks, status=to_status)


def sla_of(*, contact: Contact, now: datetime) -> dict:
    """Return a contact's SLA as of `now`: its state, nearest deadline and every clock, live."""
    clocks = _clocks_of(contact)
    schedule = schedule_for(contact.tenant_id)
    readings = []
    if schedule is not None:
        readings = [clock_rules.reading(c, schedule=schedule, now=now) for c in clocks]
    note = None
    if schedule is None:
        note = "This client firm has no business calendar: no SLA clocks run for its contacts."
    elif not readings:
        note = (
            "No SLA clock applies to this contact: when it arrived the client firm had no "
            "default SLA policy, or the policy has no target for its priority, channel and "
            "category."
        )
    running = [r["due_at"] for r in readings if r["due_at"] is not None]
    return {
        "contact_id": contact.id,
        "policy_id": clocks[0].policy_id if clocks else None,
        "state": clock_rules.worst(r["state"] for r in readings),
        "due_at": min(running, default=None),
        "answer_threshold_seconds": contact.answer_threshold_seconds,
        "note": note,
        "clocks": readings,
    }


# --- engine internals ------------------------------------------------------------------------


def _target_of(policy: SlaPolicy | None, contact: Contact) -> dict | None:
    if policy is None:
        return None
    return clock_rules.choose_target(
        policy.targets or (),
        priority=contact.priority,
        channel=contact.channel,
        category=contact.category,
    )


def _at_risk_bps(policy: SlaPolicy | None) -> int:
    return policy.at_risk_bps if policy is not None else clock_rules.DEFAULT_AT_RISK_BPS


def _new_clocks(
    contact: Contact,
    policy: SlaPolicy | None,
    target: dict | None,
    schedule: business_time.Schedule,
    *,
    start: datetime,
    at_risk_bps: int | None = None,
) -> list[SlaClock]:
    bps = at_risk_bps if at_risk_bps is not None else _at_risk_bps(policy)
    targets = clock_rules.clock_targets(
        target, channel=contact.channel, direction=contact.direction
    )
    clocks = []
    for kind, seconds in targets.items():
        clock = SlaClock(
            tenant_id=contact.tenant_id,
            contact_id=contact.id,
            kind=kind,
            policy_id=policy.id if policy is not None else None,
            target_seconds=seconds,
        )
        clock_rules.start(clock, schedule=schedule, at=start, at_risk_bps=bps)
        clocks.append(clock)
    return clocks


def _clocks_of(contact: Contact) -> list[SlaClock]:
    # Read afresh: under the contact's lock, what a concurrent scan or request wrote counts.
    return list(
        db.session.scalars(
            select(SlaClock)
            .where(SlaClock.contact_id == contact.id)
            .order_by(SlaClock.kind)
            .execution_options(populate_existing=True)
        )
    )


def _policy_of(clocks: list[SlaClock]) -> SlaPolicy | None:
    policy_id = next((c.policy_id for c in clocks if c.policy_id is not None), None)
    return db.session.get(SlaPolicy, policy_id) if policy_id is not None else None


def _tick(contact: Contact, clocks: list[SlaClock], *, now: datetime) -> list[str]:
    """Mark what came due by `now`; record and announce each new transition; return them."""
    marked = []
    for clock in clocks:
        for transition in clock_rules.tick(clock, now=now):
            if _announce(contact, clock, transition, detected_at=now):
                marked.append(transition)
    return marked


def _announce(contact: Contact, clock: SlaClock, transition: str, *, detected_at: datetime) -> bool:
    """Record a clock's transition as a contact event and as a domain event (the firm's
    webhooks are made from it)."""
    action = EVENT_ACTIONS[transition]
    if transition == "at_risk" and _recorded(contact, action, clock.kind):
        # A reopened clock comes back at risk: it was announced when it first got there.
        return False
    event = transition_event(contact, clock, transition, detected_at=detected_at)
    db.session.add(ContactEvent(**event))
    events_service.record(**transition_announcement(contact, clock, transition, detected_at))
    return True


def transition_event(contact, clock, transition: str, *, detected_at: datetime) -> dict:
    """The contact event's columns for a clock's transition (`contact` and `clock`: models or
    rows with their fields)."""
    details = {
        "clock": clock.kind,
        "target_seconds": clock.target_seconds,
        "due_at": _iso(clock.due_at),
        "detected_at": _iso(detected_at),
    }
    if transition == "at_risk":
        details["at_risk_at"] = _iso(clock.at_risk_at)
    return {
        "tenant_id": contact.tenant_id,
        "contact_id": contact.id,
        "occurred_at": clock.at_risk_at if transition == "at_risk" else clock.breached_at,
        "action": EVENT_ACTIONS[transition],
        "from_status": contact.status,
        "to_status": contact.status,
        "agent_id": contact.agent_id,
        "details": details,
    }


def transition_announcement(contact, clock, transition: str, detected_at: datetime) -> dict:
    """The domain event of a clock's transition, as `events_service.record` takes it."""
    moment = "at_risk_at" if transition == "at_risk" else "breached_at"
    return {
        "type": DOMAIN_EVENTS[transition],
        # Derived from the clock, so the transition has one id wherever it is seen (it is the
        # webhook's `id` too).
        "id": uuid.uuid5(uuid.NAMESPACE_URL, f"{clock.id}:{transition}"),
        # What the firm needs to find the contact; never the end customer's personal data.
        "payload": {
            "contact_id": str(contact.id),
            "external_id": contact.external_id,
            "clock": clock.kind,
            "target_seconds": clock.target_seconds,
            "due_at": _iso(clock.due_at),
            moment: _iso(getattr(clock, moment)),
            "channel": contact.channel,
            "category": contact.category,
            "priority": contact.priority,
            "queue_id": str(contact.queue_id),
            "status": contact.status,
        },
        # When it was seen: the webhook's `created_at` (the instant itself is in the payload).
        "occurred_at": detected_at,
    }


def _recorded(contact: Contact, action: str, kind: str) -> bool:
    details = db.session.scalars(
        select(ContactEvent.details).where(
            ContactEvent.contact_id == contact.id, ContactEvent.action == action
        )
    )
    return any((d or {}).get("clock") == kind for d in details)


def _summarise(contact: Contact, clocks: list[SlaClock], *, status: str | None = None) -> None:
    """Keep the contact's SLA fields current (`summary`); `status`: the one it is taking, if
    not yet set."""
    (
        contact.sla_state,
        contact.sla_due_at,
        contact.sla_risk_at,
        contact.sla_breach_at,
    ) = summary(clocks, finished=(status or contact.status) in FINISHED_STATUSES)


def summary(clocks, *, finished: bool) -> tuple:
    """A contact's SLA fields from its clocks: its state (worst clock), nearest deadline (for
    routing) and the instants its open clocks put it at risk and in breach (for the
    wallboard); a finished contact is at risk of nothing."""
    state = clock_rules.worst(c.state for c in clocks)
    due_at = min((c.due_at for c in clocks if c.due_at is not None), default=None)
    risk_at, breach_at = (None, None) if finished else clock_rules.risk_instants(clocks)
    return state, due_at, risk_at, breach_at


def risk_now(now: datetime) -> tuple:
    """The clock conditions the at-risk rule stands for: (breached, at risk but not breached)
    as of `now`. `app.sla.at_risk` and the wallboard read the same from the instants each open
    contact keeps (app.sla.clocks.risk_instants); this is the rule from the clocks themselves,
    which tests hold those readers to."""
    return _breached_now(now), _at_risk_now(now)


def _breached_now(now: datetime):
    return or_(
        SlaClock.state == "breached",
        and_(SlaClock.due_at.is_not(None), SlaClock.due_at <= now),
    )


def _at_risk_now(now: datetime):
    return and_(
        ~_breached_now(now),
        or_(
            SlaClock.state == "at_risk",
            and_(SlaClock.at_risk_at.is_not(None), SlaClock.at_risk_at <= now),
        ),
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None
