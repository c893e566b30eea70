"""The rate card: /v1/tenants/{tenant_id}/rate-card, versioned by the instant it takes effect."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.db import db, utcnow
from billing import service as billing_service
from billing.schemas import RateCardCreateSchema
from tenants import service as tenants_service
from tenants.scoping import tenant_scope
from tests.http_helpers import assert_problem, audit_entries

RATE_CARD_IN = {
    "default_unit_amount": 150,
    "prices": [
        {"channel": "voice", "unit_amount": 320},
        {"channel": "voice", "direction": "outbound", "unit_amount": 275},
        {"channel": "email", "category": "claim", "unit_amount": 410},
    ],
    "tier_mode": "graduated",
    "tiers": [
        {"up_to": 1000, "discount_bps": 0},
        {"up_to": 5000, "discount_bps": 500},
        {"up_to": None, "discount_bps": 1000},
    ],
    "monthly_minimum": 250000,
    "sla_credits": {
        "total_cap_bps": 1500,
        "kpis": [
            {
                "kpi": "service_level",
                "target_bps": 8000,
                "credit_bps_per_point": 100,
                "cap_bps": 1000,
            },
            {"kpi": "abandonment", "target_bps": 500, "credit_bps_per_point": 50, "cap_bps": 500},
        ],
    },
}


def _url(tenant, suffix="") -> str:
    return f"/v1/tenants/{tenant.id}/rate-card{suffix}"


def _make_rate_card(app, tenant, *, effective_from: datetime, **fields) -> None:
    """A version of `tenant`'s rate card, made through the service as onboarding would."""
    rate_card_in = RateCardCreateSchema().load({"default_unit_amount": 100, **fields})
    rate_card_in["effective_from"] = effective_from
    with app.app_context(), tenant_scope(tenant.id):
        billing_service.create_rate_card(
            rate_card_in=rate_card_in, tenant=tenant, actor=tenants_service.SYSTEM
        )
        db.session.commit()


def _in_force(app, tenant, at=None) -> int | None:
    """The default unit amount of the version in force at `at`, read through the service."""
    with app.app_context(), tenant_scope(tenant.id):
        rate_card = billing_service.rate_card_in_force(at=at)
        return rate_card.default_unit_amount if rate_card else None


# --- read ------------------------------------------------------------------------------------


def test_a_firm_without_a_rate_card_answers_404(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")

    body = assert_problem(client.get(_url(tenant), headers=admin.headers), 404)

    assert "rate card" in body["detail"]
    assert client.get(_url(tenant, "/versions"), headers=admin.headers).get_json() == []


@pytest.mark.parametrize("role", ["bpo_admin", "client_admin"])
def test_the_bpo_and_the_client_admin_read_the_rate_card_in_force(app, client, factory, role):
    tenant = factory.tenant()
    _make_rate_card(app, tenant, effective_from=utcnow() - timedelta(days=1))
    caller = factory.caller(role, tenant)

    response = client.get(_url(tenant), headers=caller.headers)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["default_unit_amount"] == 100
    assert response.headers["ETag"]


@pytest.mark.parametrize("role", ["supervisor", "client_viewer", "integration"])
def test_prices_are_not_shown_to_staff_viewers_or_integrations(app, client, factory, role):
    tenant = factory.tenant()
    _make_rate_card(app, tenant, effective_from=utcnow() - timedelta(days=1))
    caller = factory.caller(role, tenant)

    response = client.get(_url(tenant), headers=caller.headers)

    assert response.status_code == 403, response.get_json()
    assert "billing" in response.get_json()["detail"] or "prices" in response.get_json()["detail"]
    assert "default_unit_amount" not in response.get_data(as_text=True)


def test_another_firms_rate_card_is_not_found(app, client, factory):
    mine, theirs = factory.tenant(), factory.tenant()
    _make_rate_card(app, theirs, effective_from=utcnow() - timedelta(days=1))
    client_admin = factory.caller("client_admin", mine)

    assert_problem(client.get(_url(theirs), headers=client_admin.headers), 404)
    assert_problem(client.get(_url(theirs, "/versions"), headers=client_admin.headers), 404)
    assert_problem(client.get(_url(mine), headers=client_admin.headers), 404)


# --- create a version ------------------------------------------------------------------------


def test_a_bpo_admin_prices_a_firm_exactly_and_it_is_audited(app, client, factory):
    tenant = factory.tenant(currency="EUR")
    admin = factory.caller("bpo_admin")
    before = utcnow()

    response = client.put(_url(tenant), json=RATE_CARD_IN, headers=admin.headers)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["currency"] == "EUR"
    assert before <= datetime.fromisoformat(body["effective_from"]) <= utcnow()
    assert body["default_unit_amount"] == 150 and isinstance(body["default_unit_amount"], int)
    assert body["prices"] == [
        {"channel": "voice", "category": None, "direction": None, "unit_amount": 320},
        {"channel": "voice", "category": None, "direction": "outbound", "unit_amount": 275},
        {"channel": "email", "category": "claim", "direction": None, "unit_amount": 410},
    ]
    assert body["tiers"] == RATE_CARD_IN["tiers"]
    assert body["monthly_minimum"] == 250000
    assert body["sla_credits"] == RATE_CARD_IN["sla_credits"]
    read = client.get(_url(tenant), headers=admin.headers)
    assert read.get_json() == body
    assert read.headers["ETag"] == response.headers["ETag"]
    entries = audit_entries(app, "rate_card.version_created")
    assert [(e.tenant_id, e.target_id, e.actor_user_id) for e in entries] == [
        (tenant.id, body["id"], admin.user_id)
    ]
    assert entries[0].details == {
        "effective_from": datetime.fromisoformat(body["effective_from"]).isoformat(),
        "currency": "EUR",
        "default_unit_amount": 150,
    }


def test_a_minimal_rate_card_has_no_extras(client, factory):
    tenant = factory.tenant(currency="USD")
    admin = factory.caller("bpo_admin")

    response = client.put(_url(tenant), json={"default_unit_amount": 99}, headers=admin.headers)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["currency"], body["prices"], body["tiers"], body["monthly_minimum"]) == (
        "USD",
        [],
        [],
        0,
    )
    assert (body["tier_mode"], body["sla_credits"]) == (
        "graduated",
        {"total_cap_bps": 0, "kpis": []},
    )


