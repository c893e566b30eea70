"""The other reports: a client firm's yearly complaints register and its agents' figures, the
BPO's portfolio across firms, and every report answering on the SQLite first-run database."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from app.agents.models import AgentTimeSegment
from app.db import db
from tests.factories import Factory
from tests.http_helpers import assert_problem
from tests.test_reports_sla import (
    after,
    agent_profile,
    as_cell,
    assert_csv_matches,
    body,
    clock,
    contact,
    csv_rows,
    firm,
    policy,
    span,
    store,
    t,
)

# --- the complaints register -----------------------------------------------------------------


def register(client, caller, tenant, headers=None, **query):
    return client.get(
        f"/v1/tenants/{tenant.id}/reports/complaints-register",
        query_string=query,
        headers={**caller.headers, **(headers or {})},
    )


def a_year_of_complaints(app, tenant, queue) -> None:
    """Madrid: four complaints and claims around the 2025 New Year's Eves, and a question."""
    new_year = t("2025-01-01T00:30:00+01:00")  # 2024-12-31T23:30Z
    rows = [
        contact(queue, t("2024-12-31T23:59:00+01:00"), channel="email", category="complaint"),
        contact(
            queue,
            new_year,
            channel="web",
            category="claim",
            priority="high",
            subject="Broken fridge",
            remedy_requested="Replace it",
            status="closed",
            outcome="partially_granted",
            compensation_amount=2500,
            resolved_at=t("2025-01-02T18:00:00+01:00"),
            closed_at=t("2025-01-03T10:00:00+01:00"),
            external_id="ZD-1",
        ),
        contact(
            queue,
            t("2025-06-15T09:00:00+02:00"),
            channel="voice",
            category="complaint",
            subject="Rude driver",
            status="resolved",
            resolved_at=t("2025-06-15T09:20:00+02:00"),
        ),
        contact(queue, t("2025-12-31T23:59:59+01:00"), channel="email", category="complaint"),
        contact(queue, t("2026-01-01T00:00:00+01:00"), channel="email", category="complaint"),
        contact(queue, t("2025-06-15T10:00:00+02:00"), channel="email"),  # a question
    ]
    store(app, tenant, rows)


def test_the_register_lists_the_local_years_complaints_and_claims(app, client, factory):
    tenant, queue = firm(app, factory)
    a_year_of_complaints(app, tenant, queue)

    report = body(register(client, factory.caller("client_viewer", tenant), tenant, year=2025))

    assert report["count"] == 3
    assert (report["from"], report["to"]) == (
        "2025-01-01T00:00:00+01:00",
        "2026-01-01T00:00:00+01:00",
    )
    claim, complaint, last = report["complaints"]
    assert claim | {"contact_id": None} == {
        "contact_id": None,
        "external_id": "ZD-1",
        "received_at": "2025-01-01T00:30:00+01:00",
        "closed_at": "2025-01-03T10:00:00+01:00",
        "status": "closed",
        "channel": "web",
        "category": "claim",
        "priority": "high",
        "summary": "Broken fridge",
        "remedy_requested": "Replace it",
        "outcome": "partially_granted",
        "compensation_amount": 2500,
        "currency": "EUR",
        "seconds_with_departments": 0,
        "days_to_close": 2,
    }
    # Closed falls back to resolved; the same local day is 0 days.
    assert (complaint["closed_at"], complaint["days_to_close"]) == (
        "2025-06-15T09:20:00+02:00",
        0,
    )
    assert complaint["received_at"] == "2025-06-15T09:00:00+02:00"
    assert (last["received_at"], last["closed_at"], last["days_to_close"]) == (
        "2025-12-31T23:59:59+01:00",
        None,
        None,
    )


def test_the_years_edges_are_local_midnights(app, client, factory):
    tenant, queue = firm(app, factory)
    a_year_of_complaints(app, tenant, queue)
    viewer = factory.caller("client_viewer", tenant)

    before = body(register(client, viewer, tenant, year=2024))
    following = body(register(client, viewer, tenant, year=2026))

    assert [c["received_at"] for c in before["complaints"]] == ["2024-12-31T23:59:00+01:00"]
    assert [c["received_at"] for c in following["complaints"]] == ["2026-01-01T00:00:00+01:00"]


