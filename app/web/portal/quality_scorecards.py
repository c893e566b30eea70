"""Setting a firm's scorecard up in the portal (the BPO's admins and supervisors): its name,
passing score and what it applies to, and its questions as rows of one table, each naming its
section (rows of a section share its title and weight). Saving an existing scorecard adds a
version; evaluations already made keep theirs. Each error shows beside its row's field."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from app.auth.permissions import SCORECARD_ADMIN
from app.auth.principal import check, current_actor
from app.db import db
from app.errors import DomainError
from app.quality import service as quality_service
from app.quality.schemas import (
    ScorecardCreateSchema,
    ScorecardUpdateSchema,
    ScorecardVersionCreateSchema,
)
from app.queues import service as queues_service
from app.vocabulary import CATEGORIES, CHANNELS
from app.web import labels
from app.web.portal.blueprint import bp
from app.web.shell import form_errors, render

BLANK_ROWS = 5
MAX_ROWS = 200
ROW_FIELDS = ("section", "weight", "key", "text", "kind", "scale_max", "points")
_ROW_ERROR = re.compile(r"^sections\.(\d+)\.(?:questions\.(\d+)\.)?(\w+)$")


def _slug(text: str) -> str:
    """A key from words (`Verified the identity` -> `verified_the_identity`)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")[:64]


def _rows_of(version) -> list[dict]:
    rows = []
    for section in version.sections:
        for question in section["questions"]:
            rows.append(
                {
                    "section": section["title"],
                    "weight": str(section["weight"]),
                    "key": question["key"],
                    "text": question["text"],
                    "kind": question["kind"],
                    "scale_max": str(question.get("scale_max") or ""),
                    "points": str(question["points"]),
                    "critical": bool(question.get("critical")),
                    "na": bool(question.get("allows_na")),
                }
            )
    return rows


def _posted_rows() -> list[dict]:
    count = min(int(request.form.get("rows", "0") or 0), MAX_ROWS)
    rows = []
    for n in range(count):
        row = {name: request.form.get(f"row-{n}-{name}", "").strip() for name in ROW_FIELDS}
        row["critical"] = request.form.get(f"row-{n}-critical") == "on"
        row["na"] = request.form.get(f"row-{n}-na") == "on"
        rows.append(row)
    return rows


def _number(text: str):
    return int(text) if text.isdigit() else text or None


def _body(rows: list[dict]) -> tuple[dict, list[tuple[int, int | None]]]:
    """The API's body from the form, and where each question came from: (section index,
    question index) -> row number, so an error of the body finds its row."""
    sections: list[dict] = []
    by_title: dict[str, dict] = {}
    places: dict[tuple[int, int | None], int] = {}
    for n, row in enumerate(rows):
        if not row["text"]:
            continue  # a blank row
        title = row["section"] or _("Questions")
        section = by_title.get(title)
        if section is None:
            section = {
                "key": _slug(title) or f"section_{len(sections) + 1}",
                "title": title,
                "weight": _number(row["weight"]),
                "questions": [],
            }
            by_title[title] = section
            places[(len(sections), None)] = n
            sections.append(section)
        question = {
            "key": row["key"] or _slug(row["text"]),
            "text": row["text"],
            "kind": row["kind"] or "yes_no",
            "points": _number(row["points"]),
            "critical": row["critical"],
            "allows_na": row["na"],
        }
        if question["kind"] == "scale":
            question["scale_max"] = _number(row["scale_max"])
        places[(sections.index(section), len(section["questions"]))] = n
        section["questions"].append(question)
    return {"sections": sections}, places


def _row_errors(errors: dict[str, list[str]], places) -> dict[str, list[str]]:
    """`sections.1.questions.0.points` -> `row-4-points`; a section's own field -> its first
    row's (`weight`, `section` for its title and key)."""
    out: dict[str, list[str]] = {}
    for key, messages in errors.items():
        match = _ROW_ERROR.match(key)
        if not match:
            out.setdefault(key, []).extend(messages)
            continue
        section, question, name = int(match[1]), match[2], match[3]
        row = places.get((section, int(question) if question is not None else None))
        if row is None:
            out.setdefault("_form", []).extend(messages)
            continue
        if question is None:
            name = "section" if name in ("title", "key", "questions") else name
        elif name == "allows_na":
            name = "na"
        out.setdefault(f"row-{row}-{name}", []).extend(messages)
    return out


def _passing_bps(text: str):
    """A percentage as typed (`80`, `82.5`, `82,5`) in basis points; other text as is (the
    schema says what is wrong with it)."""
    try:
        value = Decimal(text.replace(",", ".").replace("%", "").strip())
    except InvalidOperation:
        return text
    scaled = value * 100
    return int(scaled) if scaled == scaled.to_integral_value() else text


