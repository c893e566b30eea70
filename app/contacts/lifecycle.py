"""The contact lifecycle (SPEC section 5) as data: which action moves which status where, and
what time each status adds to a contact's counters. Pure: no database, no request.

    queued -> assigned -> active -> (waiting_customer | escalated | on_hold) -> active
           -> resolved -> closed;  queued -> abandoned (voice, chat);
    resolved | closed -> reopened (within the tenant's reopen window) -> assigned -> active
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SYNCHRONOUS_CHANNELS = frozenset({"voice", "chat"})  # answered; may be abandoned
ASYNCHRONOUS_CHANNELS = frozenset({"email", "web", "social"})  # responded to

# action -> {from status: to status}
MOVES: dict[str, dict[str, str]] = {
    "assign": {"queued": "assigned", "reopened": "assigned", "assigned": "assigned"},
    "release": {"assigned": "queued"},
    "answer": {"assigned": "active"},
    "respond": {"assigned": "active", "active": "active"},
    "hold": {"active": "on_hold"},
    "resume": {"on_hold": "active", "waiting_customer": "active", "escalated": "active"},
    "wait-customer": {"active": "waiting_customer"},
    "escalate": {"active": "escalated"},
    "transfer": {
        "queued": "queued",
        "reopened": "reopened",
        "assigned": "queued",
        "active": "queued",
    },
    "resolve": {"active": "resolved"},
    "close": {"resolved": "closed"},
    "reopen": {"resolved": "reopened", "closed": "reopened"},
    "abandon": {"queued": "abandoned"},
    # A campaign's attempt that never reached the customer (no answer, busy, a bounce) ends
    # with its disposition straight from assigned.
    "unreached": {"assigned": "closed"},
}
# Moves only a campaign's attempt (a contact naming its campaign record) may make.
CAMPAIGN_ONLY = frozenset({"unreached"})
# Actions that change no status but are recorded.
NOTES = {"csat": frozenset({"resolved", "closed"})}

# Only some channels take some actions.
_CHANNEL_ONLY = {
    "answer": SYNCHRONOUS_CHANNELS,
    "abandon": SYNCHRONOUS_CHANNELS,
    "respond": ASYNCHRONOUS_CHANNELS,
}
# What an agent holds: each counts against its concurrency for the contact's channel.
HELD_STATUSES = ("assigned", "active", "on_hold", "waiting_customer", "escalated")
# Waiting for an agent to claim it.
WAITING_STATUSES = ("queued", "reopened")
# Where the time spent in a status goes when the contact leaves it.
_COUNTER = {
    "queued": "queued_seconds",
    "active": "talk_seconds",
    "on_hold": "hold_seconds",
}


class IllegalMove(Exception):
    """The action is not allowed from the contact's status (409)."""

    def __init__(self, action: str, status: str, allowed: list[str], reason: str = "") -> None:
        self.action, self.status, self.allowed = action, status, allowed
        detail = reason or f"A contact that is {status} cannot {action}."
        super().__init__(f"{detail} Allowed now: {', '.join(allowed) or 'none'}.")


def allowed_actions(*, status: str, channel: str, campaign: bool = False) -> list[str]:
    """The actions a contact in `status` on `channel` may take, in a stable order (with
    `campaign`, those of a campaign's attempt too)."""
    actions = [
        action
        for action, moves in MOVES.items()
        if status in moves
        and channel in _CHANNEL_ONLY.get(action, {channel})
        and (campaign or action not in CAMPAIGN_ONLY)
    ]
    actions += [action for action, statuses in NOTES.items() if status in statuses]
    return actions


@dataclass
class Move:
    """The outcome of applying an action: the new status and the fields to set."""

    action: str
    from_status: str
    to_status: str
    changes: dict


def plan(
    *,
    action: str,
    contact,
    at: datetime,
    reopen_window: timedelta | None = None,
    ended_at: datetime | None = None,
) -> Move:
    """Work out what `action` at `at` does to `contact` (read, never written, here).

    `ended_at`, on resolve, is when the conversation ended: talk time runs to it and
    after-contact work from it to `at`.
    """
    status, channel = contact.status, contact.channel
    campaign = getattr(contact, "campaign_record_id", None) is not None
    allowed = allowed_actions(status=status, channel=channel, campaign=campaign)
    if action not in allowed:
        reason = ""
        if action in _CHANNEL_ONLY and channel not in _CHANNEL_ONLY[action]:
            reason = f"A {channel} contact cannot {action}."
        raise IllegalMove(action, status, allowed, reason)
    if at < contact.status_since:
        raise IllegalMove(action, status, allowed, "The action predates the contact's last change.")
    if action in NOTES:
        return Move(action, status, status, {})

    to_status = MOVES[action][status]
    # Every move closes the time slice of the status it leaves (even into the same status).
    changes: dict = {"status": to_status, "status_since": at}
    counter = _COUNTER.get(status)
    if action == "resolve":
        end = ended_at or at
        if not contact.status_since <= end <= at:
            raise IllegalMove(
                action, status, allowed, "ended_at must lie between the last change and now."
            )
        changes["talk_seconds"] = contact.talk_seconds + _seconds(contact.status_since, end)
        changes["acw_seconds"] = contact.acw_seconds + _seconds(end, at)
        changes["resolved_at"] = at
    elif counter:
        changes[counter] = getattr(contact, counter) + _seconds(contact.status_since, at)

    if action == "assign":
        changes["assigned_at"] = at
    elif action in ("release", "transfer"):
        changes["agent_id"] = None
    elif action == "answer" and contact.answered_at is None:
        changes["answered_at"] = at
    elif action == "respond" and contact.first_response_at is None:
        changes["first_response_at"] = at
    elif action in ("close", "unreached"):
        changes["closed_at"] = at
    elif action == "abandon":
        changes["abandoned_at"] = at
    elif action == "reopen":
        since = contact.closed_at or contact.resolved_at
        if reopen_window is not None and since is not None and at - since > reopen_window:
            raise IllegalMove(
                action,
                status,
                [a for a in allowed if a != "reopen"],
                f"The reopen window ({reopen_window.days} days) has passed.",
            )
        changes.update(
            agent_id=None, queued_at=at, reopen_count=contact.reopen_count + 1, closed_at=None
        )
    return Move(action, status, to_status, changes)


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))