def test_the_register_as_csv_is_the_json_row_for_row(app, client, factory):
    tenant, queue = firm(app, factory)
    a_year_of_complaints(app, tenant, queue)
    viewer = factory.caller("client_viewer", tenant)

    as_json = body(register(client, viewer, tenant, year=2025))
    response = register(client, viewer, tenant, headers={"Accept": "text/csv"}, year=2025)

    rows = csv_rows(response)
    assert_csv_matches(rows, as_json["complaints"])
    assert list(rows[0])[:3] == ["contact_id", "external_id", "received_at"]
    assert rows[0]["compensation_amount"] == "2500" and rows[1]["outcome"] == ""


def test_without_a_year_the_register_is_this_local_years(app, client, factory):
    tenant, queue = firm(app, factory)
    store(app, tenant, [contact(queue, datetime.now(UTC), channel="email", category="claim")])

    report = body(register(client, factory.caller("client_viewer", tenant), tenant))

    assert report["year"] == datetime.now(UTC).astimezone(tenant_zone(tenant)).year
    assert report["count"] == 1


def tenant_zone(tenant):
    from zoneinfo import ZoneInfo

    return ZoneInfo(tenant.time_zone)


@pytest.mark.parametrize("year", ["twenty", "1900", "2025.5"])
def test_a_bad_year_is_422(client, factory, year):
    tenant = factory.tenant()

    problem = assert_problem(
        register(client, factory.caller("client_viewer", tenant), tenant, year=year), 422
    )

    assert "year" in problem["errors"]["query"]


def test_the_register_is_the_firms_own(app, client, factory):
    tenant, _ = firm(app, factory)
    other, other_queue = firm(app, factory)
    a_year_of_complaints(app, other, other_queue)

    mine = body(register(client, factory.caller("client_viewer", tenant), tenant, year=2025))

    assert mine["count"] == 0
    assert_problem(register(client, factory.caller("client_viewer", tenant), other), 404)


# --- the agents report -----------------------------------------------------------------------


def agents(client, caller, tenant, headers=None, **query):
    return client.get(
        f"/v1/tenants/{tenant.id}/reports/agents",
        query_string=query,
        headers={**caller.headers, **(headers or {})},
    )


def segment(agent_id, start: datetime, minutes: float, presence="available", share_bps=10000):
    return AgentTimeSegment(
        agent_id=agent_id,
        started_at=start,
        ended_at=after(start, minutes * 60),
        presence=presence,
        share_bps=share_bps,
    )


def handled_contact(queue, agent_id, at: datetime, handle: int, **fields):
    """A call the agent answered and resolved `handle` seconds of work later."""
    fields.setdefault("status", "resolved")
    fields.setdefault("resolved_at", after(at, handle + 10))
    return contact(
        queue, at, agent_id=agent_id, answered_at=after(at, 10), talk_seconds=handle, **fields
    )


def a_shift(app, factory):
    """Three agents' morning for firm A (09:00-13:00 Madrid on 10 March 2025), and some of
    their time and work for firm B, which A's report must not count."""
    a, queue_a = firm(app, factory)
    b, queue_b = firm(app, factory)
    lucia, marta, pablo = (agent_profile(app, factory, n) for n in ("Lucia", "Marta", "Pablo"))
    nine = t("2025-03-10T09:00:00+01:00")
    store(
        app,
        a,
        [
            # Lucia: two calls of 600 s and 1200 s (rated 5 and 2).
            handled_contact(queue_a, lucia, nine, 600, csat=5),
            handled_contact(queue_a, lucia, after(nine, 3600), 1200, csat=2, status="closed"),
            # Answered, never resolved: not handled. Resolved after the range: not counted.
            handled_contact(queue_a, lucia, nine, 999, status="active", resolved_at=None),
            handled_contact(queue_a, lucia, nine, 777, resolved_at=t("2025-03-10T14:00:00+01:00")),
            # Marta: one call of 900 s.
            handled_contact(queue_a, marta, nine, 900),
        ],
        others=[
            # Lucia: 60 min available for A alone, 60 min shared with B (30 for A), 30 busy.
            segment(lucia, nine, 60),
            segment(lucia, after(nine, 3600), 60, share_bps=5000),
            segment(lucia, after(nine, 7200), 30, presence="busy"),
            # Marta: 10 min available, less than her handle time.
            segment(marta, nine, 10),
            # Pablo: 20 min available and nothing handled; then 30 min past the range's end.
            segment(pablo, nine, 20),
            segment(pablo, t("2025-03-10T12:45:00+01:00"), 30),
        ],
    )
    store(
        app,
        b,
        [handled_contact(queue_b, lucia, nine, 5000)],
        others=[segment(lucia, after(nine, 3600), 60, share_bps=5000)],
    )
    return {"a": a, "b": b, "lucia": lucia, "marta": marta, "pablo": pablo}


