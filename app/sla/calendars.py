"""Business calendars of the tenant in scope: their versions, the one in force, the timeline the
SLA engine counts with (read once per request) and business time by the tenant's calendar.

Services take keyword arguments, return ORM objects and never commit. The arithmetic lives in
`app.sla.calendar`. May import: app.db, app.errors, app.sla (calendar, clocks, models),
tenants (models, scoping, service); nothing else of app.sla imports back into it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import holidays
from flask import g, has_app_context
from sqlalchemy import Select, select

from app.db import db, utcnow
from app.errors import Conflict, NotFound, Unprocessable
from app.sla import calendar as business_time
from app.sla import clocks as clock_rules
from app.sla.calendar import CalendarTimeline
from app.sla.models import BusinessCalendar
from tenants import service as tenants_service
from tenants import settings_cache
from tenants.models import Tenant
from tenants.scoping import current_tenant_id

DEFAULT_OPENING = {"start": "09:00", "end": "18:00"}


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
    _timelines().pop(tenant.id, None)
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
        lock_tenant()
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


def timeline() -> CalendarTimeline:
    """Return the tenant's calendar versions as one timeline; NotFound when it has none."""
    found = timeline_for(tenant_id=current_tenant_id())
    if found is None:
        raise NotFound("This client firm has no business calendar yet.")
    return found


def timeline_for(*, tenant_id: uuid.UUID) -> CalendarTimeline | None:
    """Return a tenant's calendar timeline (None without a calendar), read once per request."""
    cached = schedule_for(tenant_id)
    return cached.schedule if cached is not None else None


def schedule_for(tenant_id: uuid.UUID) -> clock_rules.CachedSchedule | None:
    """A tenant's timeline for the SLA engine, read from the database once per request (or CLI
    unit of work) and kept on `flask.g` with the open time already worked out; adding a
    calendar version through this module forgets it."""
    cache = _timelines()
    if tenant_id not in cache:
        _read(cache, [tenant_id])
    return cache[tenant_id]


def read_schedules(tenant_ids) -> None:
    """Read the timelines of these tenants not read yet in this request, in one statement:
    a list spanning many firms (the at-risk list) asks once, not once per firm."""
    _read(_timelines(), tenant_ids)


def _read(cache: dict, tenant_ids) -> None:
    missing = sorted(set(tenant_ids) - cache.keys())
    if not missing:
        return
    if len(missing) == 1 and settings_cache.single_firm() == missing[0]:
        # The firm in scope (every contact taken in asks): this process's copy of its
        # timeline while its settings stand. The timeline is immutable; the open time worked
        # out on it (CachedSchedule) is this request's own.
        timelines = settings_cache.cached("calendar_timeline", lambda: _timelines_of(missing))
        cache.update(_schedules(timelines))
        return
    cache.update(_schedules(_timelines_of(missing)))


def _schedules(timelines: dict) -> dict:
    return {
        tenant_id: clock_rules.CachedSchedule(timeline) if timeline is not None else None
        for tenant_id, timeline in timelines.items()
    }


def _timelines_of(missing: list[uuid.UUID]) -> dict[uuid.UUID, CalendarTimeline | None]:
    versions: dict[uuid.UUID, list[BusinessCalendar]] = {t: [] for t in missing}
    for version in db.session.scalars(
        select(BusinessCalendar)
        .where(BusinessCalendar.tenant_id.in_(missing))
        .order_by(BusinessCalendar.tenant_id, BusinessCalendar.effective_from)
    ):
        versions[version.tenant_id].append(version)
    return {
        tenant_id: CalendarTimeline.from_versions(own) if own else None
        for tenant_id, own in versions.items()
    }


def _timelines() -> dict:
    if not has_app_context():
        return {}
    if "sla_timelines" not in g:
        g.sla_timelines = {}
    return g.sla_timelines


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


def lock_tenant() -> None:
    # Serialises changes to one tenant's calendar and default policy (check, then write).
    db.session.execute(select(Tenant.id).where(Tenant.id == current_tenant_id()).with_for_update())
