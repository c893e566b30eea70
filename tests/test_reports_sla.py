"""The SLA report a client firm reads: every KPI against hand-computed fixtures, buckets in the
firm's time zone, groups, CSV, and who may read it.

Contacts and SLA clocks are written directly with known times, as the SLA engine and the
lifecycle would have left them; the report only reads them. The helpers at the top are shared
with tests/test_reports_registers.py.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.agents.models import Agent
from app.contacts.models import PRIORITY_RANK, Contact
from app.db import db
from app.queues.models import Queue
from app.reports import periods
from app.reports import sla as sla_reports
from app.sla.clocks import risk_instants
from app.sla.models import SlaClock, SlaPolicy
from app.sla.service import FINISHED_STATUSES
from tenants.models import Tenant
from tenants.scoping import tenant_scope, unscoped
from tests.http_helpers import assert_problem

MADRID = ZoneInfo("Europe/Madrid")

# --- helpers ---------------------------------------------------------------------------------


def t(text: str) -> datetime:
    """An instant written RFC 3339 with its offset."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None
    return moment


def after(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)


def contact(queue_id: uuid.UUID, received_at: datetime, **fields) -> Contact:
    """An unsaved contact of the queue, received (and queued) at `received_at`."""
    values = {
        "channel": "voice",
        "direction": "inbound",
        "category": "information_request",
        "priority": "normal",
        "status": "queued",
        **fields,
    }
    values.setdefault("priority_rank", PRIORITY_RANK[values["priority"]])
    values.setdefault("status_since", received_at)
    values.setdefault("id", uuid.uuid4())
    return Contact(queue_id=queue_id, received_at=received_at, queued_at=received_at, **values)


def clock(of: Contact, kind: str, **fields) -> SlaClock:
    """An unsaved SLA clock of a contact."""
    values = {"target_seconds": 3600, "elapsed_seconds": 0, "state": "ok", **fields}
    return SlaClock(contact_id=of.id, kind=kind, started_at=of.received_at, **values)


def store(app, tenant: Tenant, contacts=(), clocks=(), others=()) -> None:
    """Write rows of the tenant, contacts before what refers to them, and commit. An open
    contact's at-risk and breach instants are worked out from the clocks given, as the SLA
    engine keeps them."""
    for one in contacts:
        if one.status not in FINISHED_STATUSES:
            own = [k for k in clocks if k.contact_id == one.id]
            one.sla_risk_at, one.sla_breach_at = risk_instants(own)
    with app.app_context(), tenant_scope(tenant.id):
        db.session.add_all(list(contacts))
        db.session.flush()
        db.session.add_all([*clocks, *others])
        db.session.commit()


def queue_of(app, tenant: Tenant, name: str = "Line", threshold: int = 20) -> uuid.UUID:
    with app.app_context(), tenant_scope(tenant.id):
        queue = Queue(
            name=name, channels=["voice", "chat", "email"], answer_threshold_seconds=threshold
        )
        db.session.add(queue)
        db.session.commit()
        return queue.id


def policy(app, tenant: Tenant, **fields) -> None:
    """Give the tenant a default SLA policy with these report settings."""
    store(app, tenant, others=[SlaPolicy(name="Contract", is_default=True, **fields)])


def firm(app, factory, **fields) -> tuple[Tenant, uuid.UUID]:
    """A tenant (Madrid unless told) with one queue whose T is 20 s."""
    tenant = factory.tenant(**fields)
    return tenant, queue_of(app, tenant)


def agent_profile(app, factory, name: str) -> uuid.UUID:
    user = factory.user("agent")
    with app.app_context():
        # Agent profiles belong to the BPO, not to a tenant.
        with unscoped():
            agent = Agent(user_id=user.id, channels=["voice"], concurrency={"voice": 1})
            db.session.add(agent)
            db.session.flush()
            agent.user.name = name
            db.session.commit()
            return agent.id


def span(start: str, end: str, **more) -> dict:
    """The query of a report from `start` to `end` (`from` is a Python keyword)."""
    return {"from": start, "to": end, **more}


def sla(client, caller, tenant, headers=None, **query):
    return client.get(
        f"/v1/tenants/{tenant.id}/reports/sla",
        query_string=query,
        headers={**caller.headers, **(headers or {})},
    )


def body(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def flatten(item: dict, prefix: str = "") -> dict:
    """A JSON row as the CSV writes it: nested keys joined with `_`."""
    flat = {}
    for key, value in item.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}_")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def as_cell(value) -> str:
    return "" if value is None else str(value)


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def assert_csv_matches(rows_csv: list[dict], rows_json: list[dict]) -> None:
    assert len(rows_csv) == len(rows_json)
    for got, item in zip(rows_csv, rows_json, strict=True):
        assert got == {k: as_cell(v) for k, v in flatten(item).items()}


# --- a Madrid Monday of voice and chat -------------------------------------------------------

DAY = date(2025, 3, 10)  # a Monday in winter time (UTC+1)


