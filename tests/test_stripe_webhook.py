"""Stripe's webhook: signed events move our invoices to paid or payment_failed, once per event
id and never backwards; and firms past due beyond their grace period can be suspended."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db import db, utcnow
from billing import stripe_sync
from billing.models import BillingAccount, Invoice, StripeEvent
from tenants import service as tenants_service
from tenants.models import AuditLog, Tenant
from tenants.scoping import tenant_scope, unscoped
from tests.stripe_server import sign_webhook

URL = "/v1/billing/stripe/webhook"
SECRET = "whsec_test_switchboard"


@pytest.fixture
def webhook_secret(app, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", SECRET)
    return SECRET


def finalized_invoice(app, tenant, *, period="2026-10", stripe_id=None) -> Invoice:
    """A pushed invoice of the tenant, as the worker leaves it."""
    with app.app_context(), tenant_scope(tenant.id):
        invoice = Invoice(
            period=period,
            currency="EUR",
            total=10_000,
            status="finalized",
            closed_at=utcnow(),
            finalized_at=utcnow(),
            stripe_invoice_id=stripe_id or f"in_{uuid.uuid4().hex[:12]}",
        )
        db.session.add(invoice)
        db.session.commit()
        return invoice


def event(type_: str, invoice: Invoice, *, event_id=None, metadata=True) -> bytes:
    """A Stripe event about one of our invoices, as Stripe serializes it."""
    document = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": type_,
        "created": 1_790_000_000,
        "livemode": False,
        "data": {
            "object": {
                "id": invoice.stripe_invoice_id,
                "object": "invoice",
                "metadata": {"invoice_id": str(invoice.id)} if metadata else {},
            }
        },
    }
    return json.dumps(document).encode()


def deliver(client, payload: bytes, *, secret=SECRET, signature=None):
    return client.post(
        URL,
        data=payload,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature or sign_webhook(payload, secret),
        },
    )


def saved(app, tenant, invoice_id) -> tuple[Invoice, BillingAccount | None]:
    with app.app_context(), tenant_scope(tenant.id):
        return db.session.get(Invoice, invoice_id), db.session.scalar(select(BillingAccount))


def audit_actions(app, tenant) -> list[str]:
    with app.app_context(), tenant_scope(tenant.id):
        return list(
            db.session.scalars(
                select(AuditLog.action)
                .where(AuditLog.action.like("invoice.%"))
                .order_by(AuditLog.occurred_at)
            )
        )


def test_invoice_paid_marks_our_invoice_paid_without_a_token(app, client, factory, webhook_secret):
    tenant = factory.tenant()
    invoice = finalized_invoice(app, tenant)

    response = deliver(client, event("invoice.paid", invoice))

    assert response.status_code == 200, response.json
    assert response.json == {"received": True, "outcome": "paid"}
    paid, _ = saved(app, tenant, invoice.id)
    assert paid.status == "paid" and paid.paid_at is not None
    assert audit_actions(app, tenant) == ["invoice.paid"]


def test_a_failed_payment_marks_the_invoice_and_starts_the_past_due_clock_once(
    app, client, factory, webhook_secret
):
    tenant = factory.tenant()
    invoice = finalized_invoice(app, tenant)

    assert deliver(client, event("invoice.payment_failed", invoice)).status_code == 200
    failed, account = saved(app, tenant, invoice.id)
    since = account.past_due_since
    assert failed.status == "payment_failed" and since is not None

    # Stripe retries the charge and it fails again: the clock keeps its start.
    assert deliver(client, event("invoice.payment_failed", invoice)).status_code == 200
    assert saved(app, tenant, invoice.id)[1].past_due_since == since


def test_the_same_event_delivered_twice_is_acted_on_once(app, client, factory, webhook_secret):
    tenant = factory.tenant()
    invoice = finalized_invoice(app, tenant)
    payload = event("invoice.payment_failed", invoice, event_id="evt_twice")

    first = deliver(client, payload)
    second = deliver(client, payload)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json["outcome"] == "duplicate"
    assert audit_actions(app, tenant) == ["invoice.payment_failed"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 1


def test_a_failure_reported_after_the_payment_does_not_undo_it(
    app, client, factory, webhook_secret
):
    tenant = factory.tenant()
    invoice = finalized_invoice(app, tenant)

    deliver(client, event("invoice.paid", invoice))
    late = deliver(client, event("invoice.payment_failed", invoice))

    assert late.status_code == 200 and late.json["outcome"] == "ignored"
    paid, account = saved(app, tenant, invoice.id)
    assert paid.status == "paid" and paid.payment_failed_at is None
    assert account is None or account.past_due_since is None


def test_paying_clears_past_due_only_when_nothing_else_is_unpaid(
    app, client, factory, webhook_secret
):
    tenant = factory.tenant()
    october = finalized_invoice(app, tenant, period="2026-10")
    november = finalized_invoice(app, tenant, period="2026-11")
    deliver(client, event("invoice.payment_failed", october))
    deliver(client, event("invoice.payment_failed", november))

    deliver(client, event("invoice.paid", october))
    assert saved(app, tenant, october.id)[1].past_due_since is not None

    deliver(client, event("invoice.paid", november))
    assert saved(app, tenant, november.id)[1].past_due_since is None


def test_an_invoice_without_our_metadata_is_found_by_its_stripe_id(
    app, client, factory, webhook_secret
):
    tenant = factory.tenant()
    invoice = finalized_invoice(app, tenant, stripe_id="in_found_by_id")

    response = deliver(client, event("invoice.paid", invoice, metadata=False))

    assert response.json["outcome"] == "paid"
    assert saved(app, tenant, invoice.id)[0].status == "paid"


def test_events_about_other_things_are_acknowledged_and_ignored(
    app, client, factory, webhook_secret
):
    tenant = factory.tenant()
    invoice = finalized_invoice(app, tenant)
    stranger = Invoice(id=uuid.uuid4(), stripe_invoice_id="in_not_ours")

    other_type = deliver(client, event("customer.updated", invoice))
    not_ours = deliver(client, event("invoice.paid", stranger))

    assert other_type.json["outcome"] == not_ours.json["outcome"] == "ignored"
    assert saved(app, tenant, invoice.id)[0].status == "finalized"


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "changed body", "no signature", "stale timestamp"],
)
def test_a_webhook_that_does_not_verify_is_refused_with_a_problem(
    app, client, factory, webhook_secret, tamper
):
    tenant = factory.tenant()
    invoice = finalized_invoice(app, tenant)
    payload = event("invoice.paid", invoice)
    signature = {
        "wrong secret": sign_webhook(payload, "whsec_someone_else"),
        "changed body": sign_webhook(payload.replace(b"invoice.paid", b"invoice.void"), SECRET),
        "no signature": "",
        "stale timestamp": sign_webhook(payload, SECRET, timestamp=1_000_000_000),
    }[tamper]

    response = client.post(
        URL,
        data=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
    )

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert "Stripe-Signature" in response.json["detail"]
    assert saved(app, tenant, invoice.id)[0].status == "finalized"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 0


def test_without_a_webhook_secret_the_endpoint_says_it_is_not_configured(app, client, factory):
    tenant = factory.tenant()
    invoice = finalized_invoice(app, tenant)

    response = deliver(client, event("invoice.paid", invoice))

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert saved(app, tenant, invoice.id)[0].status == "finalized"


# --- suspending firms past due ---------------------------------------------------------------


def past_due(app, tenant, *, days: int, grace_days: int = 15) -> None:
    with app.app_context(), tenant_scope(tenant.id):
        db.session.add(
            BillingAccount(grace_days=grace_days, past_due_since=utcnow() - timedelta(days=days))
        )
        db.session.commit()


def statuses(app, *tenants) -> list[str]:
    # Reading the firms themselves, which are not tenant-owned rows.
    with app.app_context(), unscoped():
        return [db.session.get(Tenant, t.id).status for t in tenants]


def test_firms_past_due_beyond_their_grace_period_are_suspended(app, factory):
    overdue, within_grace, short_grace, paying = (factory.tenant() for _ in range(4))
    past_due(app, overdue, days=16)
    past_due(app, within_grace, days=10)
    past_due(app, short_grace, days=4, grace_days=3)
    with app.app_context(), tenant_scope(paying.id):
        db.session.add(BillingAccount())
        db.session.commit()

    with app.app_context():
        suspended = stripe_sync.suspend_past_due(now=utcnow(), actor=tenants_service.SYSTEM)
        db.session.commit()
        again = stripe_sync.suspend_past_due(now=utcnow(), actor=tenants_service.SYSTEM)

    assert {t.id for t in suspended} == {overdue.id, short_grace.id}
    assert again == []
    assert statuses(app, overdue, within_grace, short_grace, paying) == [
        "suspended",
        "active",
        "suspended",
        "active",
    ]


def test_the_suspend_past_due_command_reports_how_many_firms_it_suspended(app, factory, runner):
    overdue = factory.tenant()
    past_due(app, overdue, days=30)

    result = runner.invoke(args=["billing", "suspend-past-due"])

    assert result.exit_code == 0, result.output
    assert result.output == "suspended 1 client firm(s) past due\n"
    assert statuses(app, overdue) == ["suspended"]
