"""The campaign report in the browser's shoes (Flask's client): a firm's people read their
campaigns per day and agent, in English or Spanish, and download the CSV; the BPO's staff see
every firm's running campaigns side by side in the console, and open a firm's report."""

from __future__ import annotations

import re

from app.db import utcnow
from tests.test_reports_campaigns import (
    LIMA,
    RENEWALS,
    SURVEY,
    TWO_DAYS,
    Floor,
    a_campaign,
    attempts,
    records,
    two_days_of_calling,
)
from tests.test_reports_sla import agent_profile, firm
from tests.web_helpers import sign_in


def _report_url(floor: Floor, **query) -> str:
    args = "&".join(f"{k}={v}" for k, v in {**TWO_DAYS, **query}.items())
    return f"/firms/{floor.tenant.id}/campaigns/report?{args}"


def _text(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:800]
    return response.get_data(as_text=True)


def _cells(html: str, table_id: str) -> list[list[str]]:
    """The text of each row's cells in one table."""
    table = re.search(rf'<table[^>]*id="{re.escape(table_id)}".*?</table>', html, re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    return [
        [
            re.sub(r"<[^>]+>|\s+", " ", c).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)
        ]
        for r in rows
    ]


def test_a_client_viewer_reads_each_campaigns_days_agents_and_records(app, factory):
    floor = two_days_of_calling(app, factory, locale="en-US")
    web = sign_in(app, factory.user("client_viewer", floor.tenant).email)

    html = _text(web.get(_report_url(floor)))

    assert "Campaign report" in html
    renewals = floor.campaigns["Renewals"]
    days = _cells(html, f"campaign-days-{renewals}")
    # Day, loaded, attempts, reached, successes, reach, success, per success, handle, dispositions.
    assert days[1][:9] == ["3/2/26", "2", "2", "1", "1", "50.0%", "100.0%", "2.00", "1:20"]
    assert days[1][9] == "No answer: 1; Sold: 1"
    # A code no longer listed shows as itself.
    assert days[2][1:5] == ["1", "3", "1", "0"] and "gone: 1" in days[2][9]
    assert days[3][:3] == ["Total", "3", "5"]
    agents = _cells(html, "campaign-agents")  # every campaign
    assert agents[1] == ["Ana", "4", "1", "1", "100.0%", "0:51"]
    assert agents[2] == ["Bo", "4", "3", "2", "66.7%", "2:20"]
    assert "Attempts ran out 1" in html and "Running" in html and "Paused" in html
    # The idle draft is not shown; its name is still a choice of the filter.
    assert "campaign-days-" + str(floor.campaigns["Someday"]) not in html

    csv = web.get(f"/firms/{floor.tenant.id}/campaigns/report.csv?from=2026-03-02&to=2026-03-04")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert len(csv.get_data(as_text=True).strip().splitlines()) == 1 + 4  # header, 2 x 2 days


def test_one_campaign_in_spanish_the_firms_language(app, factory):
    floor = two_days_of_calling(app, factory)  # es-ES
    web = sign_in(app, factory.user("client_admin", floor.tenant).email)

    html = _text(web.get(_report_url(floor, campaign_id=floor.campaigns["Survey"])))

    assert "Informe de campañas" in html and "Tasa de éxito" in html
    assert "En pausa" in html and "Registros ahora:" in html
    assert f"campaign-days-{floor.campaigns['Renewals']}" not in html
    survey = _cells(html, f"campaign-days-{floor.campaigns['Survey']}")
    assert survey[-1][:7] == ["Total", "1", "3", "2", "2", "66,7%", "100,0%"]
    assert "Completed: 2; Voicemail: 1" in survey[-1][9]


def test_another_firms_campaign_and_a_bad_period(app, factory):
    floor = two_days_of_calling(app, factory, locale="en-US")
    other, queue = firm(app, factory, time_zone=LIMA)
    theirs = a_campaign(app, Floor(other, queue), "Theirs", SURVEY)
    web = sign_in(app, factory.user("client_admin", floor.tenant).email)

    assert web.get(_report_url(floor, campaign_id=theirs)).status_code == 404
    bad = web.get(f"/firms/{floor.tenant.id}/campaigns/report?from=2026-03-02")
    assert bad.status_code == 422
    outsider = sign_in(app, factory.user("client_admin", other).email)
    assert outsider.get(_report_url(floor)).status_code == 404


def _calling_today(app, factory, name: str, campaign: str, dispositions) -> Floor:
    tenant, queue = firm(app, factory, time_zone=LIMA, name=name, locale="en-US")
    floor = Floor(tenant, queue)
    floor.agents = {"Ana": agent_profile(app, factory, f"Ana of {name}")}
    a_campaign(app, floor, campaign, dispositions)
    records(app, floor, campaign, ("x1", "2026-01-05T10:00:00-05:00", "pending"))
    records(app, floor, campaign, ("x2", "2026-01-05T10:00:00-05:00", "done"))
    code = dispositions[0]["code"]
    attempts(app, floor, campaign, ("x2", "Ana", utcnow(), code, (30, 0, 0)))
    return floor


def test_the_console_lists_every_firms_running_campaigns_today(app, factory):
    north = _calling_today(app, factory, "North Telecom", "Upgrades", RENEWALS)
    south = _calling_today(app, factory, "South Bank", "Card survey", SURVEY)
    a_campaign(app, south, "Old one", SURVEY, state="finished")
    admin = sign_in(app, factory.user("bpo_admin").email)

    html = _text(admin.get("/console/campaigns"))

    rows = _cells(html, "campaigns-floor")[1:]
    assert rows == [
        ["North Telecom", "Upgrades", "Running", "1", "1", "1", "1", "100.0%"],
        ["South Bank", "Card survey", "Running", "1", "1", "1", "1", "100.0%"],
    ]
    assert f"/firms/{north.tenant.id}/campaigns/report?campaign_id=" in html
    # A supervisor of one firm sees its campaigns alone; a firm's people have no console.
    supervisor = sign_in(app, factory.user("supervisor", south.tenant).email)
    assert [
        r[1] for r in _cells(_text(supervisor.get("/console/campaigns")), "campaigns-floor")[1:]
    ] == ["Card survey"]
    viewer = sign_in(app, factory.user("client_viewer", north.tenant).email)
    assert viewer.get("/console/campaigns").status_code == 403
