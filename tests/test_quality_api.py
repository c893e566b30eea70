"""Quality monitoring through the API (issue 18): the BPO sets a scorecard up, a handled contact
reaches the review queue (sampled or chosen), one supervisor claims and scores it, the agent
reads and disputes it, a second supervisor decides, and the firm calibrates blind."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

import pytest

from app.db import db
from app.quality.models import Evaluation
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.factories import Caller, dispatch_events
from tests.http_helpers import assert_problem, audit_actions
from tests.test_contacts_intake import contacts_url, create_contact, queue_of, staffed_agent

SECTIONS = [
    {
        "key": "greeting",
        "title": "Greeting",
        "weight": 30,
        "questions": [
            {"key": "named", "text": "Gave their name", "kind": "yes_no", "points": 10},
            {"key": "tone", "text": "Tone", "kind": "scale", "scale_max": 5, "points": 10},
        ],
    },
    {
        "key": "resolution",
        "title": "Resolution",
        "weight": 70,
        "questions": [
            {
                "key": "verified",
                "text": "Verified the customer's identity",
                "kind": "yes_no",
                "points": 20,
                "critical": True,
            },
            {
                "key": "offered",
                "text": "Offered the promotion",
                "kind": "yes_no",
                "points": 10,
                "allows_na": True,
            },
            {"key": "clear", "text": "Clear", "kind": "scale", "scale_max": 4, "points": 5},
        ],
    },
]
# Greeting 16/20 = 0.8; resolution (offered n/a) 20 + 5 * 2/4 = 22.5 of 25 = 0.9;
# (30 * 0.8 + 70 * 0.9) / 100 = 0.87.
GOOD = {
    "named": {"answer": "yes"},
    "tone": {"answer": 3},
    "verified": {"answer": "yes", "comment": "Asked for the order number"},
    "offered": {"answer": "na"},
    "clear": {"answer": "2"},
}


@dataclass
class Floor:
    tenant: Tenant
    queue_id: uuid.UUID
    agent: dict
    agent_caller: Caller
    supervisor: Caller
    second_supervisor: Caller
    client_admin: Caller
    client_viewer: Caller
    integration: Caller


def _floor(app, client, factory, **tenant_fields) -> Floor:
    tenant = factory.tenant(**tenant_fields)
    queue_id = queue_of(app, tenant, "General")
    agent, agent_caller = staffed_agent(
        app, client, factory, factory.caller("bpo_admin"), [queue_id]
    )
    return Floor(
        tenant,
        queue_id,
        agent,
        agent_caller,
        factory.caller("supervisor", tenant),
        factory.caller("supervisor", tenant),
        factory.caller("client_admin", tenant),
        factory.caller("client_viewer", tenant),
        factory.caller("integration", tenant),
    )


@pytest.fixture
def floor(app, client, factory) -> Floor:
    return _floor(app, client, factory)


def url(floor: Floor, *parts) -> str:
    return "/".join([f"/v1/tenants/{floor.tenant.id}", *(str(p) for p in parts)])


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def scorecard(client, floor: Floor, caller: Caller | None = None, **fields) -> dict:
    body = {"name": "Calls", "sections": SECTIONS, "passing_score_bps": 8000, **fields}
    return ok(
        client.post(
            url(floor, "scorecards"), json=body, headers=(caller or floor.supervisor).headers
        ),
        201,
    )


def handled(client, floor: Floor, **fields) -> dict:
    """A new e-mail contact the floor's agent worked and resolved."""
    contact = create_contact(client, floor.integration, floor.tenant, **fields)
    cid = contact["id"]
    for action, caller, body in (
        ("assign", floor.supervisor, {"agent_id": floor.agent["id"]}),
        ("respond", floor.agent_caller, {}),
        ("resolve", floor.agent_caller, {"disposition": "refunded", "resolution_note": "Done."}),
    ):
        ok(client.post(contacts_url(floor.tenant, cid, action), json=body, headers=caller.headers))
    return contact


def queued(client, floor: Floor, **fields) -> dict:
    contact = handled(client, floor, **fields)
    return ok(
        client.post(
            url(floor, "evaluations"),
            json={"contact_id": contact["id"]},
            headers=floor.supervisor.headers,
        ),
        201,
    )


