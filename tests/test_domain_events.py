"""Domain events: what happens in a firm is written once, in the transaction of the change, and
read by consumers in order, each event exactly once (app/events, docs/architecture.md).

Webhook deliveries are the first consumer: an SLA alert reaches a firm's endpoint only through
the event log and the worker's events job.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime

import pytest
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.exc import DBAPIError

from app import worker
from app.contacts.models import Contact
from app.db import db, utcnow
from app.events import catalogue
from app.events import service as events_service
from app.events.models import DomainEvent, EventConsumer
from app.webhooks.models import WebhookDelivery
from tenants import scoping
from tenants import service as tenants_service
from tenants.models import AuditLog, Tenant
from tenants.scoping import tenant_scope, unscoped
from tests.factories import dispatch_events
from tests.test_contacts_import import NDJSON, _import
from tests.test_contacts_intake import create_contact, queue_of
from tests.test_contacts_lifecycle_api import act, floor, ok  # noqa: F401 - `floor` is a fixture
from tests.test_sla_engine import intake, madrid, sla_firm
from tests.test_sla_scan import scan

# --- helpers ---------------------------------------------------------------------------------


def events_of(app, tenant) -> list[DomainEvent]:
    """The firm's events, in the order they were recorded."""
    with app.app_context(), tenant_scope(tenant.id):
        return list(db.session.scalars(select(DomainEvent).order_by(DomainEvent.seq)))


def types_of(app, tenant) -> list[str]:
    return [e.type for e in events_of(app, tenant)]


def record_some(app, tenant, n: int) -> list[uuid.UUID]:
    """`n` invoice events of the firm, committed one transaction each; return their ids."""
    ids = []
    for _ in range(n):
        with app.app_context(), tenant_scope(tenant.id):
            ids.append(_record(tenant).id)
            db.session.commit()
    return ids


def _record(tenant) -> DomainEvent:
    return events_service.record(type="invoice.closed", payload=_invoice_closed(tenant))


def _invoice_closed(tenant) -> dict:
    return {
        "invoice_id": str(uuid.uuid4()),
        "period": "2026-11",
        "status": "closed",
        "currency": tenant.currency,
        "total": 1000,
        "closed_at": "2026-12-01T00:00:00+00:00",
    }


def drain(app, consumer: str, handle, *, expect: int, limit: int = 500) -> int:
    """Run a consumer, a batch per committed transaction, until it has handled `expect`
    events. Other test runs share the server and their open transactions may hold the log
    back for a moment (app/events/service.py), so this retries for a while."""
    handled, deadline = 0, time.monotonic() + 10
    with app.app_context():
        while handled < expect and time.monotonic() < deadline:
            batch = events_service.consume(consumer=consumer, handle=handle, limit=limit)
            db.session.commit()
            handled += batch or 0
            if not batch:
                time.sleep(0.02)
    return handled


def crash_once(app, consumer: str, handle, *, limit: int) -> None:
    """Run the batch whose consumer dies. Other test runs' open transactions may hold the log
    back short of the event it dies on (as for `drain`): such a batch is rolled back, as if it
    had not run, and tried again."""
    deadline = time.monotonic() + 10
    with app.app_context():
        while time.monotonic() < deadline:
            try:
                events_service.consume(consumer=consumer, handle=handle, limit=limit)
            except RuntimeError:
                db.session.rollback()
                return
            db.session.rollback()
            time.sleep(0.02)
    pytest.fail("the batch never reached the event its consumer dies on")


def audited_events(app, tenant) -> list[str]:
    """What the test consumer below wrote: one audit entry per event it handled."""
    with app.app_context(), tenant_scope(tenant.id):
        return list(
            db.session.scalars(
                select(AuditLog.target_id)
                .where(AuditLog.action == "test.consumed")
                .order_by(AuditLog.occurred_at, AuditLog.id)
            )
        )


def audit_consumer(event: DomainEvent) -> None:
    """A consumer whose work is a row in the database, so a rollback undoes it."""
    tenants_service.record_audit(
        actor=tenants_service.SYSTEM,
        action="test.consumed",
        target_type="domain_event",
        target_id=event.id,
        tenant_id=event.tenant_id,
    )


# --- recording -------------------------------------------------------------------------------


