"""Rating a month (SPEC section 8): the most specific price, graduated and volume tiers at their
band edges, the monthly minimum, SLA credits with their caps, the one rounding rule; and the
usage record a contact gets, once, when it becomes handled.

Every figure is computed by hand in the comments; amounts are minor units, shares basis points.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.contacts import service as contacts_service
from app.contacts.models import Contact
from app.db import db, utcnow
from billing import rating
from billing import service as billing_service
from billing.models import RateCard, UsageRecord
from billing.schemas import RateCardCreateSchema
from tenants import service as tenants_service
from tenants.scoping import tenant_scope
from tests.test_contacts_intake import contacts_url, create_contact, queue_of, staffed_agent
from tests.test_reports_sla import contact as unsaved_contact

RESOLUTION = {"disposition": "done", "resolution_note": "Sorted."}


def price_firm(app, tenant, **fields) -> None:
    """Give `tenant` a rate card in force since 2020 (default 1000 a contact)."""
    rate_card_in = RateCardCreateSchema().load({"default_unit_amount": 1000, **fields})
    rate_card_in["effective_from"] = datetime(2020, 1, 1, tzinfo=UTC)
    with app.app_context(), tenant_scope(tenant.id):
        billing_service.create_rate_card(
            rate_card_in=rate_card_in, tenant=tenant, actor=tenants_service.SYSTEM
        )
        db.session.commit()


def rate(count: int, *, unit: int = 1000, **terms) -> dict:
    """Rate `count` voice contacts at list price `unit`, no SLA figures unless given."""
    return rating.rate_month(
        usage=[("voice", "information_request", "inbound", unit)] * count,
        tier_mode=terms.get("tier_mode", "graduated"),
        tiers=terms.get("tiers", []),
        monthly_minimum=terms.get("monthly_minimum", 0),
        sla_credits=terms.get("sla_credits", {}),
        actuals=terms.get("actuals", {}),
    )


# --- the rounding rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "bps", "expected"),
    [
        (5, 5000, 3),  # 2.5 rounds half up to 3
        (1, 4999, 0),  # 0.4999 rounds down
        (1, 5000, 1),  # 0.5 rounds up
        (2999, 450, 135),  # 134.955
        (333, 8500, 283),  # 283.05
        (35, 9000, 32),  # 31.5
        (100000, 10000, 100000),
        (0, 1234, 0),
    ],
)
def test_a_share_of_an_amount_rounds_half_up_to_a_whole_minor_unit(amount, bps, expected):
    assert rating.share(amount, bps) == expected


def test_a_division_rounds_half_up_and_nothing_else():
    assert [rating.divide_half_up(n, 2) for n in (3, 5, 7, 4)] == [2, 3, 4, 2]
    assert rating.divide_half_up(1, 3) == 0  # 0.33
    assert rating.divide_half_up(2, 3) == 1  # 0.67


# --- prices ----------------------------------------------------------------------------------

PRICES = [
    {"channel": "voice", "category": None, "direction": None, "unit_amount": 320},
    {"channel": "voice", "category": None, "direction": "outbound", "unit_amount": 275},
    {"channel": "email", "category": "claim", "direction": None, "unit_amount": 410},
    {"channel": None, "category": None, "direction": "outbound", "unit_amount": 200},
    {"channel": None, "category": "complaint", "direction": None, "unit_amount": 500},
]


@pytest.mark.parametrize(
    ("channel", "category", "direction", "expected"),
    [
        ("voice", "information_request", "inbound", 320),  # {voice}
        ("voice", "information_request", "outbound", 275),  # {voice, outbound}: two fields
        ("email", "claim", "inbound", 410),  # {email, claim}
        ("email", "information_request", "outbound", 200),  # {outbound} only
        ("chat", "information_request", "inbound", 150),  # nothing matches: the default
        ("voice", "complaint", "inbound", 320),  # {voice} and {complaint}: channel outranks
        ("email", "complaint", "outbound", 500),  # {complaint} and {outbound}: category outranks
    ],
)
def test_a_contact_is_priced_by_the_most_specific_matching_price(
    channel, category, direction, expected
):
    rate_card = RateCard(default_unit_amount=150, prices=PRICES)

    price = billing_service.unit_price(
        rate_card=rate_card, channel=channel, category=category, direction=direction
    )

    assert price == expected


# --- tiers -----------------------------------------------------------------------------------

TIERS = [
    {"up_to": 2, "discount_bps": 0},
    {"up_to": 4, "discount_bps": 1000},
    {"up_to": None, "discount_bps": 2500},
]


@pytest.mark.parametrize(
    ("count", "graduated", "volume"),
    [
        (2, 2000, 2000),  # both: 2 x 1000 in band 1
        (3, 2900, 2700),  # graduated 2 x 1000 + 1 x 900; volume 3 x 900
        (4, 3800, 3600),  # graduated 2 x 1000 + 2 x 900; volume 4 x 900
        (5, 4550, 3750),  # graduated 2000 + 1800 + 1 x 750; volume 5 x 750
    ],
)
def test_graduated_and_volume_tiers_differ_past_each_band_edge(count, graduated, volume):
    assert rate(count, tiers=TIERS)["subtotal"] == graduated
    assert rate(count, tiers=TIERS, tier_mode="volume")["subtotal"] == volume


def test_a_line_is_written_per_tier_with_the_discounted_unit_price():
    rated = rate(5, tiers=TIERS)

    usage_lines = [
        (line["tier"], line["quantity"], line["unit_amount"], line["amount"])
        for line in rated["lines"]
    ]
    assert usage_lines == [(1, 2, 1000, 2000), (2, 2, 900, 1800), (3, 1, 750, 750)]
    assert [line["position"] for line in rated["lines"]] == [1, 2, 3]
    assert rated["usage_count"] == 5 and rated["total"] == 4550


def test_graduated_tiers_follow_the_order_contacts_were_handled_in():
    # The third contact handled (a 333 one) is the first in band 2 (10 % off): 299.7 -> 300.
    usage = [
        ("voice", "information_request", "inbound", 1000),
        ("chat", "information_request", "inbound", 333),
        ("voice", "information_request", "inbound", 333),
    ]

    rated = rating.rate_month(
        usage=usage,
        tier_mode="graduated",
        tiers=TIERS,
        monthly_minimum=0,
        sla_credits={},
        actuals={},
    )

    assert [(line["channel"], line["tier"], line["amount"]) for line in rated["lines"]] == [
        ("chat", 1, 333),
        ("voice", 1, 1000),
        ("voice", 2, 300),
    ]
    assert rated["subtotal"] == 1633


# --- the monthly minimum ---------------------------------------------------------------------


def test_a_month_below_the_minimum_is_topped_up_to_it():
    rated = rate(3, tiers=TIERS, monthly_minimum=5000)  # 2900 of usage, on two lines

    topup = rated["lines"][-1]
    assert (topup["kind"], topup["amount"], topup["position"]) == ("minimum_topup", 2100, 3)
    assert (rated["subtotal"], rated["minimum_topup"], rated["total"]) == (2900, 2100, 5000)


def test_a_month_at_or_above_the_minimum_has_no_top_up():
    rated = rate(2, monthly_minimum=2000)

    assert rated["minimum_topup"] == 0 and rated["total"] == 2000
    assert [line["kind"] for line in rated["lines"]] == ["usage"]


# --- SLA credits -----------------------------------------------------------------------------


def kpi(name: str, target: int, per_point: int, cap: int) -> dict:
    return {"kpi": name, "target_bps": target, "credit_bps_per_point": per_point, "cap_bps": cap}


ALL_KPIS = [
    kpi("service_level", 8000, 100, 1000),
    kpi("first_response", 9000, 200, 500),
    kpi("resolution", 9000, 100, 1000),
    kpi("abandonment", 500, 50, 500),
]
MISSED = {"service_level": 7550, "first_response": 8700, "resolution": 9500, "abandonment": 800}


def test_each_kpi_credits_its_shortfall_up_to_its_own_cap():
    credit = rating.sla_credit(
        fee=100000, sla_credits={"total_cap_bps": 10000, "kpis": ALL_KPIS}, actuals=MISSED
    )

    by_kpi = {k["kpi"]: (k["shortfall_bps"], k["credit_bps"]) for k in credit["kpis"]}
    assert by_kpi == {
        "service_level": (450, 450),  # 4.5 points short x 100 bps
        "first_response": (300, 500),  # 3 points x 200 = 600, capped at 500
        "resolution": (0, 0),  # 95 % beats the 90 % target
        "abandonment": (300, 150),  # 8 % abandoned against 5 %: 3 points x 50
    }
    # 450 + 500 + 0 + 150 = 1100 bps of 100000
    assert (credit["credit_bps"], credit["credit_amount"]) == (1100, 11000)


def test_the_credits_together_stop_at_the_total_cap():
    credit = rating.sla_credit(
        fee=100000, sla_credits={"total_cap_bps": 1000, "kpis": ALL_KPIS}, actuals=MISSED
    )

    assert (credit["credit_bps"], credit["credit_amount"]) == (1000, 10000)


def test_a_kpi_with_nothing_measured_or_on_target_credits_nothing():
    actuals = {"service_level": None, "first_response": 9000, "abandonment": 500}

    credit = rating.sla_credit(
        fee=100000, sla_credits={"total_cap_bps": 10000, "kpis": ALL_KPIS}, actuals=actuals
    )

    assert credit["credit_amount"] == 0
    assert [k["actual_bps"] for k in credit["kpis"]] == [None, 9000, None, 500]


def test_the_credit_is_a_share_of_the_fee_topped_up_and_rounded_half_up():
    # 2900 of usage topped up to 5000; service level 79.55 % against 80 %: 0.45 points x 100
    # = 45 bps; 5000 x 0.45 % = 22.5 -> 23.
    rated = rate(
        3,
        tiers=TIERS,
        monthly_minimum=5000,
        sla_credits={"total_cap_bps": 1000, "kpis": [kpi("service_level", 8000, 100, 1000)]},
        actuals={"service_level": 7955},
    )

    credit_line = rated["lines"][-1]
    assert (credit_line["kind"], credit_line["amount"]) == ("sla_credit", -23)
    assert (rated["credit_amount"], rated["total"]) == (23, 4977)
    assert rated["sla_figures"]["fee"] == 5000


def test_the_kpi_figures_come_from_the_sla_reports_totals():
    totals = {
        "service_level": 0.7955,
        "first_response": {"measured": 3, "within_target": 2},  # 66.67 % -> 6667
        "resolution": {"measured": 0, "within_target": 0},  # nothing measured
        "abandoned": 1,
        "offered": 8,  # 12.5 %
    }

    assert rating.kpi_actuals(totals) == {
        "service_level": 7955,
        "first_response": 6667,
        "resolution": None,
        "abandonment": 1250,
    }


# --- usage records ---------------------------------------------------------------------------


@pytest.fixture
def priced(app, factory):
    """A firm priced 1000 a contact (voice 700), with one queue."""
    tenant = factory.tenant()
    price_firm(
        app, tenant, prices=[{"channel": "voice", "unit_amount": 700}], default_unit_amount=1000
    )
    return tenant, queue_of(app, tenant, "General")


def _active_contact(app, tenant, queue_id, **fields) -> uuid.UUID:
    """A contact being worked (answered, or responded to), committed; return its id."""
    now = utcnow()
    with app.app_context(), tenant_scope(tenant.id):
        contact = unsaved_contact(queue_id, now, status="active", status_since=now, **fields)
        db.session.add(contact)
        db.session.commit()
        return contact.id


def _act(app, tenant, contact_id, action: str, **action_in) -> None:
    with app.app_context(), tenant_scope(tenant.id):
        contact = db.session.get(Contact, contact_id)
        contacts_service.act(
            contact=contact,
            action=action,
            action_in=action_in,
            tenant=db.session.get(type(tenant), tenant.id),
            actor=tenants_service.SYSTEM,
        )
        db.session.commit()


def _usage(app, tenant) -> list[UsageRecord]:
    with app.app_context(), tenant_scope(tenant.id):
        return list(db.session.scalars(select(UsageRecord)))


def test_a_contact_is_billed_once_when_resolved_and_not_again_after_reopening(app, priced):
    tenant, queue_id = priced
    contact_id = _active_contact(app, tenant, queue_id, answered_at=utcnow())

    _act(app, tenant, contact_id, "resolve", **RESOLUTION)
    [usage] = _usage(app, tenant)
    _act(app, tenant, contact_id, "reopen")
    with app.app_context(), tenant_scope(tenant.id):
        # Back at work, as an agent's claim and answer would leave it.
        db.session.get(Contact, contact_id).status = "active"
        db.session.commit()
    _act(app, tenant, contact_id, "resolve", **RESOLUTION)

    assert [u.id for u in _usage(app, tenant)] == [usage.id]
    assert (usage.contact_id, usage.channel, usage.unit_amount) == (contact_id, "voice", 700)
    assert usage.status == "billable"
    with app.app_context(), tenant_scope(tenant.id):
        resolved_at = db.session.get(Contact, contact_id).resolved_at
    assert usage.handled_at < resolved_at  # the first resolution bills it
    assert usage.period == usage.handled_at.astimezone(ZoneInfo("Europe/Madrid")).strftime("%Y-%m")


def test_an_email_responded_to_is_billed_at_its_own_price(app, priced):
    tenant, queue_id = priced
    contact_id = _active_contact(app, tenant, queue_id, channel="email", first_response_at=utcnow())

    _act(app, tenant, contact_id, "resolve", **RESOLUTION)

    assert [(u.channel, u.unit_amount) for u in _usage(app, tenant)] == [("email", 1000)]


def test_a_contact_never_answered_nor_responded_to_is_not_billed(app, priced):
    tenant, queue_id = priced
    contact_id = _active_contact(app, tenant, queue_id, channel="email")

    _act(app, tenant, contact_id, "resolve", **RESOLUTION)

    assert _usage(app, tenant) == []


def test_recording_usage_twice_for_one_contact_writes_one_record(app, priced):
    tenant, queue_id = priced
    contact_id = _active_contact(app, tenant, queue_id, answered_at=utcnow())
    with app.app_context(), tenant_scope(tenant.id):
        contact = db.session.get(Contact, contact_id)
        first = billing_service.record_usage(contact=contact, at=utcnow())
        again = billing_service.record_usage(contact=contact, at=utcnow())
        db.session.commit()
        count = db.session.scalar(select(func.count()).select_from(UsageRecord))

    assert first is not None and again is None and count == 1


def test_a_contact_handled_after_midnight_local_time_bills_the_next_month(app, priced):
    tenant, queue_id = priced
    contact_id = _active_contact(app, tenant, queue_id, answered_at=utcnow())
    # 22:30 UTC on 31 March 2025 is 00:30 on 1 April in Madrid (summer time, UTC+2).
    with app.app_context(), tenant_scope(tenant.id):
        contact = db.session.get(Contact, contact_id)
        usage = billing_service.record_usage(
            contact=contact, at=datetime(2025, 3, 31, 22, 30, tzinfo=UTC)
        )
        assert usage.period == "2025-04"


def test_an_agent_resolving_a_call_through_the_api_bills_it(app, client, factory, priced):
    tenant, queue_id = priced
    admin = factory.caller("bpo_admin")
    agent, agent_caller = staffed_agent(app, client, factory, admin, [queue_id])
    contact = create_contact(client, factory.caller("integration", tenant), tenant, channel="voice")
    steps = [
        ("assign", factory.caller("supervisor", tenant), {"agent_id": agent["id"]}),
        ("answer", agent_caller, {}),
        ("resolve", agent_caller, RESOLUTION),
    ]

    for action, caller, body in steps:
        response = client.post(
            contacts_url(tenant, contact["id"], action), json=body, headers=caller.headers
        )
        assert response.status_code == 200, response.get_json()

    [usage] = _usage(app, tenant)
    assert (str(usage.contact_id), usage.unit_amount) == (contact["id"], 700)