def a_day_of_calls(app, tenant, queue) -> None:
    """Waits chosen around T = 20 s (the queue's) and the short-abandon threshold of 5 s.

    answered (5): 10 s, 20 s (T exactly), 21 s, 50 s, and 25 s with its own T of 30 s;
    within T: 3; queue waits 10 + 20 + 21 + 50 + 25 = 126 s.
    abandoned (4): 3 s and 5 s (short, within T), 15 s (within T), 40 s.
    not offered: an email, and an outbound call.
    """
    at = t("2025-03-10T10:00:00+01:00")
    rows = [
        contact(queue, at, answered_at=after(at, 10)),
        contact(queue, at, channel="chat", answered_at=after(at, 20)),
        contact(queue, at, answered_at=after(at, 21)),
        contact(queue, at, answered_at=after(at, 50)),
        contact(queue, at, answered_at=after(at, 25), answer_threshold_seconds=30),
        contact(queue, at, status="abandoned", abandoned_at=after(at, 3)),
        contact(queue, at, status="abandoned", abandoned_at=after(at, 5)),
        contact(queue, at, channel="chat", status="abandoned", abandoned_at=after(at, 15)),
        contact(queue, at, status="abandoned", abandoned_at=after(at, 40)),
        contact(queue, at, channel="email"),
        contact(queue, at, direction="outbound", answered_at=after(at, 1)),
    ]
    store(app, tenant, rows)


@pytest.mark.parametrize(
    ("treatment", "expected"),
    [
        # 3 within T / (5 answered + 4 abandoned - 2 short)
        ("exclude_short", 0.4286),
        # 3 / 5 answered
        ("ignore", 0.6),
        # (3 + 3 abandoned within T) / (5 + 4)
        ("count_within_threshold_as_met", 0.6667),
    ],
)
def test_the_service_level_follows_the_firms_abandon_treatment(
    app, client, factory, treatment, expected
):
    tenant, queue = firm(app, factory)
    policy(app, tenant, abandon_treatment=treatment, short_abandon_seconds=5)
    a_day_of_calls(app, tenant, queue)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-11"),
        )
    )

    [row] = report["rows"]
    assert report["settings"]["abandon_treatment"] == treatment
    assert report["settings"]["short_abandon_seconds"] == 5
    assert row["service_level"] == expected
    assert report["totals"]["service_level"] == expected
    assert (row["answered"], row["answered_within_threshold"]) == (5, 3)
    assert (row["abandoned"], row["short_abandoned"], row["abandoned_within_threshold"]) == (
        4,
        2,
        3,
    )


def test_answer_speed_and_abandonment_come_from_the_queue_waits(app, client, factory):
    tenant, queue = firm(app, factory)
    a_day_of_calls(app, tenant, queue)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-11"),
        )
    )

    [row] = report["rows"]
    assert row["received"] == 11
    assert row["offered"] == 9  # inbound voice and chat
    assert row["asa_seconds"] == 25.2  # 126 s / 5
    assert row["abandonment_rate"] == 0.4444  # 4 / 9
    # No policy: the policy defaults (exclude short abandons of up to 5 s) apply.
    assert report["settings"] == {
        "policy_id": None,
        "abandon_treatment": "exclude_short",
        "short_abandon_seconds": 5,
        "fcr_window_days": 7,
        "service_level_target": 0.8,
        "targets": {
            "service_level": 0.8,
            "asa_seconds": None,
            "aht_seconds": None,
            "abandonment_rate": None,
            "first_response_within_target": 0.8,
            "resolution_within_target": 0.8,
            "fcr_rate": None,
            "csat_rate": None,
            "breaches": 0,
            "quality_score_bps": None,
        },
    }


def test_the_contracts_headline_targets_come_with_the_report(app, client, factory):
    tenant, _queue = firm(app, factory)
    policy(
        app,
        tenant,
        service_level_target_bps=9000,
        aht_target_seconds=300,
        abandonment_target_bps=500,
        fcr_target_bps=7000,
        csat_target_bps=8500,
        targets=[{"priority": "normal", "channel": "voice", "answer_threshold_seconds": 20}],
    )
    viewer = factory.caller("client_viewer", tenant)
    answer = client.get(
        f"/v1/tenants/{tenant.id}/reports/sla?from=2026-03-01&to=2026-03-02",
        headers=viewer.headers,
    )
    assert answer.status_code == 200, answer.get_json()
    targets = answer.get_json()["settings"]["targets"]
    assert targets["service_level"] == 0.9 and targets["resolution_within_target"] == 0.9
    assert targets["aht_seconds"] == 300 and targets["abandonment_rate"] == 0.05
    assert targets["fcr_rate"] == 0.7 and targets["csat_rate"] == 0.85
    # No ASA target of its own: the strictest answer threshold of the policy's targets.
    assert targets["asa_seconds"] == 20


def test_a_longer_short_abandon_threshold_excludes_more_abandons(app, client, factory):
    tenant, queue = firm(app, factory)
    policy(app, tenant, abandon_treatment="exclude_short", short_abandon_seconds=15)
    a_day_of_calls(app, tenant, queue)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-11"),
        )
    )

    # 3 s, 5 s and 15 s are short now: 3 / (5 + 4 - 3)
    assert report["totals"]["short_abandoned"] == 3
    assert report["totals"]["service_level"] == 0.5


