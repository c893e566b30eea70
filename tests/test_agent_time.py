"""Where an agent's time went: segments per client firm, the agent-time report, the timeline.

The day is driven through the service with explicit instants, then read through the API.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.agents import presence as agent_presence
from tests.http_helpers import assert_problem
from tests.test_agents_api import (
    agent_caller,
    assign,
    create_agent,
    make_queue,
    service_call,
)


def _t0() -> datetime:
    # Two days ago on the hour: in the past, so nothing is still running when the report runs.
    return (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


def _at(t0: datetime, minutes: int) -> datetime:
    return t0 + timedelta(minutes=minutes)


def _switch(app, agent_id, queue_ids, at):
    service_call(app, agent_presence.set_active_queues, agent_id, queue_ids=queue_ids, now=at)


def _presence(app, agent_id, presence, at):
    service_call(app, agent_presence.set_presence, agent_id, presence=presence, now=at)


def _report(client, caller, tenant, start, end):
    return client.get(
        f"/v1/tenants/{tenant.id}/reports/agent-time",
        query_string={"from": start.isoformat(), "to": end.isoformat()},
        headers=caller.headers,
    )


def _seconds(response) -> dict:
    """Per agent's name: (working, available, busy) seconds."""
    assert response.status_code == 200, response.get_json()
    return {
        row["name"]: (row["working_seconds"], row["available_seconds"], row["busy_seconds"])
        for row in response.get_json()["agents"]
    }


def _a_day_between_two_firms(app, client, factory):
    """30 min A alone, 20 min A+B (10 available, 10 busy), a 15 min break, 40 min B alone."""
    admin = factory.caller("bpo_admin")
    a, b = factory.tenant(name="Alpha"), factory.tenant(name="Beta")
    queue_a, queue_b = make_queue(app, a, "Alpha sales"), make_queue(app, b, "Beta care")
    agent = create_agent(client, admin, name="Lucia")
    assign(client, admin, agent["id"], [queue_a, queue_b])
    t0 = _t0()
    _switch(app, agent["id"], [queue_a], _at(t0, -5))  # offline: no time yet
    _presence(app, agent["id"], "available", _at(t0, 0))
    _switch(app, agent["id"], [queue_a, queue_b], _at(t0, 30))
    _presence(app, agent["id"], "busy", _at(t0, 40))
    _presence(app, agent["id"], "break", _at(t0, 50))
    _switch(app, agent["id"], [queue_b], _at(t0, 60))  # on break: still no time
    _presence(app, agent["id"], "available", _at(t0, 65))
    _presence(app, agent["id"], "offline", _at(t0, 105))
    return {"admin": admin, "a": a, "b": b, "agent": agent, "t0": t0, "queues": (queue_a, queue_b)}


# --- the report ------------------------------------------------------------------------------


def test_switching_between_two_firms_attributes_the_time_to_each(app, client, factory):
    day = _a_day_between_two_firms(app, client, factory)
    t0, a, b = day["t0"], day["a"], day["b"]
    start, end = _at(t0, 0), _at(t0, 120)

    for_a = _seconds(_report(client, factory.caller("client_admin", a), a, start, end))
    for_b = _seconds(_report(client, factory.caller("client_viewer", b), b, start, end))

    # A: 30 min alone + 10 of 20 shared (5 available, 5 busy). B: 10 of 20 shared + 40 alone.
    assert for_a == {"Lucia": (2400.0, 2100.0, 300.0)}
    assert for_b == {"Lucia": (3000.0, 2700.0, 300.0)}


def test_the_report_counts_only_the_overlap_with_the_range(app, client, factory):
    day = _a_day_between_two_firms(app, client, factory)
    t0, a = day["t0"], day["a"]
    viewer = factory.caller("client_viewer", a)

    # 15 min alone, 10 shared available (5), 5 shared busy (2.5).
    window = _seconds(_report(client, viewer, a, _at(t0, 15), _at(t0, 45)))
    after = _report(client, viewer, a, _at(t0, 110), _at(t0, 240))

    assert window == {"Lucia": (1350.0, 1200.0, 150.0)}
    assert after.get_json()["agents"] == []


