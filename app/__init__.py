"""Switchboard's web shell: the application factory."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid

from flask import Flask, current_app, g, request
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app import config as app_config
from app import inputs
from app.db import db
from app.errors import problem, too_large_detail
from tenants import scoping

# What a client is told to wait when the database is unreachable (a restart, a failover).
DATABASE_RETRY_AFTER_SECONDS = 1
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_JSON_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

log = logging.getLogger("switchboard")


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app: defaults, then SWITCHBOARD_* environment, then `overrides`."""
    # The instance folder (generated demo keys, the SQLite file) is normally found by Flask;
    # a container with a read-only root filesystem points it at a writable volume.
    instance_path = (overrides or {}).get("INSTANCE_PATH") or os.environ.get(
        "SWITCHBOARD_INSTANCE_PATH"
    )
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    app_config.load(app, overrides)

    from app import api, cli, docs, health, logs, metrics
    from app.auth import keys, principal, server
    from app.auth.routes import blp as oauth_blp
    from app.errors import DomainError, domain_error_to_problem, http_exception_to_problem
    from app.reports import marks as report_marks
    from app.web import registry as web_registry
    from tenants import settings_cache

    # First of all hooks, so that even an authentication failure carries a request id.
    app.before_request(_assign_request_id)
    app.before_request(_plan_writes_generically)
    app.teardown_request(_restore_plans)
    db.init_app(app)
    scoping.install(db.factory(app), db.open_session)
    report_marks.install(db.factory(app))
    settings_cache.install(db.factory(app))
    app.extensions["signing_keys"] = keys.SigningKeys.from_config(app.config, app.instance_path)
    server.init_app(app)
    api.init_app(app)
    app.register_blueprint(oauth_blp)
    app.register_blueprint(health.blp)
    app.register_blueprint(docs.blp)
    web_registry.init_app(app)
    principal.register_error_handlers(app)
    app.register_error_handler(HTTPException, http_exception_to_problem)
    app.register_error_handler(DomainError, domain_error_to_problem)
    app.register_error_handler(IntegrityError, _integrity_error)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(InterfaceError, _database_unavailable)
    app.register_error_handler(PoolTimeout, _pool_exhausted)
    cli.init_app(app)

    app.before_request(_require_json_body)
    app.before_request(_limit_body)
    app.before_request(_refuse_unstorable_text)
    # Registered before _finish, so that they run after it (Flask runs after_request hooks last
    # registered first) and see the status the commit settled on; /metrics is not under /v1.
    metrics.init_app(app)
    logs.init_app(app)
    app.after_request(_finish)
    return app


def _assign_request_id() -> None:
    g.request_started = time.perf_counter()  # the request's duration, for metrics and logs
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _plan_writes_generically() -> None:
    # A write reaches its rows by key: its statements may keep PostgreSQL's generic plans
    # (tenants/scoping.py says why reads do not).
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        g.plans_token = scoping.allow_generic_plans()


def _restore_plans(_exc=None) -> None:
    token = g.pop("plans_token", None)
    if token is not None:
        scoping.restore_plans(token)


def _require_json_body():
    """The API speaks JSON: a body of any other type is refused before it is parsed."""
    if request.method not in _JSON_BODY_METHODS or not request.path.startswith("/v1/"):
        return None
    if not request.content_length and not request.headers.get("Transfer-Encoding"):
        return None
    if request.mimetype == "application/json" or request.mimetype.endswith("+json"):
        return None
    # The one explicit exception: a view class may list the other body types it reads itself
    # (the contacts import takes CSV and JSON lines).
    view = current_app.view_functions.get(request.endpoint)
    accepted = getattr(getattr(view, "view_class", None), "accepted_body_types", ())
    if request.mimetype in accepted:
        return None
    return problem(
        415, f"Send the request body as application/json, not {request.mimetype or 'untyped'}."
    )