def test_a_contact_taken_in_is_an_event_recorded_with_it_and_carries_no_personal_data(
    app, client, factory
):
    tenant = factory.tenant()
    queue_id = queue_of(app, tenant, "General")
    integration = factory.caller("integration", tenant)

    contact = create_contact(client, integration, tenant, external_id="ZD-1")

    [created] = events_of(app, tenant)
    assert created.type == "contact.created"
    assert created.payload == {
        "contact_id": contact["id"],
        "external_id": "ZD-1",
        "channel": "email",
        "direction": "inbound",
        "category": "complaint",
        "priority": "normal",
        "status": "queued",
        "previous_status": None,
        "queue_id": str(queue_id),
        "agent_id": None,
        "department_id": None,
        "received_at": datetime.fromisoformat(contact["received_at"]).isoformat(),
        "imported": False,
    }
    written = json.dumps(created.payload)
    for personal in ("Ana", "ana@example.com", "600 123", "Parcel never arrived", "Monday"):
        assert personal not in written


def test_a_change_rolled_back_leaves_no_event(app, factory):
    from app.contacts import intake as contacts_intake

    tenant = factory.tenant()
    queue_of(app, tenant, "General")
    with app.app_context(), tenant_scope(tenant.id):
        contacts_intake.create(
            contact_in={"channel": "email", "category": "complaint", "received_at": utcnow()},
            tenant=tenant,
            actor=tenants_service.SYSTEM,
        )
        db.session.flush()
        assert db.session.scalars(select(DomainEvent.type)).all() == ["contact.created"]
        db.session.rollback()  # the request failed after the change

    assert events_of(app, tenant) == []
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalars(select(Contact)).all() == []


def test_each_lifecycle_action_is_the_event_the_catalogue_names(app, client, floor):  # noqa: F811
    contact = create_contact(client, floor.integration, floor.tenant, channel="voice")
    agent_id = floor.agent["id"]
    ok(act(client, floor, contact["id"], "assign", floor.supervisor, agent_id=agent_id))
    ok(act(client, floor, contact["id"], "answer"))
    ok(
        act(
            client,
            floor,
            contact["id"],
            "escalate",
            department_id=str(floor.department_id),
            note="x",
        )
    )
    ok(act(client, floor, contact["id"], "resume"))
    ok(act(client, floor, contact["id"], "resolve", disposition="informed", resolution_note="ok"))
    ok(act(client, floor, contact["id"], "close"))

    events = events_of(app, floor.tenant)
    assert [e.type for e in events] == [
        "contact.created",
        "contact.assigned",
        "contact.answered",
        "contact.escalated",
        "contact.resumed",
        "contact.resolved",
        "contact.closed",
    ]
    assigned, escalated, closed = events[1], events[3], events[6]
    assert (assigned.payload["agent_id"], assigned.payload["previous_agent_id"]) == (agent_id, None)
    assert escalated.payload["department_id"] == str(floor.department_id)
    assert (closed.payload["previous_status"], closed.payload["status"]) == ("resolved", "closed")
    assert {e.payload["contact_id"] for e in events} == {contact["id"]}


def test_an_import_records_an_event_per_contact_in_multi_row_inserts(app, client, factory):
    tenant = factory.tenant()
    queue_of(app, tenant, "General")
    supervisor = factory.caller("supervisor", tenant)
    rows = [
        {"channel": "email", "category": "complaint", "received_at": "2025-11-03T09:00:00Z"}
        for _ in range(30)
    ]
    inserts: list[str] = []

    def capture(_conn, _cursor, statement, _params, _context, _many):
        if statement.startswith("INSERT INTO domain_events"):
            inserts.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        body = "\n".join(json.dumps(row) for row in rows)
        assert _import(client, supervisor, tenant, body, NDJSON).status_code == 201
    finally:
        event.remove(engine, "before_cursor_execute", capture)

    events = events_of(app, tenant)
    assert len(events) == 30
    assert {(e.type, e.payload["imported"]) for e in events} == {("contact.created", True)}
    assert len(inserts) == 1  # one statement for the 30 rows