def _page(card, *, typed: dict, rows: list[dict], errors=None, status=200):
    rows = rows + [dict.fromkeys(ROW_FIELDS, "") | {"kind": "yes_no"} for _n in range(BLANK_ROWS)]
    queues = db.session.scalars(queues_service.list_()).all()
    return (
        render(
            "portal/quality_scorecard_form.html",
            firm=g.tenant,
            card=card,
            typed=typed,
            rows=rows,
            errors=errors or {},
            channel_options=labels.options("channel", CHANNELS),
            category_options=labels.options("category", CATEGORIES),
            queue_options=[(str(q.id), q.name) for q in queues],
        ),
        status,
    )


def _typed_of(version=None, card=None) -> dict:
    if version is None:
        return {"name": "", "description": "", "passing": "80", "channels": [], "categories": []}
    return {
        "name": card.name,
        "description": card.description,
        "passing": str(Decimal(version.passing_score_bps) / 100).rstrip("0").rstrip("."),
        "channels": list(version.channels),
        "queue_ids": list(version.queue_ids),
        "categories": list(version.categories),
    }


def _posted_typed() -> dict:
    return {
        "name": request.form.get("name", "").strip(),
        "description": request.form.get("description", "").strip(),
        "passing": request.form.get("passing", "").strip(),
        "channels": request.form.getlist("channels"),
        "queue_ids": request.form.getlist("queue_ids"),
        "categories": request.form.getlist("categories"),
    }


def _save(card):
    typed, rows = _posted_typed(), _posted_rows()
    body, places = _body(rows)
    body |= {
        "passing_score_bps": _passing_bps(typed["passing"]),
        "channels": typed["channels"],
        "queue_ids": typed["queue_ids"],
        "categories": typed["categories"],
    }
    if request.form.get("more"):
        return _page(card, typed=typed, rows=rows)  # more blank rows, nothing saved
    if not body["sections"]:
        errors = {"_form": [_("Write at least one question.")]}
        return _page(card, typed=typed, rows=rows, errors=errors, status=422)
    try:
        if card is None:
            loaded = ScorecardCreateSchema().load(
                body | {"name": typed["name"], "description": typed["description"]}
            )
            card = quality_service.create_scorecard(scorecard_in=loaded, actor=current_actor())
        else:
            named = ScorecardUpdateSchema().load(
                {"name": typed["name"], "description": typed["description"]}
            )
            quality_service.update_scorecard(
                scorecard=card, scorecard_in=named, actor=current_actor()
            )
            loaded = ScorecardVersionCreateSchema().load(body)
            quality_service.add_version(scorecard=card, version_in=loaded, actor=current_actor())
    except ValidationError as err:
        errors = _row_errors(form_errors(err.messages), places)
        return _page(card, typed=typed, rows=rows, errors=_renamed(errors), status=422)
    except DomainError as err:
        db.session.rollback()
        fields = (err.extra.get("errors") or {}).get("json") or {"_form": [err.detail]}
        errors = _row_errors(form_errors(fields), places)
        card = quality_service.get_scorecard(scorecard_id=card.id) if card else None
        return _page(card, typed=typed, rows=rows, errors=_renamed(errors), status=422)
    return card


def _renamed(errors: dict) -> dict:
    """The body's names for the form's (`passing_score_bps` is typed as `passing`)."""
    if "passing_score_bps" in errors:
        errors["passing"] = errors.pop("passing_score_bps")
    return errors


@bp.get("/quality/scorecards/new")
def scorecard_new(tenant_id):
    """The form of a new scorecard."""
    check(SCORECARD_ADMIN)
    return _page(None, typed=_typed_of(), rows=[])


@bp.post("/quality/scorecards/new")
def scorecard_create(tenant_id):
    """Set up a scorecard (its version 1)."""
    check(SCORECARD_ADMIN)
    saved = _save(None)
    if isinstance(saved, tuple):
        return saved
    flash(_("The scorecard is set up."), "ok")
    return redirect(url_for("web.portal.quality_scorecards", tenant_id=tenant_id))


@bp.get("/quality/scorecards/<uuid:scorecard_id>")
def scorecard_edit(tenant_id, scorecard_id):
    """A scorecard's form, filled with its version in force."""
    check(SCORECARD_ADMIN)
    card = quality_service.get_scorecard(scorecard_id=scorecard_id)
    if card is None:
        abort(404)
    version = quality_service.current_version(scorecard_id=card.id)
    return _page(card, typed=_typed_of(version, card), rows=_rows_of(version))


@bp.post("/quality/scorecards/<uuid:scorecard_id>")
def scorecard_version(tenant_id, scorecard_id):
    """Save a scorecard's changes as a new version, in force from now."""
    check(SCORECARD_ADMIN)
    card = quality_service.get_scorecard(scorecard_id=scorecard_id)
    if card is None:
        abort(404)
    saved = _save(card)
    if isinstance(saved, tuple):
        return saved
    flash(_("Saved as a new version: evaluations already made keep theirs."), "ok")
    return redirect(url_for("web.portal.quality_scorecards", tenant_id=tenant_id))