def test_occupancy_is_handle_time_over_handle_plus_idle_available_time(app, client, factory):
    shift = a_shift(app, factory)
    a = shift["a"]

    report = body(
        agents(
            client,
            factory.caller("client_viewer", a),
            a,
            **span("2025-03-10T09:00:00+01:00", "2025-03-10T13:00:00+01:00"),
        )
    )

    rows = {row["name"]: row for row in report["agents"]}
    assert list(rows) == ["Lucia", "Marta", "Pablo"]
    # Available 3600 + 1800 s; idle = 5400 - 1800 handled; occupancy 1800 / 5400.
    assert rows["Lucia"] | {"agent_id": None} == {
        "agent_id": None,
        "name": "Lucia",
        "handled": 2,
        "handle_seconds": 1800.0,
        "aht_seconds": 900.0,
        "available_seconds": 5400.0,
        "idle_seconds": 3600.0,
        "occupancy": 0.3333,
        "csat_responses": 2,
        "csat_satisfied": 1,
        "csat": 0.5,
    }
    # Handle time beyond available time: no idle time, fully occupied.
    assert (rows["Marta"]["idle_seconds"], rows["Marta"]["occupancy"]) == (0.0, 1.0)
    # Available for 20 + 15 minutes, nothing handled: not occupied at all.
    assert rows["Pablo"]["available_seconds"] == 2100.0
    assert (rows["Pablo"]["occupancy"], rows["Pablo"]["aht_seconds"]) == (0.0, None)
    # The firm: 2700 s handled, idle 3600 + 0 + 2100 s.
    assert report["totals"] == {
        "handled": 3,
        "handle_seconds": 2700.0,
        "aht_seconds": 900.0,
        "available_seconds": 8100.0,
        "idle_seconds": 5700.0,
        "occupancy": 0.3214,
        "csat_responses": 2,
        "csat_satisfied": 1,
        "csat": 0.5,
    }


def test_a_contact_counts_when_resolved_in_the_range_or_else_when_closed_in_it(
    app, client, factory
):
    a, queue = firm(app, factory)
    lucia = agent_profile(app, factory, "Lucia")
    nine = t("2025-03-10T09:00:00+01:00")
    store(
        app,
        a,
        [
            # Closed without a resolution in the range: handled.
            handled_contact(
                queue,
                lucia,
                nine,
                100,
                status="closed",
                resolved_at=None,
                closed_at=after(nine, 600),
            ),
            # Resolved the day before, closed in the range: handled the day before.
            handled_contact(
                queue, lucia, after(nine, -86400), 200, status="closed", closed_at=after(nine, 600)
            ),
            # Resolved in the range, closed after it: handled.
            handled_contact(
                queue, lucia, nine, 400, status="closed", closed_at=t("2025-03-12T09:00:00+01:00")
            ),
            # Closed without a resolution after the range: not yet.
            handled_contact(
                queue,
                lucia,
                nine,
                800,
                status="closed",
                resolved_at=None,
                closed_at=t("2025-03-12T09:00:00+01:00"),
            ),
        ],
    )

    report = body(
        agents(client, factory.caller("client_viewer", a), a, **span("2025-03-10", "2025-03-11"))
    )

    assert (report["totals"]["handled"], report["totals"]["handle_seconds"]) == (2, 500.0)


