"""A report page's filter form read as its API reads the query: the report's query schema, then
the period rules (app/reports/periods.py) in the firm's zone, each refusal beside its field.
May import: app.db, app.errors, app.reports.periods, app.web.shell."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from flask import g
from marshmallow import Schema, ValidationError

from app.db import utcnow
from app.errors import Unprocessable
from app.reports.periods import resolve_period, zone_of
from app.web.shell import form_errors


def read_period_form(
    args,
    *,
    fields: Iterable[str],
    schema: type[Schema],
    max_days: Callable[[dict], int],
) -> tuple[dict[str, str], dict | None, tuple[datetime, datetime] | None, dict]:
    """Return what was typed (to show again), the loaded query, the period (start, end) and the
    errors per field; on errors the query and period are None. Empty fields are absent, as a
    plain GET form sends them. `max_days(loaded)`: the longest period the report answers."""
    typed = {name: (args.get(name) or "").strip() for name in fields}
    given = {name: value for name, value in typed.items() if value}
    try:
        loaded = schema().load(given)
    except ValidationError as err:
        return typed, None, None, form_errors(err.messages)
    try:
        period = resolve_period(
            zone=zone_of(g.tenant),
            from_=loaded.get("from_"),
            to=loaded.get("to"),
            max_days=max_days(loaded),
            now=utcnow(),
        )
    except Unprocessable as exc:
        errors = exc.extra.get("errors", {}).get("query") or {"_schema": [exc.detail]}
        return typed, None, None, form_errors(errors)
    return typed, loaded, period, {}