def _limit_body():
    """Hold every body to its limit: the app's MAX_CONTENT_LENGTH, or a view class's own
    `max_body_bytes` (the contacts import). A declared Content-Length over it is refused by
    werkzeug when the body is first read. A chunked body declares no length, and werkzeug would
    silently cut its stream at the limit (a view then read a truncated body as if it were
    whole), so it is read here, one byte past the limit, and refused whole when longer."""
    if request.method not in _JSON_BODY_METHODS:
        return None
    view = current_app.view_functions.get(request.endpoint)
    limit = getattr(getattr(view, "view_class", None), "max_body_bytes", None)
    limit = limit or current_app.config["MAX_CONTENT_LENGTH"]
    g.body_limit = limit
    request.max_content_length = limit
    if (
        request.content_length is not None
        or "chunked" not in request.headers.get("Transfer-Encoding", "").lower()
        or limit is None
    ):
        return None
    request.max_content_length = limit + 1
    if len(request.get_data(cache=True)) <= limit:
        return None
    _drain(request.environ.get("wsgi.input"), limit)
    response = problem(413, too_large_detail(limit))
    response.headers["Connection"] = "close"
    return response


_FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _refuse_unstorable_text():
    """Outside /v1 (whose parser applies app.inputs to every value), the OAuth endpoints and
    the sign-in page read query, form and Basic credentials themselves: a NUL or a lone
    surrogate there is refused before it reaches the database, which cannot store it."""
    if request.path.startswith("/v1/"):
        return None
    fields = list(request.args.items(multi=True))
    if request.method in _JSON_BODY_METHODS and request.mimetype in _FORMS:
        fields += list(request.form.items(multi=True))
    credentials = request.authorization
    if credentials is not None and credentials.type == "basic":
        fields += [
            ("client_id", credentials.username or ""),
            ("client_secret", credentials.password or ""),
        ]
    for name, value in fields:
        reason = inputs.string_problem(name) or inputs.string_problem(value)
        if reason is None:
            continue
        field = inputs.printable(name)
        if request.path.startswith("/oauth/"):
            # An OAuth client reads errors as RFC 6749 section 5.2 describes them.
            return (
                {"error": "invalid_request", "error_description": f"{field}: {reason}"},
                400,
                {"Cache-Control": "no-store"},
            )
        return problem(422, f"Invalid input: {field}.", errors={field: [reason]})
    return None


def _drain(stream, most: int) -> None:
    """Read and drop what a refused body still sends (up to `most` bytes), so that the client
    reads the 413 rather than a connection reset; beyond that, the connection is closed."""
    if stream is None:
        return
    left = most
    while left > 0:
        try:
            chunk = stream.read(min(left, 64 * 1024))
        except (OSError, ValueError):
            return
        if not chunk:
            return
        left -= len(chunk)


def _integrity_error(error: IntegrityError):
    """A unique or foreign key the services' own checks did not catch (a concurrent request won
    a race): the client's data conflicts, so a 409 rather than a 500."""
    session = g.get("db_session")
    if session is not None:
        session.rollback()
    log.warning("integrity error answered 409: %s", error.orig)
    return problem(
        409, "The change conflicts with existing data (another request got there first)."
    )


def _database_unavailable(error: OperationalError | InterfaceError):
    """The database went away mid-request (restart, failover, connection lost) or gave up on
    it (deadlock, serialization failure, statement timeout): nothing was committed, so the
    client may safely send the same request again, and is told so (503 + Retry-After) rather
    than shown a server bug (500). The pool's pre-ping replaces dead connections."""
    session = g.get("db_session")
    if session is not None:
        session.rollback()
    log.warning("database unavailable, answered 503: %s", error.orig)
    return _unavailable()


def _pool_exhausted(error: PoolTimeout):
    """Every connection of this process's pool stayed busy for the pool's whole timeout (a
    burst larger than the pool, now that a worker has threads for its live streams): nothing
    was done, so the client may retry (503 + Retry-After), as when the database is away."""
    session = g.get("db_session")
    if session is not None:
        session.rollback()
    log.warning("no database connection free in time, answered 503: %s", error)
    return _unavailable()


def _unavailable():
    response = problem(503, "The database is unavailable; retry shortly.")
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def _finish(response):
    """Commit what the request did if it succeeded, and tag the response with its id."""
    session = g.get("db_session")
    if session is not None:
        if response.status_code < 400:
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                log.warning("conflict at commit", exc_info=True)
                response = problem(409, "The change conflicts with existing data.")
            except (OperationalError, InterfaceError):
                session.rollback()
                log.exception("database error at commit")
                response = _unavailable()
        else:
            session.rollback()
    response.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
    return response