def scored(client, floor: Floor, answers=GOOD, caller: Caller | None = None) -> dict:
    caller = caller or floor.supervisor
    review = queued(client, floor)
    ok(client.post(url(floor, "evaluations", review["id"], "claim"), headers=caller.headers))
    return ok(
        client.post(
            url(floor, "evaluations", review["id"], "submit"),
            json={"answers": answers, "comment": "Good call"},
            headers=caller.headers,
        )
    )


# --- scorecards ------------------------------------------------------------------------------


def test_a_supervisor_sets_up_a_scorecard_the_firm_reads_and_a_viewer_cannot_change(
    app, client, floor
):
    card = scorecard(client, floor)
    assert card["current_version"]["number"] == 1
    assert card["current_version"]["sections"][1]["questions"][0]["critical"] is True

    read = ok(client.get(url(floor, "scorecards"), headers=floor.client_viewer.headers))
    assert [c["name"] for c in read] == ["Calls"]
    refused = client.post(
        url(floor, "scorecards"),
        json={"name": "Mine", "sections": SECTIONS, "passing_score_bps": 1},
        headers=floor.client_admin.headers,
    )
    assert_problem(refused, 403)
    assert "scorecard.created" in audit_actions(app, target_id=card["id"])


def test_a_new_version_changes_what_new_evaluations_ask_and_old_ones_keep_theirs(client, floor):
    card = scorecard(client, floor)
    first = queued(client, floor)

    changed = ok(
        client.post(
            url(floor, "scorecards", card["id"], "versions"),
            json={"passing_score_bps": 9000},
            headers=floor.supervisor.headers,
        ),
        201,
    )
    second = queued(client, floor)

    assert (changed["number"], changed["sections"]) == (2, card["current_version"]["sections"])
    assert first["scorecard_version_id"] == card["current_version"]["id"]
    assert second["scorecard_version_id"] == changed["id"]
    versions = ok(
        client.get(
            url(floor, "scorecards", card["id"], "versions"), headers=floor.supervisor.headers
        )
    )
    assert [v["number"] for v in versions] == [2, 1]


def test_repeated_question_keys_are_refused_beside_the_key(client, floor):
    sections = [dict(SECTIONS[0]), dict(SECTIONS[1])]
    sections[1]["questions"] = [*SECTIONS[1]["questions"], SECTIONS[0]["questions"][0]]

    refused = client.post(
        url(floor, "scorecards"),
        json={"name": "Twice", "sections": sections, "passing_score_bps": 8000},
        headers=floor.supervisor.headers,
    )

    body = assert_problem(refused, 422)
    assert body["errors"]["json"] == {
        "sections.1.questions.3.key": ["Question keys must differ across the scorecard."]
    }


# --- scoring ---------------------------------------------------------------------------------


def test_a_supervisor_scores_a_review_as_worked_by_hand(client, floor):
    scorecard(client, floor)
    review = scored(client, floor)

    assert (review["state"], review["score_bps"], review["passed"]) == ("submitted", 8700, True)
    by_key = {a["question_key"]: a for a in review["answers"]}
    assert by_key["offered"] == {
        "section_key": "resolution",
        "question_key": "offered",
        "answer": "na",
        "points": None,
        "earned_bps": None,
        "critical_failed": False,
        "comment": "",
    }
    assert by_key["verified"]["comment"] == "Asked for the order number"


def test_a_failed_critical_question_zeroes_the_review(client, floor):
    scorecard(client, floor)
    review = scored(client, floor, answers={**GOOD, "verified": {"answer": "no"}})
    assert (review["score_bps"], review["passed"], review["critical_failed"]) == (0, False, True)


def test_a_wrong_answer_is_refused_beside_its_question_and_nothing_is_kept(app, client, floor):
    scorecard(client, floor)
    review = queued(client, floor)
    ok(
        client.post(
            url(floor, "evaluations", review["id"], "claim"), headers=floor.supervisor.headers
        )
    )

    refused = client.post(
        url(floor, "evaluations", review["id"], "submit"),
        json={"answers": {**GOOD, "tone": {"answer": 9}, "verified": {"answer": "na"}}},
        headers=floor.supervisor.headers,
    )

    body = assert_problem(refused, 422)
    assert body["errors"]["json"] == {
        "answers": {
            "tone": ["Answer a step from 0 to 5."],
            "verified": ["This question always applies."],
        }
    }
    again = ok(
        client.get(url(floor, "evaluations", review["id"]), headers=floor.supervisor.headers)
    )
    assert (again["state"], again["answers"]) == ("in_progress", [])


