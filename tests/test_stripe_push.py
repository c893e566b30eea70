"""Pushing closed invoices to Stripe from the outbox, with the real stripe-python client against
the fake in tests/stripe_server.py: exactly one Stripe item per invoice line, whatever fails.

Invoices, lines and outbox rows are written directly (as closing a month writes them). Time is
controlled by passing `now=` to the worker, never by sleeping (except the one timeout test).
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
import stripe
from sqlalchemy import select

from app import worker
from app.db import db, utcnow
from billing import stripe_sync
from billing.models import BillingAccount, Invoice, InvoiceLine, OutboxMessage
from tenants.scoping import tenant_scope
from tests.stripe_server import serve_fake_stripe

LINES = (
    ("usage", "Voice inbound, complaint (tier 1)", 100, 250, 25_000),
    ("usage", "Email inbound, default (tier 1)", 40, 150, 6_000),
    ("sla_credit", "SLA credit: service level 72 % (target 80 %)", 1, -1_550, -1_550),
)


@pytest.fixture
def fake_stripe(app, monkeypatch):
    """A fake Stripe the app is configured to use, with no client-side retries."""
    with serve_fake_stripe() as fake:
        monkeypatch.setitem(app.config, "STRIPE_API_KEY", "sk_test_switchboard")
        monkeypatch.setitem(app.config, "STRIPE_API_BASE", fake.url)
        monkeypatch.setitem(app.config, "STRIPE_MAX_NETWORK_RETRIES", 0)
        monkeypatch.setitem(app.config, "STRIPE_TIMEOUT_SECONDS", 1)
        yield fake


def closed_invoice(app, tenant, *, period="2026-10", lines=LINES) -> uuid.UUID:
    """Write a closed invoice with its lines and its outbox row, as closing a month does."""
    now = utcnow()
    with app.app_context(), tenant_scope(tenant.id):
        invoice = Invoice(
            period=period,
            currency="EUR",
            usage_count=140,
            subtotal=31_000,
            credit_amount=1_550,
            total=sum(line[4] for line in lines),
            closed_at=now,
        )
        db.session.add(invoice)
        db.session.flush()
        for position, (kind, description, quantity, unit_amount, amount) in enumerate(lines, 1):
            db.session.add(
                InvoiceLine(
                    invoice_id=invoice.id,
                    position=position,
                    kind=kind,
                    description=description,
                    quantity=quantity,
                    unit_amount=unit_amount,
                    amount=amount,
                )
            )
        db.session.add(
            OutboxMessage(kind=stripe_sync.PUSH_INVOICE, invoice_id=invoice.id, next_attempt_at=now)
        )
        db.session.commit()
        return invoice.id


def run_push(app, now=None) -> dict[str, int]:
    """One worker pass over the Stripe outbox at `now` (default: the real now)."""
    with app.app_context():
        return worker.push_invoices(stop=threading.Event(), now=now or utcnow())


def stored(app, tenant, invoice_id):
    """Our invoice, its lines (by position) and its outbox row, as saved."""
    with app.app_context(), tenant_scope(tenant.id):
        invoice = db.session.get(Invoice, invoice_id)
        lines = list(
            db.session.scalars(
                select(InvoiceLine)
                .where(InvoiceLine.invoice_id == invoice_id)
                .order_by(InvoiceLine.position)
            )
        )
        message = db.session.scalar(
            select(OutboxMessage).where(OutboxMessage.invoice_id == invoice_id)
        )
        return invoice, lines, message


def assert_billed_once(fake, app, tenant, invoice_id) -> None:
    """Stripe holds one finalized invoice for ours, with exactly one item per line."""
    invoice, lines, message = stored(app, tenant, invoice_id)
    ours = [i for i in fake.invoices.values() if i["metadata"]["invoice_id"] == str(invoice_id)]
    assert len(ours) == 1
    assert ours[0]["id"] == invoice.stripe_invoice_id and ours[0]["status"] == "open"
    items = fake.items_of(invoice.stripe_invoice_id)
    per_line = Counter(i["metadata"]["line_id"] for i in items)
    assert per_line == Counter(str(line.id) for line in lines)
    assert {i["id"] for i in items} == {line.stripe_invoice_item_id for line in lines}
    assert ours[0]["total"] == invoice.total
    assert (invoice.status, message.status) == ("finalized", "sent")


def test_a_closed_invoice_becomes_a_customer_one_item_per_line_and_a_finalized_invoice(
    app, factory, fake_stripe
):
    tenant = factory.tenant()
    invoice_id = closed_invoice(app, tenant)

    assert run_push(app) == {"sent": 1, "retrying": 0}

    invoice, lines, message = stored(app, tenant, invoice_id)
    assert_billed_once(fake_stripe, app, tenant, invoice_id)
    (customer,) = fake_stripe.customers.values()
    assert customer["metadata"] == {"tenant_id": str(tenant.id)}
    assert customer["name"] == tenant.name
    items = sorted(fake_stripe.items_of(invoice.stripe_invoice_id), key=lambda i: i["id"])
    assert [(i["amount"], i["currency"], i["customer"]) for i in items] == [
        (25_000, "eur", customer["id"]),
        (6_000, "eur", customer["id"]),
        (-1_550, "eur", customer["id"]),  # the SLA credit, as a negative item
    ]
    assert items[2]["metadata"] == {"line_id": str(lines[2].id), "invoice_id": str(invoice_id)}
    assert invoice.finalized_at is not None and message.sent_at is not None
    with app.app_context(), tenant_scope(tenant.id):
        account = db.session.scalar(select(BillingAccount))
    assert account.stripe_customer_id == customer["id"]
    # Every call carried the key derived from our record.
    keys = [r.idempotency_key for r in fake_stripe.requests]
    assert keys[1].startswith(f"sb-customer-name-{tenant.id}-")
    assert keys[:1] + keys[2:] == [
        f"sb-customer-{tenant.id}",
        f"sb-invoice-{invoice_id}",
        *(f"sb-line-{line.id}" for line in lines),
        f"sb-finalize-{invoice_id}",
    ]


def test_a_second_month_reuses_the_tenants_stripe_customer(app, factory, fake_stripe):
    tenant = factory.tenant()
    october = closed_invoice(app, tenant, period="2026-10")
    run_push(app)
    november = closed_invoice(app, tenant, period="2026-11")

    assert run_push(app) == {"sent": 1, "retrying": 0}

    assert len(fake_stripe.customers) == 1
    assert_billed_once(fake_stripe, app, tenant, october)
    assert_billed_once(fake_stripe, app, tenant, november)


def rename(app, tenant, name: str) -> None:
    from tenants.models import Tenant

    with app.app_context(), tenant_scope(tenant.id):
        db.session.get(Tenant, tenant.id).name = name
        db.session.commit()


def test_a_firm_renamed_before_stripe_was_heard_from_is_billed_under_its_new_name(
    app, factory, fake_stripe
):
    tenant = factory.tenant()
    invoice_id = closed_invoice(app, tenant)
    fake_stripe.fail("POST", "/v1/customers", action="drop_after_commit", nth=1)
    now = utcnow()

    assert run_push(app, now) == {"sent": 0, "retrying": 1}
    rename(app, tenant, "Acme Renamed")
    assert run_push(app, now + timedelta(hours=2)) == {"sent": 1, "retrying": 0}

    # The replayed key found the same parameters: one customer, under the firm's new name.
    (customer,) = fake_stripe.customers.values()
    assert customer["name"] == "Acme Renamed"
    assert_billed_once(fake_stripe, app, tenant, invoice_id)


def test_a_rename_shows_on_the_stripe_customer_from_the_next_invoice(app, factory, fake_stripe):
    tenant = factory.tenant()
    closed_invoice(app, tenant, period="2026-10")
    run_push(app)
    rename(app, tenant, "Acme Holdings")
    closed_invoice(app, tenant, period="2026-11")

    assert run_push(app) == {"sent": 1, "retrying": 0}

    (customer,) = fake_stripe.customers.values()
    assert customer["name"] == "Acme Holdings"


def test_a_key_stripe_refuses_for_good_is_an_error_in_the_log_at_once(
    app, factory, fake_stripe, caplog
):
    tenant = factory.tenant()
    invoice_id = closed_invoice(app, tenant)
    # Stripe already holds the draft's key with other parameters (a push made by an older
    # release, say): every replay of it is refused.
    key = f"sb-invoice-{invoice_id}"
    fake_stripe._replies[key] = ("POST", "/v1/invoices", {"customer": "cus_x"}, 200, {})

    with caplog.at_level(logging.WARNING, logger="billing.stripe_sync"):
        assert run_push(app) == {"sent": 0, "retrying": 1}

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "refused for good" in errors[0] and "IdempotencyError" in errors[0]
    # Still pending: the age alert and the metric go on showing it until a person acts.
    assert stored(app, tenant, invoice_id)[2].status == "pending"


def test_the_worker_command_pushes_due_invoices_and_says_so(app, factory, fake_stripe, runner):
    tenant = factory.tenant()
    invoice_id = closed_invoice(app, tenant)

    result = runner.invoke(args=["worker", "--once"])

    assert result.exit_code == 0, result.output
    assert "stripe: 1 sent, 0 retrying" in result.output
    assert_billed_once(fake_stripe, app, tenant, invoice_id)


def test_without_a_stripe_key_invoices_stay_internal_and_nothing_touches_the_network(
    app, factory, fake_stripe, monkeypatch, runner
):
    monkeypatch.setitem(app.config, "STRIPE_API_KEY", None)
    tenant = factory.tenant()
    invoice_id = closed_invoice(app, tenant)

    with app.app_context():
        results = worker.run_pass(stop=threading.Event(), now=utcnow() + timedelta(days=2))
    cli = runner.invoke(args=["worker", "--once"])

    assert results["stripe"] == {}
    assert "stripe" not in cli.output
    assert fake_stripe.requests == []
    invoice, _, message = stored(app, tenant, invoice_id)
    assert invoice.status == "closed" and invoice.stripe_invoice_id is None
    assert (message.status, message.attempts) == ("pending", 0)


def test_stripe_failing_mid_push_is_retried_later_and_bills_each_line_once(
    app, factory, fake_stripe
):
    tenant = factory.tenant()
    invoice_id = closed_invoice(app, tenant)
    fake_stripe.fail("POST", "/v1/invoiceitems", action="500", nth=2)
    now = utcnow()

    assert run_push(app, now) == {"sent": 0, "retrying": 1}

    invoice, lines, message = stored(app, tenant, invoice_id)
    assert [line.stripe_invoice_item_id is not None for line in lines] == [True, False, False]
    assert invoice.status == "closed"
    assert message.status == "pending" and message.attempts == 1
    assert "HTTP 500" in message.last_error
    assert message.next_attempt_at > now and message.locked_until is None
    # Not due again yet.
    assert run_push(app, now) == {"sent": 0, "retrying": 0}

    assert run_push(app, now + timedelta(hours=2)) == {"sent": 1, "retrying": 0}

    assert_billed_once(fake_stripe, app, tenant, invoice_id)
    assert len(fake_stripe.invoice_items) == len(LINES)
    assert stored(app, tenant, invoice_id)[2].last_error is None


def test_a_connection_dropped_after_stripe_created_an_item_is_replayed_not_duplicated(
    app, factory, fake_stripe
):
    tenant = factory.tenant()
    invoice_id = closed_invoice(app, tenant)
    fake_stripe.fail("POST", "/v1/invoiceitems", action="drop_after_commit", nth=1)
    now = utcnow()

    assert run_push(app, now) == {"sent": 0, "retrying": 1}
    # Stripe made the item; we never heard back.
    assert len(fake_stripe.invoice_items) == 1
    assert stored(app, tenant, invoice_id)[1][0].stripe_invoice_item_id is None

    assert run_push(app, now + timedelta(hours=2)) == {"sent": 1, "retrying": 0}

    assert_billed_once(fake_stripe, app, tenant, invoice_id)
    first_line_key = f"sb-line-{stored(app, tenant, invoice_id)[1][0].id}"
    assert [r.idempotency_key for r in fake_stripe.requests].count(first_line_key) == 2


def test_a_worker_killed_while_sending_an_item_leaves_nothing_under_its_key(
    app, factory, fake_stripe
):
    tenant = factory.tenant()
    invoice_id = closed_invoice(app, tenant)
    line_id = stored(app, tenant, invoice_id)[1][0].id
    # The dead worker got the headers and half the body out before SIGKILL.
    body = f"amount=25000&currency=eur&metadata[line_id]={line_id}".encode()
    host, port = fake_stripe.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as cut_off:
        cut_off.sendall(
            b"POST /v1/invoiceitems HTTP/1.1\r\nHost: stripe\r\n"
            b"Authorization: Bearer sk_test_switchboard\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Idempotency-Key: sb-line-{line_id}\r\n".encode()
            + f"Content-Length: {len(body) * 2}\r\n\r\n".encode()
            + body
        )

    assert run_push(app) == {"sent": 1, "retrying": 0}

    assert_billed_once(fake_stripe, app, tenant, invoice_id)


def test_a_finalize_that_timed_out_after_stripe_did_it_is_replayed(app, factory, fake_stripe):
    tenant = factory.tenant()
    invoice_id = closed_invoice(app, tenant)
    fake_stripe.fail("POST", r"/v1/invoices/[^/]+/finalize", action="hang")
    now = utcnow()

    assert run_push(app, now) == {"sent": 0, "retrying": 1}
    invoice, _, message = stored(app, tenant, invoice_id)
    assert fake_stripe.invoices[invoice.stripe_invoice_id]["status"] == "open"
    assert invoice.status == "closed" and "APIConnectionError" in message.last_error

    # Finalizing again would be refused ("already finalized"); the same key replays instead.
    assert run_push(app, now + timedelta(hours=2)) == {"sent": 1, "retrying": 0}
    assert_billed_once(fake_stripe, app, tenant, invoice_id)


class Killed(BaseException):
    """The worker process dying: nothing of ours runs after it (no failure is recorded)."""


@pytest.mark.parametrize(
    ("service", "method"),
    [
        (stripe.CustomerService, "create"),
        (stripe.InvoiceService, "create"),
        (stripe.InvoiceItemService, "create"),
        (stripe.InvoiceService, "finalize_invoice"),
    ],
)
def test_a_worker_killed_after_stripe_answered_any_step_is_taken_over_without_double_billing(
    app, factory, fake_stripe, monkeypatch, service, method
):
    tenant = factory.tenant()
    invoice_id = closed_invoice(app, tenant)
    real = getattr(service, method)
    calls = []

    def answered_then_killed(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        calls.append(result)
        if len(calls) == 2 or (len(calls) == 1 and service is not stripe.InvoiceItemService):
            raise Killed  # Stripe did it; we die before saving the answer
        return result

    monkeypatch.setattr(service, method, answered_then_killed)
    now = utcnow()
    with pytest.raises(Killed):
        run_push(app, now)
    monkeypatch.setattr(service, method, real)

    # The dead worker's lease keeps others off until it ends...
    assert run_push(app, now) == {"sent": 0, "retrying": 0}
    # ...then another worker takes the push over and replays what went unsaved.
    with app.app_context():
        later = now + timedelta(seconds=stripe_sync.lease_seconds() + 1)
    assert run_push(app, later) == {"sent": 1, "retrying": 0}

    assert_billed_once(fake_stripe, app, tenant, invoice_id)
    assert len(fake_stripe.customers) == 1
    assert len(fake_stripe.invoices) == 1
    assert len(fake_stripe.invoice_items) == len(LINES)
    assert stored(app, tenant, invoice_id)[2].attempts == 2


def test_two_workers_at_once_push_every_invoice_once_and_months_never_mix(
    app, factory, fake_stripe
):
    tenants = [factory.tenant() for _ in range(3)]
    invoices = [(t, closed_invoice(app, t, period="2026-10")) for t in tenants]
    # Two months of one tenant pushed side by side: each invoice gets only its own items.
    invoices.append((tenants[0], closed_invoice(app, tenants[0], period="2026-11")))
    results: list[dict[str, int]] = []
    start = threading.Barrier(2)

    def work():
        start.wait(5)
        results.append(run_push(app))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sum(r["sent"] for r in results) == len(invoices)
    for tenant, invoice_id in invoices:
        assert_billed_once(fake_stripe, app, tenant, invoice_id)
    assert len(fake_stripe.customers) == len(tenants)
    assert len(fake_stripe.invoice_items) == len(invoices) * len(LINES)


def test_a_push_pending_longer_than_12_hours_logs_an_error_and_shows_in_the_metric(
    app, factory, fake_stripe, caplog
):
    tenant = factory.tenant()
    invoice_id = closed_invoice(app, tenant)
    fake_stripe.fail("POST", "/v1/customers", action="500", nth=1)
    fake_stripe.fail("POST", "/v1/customers", action="500", nth=2)
    with app.app_context(), tenant_scope(tenant.id):
        created = db.session.scalar(select(OutboxMessage.created_at))

    with caplog.at_level(logging.ERROR, logger="billing.stripe_sync"):
        run_push(app, created + timedelta(hours=11))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    with caplog.at_level(logging.ERROR, logger="billing.stripe_sync"):
        run_push(app, created + timedelta(hours=13))
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "pending for 13.0 h" in errors[0].getMessage()

    with app.app_context():
        age = stripe_sync.outbox_oldest_pending_age_seconds(now=created + timedelta(hours=13))
    assert age == pytest.approx(13 * 3600)
    run_push(app, created + timedelta(hours=14))
    assert stored(app, tenant, invoice_id)[2].status == "sent"
    with app.app_context():
        assert stripe_sync.outbox_oldest_pending_age_seconds() == 0.0