def test_handle_time_counts_only_handled_contacts(app, client, factory):
    tenant, queue = firm(app, factory)
    at = t("2025-03-10T11:00:00+01:00")
    rows = [
        # Handled: answered and resolved (150 s), responded to and closed (300 s).
        contact(
            queue,
            at,
            status="resolved",
            answered_at=after(at, 5),
            resolved_at=after(at, 400),
            talk_seconds=100,
            hold_seconds=20,
            acw_seconds=30,
        ),
        contact(
            queue,
            at,
            channel="email",
            status="closed",
            first_response_at=after(at, 600),
            resolved_at=after(at, 900),
            closed_at=after(at, 1000),
            talk_seconds=200,
            acw_seconds=100,
        ),
        # Not handled: answered but still active; resolved without any response.
        contact(queue, at, status="active", answered_at=after(at, 5), talk_seconds=999),
        contact(
            queue, at, channel="email", status="resolved", resolved_at=after(at, 60), acw_seconds=99
        ),
    ]
    store(app, tenant, rows)

    report = body(
        sla(
            client,
            factory.caller("client_admin", tenant),
            tenant,
            **span("2025-03-10", "2025-03-11"),
        )
    )

    assert report["totals"]["handled"] == 2
    assert report["totals"]["aht_seconds"] == 225.0  # (150 + 300) / 2


def test_rates_are_null_when_there_is_nothing_to_divide(app, client, factory):
    tenant, queue = firm(app, factory)
    store(app, tenant, [contact(queue, t("2025-03-10T12:00:00+01:00"), channel="email")])

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-12"),
        )
    )

    first, empty = report["rows"]
    assert first["received"] == 1 and empty["received"] == 0
    for row in (first, empty):
        for rate in ("service_level", "asa_seconds", "aht_seconds", "abandonment_rate"):
            assert row[rate] is None
        assert row["first_response"]["median_seconds"] is None
        assert row["first_response"]["within_target_rate"] is None
        assert row["fcr"]["rate"] is None and row["csat"]["rate"] is None


# --- business-time figures from the clocks ---------------------------------------------------


def test_first_response_and_resolution_times_come_from_the_stopped_clocks(app, client, factory):
    tenant, queue = firm(app, factory)
    at = t("2025-03-10T09:00:00+01:00")
    contacts, clocks = [], []
    # Ten emails whose first responses took 100, 200, ... 1000 business seconds, target 600.
    for n in range(1, 11):
        email = contact(queue, at, channel="email", status="active")
        contacts.append(email)
        late = n * 100 > 600
        clocks.append(
            clock(
                email,
                "first_response",
                target_seconds=600,
                elapsed_seconds=n * 100,
                stopped_at=after(at, n * 100),
                breached_at=after(at, 600) if late else None,
                state="breached" if late else "met",
            )
        )
    # Still running and breached: a breach, but no measured time.
    running = contact(queue, at, channel="email")
    # Cancelled (abandoned): neither measured nor breached.
    gone = contact(queue, at, channel="chat", status="abandoned", abandoned_at=after(at, 9))
    contacts += [running, gone]
    clocks += [
        clock(
            running,
            "first_response",
            target_seconds=600,
            elapsed_seconds=700,
            breached_at=after(at, 600),
            state="breached",
        ),
        clock(
            gone, "first_response", elapsed_seconds=9, stopped_at=after(at, 9), state="cancelled"
        ),
    ]
    # Three resolutions of 1, 2 and 3 business hours, all within their 4-hour target.
    for hours in (1, 2, 3):
        clocks.append(
            clock(
                contacts[hours],
                "resolution",
                target_seconds=4 * 3600,
                elapsed_seconds=hours * 3600,
                stopped_at=after(at, hours * 7200),
                state="met",
            )
        )
    store(app, tenant, contacts, clocks)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-11"),
        )
    )

    [row] = report["rows"]
    # Nearest rank: the median of ten is the 5th, the 90th percentile the 9th.
    assert row["first_response"] == {
        "measured": 10,
        "within_target": 6,
        "within_target_rate": 0.6,
        "median_seconds": 500,
        "p90_seconds": 900,
        "breaches": 5,
    }
    assert row["resolution"] == {
        "measured": 3,
        "within_target": 3,
        "within_target_rate": 1.0,
        "median_seconds": 7200,
        "p90_seconds": 10800,
        "breaches": 0,
    }
    assert row["breaches"] == 5
    assert report["totals"]["first_response"] == row["first_response"]


def test_times_are_kept_to_three_significant_figures_rounded_up(app, client, factory):
    tenant, queue = firm(app, factory)
    at = t("2025-03-10T09:00:00+01:00")
    emails = [contact(queue, at, channel="email", status="active") for _ in range(3)]
    # 999 s stays exact; 1,234 s reads 1,240 s and 123,456 s reads 124,000 s.
    clocks = [
        clock(email, "first_response", elapsed_seconds=taken, stopped_at=after(at, taken))
        for email, taken in zip(emails, (999, 1234, 123456), strict=True)
    ]
    store(app, tenant, emails, clocks)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-11"),
        )
    )

    first_response = report["totals"]["first_response"]
    assert (first_response["median_seconds"], first_response["p90_seconds"]) == (1240, 124000)