def test_two_supervisors_claiming_one_review_one_gets_it_the_other_a_conflict(client, floor):
    scorecard(client, floor)
    review = queued(client, floor)

    first = client.post(
        url(floor, "evaluations", review["id"], "claim"), headers=floor.supervisor.headers
    )
    second = client.post(
        url(floor, "evaluations", review["id"], "claim"), headers=floor.second_supervisor.headers
    )

    assert first.status_code == 200
    assert "Another reviewer" in assert_problem(second, 409)["detail"]
    refused = client.post(
        url(floor, "evaluations", review["id"], "submit"),
        json={"answers": GOOD},
        headers=floor.second_supervisor.headers,
    )
    assert_problem(refused, 409)


def test_simultaneous_claims_leave_exactly_one_reviewer(app, floor, client):
    scorecard(client, floor)
    review = queued(client, floor)
    answers: list[int] = []
    barrier = threading.Barrier(2)

    def claim(caller):
        with app.test_client() as own:
            barrier.wait()
            answers.append(
                own.post(
                    url(floor, "evaluations", review["id"], "claim"), headers=caller.headers
                ).status_code
            )

    threads = [
        threading.Thread(target=claim, args=(c,))
        for c in (floor.supervisor, floor.second_supervisor)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers) == [200, 409]


def test_an_unhandled_contact_cannot_be_evaluated(client, floor):
    scorecard(client, floor)
    contact = create_contact(client, floor.integration, floor.tenant)
    refused = client.post(
        url(floor, "evaluations"),
        json={"contact_id": contact["id"]},
        headers=floor.supervisor.headers,
    )
    assert_problem(refused, 409)


# --- the agent and disputes ------------------------------------------------------------------


def test_the_agent_reads_its_review_disputes_it_and_a_second_supervisor_rescores(client, floor):
    scorecard(client, floor)
    review = scored(client, floor, answers={**GOOD, "named": {"answer": "no"}})

    mine = ok(client.get(url(floor, "evaluations"), headers=floor.agent_caller.headers))
    assert [e["id"] for e in mine] == [review["id"]]
    dispute = ok(
        client.post(
            url(floor, "evaluations", review["id"], "dispute"),
            json={"reason": "I gave my name at 0:04."},
            headers=floor.agent_caller.headers,
        ),
        201,
    )
    again = client.post(
        url(floor, "evaluations", review["id"], "dispute"),
        json={"reason": "Again"},
        headers=floor.agent_caller.headers,
    )
    assert_problem(again, 409)

    # The supervisor who scored it may not decide it.
    own = client.post(
        url(floor, "evaluation-disputes", dispute["id"], "decide"),
        json={"outcome": "score_stands"},
        headers=floor.supervisor.headers,
    )
    assert_problem(own, 409)
    decided = ok(
        client.post(
            url(floor, "evaluation-disputes", dispute["id"], "decide"),
            json={"outcome": "rescored", "comment": "Heard it.", "answers": GOOD},
            headers=floor.second_supervisor.headers,
        )
    )

    assert (decided["state"], decided["outcome"]) == ("decided", "rescored")
    rescored = ok(
        client.get(
            url(floor, "evaluations", decided["rescored_evaluation_id"]),
            headers=floor.agent_caller.headers,
        )
    )
    assert (rescored["score_bps"], rescored["supersedes_id"]) == (8700, review["id"])
    original = ok(
        client.get(url(floor, "evaluations", review["id"]), headers=floor.supervisor.headers)
    )
    assert original["superseded_by_id"] == rescored["id"]
    assert original["dispute"]["reason"] == "I gave my name at 0:04."
    current = ok(
        client.get(
            url(floor, "evaluations"),
            query_string={"current": "true"},
            headers=floor.agent_caller.headers,
        )
    )
    assert [e["id"] for e in current] == [rescored["id"]]


def test_an_agent_sees_neither_the_queue_nor_another_agents_reviews(app, client, factory, floor):
    scorecard(client, floor)
    review = scored(client, floor)
    _other, other_caller = staffed_agent(
        app, client, factory, factory.caller("bpo_admin"), [floor.queue_id]
    )
    queued(client, floor)

    assert ok(client.get(url(floor, "evaluations"), headers=other_caller.headers)) == []
    assert_problem(
        client.get(url(floor, "evaluations", review["id"]), headers=other_caller.headers), 404
    )
    refused = client.post(
        url(floor, "evaluations", review["id"], "dispute"),
        json={"reason": "Not mine"},
        headers=other_caller.headers,
    )
    assert_problem(refused, 404)


