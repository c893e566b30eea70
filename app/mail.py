"""Outgoing mail: one message, plain text and HTML, rendered from app/templates/mail and sent
through the SMTP server `SMTP_URL` names (standard library smtplib). Imports no domain.

`smtp://host:587` upgrades to TLS with STARTTLS when the server offers it; `?starttls=required`
refuses a server that does not. `smtps://host:465` speaks TLS from the first byte. A user and
password in the URL sign in. Any failure to hand the message over is `MailUnavailable` (503):
raised inside the request, it rolls back whatever the request was about to save.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app, render_template

from app.errors import DomainError

log = logging.getLogger(__name__)

LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"


class MailUnavailable(DomainError):
    """The mail server could not take the message (503): nothing was sent, nothing saved."""

    status = 503

    def __init__(self) -> None:
        super().__init__(
            "The mail server could not be reached, so nothing was sent and nothing was saved; "
            "try again later."
        )


def is_configured() -> bool:
    """Whether a mail server is configured."""
    return bool(current_app.config.get("SMTP_URL"))


def language_of(*candidates: str | None) -> str:
    """The first candidate (a language or a locale like es-MX) we write mail in, else English."""
    for candidate in candidates:
        if candidate:
            language = candidate.replace("_", "-").split("-")[0].lower()
            if language in LANGUAGES:
                return language
    return DEFAULT_LANGUAGE


def render(template: str, *, language: str, **context) -> tuple[str, str]:
    """The plain-text and HTML bodies of mail/<template>.<language>.{txt,html}."""
    text = render_template(f"mail/{template}.{language}.txt", **context)
    html = render_template(f"mail/{template}.{language}.html", **context)
    return text, html


def send(*, to: str, subject: str, text: str, html: str) -> None:
    """Hand one message to the mail server; raise MailUnavailable if it cannot be done."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=_domain_of(config["MAIL_FROM"]))
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    try:
        with _connect(config["SMTP_URL"], float(config["SMTP_TIMEOUT_SECONDS"])) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        # The kind of failure only: the message carries a link that is a credential.
        log.warning("mail not sent: %s", type(exc).__name__)
        raise MailUnavailable() from exc


def _domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip("> ") or "localhost"


def _connect(url: str, timeout: float) -> smtplib.SMTP:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise smtplib.SMTPException("SMTP_URL must be smtp://host[:port] or smtps://host[:port]")
    context = ssl.create_default_context()
    if parts.scheme == "smtps":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            parts.hostname, parts.port or 465, timeout=timeout, context=context
        )
    else:
        smtp = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=timeout)
    try:
        smtp.ehlo()
        required = parse_qs(parts.query).get("starttls") == ["required"]
        if parts.scheme == "smtp" and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
        elif parts.scheme == "smtp" and required:
            raise smtplib.SMTPNotSupportedError("the mail server does not offer STARTTLS")
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
    except BaseException:
        smtp.close()
        raise
    return smtp