def test_an_event_type_outside_the_catalogue_or_a_payload_off_its_schema_is_refused(app, factory):
    tenant = factory.tenant()
    with app.app_context(), tenant_scope(tenant.id):
        with pytest.raises(events_service.UnknownEventType):
            events_service.record(type="contact.teleported", payload={})
        with pytest.raises(ValueError, match="does not fit the catalogue"):
            events_service.record(type="invoice.paid", payload={"invoice_id": "not an id"})
        db.session.rollback()


# --- isolation -------------------------------------------------------------------------------


@pytest.mark.parametrize("orm_filter", [True, False], ids=["orm-filter-on", "rls-only"])
def test_another_firms_events_are_invisible(app, factory, monkeypatch, orm_filter):
    acme, globex = factory.tenant(), factory.tenant()
    [mine] = record_some(app, acme, 1)
    record_some(app, globex, 2)
    monkeypatch.setattr(scoping, "ORM_FILTER_ENABLED", orm_filter)

    with app.app_context(), tenant_scope(acme.id):
        orm = db.session.scalars(select(DomainEvent.id)).all()
        raw = db.session.connection().execute(text("SELECT id FROM domain_events")).scalars().all()
        db.session.rollback()

    assert orm == [mine]
    assert raw == [mine]


def test_the_app_may_not_rewrite_or_delete_events_but_purging_the_firm_takes_them(app, factory):
    tenant = factory.tenant()
    record_some(app, tenant, 2)
    for statement in (
        "UPDATE domain_events SET type = 'contact.created'",
        "DELETE FROM domain_events",
    ):
        with app.app_context(), tenant_scope(tenant.id):
            with pytest.raises(DBAPIError, match="permission denied for table domain_events"):
                db.session.connection().execute(text(statement))
            db.session.rollback()
    assert len(events_of(app, tenant)) == 2

    with app.app_context():
        firm = db.session.get(Tenant, tenant.id)
        firm.status, firm.purge_after = "offboarded", datetime(2020, 1, 1).astimezone()
        db.session.commit()
        purged = tenants_service.purge(tenant=firm, actor=tenants_service.SYSTEM)
        db.session.commit()

    assert purged["rows"]["domain_events"] == 2
    with app.app_context(), unscoped():  # the firm is gone: look everywhere
        assert db.session.scalars(select(DomainEvent)).all() == []


# --- consuming -------------------------------------------------------------------------------


def test_a_consumer_that_crashes_mid_batch_resumes_and_handles_each_event_once(app, factory):
    tenant = factory.tenant()
    ids = record_some(app, tenant, 5)
    crash_on = {ids[3]}

    def flaky(event: DomainEvent) -> None:
        audit_consumer(event)
        if event.id in crash_on:
            crash_on.clear()  # only the first time
            raise RuntimeError("the consumer's process died")

    assert drain(app, "test-audit", flaky, expect=2, limit=2) == 2  # events 1-2, committed
    crash_once(app, "test-audit", flaky, limit=2)  # 3, then 4 dies
    # The worker rolls back the whole batch (event 3's work and the position with it).
    assert drain(app, "test-audit", flaky, expect=3) == 3
    with app.app_context():
        assert events_service.consume(consumer="test-audit", handle=flaky) == 0  # none left

    assert audited_events(app, tenant) == [str(i) for i in ids]


def test_two_transactions_committing_out_of_order_are_both_consumed(app, factory):
    """A slow transaction takes the smaller seq but commits after a quick one: reading by seq
    alone would move past it; the (tx, seq) order and the snapshot's horizon wait for it."""
    tenant = factory.tenant()
    engine = create_engine(app.config["DATABASE_URL"])
    try:
        with app.app_context():
            slow = db.factory(app)(bind=engine)
            quick = db.factory(app)(bind=engine)
            with tenant_scope(tenant.id):
                try:
                    slow_event = _record_in(slow, tenant)
                    quick_event = _record_in(quick, tenant)
                    assert slow_event.seq < quick_event.seq
                    quick.commit()
                    # The quick one is committed but waits behind the open slow one.
                    assert events_service.consume(consumer="test-order", handle=audit_consumer) == 0
                    db.session.commit()
                    slow.commit()
                finally:
                    slow.close()
                    quick.close()
    finally:
        engine.dispose()

    assert drain(app, "test-order", audit_consumer, expect=2) == 2
    assert audited_events(app, tenant) == [str(slow_event.id), str(quick_event.id)]


