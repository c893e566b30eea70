"""The quality report, the calibration report and coaching, worked by hand on a small firm."""

from __future__ import annotations

import re
from datetime import timedelta

from app.db import utcnow
from tests.factories import QUALITY_SECTIONS, quality_rescore, quality_review, quality_scorecard
from tests.http_helpers import assert_problem
from tests.test_agents_api import agent_caller, assign, create_agent, make_queue
from tests.test_reports_sla import agent_profile, body, csv_rows, firm, queue_of, span, t
from tests.test_web_desk import _desk
from tests.web_helpers import sign_in

QUESTION_TEXTS = {q["key"]: q["text"] for s in QUALITY_SECTIONS for q in s["questions"]}

MARCH = span("2026-03-01", "2026-04-01")


def quality(client, caller, tenant, headers=None, **query):
    return client.get(
        f"/v1/tenants/{tenant.id}/reports/quality",
        query_string=query,
        headers={**caller.headers, **(headers or {})},
    )


def a_month_of_reviews(app, factory):
    """Madrid, March 2026; scorecard: greeting (named, 10 pts) and resolution (verified, 20 pts,
    critical; offered, 10 pts, may not apply), equal weights, passing 80%.

    Ana, queue 1: R1 yes/yes/n.a. = 10000 (passed); R2 no/yes/yes = (0 + 1) / 2 = 5000.
    Bo, queue 2: R3 yes/no/yes = 0 (critical); R5 no/yes/no = (0 + 2/3) / 2 = 3333, disputed
    and rescored as R4 yes/yes/no = (1 + 2/3) / 2 = 8333 (passed): R5 must not count.
    """
    tenant, queue_1 = firm(app, factory)
    queue_2 = queue_of(app, tenant, "Claims")
    ana, bo = agent_profile(app, factory, "Ana"), agent_profile(app, factory, "Bo")
    _card, version = quality_scorecard(app, tenant)

    def review(agent, queue, answers, at):
        named, verified, offered = answers.split("/")
        return quality_review(
            app,
            tenant,
            version_id=version,
            queue_id=queue,
            agent_id=agent,
            answers={"named": named, "verified": verified, "offered": offered},
            submitted_at=t(at),
        )

    r1 = review(ana, queue_1, "yes/yes/na", "2026-03-02T10:00:00+01:00")
    r2 = review(ana, queue_1, "no/yes/yes", "2026-03-10T10:00:00+01:00")
    review(bo, queue_2, "yes/no/yes", "2026-03-11T10:00:00+01:00")
    r5 = review(bo, queue_2, "no/yes/no", "2026-03-05T10:00:00+01:00")
    quality_rescore(
        app,
        tenant,
        review_id=r5,
        answers={"named": "yes", "verified": "yes", "offered": "no"},
        at=t("2026-03-12T10:00:00+01:00"),
    )
    return tenant, {"ana": ana, "bo": bo, "q1": queue_1, "q2": queue_2, "v": version}, (r1, r2)


def test_the_quality_report_counts_current_reviews_worked_by_hand(app, client, factory):
    tenant, ids, _ = a_month_of_reviews(app, factory)

    report = body(quality(client, factory.caller("client_viewer", tenant), tenant, **MARCH))

    # 10000 + 5000 + 0 + 8333 = 23333 over 4 = 5833.25 -> 5833; passed R1, R4.
    assert report["total"] == {
        "evaluations": 4,
        "average_score_bps": 5833,
        "pass_rate_bps": 5000,
        "critical_failures": 1,
        "disputes_raised": 1,
        "disputes_open": 0,
        "disputes_rescored": 1,
    }
    ana, bo = report["agents"]
    assert (ana["name"], ana["evaluations"], ana["average_score_bps"]) == ("Ana", 2, 7500)
    # 8333 / 2 = 4166.5: rounded half up once.
    assert (bo["name"], bo["average_score_bps"], bo["critical_failures"]) == ("Bo", 4167, 1)
    assert (ana["disputes_raised"], bo["disputes_rescored"]) == (0, 1)
    assert {row["queue_id"]: row["evaluations"] for row in report["queues"]} == {
        str(ids["q1"]): 2,
        str(ids["q2"]): 2,
    }
    [card] = report["scorecards"]
    assert (card["name"], card["average_score_bps"]) == ("Calls", 5833)