def test_clocks_count_in_the_bucket_their_contact_was_received_in(app, client, factory):
    tenant, queue = firm(app, factory)
    monday, tuesday = t("2025-03-10T17:00:00+01:00"), t("2025-03-11T09:00:00+01:00")
    early, late = contact(queue, monday, channel="email"), contact(queue, tuesday, channel="web")
    clocks = [
        # Monday's contact was answered on Tuesday: it is still Monday's figure.
        clock(early, "first_response", elapsed_seconds=300, stopped_at=tuesday, state="met"),
        clock(late, "first_response", elapsed_seconds=60, stopped_at=after(tuesday, 60)),
        clock(late, "resolution", elapsed_seconds=9000, breached_at=tuesday, state="breached"),
    ]
    store(app, tenant, [early, late], clocks)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-12"),
        )
    )

    monday_row, tuesday_row = report["rows"]
    assert monday_row["first_response"]["median_seconds"] == 300
    assert (monday_row["breaches"], tuesday_row["breaches"]) == (0, 1)
    assert tuesday_row["first_response"]["p90_seconds"] == 60
    assert report["totals"]["first_response"]["median_seconds"] == 60  # of 60 and 300
    assert report["totals"]["first_response"]["p90_seconds"] == 300


# --- first contact resolution and CSAT -------------------------------------------------------


def test_fcr_counts_repeats_within_the_window_edges_included(app, client, factory):
    tenant, queue = firm(app, factory)
    policy(app, tenant, fcr_window_days=7)
    d = t("2025-03-10T10:00:00+01:00")
    week = 7 * 86400

    def c(key, at, **fields):
        # Each one responded to and resolved: handled, so FCR judges it.
        fields.setdefault("category", "complaint")
        fields |= {"status": "resolved", "first_response_at": at, "resolved_at": after(at, 60)}
        return contact(queue, at, channel="email", customer_key=key, **fields)

    eve_id_low, eve_id_high = sorted([uuid.uuid4(), uuid.uuid4()])
    rows = [
        # Ana came back exactly 7 days later: a repeat, so no FCR; the repeat is not a first.
        c("ana", d),
        c("ana", after(d, week)),
        # Bob came back 7 days and 1 second later: two first contacts, both resolved first time.
        c("bob", d),
        c("bob", after(d, week + 1)),
        # Cy wrote twice about different things: two first contacts.
        c("cy", d),
        c("cy", after(d, 86400), category="claim", remedy_requested="refund"),
        # Dee was called the day before (outbound): her own contact is still a first.
        c("dee", after(d, -86400), direction="outbound"),
        c("dee", d),
        # Eve sent two at the same instant: one is first and the other its repeat.
        c("eve", d, id=eve_id_low),
        c("eve", d, id=eve_id_high),
        # Fay wrote two days before the report's range: her contact in range is a repeat.
        c("fay", after(d, -2 * 86400)),
        c("fay", d),
        # No known customer: not a first contact at all.
        c(None, d),
    ]
    store(app, tenant, rows)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-19"),
        )
    )

    # First: ana, bob x2, cy x2, dee, eve (one); resolved first time: bob x2, cy x2, dee.
    assert report["totals"]["fcr"] == {
        "first_contacts": 7,
        "handled_first_contacts": 7,
        "resolved_first_time": 5,
        "rate": 0.7143,
    }
    by_day = {row["start"][:10]: row["fcr"] for row in report["rows"]}
    assert by_day["2025-03-10"] == {
        "first_contacts": 5,
        "handled_first_contacts": 5,
        "resolved_first_time": 3,
        "rate": 0.6,
    }
    assert by_day["2025-03-11"] == {
        "first_contacts": 1,
        "handled_first_contacts": 1,
        "resolved_first_time": 1,
        "rate": 1.0,
    }
    assert by_day["2025-03-17"]["first_contacts"] == 1  # bob's second, one second too late


def test_fcr_counts_only_handled_first_contacts_never_reopened(app, client, factory):
    tenant, queue = firm(app, factory)
    d = t("2025-03-10T10:00:00+01:00")

    def c(key, **fields):
        return contact(queue, d, channel="email", category="complaint", customer_key=key, **fields)

    handled = {
        "status": "resolved",
        "first_response_at": after(d, 60),
        "resolved_at": after(d, 600),
    }
    store(
        app,
        tenant,
        [
            c("ana", **handled),  # answered, resolved, never back: resolved first time
            c("bob", **handled, reopen_count=1),  # reopened, then resolved again: not FCR
            c("cy"),  # still queued: not handled, so neither a success nor a failure
            # Resolved without any response (imported as such): not handled either.
            c("dee", status="resolved", resolved_at=after(d, 600)),
        ],
    )

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-11"),
        )
    )

    assert (report["totals"]["received"], report["totals"]["handled"]) == (4, 2)
    assert report["totals"]["fcr"] == {
        "first_contacts": 4,
        "handled_first_contacts": 2,
        "resolved_first_time": 1,
        "rate": 0.5,
    }


def test_fcr_is_null_in_report_and_portfolio_when_nothing_was_handled(app, client, factory):
    tenant, queue = firm(app, factory, name="Nothing handled yet")
    d = t("2025-03-10T10:00:00+01:00")
    store(
        app,
        tenant,
        [
            contact(queue, d, customer_key="ana"),
            contact(queue, d, customer_key="bob", answered_at=after(d, 10), status="active"),
        ],
    )

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-11"),
        )
    )
    portfolio = body(
        client.get(
            "/v1/reports/portfolio",
            query_string=span("2025-03-10", "2025-03-11"),
            headers=factory.caller("supervisor", tenant).headers,
        )
    )

    assert report["totals"]["fcr"] == {
        "first_contacts": 2,
        "handled_first_contacts": 0,
        "resolved_first_time": 0,
        "rate": None,
    }
    [row] = portfolio["tenants"]
    assert (row["handled"], row["fcr"]) == (0, None)


