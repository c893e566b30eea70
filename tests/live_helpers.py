"""Reading server-sent events over real HTTP in tests: a stream read by a thread of its own into
a queue, and the waits a test needs on it (never a sleep in its place)."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from dataclasses import dataclass

import requests

from app.live import hub_for
from tests.web_helpers import sign_in


@dataclass(frozen=True)
class Event:
    event: str  # "message" when unnamed; "comment" for a `:` line
    data: str
    id: str | None = None

    @property
    def json(self):
        return json.loads(self.data)


class Stream:
    """One open event stream; `events` fills as the server writes."""

    def __init__(self, url: str, **kwargs) -> None:
        self.response = requests.get(url, stream=True, timeout=(5, 60), **kwargs)
        self.status = self.response.status_code
        self.events: queue.Queue[Event | None] = queue.Queue()
        self.seen: list[Event] = []
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for raw in self.response.iter_lines(chunk_size=1, decode_unicode=True):
                line = raw if isinstance(raw, str) else raw.decode()
                if line.startswith(":"):
                    self.events.put(Event("comment", line[1:].strip()))
                elif line == "":
                    if "data" in fields or "event" in fields:
                        self.events.put(
                            Event(
                                fields.get("event", "message"),
                                fields.get("data", ""),
                                fields.get("id"),
                            )
                        )
                    fields = {}
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
        except (requests.RequestException, OSError, ValueError, AttributeError):
            pass  # closed by the test
        self.events.put(None)  # the stream ended

    def next(self, predicate, timeout: float) -> Event | None:
        """The first event from now on that satisfies `predicate`, or None by the timeout or
        the end of the stream."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if event is None:
                self.events.put(None)  # stays ended
                return None
            self.seen.append(event)
            if predicate(event):
                return event
        return None

    def drain(self, seconds: float) -> list[Event]:
        """Every event that arrives within `seconds`."""
        self.next(lambda _e: False, seconds)
        return list(self.seen)

    def ended(self, timeout: float) -> bool:
        return self.next(lambda _e: False, timeout) is None and self._is_over()

    def _is_over(self) -> bool:
        try:
            last = self.events.get_nowait()
        except queue.Empty:
            return False
        self.events.put(last)
        return last is None

    def close(self) -> None:
        # Shut the socket first: closing the response alone waits for the reading thread,
        # which waits for the server's next line (up to a heartbeat away).
        try:
            self.response.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass  # already closed
        self.response.close()


def named(name: str):
    return lambda event: event.event == name


def page_cookies(app, email: str) -> dict[str, str]:
    """The session cookie of a person signed in through the web app's sign-in pages."""
    client = sign_in(app, email)
    return {"switchboard_session": client.cookie("switchboard_session").value}


def listening(app, timeout: float = 10.0) -> None:
    """Wait until the app's database listener is connected (it starts with the first stream)."""
    listener = hub_for(app).listener
    assert listener is not None, "no stream opened yet"
    assert listener.connected.wait(timeout), "the live listener did not connect"
