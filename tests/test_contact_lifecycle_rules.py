"""The contact lifecycle as rules: every legal move, every illegal one, and the time it adds."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from app.contacts.lifecycle import CAMPAIGN_ONLY, MOVES, IllegalMove, allowed_actions, plan
from app.contacts.models import CONTACT_STATUSES
from app.vocabulary import CHANNELS

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@dataclass
class FakeContact:
    status: str = "queued"
    channel: str = "voice"
    status_since: datetime = T0
    answered_at: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    reopen_count: int = 0
    queued_seconds: int = 0
    talk_seconds: int = 0
    hold_seconds: int = 0
    acw_seconds: int = 0
    campaign_record_id: object = None


def _apply(contact, action, minutes, **kwargs):
    move = plan(action=action, contact=contact, at=T0 + timedelta(minutes=minutes), **kwargs)
    for name, value in move.changes.items():
        setattr(contact, name, value)
    return move


def test_a_call_is_queued_answered_held_resolved_and_closed_with_its_times():
    call = FakeContact(channel="voice")
    _apply(call, "assign", 2)  # waited 2 min
    _apply(call, "answer", 2.5)
    _apply(call, "hold", 7.5)  # talked 5.5 min (assigned 0.5 min is ringing, not talk)
    _apply(call, "resume", 9.5)  # held 2 min
    _apply(call, "resolve", 14.5, ended_at=T0 + timedelta(minutes=12.5))  # talk 3, acw 2
    _apply(call, "close", 20)

    assert call.status == "closed"
    assert call.queued_seconds == 120
    assert call.talk_seconds == 5 * 60 + 3 * 60
    assert call.hold_seconds == 120
    assert call.acw_seconds == 120
    assert call.answered_at == T0 + timedelta(minutes=2.5)
    assert call.closed_at == T0 + timedelta(minutes=20)


def test_an_email_gets_its_first_response_once_and_waits_on_the_customer():
    email = FakeContact(channel="email")
    _apply(email, "assign", 30)
    _apply(email, "respond", 40)
    _apply(email, "wait-customer", 41)
    _apply(email, "resume", 600)
    _apply(email, "respond", 610)

    assert email.first_response_at == T0 + timedelta(minutes=40)
    assert email.status == "active"
    # Waiting on the customer is neither talk nor hold.
    assert email.talk_seconds == 60 + 600


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (status, action)
        for status, action in itertools.product(CONTACT_STATUSES, [*MOVES, "csat"])
        if action not in allowed_actions(status=status, channel="voice")
    ],
)
def test_every_illegal_move_is_refused_naming_the_allowed_ones(status, action):
    contact = FakeContact(status=status, channel="voice")

    with pytest.raises(IllegalMove) as refused:
        plan(action=action, contact=contact, at=T0 + timedelta(minutes=1))

    assert refused.value.allowed == allowed_actions(status=status, channel="voice")
    assert "Allowed now:" in str(refused.value)


@pytest.mark.parametrize(
    ("status", "action", "to_status"),
    [(s, a, t) for a, moves in MOVES.items() for s, t in moves.items()],
)
def test_every_legal_move_lands_where_the_spec_says(status, action, to_status):
    channel = "email" if action == "respond" else "voice"
    campaign = "record" if action in CAMPAIGN_ONLY else None
    contact = FakeContact(status=status, channel=channel, campaign_record_id=campaign)

    move = plan(action=action, contact=contact, at=T0 + timedelta(minutes=1))

    assert (move.from_status, move.to_status) == (status, to_status)


def test_only_a_campaign_attempt_may_end_unreached():
    plain = FakeContact(status="assigned")
    attempt = FakeContact(status="assigned", campaign_record_id="record")

    with pytest.raises(IllegalMove):
        plan(action="unreached", contact=plain, at=T0 + timedelta(minutes=1))
    move = plan(action="unreached", contact=attempt, at=T0 + timedelta(minutes=1))

    assert move.to_status == "closed" and move.changes["closed_at"] == T0 + timedelta(minutes=1)
    assert "unreached" not in allowed_actions(status="assigned", channel="voice")


def test_answer_and_abandon_are_for_calls_and_chats_and_respond_for_written_channels():
    for channel in CHANNELS:
        synchronous = channel in ("voice", "chat")
        queued = allowed_actions(status="queued", channel=channel)
        assigned = allowed_actions(status="assigned", channel=channel)
        assert ("abandon" in queued) is synchronous
        assert ("answer" in assigned) is synchronous
        assert ("respond" in assigned) is not synchronous

    with pytest.raises(IllegalMove, match="A email contact cannot answer"):
        plan(action="answer", contact=FakeContact("assigned", "email"), at=T0)


def test_reopening_puts_it_back_in_line_within_the_window_only():
    resolved = FakeContact(status="resolved", resolved_at=T0, status_since=T0)

    move = _apply(resolved, "reopen", 60 * 24 * 3, reopen_window=timedelta(days=7))

    assert move.to_status == "reopened"
    assert resolved.reopen_count == 1
    assert resolved.queued_at == T0 + timedelta(days=3)
    late = FakeContact(status="closed", resolved_at=T0, closed_at=T0, status_since=T0)
    with pytest.raises(IllegalMove, match="reopen window"):
        plan(
            action="reopen",
            contact=late,
            at=T0 + timedelta(days=8),
            reopen_window=timedelta(days=7),
        )


def test_csat_is_recorded_on_resolved_or_closed_contacts_without_moving_them():
    move = plan(action="csat", contact=FakeContact(status="closed"), at=T0)

    assert (move.to_status, move.changes) == ("closed", {})


def test_time_cannot_run_backwards():
    contact = FakeContact(status="queued", status_since=T0)

    with pytest.raises(IllegalMove, match="predates"):
        plan(action="assign", contact=contact, at=T0 - timedelta(seconds=1))