# --- calibration -----------------------------------------------------------------------------


def test_the_firm_calibrates_blind_and_reads_the_gap_per_question(client, floor):
    scorecard(client, floor)
    review = scored(client, floor)

    candidates = ok(
        client.get(url(floor, "calibration-candidates"), headers=floor.client_admin.headers)
    )
    assert [c["id"] for c in candidates] == [review["id"]]
    assert "score_bps" not in candidates[0]
    calibration = ok(
        client.post(
            url(floor, "evaluations", review["id"], "calibration"),
            headers=floor.client_admin.headers,
        ),
        201,
    )
    # Blind: while the firm scores, the review's score and answers are hidden from the firm.
    hidden = ok(
        client.get(url(floor, "evaluations", review["id"]), headers=floor.client_viewer.headers)
    )
    assert (hidden["score_bps"], hidden["answers"]) == (None, [])
    assert_problem(
        client.get(
            url(floor, "evaluations", review["id"], "calibration"),
            headers=floor.client_admin.headers,
        ),
        404,
    )
    ok(
        client.post(
            url(floor, "evaluations", calibration["id"], "submit"),
            json={"answers": {**GOOD, "tone": {"answer": 5}, "offered": {"answer": "no"}}},
            headers=floor.client_admin.headers,
        )
    )

    gap = ok(
        client.get(
            url(floor, "evaluations", review["id"], "calibration"),
            headers=floor.client_viewer.headers,
        )
    )
    # The firm: greeting 20/20 = 1; resolution 20 + 0 + 2.5 = 22.5 of 35 = 9/14;
    # (30 * 1 + 70 * 9/14) / 100 = 0.75.
    assert (gap["bpo_score_bps"], gap["firm_score_bps"], gap["gap_bps"]) == (8700, 7500, -1200)
    by_key = {q["question_key"]: q for q in gap["questions"]}
    assert by_key["tone"]["gap_bps"] == 10000 - 6000
    assert (by_key["offered"]["bpo_answer"], by_key["offered"]["gap_bps"]) == ("na", None)
    assert by_key["named"]["gap_bps"] == 0
    assert (
        ok(client.get(url(floor, "calibration-candidates"), headers=floor.client_admin.headers))
        == []
    )


def test_a_supervisor_cannot_submit_the_firms_calibration_nor_the_firm_a_review(client, floor):
    scorecard(client, floor)
    review = queued(client, floor)
    refused = client.post(
        url(floor, "evaluations", review["id"], "claim"), headers=floor.client_admin.headers
    )
    assert_problem(refused, 403)


# --- sampling --------------------------------------------------------------------------------


def test_the_sampling_rule_fills_the_review_queue_as_contacts_are_resolved(app, client, floor):
    scorecard(client, floor, categories=["complaint", "claim"])
    rule = ok(
        client.put(
            url(floor, "quality", "sampling-rule"),
            json={"per_agent_per_week": 2, "percent_bps": 0, "complaint_percent_bps": None},
            headers=floor.supervisor.headers,
        )
    )
    assert rule["per_agent_per_week"] == 2
    contacts = [handled(client, floor) for _ in range(3)]
    other = handled(client, floor, category="information_request")  # no scorecard applies

    dispatch_events(app)
    dispatch_events(app)  # handing the events over again queues nothing more

    queue = ok(
        client.get(
            url(floor, "evaluations"),
            query_string={"state": "queued"},
            headers=floor.supervisor.headers,
        )
    )
    assert sorted(e["contact_id"] for e in queue) == sorted(c["id"] for c in contacts[:2])
    assert {e["reason"] for e in queue} == {"complaint"}
    assert other["id"] not in {e["contact_id"] for e in queue}


def test_a_share_samples_by_the_contacts_own_draw(app, client, floor):
    from app.quality import sampling

    scorecard(client, floor)
    ok(
        client.put(
            url(floor, "quality", "sampling-rule"),
            json={"per_agent_per_week": None, "percent_bps": 5000, "complaint_percent_bps": None},
            headers=floor.supervisor.headers,
        )
    )
    contacts = [handled(client, floor, category="order_request") for _ in range(6)]
    dispatch_events(app)

    with app.app_context(), tenant_scope(floor.tenant.id):
        picked = {str(e.contact_id) for e in db.session.query(Evaluation)}
        from app.contacts.models import Contact

        expected = {
            c["id"]
            for c in contacts
            if sampling.draw(db.session.get(Contact, uuid.UUID(c["id"]))) < 5000
        }
    assert picked == expected


