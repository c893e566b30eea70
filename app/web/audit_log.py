"""The audit log's pages, shared by the console (the BPO admin's whole log) and the portal (a
firm's own entries): the filters typed in the form, loaded by the API's schema, and a page of
the same service's entries, or all of them as the API's CSV."""

from __future__ import annotations

import re
from datetime import date, tzinfo

from marshmallow import ValidationError

from app.audit import service as audit_service
from app.audit.schemas import AuditEntryCsvSchema, BpoAuditQueryArgsSchema
from app.csv_responses import csv_response
from app.reports.periods import instant
from app.web.shell import form_errors
from tenants.scoping import current_scope

PAGE_SIZE = 50
FILTERS = (
    "action",
    "target_type",
    "target_id",
    "actor_user_id",
    "actor_client_id",
    "from",
    "to",
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def read_filters(args, zone: tzinfo, *, with_firm: bool = False):
    """The filters as typed, as the API's schema loads them, and the errors beside each.

    A date typed (`<input type="date">`) is midnight in `zone` (the firm's, or UTC)."""
    names = FILTERS + (("tenant_id",) if with_firm else ())
    typed = {name: args.get(name, "").strip() for name in names}
    given = {name: value for name, value in typed.items() if value}
    for name in ("from", "to"):
        if _DATE.match(given.get(name, "")):
            try:
                given[name] = instant(date.fromisoformat(given[name]), zone).isoformat()
            except ValueError:
                pass  # left as typed: the schema says what is wrong with it
    schema = (
        BpoAuditQueryArgsSchema() if with_firm else BpoAuditQueryArgsSchema(exclude=("tenant_id",))
    )
    try:
        return typed, schema.load(given), {}
    except ValidationError as err:
        return typed, {}, form_errors(err.messages)


def page_number(args) -> int:
    text = args.get("page", "1")
    return int(text) if text.isdigit() and 0 < int(text) < 100_000 else 1


def page(args: dict, number: int, **scope) -> tuple[list[dict], bool]:
    """One page of entries (newest first) and whether another follows."""
    stmt = audit_service.list_(**args, **scope)
    rows = audit_service.page(stmt, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1)
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def as_csv(args: dict, filename: str, **scope):
    """Every entry the filters select as the API's CSV, streamed: read while the body is sent,
    under the scope in force now."""
    stmt = audit_service.list_(**args, **scope)
    return csv_response(
        AuditEntryCsvSchema(),
        lambda: audit_service.stream(stmt),
        filename,
        scope=current_scope(),
    )
