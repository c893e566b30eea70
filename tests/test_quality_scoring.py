"""A scorecard's arithmetic, worked by hand (app/quality/scoring.py)."""

from __future__ import annotations

from fractions import Fraction

from app.quality import scoring


def _card(*, critical: bool = False) -> list[dict]:
    return [
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
                    "critical": critical,
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


def _answers(**given) -> dict:
    return {key: {"answer": value} for key, value in given.items()}


def test_weighted_sections_with_a_not_applicable_question_score_as_worked_by_hand():
    # Greeting: 10 + 10 * 3/5 = 16 of 20 -> 0.8. Resolution: 0 + (n/a) + 5 * 4/4 = 5 of 25
    # (the n/a question's 10 points drop out) -> 0.2. Weighted: (30 * 0.8 + 70 * 0.2) / 100.
    answers = _answers(named="yes", tone=3, verified="no", offered="na", clear=4)
    assert scoring.answer_errors(_card(), answers) == {}
    result = scoring.score(_card(), answers, passing_score_bps=3800)
    assert result.score_bps == 3800
    assert result.passed is True and result.critical_failed is False
    by_key = {a.question_key: a for a in result.answers}
    assert (by_key["tone"].points, by_key["tone"].earned_bps) == (10, 6000)
    assert (by_key["offered"].points, by_key["offered"].earned_bps) == (None, None)
    assert scoring.score(_card(), answers, passing_score_bps=3801).passed is False


def test_a_failed_critical_question_makes_the_score_zero():
    answers = _answers(named="yes", tone=5, verified="no", offered="yes", clear=4)
    result = scoring.score(_card(critical=True), answers, passing_score_bps=0)
    assert (result.score_bps, result.passed, result.critical_failed) == (0, False, True)
    # Answered yes, the same question costs nothing: the score is full.
    answers["verified"] = {"answer": "yes"}
    assert scoring.score(_card(critical=True), answers, passing_score_bps=0).score_bps == 10000


def test_a_section_where_nothing_applies_drops_out_with_its_weight():
    card = _card()
    card[1]["questions"] = [card[1]["questions"][1]]  # only the n/a-able question
    result = scoring.score(
        card, _answers(named="yes", tone=5, offered="na"), passing_score_bps=9000
    )
    assert result.score_bps == 10000  # greeting alone, full


def test_the_score_is_rounded_half_up_once_at_the_end():
    assert scoring.bps(Fraction(7, 9)) == 7778
    assert scoring.bps(Fraction(1, 20000)) == 1  # 0.5 basis points rounds up
    assert scoring.bps(Fraction(1, 30000)) == 0


def test_answers_are_checked_against_each_questions_kind():
    errors = scoring.answer_errors(
        _card(), _answers(named="maybe", tone=6, verified="na", clear=2, extra="yes")
    )
    assert errors == {
        "named": ["Answer yes, no or not applicable."],
        "tone": ["Answer a step from 0 to 5."],
        "verified": ["This question always applies."],
        "offered": ["Answer this question."],
        "extra": ["This scorecard has no such question."],
    }


def test_an_evaluation_where_no_question_applies_is_refused():
    card = [_card()[1]]
    card[0]["questions"] = [card[0]["questions"][1]]
    assert scoring.answer_errors(card, _answers(offered="na")) == {
        "answers": ["At least one question must apply."]
    }


def test_a_scorecards_keys_must_differ_and_only_yes_no_questions_can_be_critical():
    card = _card()
    card[1]["key"] = "greeting"
    card[1]["questions"][2]["key"] = "named"
    card[0]["questions"][1]["critical"] = True
    assert scoring.structure_errors(card) == {
        "sections.1.key": ["Section keys must differ."],
        "sections.1.questions.2.key": ["Question keys must differ across the scorecard."],
        "sections.0.questions.1.critical": ["Only a yes/no question can be critical."],
    }
