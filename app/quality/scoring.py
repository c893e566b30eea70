"""The arithmetic of a scorecard: checking a version's questions and an evaluation's answers,
and the score they make, exactly.

The score of an evaluation:
- A question that applies earns its points times its answer's share: yes 1, no 0, a scale's
  step s of m: s/m. A question answered "not applicable" drops out (it earns nothing and
  costs nothing).
- A section's result is the points earned over the points possible on its questions that
  apply; a section where none applies drops out.
- The evaluation's score is the sections' results weighted by their weights (over the
  sections that did not drop out), as a percentage. With one section, or equal weights and
  points, that is points earned over points possible.
- A critical question answered "no" makes the score 0, whatever the rest earned.
- Computed in exact fractions and given in basis points (0-10000), rounded half up once at
  the end; passed when not critically failed and at least the version's passing score.
May import: nothing of the app (plain arithmetic on plain data).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

KINDS = ("yes_no", "scale")
YES, NO, NOT_APPLICABLE = "yes", "no", "na"
FULL = 10_000  # basis points


@dataclass(frozen=True)
class Answered:
    """One question's answer as scored: its points and share earned (None: not applicable)."""

    section_key: str
    question_key: str
    answer: str
    points: int | None
    earned_bps: int | None
    critical_failed: bool
    comment: str


@dataclass(frozen=True)
class Result:
    score_bps: int
    passed: bool
    critical_failed: bool
    answers: tuple[Answered, ...]


def bps(value: Fraction) -> int:
    """A share (0-1) in basis points, rounded half up."""
    scaled = value * FULL
    return int(scaled.numerator * 2 + scaled.denominator) // (2 * scaled.denominator)


def questions(sections: list[dict]):
    """Each question of a version, with its section: (section, question), in order."""
    for section in sections:
        for question in section["questions"]:
            yield section, question


def structure_errors(sections: list[dict]) -> dict[str, list[str]]:
    """What is wrong with a version's sections beyond each field's own shape (the schema's):
    keys repeated, a critical question that is not yes/no, a scale without its top step."""
    errors: dict[str, list[str]] = {}
    seen_sections: set[str] = set()
    seen_questions: set[str] = set()
    for n, section in enumerate(sections):
        if section["key"] in seen_sections:
            errors.setdefault(f"sections.{n}.key", []).append("Section keys must differ.")
        seen_sections.add(section["key"])
        for m, question in enumerate(section["questions"]):
            where = f"sections.{n}.questions.{m}"
            if question["key"] in seen_questions:
                errors.setdefault(f"{where}.key", []).append(
                    "Question keys must differ across the scorecard."
                )
            seen_questions.add(question["key"])
            if question["kind"] == "scale" and not question.get("scale_max"):
                errors.setdefault(f"{where}.scale_max", []).append(
                    "A scale question needs its top step (scale_max)."
                )
            if question.get("critical") and question["kind"] != "yes_no":
                errors.setdefault(f"{where}.critical", []).append(
                    "Only a yes/no question can be critical."
                )
    return errors


def answer_errors(sections: list[dict], answers: dict[str, dict]) -> dict[str, list[str]]:
    """What is wrong with an evaluation's answers (question key -> {"answer", "comment"}):
    every question answered, each with an answer its kind allows, no unknown question, and
    at least one question that applies."""
    errors: dict[str, list[str]] = {}
    known = set()
    applies = False
    for _section, question in questions(sections):
        key = question["key"]
        known.add(key)
        given = answers.get(key)
        if given is None or given.get("answer") in (None, ""):
            errors[key] = ["Answer this question."]
            continue
        problem = _answer_problem(question, given["answer"])
        if problem:
            errors[key] = [problem]
        elif str(given["answer"]) != NOT_APPLICABLE:
            applies = True
    for key in answers.keys() - known:
        errors[key] = ["This scorecard has no such question."]
    if not errors and not applies:
        errors["answers"] = ["At least one question must apply."]
    return errors


def _answer_problem(question: dict, answer) -> str | None:
    answer = str(answer)
    if answer == NOT_APPLICABLE:
        return None if question.get("allows_na") else "This question always applies."
    if question["kind"] == "yes_no":
        return None if answer in (YES, NO) else "Answer yes, no or not applicable."
    top = question["scale_max"]
    if not answer.isdigit() or not 0 <= int(answer) <= top:
        return f"Answer a step from 0 to {top}."
    return None


def score(sections: list[dict], answers: dict[str, dict], *, passing_score_bps: int) -> Result:
    """The evaluation's result; `answers` must have no answer_errors."""
    weighted = Fraction(0)
    weights = 0
    critical_failed = False
    scored: list[Answered] = []
    for section in sections:
        earned = Fraction(0)
        possible = 0
        for question in section["questions"]:
            given = answers[question["key"]]
            answer = str(given["answer"])
            comment = given.get("comment") or ""
            if answer == NOT_APPLICABLE:
                scored.append(
                    Answered(section["key"], question["key"], answer, None, None, False, comment)
                )
                continue
            share = _share(question, answer)
            failed = bool(question.get("critical")) and answer == NO
            critical_failed = critical_failed or failed
            earned += question["points"] * share
            possible += question["points"]
            scored.append(
                Answered(
                    section["key"],
                    question["key"],
                    answer,
                    question["points"],
                    bps(share),
                    failed,
                    comment,
                )
            )
        if possible:
            weighted += section["weight"] * earned / possible
            weights += section["weight"]
    total = 0 if critical_failed or not weights else bps(weighted / weights)
    return Result(
        score_bps=total,
        passed=not critical_failed and total >= passing_score_bps,
        critical_failed=critical_failed,
        answers=tuple(scored),
    )


def _share(question: dict, answer: str) -> Fraction:
    if question["kind"] == "yes_no":
        return Fraction(1 if answer == YES else 0)
    return Fraction(int(answer), question["scale_max"])
