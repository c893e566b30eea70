"""The base every /v1 blueprint builds on: the Blueprint and SelectPage its routes use, the strict
JSON body parser, the problem schema and the Api subclass that documents them. It imports no
domain (tests/test_imports.py): app/api.py lists and binds the blueprints."""

from __future__ import annotations

import functools
import http
import json
import math

from apispec import BasePlugin
from flask import request
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint
from flask_smorest import Page, abort
from flask_smorest.utils import prepare_response
from marshmallow import EXCLUDE, Schema, fields, validate
from sqlalchemy import Select, func, select
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request

from app import inputs
from app.db import db
from app.errors import PROBLEM_JSON, http_exception_to_problem


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.String(metadata={"example": "about:blank"})
    title = fields.String(metadata={"example": "Not Found"})
    status = fields.Integer(metadata={"example": 404})
    detail = fields.String()
    instance = fields.String()
    request_id = fields.String()
    errors = fields.Dict(metadata={"description": "Per-field validation errors (422 only)."})
    # Extension members (RFC 9457 section 3.2) of particular answers.
    allowed_actions = fields.List(
        fields.String(),
        metadata={"description": "A refused lifecycle move (409): what the object allows now."},
    )
    contact_status = fields.String(
        metadata={"description": "A refused contact move (409): the contact's status."}
    )
    tenant_status = fields.String(
        metadata={"description": "A refused lifecycle move of a client firm (409): its status."}
    )
    campaign_state = fields.String(
        metadata={"description": "A refused move of a campaign (409): its state."}
    )
    entry_id = fields.String(
        metadata={"description": "A do-not-contact entry already there (409): its id."}
    )
    report = fields.List(
        fields.Dict(),
        metadata={
            "description": "A refused contacts import or campaign list (422): each rejected "
            "row, as `{line, errors}`."
        },
    )


class InvalidJSON(json.JSONDecodeError):
    """A body refused by `loads_json` for a reason of its own (not a syntax error)."""

    def __init__(self, reason: str) -> None:
        # A non-empty document: webargs takes an empty one for "no body at all".
        super().__init__(reason, "body", 0)

    def __str__(self) -> str:
        return self.msg


