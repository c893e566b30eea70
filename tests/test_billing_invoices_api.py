"""Invoices and usage through the API: the preview at any time, closing a month (once, with its
Stripe outbox row), who reads what (and CSV), voiding usage, and the CLI close.

Usage is recorded through the billing service for contacts handled in March 2025 (Madrid), a
month long over; every figure is computed by hand in the comments.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.db import db, utcnow
from billing import rating
from billing import service as billing_service
from billing.models import Invoice, InvoiceLine, OutboxMessage, UsageRecord
from tenants.scoping import tenant_scope
from tests.http_helpers import assert_problem, audit_entries
from tests.test_billing_rating import kpi, price_firm
from tests.test_contacts_intake import queue_of
from tests.test_reports_sla import contact as unsaved_contact

PERIOD = "2025-03"
TIERS = [{"up_to": 2, "discount_bps": 0}, {"up_to": None, "discount_bps": 1000}]


def march(day: int, hour: int = 10) -> datetime:
    return datetime(2025, 3, day, hour, tzinfo=UTC)


def handle(app, tenant, queue_id, at: datetime, **fields) -> uuid.UUID:
    """A voice contact received, answered and resolved at `at`, billed as the lifecycle does."""
    with app.app_context(), tenant_scope(tenant.id):
        contact = unsaved_contact(
            queue_id,
            at - timedelta(minutes=5),
            status="resolved",
            status_since=at,
            answered_at=at - timedelta(minutes=4),
            resolved_at=at,
            **fields,
        )
        db.session.add(contact)
        db.session.flush()
        usage = billing_service.record_usage(contact=contact, at=at)
        db.session.commit()
        return usage.id


@pytest.fixture
def firm(app, factory):
    """A firm priced 1000 a contact, email 400, two tiers, a 2500 minimum; 3 contacts handled
    in March 2025: 2 voice at 1000 (tier 1), 1 email at 400 -> 360 (tier 2, 10 % off)."""
    tenant = factory.tenant()
    price_firm(
        app,
        tenant,
        prices=[{"channel": "email", "unit_amount": 400}],
        tiers=TIERS,
        monthly_minimum=2500,
    )
    queue_id = queue_of(app, tenant, "General")
    usage_ids = [
        handle(app, tenant, queue_id, march(3)),
        handle(app, tenant, queue_id, march(4)),
        handle(app, tenant, queue_id, march(5), channel="email"),
    ]
    return tenant, queue_id, usage_ids


def url(tenant, suffix: str) -> str:
    return f"/v1/tenants/{tenant.id}{suffix}"


def ok(response) -> dict | list:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def close(client, admin, period: str = PERIOD):
    return client.post(f"/v1/billing/periods/{period}/close", headers=admin.headers)


# --- preview ---------------------------------------------------------------------------------


def test_a_client_admin_previews_the_month_with_tiers_and_top_up(client, factory, firm):
    tenant, _queue_id, _usage = firm
    client_admin = factory.caller("client_admin", tenant)

    body = ok(
        client.get(url(tenant, f"/invoices/preview?period={PERIOD}"), headers=client_admin.headers)
    )

    lines = [
        (x["kind"], x["channel"], x["tier"], x["quantity"], x["unit_amount"], x["amount"])
        for x in body["lines"]
    ]
    assert lines == [
        ("usage", "voice", 1, 2, 1000, 2000),
        ("usage", "email", 2, 1, 360, 360),
        ("minimum_topup", None, None, 1, 140, 140),  # 2500 - 2360
    ]
    assert (body["status"], body["id"], body["currency"]) == ("preview", None, "EUR")
    assert body["tenant_id"] == str(tenant.id)
    assert (body["usage_count"], body["subtotal"], body["minimum_topup"]) == (3, 2360, 140)
    assert (body["credit_amount"], body["total"]) == (0, 2500)


def test_a_preview_with_a_malformed_period_is_422(client, factory, firm):
    tenant, _queue_id, _usage = firm
    admin = factory.caller("bpo_admin")

    body = assert_problem(
        client.get(url(tenant, "/invoices/preview?period=2025-13"), headers=admin.headers), 422
    )

    assert "period" in body["errors"]["query"]


def test_the_sla_credit_comes_from_the_months_report(app, client, factory):
    # 4 calls handled at 1000 = 4000; one more abandoned: abandonment 1 of 5 offered = 20 %
    # against a 5 % target: 15 points x 100 bps = 1500 bps (cap 2000): 600 off, total 3400.
    tenant = factory.tenant()
    price_firm(
        app,
        tenant,
        sla_credits={"total_cap_bps": 3000, "kpis": [kpi("abandonment", 500, 100, 2000)]},
    )
    queue_id = queue_of(app, tenant, "General")
    for day in (3, 4, 5, 6):
        handle(app, tenant, queue_id, march(day))
    with app.app_context(), tenant_scope(tenant.id):
        db.session.add(
            unsaved_contact(
                queue_id,
                march(7),
                status="abandoned",
                status_since=march(7, 11),
                abandoned_at=march(7, 11),
            )
        )
        db.session.commit()
    admin = factory.caller("bpo_admin")

    body = ok(client.get(url(tenant, f"/invoices/preview?period={PERIOD}"), headers=admin.headers))

    [figures] = body["sla_figures"]["kpis"]
    assert (figures["actual_bps"], figures["shortfall_bps"], figures["credit_bps"]) == (
        2000,
        1500,
        1500,
    )
    assert (body["subtotal"], body["credit_amount"], body["total"]) == (4000, 600, 3400)
    assert body["lines"][-1]["kind"] == "sla_credit" and body["lines"][-1]["amount"] == -600


# --- closing a month -------------------------------------------------------------------------


def _stored(app, tenant) -> tuple[list[Invoice], int, int]:
    with app.app_context(), tenant_scope(tenant.id):
        invoices = list(db.session.scalars(select(Invoice)))
        lines = db.session.scalar(select(func.count()).select_from(InvoiceLine))
        outbox = list(db.session.scalars(select(OutboxMessage)))
        assert all(o.kind == "stripe.push_invoice" and o.status == "pending" for o in outbox)
        return invoices, lines, len(outbox)


def test_closing_a_month_freezes_what_the_preview_showed(app, client, factory, firm):
    tenant, _queue_id, _usage = firm
    admin = factory.caller("bpo_admin")
    preview = ok(
        client.get(url(tenant, f"/invoices/preview?period={PERIOD}"), headers=admin.headers)
    )

    result = ok(close(client, admin))

    [row] = result["tenants"]
    assert (result["closed"], result["already_closed"], row["result"]) == (1, 0, "closed")
    invoice = ok(client.get(url(tenant, f"/invoices/{row['invoice_id']}"), headers=admin.headers))
    for key in ("usage_count", "subtotal", "minimum_topup", "credit_amount", "total", "lines"):
        assert invoice[key] == preview[key], key
    assert invoice["status"] == "closed" and invoice["closed_at"] is not None
    assert _stored(app, tenant)[1:] == (3, 1)  # three lines, one outbox row
    assert [e.details["total"] for e in audit_entries(app, "invoice.closed")] == [2500]


def test_closing_a_month_twice_changes_nothing(app, client, factory, firm):
    tenant, _queue_id, _usage = firm
    admin = factory.caller("bpo_admin")
    first = ok(close(client, admin))
    before = _stored(app, tenant)

    again = ok(close(client, admin))

    assert (again["closed"], again["already_closed"]) == (0, 1)
    assert again["tenants"][0]["invoice_id"] == first["tenants"][0]["invoice_id"]
    after = _stored(app, tenant)
    assert [i.updated_at for i in after[0]] == [i.updated_at for i in before[0]]
    assert after[1:] == before[1:] == (3, 1)


def test_a_month_not_yet_over_cannot_be_closed(client, factory, firm):
    admin = factory.caller("bpo_admin")
    this_month = utcnow().strftime("%Y-%m")

    body = assert_problem(close(client, admin, this_month), 409)

    assert "has not ended" in body["detail"]


def test_a_malformed_period_cannot_be_closed(client, factory):
    admin = factory.caller("bpo_admin")

    assert_problem(close(client, admin, "March-2025"), 422)


def test_only_the_bpo_admin_closes_a_month(client, factory, firm):
    tenant, _queue_id, _usage = firm

    assert_problem(close(client, factory.caller("client_admin", tenant)), 403)


def test_the_cli_closes_a_month_once(app, runner, firm):
    tenant, _queue_id, _usage = firm

    first = runner.invoke(args=["billing", "close", PERIOD])
    again = runner.invoke(args=["billing", "close", PERIOD])

    assert "1 invoice(s) closed, 0 already closed" in first.output, first.output
    assert "0 invoice(s) closed, 1 already closed" in again.output, again.output
    assert _stored(app, tenant)[2] == 1


# --- reading invoices and usage --------------------------------------------------------------


def test_a_client_admin_lists_reads_and_downloads_its_invoice(client, factory, firm):
    tenant, _queue_id, _usage = firm
    ok(close(client, factory.caller("bpo_admin")))
    client_admin = factory.caller("client_admin", tenant)

    [listed] = ok(client.get(url(tenant, "/invoices"), headers=client_admin.headers))
    response = client.get(
        url(tenant, f"/invoices/{listed['id']}"),
        headers={**client_admin.headers, "Accept": "text/csv"},
    )

    assert (listed["period"], listed["total"]) == (PERIOD, 2500)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["kind"], r["amount"]) for r in rows] == [
        ("usage", "2000"),
        ("usage", "360"),
        ("minimum_topup", "140"),
    ]
    assert rows[2]["channel"] == ""


def test_a_client_admin_pages_through_and_downloads_the_months_usage(client, factory, firm):
    tenant, _queue_id, usage_ids = firm
    client_admin = factory.caller("client_admin", tenant)

    page = client.get(
        url(tenant, f"/usage?period={PERIOD}&page=2&page_size=2"), headers=client_admin.headers
    )
    response = client.get(
        url(tenant, f"/usage?period={PERIOD}"),
        headers={**client_admin.headers, "Accept": "text/csv"},
    )

    assert [u["id"] for u in ok(page)] == [str(usage_ids[2])]
    assert '"total": 3' in page.headers["X-Pagination"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["id"] for r in rows] == [str(u) for u in usage_ids]
    assert [r["unit_amount"] for r in rows] == ["1000", "1000", "400"]


def test_a_client_viewer_may_not_read_invoices_or_usage(client, factory, firm):
    tenant, _queue_id, _usage = firm
    viewer = factory.caller("client_viewer", tenant)

    assert_problem(client.get(url(tenant, "/invoices"), headers=viewer.headers), 403)
    assert_problem(client.get(url(tenant, f"/usage?period={PERIOD}"), headers=viewer.headers), 403)


def test_another_firms_invoice_is_404(client, factory, firm):
    tenant, _queue_id, _usage = firm
    admin = factory.caller("bpo_admin")
    other = factory.tenant()
    invoice_id = ok(close(client, admin))["tenants"][0]["invoice_id"]
    assert len(ok(close(client, admin))["tenants"]) == 2  # both firms are active

    assert_problem(client.get(url(other, f"/invoices/{invoice_id}"), headers=admin.headers), 404)
    other_admin = factory.caller("client_admin", other)
    assert_problem(client.get(url(tenant, "/invoices"), headers=other_admin.headers), 404)


# --- voiding usage ---------------------------------------------------------------------------


def test_a_bpo_admin_voids_usage_which_leaves_the_month_with_an_audit_trail(
    app, client, factory, firm
):
    tenant, _queue_id, usage_ids = firm
    admin = factory.caller("bpo_admin")

    body = ok(
        client.post(
            url(tenant, f"/usage/{usage_ids[0]}/void"),
            json={"reason": "Reopened: the caller was never helped."},
            headers=admin.headers,
        )
    )
    preview = ok(
        client.get(url(tenant, f"/invoices/preview?period={PERIOD}"), headers=admin.headers)
    )

    assert (body["status"], body["void_reason"]) == (
        "voided",
        "Reopened: the caller was never helped.",
    )
    assert body["voided_by_user_id"] == str(admin.user_id)
    # Two left: 1000 (tier 1) + 400 (tier 1 now) = 1400, topped up by 1100 to 2500.
    assert (preview["usage_count"], preview["subtotal"], preview["minimum_topup"]) == (
        2,
        1400,
        1100,
    )
    [entry] = audit_entries(app, "usage.voided")
    assert entry.target_id == str(usage_ids[0]) and entry.tenant_id == tenant.id
    assert_problem(
        client.post(
            url(tenant, f"/usage/{usage_ids[0]}/void"),
            json={"reason": "again"},
            headers=admin.headers,
        ),
        409,
    )


def test_usage_of_a_closed_month_cannot_be_voided(app, client, factory, firm):
    tenant, _queue_id, usage_ids = firm
    admin = factory.caller("bpo_admin")
    ok(close(client, admin))

    response = client.post(
        url(tenant, f"/usage/{usage_ids[0]}/void"),
        json={"reason": "Too late."},
        headers=admin.headers,
    )

    assert "already closed" in assert_problem(response, 409)["detail"]
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.get(UsageRecord, usage_ids[0]).status == "billable"


def test_a_client_admin_may_not_void_usage(client, factory, firm):
    tenant, _queue_id, usage_ids = firm
    client_admin = factory.caller("client_admin", tenant)

    response = client.post(
        url(tenant, f"/usage/{usage_ids[0]}/void"),
        json={"reason": "No."},
        headers=client_admin.headers,
    )

    assert_problem(response, 403)


def test_handled_contacts_are_not_in_another_firms_usage(client, factory, firm):
    tenant, _queue_id, _usage = firm
    other = factory.tenant()
    admin = factory.caller("bpo_admin")

    assert ok(client.get(url(other, f"/usage?period={PERIOD}"), headers=admin.headers)) == []
    assert len(ok(client.get(url(tenant, f"/usage?period={PERIOD}"), headers=admin.headers))) == 3


@pytest.mark.parametrize(
    "tiers",
    [
        [],
        TIERS,
        [
            {"up_to": 3, "discount_bps": 0},
            {"up_to": 5, "discount_bps": 500},
            {"up_to": None, "discount_bps": 1000},
        ],
    ],
    ids=["no tiers", "two bands", "three bands"],
)
def test_the_database_counts_a_months_usage_per_tier_as_the_rating_rules_do(
    db_app, db_factory, tiers
):
    tenant = db_factory.tenant()
    price_firm(db_app, tenant, prices=[{"channel": "email", "unit_amount": 400}], tiers=tiers)
    queue_id = queue_of(db_app, tenant, "General")
    channels = ["voice", "email", "chat", "voice", "voice", "email", "chat", "voice"]
    for n, channel in enumerate(channels):
        # Handled out of the order they were received in: tiers follow the handling.
        handle(db_app, tenant, queue_id, march(20 - 2 * n, hour=9 + n % 3), channel=channel)

    with db_app.app_context(), tenant_scope(tenant.id):
        rows = db.session.execute(
            select(
                UsageRecord.channel,
                UsageRecord.category,
                UsageRecord.direction,
                UsageRecord.unit_amount,
            )
            .where(UsageRecord.period == PERIOD)
            .order_by(UsageRecord.handled_at, UsageRecord.id)
        ).all()
        counted = billing_service._usage_groups(period=PERIOD, tiers=tiers)

    assert len(rows) == len(channels)
    assert counted == rating.group_usage([tuple(row) for row in rows], tiers=tiers)
