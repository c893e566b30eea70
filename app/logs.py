"""Logs: one JSON object per line on stderr, each carrying the request id, tenant and caller it
was written for, and one line per request (unless gunicorn's access log already writes it).

What goes in is ids only: never a header, a body, a query string, a password, a secret, a token,
an email or a name. The request line has the path without its query string (queries can carry a
customer's email or phone), and the caller as a user id or an OAuth client id. Database errors
are cut to their first line wherever they appear (a message argument, an exception): the lines
after it quote the row (`DETAIL: Key (email)=(...)`, SQLAlchemy's `[parameters: ...]`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from datetime import UTC, datetime

from flask import Flask, current_app, g, has_request_context, request

from app import metrics
from tenants import scoping

# The app's own loggers: `switchboard` (and `switchboard.request`), the modules' `__name__`
# loggers, and Flask's `app.logger` (named after the app, "app").
_LOGGERS = ("switchboard", "app", "billing", "tenants")
FORMATS = ("json", "text")
REQUEST_LOGGING = ("auto", "always", "never")

request_log = logging.getLogger("switchboard.request")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def init_app(app: Flask) -> None:
    """Send the app's loggers to stderr in the configured format, and log each request; call
    before the commit hook is registered, so that the line carries the final status."""
    fmt = str(app.config["LOG_FORMAT"]).lower()
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    mode = str(app.config["LOG_REQUESTS"]).lower()
    if mode not in REQUEST_LOGGING:
        raise ValueError(f"LOG_REQUESTS must be one of {', '.join(REQUEST_LOGGING)}, not {mode!r}")
    app.config["LOG_REQUESTS"] = mode
    configure(fmt=fmt, level=str(app.config["LOG_LEVEL"]).upper(), names=(*_LOGGERS, app.name))
    app.after_request(log_request)


def configure(*, fmt: str, level: str, names: tuple[str, ...] = _LOGGERS) -> None:
    """Give each logger one handler of ours (replacing the one an earlier app gave it)."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    for name in dict.fromkeys(names):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level)
        # Records still propagate: the root logger has no handler in production (so nothing
        # is written twice), while pytest's caplog listens there.


class _StderrHandler(logging.StreamHandler):
    """A handler writing to whatever sys.stderr is at the time: pytest and click's test runner
    swap it, and a stream fixed at start-up would be one they have since closed."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


# --- what every line carries -----------------------------------------------------------------


def context() -> dict[str, str | None]:
    """The request id, tenant and caller of the work under way (a request, or a CLI command's
    tenant scope); None where there is none."""
    if not has_request_context():
        return {"request_id": None, "tenant_id": _scoped_tenant_id(), "principal": None}
    return {
        "request_id": g.get("request_id"),
        "tenant_id": _request_tenant_id(),
        "principal": _principal(),
    }


def _request_tenant_id() -> str | None:
    tenant_id = (request.view_args or {}).get("tenant_id")
    return str(tenant_id) if tenant_id is not None else _scoped_tenant_id()


def _scoped_tenant_id() -> str | None:
    scope = scoping.current_scope()
    return str(scope.write_tenant_id) if scope and scope.write_tenant_id else None


def _principal() -> str | None:
    """The caller's user id, else its OAuth client id (an integration): ids, never a name."""
    principal = g.get("principal")
    if principal is None:
        return None
    return str(principal.user_id) if principal.user_id else principal.client_id


def _fields(record: logging.LogRecord) -> dict:
    fields = context()
    # What the caller passed with `extra=` wins over the ambient context.
    fields.update(
        (k, v) for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES and k[0] != "_"
    )
    return fields


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


# --- keeping the data of database errors out ------------------------------------------------

_DATABASE_MODULES = frozenset({"sqlalchemy", "psycopg", "psycopg2", "sqlite3"})


def _is_database_error(value: object) -> bool:
    return (
        isinstance(value, BaseException)
        and type(value).__module__.partition(".")[0] in _DATABASE_MODULES
    )


def _first_line(error: BaseException) -> str:
    """A database error's first line names what failed (a constraint, a connection) but none
    of the values; the lines after it quote them."""
    lines = str(error).splitlines()
    return lines[0] if lines else ""


def _message(record: logging.LogRecord) -> str:
    args = record.args
    if isinstance(args, tuple) and any(_is_database_error(a) for a in args):
        safe = tuple(_first_line(a) if _is_database_error(a) else a for a in args)
        return str(record.msg) % safe
    return record.getMessage()


def _exception(formatter: logging.Formatter, exc_info) -> str:
    """The traceback, each database error in its chain cut to its first line."""
    chain: list[BaseException] = []
    error = exc_info[1]
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if not any(_is_database_error(e) for e in chain):
        return formatter.formatException(exc_info)
    parts = []
    for error in reversed(chain):
        if parts:
            parts.append("\nThe above exception led to the following one:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(error.__traceback__))
        message = _first_line(error) if _is_database_error(error) else str(error)
        parts.append(f"{type(error).__module__}.{type(error).__qualname__}: {message}")
    return "".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (JSON escapes any newline in a message)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = _exception(self, record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """For reading on a terminal in development: the message, then key=value fields."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in _fields(record).items() if v is not None)
        line = f"{_time(record)} {record.levelname:<7} {record.name}: {_message(record)}"
        line = f"{line}  {fields}" if fields else line
        if record.exc_info:
            line = f"{line}\n{_exception(self, record.exc_info)}"
        return line


# --- one line per request --------------------------------------------------------------------


def loggable_path() -> str:
    """The request's path with the secret of a link (an invitation's or a password reset's
    `<token>`) replaced: such a link is a credential, and a log line is read by many."""
    token = (request.view_args or {}).get("token")
    if not token:
        return request.path
    return request.path.replace(str(token), "<token>")


def log_request(response):
    """after_request: hand gunicorn's access log what only the app knows, and log the request
    unless that access log does (so that each request is one line, not two)."""
    route = metrics.route_label()
    fields = context()
    # gunicorn's access log reads these from the WSGI environ (`%({switchboard.route}e)s`).
    environ = request.environ
    environ["switchboard.route"] = route
    environ["switchboard.path"] = loggable_path()
    for name in ("tenant_id", "principal"):
        if fields[name] is not None:
            environ[f"switchboard.{name}"] = fields[name]
    mode = current_app.config["LOG_REQUESTS"]
    if mode == "never" or (mode == "auto" and "gunicorn.socket" in environ):
        return response
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
    status = response.status_code
    request_log.log(
        logging.ERROR if status >= 500 else logging.INFO,
        "%s %s %s",
        request.method,
        route,
        status,
        extra={
            "method": request.method,
            "route": route,
            # Never the query string (it can carry personal data), nor a link's secret.
            "path": environ["switchboard.path"],
            "status": status,
            "duration_ms": duration_ms,
        },
    )
    return response
