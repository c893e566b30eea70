"""Quality: a firm's scorecards and their versions, its sampling rule, and which scorecard a
contact is scored on. The evaluations themselves are app/quality/evaluations.py's.

Services take keyword arguments, return ORM objects (or a select to paginate) and never commit;
they act on the firm in scope.
May import: app.changes, app.db, app.errors, app.quality (models, scoring), app.queues.models
(reading), tenants.service (audit).
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select

from app import changes
from app.db import db
from app.errors import Conflict, Unprocessable
from app.quality import scoring
from app.quality.models import SamplingRule, Scorecard, ScorecardVersion
from app.queues.models import Queue
from tenants.service import Actor, auditor

# What a version is made of, beside its number.
VERSION_FIELDS = ("sections", "passing_score_bps", "channels", "queue_ids", "categories")

_audit = auditor("scorecard", summary=lambda card: {"name": card.name})
_audit_rule = auditor("quality_sampling_rule")


# --- scorecards ------------------------------------------------------------------------------


def list_scorecards(*, active: bool | None = None) -> Select:
    stmt = select(Scorecard).order_by(Scorecard.name, Scorecard.id)
    if active is not None:
        stmt = stmt.where(Scorecard.is_active.is_(active))
    return stmt


def get_scorecard(*, scorecard_id: uuid.UUID) -> Scorecard | None:
    return db.session.get(Scorecard, scorecard_id)


def versions(*, scorecard_id: uuid.UUID) -> list[ScorecardVersion]:
    """A scorecard's versions, newest first."""
    return list(
        db.session.scalars(
            select(ScorecardVersion)
            .where(ScorecardVersion.scorecard_id == scorecard_id)
            .order_by(ScorecardVersion.number.desc())
        )
    )


def current_version(*, scorecard_id: uuid.UUID) -> ScorecardVersion:
    """The version in force: the newest (every scorecard has one from its creation)."""
    return versions(scorecard_id=scorecard_id)[0]


def get_version(*, scorecard_id: uuid.UUID, number: int) -> ScorecardVersion | None:
    return db.session.scalar(
        select(ScorecardVersion).where(
            ScorecardVersion.scorecard_id == scorecard_id, ScorecardVersion.number == number
        )
    )


def get_version_by_id(*, version_id: uuid.UUID) -> ScorecardVersion | None:
    return db.session.get(ScorecardVersion, version_id)


def create_scorecard(*, scorecard_in: dict, actor: Actor) -> Scorecard:
    """A scorecard and its first version, from one body."""
    _ensure_name_free(scorecard_in["name"])
    version_in = {name: scorecard_in[name] for name in VERSION_FIELDS if name in scorecard_in}
    check_version(version_in)
    card = Scorecard(
        name=scorecard_in["name"],
        description=scorecard_in.get("description", ""),
        is_active=scorecard_in.get("is_active", True),
    )
    db.session.add(card)
    db.session.flush()
    _add_version(card, version_in, number=1, actor=actor)
    _audit(card, "scorecard.created", actor)
    return card


def update_scorecard(*, scorecard: Scorecard, scorecard_in: dict, actor: Actor) -> Scorecard:
    """Rename a scorecard, describe it, or take it out of (or back into) use. What it asks
    changes only through a new version."""
    fields = dict(scorecard_in)
    active = fields.pop("is_active", None)
    if "name" in changes.diff(scorecard, fields):
        _ensure_name_free(fields["name"], other_than=scorecard.id)
    changes.apply(scorecard, fields, kind="scorecard", actor=actor, audit=_audit)
    changes.set_active(scorecard, active, kind="scorecard", actor=actor, audit=_audit)
    db.session.flush()
    return scorecard


def add_version(*, scorecard: Scorecard, version_in: dict, actor: Actor) -> ScorecardVersion:
    """A new version of the scorecard, in force from now; evaluations already made keep
    theirs. A field left out is the current version's."""
    current = current_version(scorecard_id=scorecard.id)
    merged = {name: version_in.get(name, getattr(current, name)) for name in VERSION_FIELDS}
    check_version(merged)
    version = _add_version(scorecard, merged, number=current.number + 1, actor=actor)
    _audit(scorecard, "scorecard.versioned", actor, {"number": version.number})
    return version


def check_version(version_in: dict) -> None:
    """Refuse (422) a version whose questions clash, or that names another firm's queue."""
    errors = scoring.structure_errors(version_in.get("sections") or [])
    queue_ids = version_in.get("queue_ids") or []
    if queue_ids:
        known = set(
            db.session.scalars(
                select(Queue.id).where(Queue.id.in_([uuid.UUID(str(q)) for q in queue_ids]))
            )
        )
        unknown = [str(q) for q in queue_ids if uuid.UUID(str(q)) not in known]
        if unknown:
            errors["queue_ids"] = [f"No such queue in this client firm: {', '.join(unknown)}."]
    if errors:
        raise Unprocessable("The scorecard is not valid.", errors={"json": errors})


def _add_version(card: Scorecard, version_in: dict, *, number: int, actor: Actor):
    version = ScorecardVersion(
        scorecard_id=card.id,
        number=number,
        sections=version_in["sections"],
        passing_score_bps=version_in["passing_score_bps"],
        channels=list(version_in.get("channels") or []),
        queue_ids=[str(q) for q in version_in.get("queue_ids") or []],
        categories=list(version_in.get("categories") or []),
        created_by_user_id=actor.user_id,
    )
    db.session.add(version)
    db.session.flush()
    return version


def _ensure_name_free(name: str, other_than: uuid.UUID | None = None) -> None:
    stmt = select(Scorecard.id).where(func.lower(Scorecard.name) == name.lower())
    if other_than is not None:
        stmt = stmt.where(Scorecard.id != other_than)
    if db.session.scalar(stmt) is not None:
        raise Conflict(f"A scorecard named {name!r} already exists in this client firm.")


def scorecard_for(*, channel: str, queue_id: uuid.UUID, category: str) -> ScorecardVersion | None:
    """The version a contact is scored on: of the firm's active scorecards whose version in
    force applies to the contact's channel, queue and category, the most specific (the most
    of the three named), then the first by name."""
    best: tuple | None = None
    for card in db.session.scalars(list_scorecards(active=True)):
        version = current_version(scorecard_id=card.id)
        if not _applies(version, channel=channel, queue_id=queue_id, category=category):
            continue
        specific = sum(bool(x) for x in (version.channels, version.queue_ids, version.categories))
        rank = (-specific, card.name.lower())
        if best is None or rank < best[0]:
            best = (rank, version)
    return best[1] if best else None


def _applies(version: ScorecardVersion, *, channel: str, queue_id, category: str) -> bool:
    return (
        (not version.channels or channel in version.channels)
        and (not version.queue_ids or str(queue_id) in version.queue_ids)
        and (not version.categories or category in version.categories)
    )


# --- the sampling rule -----------------------------------------------------------------------


def sampling_rule() -> SamplingRule | None:
    return db.session.scalar(select(SamplingRule))


def set_sampling_rule(*, rule_in: dict, actor: Actor) -> SamplingRule:
    """Make or replace the firm's sampling rule (a PUT: every field given)."""
    rule = sampling_rule()
    if rule is None:
        rule = SamplingRule(**rule_in)
        db.session.add(rule)
    else:
        for name, value in rule_in.items():
            setattr(rule, name, value)
    db.session.flush()
    _audit_rule(rule, "quality.sampling_rule_set", actor, dict(rule_in))
    return rule