def _record_in(session, tenant) -> DomainEvent:
    """Record an event in another session (another connection, another transaction)."""
    event_ = DomainEvent(
        type="invoice.closed",
        occurred_at=datetime(2026, 12, 1).astimezone(),
        payload=_invoice_closed(tenant),
    )
    session.add(event_)
    session.flush()
    return event_


def test_two_workers_running_one_consumer_never_handle_an_event_twice(app, factory):
    tenant = factory.tenant()
    with app.app_context():  # the consumer has run before: its position is there to lock
        assert events_service.consume(consumer="test-pair", handle=audit_consumer) == 0
        db.session.commit()
    ids = record_some(app, tenant, 6)
    inside, release = threading.Event(), threading.Event()
    handled: list[uuid.UUID] = []
    results: dict[str, int | None] = {}

    def slow(event: DomainEvent) -> None:
        inside.set()
        release.wait(10)
        handled.append(event.id)

    def first() -> None:
        results["first"] = drain(app, "test-pair", slow, expect=6)

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    # The first worker holds the consumer's position: the second skips instead of repeating.
    with app.app_context():
        results["second"] = events_service.consume(consumer="test-pair", handle=slow)
        db.session.rollback()
    release.set()
    thread.join(20)

    assert results == {"first": 6, "second": None}
    assert handled == ids
    with app.app_context(), tenant_scope(tenant.id):
        position = db.session.get(EventConsumer, "test-pair")
        last = db.session.get(DomainEvent, ids[-1])
        assert (position.tx, position.seq) == (last.tx, last.seq)


def test_sla_alerts_reach_the_firms_webhooks_through_the_event_log(app, factory):
    tenant, _ = sla_firm(app, factory)
    cid = intake(app, tenant, madrid(2025, 3, 10, 9, 0))
    scan(app, madrid(2025, 3, 10, 13, 30))  # at risk (12:12) and breached (13:00) at once

    alerts = [e for e in events_of(app, tenant) if e.type.startswith("sla.")]
    assert [e.type for e in alerts] == ["sla.at_risk", "sla.breached"]
    assert {e.payload["contact_id"] for e in alerts} == {str(cid)}
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalars(select(WebhookDelivery)).all() == []  # not before the job

    # Every consumer reads every event (quality samples only resolved contacts: none here).
    assert dispatch_events(app) == {"to webhooks": 3, "to quality": 3}
    with app.app_context(), tenant_scope(tenant.id):
        deliveries = db.session.scalars(select(WebhookDelivery)).all()
    assert sorted((d.event_id, d.event_type, d.created_at) for d in deliveries) == sorted(
        (e.id, e.type, e.occurred_at) for e in alerts
    )
    assert dispatch_events(app) == {}  # handed over once


def test_the_worker_dispatches_events_before_it_delivers(app):
    assert [name for name, _ in worker.JOBS][:2] == ["events", "webhooks"]
    assert [name for name, _ in worker.CONSUMERS] == ["webhooks", "quality"]


# --- the catalogue in the API docs -----------------------------------------------------------


def test_the_api_docs_list_every_event_of_the_catalogue_with_its_payload(client):
    spec = client.get("/openapi.json").get_json()

    [tag] = [t for t in spec["tags"] if t["name"] == catalogue.TAG]
    schemas = spec["components"]["schemas"]
    for entry in catalogue.EVENT_TYPES:
        assert f"| `{entry.name}` | {entry.when} |" in tag["description"]
        assert set(schemas[entry.component]["properties"]) == set(entry.payload().fields)
    assert len(catalogue.CATALOGUE) == len(catalogue.EVENT_TYPES)
    assert set(catalogue.CONTACT_ACTIONS.values()) <= set(catalogue.CATALOGUE)


def test_every_lifecycle_action_has_its_event_in_the_catalogue():
    from app.contacts import lifecycle

    assert set(catalogue.CONTACT_ACTIONS) == set(lifecycle.MOVES) | set(lifecycle.NOTES)


def test_every_webhook_event_type_is_in_the_catalogue():
    from app.webhooks.models import EVENT_TYPES

    assert set(EVENT_TYPES) <= set(catalogue.CATALOGUE)