def test_a_shorter_fcr_window_turns_repeats_into_first_contacts(app, client, factory):
    tenant, queue = firm(app, factory)
    policy(app, tenant, fcr_window_days=2)
    d = t("2025-03-10T10:00:00+01:00")

    def handled_chat(at):
        return contact(
            queue,
            at,
            channel="chat",
            customer_key="ana",
            status="closed",
            answered_at=at,
            closed_at=after(at, 600),
        )

    rows = [handled_chat(d), handled_chat(after(d, 3 * 86400))]
    store(app, tenant, rows)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-17"),
        )
    )

    assert report["settings"]["fcr_window_days"] == 2
    assert report["totals"]["fcr"] == {
        "first_contacts": 2,
        "handled_first_contacts": 2,
        "resolved_first_time": 2,
        "rate": 1.0,
    }


def test_csat_is_the_share_of_fours_and_fives(app, client, factory):
    tenant, queue = firm(app, factory)
    at = t("2025-03-10T10:00:00+01:00")
    scores = [5, 4, 3, 1, None]
    store(app, tenant, [contact(queue, at, channel="email", csat=s) for s in scores])

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-11"),
        )
    )

    assert report["totals"]["csat"] == {"responses": 4, "satisfied": 2, "rate": 0.5}


# --- backlog ---------------------------------------------------------------------------------


def test_the_backlog_at_each_days_end_carries_over_from_before_the_range(app, client, factory):
    tenant, queue = firm(app, factory)

    def day(n: int, hour: int = 12) -> datetime:
        return datetime(2025, 3, 9 + n, hour, tzinfo=MADRID)

    rows = [
        contact(queue, day(0), channel="email"),  # open since before the range
        contact(queue, day(0), channel="email", status="resolved", resolved_at=day(2)),
        contact(queue, day(-1), channel="email", status="closed", resolved_at=day(0)),  # gone
        contact(queue, day(1, 9), channel="email", status="resolved", resolved_at=day(1, 10)),
        contact(queue, day(1), channel="email"),
        contact(queue, day(2), status="abandoned", abandoned_at=day(3, 1)),
        contact(queue, day(3), channel="email", status="resolved", resolved_at=day(4)),
        # Resolved on day 3, then reopened: open again.
        contact(queue, day(1), channel="email", status="reopened", resolved_at=day(3)),
        contact(
            queue, day(1), channel="email", status="closed", resolved_at=day(2), closed_at=day(2)
        ),
    ]
    store(app, tenant, rows)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-13"),
        )
    )

    assert [row["backlog"] for row in report["rows"]] == [5, 4, 4]
    assert report["totals"]["backlog"] == 4


def test_the_backlog_by_group_adds_up_to_the_whole(app, client, factory):
    tenant, queue = firm(app, factory)
    at = datetime(2025, 3, 10, 12, tzinfo=MADRID)
    rows = [
        contact(queue, at - timedelta(days=3), channel="email"),
        contact(queue, at, channel="chat"),
        contact(queue, at, channel="chat", status="abandoned", abandoned_at=after(at, 30)),
        contact(queue, at + timedelta(days=1), channel="voice"),
    ]
    store(app, tenant, rows)
    viewer = factory.caller("client_viewer", tenant)
    query = {"from": "2025-03-10", "to": "2025-03-12"}

    whole = body(sla(client, viewer, tenant, **query))
    grouped = body(sla(client, viewer, tenant, group_by="channel", **query))

    backlog = {(row["start"][:10], row["group"]): row["backlog"] for row in grouped["rows"]}
    assert backlog == {
        ("2025-03-10", "voice"): 0,
        ("2025-03-10", "email"): 1,
        ("2025-03-10", "chat"): 1,
        ("2025-03-11", "voice"): 1,
        ("2025-03-11", "email"): 1,
        ("2025-03-11", "chat"): 1,
    }
    assert [row["backlog"] for row in whole["rows"]] == [2, 3]
    assert grouped["totals"]["backlog"] == whole["totals"]["backlog"] == 3


# --- buckets in the firm's time zone ---------------------------------------------------------


def test_a_madrid_day_in_late_march_is_23_hours(app, client, factory):
    tenant, queue = firm(app, factory)
    rows = [
        contact(queue, t("2025-03-29T23:00:00+00:00"), channel="email"),  # 00:00 on the 30th
        contact(queue, t("2025-03-30T21:59:00+00:00"), channel="email"),  # 23:59 on the 30th
        contact(queue, t("2025-03-30T22:30:00+00:00"), channel="email"),  # 00:30 on the 31st
        contact(queue, t("2025-03-29T22:59:00+00:00"), channel="email"),  # 23:59 on the 29th
    ]
    store(app, tenant, rows)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-29", "2025-04-01"),
        )
    )

    assert [(row["start"], row["end"], row["received"]) for row in report["rows"]] == [
        ("2025-03-29T00:00:00+01:00", "2025-03-30T00:00:00+01:00", 1),
        ("2025-03-30T00:00:00+01:00", "2025-03-31T00:00:00+02:00", 2),
        ("2025-03-31T00:00:00+02:00", "2025-04-01T00:00:00+02:00", 1),
    ]
    assert report["from"] == "2025-03-29T00:00:00+01:00"
    assert report["time_zone"] == "Europe/Madrid"


