"""Every response an app answers during the tests, checked against its served /openapi.json.

`install()` listens to Flask's `request_finished` signal, so it sees what every client gets:
the Flask test client, real HTTP through `live_server`, schemathesis. For a /v1 route it finds
the operation (method + the route's path template), the response documented for the status
(an explicit code: `default` documents nothing in particular), the content type, and validates
the JSON body against the schema (JSON Schema 2020-12, the dialect of OpenAPI 3.1: nulls must
be declared). Objects are closed: a property the document does not list is an error too, so
the document describes each answer exactly. Failures are collected, and tests/conftest.py fails
the test that received them (unless it is marked `undocumented_response`).

Routes outside the API document (`NON_API_PREFIXES`) are skipped; so are requests that matched no
route at all (an unknown path, a method the path does not take: routing answers those before any
operation is reached). The bodies of streamed responses (CSV exports) are not read.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import weakref
from collections.abc import Iterator

import jsonschema_rs
from flask import Flask, Response, request, request_finished

# Served by the app but not part of the /v1 API: OAuth (RFC 6749/8414/7517 documents), the docs
# themselves, probes, Prometheus metrics, static files; and every page of the web app.
NON_API_PREFIXES = (
    "/oauth/",
    "/.well-known/",
    "/docs",
    "/openapi.json",
    "/healthz",
    "/readyz",
    "/metrics",
    "/static/",
)
# Answers that carry no body by definition: the server sends none, whatever the view returned.
_BODILESS = frozenset({204, 304})
_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")

_lock = threading.Lock()
_problems: list[str] = []
# What the check cost this run: responses checked and seconds spent (printed by conftest.py).
cost = {"responses": 0, "seconds": 0.0}
# Per app (its document is the same all along; producing it takes tens of milliseconds), and
# per document text (the apps of one run serve the same one, so compiled schemas are shared).
_by_app: weakref.WeakKeyDictionary[Flask, ResponseValidator] = weakref.WeakKeyDictionary()
_by_text: dict[str, ResponseValidator] = {}


class ResponseValidator:
    """The responses one OpenAPI document allows, with validators compiled once per schema."""

    def __init__(self, document: dict) -> None:
        self.document = document
        self._schemas: dict[tuple, jsonschema_rs.Validator] = {}
        # Referenced schemas, closed (see _close), as the root that `#/components/...` refs
        # resolve against.
        self._components = {"schemas": _close(document.get("components", {}).get("schemas", {}))}

    def check(
        self, *, method: str, path: str, status: int, mimetype: str, body: bytes | None
    ) -> Iterator[str]:
        """Yield what is wrong with one response (nothing when the document allows it)."""
        where = f"{method.upper()} {path} -> {status}"
        operation = self.document.get("paths", {}).get(path, {}).get(method.lower())
        if operation is None:
            yield f"{where}: the operation is not in /openapi.json"
            return
        response = operation.get("responses", {}).get(str(status))
        if response is None:
            listed = sorted(s for s in operation.get("responses", {}) if s != "default")
            yield f"{where}: status {status} is not documented (documented: {listed})"
            return
        response = self._resolve(response)
        content = response.get("content") or {}
        if status in _BODILESS or (not content and not body):
            return
        if mimetype not in content:
            yield (
                f"{where}: content type {mimetype or 'none'} is not documented "
                f"(documented: {sorted(content) or 'no body'})"
            )
            return
        schema = content[mimetype].get("schema")
        if body is None or schema is None or not _is_json(mimetype):
            return
        try:
            instance = json.loads(body)
        except ValueError:
            yield f"{where}: the {mimetype} body is not JSON: {body[:200]!r}"
            return
        validator = self._validator((path, method, str(status), mimetype), schema)
        for error in validator.iter_errors(instance):
            pointer = "/".join(str(p) for p in error.instance_path) or "(root)"
            yield f"{where}: {mimetype} at {pointer}: {error.message}"

    def _resolve(self, response: dict) -> dict:
        while "$ref" in response:
            parts = response["$ref"].removeprefix("#/").split("/")
            node = self.document
            for part in parts:
                node = node[part]
            response = node
        return response

    def _validator(self, key: tuple, schema: dict) -> jsonschema_rs.Validator:
        validator = self._schemas.get(key)
        if validator is None:
            root = {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                **_close(schema),
                "components": self._components,
            }
            validator = jsonschema_rs.validator_for(root, validate_formats=True)
            self._schemas[key] = validator
        return validator


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or mimetype.endswith("+json")


def _close(schema):
    """A copy of `schema` where every object that lists its properties allows no others."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if "properties" in node and not (
                {"additionalProperties", "unevaluatedProperties"} & node.keys()
            ):
                node["unevaluatedProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def path_template(rule: str) -> str:
    """A Flask route (`/v1/x/<uuid:x_id>`) as an OpenAPI path (`/v1/x/{x_id}`)."""
    return _CONVERTER.sub(r"{\1}", rule)


def served_document(app: Flask) -> str:
    """The /openapi.json the app serves, produced by its own view (no request of its own, so
    that metrics and logs see none)."""
    view = app.view_functions["api-docs.openapi_json"]
    return view().get_data(as_text=True)


def validator_for(app: Flask) -> ResponseValidator:
    validator = _by_app.get(app)
    if validator is None:
        text = served_document(app)
        with _lock:
            validator = _by_text.get(text)
            if validator is None:
                validator = _by_text[text] = ResponseValidator(json.loads(text))
            _by_app[app] = validator
    return validator


def problems_with(app: Flask, response: Response) -> list[str]:
    """What is wrong with the response to the current request (the request context is live)."""
    path = request.path
    if path.startswith(NON_API_PREFIXES) or request.url_rule is None:
        return []
    if (request.blueprint or "").split(".")[0] == "web":
        return []  # the web app's pages (app/web): HTML, not the API
    template = path_template(request.url_rule.rule)
    if not template.startswith("/v1/"):
        return [
            f"{request.method} {path}: a route neither in /openapi.json nor among the non-API "
            f"prefixes of tests/openapi_validation.py"
        ]
    method = request.method
    body = None if response.is_streamed else response.get_data()
    if method == "HEAD":  # answered by the GET view, without its body
        method, body = "GET", None
    if method == "OPTIONS":  # answered by Flask itself
        return []
    return list(
        validator_for(app).check(
            method=method,
            path=template,
            status=response.status_code,
            mimetype=response.mimetype or "",
            body=body,
        )
    )


def problems_of(app: Flask, response) -> list[str]:
    """What is wrong with a response a test client received (after its request ended)."""
    asked = response.request
    with app.test_request_context(asked.path, method=asked.method):
        return problems_with(app, response)


def _on_request_finished(sender: Flask, response: Response, **_extra) -> None:
    started = time.perf_counter()
    try:
        found = problems_with(sender, response)
    except Exception as exc:  # the check's own failure must not change the app's answer
        found = [f"{request.method} {request.path}: the check itself failed: {exc!r}"]
    with _lock:
        _problems.extend(found)
        cost["responses"] += 1
        cost["seconds"] += time.perf_counter() - started


def install() -> None:
    """Check every response of every app from now on."""
    request_finished.connect(_on_request_finished)


def reset() -> None:
    with _lock:
        _problems.clear()


def take() -> list[str]:
    """The problems found since the last reset, forgotten."""
    with _lock:
        found = list(_problems)
        _problems.clear()
    return found
