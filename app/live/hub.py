"""The live hub of one process: what changed (`Notice`), who is listening (`Subscription`), and
the fan-out from the one database listener to every open stream, within a cap.

A notice says only that something of a firm, queue, contact or agent changed; each stream reads
what its viewer may see itself. Notices are coalesced per subscription and bounded: a
subscription that falls behind gets one `resync` instead of an ever longer list.
May import: nothing of the app (the listener and the streams build on it).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

# Distinct notices a subscription keeps before it collapses them into one resync.
MAX_PENDING = 256


@dataclass(frozen=True)
class Notice:
    """Something changed. A resync without a firm means "re-read everything" (notices may have
    been lost); with a firm, "re-read that firm" (a large import)."""

    kind: Literal["contact", "agent", "resync"]
    tenant_id: uuid.UUID | None = None
    queue_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None


RESYNC = Notice("resync")


class TooManyStreams(Exception):
    """The process serves as many streams as it may (or is shutting down): answer 503."""


class Subscription:
    """One stream's inbox: notices its filter let through since it last looked."""

    def __init__(self, hub: Hub, matches: Callable[[Notice], bool]) -> None:
        self._hub = hub
        # Replaced as a whole when the viewer's reach is read again (app/web/live.py).
        self.matches = matches
        self._cond = threading.Condition()
        self._pending: dict[Notice, None] = {}  # ordered and distinct
        self._ended = False
        self._closed = False
        # When (monotonic) the newest notice let through arrived: a read started after it
        # sees what it announced (app/live/routes.py shares such reads between streams).
        self.last_notice_at = 0.0

    @property
    def ended(self) -> bool:
        """The server is going away: the stream says `bye` and ends."""
        return self._ended

    def offer(self, notice: Notice) -> None:
        """Keep the notice if the filter lets it through (called from the listener thread)."""
        if notice.kind != "resync" or notice.tenant_id is not None:
            try:
                if not self.matches(notice):
                    return
            except Exception:  # a broken filter must not stop the fan-out to the others
                log.exception("live filter failed; the stream resyncs")
                notice = RESYNC
        with self._cond:
            self.last_notice_at = time.monotonic()
            if len(self._pending) >= MAX_PENDING:
                self._pending = {RESYNC: None}
            else:
                self._pending[notice] = None
            self._cond.notify()

    def wait(self, timeout: float) -> list[Notice]:
        """The notices since the last call, waiting up to `timeout` seconds for a first one."""
        with self._cond:
            if not self._pending and not self._ended:
                self._cond.wait(timeout)
            notices = list(self._pending)
            self._pending = {}
        if RESYNC in notices:
            return [RESYNC]  # everything is read again: the rest says nothing more
        return notices

    def end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify()

    def close(self) -> None:
        """Stop receiving (the stream ended, or its client went away)."""
        if not self._closed:
            self._closed = True
            self._hub._remove(self)


class Hub:
    """The subscriptions of one app in this process and the listener that feeds them."""

    def __init__(
        self,
        *,
        max_streams: int,
        start_listener: Callable[[Hub], object] | None = None,
    ) -> None:
        self.max_streams = max_streams
        self._start_listener = start_listener
        self._listener: object | None = None
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []
        self._draining = False
        _HUBS.add(self)

    @property
    def count(self) -> int:
        return len(self._subscriptions)

    @property
    def listener(self) -> object | None:
        return self._listener

    def subscribe(self, matches: Callable[[Notice], bool]) -> Subscription:
        """Open a subscription; TooManyStreams over the cap or while shutting down."""
        with self._lock:
            if self._draining or len(self._subscriptions) >= self.max_streams:
                raise TooManyStreams()
            subscription = Subscription(self, matches)
            # Copy on write: the listener thread iterates a list nobody changes under it.
            self._subscriptions = [*self._subscriptions, subscription]
            if self._listener is None and self._start_listener is not None:
                # Lazily, on the first stream: a process that serves none holds no connection.
                self._listener = self._start_listener(self)
        return subscription

    def publish(self, notice: Notice) -> None:
        """Hand a notice to every subscription whose filter lets it through."""
        for subscription in self._subscriptions:
            subscription.offer(notice)

    def close_all(self) -> None:
        """End every stream with `bye` and refuse new ones: the process is going away."""
        with self._lock:
            self._draining = True
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.end()
        stop = getattr(self._listener, "stop", None)
        if stop is not None:
            stop()

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s is not subscription]


_HUBS: weakref.WeakSet[Hub] = weakref.WeakSet()


def close_all() -> None:
    """End the streams of every hub of this process (a worker's SIGTERM, exit)."""
    for hub in list(_HUBS):
        hub.close_all()


atexit.register(close_all)