def test_hours_skip_the_hour_the_clocks_jump_over(app, client, factory):
    tenant, _ = firm(app, factory)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-30", "2025-03-30T05:00:00+02:00", granularity="hour"),
        )
    )

    assert [row["start"] for row in report["rows"]] == [
        "2025-03-30T00:00:00+01:00",
        "2025-03-30T01:00:00+01:00",
        "2025-03-30T03:00:00+02:00",
        "2025-03-30T04:00:00+02:00",
    ]


def test_an_autumn_day_is_25_hours_and_weeks_start_on_monday(app, factory):
    tenant, _ = firm(app, factory)
    zone = ZoneInfo(tenant.time_zone)
    start = periods.instant(date(2025, 10, 25), zone)

    days = sla_reports.buckets(
        start=start, end=start + timedelta(days=3), granularity="day", zone=zone
    )
    weeks = sla_reports.buckets(
        start=start,
        end=periods.instant(date(2025, 11, 12), zone),
        granularity="week",
        zone=zone,
    )
    months = sla_reports.buckets(
        start=periods.instant(date(2025, 1, 15), zone),
        end=periods.instant(date(2025, 3, 10), zone),
        granularity="month",
        zone=zone,
    )

    assert [(end - begin) / timedelta(hours=1) for begin, end in days] == [24, 25, 23]
    assert [begin.astimezone(zone).date().isoformat() for begin, _ in weeks] == [
        "2025-10-25",  # a Saturday: the first bucket is cut at `from`
        "2025-10-27",
        "2025-11-03",
        "2025-11-10",
    ]
    assert [(b.astimezone(zone).date(), e.astimezone(zone).date()) for b, e in months] == [
        (date(2025, 1, 15), date(2025, 2, 1)),
        (date(2025, 2, 1), date(2025, 3, 1)),
        (date(2025, 3, 1), date(2025, 3, 10)),
    ]


def test_a_firm_elsewhere_gets_its_own_midnights(app, client, factory):
    tenant, queue = firm(app, factory, time_zone="America/Mexico_City")
    rows = [
        contact(queue, t("2025-03-10T05:59:00+00:00"), channel="email"),  # 23:59 on the 9th
        contact(queue, t("2025-03-10T06:00:00+00:00"), channel="email"),  # 00:00 on the 10th
    ]
    store(app, tenant, rows)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-11"),
        )
    )

    assert report["rows"][0]["start"] == "2025-03-10T00:00:00-06:00"
    assert report["totals"]["received"] == 1


def test_datetime_bounds_cut_the_first_and_last_buckets(app, client, factory):
    tenant, queue = firm(app, factory)
    store(app, tenant, [contact(queue, t("2025-03-10T08:00:00+01:00"), channel="email")])

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10T09:30:00+01:00", "2025-03-11T12:00:00Z"),
        )
    )

    assert [(row["start"], row["end"]) for row in report["rows"]] == [
        ("2025-03-10T09:30:00+01:00", "2025-03-11T00:00:00+01:00"),
        ("2025-03-11T00:00:00+01:00", "2025-03-11T13:00:00+01:00"),
    ]
    assert report["totals"]["received"] == 0


def test_without_bounds_the_report_covers_this_local_month_by_day(app, client, factory):
    tenant, _ = firm(app, factory)

    report = body(sla(client, factory.caller("client_viewer", tenant), tenant))

    today = datetime.now(UTC).astimezone(MADRID).date()
    first = today.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    assert report["granularity"] == "day" and report["group_by"] is None
    assert report["from"][:10] == first.isoformat() and report["to"][:10] == following.isoformat()
    assert len(report["rows"]) == (following - first).days


# --- groups ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dimension", ["queue", "channel", "category", "priority", "agent"])
def test_rows_split_by_each_dimension(app, client, factory, dimension):
    tenant, sales = firm(app, factory)
    care = queue_of(app, tenant, "Care")
    lucia = agent_profile(app, factory, "Lucia")
    at = t("2025-03-10T10:00:00+01:00")
    rows = [
        contact(sales, at, channel="voice", category="complaint", priority="high", agent_id=lucia),
        contact(sales, at, channel="voice", category="complaint", priority="high", agent_id=lucia),
        contact(care, at, channel="email", category="incident", priority="low"),
    ]
    store(app, tenant, rows)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-11", group_by=dimension),
        )
    )

    groups = {(row["group"], row["group_name"]): row["received"] for row in report["rows"]}
    assert (
        groups
        == {
            "queue": {(str(sales), "Line"): 2, (str(care), "Care"): 1},
            "channel": {("voice", "voice"): 2, ("email", "email"): 1},
            "category": {("complaint", "complaint"): 2, ("incident", "incident"): 1},
            "priority": {("high", "high"): 2, ("low", "low"): 1},
            "agent": {(str(lucia), "Lucia"): 2, (None, None): 1},
        }[dimension]
    )
    assert report["group_by"] == dimension
    assert report["totals"]["received"] == 3


