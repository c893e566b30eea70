"""Quality in the portal, in the browser's shoes (Flask's client): a supervisor claims and scores
a review beside the contact's thread, each wrong answer shown beside its question; the agent
reads it and disputes it; a second supervisor decides; the firm's client admin calibrates
blind and reads the gap; another firm's evaluation is a 404."""

from __future__ import annotations

import re

from tests.test_quality_api import GOOD, floor, handled, queued, scorecard, scored  # noqa: F401
from tests.web_helpers import csrf_of, sign_in

# The review's score as a page shows it, in either language (87.0 %, 87,0 %).
SCORE_87 = re.compile(r"87[.,]0\s?%")


def _form(answers: dict) -> dict:
    form = {}
    for key, given in answers.items():
        form[f"answer.{key}"] = str(given["answer"])
        form[f"comment.{key}"] = given.get("comment", "")
    return form


def _page_of(floor, evaluation_id) -> str:  # noqa: F811
    return f"/firms/{floor.tenant.id}/quality/evaluations/{evaluation_id}"


def _signed_in(app, factory, floor, role):  # noqa: F811
    return sign_in(app, factory.user(role, floor.tenant).email)


def test_a_supervisor_scores_a_review_beside_the_thread_errors_beside_each_question(
    app,
    client,
    factory,
    floor,  # noqa: F811
):
    scorecard(client, floor)
    review = queued(client, floor, subject="Charged twice in March")
    web = _signed_in(app, factory, floor, "supervisor")

    queue_page = web.get(f"/firms/{floor.tenant.id}/quality?state=queued")
    assert queue_page.status_code == 200
    assert _page_of(floor, review["id"]) in queue_page.get_data(as_text=True)
    page = web.get(_page_of(floor, review["id"]))
    assert "Charged twice in March" in page.get_data(as_text=True)
    claimed = web.post(_page_of(floor, review["id"]) + "/claim", data={"csrf_token": csrf_of(page)})
    assert claimed.status_code == 302
    form_page = web.get(_page_of(floor, review["id"]))
    assert 'name="answer.tone"' in form_page.get_data(as_text=True)

    missing = {k: v for k, v in GOOD.items() if k != "tone"}
    refused = web.post(
        _page_of(floor, review["id"]) + "/submit",
        data={"csrf_token": csrf_of(form_page), **_form(missing)},
    )
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'id="e-answer-tone"' in text and "Responda esta pregunta." in text
    # What was typed stays chosen.
    assert re.search(r'name="answer.named" value="yes" checked', text)

    submitted = web.post(
        _page_of(floor, review["id"]) + "/submit",
        data={"csrf_token": csrf_of(form_page), **_form(GOOD), "comment": "Clear and kind"},
    )
    assert submitted.status_code == 302
    shown = web.get(_page_of(floor, review["id"])).get_data(as_text=True)
    assert SCORE_87.search(shown) and "Clear and kind" in shown
    assert "Asked for the order number" in shown


def test_the_agent_disputes_and_a_second_supervisor_decides_the_score_stands(
    app,
    client,
    factory,
    floor,  # noqa: F811
):
    scorecard(client, floor)
    review = scored(client, floor)
    agent_web = sign_in(app, floor.agent["email"])

    mine = agent_web.get(f"/firms/{floor.tenant.id}/quality")
    assert mine.status_code == 200
    assert _page_of(floor, review["id"]) in mine.get_data(as_text=True)
    page = agent_web.get(_page_of(floor, review["id"]))
    empty = agent_web.post(
        _page_of(floor, review["id"]) + "/dispute",
        data={"csrf_token": csrf_of(page), "reason": "  "},
    )
    assert empty.status_code == 422 and 'id="e-reason"' in empty.get_data(as_text=True)
    sent = agent_web.post(
        _page_of(floor, review["id"]) + "/dispute",
        data={"csrf_token": csrf_of(page), "reason": "I verified at 0:40."},
    )
    assert sent.status_code == 302

    decider = _signed_in(app, factory, floor, "supervisor")
    listed = decider.get(f"/firms/{floor.tenant.id}/quality/disputes").get_data(as_text=True)
    assert "I verified at 0:40." in listed
    page = decider.get(_page_of(floor, review["id"]))
    assert 'id="decide-form"' in page.get_data(as_text=True)
    no_choice = decider.post(
        page.request.path.replace("evaluations", "x"), data={}
    )  # an unknown page: 404, nothing decided
    assert no_choice.status_code == 404
    dispute_id = re.search(
        r"/quality/disputes/([0-9a-f-]{36})/decide", page.get_data(as_text=True)
    )[1]
    unchosen = decider.post(
        f"/firms/{floor.tenant.id}/quality/disputes/{dispute_id}/decide",
        data={"csrf_token": csrf_of(page)},
    )
    assert unchosen.status_code == 422 and 'id="e-outcome"' in unchosen.get_data(as_text=True)
    decided = decider.post(
        f"/firms/{floor.tenant.id}/quality/disputes/{dispute_id}/decide",
        data={"csrf_token": csrf_of(page), "outcome": "score_stands", "decision_comment": "Heard."},
    )
    assert decided.status_code == 302
    after = agent_web.get(_page_of(floor, review["id"])).get_data(as_text=True)
    # The firm's pages read in its language, Spanish here.
    assert "La nota se mantiene" in after and "Heard." in after


