"""The campaign report, worked by hand: a Lima firm (UTC-5) calling for two campaigns over two
local days, some attempts on either side of the firm's midnight (and of UTC's)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from app.campaigns.models import Campaign, CampaignList, CampaignRecord
from app.db import db
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.http_helpers import assert_problem
from tests.test_agents_api import agent_caller, assign, create_agent
from tests.test_reports_sla import agent_profile, body, contact, csv_rows, firm, span, t

LIMA = "America/Lima"
TWO_DAYS = span("2026-03-02", "2026-03-04")
RENEWALS = [
    {"code": "sold", "label": "Sold", "reached": True, "success": True},
    {"code": "not_interested", "label": "Not interested", "reached": True},
    {"code": "no_answer", "label": "No answer", "retry": True, "retry_after_minutes": 60},
]
SURVEY = [
    {"code": "completed", "label": "Completed", "reached": True, "success": True},
    {"code": "voicemail", "label": "Voicemail"},
]


@dataclass
class Floor:
    tenant: Tenant
    queue: uuid.UUID
    agents: dict[str, uuid.UUID] = field(default_factory=dict)
    campaigns: dict[str, uuid.UUID] = field(default_factory=dict)
    records: dict[str, uuid.UUID] = field(default_factory=dict)
    lists: dict[str, uuid.UUID] = field(default_factory=dict)


def a_campaign(app, floor: Floor, name: str, dispositions: list[dict], state="running"):
    """A voice campaign of the floor's queue, with one list to load records into."""
    with app.app_context(), tenant_scope(floor.tenant.id):
        campaign = Campaign(
            name=name,
            purpose="sales",
            channel="voice",
            category="order_request",
            queue_id=floor.queue,
            dispositions=dispositions,
            weekdays=[1, 2, 3, 4, 5],
            window_start="09:00",
            window_end="20:00",
            max_attempts=3,
            retry_delay_minutes=60,
            starts_on=t("2026-03-01T00:00:00-05:00").date(),
            state=state,
        )
        db.session.add(campaign)
        db.session.flush()
        loaded = CampaignList(
            campaign_id=campaign.id, name="march.csv", rows=0, added=0, merged=0, blocked=0
        )
        db.session.add(loaded)
        db.session.commit()
        floor.campaigns[name], floor.lists[name] = campaign.id, loaded.id
        return campaign.id


def records(app, floor: Floor, campaign: str, *loaded: tuple[str, str, str]) -> None:
    """Records of a campaign: (key, when loaded, state now)."""
    campaign_id = floor.campaigns[campaign]
    with app.app_context(), tenant_scope(floor.tenant.id):
        for key, at, state in loaded:
            record = CampaignRecord(
                campaign_id=campaign_id,
                list_id=floor.lists[campaign],
                phone=f"+51 900 000 {len(floor.records):03d}",
                dedupe_key=f"ref:{key}",
                customer_ref=key,
                time_zone=LIMA,
                country="PE",
                state=state,
                created_at=t(at),
            )
            db.session.add(record)
            db.session.flush()
            floor.records[key] = record.id
        db.session.commit()


def attempts(app, floor: Floor, campaign: str, *made: tuple) -> None:
    """Attempts (contacts) of a campaign: (record key, agent, started, disposition, seconds of
    talk/hold/acw); a disposition means the attempt ended (resolved), None that it is open."""
    rows = []
    for key, agent, at, disposition, (talk, hold, acw) in made:
        started = at if isinstance(at, datetime) else t(at)
        rows.append(
            contact(
                floor.queue,
                started,
                direction="outbound",
                status="resolved" if disposition else "active",
                resolved_at=started if disposition else None,
                agent_id=floor.agents[agent],
                campaign_id=floor.campaigns[campaign],
                campaign_record_id=floor.records[key],
                disposition=disposition,
                talk_seconds=talk,
                hold_seconds=hold,
                acw_seconds=acw,
            )
        )
    with app.app_context(), tenant_scope(floor.tenant.id):
        db.session.add_all(rows)
        db.session.commit()