def test_grouped_rows_fill_every_bucket_for_every_group(app, client, factory):
    tenant, queue = firm(app, factory)
    store(
        app,
        tenant,
        [
            contact(queue, t("2025-03-10T10:00:00+01:00"), channel="voice"),
            contact(queue, t("2025-03-11T10:00:00+01:00"), channel="email"),
        ],
    )

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-12", group_by="channel"),
        )
    )

    assert [(row["start"][:10], row["group"], row["received"]) for row in report["rows"]] == [
        ("2025-03-10", "voice", 1),
        ("2025-03-10", "email", 0),
        ("2025-03-11", "voice", 0),
        ("2025-03-11", "email", 1),
    ]


def test_volume_by_channel_counts_what_the_grouped_report_counts(app, client, factory):
    from app.reports.dashboard import received_by_channel

    tenant, queue = firm(app, factory)
    store(
        app,
        tenant,
        [
            contact(queue, t("2025-03-10T10:00:00+01:00"), channel="voice"),
            contact(queue, t("2025-03-10T11:00:00+01:00"), channel="voice"),
            contact(queue, t("2025-03-11T10:00:00+01:00"), channel="email"),
            contact(queue, t("2025-03-11T23:30:00+01:00"), channel="chat", priority="high"),
        ],
    )
    viewer = factory.caller("client_viewer", tenant)
    for filters in ({}, {"priority": "high"}):
        grouped = body(
            sla(
                client,
                viewer,
                tenant,
                **span("2025-03-10", "2025-03-13", group_by="channel"),
                **filters,
            )
        )
        with app.app_context(), tenant_scope(tenant.id):
            volume = received_by_channel(
                tenant=db.session.get(Tenant, tenant.id),
                from_=t("2025-03-10T00:00:00+01:00"),
                to=t("2025-03-13T00:00:00+01:00"),
                granularity="day",
                filters=filters,
            )
        expected = [(r["start"][:10], r["group"], r["received"]) for r in grouped["rows"]]
        assert [
            (r["start"].isoformat()[:10], r["group"], r["received"]) for r in volume["rows"]
        ] == expected


# --- CSV -------------------------------------------------------------------------------------


@pytest.mark.parametrize("group_by", [None, "queue"])
def test_the_csv_parses_and_says_what_the_json_says(app, client, factory, group_by):
    tenant, queue = firm(app, factory)
    a_day_of_calls(app, tenant, queue)
    email = contact(queue, t("2025-03-11T10:00:00+01:00"), channel="email", csat=5)
    store(
        app,
        tenant,
        [email],
        [
            clock(
                email,
                "first_response",
                elapsed_seconds=90,
                stopped_at=t("2025-03-11T10:30:00+01:00"),
                state="met",
            )
        ],
    )
    viewer = factory.caller("client_viewer", tenant)
    query = {"from": "2025-03-10", "to": "2025-03-13"}
    if group_by:
        query["group_by"] = group_by

    as_json = body(sla(client, viewer, tenant, **query))
    response = sla(client, viewer, tenant, headers={"Accept": "text/csv"}, **query)

    rows = csv_rows(response)
    assert_csv_matches(rows, as_json["rows"])
    header = next(csv.reader(io.StringIO(response.get_data(as_text=True))))
    lead = ["start", "end", "group", "group_name"] if group_by else ["start", "end"]
    assert header[: len(lead)] == lead
    assert {"service_level", "first_response_median_seconds", "fcr_rate", "backlog"} <= set(header)
    assert "attachment" in response.headers["Content-Disposition"]


def test_errors_stay_problem_json_when_csv_is_asked_for(client, factory):
    tenant = factory.tenant()

    response = sla(
        client,
        factory.caller("client_viewer", tenant),
        tenant,
        headers={"Accept": "text/csv"},
        granularity="minute",
    )

    assert_problem(response, 422)


# --- filters ---------------------------------------------------------------------------------


def test_filters_narrow_the_contacts_counted_and_the_backlog(app, client, factory):
    tenant, line = firm(app, factory)
    other = queue_of(app, tenant, name="Other line")
    at = t("2025-03-10T10:00:00+01:00")
    store(
        app,
        tenant,
        [
            contact(line, at, answered_at=after(at, 10)),  # within T
            contact(line, at, channel="chat", answered_at=after(at, 30), priority="high"),
            contact(other, at, answered_at=after(at, 50), category="complaint"),
            contact(other, at, channel="email", priority="urgent"),  # still open: backlog
        ],
    )
    viewer = factory.caller("client_viewer", tenant)
    day = span("2025-03-10", "2025-03-11")

    def totals(**narrow) -> dict:
        return body(sla(client, viewer, tenant, **day, **narrow))["totals"]

    assert totals()["received"] == 4 and totals()["backlog"] == 4
    assert (totals(queue_id=str(line))["received"], totals(queue_id=str(line))["backlog"]) == (
        2,
        2,
    )
    assert totals(queue_id=str(line))["service_level"] == 0.5
    assert totals(channel="voice")["service_level"] == 0.5  # 10 s and 50 s
    assert totals(channel="voice", queue_id=str(line))["service_level"] == 1.0
    assert totals(category="complaint")["received"] == 1
    assert totals(priority="urgent")["received"] == 1
    assert totals(priority="urgent")["offered"] == 0
    assert totals(priority="urgent")["backlog"] == 1
    problem = assert_problem(sla(client, viewer, tenant, **day, channel="fax"), 422)
    assert "channel" in problem["errors"]["query"]


