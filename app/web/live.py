"""The signed-in person's live stream (`GET /live`): server-sent events telling their pages
what changed, filtered by what they may see (app/live/reach.py), for app/web/static/live.js.

Events: `contact` `{"tenant_id","queue_id","contact_id"}`, `agent` `{"agent_id"}`, `resync`
`{}` (re-read everything) and `bye` (the server ends the stream; the browser reconnects).
What the person may see is read when the stream opens and again every REACH_SECONDS; a stream
whose sign-in ended says `bye` and is not resumed.
May import: flask, app.db, app.live, app.auth.principal, app.web (shell, sessions), tenants.
"""

from __future__ import annotations

import time
import uuid

from flask import Flask, current_app, g, request

from app.auth.principal import principal_for_user
from app.db import db
from app.live import hub_for, sse
from app.live.hub import Notice, Subscription, TooManyStreams
from app.live.reach import Reach, reach_of
from app.web import sessions
from app.web.shell import web
from tenants.models import User

# Seconds between readings of what the person may see (assignments, sign-in still valid).
REACH_SECONDS = 30.0
# A batch of more distinct changes than this is sent as one `resync`.
MAX_BATCH = 20
# Seconds between batches: at most about two messages a second reach a page.
PAUSE = 0.5


@web.get("/live")
def live():
    """The person's event stream; 503 over the process's cap (the page then polls)."""
    app = current_app._get_current_object()
    reach = reach_of(g.principal)
    try:
        subscription = hub_for(app).subscribe(reach.matches)
    except TooManyStreams:
        return sse.refused()
    renderer = _PageRenderer(
        app,
        subscription,
        reach,
        user_id=g.principal.user_id,
        session_key=request.cookies.get(sessions.COOKIE, ""),
    )
    config = app.config
    return sse.stream(
        subscription,
        renderer,
        heartbeat=float(config["LIVE_HEARTBEAT_SECONDS"]),
        lifetime=sse.bounded_lifetime(
            request.args.get("max_seconds"), float(config["LIVE_MAX_STREAM_SECONDS"])
        ),
        pause=PAUSE,
    )


class _PageRenderer(sse.Renderer):
    def __init__(
        self,
        app: Flask,
        subscription: Subscription,
        reach: Reach,
        *,
        user_id: uuid.UUID | None,
        session_key: str,
    ) -> None:
        self.app = app
        self.subscription = subscription
        self.reach = reach
        self.user_id = user_id
        self.session_key = session_key
        self.read_at = time.monotonic()
        self.wake_in = REACH_SECONDS

    def __call__(self, notices: list[Notice]) -> list[sse.Message]:
        if time.monotonic() - self.read_at >= REACH_SECONDS:
            self._read_reach()
            # Notices that arrived under the old reach and fall outside the new one are dropped.
            notices = [n for n in notices if n.kind == "resync" or self.reach.matches(n)]
        self.wake_in = max(0.1, REACH_SECONDS - (time.monotonic() - self.read_at))
        if self.ended:
            return []
        if len(notices) > MAX_BATCH or any(n.kind == "resync" for n in notices):
            return [sse.Message("resync", {})]
        return [_message(notice) for notice in notices]

    def _read_reach(self) -> None:
        """Read the person's reach again, in a context (and session) of its own, released."""
        self.read_at = time.monotonic()
        with self.app.app_context():
            web_session = sessions.find(key=self.session_key)
            user = db.session.get(User, self.user_id) if web_session is not None else None
            if user is None or not user.is_active:
                self.ended = True
                return
            self.reach = reach_of(principal_for_user(user))
        self.subscription.matches = self.reach.matches


def _message(notice: Notice) -> sse.Message:
    if notice.kind == "agent":
        return sse.Message("agent", {"agent_id": notice.agent_id})
    return sse.Message(
        "contact",
        {
            "tenant_id": notice.tenant_id,
            "queue_id": notice.queue_id,
            "contact_id": notice.contact_id,
        },
    )
