"""Report periods in a firm's time zone: local dates as instants, ranges and their limits.

A date means local midnight; both bounds absent mean the current local month. Every report and
the routes read these; pure calendar arithmetic, no database.
May import: app.db (utcnow), app.errors, app.sla.calendar, tenants.models.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.db import utcnow
from app.errors import Unprocessable
from app.sla.calendar import local_instant
from tenants.models import Tenant

# Agents and portfolio reports have no buckets: one year at most.
MAX_PLAIN_RANGE_DAYS = 366


def zone_of(tenant: Tenant) -> ZoneInfo:
    return ZoneInfo(tenant.time_zone)


def instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    """A report bound: a date means local midnight in `zone`; a datetime is taken as is."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return local_instant(value, time(0), zone)


def resolve_period(
    *,
    zone: ZoneInfo,
    from_: date | datetime | None,
    to: date | datetime | None,
    max_days: int,
    now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """Turn the query's `from` and `to` into UTC instants; both absent: this local month.

    Raise Unprocessable (per-field errors) for half a range, an empty or reversed one, or one
    longer than `max_days` local days.
    """
    if from_ is None and to is None:
        today = (now or utcnow()).astimezone(zone).date()
        first = today.replace(day=1)
        return instant(first, zone), instant(next_month(first), zone)
    if from_ is None or to is None:
        missing, given = ("from", "to") if from_ is None else ("to", "from")
        raise Unprocessable(
            "Give both `from` and `to`, or neither (this month).",
            errors={"query": {missing: [f"Required when `{given}` is given."]}},
        )
    start, end = instant(from_, zone), instant(to, zone)
    check_range(start=start, end=end, zone=zone, max_days=max_days)
    return start, end


def check_range(*, start: datetime, end: datetime, zone: ZoneInfo, max_days: int) -> None:
    """Refuse an empty or reversed range, or one spanning more than `max_days` local days."""
    if end <= start:
        raise Unprocessable(
            "`to` must be after `from`.", errors={"query": {"to": ["Must be after `from`."]}}
        )
    if _local(end, zone) - _local(start, zone) > timedelta(days=max_days):
        raise Unprocessable(
            f"The range may span at most {max_days} days here.",
            errors={"query": {"to": [f"Must be at most {max_days} days after `from`."]}},
        )


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    """Local wall-clock time, naive: ranges are measured in local days."""
    return at.astimezone(zone).replace(tzinfo=None)
