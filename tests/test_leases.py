"""Leases on the background jobs' rows (app/leases.py), told for both jobs that use them: a
worker slower than its lease loses the row to the next worker, and its late outcome is not
recorded, even from the session that claimed it; a worker that died on the last attempt leaves
the row to be given up.

Time is controlled by passing `now=` to the services and the worker, never by sleeping.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from app import leases
from app.db import db, utcnow
from app.webhooks import service as webhooks_service
from billing import stripe_sync
from tests.test_stripe_push import closed_invoice, stored
from tests.test_webhook_delivery import (
    T0,
    allow_local_receivers,
    deliver,
    deliveries,
    enqueue,
    make_endpoint,
    serve_receiver,
)


@pytest.fixture
def receiver():
    yield from serve_receiver()


@pytest.fixture
def webhook_config(app, monkeypatch):
    allow_local_receivers(app, monkeypatch)


def test_a_delivery_whose_lease_ran_out_is_sent_by_the_next_worker_and_the_late_failure_is_dropped(
    app, factory, receiver, webhook_config
):
    tenant = factory.tenant()
    make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)

    with app.app_context():  # the slow worker, whose session keeps what it claimed
        slow, _ = webhooks_service.claim_next(now=T0)
        db.session.commit()
        later = T0 + timedelta(seconds=webhooks_service.lease_seconds() + 1)

        # Its lease runs out while it waits on the receiver; the next worker sends it.
        assert deliver(app, later)["delivered"] == 1

        # Then the slow worker's answer comes back: a failure, which must not undo that.
        late = webhooks_service.Outcome(T0, 503, "HTTP 503.", 30_000)
        assert webhooks_service.record(claim=slow, outcome=late) == leases.LEASE_LOST
        db.session.commit()

    [delivery] = deliveries(app, tenant)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    assert delivery.locked_until is None
    assert len(receiver.requests) == 1


def test_a_delivery_whose_worker_died_on_the_last_attempt_is_given_up_when_the_lease_ends(
    app, factory, receiver, webhook_config, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_ATTEMPTS", 1)
    tenant = factory.tenant()
    make_endpoint(app, tenant, receiver.url)
    enqueue(app, tenant)
    with app.app_context():
        webhooks_service.claim_next(now=T0)
        lease = webhooks_service.lease_seconds()
        db.session.commit()  # ... and the worker dies before recording its outcome

    assert deliver(app, T0 + timedelta(seconds=lease)) == {"delivered": 0, "retrying": 0, "dead": 1}

    [delivery] = deliveries(app, tenant)
    assert (delivery.status, delivery.attempts) == ("dead", 1)
    assert delivery.last_error == "Gave up after 1 attempts."
    assert receiver.requests == []


def test_a_push_whose_lease_ran_out_belongs_to_the_next_worker_and_the_late_failure_is_dropped(
    app, factory
):
    tenant = factory.tenant()
    invoice_id = closed_invoice(app, tenant)
    now = utcnow()

    with app.app_context():  # the slow worker, whose session keeps what it claimed
        slow, _ = stripe_sync.claim_next(now=now)
        db.session.commit()
        later = now + timedelta(seconds=stripe_sync.lease_seconds() + 1)

        with app.app_context():  # the next worker takes the push over
            taker, _ = stripe_sync.claim_next(now=later)
            db.session.commit()
        assert (slow.lease.attempt, taker.lease.attempt) == (1, 2)

        # The slow worker's failure comes back late: the row is the next worker's now.
        failed = stripe_sync.record_failure(claim=slow, error=TimeoutError("slow"), now=later)
        assert failed == leases.LEASE_LOST
        db.session.commit()

    _, _, message = stored(app, tenant, invoice_id)
    assert (message.status, message.attempts) == ("pending", 2)
    assert message.locked_until == taker.lease.locked_until
    assert message.last_error is None

    # The next worker's own failure is recorded, and the push is retried after the backoff.
    with app.app_context():
        failed = stripe_sync.record_failure(claim=taker, error=TimeoutError("down"), now=later)
        db.session.commit()
    assert failed == "retrying"
    _, _, message = stored(app, tenant, invoice_id)
    assert (message.status, message.attempts, message.locked_until) == ("pending", 2, None)
    assert message.last_error == "TimeoutError: down"
    assert message.next_attempt_at > later