def test_the_agents_report_as_csv_is_the_json_row_for_row(app, client, factory):
    shift = a_shift(app, factory)
    a = shift["a"]
    viewer = factory.caller("client_viewer", a)
    query = span("2025-03-10", "2025-03-11")

    as_json = body(agents(client, viewer, a, **query))
    rows = csv_rows(agents(client, viewer, a, headers={"Accept": "text/csv"}, **query))

    assert_csv_matches(rows, as_json["agents"])
    assert list(rows[0])[:2] == ["agent_id", "name"]


def test_the_agents_report_needs_a_sane_range(client, factory):
    tenant = factory.tenant()
    viewer = factory.caller("client_viewer", tenant)

    reversed_ = assert_problem(
        agents(client, viewer, tenant, **span("2025-03-11", "2025-03-10")), 422
    )
    too_long = assert_problem(
        agents(client, viewer, tenant, **span("2024-01-01", "2025-01-03")), 422
    )

    assert "to" in reversed_["errors"]["query"] and "to" in too_long["errors"]["query"]


def test_an_agent_of_the_firm_may_not_read_the_agents_report(app, client, factory):
    from tests.test_agents_api import agent_caller, assign, create_agent

    tenant, queue = firm(app, factory)
    admin = factory.caller("bpo_admin")
    agent = create_agent(client, admin)
    assign(client, admin, agent["id"], [queue])

    assert_problem(agents(client, agent_caller(factory, agent), tenant), 403)
    assert body(agents(client, factory.caller("supervisor", tenant), tenant))["agents"] == []


# --- the portfolio ---------------------------------------------------------------------------


def portfolio(client, caller, headers=None, **query):
    return client.get(
        "/v1/reports/portfolio",
        query_string=query,
        headers={**caller.headers, **(headers or {})},
    )


def three_firms(app, factory) -> dict:
    """Alpha (Madrid, exclude short abandons), Beta (Mexico City, ignore abandons) and Gamma,
    each with a day of calls on 10 March 2025 by their own clocks."""
    alpha, queue_a = firm(app, factory, name="Alpha")
    beta, queue_b = firm(app, factory, name="Beta", time_zone="America/Mexico_City")
    gamma, queue_g = firm(app, factory, name="Gamma")
    policy(app, alpha, abandon_treatment="exclude_short", short_abandon_seconds=5)
    policy(
        app,
        beta,
        abandon_treatment="ignore",
        short_abandon_seconds=5,
        service_level_target_bps=9000,
    )
    at_a = t("2025-03-10T10:00:00+01:00")
    late = contact(queue_a, at_a, answered_at=after(at_a, 40), csat=4, customer_key="ana")
    store(
        app,
        alpha,
        [
            contact(
                queue_a,
                at_a,
                answered_at=after(at_a, 10),
                status="resolved",
                resolved_at=after(at_a, 300),
                talk_seconds=200,
                csat=2,
            ),
            late,
            contact(queue_a, at_a, status="abandoned", abandoned_at=after(at_a, 3)),
            # 00:30 on 11 March in Madrid: outside Alpha's day.
            contact(queue_a, t("2025-03-10T23:30:00+00:00"), channel="email"),
        ],
        [clock(late, "resolution", elapsed_seconds=90000, breached_at=after(at_a, 86400))],
    )
    at_b = t("2025-03-10T10:00:00-06:00")
    store(
        app,
        beta,
        [
            contact(queue_b, at_b, answered_at=after(at_b, 5)),
            contact(queue_b, at_b, status="abandoned", abandoned_at=after(at_b, 60)),
            # 23:00 on 10 March in Mexico City (05:00 UTC on the 11th): inside Beta's day.
            contact(queue_b, t("2025-03-11T05:00:00+00:00"), channel="email"),
            # 21:00 on 9 March in Mexico City: outside.
            contact(queue_b, t("2025-03-10T03:00:00+00:00"), channel="email"),
        ],
    )
    store(app, gamma, [contact(queue_g, t("2025-03-10T10:00:00+01:00"), channel="chat")])
    return {"alpha": alpha, "beta": beta, "gamma": gamma}


