"""Staffing: GET /v1/tenants/{tenant_id}/queues/{queue_id}/staffing, Erlang C over HTTP, with
inputs taken from the queue's own history, the firm's SLA policy and the queue's threshold."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from app.contacts.models import PRIORITY_RANK, Contact
from app.db import db, utcnow
from app.queues import service as queues_service
from app.queues import staffing
from app.queues.models import Queue
from app.sla.models import SlaPolicy
from tenants.scoping import tenant_scope
from tests.http_helpers import assert_problem
from tests.test_queues_api import assign_agent

_seq = itertools.count(1)

SPEC_QUERY = {"interval": "30m", "volume": 100, "aht": 180, "target": 0.8, "threshold": 20}


# --- helpers ---------------------------------------------------------------------------------


def staffing_url(tenant, queue_id) -> str:
    return f"/v1/tenants/{tenant.id}/queues/{queue_id}/staffing"


def make_queue(app, tenant, **fields) -> uuid.UUID:
    with app.app_context(), tenant_scope(tenant.id):
        queue = Queue(name=f"Queue {next(_seq)}", channels=["voice", "chat"], **fields)
        db.session.add(queue)
        db.session.commit()
        return queue.id


def default_policy(app, tenant, bps: int) -> None:
    with app.app_context(), tenant_scope(tenant.id):
        db.session.add(SlaPolicy(name="Contract", is_default=True, service_level_target_bps=bps))
        db.session.commit()


def add_contacts(app, tenant, queue_id, rows: list[dict]) -> None:
    """Contacts stored as history: each row gives received_at and what differs from a handled
    inbound call (status, direction, answered, talk/hold/acw seconds)."""
    with app.app_context(), tenant_scope(tenant.id):
        for row in rows:
            received = row["received_at"]
            status = row.get("status", "closed")
            answered = row.get("answered", status in ("resolved", "closed"))
            db.session.add(
                Contact(
                    channel="voice",
                    direction=row.get("direction", "inbound"),
                    category="information_request",
                    priority="normal",
                    priority_rank=PRIORITY_RANK["normal"],
                    queue_id=row.get("queue_id", queue_id),
                    status=status,
                    status_since=received + timedelta(minutes=10),
                    received_at=received,
                    queued_at=received,
                    answered_at=received + timedelta(seconds=15) if answered else None,
                    resolved_at=received + timedelta(minutes=5) if answered else None,
                    abandoned_at=received + timedelta(seconds=40)
                    if status == "abandoned"
                    else None,
                    talk_seconds=row.get("talk", 0),
                    hold_seconds=row.get("hold", 0),
                    acw_seconds=row.get("acw", 0),
                )
            )
        db.session.commit()


def window_end(now: datetime, interval_seconds: int = 1800) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % interval_seconds, UTC)


@pytest.fixture
def firm(app, factory):
    """A tenant, one of its queues (threshold 20 s) and a client admin."""
    tenant = factory.tenant()
    return tenant, make_queue(app, tenant), factory.caller("client_admin", tenant)


def get_staffing(client, caller, tenant, queue_id, **query):
    return client.get(staffing_url(tenant, queue_id), query_string=query, headers=caller.headers)


# --- sizing ----------------------------------------------------------------------------------


def test_a_client_admin_sizes_the_spec_example_with_every_input_given(client, firm):
    tenant, queue_id, admin = firm

    response = get_staffing(client, admin, tenant, queue_id, **SPEC_QUERY, shrinkage="0.3")

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["queue_id"] == str(queue_id)
    assert (body["interval"], body["interval_seconds"]) == ("30m", 1800)
    assert body["inputs"] == {
        "volume": 100.0,
        "aht": 180.0,
        "target": 0.8,
        "threshold": 20.0,
        "shrinkage": 0.3,
        "max_occupancy": None,
    }
    assert body["sources"] == {
        "volume": "request",
        "aht": "request",
        "target": "request",
        "threshold": "request",
    }
    assert body["history"] is None
    assert body["traffic_erlangs"] == 10.0
    assert (body["agents"], body["scheduled"]) == (14, 20)
    assert body["service_level"] == 0.8884
    assert round(body["asa_seconds"], 1) == 7.8
    assert body["occupancy"] == round(10 / 14, 4)
    assert body["probability_wait"] == 0.1741
    assert [p["agents"] for p in body["curve"]] == [12, 13, 14, 15, 16, 17]
    assert [p["scheduled"] for p in body["curve"]] == [18, 19, 20, 22, 23, 25]
    assert [p["meets_target"] for p in body["curve"]] == [False, False, True, True, True, True]
    levels = [p["service_level"] for p in body["curve"]]
    assert levels == sorted(levels) and levels[0] < 0.8 <= levels[2]
    assert body["curve"][2] == {
        **{k: body[k] for k in ("agents", "scheduled", "service_level", "asa_seconds")},
        **{k: body[k] for k in ("occupancy", "probability_wait")},
        "meets_target": True,
    }


def test_a_client_viewer_may_size_a_queue_but_an_agent_may_not(app, client, factory, firm):
    tenant, queue_id, _admin = firm
    viewer = factory.caller("client_viewer", tenant)
    agent = assign_agent(app, factory, {queue_id: tenant.id})

    assert get_staffing(client, viewer, tenant, queue_id, **SPEC_QUERY).status_code == 200
    # Staffing is a report: agents hold no reports permission, even on the queues they serve.
    body = assert_problem(get_staffing(client, agent, tenant, queue_id, **SPEC_QUERY), 403)
    assert "report" in body["detail"]


def test_an_occupancy_cap_staffs_more_than_the_target_alone(client, firm):
    tenant, queue_id, admin = firm

    body = get_staffing(client, admin, tenant, queue_id, **SPEC_QUERY, max_occupancy="0.65")
    body = body.get_json()

    assert body["agents"] == 16
    assert body["occupancy"] == 0.625
    assert body["inputs"]["max_occupancy"] == 0.65
    by_agents = {p["agents"]: p for p in body["curve"]}
    assert by_agents[15]["service_level"] >= 0.8 and not by_agents[15]["meets_target"]


def test_no_volume_needs_no_agents(client, firm):
    tenant, queue_id, admin = firm

    body = get_staffing(client, admin, tenant, queue_id, **{**SPEC_QUERY, "volume": 0}).get_json()

    assert (body["traffic_erlangs"], body["agents"], body["scheduled"]) == (0.0, 0, 0)
    assert [p["agents"] for p in body["curve"]] == [0, 1, 2, 3]


def test_an_hour_interval_halves_the_traffic_of_the_same_volume(client, firm):
    tenant, queue_id, admin = firm

    body = get_staffing(client, admin, tenant, queue_id, **{**SPEC_QUERY, "interval": "1h"})

    body = body.get_json()
    assert (body["interval"], body["interval_seconds"], body["traffic_erlangs"]) == (
        "60m",
        3600,
        5.0,
    )
    expected = staffing.staff(
        volume=100, aht_seconds=180, interval_seconds=3600, target=0.8, threshold_seconds=20
    )
    assert body["agents"] == expected.needed.agents


def test_levels_not_above_the_traffic_are_listed_with_no_service_level(client, firm):
    tenant, queue_id, admin = firm
    # 2.4 erlangs and a target the first stable level meets: 3 agents, curve from 1.
    query = {"interval": "1h", "volume": 48, "aht": 180, "target": 0.01, "threshold": 0}

    body = get_staffing(client, admin, tenant, queue_id, **query).get_json()

    assert body["agents"] == 3
    assert body["curve"][0] == {
        "agents": 1,
        "scheduled": 1,
        "service_level": None,
        "asa_seconds": None,
        "occupancy": 1.0,
        "probability_wait": 1.0,
        "meets_target": False,
    }
    assert body["curve"][1]["service_level"] is None
    assert body["curve"][2]["service_level"] is not None


# --- defaults: policy, queue, history --------------------------------------------------------


def test_target_and_threshold_default_to_the_firms_policy_and_the_queues_threshold(
    app, client, factory
):
    tenant = factory.tenant()
    queue_id = make_queue(app, tenant, answer_threshold_seconds=30)
    default_policy(app, tenant, bps=9000)
    admin = factory.caller("client_admin", tenant)

    response = get_staffing(client, admin, tenant, queue_id, volume=100, aht=180)

    body = response.get_json()
    assert (body["inputs"]["target"], body["inputs"]["threshold"]) == (0.9, 30.0)
    assert body["sources"]["target"] == "sla_policy"
    assert body["sources"]["threshold"] == "queue"
    expected = staffing.staff(
        volume=100,
        aht_seconds=180,
        interval_seconds=1800,
        target=Decimal("0.9"),
        threshold_seconds=30,
    )
    assert body["agents"] == expected.needed.agents
    assert body["service_level"] >= 0.9


def test_without_an_sla_policy_the_target_is_80_percent(client, firm):
    tenant, queue_id, admin = firm

    body = get_staffing(client, admin, tenant, queue_id, volume=100, aht=180).get_json()

    assert (body["inputs"]["target"], body["sources"]["target"]) == (0.8, "default")
    assert body["agents"] == 14


def test_a_policy_promising_100_percent_asks_for_a_target(app, client, factory):
    tenant = factory.tenant()
    queue_id = make_queue(app, tenant)
    default_policy(app, tenant, bps=10000)
    admin = factory.caller("client_admin", tenant)

    refused = get_staffing(client, admin, tenant, queue_id, volume=100, aht=180)

    body = assert_problem(refused, 422)
    assert "target" in body["errors"]["query"]
    assert get_staffing(client, admin, tenant, queue_id, **SPEC_QUERY).status_code == 200


def test_volume_and_aht_left_out_come_from_the_queues_last_28_days(app, client, firm):
    tenant, queue_id, admin = firm
    other_queue = make_queue(app, tenant)
    end = window_end(utcnow())
    day = timedelta(days=1)
    base = end - 3 * day
    rows = (
        # Three intervals with 2, 4 and 6 inbound contacts: 4 per interval.
        [{"received_at": base + timedelta(minutes=1), "talk": 200, "hold": 30, "acw": 70}]
        + [{"received_at": base + timedelta(minutes=2), "status": "abandoned", "answered": False}]
        + [{"received_at": base + day + timedelta(minutes=m), "talk": 100} for m in (0, 5, 10)]
        + [{"received_at": base + day + timedelta(minutes=20), "status": "queued"}]
        + [{"received_at": base + 2 * day + timedelta(minutes=m), "talk": 160} for m in range(6)]
        # Not this queue's inbound history: outbound, another queue, older than 28 days.
        + [{"received_at": base + timedelta(minutes=3), "direction": "outbound", "talk": 9000}]
        + [{"received_at": base + timedelta(minutes=4), "queue_id": other_queue, "talk": 9000}]
        + [{"received_at": end - 29 * day, "talk": 9000}]
    )
    add_contacts(app, tenant, queue_id, rows)

    response = get_staffing(client, admin, tenant, queue_id, target=0.8, threshold=20)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["sources"]["volume"] == body["sources"]["aht"] == "history"
    # Handled: 1 x 300 s, 3 x 100 s, 6 x 160 s -> 1560 / 10 = 156 s; volume 12 / 3 = 4.
    assert (body["inputs"]["volume"], body["inputs"]["aht"]) == (4.0, 156.0)
    history = body["history"]
    assert (history["days"], history["intervals_with_contacts"]) == (28, 3)
    assert (history["contacts"], history["handled_contacts"]) == (12, 10)
    window_to = datetime.fromisoformat(history["to"])
    assert window_to - datetime.fromisoformat(history["from"]) == timedelta(days=28)
    assert window_to.timestamp() % 1800 == 0 and window_to <= utcnow()
    assert body["traffic_erlangs"] == round(4 * 156 / 1800, 4)
    expected = staffing.staff(
        volume=4, aht_seconds=156, interval_seconds=1800, target=0.8, threshold_seconds=20
    )
    assert body["agents"] == expected.needed.agents


def test_a_given_volume_is_kept_and_only_aht_comes_from_history(app, client, firm):
    tenant, queue_id, admin = firm
    end = window_end(utcnow())
    add_contacts(
        app,
        tenant,
        queue_id,
        [{"received_at": end - timedelta(hours=5), "talk": 240, "acw": 60}],
    )

    body = get_staffing(client, admin, tenant, queue_id, volume=120).get_json()

    assert body["sources"] == {
        "volume": "request",
        "aht": "history",
        "target": "default",
        "threshold": "queue",
    }
    assert (body["inputs"]["volume"], body["inputs"]["aht"]) == (120.0, 300.0)
    assert body["traffic_erlangs"] == 20.0


def test_history_excludes_the_interval_in_progress_and_counts_per_interval_size(app, firm):
    tenant, queue_id, _admin = firm
    now = datetime(2026, 3, 10, 10, 40, tzinfo=UTC)
    add_contacts(
        app,
        tenant,
        queue_id,
        [
            # 10:00-11:00 is in progress at 10:40 for hourly intervals, not for 15-minute ones.
            {"received_at": datetime(2026, 3, 10, 10, 5, tzinfo=UTC), "talk": 60},
            {"received_at": datetime(2026, 3, 10, 10, 20, tzinfo=UTC), "talk": 60},
            # In progress for both.
            {"received_at": datetime(2026, 3, 10, 10, 35, tzinfo=UTC), "talk": 60},
            # 09:00-10:00: two quarter hours with one contact each, one hour with two.
            {"received_at": datetime(2026, 3, 10, 9, 10, tzinfo=UTC), "talk": 120},
            {"received_at": datetime(2026, 3, 10, 9, 50, tzinfo=UTC), "talk": 120},
            # 28 days before the hourly window's end, to the second: the first one in it.
            {"received_at": datetime(2026, 2, 10, 10, 0, tzinfo=UTC), "talk": 120},
            {"received_at": datetime(2026, 2, 10, 9, 59, 59, tzinfo=UTC), "talk": 9000},
        ],
    )

    with app.app_context(), tenant_scope(tenant.id):
        hourly = queues_service.staffing_history(queue_id=queue_id, interval_seconds=3600, now=now)
        quarter = queues_service.staffing_history(queue_id=queue_id, interval_seconds=900, now=now)

    assert (hourly["from_"], hourly["to"]) == (
        datetime(2026, 2, 10, 10, 0, tzinfo=UTC),
        datetime(2026, 3, 10, 10, 0, tzinfo=UTC),
    )
    # Hourly: 09:00 (2 contacts) and 2026-02-10 10:00 (1): 3 contacts in 2 intervals.
    assert (hourly["contacts"], hourly["intervals_with_contacts"]) == (3, 2)
    assert (hourly["volume"], hourly["aht"]) == (Fraction(3, 2), Fraction(120))
    assert quarter["to"] == datetime(2026, 3, 10, 10, 30, tzinfo=UTC)
    # Quarter hours: 10:00, 10:15, 09:00, 09:45 -> 4 contacts in 4 intervals (02-10 is out).
    assert (quarter["contacts"], quarter["intervals_with_contacts"]) == (4, 4)
    assert (quarter["volume"], quarter["aht"]) == (Fraction(1), Fraction(90))


def test_with_no_history_volume_and_aht_must_be_given(client, firm):
    tenant, queue_id, admin = firm

    body = assert_problem(get_staffing(client, admin, tenant, queue_id), 422)

    assert set(body["errors"]["query"]) == {"volume", "aht"}
    assert "give" in body["detail"].lower()
    only_aht = assert_problem(get_staffing(client, admin, tenant, queue_id, volume=10), 422)
    assert set(only_aht["errors"]["query"]) == {"aht"}


def test_handled_contacts_with_no_handle_time_are_no_aht_history(app, client, firm):
    tenant, queue_id, admin = firm
    add_contacts(app, tenant, queue_id, [{"received_at": utcnow() - timedelta(days=2)}])

    body = assert_problem(get_staffing(client, admin, tenant, queue_id), 422)

    assert set(body["errors"]["query"]) == {"aht"}


# --- refusals --------------------------------------------------------------------------------


def test_another_firms_queue_is_not_found(app, client, factory, firm):
    tenant_a, queue_a, _admin_a = firm
    tenant_b = factory.tenant()
    admin_b = factory.caller("client_admin", tenant_b)

    for tenant in (tenant_a, tenant_b):
        response = get_staffing(client, admin_b, tenant, queue_a, **SPEC_QUERY)
        assert_problem(response, 404)
    unknown = get_staffing(client, admin_b, tenant_b, uuid.uuid4(), **SPEC_QUERY)
    assert_problem(unknown, 404)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"aht": 0}, "aht"),
        ({"aht": 90000}, "aht"),
        ({"volume": -1}, "volume"),
        ({"volume": "lots"}, "volume"),
        ({"volume": "NaN"}, "volume"),
        ({"volume": "1e400"}, "volume"),
        ({"target": 1}, "target"),
        ({"target": 0}, "target"),
        ({"threshold": -5}, "threshold"),
        ({"shrinkage": 1}, "shrinkage"),
        ({"max_occupancy": 0}, "max_occupancy"),
        ({"max_occupancy": 1.2}, "max_occupancy"),
        ({"interval": "7x"}, "interval"),
        ({"interval": "0m"}, "interval"),
        ({"interval": "25h"}, "interval"),
    ],
)
def test_inputs_out_of_range_are_refused_naming_the_field(client, firm, change, field):
    tenant, queue_id, admin = firm

    body = assert_problem(
        get_staffing(client, admin, tenant, queue_id, **{**SPEC_QUERY, **change}), 422
    )

    assert field in body["errors"]["query"]


def test_traffic_beyond_what_any_queue_carries_is_refused_as_a_units_mistake(client, firm):
    tenant, queue_id, admin = firm
    # 10 million contacts of a day each per half hour: 480 million erlangs.
    query = {**SPEC_QUERY, "volume": 10_000_000, "aht": 86_400}

    body = assert_problem(get_staffing(client, admin, tenant, queue_id, **query), 422)

    assert "erlangs" in body["detail"]
    assert set(body["errors"]["query"]) == {"volume", "aht"}


def test_thousands_of_erlangs_are_sized_over_http(client, firm):
    tenant, queue_id, admin = firm
    query = {**SPEC_QUERY, "volume": 100_000, "aht": 90}

    body = get_staffing(client, admin, tenant, queue_id, **query).get_json()

    assert body["traffic_erlangs"] == 5000.0
    assert 5000 < body["agents"] < 5100
    assert body["service_level"] >= 0.8
