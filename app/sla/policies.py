"""SLA policies of the tenant in scope: the trade defaults, reading, creating and changing them,
and which one is the default.

Services take keyword arguments, return ORM objects and never commit. May import: app.changes,
app.db, app.errors, app.vocabulary, app.sla (models, calendars for the tenant lock),
tenants.service.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select

from app import changes
from app.db import db
from app.errors import Conflict, Unprocessable
from app.sla.calendars import lock_tenant
from app.sla.models import SlaPolicy
from app.vocabulary import PRIORITIES
from tenants import service as tenants_service
from tenants import settings_cache

# One business day of the default calendar (09:00-18:00), for the default targets.
_BUSINESS_DAY = 9 * 3600
_HOUR = 3600


def default_policy_in() -> dict:
    """Return a sensible policy for a firm that gave none (trade defaults, business time).

    Per priority: voice and chat answered within 20 s (80% of them); async channels first
    responded to within 30 min (urgent) to 8 h (low); resolution within 4 business hours
    (urgent) to 5 business days (low).
    """
    first_response = {"urgent": 1800, "high": _HOUR, "normal": 4 * _HOUR, "low": 8 * _HOUR}
    resolution = {
        "urgent": 4 * _HOUR,
        "high": _BUSINESS_DAY,
        "normal": 3 * _BUSINESS_DAY,
        "low": 5 * _BUSINESS_DAY,
    }
    targets = []
    for priority in PRIORITIES:
        targets.append(
            _target(
                priority,
                first_response_seconds=first_response[priority],
                resolution_seconds=resolution[priority],
            )
        )
        for channel in ("voice", "chat"):
            targets.append(
                _target(
                    priority,
                    channel=channel,
                    answer_threshold_seconds=20,
                    resolution_seconds=resolution[priority],
                )
            )
    return {
        "name": "Standard",
        "is_default": True,
        "targets": targets,
        "service_level_target_bps": 8000,
        "pause_on_escalated": False,
        "at_risk_bps": 8000,
        "abandon_treatment": "exclude_short",
        "short_abandon_seconds": 5,
        "fcr_window_days": 7,
    }


def list_policies() -> Select:
    """Select the SLA policies of the tenant in scope, the default first, then by name."""
    return select(SlaPolicy).order_by(SlaPolicy.is_default.desc(), SlaPolicy.name, SlaPolicy.id)


def get_policy(*, policy_id: uuid.UUID) -> SlaPolicy | None:
    """Return one SLA policy of the tenant in scope."""
    return db.session.scalar(select(SlaPolicy).where(SlaPolicy.id == policy_id))


def create_policy(*, policy_in: dict, actor) -> SlaPolicy:
    """Create an SLA policy; the firm's first one, or one marked default, becomes the default."""
    policy_in = dict(policy_in)
    lock_tenant()
    _check_name_free(policy_in["name"])
    has_default = db.session.scalar(select(SlaPolicy.id).where(SlaPolicy.is_default)) is not None
    policy_in["is_default"] = policy_in.get("is_default", False) or not has_default
    policy_in["targets"] = [_clean_target(t) for t in policy_in["targets"]]
    policy = SlaPolicy(**policy_in)
    db.session.add(policy)
    db.session.flush()
    _audit(
        policy, "sla_policy.created", actor, {"name": policy.name, "is_default": policy.is_default}
    )
    if policy.is_default:
        _undefault_others(policy, actor=actor)
    return policy


def update_policy(*, policy: SlaPolicy, policy_in: dict, actor) -> SlaPolicy:
    """Change an SLA policy; making it the default un-defaults the previous one."""
    policy_in = dict(policy_in)
    if "targets" in policy_in:
        policy_in["targets"] = [_clean_target(t) for t in policy_in["targets"]]
    if policy_in.get("is_default") is False and policy.is_default:
        raise Unprocessable(
            "A client firm always has one default SLA policy.",
            errors={"json": {"is_default": ["Make another policy the default instead."]}},
        )
    if policy_in.get("is_default"):
        lock_tenant()
    if "name" in policy_in and policy_in["name"] != policy.name:
        _check_name_free(policy_in["name"])
    changed = changes.apply(policy, policy_in, kind="sla_policy", actor=actor, audit=_audit)
    if changed:
        db.session.flush()
        if "is_default" in changed and changed["is_default"].new:
            _undefault_others(policy, actor=actor)
    return policy


_audit = tenants_service.auditor("sla_policy")


def _undefault_others(policy: SlaPolicy, *, actor) -> None:
    others = db.session.scalars(
        select(SlaPolicy).where(SlaPolicy.is_default, SlaPolicy.id != policy.id)
    ).all()
    for other in others:
        other.is_default = False
        _audit(
            other,
            "sla_policy.updated",
            actor,
            {"changed": ["is_default"], "default_now": str(policy.id)},
        )
    db.session.flush()


def _check_name_free(name: str) -> None:
    if db.session.scalar(select(SlaPolicy.id).where(SlaPolicy.name == name)) is not None:
        raise Conflict(f"An SLA policy named {name!r} already exists.")


def _target(priority: str, **values) -> dict:
    return _clean_target({"priority": priority, **values})


def _clean_target(target: dict) -> dict:
    # Every key present, absent ones as null, so stored targets all have one shape.
    return {
        "priority": target["priority"],
        "channel": target.get("channel"),
        "category": target.get("category"),
        "first_response_seconds": target.get("first_response_seconds"),
        "answer_threshold_seconds": target.get("answer_threshold_seconds"),
        "resolution_seconds": target.get("resolution_seconds"),
    }


def default_policy() -> SlaPolicy | None:
    """Return the default SLA policy of the tenant in scope (None: its contacts get no clocks),
    to read only: every contact taken in asks, so it may be this process's shared copy."""
    return settings_cache.cached("default_sla_policy", _read_default_policy)


def _read_default_policy() -> SlaPolicy | None:
    policy = db.session.scalar(select(SlaPolicy).where(SlaPolicy.is_default).limit(1))
    return settings_cache.detached_copies([policy])[0] if policy is not None else None