def test_running_time_counts_up_to_now_or_the_end_of_the_range(app, client, factory):
    admin = factory.caller("bpo_admin")
    a = factory.tenant()
    queue = make_queue(app, a)
    agent = create_agent(client, admin, name="Marta")
    assign(client, admin, agent["id"], [queue])
    now = datetime.now(UTC)
    _switch(app, agent["id"], [queue], now - timedelta(minutes=31))
    _presence(app, agent["id"], "available", now - timedelta(minutes=30))
    viewer = factory.caller("client_viewer", a)

    cut = _seconds(
        _report(client, viewer, a, now - timedelta(hours=1), now - timedelta(minutes=10))
    )
    running = _seconds(
        _report(client, viewer, a, now - timedelta(hours=1), now + timedelta(hours=1))
    )

    assert cut == {"Marta": (1200.0, 1200.0, 0.0)}
    working, _, _ = running["Marta"]
    assert 1800 <= working < 1920


@pytest.mark.parametrize("role", ["client_admin", "client_viewer", "integration", "supervisor"])
def test_the_firms_people_read_the_report(app, client, factory, role):
    day = _a_day_between_two_firms(app, client, factory)
    a, t0 = day["a"], day["t0"]

    response = _report(client, factory.caller(role, a), a, t0, _at(t0, 120))

    assert _seconds(response)["Lucia"][0] == 2400.0
    assert response.get_json()["tenant_id"] == str(a.id)


def test_agents_and_other_firms_do_not_read_the_report(app, client, factory):
    day = _a_day_between_two_firms(app, client, factory)
    a, t0 = day["a"], day["t0"]
    agent = agent_caller(factory, day["agent"])
    stranger = factory.caller("client_admin", factory.tenant())

    assert_problem(_report(client, agent, a, t0, _at(t0, 60)), 403)
    assert_problem(_report(client, stranger, a, t0, _at(t0, 60)), 404)
    assert _seconds(_report(client, day["admin"], a, t0, _at(t0, 120)))["Lucia"][0] == 2400.0


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-03-01T00:00:00+00:00"},
        {"from": "2026-03-01T00:00:00", "to": "2026-03-02T00:00:00"},
        {"from": "2026-03-02T00:00:00+00:00", "to": "2026-03-01T00:00:00+00:00"},
        {"from": "2026-03-01T00:00:00+00:00", "to": "2026-03-01T00:00:00+00:00"},
        {"from": "2025-01-01", "to": "2026-01-03"},
        {"from": "yesterday", "to": "2026-03-01T00:00:00+00:00"},
    ],
    ids=["no-to", "naive", "reversed", "empty", "over-366-days", "not-a-time"],
)
def test_the_report_needs_a_valid_range(client, factory, query):
    tenant = factory.tenant()
    viewer = factory.caller("client_viewer", tenant)

    response = client.get(
        f"/v1/tenants/{tenant.id}/reports/agent-time", query_string=query, headers=viewer.headers
    )

    body = assert_problem(response, 422)
    assert set(body["errors"]["query"]) & {"from", "to"}


def test_a_range_of_a_leap_year_is_fine(client, factory):
    tenant = factory.tenant()
    viewer = factory.caller("client_viewer", tenant)

    response = client.get(
        f"/v1/tenants/{tenant.id}/reports/agent-time",
        query_string={"from": "2028-01-01", "to": "2029-01-01"},
        headers=viewer.headers,
    )

    assert response.status_code == 200, response.get_json()


def test_the_report_takes_dates_of_the_firm_like_every_report(app, client, factory):
    day = _a_day_between_two_firms(app, client, factory)
    a, t0 = day["a"], day["t0"]
    local_day = t0.astimezone(ZoneInfo(a.time_zone)).date()

    response = client.get(
        f"/v1/tenants/{a.id}/reports/agent-time",
        query_string={
            "from": local_day.isoformat(),
            "to": (local_day + timedelta(days=2)).isoformat(),
        },
        headers=factory.caller("client_viewer", a).headers,
    )

    assert _seconds(response) == {"Lucia": (2400.0, 2100.0, 300.0)}
    body = response.get_json()
    midnight = datetime.combine(local_day, time(0), ZoneInfo(a.time_zone))
    assert (body["from"], body["time_zone"]) == (midnight.isoformat(), a.time_zone)