def loads_json(raw: bytes | str):
    """Parse a request body as strict JSON (RFC 8259): UTF-8 only, no NaN or Infinity, no
    number too large for a float, and nesting too deep for the parser is an error rather than
    a RecursionError. Every failure is a json.JSONDecodeError."""
    text = raw
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidJSON(f"it is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError:
        raise
    except RecursionError as exc:
        raise InvalidJSON("it is nested too deeply") from exc
    except ValueError as exc:
        raise InvalidJSON(str(exc)) from exc


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number")
    return value


@functools.cache
def _schema_instance(schema_class: type[Schema]) -> Schema:
    return schema_class()


class JSONBodyParser(FlaskParser):
    """webargs' Flask parser with strict JSON (`loads_json`), the rules of `app.inputs` on every
    value it reads (storable strings, instants in the window, integers a column holds), and
    errors that say what is wrong."""

    def parse(self, argmap, req=None, *, location=None, **kwargs):
        data = super().parse(argmap, req, location=location, **kwargs)
        where = location or self.location
        errors = inputs.check_loaded(self._get_schema(argmap, req or request), data)
        if errors:
            abort(422, errors={where: errors})
        return data

    def _get_schema(self, argmap, req):
        # flask-smorest hands webargs the schema class, which webargs instantiates on every
        # request (deep-copying every field, a nested schema's too): one instance per class
        # instead. Loading keeps no state on the schema, so a shared instance is safe.
        if isinstance(argmap, type) and issubclass(argmap, Schema):
            return _schema_instance(argmap)
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return webargs_core.missing
        data = req.get_data(cache=True)
        if not data:
            return webargs_core.missing
        document = loads_json(data)
        errors = inputs.check_strings(document)
        if errors:
            abort(422, errors={"json": errors})
        return document

    def load_querystring(self, req, schema):
        errors = {}
        for name, value in req.args.items(multi=True):
            problem = inputs.string_problem(name) or inputs.string_problem(value)
            if problem is not None:
                errors[inputs.printable(name)] = [problem]
        if errors:
            abort(422, errors={"query": errors})
        return super().load_querystring(req, schema)

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        abort(400, message=f"The body is not valid JSON: {error}.")


# The last page a list serves: far beyond any real list, and its OFFSET fits PostgreSQL's bigint.
MAX_PAGE = 1_000_000


class _PageCapSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(validate=validate.Range(min=1, max=MAX_PAGE))


class Blueprint(_Blueprint):
    """Every /v1 blueprint: flask-smorest's, reading bodies with JSONBodyParser and refusing a
    page number past MAX_PAGE (flask-smorest caps only the page size)."""

    ARGUMENTS_PARSER = JSONBodyParser()

    def paginate(self, pager=None, **kwargs):
        paginated = super().paginate(pager, **kwargs)

        def decorator(func):
            view = paginated(func)

            @functools.wraps(view)
            def wrapper(*args, **kw):
                self.ARGUMENTS_PARSER.parse(_PageCapSchema(), request, location="query")
                return view(*args, **kw)

            return wrapper

        return decorator


class SelectPage(Page):
    """flask-smorest pagination over a SQLAlchemy select(): count (unless the caller counted
    already: `total`), then one page."""

    def __init__(self, collection, page_params, *, total: int | None = None) -> None:
        self._total = total
        super().__init__(collection, page_params)

    @property
    def item_count(self) -> int:
        if self._total is not None:
            return self._total
        stmt: Select = self.collection
        return db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))

    @property
    def items(self):
        stmt: Select = self.collection
        return db.session.scalars(
            stmt.limit(self.page_params.page_size).offset(self.page_params.first_item)
        ).all()


class Api(_Api):
    """flask-smorest's Api answering and documenting errors as problem+json, with the
    attribute functions and plugin below shaping every schema and operation it documents."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error):
        return http_exception_to_problem(error)

    def _init_spec(self, **kwargs):
        self.errors_plugin = ErrorResponsesPlugin()
        kwargs["extra_plugins"] = [*kwargs.get("extra_plugins", ()), self.errors_plugin]
        super()._init_spec(**kwargs)
        self.ma_plugin.converter.add_attribute_function(_list_choices_on_items)
        self.ma_plugin.converter.add_attribute_function(_input_bounds)
        self.ma_plugin.converter.add_attribute_function(_null_among_choices)
        self.ma_plugin.converter.add_attribute_function(_ecma_pattern)

    def _register_responses(self):
        """flask-smorest's shared responses, but as what errors really are: problem+json."""
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Any other error", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


_WRITES = frozenset({"post", "put", "patch", "delete"})
_BODIES = frozenset({"post", "put", "patch"})
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


class ErrorResponsesPlugin(BasePlugin):
    """Lists on every operation the errors the shared layers answer (authentication, roles,
    unknown ids, unreadable bodies, conflicts), so that a client, and schemathesis, can rely on
    the documented status codes rather than on `default`."""

    protected = True  # the operations being registered need a token

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, operation in (operations or {}).items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            generic = []
            if self.protected:
                generic += [401, 403]
            if "{" in (path or ""):
                generic.append(404)
            queries = [
                p
                for p in operation.get("parameters", ())
                if isinstance(p, dict) and p.get("in") == "query"
            ]
            if method in _BODIES:
                generic += [413, 415]  # checked on any body, read or not (app/__init__.py)
            if "requestBody" in operation:
                generic += [400, 422]
            elif queries:
                generic.append(422)
            if method in _WRITES:
                generic.append(409)
            # The database unreachable (a restart, a failover): nothing was committed, retry
            # after Retry-After (app/__init__.py).
            generic.append(503)
            for parameter in queries:
                if parameter.get("name") == "page":
                    parameter.setdefault("schema", {})["maximum"] = MAX_PAGE
            listed = {str(status) for status in responses}
            for status in generic:
                if str(status) not in listed:
                    responses[status] = http.HTTPStatus(status).name
            # alt_response(409, description=...) documents no body; it is a problem.
            for status, response in responses.items():
                if str(status).isdigit() and int(status) >= 400 and isinstance(response, dict):
                    response.setdefault("content", _PROBLEM_CONTENT)