def test_sections_and_questions_weigh_answers_by_points_and_leave_na_out(app, client, factory):
    tenant, _, _ = a_month_of_reviews(app, factory)

    report = body(quality(client, factory.caller("client_admin", tenant), tenant, **MARCH))

    questions = {q["question_key"]: q for q in report["questions"]}
    assert questions["named"]["earned_share_bps"] == 7500  # 3 of 4
    # Each question named by its words, as its scorecard asks it.
    assert questions["named"]["question_text"] == QUESTION_TEXTS["named"]
    assert questions["verified"]["critical_failures"] == 1
    offered = questions["offered"]
    # n/a in R1; yes, yes, no: 2 of 3 = 6667.
    assert (offered["answered"], offered["not_applicable"], offered["failures"]) == (3, 1, 1)
    assert offered["earned_share_bps"] == 6667
    sections = {s["section_key"]: s for s in report["sections"]}
    # verified 20 pts x 3 of 4 + offered 10 pts x 2 of 3 = 80 of 110 points = 7273.
    assert sections["resolution"]["earned_share_bps"] == 7273
    assert (sections["resolution"]["answered"], sections["resolution"]["failures"]) == (7, 2)


def test_the_report_buckets_reviews_by_the_firms_weeks(app, client, factory):
    tenant, _, _ = a_month_of_reviews(app, factory)

    report = body(
        quality(
            client, factory.caller("client_viewer", tenant), tenant, granularity="week", **MARCH
        )
    )

    # Sunday 1 March, then Monday weeks; R1 on the 2nd, R2-R4 and the dispute the week of the 9th.
    counts = [(b["start"][:10], b["evaluations"]) for b in report["over_time"]]
    assert counts[:4] == [
        ("2026-03-01", 0),
        ("2026-03-02", 1),
        ("2026-03-09", 3),
        ("2026-03-16", 0),
    ]
    week = report["over_time"][2]
    assert (week["average_score_bps"], week["disputes_raised"]) == (4444, 1)


def test_the_quality_report_as_csv_has_a_row_per_figure_set(app, client, factory):
    tenant, _, _ = a_month_of_reviews(app, factory)
    viewer = factory.caller("client_viewer", tenant)

    rows = csv_rows(quality(client, viewer, tenant, headers={"Accept": "text/csv"}, **MARCH))

    total = rows[0]
    assert (total["group"], total["evaluations"], total["average_score_bps"]) == (
        "total",
        "4",
        "5833",
    )
    assert [r["name"] for r in rows if r["group"] == "agent"] == ["Ana", "Bo"]
    offered = next(r for r in rows if r["group"] == "question" and r["question_key"] == "offered")
    assert (offered["earned_share_bps"], offered["not_applicable"]) == ("6667", "1")


def test_another_firms_reviews_never_count(app, client, factory):
    tenant, _, _ = a_month_of_reviews(app, factory)
    other, other_queue = firm(app, factory)
    _, other_version = quality_scorecard(app, other)
    quality_review(
        app,
        other,
        version_id=other_version,
        queue_id=other_queue,
        agent_id=None,
        answers={"named": "yes", "verified": "yes", "offered": "yes"},
        submitted_at=t("2026-03-03T10:00:00+01:00"),
    )

    mine = body(quality(client, factory.caller("client_viewer", tenant), tenant, **MARCH))
    theirs = body(quality(client, factory.caller("client_viewer", other), other, **MARCH))

    assert mine["total"]["evaluations"] == 4
    assert theirs["total"]["evaluations"] == 1
    assert_problem(quality(client, factory.caller("client_viewer", other), tenant, **MARCH), 404)


def test_an_agent_cannot_read_the_quality_report(app, client, factory):
    tenant, queue = firm(app, factory)
    admin = factory.caller("bpo_admin")
    agent = create_agent(client, admin)
    assign(client, admin, agent["id"], [queue])

    assert_problem(quality(client, agent_caller(factory, agent), tenant, **MARCH), 403)