def test_the_report_defaults_to_this_month_in_the_firms_zone(client, factory):
    tenant = factory.tenant(time_zone="America/Mexico_City")
    zone = ZoneInfo(tenant.time_zone)

    body = client.get(
        f"/v1/tenants/{tenant.id}/reports/agent-time",
        headers=factory.caller("client_viewer", tenant).headers,
    ).get_json()

    today = datetime.now(zone).date()
    first = today.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    assert body["from"] == datetime.combine(first, time(0), zone).isoformat()
    assert body["to"] == datetime.combine(following, time(0), zone).isoformat()
    assert body["agents"] == []


def test_the_report_downloads_as_csv_in_seconds(app, client, factory):
    day = _a_day_between_two_firms(app, client, factory)
    a, t0 = day["a"], day["t0"]

    response = client.get(
        f"/v1/tenants/{a.id}/reports/agent-time",
        query_string={"from": t0.isoformat(), "to": _at(t0, 120).isoformat()},
        headers={**factory.caller("client_viewer", a).headers, "Accept": "text/csv"},
    )

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [
        [
            "agent_id",
            "name",
            "working_seconds",
            "available_seconds",
            "busy_seconds",
            "after_contact_work_seconds",
        ],
        [day["agent"]["id"], "Lucia", "2400.0", "2100.0", "300.0", "0.0"],
    ]


# --- the timeline ----------------------------------------------------------------------------


def test_the_timeline_lists_the_day_in_order_with_firms(app, client, factory):
    day = _a_day_between_two_firms(app, client, factory)
    t0, agent = day["t0"], day["agent"]

    response = client.get(
        f"/v1/agents/{agent['id']}/timeline",
        query_string={"from": _at(t0, -60).isoformat(), "to": _at(t0, 180).isoformat()},
        headers=day["admin"].headers,
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    events = [
        (e["occurred_at"], e["kind"], e["presence"], [q["tenant_name"] for q in e["active_queues"]])
        for e in body["events"]
    ]
    assert events == [
        (_at(t0, -5).isoformat(), "active_queues", "offline", ["Alpha"]),
        (_at(t0, 0).isoformat(), "presence", "available", ["Alpha"]),
        (_at(t0, 30).isoformat(), "active_queues", "available", ["Alpha", "Beta"]),
        (_at(t0, 40).isoformat(), "presence", "busy", ["Alpha", "Beta"]),
        (_at(t0, 50).isoformat(), "presence", "break", ["Alpha", "Beta"]),
        (_at(t0, 60).isoformat(), "active_queues", "break", ["Beta"]),
        (_at(t0, 65).isoformat(), "presence", "available", ["Beta"]),
        (_at(t0, 105).isoformat(), "presence", "offline", ["Beta"]),
    ]
    assert body["events"][0]["active_queues"][0] == {
        "queue_id": str(day["queues"][0]),
        "queue_name": "Alpha sales",
        "tenant_id": str(day["a"].id),
        "tenant_name": "Alpha",
    }
    segments = [
        (s["tenant_name"], s["started_at"], s["ended_at"], s["presence"], s["share_bps"])
        for s in body["segments"]
    ]
    assert segments == [
        ("Alpha", _at(t0, 0).isoformat(), _at(t0, 30).isoformat(), "available", 10000),
        ("Alpha", _at(t0, 30).isoformat(), _at(t0, 40).isoformat(), "available", 5000),
        ("Beta", _at(t0, 30).isoformat(), _at(t0, 40).isoformat(), "available", 5000),
        ("Alpha", _at(t0, 40).isoformat(), _at(t0, 50).isoformat(), "busy", 5000),
        ("Beta", _at(t0, 40).isoformat(), _at(t0, 50).isoformat(), "busy", 5000),
        ("Beta", _at(t0, 65).isoformat(), _at(t0, 105).isoformat(), "available", 10000),
    ]


def test_a_supervisor_sees_only_the_firms_they_oversee_in_the_timeline(app, client, factory):
    day = _a_day_between_two_firms(app, client, factory)
    t0, agent = day["t0"], day["agent"]
    supervisor = factory.caller("supervisor", day["a"])

    response = client.get(
        f"/v1/agents/{agent['id']}/timeline",
        query_string={"from": _at(t0, -60).isoformat(), "to": _at(t0, 180).isoformat()},
        headers=supervisor.headers,
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert len(body["events"]) == 8
    assert {q["tenant_name"] for e in body["events"] for q in e["active_queues"]} == {"Alpha"}
    assert {s["tenant_name"] for s in body["segments"]} == {"Alpha"}
    text = response.get_data(as_text=True)
    assert "Beta" not in text and str(day["b"].id) not in text and str(day["queues"][1]) not in text


def test_the_timeline_defaults_to_the_last_day(app, client, factory):
    admin = factory.caller("bpo_admin")
    queue = make_queue(app, factory.tenant())
    agent = create_agent(client, admin)
    assign(client, admin, agent["id"], [queue])
    _switch(app, agent["id"], [queue], datetime.now(UTC) - timedelta(days=2))

    body = client.get(f"/v1/agents/{agent['id']}/timeline", headers=admin.headers).get_json()

    # The assignment (just now) is in; the switch two days ago is not.
    assert [e["kind"] for e in body["events"]] == ["assignments"]


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-03-02T00:00:00+00:00", "to": "2026-03-01T00:00:00+00:00"},
        {"from": "2020-01-01T00:00:00+00:00"},
        {"to": "2026-03-01T00:00:00"},
    ],
    ids=["reversed", "over-92-days-to-now", "naive"],
)
def test_the_timeline_needs_a_valid_range(client, factory, query):
    admin = factory.caller("bpo_admin")
    agent = create_agent(client, admin)

    response = client.get(
        f"/v1/agents/{agent['id']}/timeline", query_string=query, headers=admin.headers
    )

    assert_problem(response, 422)


