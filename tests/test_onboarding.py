"""A BPO admin onboards a client firm in one call: everything it runs on, or nothing at all."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.db import db
from app.errors import Unprocessable
from app.onboarding import service as onboarding_service
from tenants.models import Membership, User
from tenants.scoping import unscoped
from tests.http_helpers import TENANT_IN, assert_problem, audit_entries
from tests.onboarding_helpers import (
    ADMIN_PASSWORD,
    FULL_ONBOARDING,
    audit_of,
    database_counts,
    full_onboarding,
    rows_of_tenant,
    tenant_by_slug,
)

PARTS = ["calendar", "queues", "departments", "sla_policy", "rate_card"]


def _onboard(client, caller, body, **headers):
    return client.post("/v1/tenants", json=body, headers={**caller.headers, **headers})


# --- success ---------------------------------------------------------------------------------


def test_a_bpo_admin_onboards_a_firm_with_every_part_given(app, client, factory):
    admin = factory.caller("bpo_admin")

    response = _onboard(client, admin, FULL_ONBOARDING)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    tenant = body["tenant"]
    assert {k: tenant[k] for k in TENANT_IN} == TENANT_IN
    assert tenant["status"] == "active"
    assert body["defaults_applied"] == []
    calendar = body["calendar"]
    sent = FULL_ONBOARDING["calendar"]
    assert calendar["weekly_hours"]["mon"] == sent["weekly_hours"]["mon"]
    assert calendar["weekly_hours"]["fri"] == sent["weekly_hours"]["fri"]
    assert calendar["weekly_hours"]["sat"] == []
    assert (calendar["holiday_country"], calendar["holiday_subdivision"]) == ("ES", "MD")
    assert calendar["closures"] == ["2027-12-24"]
    assert [(q["name"], q["channels"]) for q in body["queues"]] == [
        ("Ventas", ["voice", "chat"]),
        ("Reclamaciones", ["email", "web"]),
    ]
    assert body["queues"][1]["categories"] == ["complaint", "claim"]
    assert body["queues"][1]["answer_threshold_seconds"] == 30
    assert [(d["kind"], d["name"]) for d in body["departments"]] == [
        ("logistics", "Logistics"),
        ("custom", "Atención VIP"),
    ]
    policy = body["sla_policy"]
    assert (policy["name"], policy["is_default"], policy["service_level_target_bps"]) == (
        "Premium",
        True,
        9000,
    )
    assert len(policy["targets"]) == 2
    rate_card = body["rate_card"]
    assert (rate_card["currency"], rate_card["default_unit_amount"]) == ("EUR", 180)
    assert rate_card["monthly_minimum"] == 50000
    assert rate_card["tiers"][-1] == {"up_to": None, "discount_bps": 500}
    admin_out = body["first_admin"]
    assert (admin_out["email"], admin_out["name"], admin_out["role"]) == (
        "ana.ruiz@acme.example",
        "Ana Ruiz",
        "client_admin",
    )
    assert ADMIN_PASSWORD not in response.get_data(as_text=True)
    assert "password" not in response.get_data(as_text=True)


def test_everything_onboarded_is_stored_for_the_new_firm_and_audited(app, client, factory):
    admin = factory.caller("bpo_admin")

    response = _onboard(client, admin, FULL_ONBOARDING)

    body = response.get_json()
    tenant_id = uuid.UUID(body["tenant"]["id"])
    rows = rows_of_tenant(app, tenant_id)
    assert {k: rows[k] for k in ("business_calendars", "queues", "departments")} == {
        "business_calendars": 1,
        "queues": 2,
        "departments": 2,
    }
    assert (rows["sla_policies"], rows["rate_cards"], rows["memberships"]) == (1, 1, 1)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "ana.ruiz@acme.example"))
        assert user.password_hash.startswith("$argon2id$")
        # The admin's membership belongs to the new firm; read it past any scope.
        with unscoped():
            membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
        assert (membership.tenant_id, membership.role) == (tenant_id, "client_admin")
    [entry] = audit_entries(app, "tenant.onboarded")
    assert (entry.tenant_id, entry.target_id, entry.actor_user_id) == (
        tenant_id,
        str(tenant_id),
        admin.user_id,
    )
    assert entry.request_id == response.headers["X-Request-ID"]
    assert entry.details["parts"] == {
        "calendar": body["calendar"]["id"],
        "queues": [q["id"] for q in body["queues"]],
        "departments": [d["id"] for d in body["departments"]],
        "sla_policy": body["sla_policy"]["id"],
        "rate_card": body["rate_card"]["id"],
        "first_admin": body["first_admin"]["id"],
    }
    assert entry.details["defaults_applied"] == []
    actions = [e.action for e in audit_of(app, tenant_id)]
    assert actions[0] == "tenant.created" and actions[-1] == "tenant.onboarded"
    assert {"queue.created", "department.created", "user.created"} <= set(actions)


def test_the_new_firms_own_admin_reads_what_was_onboarded(app, client, factory):
    admin = factory.caller("bpo_admin")
    body = _onboard(client, admin, FULL_ONBOARDING).get_json()
    tenant = tenant_by_slug(app, FULL_ONBOARDING["slug"])
    client_admin = factory.caller("client_admin", tenant)

    queues = client.get(f"/v1/tenants/{tenant.id}/queues", headers=client_admin.headers)
    users = client.get(f"/v1/tenants/{tenant.id}/users", headers=client_admin.headers)

    assert queues.status_code == 200, queues.get_json()
    assert sorted(q["id"] for q in queues.get_json()) == sorted(q["id"] for q in body["queues"])
    assert body["first_admin"]["id"] in [u["id"] for u in users.get_json()]


def test_a_minimal_onboarding_gets_and_shows_the_defaults(app, client, factory):
    admin = factory.caller("bpo_admin")

    response = _onboard(client, admin, TENANT_IN)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["defaults_applied"] == PARTS
    calendar = body["calendar"]
    assert calendar["time_zone"] == "Europe/Madrid"
    assert calendar["holiday_country"] == "ES"  # from the locale es-ES
    opening = [{"start": "09:00", "end": "18:00"}]
    assert calendar["weekly_hours"] == {
        **{day: opening for day in ("mon", "tue", "wed", "thu", "fri")},
        "sat": [],
        "sun": [],
    }
    [queue] = body["queues"]
    assert queue["name"] == "General"
    assert set(queue["channels"]) == {"voice", "email", "chat", "web", "social"}
    assert (queue["categories"], queue["languages"]) == ([], [])
    assert sorted(d["kind"] for d in body["departments"]) == [
        "finance",
        "legal",
        "logistics",
        "marketing",
        "technical",
    ]
    assert body["sla_policy"]["name"] == "Standard"
    assert body["sla_policy"]["is_default"] is True
    assert body["sla_policy"]["targets"]
    assert body["rate_card"]["currency"] == "EUR"
    assert body["rate_card"]["default_unit_amount"] == 0
    assert body["first_admin"] is None
    [entry] = audit_entries(app, "tenant.onboarded")
    assert entry.details["defaults_applied"] == PARTS


def test_onboarding_warns_that_no_agent_serves_the_new_queues_yet(client, factory):
    admin = factory.caller("bpo_admin")
    made = client.post(
        "/v1/agents",
        json={
            "email": f"agent-{uuid.uuid4().hex[:8]}@bpo.test",
            "name": "Voice only",
            "channels": ["voice"],
        },
        headers=admin.headers,
    )
    assert made.status_code == 201, made.get_json()

    response = _onboard(
        client,
        admin,
        {**TENANT_IN, "queues": [{"name": "Phones", "channels": ["voice", "social"]}]},
    )

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    [warning] = body["warnings"]
    assert warning["queue_id"] == body["queues"][0]["id"]
    assert (warning["code"], warning["channels"]) == ("channels_unserved", ["voice", "social"])
    # Nobody at the BPO works social: assigning someone to the queue is not enough.
    assert warning["channels_no_agent_works"] == ["social"]
    assert "Phones" in warning["message"]


def test_a_calendar_without_a_time_zone_takes_the_firms(client, factory):
    admin = factory.caller("bpo_admin")
    calendar = {"weekly_hours": {"mon": [{"start": "08:00", "end": "20:00"}]}}

    response = _onboard(
        client, admin, {**TENANT_IN, "time_zone": "America/Mexico_City", "calendar": calendar}
    )

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["calendar"]["time_zone"] == "America/Mexico_City"
    assert "calendar" not in response.get_json()["defaults_applied"]


def test_an_empty_department_list_onboards_no_department(client, factory):
    admin = factory.caller("bpo_admin")

    response = _onboard(client, admin, {**TENANT_IN, "departments": []})

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["departments"] == []
    assert "departments" not in response.get_json()["defaults_applied"]


def test_the_openapi_document_explains_onboarding_and_its_defaults(client):
    spec = client.get("/openapi.json").get_json()

    post = spec["paths"]["/v1/tenants"]["post"]
    assert "get" in spec["paths"]["/v1/tenants"]
    for words in ("09:00-18:00", "`General`", "Standard", "charges nothing", "Idempotency-Key"):
        assert words in post["description"], words
    assert {"201", "409", "422"} <= set(post["responses"])
    assert "Idempotency-Key" in [p["name"] for p in post["parameters"]]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/OnboardingCreate")
    fields = spec["components"]["schemas"]["OnboardingCreate"]["properties"]
    assert set(PARTS) | {"first_admin", "slug"} <= set(fields)


# --- validation ------------------------------------------------------------------------------


def test_validation_names_every_bad_field_at_once_down_to_the_item(app, client, factory):
    admin = factory.caller("bpo_admin")
    before = database_counts(app)
    bad = full_onboarding(
        time_zone="Mars/Olympus",
        calendar={
            "time_zone": "Nowhere/Atlantis",
            "weekly_hours": {
                "mon": [{"start": "09:00", "end": "14:00"}, {"start": "13:00", "end": "15:00"}]
            },
        },
        queues=[
            {"name": "Ventas", "channels": ["voice"]},
            {"name": "Soporte", "channels": []},
            {"name": "ventas ", "channels": ["fax"]},
        ],
        departments=[{"kind": "logistics"}, {"kind": "custom"}, {"kind": "Logistics"}],
        sla_policy={"name": "Premium", "targets": [{"priority": "someday"}]},
        rate_card={"currency": "USD", "default_unit_amount": 1.5},
        first_admin={"email": "not-an-email", "name": "", "password": "short"},
    )

    response = _onboard(client, admin, bad)

    body = assert_problem(response, 422)
    errors = body["errors"]["json"]
    assert "Mars/Olympus" in errors["time_zone"][0]
    assert "Nowhere/Atlantis" in errors["calendar"]["time_zone"][0]
    assert "Overlaps" in errors["calendar"]["weekly_hours"]["mon"]["1"][0]
    assert set(errors["queues"]) == {"1", "2"}
    assert "channels" in errors["queues"]["1"]
    assert set(errors["queues"]["2"]) == {"name", "channels"}
    assert "index 0" in errors["queues"]["2"]["name"][0]
    assert set(errors["departments"]) == {"1", "2"}
    assert "name" in errors["departments"]["1"]
    assert "kind" in errors["departments"]["2"]
    assert "targets" in errors["sla_policy"]
    assert set(errors["rate_card"]) == {"currency", "default_unit_amount"}
    assert set(errors["first_admin"]) == {"email", "name", "password"}
    for field in ("time_zone", "calendar.time_zone", "queues.1.channels", "first_admin.email"):
        assert field in body["detail"], field
    assert database_counts(app) == before


def test_a_queue_with_no_channel_is_named(client, factory):
    admin = factory.caller("bpo_admin")

    response = _onboard(
        client,
        admin,
        {**TENANT_IN, "queues": [{"name": "A", "channels": ["voice"]}, {"name": "B"}]},
    )

    errors = assert_problem(response, 422)["errors"]["json"]
    assert errors == {"queues": {"1": {"channels": ["Missing data for required field."]}}}


def test_an_empty_queue_list_is_refused(client, factory):
    admin = factory.caller("bpo_admin")

    response = _onboard(client, admin, {**TENANT_IN, "queues": []})

    assert set(assert_problem(response, 422)["errors"]["json"]) == {"queues"}


def test_the_rate_card_must_be_in_the_firms_currency(client, factory):
    admin = factory.caller("bpo_admin")

    response = _onboard(
        client, admin, {**TENANT_IN, "rate_card": {"currency": "USD", "default_unit_amount": 100}}
    )

    errors = assert_problem(response, 422)["errors"]["json"]
    assert errors == {"rate_card": {"currency": ["Must be the client firm's currency, EUR."]}}


def test_fields_the_client_may_not_set_are_refused_in_every_part(client, factory):
    admin = factory.caller("bpo_admin")
    tenant_id = str(uuid.uuid4())

    response = _onboard(
        client,
        admin,
        full_onboarding(
            queues=[{"name": "A", "channels": ["voice"], "tenant_id": tenant_id}],
            first_admin={"email": "a@acme.example", "name": "A", "role": "bpo_admin"},
            status="active",
        ),
    )

    errors = assert_problem(response, 422)["errors"]["json"]
    assert set(errors) == {"queues", "first_admin", "status"}
    assert set(errors["queues"]["0"]) == {"tenant_id"}
    assert set(errors["first_admin"]) == {"role"}


def test_a_late_part_refused_by_its_domain_is_named_where_it_was_sent(
    app, client, factory, monkeypatch
):
    admin = factory.caller("bpo_admin")
    before = database_counts(app)

    def refuse(**_kwargs):
        raise Unprocessable("Invalid input: tiers.", errors={"json": {"tiers": ["No."]}})

    monkeypatch.setattr(onboarding_service.billing_service, "create_rate_card", refuse)

    response = _onboard(client, admin, FULL_ONBOARDING)

    body = assert_problem(response, 422)
    assert body["errors"]["json"] == {"rate_card": {"tiers": ["No."]}}
    assert "rate_card" in body["detail"]
    assert database_counts(app) == before


# --- all or nothing --------------------------------------------------------------------------


def test_a_failure_in_the_last_part_leaves_nothing_behind(app, client, factory):
    admin = factory.caller("bpo_admin")
    factory.user("client_viewer", factory.tenant(), email="ana.ruiz@acme.example", password=None)
    before = database_counts(app)
    audit_before = len(audit_entries(app, "user.created"))

    response = _onboard(client, admin, FULL_ONBOARDING)

    body = assert_problem(response, 409)
    assert "email" in body["detail"]
    assert tenant_by_slug(app, FULL_ONBOARDING["slug"]) is None
    # Unscoped counts of every table: no tenant, calendar, queue, department, policy, rate
    # card, membership, idempotency record or audit row was left by the failed request.
    assert database_counts(app) == before
    assert len(audit_entries(app, "tenant.created")) == 1  # the factory's firm only
    assert audit_entries(app, "tenant.onboarded") == []
    assert len(audit_entries(app, "user.created")) == audit_before


@pytest.mark.parametrize("role", ["client_admin", "supervisor", "agent"])
def test_only_a_bpo_admin_may_onboard(app, client, factory, role):
    tenant = factory.tenant()
    caller = factory.caller(role, tenant if role != "agent" else None)
    before = database_counts(app)

    response = _onboard(client, caller, FULL_ONBOARDING)

    body = assert_problem(response, 403)
    assert role in body["detail"]
    assert database_counts(app) == before


def test_a_second_firm_with_the_same_slug_conflicts_and_creates_nothing(app, client, factory):
    admin = factory.caller("bpo_admin")
    assert _onboard(client, admin, TENANT_IN).status_code == 201
    before = database_counts(app)

    response = _onboard(client, admin, FULL_ONBOARDING)

    body = assert_problem(response, 409)
    assert TENANT_IN["slug"] in body["detail"]
    assert database_counts(app) == before
