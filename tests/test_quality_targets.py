"""Quality as an SLA target: the policy's quality target, the SLA report's met/missed, and the
rate card's SLA credit on the month's average score, worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime

from billing import rating
from billing.schemas import SlaCreditsSchema
from tests.test_billing_invoices_api import handle
from tests.test_billing_rating import kpi, price_firm
from tests.test_reports_quality import MARCH, a_month_of_reviews
from tests.test_reports_sla import body
from tests.test_sla_policies_api import STANDARD, create, patch


def _sla(client, caller, tenant):
    return body(
        client.get(
            f"/v1/tenants/{tenant.id}/reports/sla",
            query_string={**MARCH, "granularity": "month"},
            headers=caller.headers,
        )
    )


def test_a_policy_takes_a_quality_target_and_the_sla_report_says_missed(app, client, factory):
    tenant, _, _ = a_month_of_reviews(app, factory)
    admin = factory.caller("bpo_admin")
    policy = create(client, admin, tenant, {**STANDARD, "is_default": True})
    assert policy["quality_target_bps"] is None

    changed = patch(client, admin, tenant, policy["id"], {"quality_target_bps": 6000})

    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["quality_target_bps"] == 6000
    report = _sla(client, factory.caller("client_viewer", tenant), tenant)
    # The month's four current reviews average 5833 (tests/test_reports_quality.py).
    assert report["quality"] == {"average_score_bps": 5833, "target_bps": 6000, "state": "missed"}
    assert report["settings"]["targets"]["quality_score_bps"] == 6000


def test_a_quality_target_at_or_below_the_average_is_met(app, client, factory):
    tenant, _, _ = a_month_of_reviews(app, factory)
    admin = factory.caller("bpo_admin")
    policy = create(client, admin, tenant, {**STANDARD, "quality_target_bps": 5833})

    report = _sla(client, factory.caller("client_viewer", tenant), tenant)

    assert policy["quality_target_bps"] == 5833
    assert report["quality"]["state"] == "met"


def test_a_quality_target_out_of_range_is_refused(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    response = client.post(
        f"/v1/tenants/{tenant.id}/sla-policies",
        json={**STANDARD, "quality_target_bps": 10001},
        headers=admin.headers,
    )

    assert response.status_code == 422
    assert "quality_target_bps" in str(response.get_json())


def test_the_rate_card_credits_a_quality_shortfall_worked_by_hand():
    terms = SlaCreditsSchema().load(
        {
            "total_cap_bps": 1500,
            "kpis": [
                {"kpi": "quality", "target_bps": 8000, "credit_bps_per_point": 20, "cap_bps": 1000}
            ],
        }
    )

    credit = rating.sla_credit(fee=100_000, sla_credits=terms, actuals={"quality": 5833})

    # Shortfall 8000 - 5833 = 2167 bps = 21.67 points; x 20 bps a point = 433.4 -> 433 bps;
    # 433 bps of 1000.00 = 43.30: 4330 minor units off.
    [kpi] = credit["kpis"]
    assert (kpi["shortfall_bps"], kpi["credit_bps"]) == (2167, 433)
    assert (credit["credit_bps"], credit["credit_amount"]) == (433, 4330)


def test_a_month_without_reviews_credits_nothing_for_quality():
    terms = {
        "total_cap_bps": 1500,
        "kpis": [
            {"kpi": "quality", "target_bps": 8000, "credit_bps_per_point": 20, "cap_bps": 1000}
        ],
    }

    assert (
        rating.sla_credit(fee=100_000, sla_credits=terms, actuals={"quality": None})[
            "credit_amount"
        ]
        == 0
    )


def test_a_months_invoice_preview_credits_the_quality_shortfall(app, client, factory):
    tenant, ids, _ = a_month_of_reviews(app, factory)
    price_firm(
        app,
        tenant,
        sla_credits={"total_cap_bps": 1500, "kpis": [kpi("quality", 8000, 20, 1000)]},
    )
    for day in (3, 4, 5):
        handle(app, tenant, ids["q1"], datetime(2026, 3, day, 10, tzinfo=UTC))

    preview = client.get(
        f"/v1/tenants/{tenant.id}/invoices/preview?period=2026-03",
        headers=factory.caller("client_admin", tenant).headers,
    )

    invoice = body(preview)
    [figures] = invoice["sla_figures"]["kpis"]
    # Three contacts at 1000: fee 3000. Average score 5833: 2167 bps short x 20 a point = 433
    # bps; 433 bps of 3000 = 129.9 -> 130 off.
    assert (figures["kpi"], figures["actual_bps"], figures["credit_bps"]) == ("quality", 5833, 433)
    assert (invoice["subtotal"], invoice["credit_amount"], invoice["total"]) == (3000, 130, 2870)
