"""Live updates: the process's hub and database listener (app/live/hub.py, listener.py), the
server-sent events they feed (sse.py) and the API's event stream (routes.py)."""

from __future__ import annotations

import threading

from flask import Flask

from app.live import listener
from app.live.hub import Hub

_lock = threading.Lock()


def hub_for(app: Flask) -> Hub:
    """The app's hub, made on first use; its listener starts with the first stream."""
    hub = app.extensions.get("live")
    if hub is None:
        with _lock:
            hub = app.extensions.get("live")
            if hub is None:
                config = app.config
                url = config["LIVE_DATABASE_URL"] or config["DATABASE_URL"]
                hub = Hub(
                    max_streams=int(config["LIVE_MAX_STREAMS"]),
                    start_listener=lambda h: listener.start(
                        h, url=url, poll_seconds=float(config["LIVE_POLL_SECONDS"])
                    ),
                )
                app.extensions["live"] = hub
    return hub
