"""The SLA scan (`flask --app wsgi sla scan`, `app.sla.scan.scan_batch`): it marks the clocks
that went at risk or breached while their contact did not change, across every client firm,
and announces each transition exactly once, however many scans run at once or again.

Contacts come from tests/test_sla_engine.py's firm: Madrid's office week (Mon-Fri 09:00-18:00)
and a policy of 4 h first response and 27 h (three business days) resolution.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import datetime

import pytest
from sqlalchemy import func, select

from app.contacts.models import ContactEvent
from app.db import db
from app.sla import scan as sla_scan
from app.sla.models import SlaClock
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from tenants.models import Tenant
from tenants.scoping import tenant_scope, unscoped
from tests.factories import dispatch_events
from tests.test_sla_engine import (
    HOOK_EVENTS,
    contact_of,
    deliveries,
    intake,
    madrid,
    sla_events,
    sla_firm,
)
from tests.test_webhook_delivery import (
    allow_local_receivers,
    deliver,
    receiver_verifies,
    serve_receiver,
)


def scan(app, now: datetime, limit: int = 500) -> dict:
    """One batch of the scan as the CLI runs it: its own unit of work, committed."""
    with app.app_context():
        counts = sla_scan.scan_batch(now=now, limit=limit)
        db.session.commit()
        return counts


def nothing(contacts: int = 0) -> dict:
    return {"contacts": contacts, "at_risk": 0, "breached": 0}


def test_the_scan_marks_each_clock_at_risk_then_breached_as_its_instants_come(db_app, db_factory):
    # On both databases: `make run` scans SQLite (a batch's clocks are read by row values).
    app, factory = db_app, db_factory
    tenant, _ = sla_firm(app, factory)
    # Mon 10 Mar 2025 09:00. First response (4 h): at risk 12:12, due 13:00. Resolution
    # (27 h): at risk after 21 h 36 min = Mon 9 h + Tue 9 h + Wed 3 h 36 min, Wed 12:36;
    # due Wed 18:00.
    cid = intake(app, tenant, madrid(2025, 3, 10, 9, 0))

    assert scan(app, madrid(2025, 3, 10, 12, 11)) == nothing()
    assert scan(app, madrid(2025, 3, 10, 12, 30)) == {"contacts": 1, "at_risk": 1, "breached": 0}
    assert contact_of(app, tenant, cid).sla_state == "at_risk"
    assert scan(app, madrid(2025, 3, 10, 12, 40)) == nothing()
    assert scan(app, madrid(2025, 3, 10, 13, 0)) == {"contacts": 1, "at_risk": 0, "breached": 1}
    assert scan(app, madrid(2025, 3, 11, 9, 0)) == nothing()
    assert scan(app, madrid(2025, 3, 12, 12, 36)) == {"contacts": 1, "at_risk": 1, "breached": 0}
    assert scan(app, madrid(2025, 3, 12, 18, 0)) == {"contacts": 1, "at_risk": 0, "breached": 1}
    assert scan(app, madrid(2025, 3, 20, 9, 0)) == nothing()

    assert sla_events(app, tenant, cid) == [
        ("sla_at_risk", "first_response", madrid(2025, 3, 10, 12, 12)),
        ("sla_breached", "first_response", madrid(2025, 3, 10, 13, 0)),
        ("sla_at_risk", "resolution", madrid(2025, 3, 12, 12, 36)),
        ("sla_breached", "resolution", madrid(2025, 3, 12, 18, 0)),
    ]
    assert [d.event_type for d in deliveries(app, tenant)] == [
        "sla.at_risk",
        "sla.breached",
        "sla.at_risk",
        "sla.breached",
    ]
    contact = contact_of(app, tenant, cid)
    # Breached clocks keep their deadline: the contact is the most overdue in its queue.
    assert (contact.sla_state, contact.sla_due_at) == ("breached", madrid(2025, 3, 10, 13, 0))


def test_the_scan_leaves_paused_and_stopped_clocks_alone(app, client, factory):
    from tests.test_sla_engine import act, agent_for

    tenant, queue_id = sla_firm(app, factory)
    agent_id = agent_for(app, client, factory, tenant, queue_id)
    cid = intake(app, tenant, madrid(2025, 3, 10, 9, 0))
    act(app, tenant, cid, "assign", madrid(2025, 3, 10, 9, 5), agent_id=agent_id)
    act(app, tenant, cid, "respond", madrid(2025, 3, 10, 9, 10))
    act(app, tenant, cid, "wait-customer", madrid(2025, 3, 10, 9, 20))

    # The customer never writes back: waiting on them for weeks breaches nothing.
    assert scan(app, madrid(2025, 4, 30, 9, 0)) == nothing()
    assert sla_events(app, tenant, cid) == []


def test_an_offboarded_firm_is_not_scanned(app, factory):
    tenant, _ = sla_firm(app, factory)
    intake(app, tenant, madrid(2025, 3, 10, 9, 0))
    with app.app_context():
        db.session.get(Tenant, tenant.id).status = "offboarded"
        db.session.commit()

    assert scan(app, madrid(2025, 3, 20, 9, 0)) == nothing()


def test_the_scan_command_marks_everything_due_in_batches_and_a_rerun_finds_nothing(
    app, factory, runner
):
    first, _ = sla_firm(app, factory)
    second, _ = sla_firm(app, factory)
    # Long overdue by now: each email's two clocks go at risk and breach.
    ids = [intake(app, first, madrid(2025, 3, 10, 9, 0)) for _ in range(2)]
    ids.append(intake(app, second, madrid(2025, 3, 10, 9, 0)))

    result = runner.invoke(args=["sla", "scan", "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "sla scan: 6 at risk, 6 breached"
    for tenant, cid in ((first, ids[0]), (first, ids[1]), (second, ids[2])):
        assert contact_of(app, tenant, cid).sla_state == "breached"
        assert len(sla_events(app, tenant, cid)) == 4
    again = runner.invoke(args=["sla", "scan"])
    assert again.output.strip() == "sla scan: 0 at risk, 0 breached"


SCANNERS = 4
CONTACTS_PER_FIRM = 15


def test_concurrent_scans_announce_each_transition_exactly_once(app, factory):
    firms = [sla_firm(app, factory)[0] for _ in range(2)]
    for tenant in firms:
        # A second endpoint: each event reaches each endpoint once.
        with app.app_context(), tenant_scope(tenant.id):
            db.session.add(
                WebhookEndpoint(
                    url="https://other.example.test/hook", secret="t" * 32, event_types=HOOK_EVENTS
                )
            )
            db.session.commit()
        for _ in range(CONTACTS_PER_FIRM):
            intake(app, tenant, madrid(2025, 3, 10, 9, 0))
    now = madrid(2025, 3, 20, 9, 0)  # every clock is long overdue
    totals: Counter = Counter()
    errors: list[BaseException] = []
    start = threading.Barrier(SCANNERS)

    def work() -> None:
        try:
            start.wait()
            while True:
                counts = scan(app, now, limit=4)
                totals.update(counts)
                if counts["contacts"] == 0 and _nothing_due(app, now):
                    return
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(SCANNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    dispatch_events(app)  # the worker's events job makes the deliveries
    contacts = 2 * CONTACTS_PER_FIRM
    clocks = 2 * contacts  # first response and resolution
    assert (totals["at_risk"], totals["breached"]) == (clocks, clocks)
    for tenant in firms:
        with app.app_context(), tenant_scope(tenant.id):
            per_clock = Counter(
                (e.contact_id, e.details["clock"], e.action)
                for e in db.session.scalars(
                    select(ContactEvent).where(ContactEvent.action.like("sla_%"))
                )
            )
            assert len(per_clock) == 2 * CONTACTS_PER_FIRM * 2
            assert set(per_clock.values()) == {1}
            per_delivery = db.session.execute(
                select(WebhookDelivery.event_id, func.count()).group_by(WebhookDelivery.event_id)
            ).all()
            # One delivery per event and endpoint (two endpoints).
            assert len(per_delivery) == 2 * CONTACTS_PER_FIRM * 2
            assert {n for _, n in per_delivery} == {2}
            states = set(db.session.scalars(select(SlaClock.state)))
            assert states == {"breached"}


def _nothing_due(app, now: datetime) -> bool:
    with app.app_context():
        # The test looks at every firm's clocks, as the scan does.
        with unscoped():
            return (
                db.session.scalar(
                    select(func.count())
                    .select_from(SlaClock)
                    .where(SlaClock.state.in_(("ok", "at_risk")), SlaClock.due_at <= now)
                )
                == 0
            )


def test_a_scan_and_a_request_on_the_same_contact_announce_the_breach_once(app, client, factory):
    from tests.test_sla_engine import act, agent_for

    tenant, queue_id = sla_firm(app, factory)
    agent_id = agent_for(app, client, factory, tenant, queue_id)
    cid = intake(app, tenant, madrid(2025, 3, 10, 9, 0))
    # The request holds the contact's lock: the scan skips it rather than waiting.
    with app.app_context(), tenant_scope(tenant.id):
        from app.contacts import service as contacts_service
        from tenants.service import SYSTEM

        contact = contacts_service.get(contact_id=cid, for_update=True)
        skipped: list[dict] = []
        thread = threading.Thread(
            target=lambda: skipped.append(scan(app, madrid(2025, 3, 10, 13, 30)))
        )
        thread.start()
        thread.join(timeout=30)
        contacts_service.act(
            contact=contact,
            action="assign",
            action_in={"agent_id": agent_id},
            tenant=db.session.get(Tenant, tenant.id),
            actor=SYSTEM,
            now=madrid(2025, 3, 10, 13, 30),
        )
        db.session.commit()

    assert skipped == [nothing()]
    assert scan(app, madrid(2025, 3, 10, 13, 40)) == nothing()
    assert [action for action, _, _ in sla_events(app, tenant, cid)] == [
        "sla_at_risk",
        "sla_breached",
    ]
    assert act(app, tenant, cid, "release", madrid(2025, 3, 10, 14, 0)).sla_state == "breached"
    assert len(deliveries(app, tenant)) == 2


@pytest.fixture
def receiver():
    yield from serve_receiver()


def test_a_breach_reaches_the_firms_receiver_with_its_fields_directly_under_data(
    app, factory, receiver, monkeypatch
):
    allow_local_receivers(app, monkeypatch)
    tenant, queue_id = sla_firm(app, factory)
    with app.app_context(), tenant_scope(tenant.id):
        endpoint = db.session.scalar(select(WebhookEndpoint))
        endpoint.url = receiver.url
        secret = endpoint.secret
        db.session.commit()
    cid = intake(app, tenant, madrid(2025, 3, 10, 9, 0), external_id="ZD-9")
    # Found overdue at 13:30: at risk (12:12) and breached (13:00) in one tick.
    scan(app, madrid(2025, 3, 10, 13, 30))
    dispatch_events(app)  # the worker's pass: events to deliveries, then delivering them

    assert deliver(app) == {"delivered": 2, "retrying": 0, "dead": 0}

    bodies = {}
    for request in receiver.requests:
        receiver_verifies(secret, request)
        bodies[request.headers["Switchboard-Event-Type"]] = json.loads(request.body)
    breach = bodies["sla.breached"]
    breached_event = next(d for d in deliveries(app, tenant) if d.event_type == "sla.breached")
    assert breach == {
        "id": str(breached_event.event_id),
        "type": "sla.breached",
        "created_at": "2025-03-10T12:30:00+00:00",
        "tenant_id": str(tenant.id),
        "data": {
            "contact_id": str(cid),
            "external_id": "ZD-9",
            "clock": "first_response",
            "target_seconds": 4 * 3600,
            "due_at": "2025-03-10T12:00:00+00:00",
            "breached_at": "2025-03-10T12:00:00+00:00",
            "channel": "email",
            "category": "complaint",
            "priority": "normal",
            "queue_id": str(queue_id),
            "status": "queued",
        },
    }
    assert bodies["sla.at_risk"]["data"]["at_risk_at"] == "2025-03-10T11:12:00+00:00"
    assert bodies["sla.at_risk"]["data"]["contact_id"] == str(cid)