# --- who may read it, and bad requests -------------------------------------------------------


@pytest.mark.parametrize("role", ["client_admin", "client_viewer", "integration", "supervisor"])
def test_the_firms_people_and_its_supervisor_read_the_report(app, client, factory, role):
    tenant, queue = firm(app, factory)
    a_day_of_calls(app, tenant, queue)

    report = body(
        sla(client, factory.caller(role, tenant), tenant, **span("2025-03-10", "2025-03-11"))
    )

    assert report["tenant_id"] == str(tenant.id)
    assert report["totals"]["received"] == 11


def test_another_firms_contacts_never_reach_the_report(app, client, factory):
    tenant, queue = firm(app, factory)
    other, other_queue = firm(app, factory)
    a_day_of_calls(app, tenant, queue)
    a_day_of_calls(app, other, other_queue)

    report = body(
        sla(
            client,
            factory.caller("client_viewer", tenant),
            tenant,
            **span("2025-03-10", "2025-03-11", group_by="queue"),
        )
    )

    assert {row["group"] for row in report["rows"]} == {str(queue)}
    assert report["totals"]["received"] == 11


def test_an_agent_outside_the_firm_and_another_firms_admin_get_404(app, client, factory):
    tenant, _ = firm(app, factory)
    stranger = factory.caller("client_admin", factory.tenant())

    assert_problem(sla(client, factory.caller("agent"), tenant), 404)  # no queue of the firm
    assert_problem(sla(client, stranger, tenant), 404)


def test_an_agent_of_the_firm_gets_403(app, client, factory):
    from tests.test_agents_api import agent_caller, assign, create_agent

    tenant, queue = firm(app, factory)
    admin = factory.caller("bpo_admin")
    agent = create_agent(client, admin)
    assign(client, admin, agent["id"], [queue])

    assert_problem(sla(client, agent_caller(factory, agent), tenant), 403)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2025-03-10"}, "to"),
        ({"to": "2025-03-10"}, "from"),
        ({"from": "2025-03-11", "to": "2025-03-10"}, "to"),
        ({"from": "2025-03-10", "to": "2025-03-10"}, "to"),
        ({"from": "2025-03-10T00:00:00", "to": "2025-03-11"}, "from"),
        ({"from": "yesterday", "to": "2025-03-11"}, "from"),
        ({"from": "2025-02-30", "to": "2025-03-11"}, "from"),
        ({"from": "2025-03-01", "to": "2025-04-02", "granularity": "hour"}, "to"),
        ({"from": "2025-01-01", "to": "2026-01-03", "granularity": "day"}, "to"),
        ({"from": "2020-01-01", "to": "2023-01-05", "granularity": "month"}, "to"),
        ({"granularity": "minute"}, "granularity"),
        ({"group_by": "colour"}, "group_by"),
    ],
    ids=[
        "no-to",
        "no-from",
        "reversed",
        "empty",
        "naive",
        "not-a-date",
        "no-such-day",
        "hours-over-31-days",
        "days-over-366",
        "months-over-3-years",
        "granularity",
        "group-by",
    ],
)
def test_bad_parameters_are_422_naming_the_field(client, factory, query, field):
    tenant = factory.tenant()

    response = sla(client, factory.caller("client_viewer", tenant), tenant, **query)

    problem = assert_problem(response, 422)
    assert field in problem["errors"]["query"], problem


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2025-03-01", "to": "2025-04-01", "granularity": "hour"},
        {"from": "2024-01-01", "to": "2025-01-01", "granularity": "day"},
        {"from": "2022-01-01", "to": "2025-01-01", "granularity": "month"},
        {"from": "2025-03-10T00:00:00 01:00", "to": "2025-03-11"},  # an unencoded `+`
    ],
    ids=["31-days-by-hour", "366-days-by-day", "3-years-by-month", "plus-as-space"],
)
def test_the_longest_ranges_are_fine(client, factory, query):
    tenant = factory.tenant()

    response = sla(client, factory.caller("client_viewer", tenant), tenant, **query)

    assert response.status_code == 200, response.get_json()


# --- the service, as the benchmark calls it --------------------------------------------------


def test_the_service_reports_on_the_tenant_in_scope(app, factory):
    tenant, queue = firm(app, factory)
    a_day_of_calls(app, tenant, queue)

    with app.app_context(), tenant_scope(tenant.id):
        report = sla_reports.sla_report(
            tenant=db.session.get(Tenant, tenant.id),
            from_=t("2025-03-10T00:00:00+01:00"),
            to=t("2025-03-11T00:00:00+01:00"),
            granularity="hour",
            group_by="channel",
        )

    assert len(report["rows"]) == 24 * 3  # voice, email and chat, every hour
    assert report["totals"]["received"] == 11
    assert sum(row["received"] for row in report["rows"]) == 11
