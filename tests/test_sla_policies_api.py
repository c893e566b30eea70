"""A client firm's SLA policies over the API: targets, validation, one default at a time."""

from __future__ import annotations

import uuid

from app.sla import policies as sla_policies
from tests.http_helpers import assert_problem, audit_actions, audit_entries

STANDARD = {
    "name": "Standard",
    "targets": [
        {"priority": "normal", "first_response_seconds": 14400, "resolution_seconds": 97200},
        {"priority": "normal", "channel": "voice", "answer_threshold_seconds": 20},
        {
            "priority": "urgent",
            "channel": "email",
            "category": "claim",
            "first_response_seconds": 1800,
            "resolution_seconds": 28800,
        },
    ],
    "service_level_target_bps": 8000,
    "abandon_treatment": "exclude_short",
    "short_abandon_seconds": 5,
}
PREMIUM = {
    "name": "Premium",
    "targets": [{"priority": "high", "channel": "chat", "answer_threshold_seconds": 10}],
    "service_level_target_bps": 9000,
}


def url(tenant, policy_id=None) -> str:
    base = f"/v1/tenants/{tenant.id}/sla-policies"
    return base if policy_id is None else f"{base}/{policy_id}"


def create(client, caller, tenant, body: dict) -> dict:
    response = client.post(url(tenant), json=body, headers=caller.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def patch(client, caller, tenant, policy_id, body: dict, etag: str | None = None):
    """PATCH with the current ETag unless one is given."""
    if etag is None:
        etag = client.get(url(tenant, policy_id), headers=caller.headers).headers["ETag"]
    return client.patch(
        url(tenant, policy_id), json=body, headers={**caller.headers, "If-Match": etag}
    )


def defaults(client, caller, tenant) -> list[str]:
    listed = client.get(url(tenant), headers=caller.headers).get_json()
    return [p["name"] for p in listed if p["is_default"]]


# --- creating and reading --------------------------------------------------------------------


def test_a_bpo_admin_creates_a_firms_first_policy_which_becomes_its_default(app, client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()

    response = client.post(url(tenant), json=STANDARD, headers=admin.headers)

    assert response.status_code == 201, response.get_json()
    policy = response.get_json()
    assert policy["name"] == "Standard"
    assert policy["is_default"] is True
    assert policy["targets"][1] == {
        "priority": "normal",
        "channel": "voice",
        "category": None,
        "first_response_seconds": None,
        "answer_threshold_seconds": 20,
        "resolution_seconds": None,
    }
    # What was not given takes the contract's usual values.
    assert (policy["at_risk_bps"], policy["fcr_window_days"], policy["pause_on_escalated"]) == (
        8000,
        7,
        False,
    )
    read = client.get(url(tenant, policy["id"]), headers=admin.headers)
    assert read.status_code == 200 and read.get_json() == policy
    assert read.headers["ETag"]
    entries = audit_entries(app, "sla_policy.created")
    assert [(e.tenant_id, e.target_id, e.actor_user_id) for e in entries] == [
        (tenant.id, policy["id"], admin.user_id)
    ]


def test_a_second_policy_is_not_the_default_unless_asked(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    create(client, admin, tenant, STANDARD)

    premium = create(client, admin, tenant, PREMIUM)

    assert premium["is_default"] is False
    assert defaults(client, admin, tenant) == ["Standard"]


def test_a_new_default_policy_takes_over_from_the_old_one(app, client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    standard = create(client, admin, tenant, STANDARD)

    premium = create(client, admin, tenant, {**PREMIUM, "is_default": True})

    assert premium["is_default"] is True
    listed = client.get(url(tenant), headers=admin.headers).get_json()
    assert [(p["name"], p["is_default"]) for p in listed] == [
        ("Premium", True),
        ("Standard", False),
    ]
    assert audit_actions(app, target_id=standard["id"]) == [
        "sla_policy.created",
        "sla_policy.updated",
    ]


def test_a_client_viewer_reads_the_policies(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    policy = create(client, admin, tenant, STANDARD)
    viewer = factory.caller("client_viewer", tenant)

    listed = client.get(url(tenant), headers=viewer.headers)
    one = client.get(url(tenant, policy["id"]), headers=viewer.headers)

    assert [p["id"] for p in listed.get_json()] == [policy["id"]]
    assert one.status_code == 200 and one.get_json()["name"] == "Standard"


def test_an_unknown_policy_answers_not_found(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()

    response = client.get(url(tenant, uuid.uuid4()), headers=admin.headers)

    assert_problem(response, 404)


def test_two_policies_may_not_share_a_name(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    create(client, admin, tenant, STANDARD)

    response = client.post(url(tenant), json=STANDARD, headers=admin.headers)

    assert "Standard" in assert_problem(response, 409)["detail"]


def test_the_trade_default_policy_is_a_valid_policy(app, client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    with app.app_context():
        body = sla_policies.default_policy_in()

    policy = create(client, admin, tenant, body)

    assert policy["is_default"] is True
    voice = [t for t in policy["targets"] if t["channel"] == "voice"]
    assert {t["priority"] for t in voice} == {"low", "normal", "high", "urgent"}
    assert {t["answer_threshold_seconds"] for t in voice} == {20}
    normal = next(t for t in policy["targets"] if t["priority"] == "normal" and not t["channel"])
    assert normal["first_response_seconds"] == 4 * 3600


# --- changing --------------------------------------------------------------------------------


def test_a_bpo_admin_changes_a_policy_with_its_etag_and_it_is_audited(app, client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    policy = create(client, admin, tenant, STANDARD)
    targets = [{"priority": "low", "resolution_seconds": 432000}]

    response = patch(
        client, admin, tenant, policy["id"], {"targets": targets, "fcr_window_days": 14}
    )

    assert response.status_code == 200, response.get_json()
    changed = response.get_json()
    assert changed["fcr_window_days"] == 14
    assert [t["priority"] for t in changed["targets"]] == ["low"]
    entries = audit_entries(app, "sla_policy.updated")
    assert [e.details for e in entries] == [{"changed": ["fcr_window_days", "targets"]}]


def test_changing_a_policy_needs_if_match(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    policy = create(client, admin, tenant, STANDARD)

    response = client.patch(
        url(tenant, policy["id"]), json={"fcr_window_days": 14}, headers=admin.headers
    )

    assert_problem(response, 428)


def test_changing_a_policy_with_a_stale_etag_is_refused(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    policy = create(client, admin, tenant, STANDARD)
    stale = client.get(url(tenant, policy["id"]), headers=admin.headers).headers["ETag"]
    assert patch(client, admin, tenant, policy["id"], {"name": "Gold"}, stale).status_code == 200

    response = patch(client, admin, tenant, policy["id"], {"name": "Silver"}, stale)

    assert_problem(response, 412)
    assert client.get(url(tenant, policy["id"]), headers=admin.headers).get_json()["name"] == "Gold"


def test_making_another_policy_the_default_leaves_one_default(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    create(client, admin, tenant, STANDARD)
    premium = create(client, admin, tenant, PREMIUM)

    response = patch(client, admin, tenant, premium["id"], {"is_default": True})

    assert response.status_code == 200, response.get_json()
    assert defaults(client, admin, tenant) == ["Premium"]


def test_the_default_policy_cannot_simply_stop_being_the_default(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    standard = create(client, admin, tenant, STANDARD)

    response = patch(client, admin, tenant, standard["id"], {"is_default": False})

    assert set(assert_problem(response, 422)["errors"]["json"]) == {"is_default"}
    assert defaults(client, admin, tenant) == ["Standard"]


def test_renaming_a_policy_to_a_taken_name_conflicts(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    create(client, admin, tenant, STANDARD)
    premium = create(client, admin, tenant, PREMIUM)

    response = patch(client, admin, tenant, premium["id"], {"name": "Standard"})

    assert_problem(response, 409)


def test_a_client_admin_cannot_create_or_change_policies(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    policy = create(client, admin, tenant, STANDARD)
    client_admin = factory.caller("client_admin", tenant)

    created = client.post(url(tenant), json=PREMIUM, headers=client_admin.headers)
    changed = patch(client, client_admin, tenant, policy["id"], {"fcr_window_days": 30})

    assert_problem(created, 403)
    assert_problem(changed, 403)
    assert [p["name"] for p in client.get(url(tenant), headers=admin.headers).get_json()] == [
        "Standard"
    ]


# --- validation ------------------------------------------------------------------------------


def test_every_bad_field_of_a_policy_is_named(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    bad = {
        "name": "",
        "targets": [
            {"priority": "critical", "first_response_seconds": 60},
            {"priority": "low", "channel": "fax", "category": "praise", "resolution_seconds": 0},
            {"priority": "low"},
            {"priority": "high", "first_response_seconds": "soon"},
        ],
        "service_level_target_bps": 10001,
        "at_risk_bps": 0,
        "abandon_treatment": "count_all",
        "short_abandon_seconds": -1,
        "fcr_window_days": 91,
        "colour": "gold",
    }

    response = client.post(url(tenant), json=bad, headers=admin.headers)

    errors = assert_problem(response, 422)["errors"]["json"]
    assert set(errors) == {
        "name",
        "targets",
        "service_level_target_bps",
        "at_risk_bps",
        "abandon_treatment",
        "short_abandon_seconds",
        "fcr_window_days",
        "colour",
    }
    targets = errors["targets"]
    assert set(targets) == {"0", "1", "2", "3"}
    assert set(targets["0"]) == {"priority"}
    assert set(targets["1"]) == {"channel", "category", "resolution_seconds"}
    assert "at least one" in targets["2"]["_schema"][0]
    assert set(targets["3"]) == {"first_response_seconds"}


def test_duplicate_targets_and_missing_fields_are_named(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    duplicated = {
        "name": "Twice",
        "targets": [
            {"priority": "normal", "channel": "email", "first_response_seconds": 3600},
            {"priority": "normal", "channel": "voice", "answer_threshold_seconds": 20},
            {"priority": "normal", "channel": "email", "first_response_seconds": 7200},
        ],
    }

    twice = client.post(url(tenant), json=duplicated, headers=admin.headers)
    empty = client.post(url(tenant), json={}, headers=admin.headers)
    no_targets = client.post(url(tenant), json={"name": "X", "targets": []}, headers=admin.headers)

    twice_errors = assert_problem(twice, 422)["errors"]["json"]
    assert set(twice_errors["targets"]) == {"2"}
    assert "index 0" in twice_errors["targets"]["2"][0]
    assert set(assert_problem(empty, 422)["errors"]["json"]) == {"name", "targets"}
    assert set(assert_problem(no_targets, 422)["errors"]["json"]) == {"targets"}