# --- shares ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 6, 7])
def test_shares_are_as_equal_as_can_be_and_sum_to_the_whole(n):
    shares = agent_presence.split_shares(n)

    assert sum(shares) == 10000
    assert max(shares) - min(shares) <= 1


def test_suspending_a_firm_takes_its_queues_out_of_agents_work_at_once(app, client, factory):
    admin = factory.caller("bpo_admin")
    a, b = factory.tenant(name="Alpha"), factory.tenant(name="Beta")
    queue_a, queue_b = make_queue(app, a, "Alpha sales"), make_queue(app, b, "Beta care")
    agent = create_agent(client, admin, name="Marta")
    assign(client, admin, agent["id"], [queue_a, queue_b])
    start = datetime.now(UTC) - timedelta(hours=1)
    _switch(app, agent["id"], [queue_a, queue_b], start)
    _presence(app, agent["id"], "available", start)

    suspended = client.post(f"/v1/tenants/{a.id}/suspend", json={}, headers=admin.headers)

    assert suspended.status_code == 200, suspended.get_json()
    profile = client.get(f"/v1/agents/{agent['id']}", headers=admin.headers).get_json()
    assert profile["active_queue_ids"] == [str(queue_b)]
    # Alpha's time stopped at the suspension; Beta's running share became the whole.
    later = datetime.now(UTC) + timedelta(hours=1)
    alpha = _seconds(_report(client, admin, a, start, later))["Marta"][0]
    assert 1740.0 <= alpha <= 1860.0  # half of the hour before the suspension
    timeline = client.get(
        f"/v1/agents/{agent['id']}/timeline",
        query_string={"from": start.isoformat(), "to": later.isoformat()},
        headers=admin.headers,
    ).get_json()
    kinds = [e["kind"] for e in timeline["events"]]
    assert kinds[-1] == "active_queues"