def two_days_of_calling(app, factory, **firm_fields) -> Floor:
    """Lima, 2 and 3 March 2026 (UTC-5: a local day runs 05:00 to 05:00 UTC).

    Renewals (sold: reached + success; not_interested: reached; no_answer: neither):
      2 Mar  Ana 09:00 sold 100+20+30 = 150 s; Ana 23:30 (04:30 UTC on the 3rd) no_answer 10 s
      3 Mar  Bo 00:30 not_interested 80 s; Bo 10:00 still open; Ana 11:00 `gone` (a code no
             longer listed: neither) 40 s
      1 Mar 23:59 (04:59 UTC on the 2nd): Ana sold, before the range.
      Records loaded: r1 on 1 Mar (done), r2 2 Mar 10:00 (pending), r3 2 Mar 23:00 (exhausted),
      r4 3 Mar 08:00 (in_progress).
    Survey (completed: reached + success; voicemail: neither):
      2 Mar  Bo 20:00 (01:00 UTC on the 3rd) completed 240 s
      3 Mar  Bo 09:00 completed 100 s; Ana 09:30 voicemail 5 s
      Records: s1 on 20 Feb (done), s2 3 Mar 12:00 (pending).
    A draft campaign with nothing done is left out.
    """
    tenant, queue = firm(app, factory, time_zone=LIMA, **firm_fields)
    floor = Floor(tenant, queue)
    floor.agents = {name: agent_profile(app, factory, name) for name in ("Ana", "Bo")}
    a_campaign(app, floor, "Renewals", RENEWALS)
    a_campaign(app, floor, "Survey", SURVEY, state="paused")
    a_campaign(app, floor, "Someday", SURVEY, state="draft")
    records(
        app,
        floor,
        "Renewals",
        ("r1", "2026-03-01T12:00:00-05:00", "done"),
        ("r2", "2026-03-02T10:00:00-05:00", "pending"),
        ("r3", "2026-03-02T23:00:00-05:00", "exhausted"),
        ("r4", "2026-03-03T08:00:00-05:00", "in_progress"),
    )
    records(
        app,
        floor,
        "Survey",
        ("s1", "2026-02-20T12:00:00-05:00", "done"),
        ("s2", "2026-03-03T12:00:00-05:00", "pending"),
    )
    attempts(
        app,
        floor,
        "Renewals",
        ("r1", "Ana", "2026-03-01T23:59:00-05:00", "sold", (60, 0, 0)),
        ("r1", "Ana", "2026-03-02T09:00:00-05:00", "sold", (100, 20, 30)),
        ("r2", "Ana", "2026-03-02T23:30:00-05:00", "no_answer", (0, 0, 10)),
        ("r3", "Bo", "2026-03-03T00:30:00-05:00", "not_interested", (60, 0, 20)),
        ("r4", "Bo", "2026-03-03T10:00:00-05:00", None, (30, 0, 0)),
        ("r2", "Ana", "2026-03-03T11:00:00-05:00", "gone", (40, 0, 0)),
    )
    attempts(
        app,
        floor,
        "Survey",
        ("s1", "Bo", "2026-03-02T20:00:00-05:00", "completed", (200, 0, 40)),
        ("s1", "Bo", "2026-03-03T09:00:00-05:00", "completed", (100, 0, 0)),
        ("s2", "Ana", "2026-03-03T09:30:00-05:00", "voicemail", (0, 0, 5)),
    )
    return floor


def report(client, caller, tenant, headers=None, **query):
    return client.get(
        f"/v1/tenants/{tenant.id}/reports/campaigns",
        query_string=query,
        headers={**caller.headers, **(headers or {})},
    )


def figures(**given) -> dict:
    """A figure set: zeros and nulls unless given."""
    return {
        "records_loaded": 0,
        "attempts": 0,
        "attempts_open": 0,
        "reached": 0,
        "successes": 0,
        "reach_rate": None,
        "success_rate": None,
        "attempts_per_success": None,
        "average_handle_seconds": None,
        "dispositions": {},
        **given,
    }


def test_each_campaign_day_counts_attempts_on_the_firms_local_day(app, client, factory):
    floor = two_days_of_calling(app, factory)

    found = body(
        report(client, factory.caller("client_viewer", floor.tenant), floor.tenant, **TWO_DAYS)
    )

    assert found["time_zone"] == LIMA
    assert found["from"] == "2026-03-02T00:00:00-05:00"
    renewals, survey = found["campaigns"]  # by name; the idle draft left out
    assert (renewals["name"], renewals["state"], survey["name"]) == (
        "Renewals",
        "running",
        "Survey",
    )
    first, second = renewals["days"]
    assert (first["date"], second["date"]) == ("2026-03-02", "2026-03-03")
    assert {k: first[k] for k in figures()} == figures(
        records_loaded=2,
        attempts=2,
        reached=1,
        successes=1,
        reach_rate=0.5,
        success_rate=1.0,
        attempts_per_success=2.0,
        average_handle_seconds=80.0,  # (150 + 10) / 2
        dispositions={"no_answer": 1, "sold": 1},
    )
    assert {k: second[k] for k in figures()} == figures(
        records_loaded=1,
        attempts=3,
        attempts_open=1,
        reached=1,
        successes=0,
        reach_rate=0.3333,
        success_rate=0.0,
        average_handle_seconds=60.0,  # (80 + 40) / 2: the open attempt has no handle time yet
        dispositions={"gone": 1, "not_interested": 1},
    )
    assert renewals["total"] == figures(
        records_loaded=3,
        attempts=5,
        attempts_open=1,
        reached=2,
        successes=1,
        reach_rate=0.4,
        success_rate=0.5,
        attempts_per_success=5.0,
        average_handle_seconds=70.0,  # 280 / 4
        dispositions={"gone": 1, "no_answer": 1, "not_interested": 1, "sold": 1},
    )
    assert [d["attempts"] for d in survey["days"]] == [1, 2]
    assert survey["total"] == figures(
        records_loaded=1,
        attempts=3,
        reached=2,
        successes=2,
        reach_rate=0.6667,
        success_rate=1.0,
        attempts_per_success=1.5,
        average_handle_seconds=115.0,  # 345 / 3
        dispositions={"completed": 2, "voicemail": 1},
    )
    assert found["total"] == figures(
        records_loaded=4,
        attempts=8,
        attempts_open=1,
        reached=4,
        successes=3,
        reach_rate=0.5,
        success_rate=0.75,
        attempts_per_success=2.67,
        average_handle_seconds=89.29,  # 625 / 7
        dispositions={
            "completed": 2,
            "gone": 1,
            "no_answer": 1,
            "not_interested": 1,
            "sold": 1,
            "voicemail": 1,
        },
    )