# --- another firm ----------------------------------------------------------------------------


def test_another_firms_scorecards_and_evaluations_are_404(app, client, factory, floor):
    card = scorecard(client, floor)
    review = scored(client, floor)
    other = factory.tenant()
    outsider = factory.caller("supervisor", other)
    other_admin = factory.caller("client_admin", other)

    for path in (
        f"/v1/tenants/{other.id}/scorecards/{card['id']}",
        f"/v1/tenants/{other.id}/evaluations/{review['id']}",
    ):
        assert_problem(client.get(path, headers=outsider.headers), 404)
    assert ok(client.get(f"/v1/tenants/{other.id}/evaluations", headers=outsider.headers)) == []
    assert_problem(
        client.post(
            f"/v1/tenants/{other.id}/evaluations/{review['id']}/calibration",
            headers=other_admin.headers,
        ),
        404,
    )
    # This firm, reached by the other's supervisor: as if it did not exist.
    assert_problem(client.get(url(floor, "scorecards"), headers=outsider.headers), 404)


# --- on both databases -----------------------------------------------------------------------


def test_the_whole_round_holds_on_each_database_make_run_and_production_use(
    db_app, db_client, db_factory
):
    floor = _floor(db_app, db_client, db_factory)
    scorecard(db_client, floor)
    ok(
        db_client.put(
            url(floor, "quality", "sampling-rule"),
            json={"per_agent_per_week": 1, "percent_bps": 0, "complaint_percent_bps": 0},
            headers=floor.supervisor.headers,
        )
    )
    handled(db_client, floor)
    dispatch_events(db_app)
    [review] = ok(
        db_client.get(
            url(floor, "evaluations"),
            query_string={"state": "queued"},
            headers=floor.supervisor.headers,
        )
    )
    ok(
        db_client.post(
            url(floor, "evaluations", review["id"], "claim"), headers=floor.supervisor.headers
        )
    )
    scored_review = ok(
        db_client.post(
            url(floor, "evaluations", review["id"], "submit"),
            json={"answers": GOOD},
            headers=floor.supervisor.headers,
        )
    )
    assert scored_review["score_bps"] == 8700
    dispute = ok(
        db_client.post(
            url(floor, "evaluations", review["id"], "dispute"),
            json={"reason": "Listen again"},
            headers=floor.agent_caller.headers,
        ),
        201,
    )
    decided = ok(
        db_client.post(
            url(floor, "evaluation-disputes", dispute["id"], "decide"),
            json={"outcome": "rescored", "answers": {**GOOD, "tone": {"answer": 5}}},
            headers=floor.second_supervisor.headers,
        )
    )
    calibration = ok(
        db_client.post(
            url(floor, "evaluations", decided["rescored_evaluation_id"], "calibration"),
            headers=floor.client_admin.headers,
        ),
        201,
    )
    ok(
        db_client.post(
            url(floor, "evaluations", calibration["id"], "submit"),
            json={"answers": GOOD},
            headers=floor.client_admin.headers,
        )
    )
    gap = ok(
        db_client.get(
            url(floor, "evaluations", decided["rescored_evaluation_id"], "calibration"),
            headers=floor.client_viewer.headers,
        )
    )
    # Rescored: greeting 20/20 = 1, resolution 0.9: (30 + 63) / 100 = 0.93; the firm 0.87.
    assert (gap["bpo_score_bps"], gap["firm_score_bps"], gap["gap_bps"]) == (9300, 8700, -600)


def test_a_supervisor_lists_one_agents_reviews_by_its_id(client, floor):
    scorecard(client, floor)
    review = scored(client, floor)

    listed = ok(
        client.get(
            url(floor, "evaluations"),
            query_string={"agent_id": floor.agent["id"]},
            headers=floor.supervisor.headers,
        )
    )
    nobody = ok(
        client.get(
            url(floor, "evaluations"),
            query_string={"agent_id": str(uuid.uuid4())},
            headers=floor.supervisor.headers,
        )
    )

    assert ([e["id"] for e in listed], nobody) == ([review["id"]], [])