def test_large_amounts_are_kept_exactly(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")

    response = client.put(
        _url(tenant),
        json={"default_unit_amount": 2_147_483_647, "monthly_minimum": 1_999_999_999},
        headers=admin.headers,
    )

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["default_unit_amount"] == 2_147_483_647
    read = client.get(_url(tenant), headers=admin.headers).get_json()
    assert (read["default_unit_amount"], read["monthly_minimum"]) == (2_147_483_647, 1_999_999_999)


@pytest.mark.parametrize("role", ["client_admin", "client_viewer", "integration", "supervisor"])
def test_only_the_bpo_admin_prices_a_firm(client, factory, role):
    tenant = factory.tenant()
    caller = factory.caller(role, tenant)

    response = client.put(_url(tenant), json=RATE_CARD_IN, headers=caller.headers)

    assert role in assert_problem(response, 403)["detail"]
    admin = factory.caller("bpo_admin")
    assert client.get(_url(tenant, "/versions"), headers=admin.headers).get_json() == []


def test_a_new_version_needs_the_etag_of_the_version_in_force(app, client, factory):
    tenant = factory.tenant()
    _make_rate_card(app, tenant, effective_from=utcnow() - timedelta(days=30))
    admin = factory.caller("bpo_admin")
    etag = client.get(_url(tenant), headers=admin.headers).headers["ETag"]
    headers = {**admin.headers, "If-Match": etag}

    missing = client.put(_url(tenant), json=RATE_CARD_IN, headers=admin.headers)
    first = client.put(_url(tenant), json=RATE_CARD_IN, headers=headers)
    stale = client.put(
        _url(tenant), json={**RATE_CARD_IN, "default_unit_amount": 999}, headers=headers
    )

    assert_problem(missing, 428)
    assert first.status_code == 201, first.get_json()
    assert_problem(stale, 412)
    assert client.get(_url(tenant), headers=admin.headers).get_json()["default_unit_amount"] == 150
    assert len(audit_entries(app, "rate_card.version_created")) == 2


def test_if_match_cannot_match_when_no_version_is_in_force(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")

    response = client.put(
        _url(tenant), json=RATE_CARD_IN, headers={**admin.headers, "If-Match": '"abc"'}
    )

    assert_problem(response, 412)
    assert_problem(client.get(_url(tenant), headers=admin.headers), 404)


def test_a_new_version_does_not_change_the_past(app, client, factory):
    tenant = factory.tenant()
    last_year = datetime(2025, 1, 1, tzinfo=UTC)
    _make_rate_card(app, tenant, effective_from=last_year, default_unit_amount=100)
    admin = factory.caller("bpo_admin")
    etag = client.get(_url(tenant), headers=admin.headers).headers["ETag"]

    response = client.put(
        _url(tenant),
        json={**RATE_CARD_IN, "default_unit_amount": 180},
        headers={**admin.headers, "If-Match": etag},
    )

    assert response.status_code == 201, response.get_json()
    assert _in_force(app, tenant, at=datetime(2025, 6, 1, tzinfo=UTC)) == 100
    assert _in_force(app, tenant, at=last_year) == 100
    assert _in_force(app, tenant, at=last_year - timedelta(microseconds=1)) is None
    assert _in_force(app, tenant) == 180
    assert client.get(_url(tenant), headers=admin.headers).get_json()["default_unit_amount"] == 180


def test_a_scheduled_version_takes_effect_only_when_its_time_comes(app, client, factory):
    tenant = factory.tenant()
    _make_rate_card(app, tenant, effective_from=utcnow() - timedelta(days=1))
    admin = factory.caller("bpo_admin")
    etag = client.get(_url(tenant), headers=admin.headers).headers["ETag"]
    next_year = (utcnow() + timedelta(days=365)).replace(microsecond=0)

    response = client.put(
        _url(tenant),
        json={**RATE_CARD_IN, "effective_from": next_year.isoformat()},
        headers={**admin.headers, "If-Match": etag},
    )

    assert response.status_code == 201, response.get_json()
    assert "ETag" not in response.headers
    assert client.get(_url(tenant), headers=admin.headers).headers["ETag"] == etag
    assert _in_force(app, tenant, at=next_year) == 150
    clash = client.put(
        _url(tenant),
        json={**RATE_CARD_IN, "effective_from": next_year.isoformat()},
        headers={**admin.headers, "If-Match": etag},
    )
    assert next_year.isoformat() in assert_problem(clash, 409)["detail"]


def test_versions_page_latest_effective_first(app, client, factory):
    tenant = factory.tenant()
    for year, amount in ((2023, 100), (2024, 200), (2025, 300)):
        _make_rate_card(
            app, tenant, effective_from=datetime(year, 1, 1, tzinfo=UTC), default_unit_amount=amount
        )
    admin = factory.caller("client_admin", tenant)

    first = client.get(_url(tenant, "/versions?page=1&page_size=2"), headers=admin.headers)
    second = client.get(_url(tenant, "/versions?page=2&page_size=2"), headers=admin.headers)

    assert [v["default_unit_amount"] for v in first.get_json()] == [300, 200]
    assert [v["default_unit_amount"] for v in second.get_json()] == [100]
    assert [v["effective_from"] for v in second.get_json()] == ["2023-01-01T00:00:00+00:00"]
    pagination = json.loads(first.headers["X-Pagination"])
    assert (pagination["total"], pagination["next_page"]) == (3, 2)


# --- validation ------------------------------------------------------------------------------


def test_a_version_before_the_one_in_force_and_a_foreign_currency_are_both_named(
    app, client, factory
):
    tenant = factory.tenant(currency="EUR")
    _make_rate_card(app, tenant, effective_from=datetime(2025, 3, 1, tzinfo=UTC))
    admin = factory.caller("bpo_admin")
    etag = client.get(_url(tenant), headers=admin.headers).headers["ETag"]

    response = client.put(
        _url(tenant),
        json={**RATE_CARD_IN, "currency": "USD", "effective_from": "2025-02-01T00:00:00+00:00"},
        headers={**admin.headers, "If-Match": etag},
    )

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {"currency", "effective_from"}
    assert "EUR" in body["errors"]["json"]["currency"][0]
    assert "2025-03-01" in body["errors"]["json"]["effective_from"][0]
    assert len(client.get(_url(tenant, "/versions"), headers=admin.headers).get_json()) == 1


def test_invalid_rate_card_input_names_every_bad_field(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")
    bad = {
        "effective_from": "2026-01-01T00:00:00",  # no offset
        "currency": "euro",
        "default_unit_amount": 1.5,
        "prices": [{"channel": "fax", "direction": "sideways", "unit_amount": "250"}],
        "tier_mode": "flat",
        "tiers": [{"up_to": 0, "discount_bps": 10001}],
        "monthly_minimum": -1,
        "sla_credits": {"kpis": [{"kpi": "csat", "target_bps": 8000.5}]},
        "id": "mine",
    }

    response = client.put(_url(tenant), json=bad, headers=admin.headers)

    body = assert_problem(response, 422)
    errors = body["errors"]["json"]
    assert set(errors) == {
        "effective_from",
        "currency",
        "default_unit_amount",
        "prices",
        "tier_mode",
        "tiers",
        "monthly_minimum",
        "sla_credits",
        "id",
    }
    assert set(errors["prices"]["0"]) == {"channel", "direction", "unit_amount"}
    assert set(errors["tiers"]["0"]) == {"up_to", "discount_bps"}
    assert set(errors["sla_credits"]) == {"total_cap_bps", "kpis"}
    assert set(errors["sla_credits"]["kpis"]["0"]) == {
        "kpi",
        "target_bps",
        "credit_bps_per_point",
        "cap_bps",
    }
    assert "minor units" in errors["default_unit_amount"][0]
    assert "sla_credits.kpis.0.kpi" in body["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("default_unit_amount", 150.0),
        ("default_unit_amount", "150"),
        ("default_unit_amount", "1.5"),
        ("default_unit_amount", -1),
        ("default_unit_amount", True),
        ("default_unit_amount", None),
        ("default_unit_amount", 2_147_483_648),
        ("monthly_minimum", 0.01),
        ("prices", [{"channel": "voice", "unit_amount": 2.5}]),
        ("prices", [{"unit_amount": 100}]),
        (
            "prices",
            [{"channel": "voice", "unit_amount": 1}, {"channel": "voice", "unit_amount": 2}],
        ),
        (
            "prices",
            [
                {"channel": "voice", "direction": "inbound", "unit_amount": 1},
                {"direction": "inbound", "channel": "voice", "category": None, "unit_amount": 2},
            ],
        ),
        ("tiers", [{"up_to": 100, "discount_bps": 0}]),
        ("tiers", [{"up_to": None, "discount_bps": 0}, {"up_to": None, "discount_bps": 10}]),
        (
            "tiers",
            [
                {"up_to": 500, "discount_bps": 0},
                {"up_to": 500, "discount_bps": 1},
                {"up_to": None, "discount_bps": 2},
            ],
        ),
        (
            "tiers",
            [
                {"up_to": 900, "discount_bps": 0},
                {"up_to": 100, "discount_bps": 1},
                {"up_to": None, "discount_bps": 2},
            ],
        ),
        ("tiers", [{"discount_bps": 0}]),
        ("tiers", [{"up_to": None, "discount_bps": 12.5}]),
        ("tier_mode", "tiered"),
        ("sla_credits", {"total_cap_bps": 10001, "kpis": []}),
        (
            "sla_credits",
            {
                "total_cap_bps": 1000,
                "kpis": [
                    {
                        "kpi": "resolution",
                        "target_bps": 9000,
                        "credit_bps_per_point": 1,
                        "cap_bps": 1,
                    },
                    {
                        "kpi": "resolution",
                        "target_bps": 8000,
                        "credit_bps_per_point": 1,
                        "cap_bps": 1,
                    },
                ],
            },
        ),
        (
            "sla_credits",
            {
                "total_cap_bps": 1000,
                "kpis": [
                    {
                        "kpi": "first_response",
                        "target_bps": 8000,
                        "credit_bps_per_point": "1",
                        "cap_bps": 1,
                    }
                ],
            },
        ),
    ],
)
def test_each_invalid_rate_card_value_is_refused(client, factory, field, value):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")

    response = client.put(_url(tenant), json={**RATE_CARD_IN, field: value}, headers=admin.headers)

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {field}
    assert client.get(_url(tenant, "/versions"), headers=admin.headers).get_json() == []


def test_every_kpi_and_the_volume_mode_are_accepted(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")
    kpis = [
        {"kpi": kpi, "target_bps": 8000, "credit_bps_per_point": 100, "cap_bps": 500}
        for kpi in ("service_level", "first_response", "resolution", "abandonment")
    ]

    response = client.put(
        _url(tenant),
        json={
            **RATE_CARD_IN,
            "tier_mode": "volume",
            "tiers": [{"up_to": None, "discount_bps": 10000}],
            "sla_credits": {"total_cap_bps": 10000, "kpis": kpis},
        },
        headers=admin.headers,
    )

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["sla_credits"]["kpis"] == kpis


# --- services for onboarding -----------------------------------------------------------------


def test_the_default_rate_card_is_a_zero_placeholder_in_the_firms_currency(app, client, factory):
    tenant = factory.tenant(currency="GBP")
    rate_card_in = billing_service.default_rate_card_in(tenant=tenant)

    assert RateCardCreateSchema().load(rate_card_in) == rate_card_in
    with app.app_context(), tenant_scope(tenant.id):
        billing_service.create_rate_card(
            rate_card_in=rate_card_in, tenant=tenant, actor=tenants_service.SYSTEM
        )
        db.session.commit()
    body = client.get(_url(tenant), headers=factory.caller("bpo_admin").headers).get_json()
    assert body["currency"] == "GBP"
    assert (body["default_unit_amount"], body["prices"], body["monthly_minimum"]) == (0, [], 0)
    assert body["sla_credits"] == {"total_cap_bps": 0, "kpis": []}