def test_the_client_admin_calibrates_blind_then_sees_the_gap(app, client, factory, floor):  # noqa: F811
    scorecard(client, floor)
    review = scored(client, floor)
    admin = _signed_in(app, factory, floor, "client_admin")
    viewer = _signed_in(app, factory, floor, "client_viewer")

    candidates = admin.get(f"/firms/{floor.tenant.id}/quality/calibration")
    text = candidates.get_data(as_text=True)
    assert candidates.status_code == 200 and not SCORE_87.search(text)
    started = admin.post(
        f"/firms/{floor.tenant.id}/quality/evaluations/{review['id']}/calibrate",
        data={"csrf_token": csrf_of(candidates)},
    )
    assert started.status_code == 302
    form_page = admin.get(started.headers["Location"])
    assert 'id="scoring-form"' in form_page.get_data(as_text=True)
    hidden = viewer.get(_page_of(floor, review["id"])).get_data(as_text=True)
    assert "Oculta mientras su empresa calibra esta evaluación." in hidden
    assert not SCORE_87.search(hidden)

    submitted = admin.post(
        started.headers["Location"] + "/submit",
        data={"csrf_token": csrf_of(form_page), **_form({**GOOD, "tone": {"answer": 5}})},
    )
    assert submitted.status_code == 302
    gap = viewer.get(_page_of(floor, review["id"])).get_data(as_text=True)
    assert 'id="calibration-gap"' in gap


def test_another_firms_evaluation_is_a_404_and_a_viewer_has_no_disputes_page(
    app,
    client,
    factory,
    floor,  # noqa: F811
):
    scorecard(client, floor)
    review = scored(client, floor)
    other = factory.tenant()
    outsider = sign_in(app, factory.user("client_admin", other).email)
    viewer = _signed_in(app, factory, floor, "client_viewer")

    assert outsider.get(f"/firms/{other.id}/quality/evaluations/{review['id']}").status_code == 404
    assert outsider.get(_page_of(floor, review["id"])).status_code == 404
    assert viewer.get(f"/firms/{floor.tenant.id}/quality/disputes").status_code == 403


def test_the_scoring_page_reads_in_spanish(app, client, factory, floor):  # noqa: F811
    scorecard(client, floor)
    review = queued(client, floor)
    web = _signed_in(app, factory, floor, "supervisor")
    page = web.get(_page_of(floor, review["id"]), headers={"Accept-Language": "es"})
    text = page.get_data(as_text=True)
    assert "Reclamar y puntuar" in text


def _rows(*rows) -> dict:
    form = {"rows": str(len(rows))}
    for n, row in enumerate(rows):
        for name, value in row.items():
            form[f"row-{n}-{name}"] = value
    return form


