"""A real SMTP server in the test process (aiosmtpd) that keeps every message it receives, and
the fixtures that point the app at it (or at nothing, or at a port nobody listens on)."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller


class Inbox:
    """aiosmtpd's handler: every message accepted, kept in order."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def last_to(self, address: str) -> EmailMessage:
        """The latest message to `address`, waiting briefly for it to arrive."""
        deadline = time.monotonic() + 5
        while not self.to(address) and time.monotonic() < deadline:
            time.sleep(0.02)
        found = self.to(address)
        assert found, f"no mail to {address}; got {[m['To'] for m in self.messages]}"
        return found[-1]


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def link_in(message: EmailMessage, path: str) -> str:
    """The link to `path` (e.g. /invitations/) in the plain-text body."""
    found = re.search(rf"https?://\S+{re.escape(path)}[A-Za-z0-9_\-]+", text_of(message))
    assert found, text_of(message)
    return found.group(0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving_inbox(app, monkeypatch) -> Iterator[Inbox]:
    """An SMTP server on a free loopback port, and `app` sending to it."""
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{controller.port}")
    monkeypatch.setitem(app.config, "MAIL_FROM", "Switchboard <no-reply@switchboard.test>")
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def inbox(app, monkeypatch):
    """The PostgreSQL app sending to an SMTP server in the test process."""
    with serving_inbox(app, monkeypatch) as handler:
        yield handler


@pytest.fixture
def mail_down(app, monkeypatch):
    """A mail server address where nothing listens."""
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{_free_port()}")
    monkeypatch.setitem(app.config, "SMTP_TIMEOUT_SECONDS", 2)


@pytest.fixture
def no_mail_server(app, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_URL", None)
