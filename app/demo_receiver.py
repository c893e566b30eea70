"""The demo's webhook receiver (`flask demo receiver`, one of `make run`'s processes): it stands
in for the client firms' servers and prints each event it gets, after checking its signature
the way the README tells a firm to (Standard Webhooks).

Each demo firm's endpoint is `<receiver>/webhooks/<firm slug>`; its signing secret is read from
the demo's credentials file on every request, so a seed that rotated it takes effect at once.
Demo only: it listens on loopback and trusts that file.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from app.webhooks import signing

PATH_PREFIX = "/webhooks/"


def make_server(
    *, host: str, port: int, credentials_file: Path, echo: Callable[[str], None]
) -> ThreadingHTTPServer:
    """A server that answers 200 to each correctly signed event, and prints one line for it."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            slug = self.path.removeprefix(PATH_PREFIX).strip("/")
            secret = (
                _secret_of(credentials_file, slug) if self.path.startswith(PATH_PREFIX) else None
            )
            event_type = self.headers.get("Switchboard-Event-Type", "?")
            event_id = self.headers.get("Switchboard-Event-Id", "?")
            headers = dict(self.headers.items())
            if secret is None or not _verifies(secret, headers, body):
                echo(f"{slug or self.path}: {event_type} {event_id} REFUSED: bad signature")
                self._answer(400)
                return
            echo(f"{slug}: {event_type} {event_id} {_about(body)}(signature ok)")
            self._answer(200)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass  # one line per event, above, is the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve(server: ThreadingHTTPServer, *, stop: threading.Event) -> None:
    """Serve until `stop` is set (the signal handlers run in this, the main, thread)."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _verifies(secret: str, headers: dict, body: bytes) -> bool:
    try:
        return signing.verify(secret=secret, headers=headers, body=body)
    except ValueError:  # a secret kept from before the standard: rotate it (`demo seed`)
        return False


def _secret_of(credentials_file: Path, slug: str) -> str | None:
    try:
        credentials = json.loads(credentials_file.read_text())
    except (OSError, ValueError):
        return None
    return (credentials.get(slug) or {}).get("webhook_secret")


def _about(body: bytes) -> str:
    """The contact and clock an SLA event is about, when the body names them."""
    try:
        data = json.loads(body).get("data") or {}
    except (ValueError, AttributeError):
        return ""
    named = [str(data[k]) for k in ("external_id", "contact_id", "clock") if data.get(k)]
    return " ".join(named) + " " if named else ""