def test_a_bad_period_is_refused_with_field_errors(app, client, factory):
    tenant, _ = firm(app, factory)
    viewer = factory.caller("client_viewer", tenant)

    assert_problem(quality(client, viewer, tenant, **{"from": "2026-03-01"}), 422)
    assert_problem(quality(client, viewer, tenant, granularity="hour", **MARCH), 422)


# --- calibration -----------------------------------------------------------------------------


def test_the_calibration_report_sets_the_firms_score_beside_the_bpos(app, client, factory):
    tenant, ids, (r1, r2) = a_month_of_reviews(app, factory)
    for review_id, answers, day in (
        (r1, {"named": "yes", "verified": "yes", "offered": "no"}, "15"),
        (r2, {"named": "yes", "verified": "yes", "offered": "yes"}, "16"),
    ):
        quality_review(
            app,
            tenant,
            version_id=ids["v"],
            queue_id=ids["q1"],
            agent_id=ids["ana"],
            answers=answers,
            submitted_at=t(f"2026-03-{day}T10:00:00+01:00"),
            purpose="calibration",
            calibration_of_id=review_id,
        )

    response = client.get(
        f"/v1/tenants/{tenant.id}/reports/quality/calibration",
        query_string=MARCH,
        headers=factory.caller("client_admin", tenant).headers,
    )
    report = body(response)

    first, second = report["calibrations"]
    # R1: BPO 10000; firm yes/yes/no = (1 + 2/3) / 2 = 8333.
    assert (first["bpo_score_bps"], first["firm_score_bps"], first["gap_bps"]) == (
        10000,
        8333,
        -1667,
    )
    offered = next(q for q in first["questions"] if q["question_key"] == "offered")
    assert (offered["bpo_answer"], offered["firm_answer"], offered["gap_bps"]) == ("na", "no", None)
    assert (second["bpo_score_bps"], second["firm_score_bps"], second["gap_bps"]) == (
        5000,
        10000,
        5000,
    )
    averages = {q["question_key"]: q for q in report["questions"]}
    assert (averages["named"]["calibrations"], averages["named"]["average_gap_bps"]) == (2, 5000)
    assert averages["verified"]["average_gap_bps"] == 0
    assert averages["offered"]["calibrations"] == 1
    rows = csv_rows(
        client.get(
            f"/v1/tenants/{tenant.id}/reports/quality/calibration",
            query_string=MARCH,
            headers={**factory.caller("client_viewer", tenant).headers, "Accept": "text/csv"},
        )
    )
    named = [r for r in rows if r["question_key"] == "named"]
    assert [(r["gap_bps"], r["score_gap_bps"]) for r in named] == [
        ("0", "-1667"),
        ("10000", "5000"),
    ]
    # The calibrations never count as reviews.
    quality_report = body(quality(client, factory.caller("client_admin", tenant), tenant, **MARCH))
    assert quality_report["total"]["evaluations"] == 4


# --- coaching --------------------------------------------------------------------------------


def _recent_reviews(app, tenant, queue, version, agent_id):
    now = utcnow()
    for answers, days in (("no/yes/yes", 3), ("yes/yes/na", 10), ("yes/yes/no", 60)):
        named, verified, offered = answers.split("/")
        quality_review(
            app,
            tenant,
            version_id=version,
            queue_id=queue,
            agent_id=agent_id,
            answers={"named": named, "verified": verified, "offered": offered},
            submitted_at=now - timedelta(days=days),
        )


def test_coaching_lists_an_agents_weakest_questions_first(app, client, factory):
    tenant, queue = firm(app, factory)
    ana = agent_profile(app, factory, "Ana")
    _, version = quality_scorecard(app, tenant)
    _recent_reviews(app, tenant, queue, version, ana)
    url = f"/v1/tenants/{tenant.id}/reports/quality/agents/{ana}/coaching"

    report = body(client.get(url, headers=factory.caller("supervisor", tenant).headers))

    # The review of 60 days ago is older than 6 weeks: offered no does not count.
    order = [(q["question_key"], q["earned_share_bps"], q["answered"]) for q in report["questions"]]
    assert order == [("named", 5000, 2), ("verified", 10000, 2), ("offered", 10000, 1)]
    assert_problem(client.get(url, headers=factory.caller("client_viewer", tenant).headers), 403)