def _list_choices_on_items(self, field, ret, **kwargs) -> dict:
    """A list validated by ContainsOnly: apispec puts the choices on the array itself, which no
    array satisfies; they belong on its items."""
    if ret.get("type") == "array" and "enum" in ret and isinstance(ret.get("items"), dict):
        ret["items"] = {**ret["items"], "enum": ret.pop("enum")}
    return {}


def _null_among_choices(self, field, ret, **kwargs) -> dict:
    """A nullable field with choices, as `anyOf: [{the choices}, {type: null}]`.

    apispec adds null to the choices of validators and Enum fields but not to an `enum` given
    in metadata (a dump-only field's documented values), which then refuses the null the type
    allows; and typed-client generators make one enum per listed type of `[string, null]`
    with a null choice. Choices and null side by side read the same to every tool."""
    choices = ret.get("enum")
    if not field.allow_none or choices is None:
        return {}
    kind = ret.pop("type", None)
    types = [t for t in ([kind] if isinstance(kind, str) else kind or ()) if t != "null"]
    ret.pop("enum")
    one = {"enum": [c for c in choices if c is not None]}
    if types:
        one = {"type": types[0] if len(types) == 1 else types, **one}
    return {"anyOf": [one, {"type": "null"}]}


def _ecma_pattern(self, field, ret, **kwargs) -> dict:
    """JSON Schema patterns are ECMA-262 regular expressions, which have no `\\Z`: our Python
    patterns end with it (`$` would let a trailing newline through), and ECMA's `$` (no `m`
    flag) means the same end of input."""
    pattern = ret.get("pattern")
    if isinstance(pattern, str) and pattern.endswith("\\Z"):
        return {"pattern": pattern[:-2] + "$"}
    return {}


def _input_bounds(self, field, ret, **kwargs) -> dict:
    """Document what app.inputs enforces on every field a client sends: the window of instants
    and dates, and the range of an integer column."""
    if field.dump_only:
        return {}
    if ret.get("format") in ("date-time", "date"):
        described = ret.get("description") or field.metadata.get("description")
        return {
            "description": f"{described} {inputs.WINDOW_TEXT}" if described else inputs.WINDOW_TEXT
        }
    if ret.get("type") == "integer" or "integer" in (ret.get("type") or ()):
        low, high = inputs.int_range(field)
        return {"minimum": ret.get("minimum", low), "maximum": ret.get("maximum", high)}
    return {}


# The batch bodies a few routes take instead of JSON (the contacts import, campaign lists).
CSV, NDJSON = "text/csv", "application/x-ndjson"


def batch_rows(*, what: str, parse_csv, parse_ndjson, max_rows: int) -> list:
    """Read the request's batch body (CSV with a header row, or JSON lines) into (line, row)
    pairs with the parser given for its type; refuse another type (415), text that is not UTF-8
    (400), a batch with no rows (422) or with more than `max_rows` (413), naming `what`."""
    if request.mimetype not in (CSV, NDJSON):
        abort(415, message=f"Send the {what} as {CSV} or {NDJSON}.")
    try:
        text = request.get_data(cache=True).decode("utf-8-sig")
    except UnicodeDecodeError:
        abort(400, message=f"The {what} must be UTF-8 text.")
    rows = (parse_csv if request.mimetype == CSV else parse_ndjson)(text)
    if not rows:
        abort(422, message=f"The {what} has no rows.")
    if len(rows) > max_rows:
        abort(413, message=f"At most {max_rows} rows per {what}; split the file.")
    return rows
