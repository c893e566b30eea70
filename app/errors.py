"""Errors as RFC 9457 problem details (`application/problem+json`), for every route."""

from __future__ import annotations

import logging

from flask import Response, current_app, g, json, request
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

PROBLEM_JSON = "application/problem+json"

log = logging.getLogger(__name__)

# What a client is told when the status alone says too little.
_DEFAULT_DETAILS = {
    400: "The request could not be understood.",
    401: "A valid access token is required.",
    403: "Your role or token scope does not allow this action.",
    404: "No such resource, or it is not visible to you.",
    405: "This method is not allowed on this resource.",
    409: "The request conflicts with the current state of the resource.",
    412: "The resource changed since you read it (If-Match did not match its ETag).",
    413: "The request body is too large.",
    415: "Send the request body as application/json.",
    422: "The request is well-formed but some fields are invalid; see `errors`.",
    428: "This update requires an If-Match header carrying the ETag you read.",
    429: "Too many requests; retry after the time in Retry-After.",
    500: "An unexpected error occurred; it has been logged with the request id.",
}


def problem(status: int, detail: str | None = None, **extra) -> Response:
    """Build a problem+json response."""
    body = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail or _DEFAULT_DETAILS.get(status, HTTP_STATUS_CODES.get(status, "")),
        "instance": request.path if request else None,
    }
    request_id = g.get("request_id") if g else None
    if request_id:
        body["request_id"] = request_id
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)


def http_exception_to_problem(error: HTTPException) -> Response:
    """Turn any HTTPException (abort, routing, webargs) into problem details."""
    if isinstance(error, InternalServerError):
        original = getattr(error, "original_exception", None)
        if original is not None:
            log.exception("unhandled error", exc_info=original)
        return problem(500)
    data = getattr(error, "data", None) or {}
    detail = data.get("message")
    if detail is None and error.description and error.description != type(error).description:
        detail = error.description
    errors = _string_keys(data.get("errors") or data.get("messages"))
    status = error.code or 500
    if errors and status == 422 and detail is None:
        detail = _summarise(errors)
    if status == 413 and detail is None:
        detail = _too_large()
    response = problem(status, detail, errors=errors)
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    if error.response is None:
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _too_large() -> str:
    # The limit of this request (a view may allow more than the app's), else the app's.
    limit = (g.get("body_limit") if g else None) or (
        current_app.config.get("MAX_CONTENT_LENGTH") if current_app else None
    )
    return too_large_detail(limit)


def too_large_detail(limit: int | None) -> str:
    """What a 413 says: the limit in force."""
    if not limit:
        return _DEFAULT_DETAILS[413]
    return f"The request body is larger than the {limit} bytes allowed."


def _string_keys(errors):
    """Errors with every key a string: marshmallow keys a list's items by index and may add
    `_schema` beside them, and JSON objects (sorted on output) need one kind of key."""
    if isinstance(errors, dict):
        return {str(key): _string_keys(value) for key, value in errors.items()}
    return errors


def _summarise(errors: dict) -> str:
    """Name the invalid fields in one sentence."""
    fields: list[str] = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, [*path, str(key)])
        elif path:
            fields.append(".".join(p for p in path if p not in ("json", "query", "headers")))

    walk(errors, [])
    names = ", ".join(f for f in fields if f) or "the request"
    return f"Invalid input: {names}."


class DomainError(Exception):
    """A rule of the domain refused the request; answered as problem+json with `status`."""

    status = 400

    def __init__(self, detail: str, **extra) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class Conflict(DomainError):
    """The request clashes with the current state (409)."""

    status = 409


class NotFound(DomainError):
    """No such object in the caller's reach (404)."""

    status = 404


class Unprocessable(DomainError):
    """Well-formed but invalid input; `errors` maps fields to messages (422)."""

    status = 422


def domain_error_to_problem(error: DomainError) -> Response:
    return problem(error.status, error.detail, **error.extra)
