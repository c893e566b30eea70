"""Server-sent events: a hub subscription and a render function as a `text/event-stream`
response, with heartbeats, a bounded lifetime, a `bye` at the end and the subscription closed
however the stream ends.

The body is sent after the request's context is gone (no `stream_with_context`): the request's
session, its database connection and its tenant scope end with the view, so an open stream
holds none of them while it waits. A render function that reads opens its own application
context (and so its own session) for the read and leaves it, which returns the connection.
A client that went away makes the next write fail; the server then closes the generator, and
the `finally` below closes the subscription.
May import: flask, app.live.hub.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

from flask import Response

from app.live.hub import Notice, Subscription

# The client waits this long before reconnecting after a stream ended (milliseconds).
RETRY_MS = 2000
HEADERS = {
    "Cache-Control": "no-store",
    # nginx (and ingress-nginx) would otherwise buffer the stream and deliver it in lumps.
    "X-Accel-Buffering": "no",
}


@dataclass(frozen=True)
class Message:
    event: str | None
    data: object  # JSON
    id: str | None = None

    @cached_property
    def encoded(self) -> str:
        """The message on the wire; computed once, however many streams send it."""
        return self.encode()

    def encode(self) -> str:
        lines = []
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.event is not None:
            lines.append(f"event: {self.event}")
        # Compact JSON holds no newline, so one data: line carries it whole.
        lines.append(f"data: {json.dumps(self.data, separators=(',', ':'), default=str)}")
        return "\n".join(lines) + "\n\n"


def bye() -> str:
    return f"event: bye\ndata: {{}}\nretry: {RETRY_MS}\n\n"


class Renderer:
    """What a stream sends for the notices it received. `wake_in` (seconds, or None) asks to
    be called again that soon even without notices; `ended` ends the stream with `bye`."""

    wake_in: float | None = None
    ended: bool = False

    def start(self) -> Iterable[Message]:
        return ()

    def __call__(self, notices: list[Notice]) -> Iterable[Message]:
        raise NotImplementedError


def stream(
    subscription: Subscription,
    renderer: Renderer,
    *,
    heartbeat: float,
    lifetime: float,
    pause: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
) -> Response:
    """The event-stream response. `pause` seconds pass after each batch sent, so that a busy
    firm's changes reach a page as a few batches a second rather than one message each."""

    def events() -> Iterator[str]:
        try:
            started = last_sent = clock()
            yield f"retry: {RETRY_MS}\n\n"
            for message in renderer.start():
                yield message.encoded
            while True:
                now = clock()
                left = lifetime - (now - started)
                if subscription.ended or renderer.ended or left <= 0:
                    yield bye()
                    return
                timeout = min(left, max(0.0, heartbeat - (now - last_sent)))
                if renderer.wake_in is not None:
                    timeout = min(timeout, renderer.wake_in)
                notices = subscription.wait(timeout)
                if subscription.ended:
                    continue  # say bye
                sent = False
                for message in renderer(notices):
                    yield message.encoded
                    sent = True
                if sent:
                    last_sent = clock()
                    if pause:
                        time.sleep(pause)
                elif clock() - last_sent >= heartbeat:
                    yield ": heartbeat\n\n"
                    last_sent = clock()
        finally:
            subscription.close()

    response = Response(events(), mimetype="text/event-stream", headers=HEADERS)
    # Not buffered by werkzeug or gunicorn: each chunk is written as it is yielded.
    return response


def refused(retry_after: int = 30) -> Response:
    """The answer over the cap, for a page's stream (the API answers problem+json)."""
    return Response(
        "Too many live streams on this server; poll, and try again later.\n",
        status=503,
        mimetype="text/plain",
        headers={"Retry-After": str(retry_after), "Cache-Control": "no-store"},
    )


def bounded_lifetime(asked: str | None, lifetime: float) -> float:
    """The stream's lifetime: the setting, or less when the caller asks (`?max_seconds=`)."""
    if asked is None:
        return lifetime
    try:
        seconds = float(asked)
    except ValueError:
        return lifetime
    if seconds != seconds:  # NaN
        return lifetime
    return max(0.0, min(seconds, lifetime))
