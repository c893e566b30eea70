"""CSV alternatives of JSON resources: content negotiation, streaming, formula-safe cells and
their API docs. Every CSV the product writes goes through `csv_response`."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from decimal import Decimal

from flask import Response, request, stream_with_context
from marshmallow import Schema, fields

from tenants.scoping import Scope, bind, release, tenant_scope

CSV = "text/csv"
# What makes a spreadsheet read a text cell as a formula (OWASP, CSV injection): one of these
# first, or after leading whitespace, which some spreadsheets skip before looking for one.
_FORMULA_STARTS = ("=", "+", "-", "@")
# Control characters that start a formula or a new cell in some spreadsheets.
_CONTROL_STARTS = ("\t", "\r", "\n")


def csv_doc(description: str, *, json: str = "JSON") -> dict:
    """The CSV alternative of an operation's 200, for `@blp.doc(**csv_doc(...))`."""
    return {
        "responses": {
            200: {
                "content": {CSV: {"schema": {"type": "string"}}},
                "description": f"{json}; or, with `Accept: text/csv`, {description} "
                "Text cells a spreadsheet would run as a formula start with `'`.",
            }
        }
    }


def wants_csv() -> bool:
    """Whether the caller prefers CSV to JSON (`Accept: text/csv`)."""
    return request.accept_mimetypes.best_match(["application/json", CSV]) == CSV


def csv_response(
    schema: Schema,
    items: Iterable | Callable[[], Iterable],
    filename: str,
    *,
    lead: tuple[str, ...] = (),
    tenant_id: uuid.UUID | None = None,
    scope: Scope | None = None,
) -> Response:
    """Stream `items`, dumped by `schema`, as CSV: a header row, then one flattened row each.

    Cells hold the JSON values (so the CSV and the JSON agree); nulls are empty cells; nested
    fields are joined with `_` (`first_response_median_seconds`). `lead` columns come first.
    A text cell a spreadsheet would run as a formula gets a leading `'` (see `safe_cell`);
    numbers stay numbers.
    Items read from the database while streaming need `tenant_id`: the request's scope ends
    before the body is sent, so the stream reads under a scope of its own; pass a callable to
    run the query itself inside that scope. `scope` does the same with a scope taken from the
    request (`current_scope()`: a firm's, or the BPO admin's unscoped one), for reads only.
    """
    paths = _columns(schema)
    paths.sort(key=lambda path: lead.index(path[0]) if path[0] in lead else len(lead))

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow("_".join(path) for path in paths)
        token = bind(scope) if scope is not None else None
        try:
            with tenant_scope(tenant_id) if tenant_id is not None else nullcontext():
                for item in items() if callable(items) else items:
                    dumped = schema.dump(item)
                    writer.writerow(_cell(_dig(dumped, path)) for path in paths)
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate(0)
        finally:
            if token is not None:
                release(token)
        yield buffer.getvalue()

    # Reading from the database while streaming needs the app context (and its session) back.
    reads = tenant_id is not None or scope is not None
    stream = stream_with_context(lines()) if reads else lines()
    return Response(
        stream,
        mimetype=CSV,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _columns(schema: Schema, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The paths of a schema's fields in declaration order, nested schemas flattened."""
    paths = []
    for name, field in schema.dump_fields.items():
        key = field.data_key or name
        if isinstance(field, fields.Nested):
            paths += _columns(field.schema, (*prefix, key))
        else:
            paths.append((*prefix, key))
    return paths


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        # A number we dumped (a credit of -2500) is data, not a formula: it stays a number.
        return str(value)
    return safe_cell(str(value))


def safe_cell(text: str) -> str:
    """Neutralise a text cell a spreadsheet would run as a formula: prefix it with `'`.

    Text starting with `=`, `+`, `-`, `@` (also after leading whitespace), a tab, a carriage
    return or a line feed (OWASP's list, and then some). Excel, LibreOffice and Google Sheets
    take a leading `'` as "this is text". Text that merely looks like a number ("-5" typed by
    a person) is text too, and gets the quote.
    """
    if text.startswith(_CONTROL_STARTS) or text.lstrip().startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def _dig(data: dict, path: tuple[str, ...]):
    for key in path:
        data = (data or {}).get(key)
    return data
