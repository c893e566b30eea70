"""SLA configuration rules: business calendar versions, business time of the tenant in scope,
and SLA policies.

Everything here acts on the tenant in scope (the request's, or onboarding's `tenant_scope`).
Services take keyword arguments, return ORM objects and never commit: the request (or the CLI
command) owns the transaction. The arithmetic itself lives in `app.sla.calendar`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import holidays
from sqlalchemy import Select, select

from app.db import db, utcnow
from app.errors import Conflict, NotFound, Unprocessable
from app.sla import calendar as business_time
from app.sla.models import BusinessCalendar, SlaPolicy
from app.vocabulary import PRIORITIES
from tenants import service as tenants_service
from tenants.models import Tenant
from tenants.scoping import current_tenant_id

DEFAULT_OPENING = {"start": "09:00", "end": "18:00"}
# One business day of the default calendar (09:00-18:00), for the default targets.
_BUSINESS_DAY = 9 * 3600
_HOUR = 3600

# --- business calendar -----------------------------------------------------------------------


def default_calendar_in(*, tenant: Tenant) -> dict:
    """Return a calendar for a firm that gave none: Mon-Fri 09:00-18:00 in its zone, with the
    public holidays of its locale's country when `holidays` knows it."""
    region = tenant.locale.rsplit("-", 1)[-1] if "-" in tenant.locale else None
    supported = holidays.list_supported_countries(include_aliases=False)
    return {
        "time_zone": tenant.time_zone,
        "weekly_hours": {
            day: [dict(DEFAULT_OPENING)] if day in business_time.WEEKDAYS[:5] else []
            for day in business_time.WEEKDAYS
        },
        "holiday_country": region if region in supported else None,
        "holiday_subdivision": None,
        "closures": [],
    }


def create_calendar_version(*, calendar_in: dict, tenant: Tenant, actor) -> BusinessCalendar:
    """Add a calendar version taking effect at `effective_from` (default now)."""
    effective_from = calendar_in.get("effective_from") or utcnow()
    in_force = calendar_in_force(for_update=True)
    if in_force is not None and effective_from < in_force.effective_from:
        raise Unprocessable(
            "A new calendar version may not take effect before the version in force did.",
            errors={
                "json": {
                    "effective_from": [
                        f"Must not be before {in_force.effective_from.isoformat()}, when the "
                        "version in force took effect."
                    ]
                }
            },
        )
    clash = db.session.scalar(
        select(BusinessCalendar.id).where(BusinessCalendar.effective_from == effective_from)
    )
    if clash is not None:
        raise Conflict(f"A calendar version already takes effect at {effective_from.isoformat()}.")
    version = BusinessCalendar(
        effective_from=effective_from,
        time_zone=calendar_in.get("time_zone") or tenant.time_zone,
        weekly_hours=_weekly_hours(calendar_in["weekly_hours"]),
        holiday_country=calendar_in.get("holiday_country"),
        holiday_subdivision=calendar_in.get("holiday_subdivision"),
        closures=sorted({_iso_date(d) for d in calendar_in.get("closures") or ()}),
    )
    # The engine must be able to count with it; the schema has checked this already.
    business_time.Calendar.from_version(version)
    db.session.add(version)
    db.session.flush()
    tenants_service.record_audit(
        actor=actor,
        action="calendar.version_created",
        target_type="business_calendar",
        target_id=version.id,
        tenant_id=tenant.id,
        details={"effective_from": effective_from.isoformat()},
    )
    return version


def calendar_in_force(*, at: datetime | None = None, for_update: bool = False):
    """Return the version in force at `at` (default now), or None when there is no calendar.

    Before the first version took effect, the first version counts (see app.sla.calendar).
    With `for_update`, concurrent calendar changes of the tenant wait for this transaction.
    """
    if for_update:
        _lock_tenant()
    at = at or utcnow()
    version = db.session.scalar(
        select(BusinessCalendar)
        .where(BusinessCalendar.effective_from <= at)
        .order_by(BusinessCalendar.effective_from.desc())
        .limit(1)
    )
    if version is None:
        version = db.session.scalar(
            select(BusinessCalendar).order_by(BusinessCalendar.effective_from).limit(1)
        )
    return version


