"""The one database listener of a process: a daemon thread turning what the database says
changed into hub notices.

PostgreSQL: its own direct psycopg connection (not the SQLAlchemy pool) does `LISTEN
switchboard_live`; migration 0020's triggers NOTIFY it at each commit that adds domain or agent
events. On failure it reconnects with a backoff and then tells every stream to resync, since
notices sent while it was away are lost. SQLite (`make run`) has no NOTIFY: the thread polls the
two tables about once a second instead and produces the same notices.
May import: psycopg, sqlalchemy (URLs only), app.live.hub.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid

import psycopg
from sqlalchemy.engine import make_url

from app.live.hub import RESYNC, Hub, Notice

log = logging.getLogger(__name__)

CHANNEL = "switchboard_live"
# Seconds between checks that the LISTEN connection is still alive when nothing arrives.
PING_SECONDS = 30.0
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
# More new events than this at once are announced per firm (as migration 0020 does).
FLOOD = 64


def parse(payload: str) -> Notice | None:
    """A notice from a NOTIFY payload (`c:<tenant>:<queue>:<contact>`, `a:<agent>`,
    `t:<tenant>`); None for anything else."""
    kind, _, rest = payload.partition(":")
    try:
        if kind == "c":
            tenant, queue, contact = rest.split(":")
            return Notice("contact", _uuid(tenant), _uuid(queue), _uuid(contact))
        if kind == "a":
            return Notice("agent", agent_id=uuid.UUID(rest))
        if kind == "t":
            return Notice("resync", tenant_id=uuid.UUID(rest))
    except ValueError:
        pass
    log.warning("live: ignored a notice of unknown form", extra={"payload": payload[:100]})
    return None


def _uuid(text: str | None) -> uuid.UUID | None:
    return uuid.UUID(str(text)) if text else None


class _Listener(threading.Thread):
    """Runs `_serve` until stopped, reconnecting with a growing pause after a failure."""

    def __init__(self, hub: Hub, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.hub = hub
        self._stop_event = threading.Event()
        self.connected = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def run(self) -> None:
        backoff = BACKOFF_FIRST
        served_before = False
        while not self.stopping:
            try:
                self._serve(resync=served_before)
            except Exception:
                log.exception("live: the listener lost its database; reconnecting")
            self.connected.clear()
            served_before = True
            if self._stop_event.wait(backoff):
                return
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _serve(self, *, resync: bool) -> None:
        raise NotImplementedError


class PostgresListener(_Listener):
    def __init__(self, hub: Hub, url: str) -> None:
        super().__init__(hub, "switchboard-live-listen")
        # The SQLAlchemy URL (postgresql+psycopg://...) as libpq reads it.
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(False)

    def _serve(self, *, resync: bool) -> None:
        # TCP keepalives: a connection cut without a word (a node gone) is noticed in about a
        # minute even between pings.
        with psycopg.connect(
            self.dsn,
            autocommit=True,
            connect_timeout=10,
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
            application_name="switchboard-live",
        ) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.connected.set()
            if resync:
                self.hub.publish(RESYNC)  # what was sent while away is lost
            last_ping = time.monotonic()
            while not self.stopping:
                for notify in conn.notifies(timeout=1.0):
                    notice = parse(notify.payload)
                    if notice is not None:
                        self.hub.publish(notice)
                if time.monotonic() - last_ping >= PING_SECONDS:
                    conn.execute("SELECT 1")
                    last_ping = time.monotonic()


class SqlitePoller(_Listener):
    def __init__(self, hub: Hub, url: str, interval: float) -> None:
        super().__init__(hub, "switchboard-live-poll")
        self.path = make_url(url).database or ""
        self.interval = interval

    def _serve(self, *, resync: bool) -> None:
        conn = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
        try:
            # Where the log ends now: only what is added from here on is news.
            seq = conn.execute("SELECT coalesce(max(seq), 0) FROM domain_events").fetchone()[0]
            row = conn.execute("SELECT coalesce(max(rowid), 0) FROM agent_events").fetchone()[0]
            self.connected.set()
            if resync:
                self.hub.publish(RESYNC)
            while not self._stop_event.wait(self.interval):
                seq = self._contacts_after(conn, seq)
                row = self._agents_after(conn, row)
                conn.rollback()  # end the read, so the file's writers are never held back
        finally:
            conn.close()

    def _contacts_after(self, conn: sqlite3.Connection, seq: int) -> int:
        rows = conn.execute(
            "SELECT seq, tenant_id, payload FROM domain_events WHERE seq > ? ORDER BY seq",
            (seq,),
        ).fetchall()
        if len(rows) > FLOOD:  # an import: re-read the firms rather than each contact
            for tenant in dict.fromkeys(tenant for _seq, tenant, _payload in rows):
                self.hub.publish(Notice("resync", tenant_id=_uuid(tenant)))
            return rows[-1][0]
        notices: dict[Notice, None] = {}
        for row_seq, tenant, payload in rows:
            seq = row_seq
            data = json.loads(payload) if isinstance(payload, str) else payload
            tenant_id, contact_id = _uuid(tenant), _uuid(data.get("contact_id"))
            notices[Notice("contact", tenant_id, _uuid(data.get("queue_id")), contact_id)] = None
            if data.get("previous_queue_id"):  # a transfer changes the queue it left too
                previous = _uuid(data["previous_queue_id"])
                notices[Notice("contact", tenant_id, previous, contact_id)] = None
        for notice in notices:
            self.hub.publish(notice)
        return seq

    def _agents_after(self, conn: sqlite3.Connection, row: int) -> int:
        rows = conn.execute(
            "SELECT rowid, agent_id FROM agent_events WHERE rowid > ? ORDER BY rowid", (row,)
        ).fetchall()
        for agent in dict.fromkeys(agent for _rowid, agent in rows):
            self.hub.publish(Notice("agent", agent_id=_uuid(agent)))
        return rows[-1][0] if rows else row


def start(hub: Hub, *, url: str, poll_seconds: float) -> _Listener:
    """Start the listener thread for the database at `url` and return it."""
    if make_url(url).get_backend_name() == "sqlite":
        listener: _Listener = SqlitePoller(hub, url, poll_seconds)
    else:
        listener = PostgresListener(hub, url)
    listener.start()
    return listener
