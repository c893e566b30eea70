"""HTTP resource of a client firm's event stream: its domain events as server-sent events, in
log order, resumable with `Last-Event-ID`, woken by the live listener."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app, g, request
from flask.views import MethodView

from app.api_base import Blueprint
from app.auth.permissions import EVENTS_READ
from app.auth.principal import require
from app.errors import problem
from app.events import service as events_service
from app.events.models import DomainEvent
from app.live import hub_for, sse
from app.live.hub import Notice, Subscription, TooManyStreams
from app.live.schemas import POSITION, EventStreamArgsSchema
from tenants.scoping import tenant_scope

events_blp = Blueprint(
    "events",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/events",
    description="A client firm's domain events as they happen, for its integrations.",
)
# Events read from the log per query; more wait for the next turn of the stream.
READ_LIMIT = 500
# Seconds between reads while committed events wait to settle (app/events/service.py).
SETTLE_POLL = 0.25
RETRY_AFTER = 30

STREAM_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": "Last-Event-ID",
            "required": False,
            "schema": {"type": "string", "pattern": POSITION},
            "description": "The id of the last event received: the stream resumes after it, "
            "without a gap. Browsers' EventSource sends it by itself when it reconnects.",
        }
    ],
    "responses": {
        200: {
            "description": "`text/event-stream` (server-sent events). Each domain event is "
            "one message: `id: <tx>-<seq>` (its place in the log), `event: <type>` (a name of "
            "the event catalogue below) and `data:` a JSON object `{id, type, occurred_at, "
            "payload}` with the payload the catalogue documents. Events come in log order, "
            "never one twice within a stream; an event appears once the transactions before "
            "it ended. A comment line (`: heartbeat`) comes every 15 s when nothing happens. "
            "The stream ends with `event: bye` after at most 10 minutes, when the server "
            "shuts down or the access token expires: reconnect (with a fresh token) and send "
            "`Last-Event-ID`.",
            "content": {
                "text/event-stream": {
                    # Each message of the stream (the fields of the SSE format).
                    "schema": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string", "pattern": POSITION},
                            "event": {"type": "string"},
                            "data": {
                                "type": "string",
                                "description": "JSON: `{id, type, occurred_at, payload}`; "
                                "`{}` for `bye`.",
                            },
                            "retry": {"type": "integer"},
                        },
                    }
                }
            },
        },
        503: {
            "description": "This server holds as many streams as it may, or is shutting "
            "down: try again after `Retry-After` seconds (another server may take it).",
        },
    },
}


@events_blp.route("/stream")
class EventStream(MethodView):
    @require(EVENTS_READ)
    @events_blp.arguments(EventStreamArgsSchema, location="query")
    @events_blp.doc(**STREAM_DOC)
    def get(self, args, tenant_id):
        """Follow the client firm's domain events as server-sent events"""
        app = current_app._get_current_object()
        position = _position(request.headers.get("Last-Event-ID") or args.get("after"))
        if position is None:
            position = events_service.position_now()
        try:
            subscription = hub_for(app).subscribe(
                lambda notice: notice.kind != "agent" and notice.tenant_id == tenant_id
            )
        except TooManyStreams:
            response = problem(503, "This server holds as many event streams as it may.")
            response.headers["Retry-After"] = str(RETRY_AFTER)
            return response
        config = app.config
        lifetime = float(config["LIVE_MAX_STREAM_SECONDS"])
        if "max_seconds" in args:
            lifetime = min(lifetime, args["max_seconds"])
        # The stream ends with the access token that opened it; the client comes back with a
        # fresh one.
        lifetime = max(0.0, min(lifetime, g.token_claims["exp"] - time.time()))
        return sse.stream(
            subscription,
            _LogRenderer(app, tenant_id, position, subscription),
            heartbeat=float(config["LIVE_HEARTBEAT_SECONDS"]),
            lifetime=lifetime,
        )


def _position(text: str | None) -> tuple[int, int] | None:
    if not text or not re.fullmatch(POSITION, text.strip()):
        return None
    tx, seq = text.strip().split("-")
    return int(tx), int(seq)


@dataclass
class _Read:
    """One read of a firm's log after one position, shared by every stream that needs it."""

    started_at: float
    done: threading.Event = field(default_factory=threading.Event)
    messages: list[sse.Message] | None = None
    position: tuple[int, int] | None = None
    waiting: bool = False


class _SharedReads:
    """Streams of one firm at one position woken by the same commit would each run the same
    query: the first runs it, the others take its answer. An answer serves a stream only if
    its read started after the stream's latest notice arrived (NOTIFY comes after the
    commit, so such a read sees what the notice announced), else a new read is made."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reads: dict[tuple[uuid.UUID, tuple[int, int]], _Read] = {}

    def read(self, key, *, fresh_after: float, run: Callable[[_Read], None]) -> _Read:
        with self._lock:
            read = self._reads.get(key)
            mine = read is None or read.started_at <= fresh_after
            if mine:
                if len(self._reads) > 1000:  # old positions nobody reads any more
                    horizon = time.monotonic() - 60
                    self._reads = {k: r for k, r in self._reads.items() if r.started_at > horizon}
                read = self._reads[key] = _Read(started_at=time.monotonic())
        if mine:
            try:
                run(read)
            finally:
                read.done.set()
        elif not read.done.wait(30) or read.messages is None:  # the reader failed: read alone
            read = _Read(started_at=time.monotonic())
            run(read)
        return read


_shared = _SharedReads()


class _LogRenderer(sse.Renderer):
    """Reads the firm's log after the stream's position whenever woken."""

    def __init__(
        self,
        app: Flask,
        tenant_id: uuid.UUID,
        position: tuple[int, int],
        subscription: Subscription,
    ) -> None:
        self.app = app
        self.tenant_id = tenant_id
        self.position = position
        self.subscription = subscription
        self.read_at = time.monotonic()  # reads older than the stream say nothing to it

    def start(self) -> list[sse.Message]:
        return self._read()

    def __call__(self, notices: list[Notice]) -> list[sse.Message]:
        # Read on every wake (a notice, a settle poll, a heartbeat's pause): a notice lost on
        # the way is made good within one heartbeat.
        return self._read()

    def _read(self) -> list[sse.Message]:
        fresh_after = max(self.read_at, self.subscription.last_notice_at)
        self.read_at = time.monotonic()
        read = _shared.read(
            (self.tenant_id, self.position), fresh_after=fresh_after, run=self._query
        )
        if read.position is not None:
            self.position = read.position
        self.wake_in = SETTLE_POLL if read.waiting else None
        return list(read.messages or ())

    def _query(self, read: _Read) -> None:
        # A context of its own: its session, and the connection it takes, end with the read.
        with self.app.app_context(), tenant_scope(self.tenant_id):
            tx, seq = self.position
            # Before the read: an event committed in between is then either read, or announced
            # by a notice that arrives after this read started (and so wakes a new one).
            unsettled = events_service.unsettled()
            events = events_service.read_after(tx=tx, seq=seq, limit=READ_LIMIT)
            read.waiting = unsettled or len(events) == READ_LIMIT
            read.messages = [_message(event) for event in events]
        read.position = (events[-1].tx, events[-1].seq) if events else None


def _message(event: DomainEvent) -> sse.Message:
    return sse.Message(
        event.type,
        {
            "id": str(event.id),
            "type": event.type,
            "occurred_at": event.occurred_at.isoformat(),
            "payload": event.payload,
        },
        id=f"{event.tx}-{event.seq}",
    )