def test_the_bpo_admin_compares_every_firm_on_its_own_terms(app, client, factory):
    firms = three_firms(app, factory)

    report = body(
        portfolio(client, factory.caller("bpo_admin"), **span("2025-03-10", "2025-03-11"))
    )

    rows = {
        row["name"]: row for row in report["tenants"] if row["name"] in ("Alpha", "Beta", "Gamma")
    }
    assert list(rows) == ["Alpha", "Beta", "Gamma"]
    alpha, beta = rows["Alpha"], rows["Beta"]
    assert alpha["tenant_id"] == str(firms["alpha"].id)
    assert (alpha["from"], alpha["to"]) == (
        "2025-03-10T00:00:00+01:00",
        "2025-03-11T00:00:00+01:00",
    )
    assert (beta["from"], beta["to"]) == ("2025-03-10T00:00:00-06:00", "2025-03-11T00:00:00-06:00")
    # Alpha: 1 of 2 answered within 20 s; its one abandon (3 s) is short and left out.
    assert {k: alpha[k] for k in FIGURES} == {
        "received": 3,
        "handled": 1,
        "answered": 2,
        "abandoned": 1,
        "short_abandoned": 1,
        "abandon_treatment": "exclude_short",
        "service_level": 0.5,
        "service_level_target": 0.8,
        "asa_seconds": 25.0,
        "aht_seconds": 200.0,
        "abandonment_rate": 0.3333,
        "breaches": 1,
        "fcr": None,  # Ana's call (her first) was answered but not resolved: not handled yet
        "csat": 0.5,
        "backlog_now": 2,  # the late call, still queued, and the email of the 11th
    }
    # Beta ignores abandons: 1 answered, within T.
    assert {k: beta[k] for k in ("received", "answered", "abandoned", "service_level")} == {
        "received": 3,
        "answered": 1,
        "abandoned": 1,
        "service_level": 1.0,
    }
    assert (beta["abandon_treatment"], beta["service_level_target"]) == ("ignore", 0.9)
    assert rows["Gamma"]["abandon_treatment"] == "exclude_short"  # no policy: the defaults


FIGURES = (
    "received",
    "handled",
    "answered",
    "abandoned",
    "short_abandoned",
    "abandon_treatment",
    "service_level",
    "service_level_target",
    "asa_seconds",
    "aht_seconds",
    "abandonment_rate",
    "breaches",
    "fcr",
    "csat",
    "backlog_now",
)


def test_a_supervisor_compares_only_the_firms_it_supervises(app, client, factory):
    firms = three_firms(app, factory)
    supervisor = factory.caller("supervisor", firms["alpha"])

    response = portfolio(client, supervisor, **span("2025-03-10", "2025-03-11"))

    report = body(response)
    assert [row["name"] for row in report["tenants"]] == ["Alpha"]
    text = response.get_data(as_text=True)
    assert str(firms["beta"].id) not in text and str(firms["gamma"].id) not in text


def test_the_portfolio_is_not_for_the_firms_or_agents(app, client, factory):
    firms = three_firms(app, factory)

    for caller in (
        factory.caller("client_admin", firms["alpha"]),
        factory.caller("client_viewer", firms["alpha"]),
        factory.caller("integration", firms["alpha"]),
        factory.caller("agent"),
    ):
        assert_problem(portfolio(client, caller), 403)


def test_the_portfolio_as_csv_is_the_json_row_for_row(app, client, factory):
    three_firms(app, factory)
    admin = factory.caller("bpo_admin")
    query = span("2025-03-10", "2025-03-11")

    as_json = body(portfolio(client, admin, **query))
    rows = csv_rows(portfolio(client, admin, headers={"Accept": "text/csv"}, **query))

    assert_csv_matches(rows, as_json["tenants"])
    assert rows[0]["service_level"] == as_cell(as_json["tenants"][0]["service_level"])


