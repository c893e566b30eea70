"""Shared readings: a costly read of a scope (the wallboard of fifty firms, the at-risk total over
a million open contacts) made once for every viewer of that same scope in this process.

A reading younger than SHARED_READ_FRESH_SECONDS is served as it is. One older, but younger
than SHARED_READ_STALE_SECONDS, is served at once while the next is read in the background
(one such read per key at a time), so a viewer who polls never waits for the read; an older
one, or none, is read while the viewer waits, and viewers asking for the same key meanwhile
wait for that one read rather than each making their own. Both settings at 0: every read is
made for its viewer, as if this module were not there (the tests' default).

The key must name everything the read depends on: the firms by id (never the viewer), and
any filter. A reading is computed inside its own app context with no request, principal or
scope of the caller, so a key of firm ids can only ever hold what those firms' scope reads.
At most SHARED_READ_KEYS keys are kept, the least recently used forgotten first.
May import: flask.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    value: Any = None
    read_at: float | None = None  # time.monotonic() when the value was read; None: not yet
    refreshing: bool = False
    # Set while a viewer reads the key with others waiting on it.
    reading: threading.Event | None = None


class SharedReadings:
    """The readings of one application in this process (app.extensions["shared_readings"])."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._threads: set[threading.Thread] = set()

    def read(
        self,
        key: Hashable,
        compute: Callable[[], Any],
        *,
        renew: bool = False,
        within_fresh: bool = False,
    ) -> Any:
        """The reading of `key`, made by `compute()` (no arguments: it takes what it needs
        from the key) when there is none fresh enough. `renew`: read it now whatever is kept
        (a viewer who has just changed what it shows), and keep that for the others.
        `within_fresh`: a reading past its freshness is read now rather than answered while
        renewed behind (a reading made from this one, itself being renewed)."""
        config = self._app.config
        fresh = float(config["SHARED_READ_FRESH_SECONDS"])
        stale = max(fresh, float(config["SHARED_READ_STALE_SECONDS"]))
        if stale <= 0:
            return compute()
        if within_fresh:
            stale = fresh
        while True:
            with self._lock:
                entry = self._entries.get(key)
                if entry is None:
                    entry = self._entries[key] = _Entry()
                    self._forget_beyond(int(config["SHARED_READ_KEYS"]))
                self._entries.move_to_end(key)
                age = None if entry.read_at is None else time.monotonic() - entry.read_at
                if not renew and age is not None and age < fresh:
                    return entry.value
                if not renew and age is not None and age < stale:
                    if not entry.refreshing:
                        entry.refreshing = True
                        self._refresh_later(key, compute)
                    return entry.value
                waiting_on = entry.reading
                if waiting_on is None:
                    entry.reading = mine = threading.Event()
                    break
            # Someone else is reading this key: their reading serves this viewer too (unless
            # it must be renewed: one begun before this viewer's own change may not show it).
            waiting_on.wait()
        try:
            value = compute()
        except BaseException:
            with self._lock:
                entry.reading = None
            mine.set()
            raise
        self._keep(key, entry, value)
        with self._lock:
            entry.reading = None
        mine.set()
        return value

    def settle(self, timeout: float = 30.0) -> None:
        """Wait for the background reads under way, and those they start (tests; a worker
        shutting down)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Under the lock: a thread is added and started under it, so none is seen unstarted.
            with self._lock:
                under_way = list(self._threads)
            if not under_way:
                return
            for thread in under_way:
                thread.join(max(0.0, deadline - time.monotonic()))

    def _keep(self, key: Hashable, entry: _Entry, value: Any) -> None:
        with self._lock:
            entry.value, entry.read_at = value, time.monotonic()

    def _forget_beyond(self, capacity: int) -> None:
        while len(self._entries) > max(1, capacity):
            self._entries.popitem(last=False)

    def _refresh_later(self, key: Hashable, compute: Callable[[], Any]) -> None:
        thread = threading.Thread(
            target=self._refresh, args=(key, compute), name=f"shared-read-{key!r:.40}", daemon=True
        )
        self._threads.add(thread)
        thread.start()

    def _refresh(self, key: Hashable, compute: Callable[[], Any]) -> None:
        try:
            # Its own app context: its own session, closed (rolled back) as the context ends.
            with self._app.app_context():
                value = compute()
            with self._lock:
                entry = self._entries.get(key)
            if entry is not None:
                self._keep(key, entry, value)
        except Exception:
            # The kept reading ages on; once past the stale limit a viewer reads it and sees
            # the error itself.
            log.exception("shared reading %r failed in the background", key)
        finally:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.refreshing = False
                self._threads.discard(threading.current_thread())


def readings(app: Flask | None = None) -> SharedReadings:
    """This application's shared readings, made on first use."""
    app = app or current_app._get_current_object()
    shared = app.extensions.get("shared_readings")
    if shared is None:
        shared = app.extensions.setdefault("shared_readings", SharedReadings(app))
    return shared


def shared(
    key: Hashable, compute: Callable[[], Any], *, renew: bool = False, within_fresh: bool = False
) -> Any:
    """`readings().read(...)`: the reading of `key` in the current application."""
    return readings().read(key, compute, renew=renew, within_fresh=within_fresh)