def test_agents_and_record_states(app, client, factory):
    floor = two_days_of_calling(app, factory)

    found = body(
        report(client, factory.caller("client_admin", floor.tenant), floor.tenant, **TWO_DAYS)
    )

    ana, bo = found["agents"]
    assert ana == {
        "agent_id": str(floor.agents["Ana"]),
        "name": "Ana",
        "attempts": 4,
        "reached": 1,
        "successes": 1,
        "success_rate": 1.0,
        "average_handle_seconds": 51.25,  # (150 + 10 + 40 + 5) / 4
    }
    assert (bo["attempts"], bo["reached"], bo["successes"]) == (4, 3, 2)
    assert (bo["success_rate"], bo["average_handle_seconds"]) == (0.6667, 140.0)
    renewals = found["campaigns"][0]
    assert [
        (a["name"], a["attempts"], a["average_handle_seconds"]) for a in renewals["agents"]
    ] == [
        ("Ana", 3, 66.67),
        ("Bo", 2, 80.0),
    ]
    # Now, whenever loaded.
    assert renewals["records"] == {
        "pending": 1,
        "in_progress": 1,
        "done": 1,
        "exhausted": 1,
        "do_not_contact": 0,
        "closed": 0,
    }


def test_one_campaign_and_the_csv_one_row_per_campaign_per_day(app, client, factory):
    floor = two_days_of_calling(app, factory)
    viewer = factory.caller("client_viewer", floor.tenant)

    only = body(
        report(client, viewer, floor.tenant, campaign_id=floor.campaigns["Survey"], **TWO_DAYS)
    )
    assert [c["name"] for c in only["campaigns"]] == ["Survey"]
    assert only["total"]["attempts"] == 3

    rows = csv_rows(
        report(client, viewer, floor.tenant, headers={"Accept": "text/csv"}, **TWO_DAYS)
    )
    assert [(r["campaign_name"], r["date"], r["attempts"]) for r in rows] == [
        ("Renewals", "2026-03-02", "2"),
        ("Renewals", "2026-03-03", "3"),
        ("Survey", "2026-03-02", "1"),
        ("Survey", "2026-03-03", "2"),
    ]
    assert list(rows[0])[:3] == ["campaign_id", "campaign_name", "date"]
    assert rows[0]["dispositions"] == "no_answer=1; sold=1"
    assert (rows[1]["success_rate"], rows[1]["attempts_per_success"]) == ("0.0", "")
    # ?format=csv says the same as Accept: text/csv.
    same = csv_rows(report(client, viewer, floor.tenant, format="csv", **TWO_DAYS))
    assert same == rows


def test_another_firms_campaign_is_not_found(app, client, factory):
    floor = two_days_of_calling(app, factory)
    other, other_queue = firm(app, factory, time_zone=LIMA)
    theirs = a_campaign(app, Floor(other, other_queue), "Theirs", SURVEY)
    viewer = factory.caller("client_viewer", floor.tenant)

    assert_problem(report(client, viewer, floor.tenant, campaign_id=theirs, **TWO_DAYS), 404)
    assert_problem(report(client, viewer, floor.tenant, campaign_id=uuid.uuid4(), **TWO_DAYS), 404)
    # Nor does the other firm's viewer read this firm's report.
    outsider = factory.caller("client_viewer", other)
    assert_problem(report(client, outsider, floor.tenant, **TWO_DAYS), 404)
    # And the other firm's own report shows its campaign alone, idle.
    mine = body(report(client, outsider, other, **TWO_DAYS))
    assert [c["name"] for c in mine["campaigns"]] == ["Theirs"]
    assert mine["total"] == figures()


def test_an_agent_cannot_read_the_campaign_report(app, client, factory):
    tenant, queue = firm(app, factory, time_zone=LIMA)
    admin = factory.caller("bpo_admin")
    agent = create_agent(client, admin)
    assign(client, admin, agent["id"], [queue])

    assert_problem(report(client, agent_caller(factory, agent), tenant, **TWO_DAYS), 403)


def test_a_bad_period_is_refused_with_field_errors(app, client, factory):
    tenant, _ = firm(app, factory, time_zone=LIMA)
    viewer = factory.caller("client_viewer", tenant)

    assert_problem(report(client, viewer, tenant, **{"from": "2026-03-01"}), 422)
    assert_problem(report(client, viewer, tenant, **span("2026-01-01", "2027-03-01")), 422)