def test_the_portfolio_costs_the_same_queries_for_two_firms_as_for_five(app, client, factory):
    admin = factory.caller("bpo_admin")
    query = span("2025-03-10", "2025-03-11")

    def statements() -> int:
        engine = db_engine(app)
        seen = itertools.count()
        listener = lambda *args: next(seen)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            body(portfolio(client, admin, **query))
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return next(seen)

    for _ in range(2):
        tenant, queue = firm(app, factory)
        store(app, tenant, [contact(queue, t("2025-03-10T10:00:00+01:00"))])
    two = statements()
    for _ in range(3):
        tenant, queue = firm(app, factory)
        store(app, tenant, [contact(queue, t("2025-03-10T10:00:00+01:00"))])
    five = statements()

    assert two == five


def db_engine(app):
    with app.app_context():
        return db.engine


def test_the_portfolio_needs_a_sane_range(client, factory):
    admin = factory.caller("bpo_admin")

    problem = assert_problem(portfolio(client, admin, **span("2025-03-11", "2025-03-10")), 422)
    naive = assert_problem(
        portfolio(client, admin, **span("2025-03-10T00:00:00", "2025-03-11")), 422
    )

    assert "to" in problem["errors"]["query"] and "from" in naive["errors"]["query"]


# --- SQLite: the first-run database answers every report -------------------------------------


def test_every_report_answers_on_sqlite_with_the_same_figures(sqlite_app):
    app, client, factory = sqlite_app, sqlite_app.test_client(), Factory(sqlite_app)
    tenant, queue = firm(app, factory)
    policy(app, tenant, abandon_treatment="count_within_threshold_as_met")
    from tests.test_reports_sla import a_day_of_calls

    a_day_of_calls(app, tenant, queue)
    at = t("2025-03-10T09:00:00+01:00")
    # Eleven first responses of 100, 200, ... 1100 s: nearest rank takes the 6th and the 10th.
    emails = [contact(queue, at, channel="email", category="complaint") for _ in range(11)]
    clocks = [
        clock(email, "first_response", elapsed_seconds=n * 100, stopped_at=after(at, n * 100))
        for n, email in enumerate(emails, start=1)
    ]
    agent = agent_profile(app, factory, "Lucia")
    store(
        app,
        tenant,
        [*emails, handled_contact(queue, agent, at, 600, csat=5)],
        clocks,
        [segment(agent, at, 30)],
    )
    viewer, admin = factory.caller("client_viewer", tenant), factory.caller("bpo_admin")
    query = span("2025-03-10", "2025-03-11")

    sla = body(
        client.get(
            f"/v1/tenants/{tenant.id}/reports/sla",
            query_string={**query, "group_by": "agent"},
            headers=viewer.headers,
        )
    )
    by_hour = csv_rows(
        client.get(
            f"/v1/tenants/{tenant.id}/reports/sla",
            query_string={**query, "granularity": "hour"},
            headers={**viewer.headers, "Accept": "text/csv"},
        )
    )
    complaints = body(register(client, viewer, tenant, year=2025))
    complaints_csv = csv_rows(
        register(client, viewer, tenant, headers={"Accept": "text/csv"}, year=2025)
    )
    team = body(agents(client, viewer, tenant, **query))
    firms = body(portfolio(client, admin, **query))

    totals = sla["totals"]
    # (4 answered within T + 3 abandoned within T) / (6 answered + 4 abandoned): the handled
    # call adds one answered within T to the day of calls.
    assert totals["service_level"] == 0.7
    first_response = totals["first_response"]
    assert (first_response["median_seconds"], first_response["p90_seconds"]) == (600, 1000)
    assert totals["backlog"] == 18  # 7 of the day of calls still open, and the 11 emails
    assert len(by_hour) == 24
    assert complaints["count"] == 11 and len(complaints_csv) == 11
    [lucia] = team["agents"]
    assert (lucia["handled"], lucia["occupancy"]) == (1, 0.3333)
    [row] = firms["tenants"]
    assert (row["received"], row["service_level"]) == (23, 0.7)