def list_calendar_versions() -> Select:
    """Select every calendar version of the tenant in scope, newest first."""
    return select(BusinessCalendar).order_by(
        BusinessCalendar.effective_from.desc(), BusinessCalendar.id
    )


def timeline() -> business_time.CalendarTimeline:
    """Return the tenant's calendar versions as one timeline; NotFound when it has none."""
    versions = db.session.scalars(
        select(BusinessCalendar).order_by(BusinessCalendar.effective_from)
    ).all()
    if not versions:
        raise NotFound("This client firm has no business calendar yet.")
    return business_time.CalendarTimeline.from_versions(versions)


def business_seconds_between(*, start: datetime, end: datetime) -> int:
    """Return the tenant's business seconds from `start` to `end`."""
    return business_time.business_seconds_between(timeline(), start, end)


def add_business_seconds(*, start: datetime, seconds: int) -> datetime:
    """Return the instant `seconds` business seconds after `start` (ValueError if never)."""
    return business_time.add_business_seconds(timeline(), start, seconds)


def _weekly_hours(weekly_hours: dict) -> dict:
    # All seven days, closed ones as [], each day's windows in order of opening.
    return {
        day: sorted(
            ({"start": w["start"], "end": w["end"]} for w in weekly_hours.get(day) or ()),
            key=lambda w: (w["start"], w["end"]),
        )
        for day in business_time.WEEKDAYS
    }


def _iso_date(value: date | str) -> str:
    return (value if isinstance(value, date) else date.fromisoformat(value)).isoformat()


def _lock_tenant() -> None:
    # Serialises changes to one tenant's calendar and default policy (check, then write).
    db.session.execute(select(Tenant.id).where(Tenant.id == current_tenant_id()).with_for_update())


# --- SLA policies ----------------------------------------------------------------------------


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
    _lock_tenant()
    _check_name_free(policy_in["name"])
    has_default = db.session.scalar(select(SlaPolicy.id).where(SlaPolicy.is_default)) is not None
    policy_in["is_default"] = policy_in.get("is_default", False) or not has_default
    policy_in["targets"] = [_clean_target(t) for t in policy_in["targets"]]
    policy = SlaPolicy(**policy_in)
    db.session.add(policy)
    db.session.flush()
    tenants_service.record_audit(
        actor=actor,
        action="sla_policy.created",
        target_type="sla_policy",
        target_id=policy.id,
        tenant_id=policy.tenant_id,
        details={"name": policy.name, "is_default": policy.is_default},
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
        _lock_tenant()
    if "name" in policy_in and policy_in["name"] != policy.name:
        _check_name_free(policy_in["name"])
    changed = {k: v for k, v in policy_in.items() if getattr(policy, k) != v}
    for key, value in changed.items():
        setattr(policy, key, value)
    if changed:
        db.session.flush()
        tenants_service.record_audit(
            actor=actor,
            action="sla_policy.updated",
            target_type="sla_policy",
            target_id=policy.id,
            tenant_id=policy.tenant_id,
            details={"changed": sorted(changed)},
        )
        if changed.get("is_default"):
            _undefault_others(policy, actor=actor)
    return policy


def _undefault_others(policy: SlaPolicy, *, actor) -> None:
    others = db.session.scalars(
        select(SlaPolicy).where(SlaPolicy.is_default, SlaPolicy.id != policy.id)
    ).all()
    for other in others:
        other.is_default = False
        tenants_service.record_audit(
            actor=actor,
            action="sla_policy.updated",
            target_type="sla_policy",
            target_id=other.id,
            tenant_id=other.tenant_id,
            details={"changed": ["is_default"], "default_now": str(policy.id)},
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