def test_a_supervisor_sets_up_a_scorecard_in_rows_and_a_new_version_keeps_old_reviews(
    app,
    client,
    factory,
    floor,  # noqa: F811
):
    web = _signed_in(app, factory, floor, "supervisor")
    page = web.get(f"/firms/{floor.tenant.id}/quality/scorecards/new")
    assert page.status_code == 200
    rows = _rows(
        {"section": "Greeting", "weight": "30", "text": "Gave their name", "points": "10"},
        {"section": "Greeting", "text": "Tone", "kind": "scale", "scale_max": "5", "points": "10"},
        {
            "section": "Resolution",
            "weight": "70",
            "text": "Verified the identity",
            "points": "20",
            "critical": "on",
        },
        {"section": "", "text": "", "points": ""},  # blank: ignored
    )
    form = {"csrf_token": csrf_of(page), "name": "Calls", "passing": "80", **rows}

    bad = web.post(
        f"/firms/{floor.tenant.id}/quality/scorecards/new",
        data={**form, "row-1-scale_max": "", "row-2-points": "0"},
    )
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert 'id="e-row-1-scale_max"' in text and 'id="e-row-2-points"' in text
    made = web.post(f"/firms/{floor.tenant.id}/quality/scorecards/new", data=form)
    assert made.status_code == 302

    cards = client.get(
        f"/v1/tenants/{floor.tenant.id}/scorecards", headers=floor.supervisor.headers
    ).get_json()
    [card] = cards
    version = card["current_version"]
    assert version["passing_score_bps"] == 8000
    assert [(s["key"], s["weight"]) for s in version["sections"]] == [
        ("greeting", 30),
        ("resolution", 70),
    ]
    assert [q["key"] for q in version["sections"][0]["questions"]] == ["gave_their_name", "tone"]
    assert version["sections"][1]["questions"][0]["critical"] is True

    review = queued(client, floor)
    edit = web.get(f"/firms/{floor.tenant.id}/quality/scorecards/{card['id']}")
    assert "Verified the identity" in edit.get_data(as_text=True)
    changed = web.post(
        f"/firms/{floor.tenant.id}/quality/scorecards/{card['id']}",
        data={**form, "csrf_token": csrf_of(edit), "passing": "85.5"},
    )
    assert changed.status_code == 302
    again = client.get(
        f"/v1/tenants/{floor.tenant.id}/scorecards/{card['id']}", headers=floor.supervisor.headers
    ).get_json()
    assert (again["current_version"]["number"], again["current_version"]["passing_score_bps"]) == (
        2,
        8550,
    )
    assert review["scorecard_version_id"] == version["id"]


def test_a_client_admin_reads_the_scorecards_but_cannot_set_one_up(app, client, factory, floor):  # noqa: F811
    scorecard(client, floor)
    admin = _signed_in(app, factory, floor, "client_admin")
    listed = admin.get(f"/firms/{floor.tenant.id}/quality/scorecards")
    assert listed.status_code == 200 and "Verified the customer" in listed.get_data(as_text=True)
    assert admin.get(f"/firms/{floor.tenant.id}/quality/scorecards/new").status_code == 403


def test_a_supervisor_puts_a_handled_contact_in_review_from_its_page_and_the_console_counts_it(
    app,
    client,
    factory,
    floor,  # noqa: F811
):
    scorecard(client, floor)
    contact = handled(client, floor)
    web = _signed_in(app, factory, floor, "supervisor")
    page = web.get(f"/firms/{floor.tenant.id}/contacts/{contact['id']}")
    assert "/review" in page.get_data(as_text=True)

    chosen = web.post(
        f"/firms/{floor.tenant.id}/quality/contacts/{contact['id']}/review",
        data={"csrf_token": csrf_of(page)},
    )
    assert chosen.status_code == 302 and "/quality/evaluations/" in chosen.headers["Location"]
    console = web.get("/console/quality")
    assert console.status_code == 200
    text = console.get_data(as_text=True)
    assert floor.tenant.name in text and chosen.headers["Location"].split("?")[0] in text


def test_the_agent_finds_its_evaluations_on_the_desk(app, client, factory, floor):  # noqa: F811
    scorecard(client, floor)
    review = scored(client, floor)
    agent_web = sign_in(app, floor.agent["email"])
    page = agent_web.get("/desk/evaluations")
    assert page.status_code == 200
    assert _page_of(floor, review["id"]) in page.get_data(as_text=True)


def test_a_spanish_page_says_what_is_wrong_with_an_answer_in_spanish(app, client, factory, floor):  # noqa: F811
    scorecard(client, floor)
    review = queued(client, floor)
    web = _signed_in(app, factory, floor, "supervisor")  # the firm's language: Spanish
    page = web.get(_page_of(floor, review["id"]))
    web.post(_page_of(floor, review["id"]) + "/claim", data={"csrf_token": csrf_of(page)})

    refused = web.post(
        _page_of(floor, review["id"]) + "/submit",
        data={"csrf_token": csrf_of(page), **_form({**GOOD, "tone": {"answer": 9}})},
    )

    text = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "Responda un paso de 0 a 5." in text and "Answer a step" not in text