def test_an_agent_reads_its_own_coaching_across_its_firms(app, client, factory):
    a, b = factory.tenant(name="Alpha"), factory.tenant(name="Beta")
    admin = factory.caller("bpo_admin")
    queues = [make_queue(app, firm_, f"Queue of {firm_.name}") for firm_ in (a, b)]
    agent = create_agent(client, admin)
    assign(client, admin, agent["id"], queues)
    me = agent_caller(factory, agent)
    for firm_, queue in zip((a, b), queues, strict=True):
        _, version = quality_scorecard(app, firm_)
        _recent_reviews(app, firm_, queue, version, agent["id"])

    report = body(client.get("/v1/me/coaching", headers=me.headers))

    assert {q["tenant_id"] for q in report["questions"]} == {str(a.id), str(b.id)}
    assert report["questions"][0]["question_key"] == "named"
    assert report["questions"][0]["question_text"] == QUESTION_TEXTS["named"]
    assert len(report["questions"]) == 6


# --- the portal's page -----------------------------------------------------------------------


def test_a_client_admin_reads_the_quality_page_and_its_csv(app, client, factory):
    tenant, _, _ = a_month_of_reviews(app, factory)
    browser = sign_in(app, factory.user("client_admin", tenant).email)

    page = browser.get(f"/firms/{tenant.id}/quality/report", query_string=MARCH)
    rows = csv_rows(browser.get(f"/firms/{tenant.id}/quality/report.csv", query_string=MARCH))

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # 5833 bps, in the firm's Spanish: 58,33 %.
    assert 'data-tile="average_score"' in html and re.search(r"58,33\s*%", html)
    assert "Ana" in html and "chart-quality" in html
    assert rows[0]["average_score_bps"] == "5833"


def test_a_bad_period_on_the_quality_page_is_shown_beside_its_field(app, client, factory):
    tenant, _ = firm(app, factory)
    browser = sign_in(app, factory.user("client_viewer", tenant).email)

    page = browser.get(f"/firms/{tenant.id}/quality/report", query_string={"from": "2026-03-01"})

    assert page.status_code == 422
    assert "Required when" in page.get_data(as_text=True)


def test_the_agents_desk_shows_its_weakest_questions_first(app, client, factory):
    agent, [tenant], [queue], web = _desk(app, client, factory)
    _, version = quality_scorecard(app, tenant)
    _recent_reviews(app, tenant, queue, version, agent["id"])

    html = web.get("/desk/").get_data(as_text=True)

    assert 'id="coaching"' in html
    order = re.findall(r'data-question="(\w+)"', html)
    assert order == ["named", "verified", "offered"]


def test_a_supervisor_sees_an_agents_coaching_in_the_console(app, client, factory):
    agent, [tenant], [queue], _web = _desk(app, client, factory)
    _, version = quality_scorecard(app, tenant)
    _recent_reviews(app, tenant, queue, version, agent["id"])
    supervisor = factory.user("supervisor", tenant)

    page = sign_in(app, supervisor.email).get(f"/console/agents/{agent['id']}")

    assert page.status_code == 200, page.status_code
    assert re.findall(r'data-question="(\w+)"', page.get_data(as_text=True))[0] == "named"


def test_a_supervisor_opens_a_firms_quality_page_from_the_console(app, client, factory):
    tenant, _, _ = a_month_of_reviews(app, factory)
    web = sign_in(app, factory.user("supervisor", tenant).email)

    firm_page = web.get(f"/console/firms/{tenant.id}").get_data(as_text=True)
    page = web.get(f"/firms/{tenant.id}/quality/report", query_string=MARCH)

    assert f"/firms/{tenant.id}/quality/report" in firm_page
    assert page.status_code == 200 and "Bo" in page.get_data(as_text=True)
