"""Signing webhook deliveries the Standard Webhooks way (https://www.standardwebhooks.com/):
the secrets, the key each stands for, the headers a delivery carries, and what a receiver does
to verify them.

A secret is `whsec_` + standard base64 of 32 random bytes; those bytes are the HMAC-SHA256 key,
so any of the specification's reference libraries verifies with the secret as shown. Each
delivery carries `webhook-id` (the delivery's id: the same on every retry, what a receiver
deduplicates on), `webhook-timestamp` (unix seconds of this attempt) and `webhook-signature`:
`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per valid secret, space-separated
(two during a rotation window: the new secret's first).

Before the standard (migration 0022) a secret was `whsec_` + URL-safe base64 without padding,
and `Switchboard-Signature: t=<unix seconds>,v1=<hex>` was the HMAC-SHA256, keyed with the whole
secret string as UTF-8, of `"{t}." + body`. Migration 0022 keeps each such secret as the
endpoint's previous secret for a transition window; while that lasts, a delivery still carries
that header signed with it, so receivers written for it keep working until they move over.
May import: the standard library only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime

PREFIX = "whsec_"
SECRET_BYTES = 32
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
LEGACY_SIGNATURE_HEADER = "Switchboard-Signature"
# What the specification recommends receivers accept, either way of their clock.
TOLERANCE_SECONDS = 300

_STANDARD = re.compile(r"(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def new_secret() -> str:
    """Return a fresh signing secret: `whsec_` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def is_standard(secret: str) -> bool:
    """Whether a secret is standard (padded) base64, after `whsec_` (which, like the
    specification's libraries, we do not insist on); False for the URL-safe secrets issued
    before migration 0022, which never are (43 characters, no padding)."""
    return _STANDARD.fullmatch(secret.removeprefix(PREFIX)) is not None


def key_of(secret: str) -> bytes:
    """The HMAC key a standard secret stands for: the bytes its base64 spells."""
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("not a standard webhook secret") from None


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return one signature, `v1,<base64>`, of a body sent as `msg_id` at `timestamp`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def legacy_sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """Return the `Switchboard-Signature` value a pre-standard secret signs with."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def headers(*, secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict:
    """The signature headers of one attempt, signed with each secret still valid (the current
    one first): standard secrets in `webhook-signature`, a pre-standard one in
    `Switchboard-Signature`, the scheme its receiver was written for."""
    standard = [s for s in secrets if is_standard(s)]
    signatures = [sign(secret=s, msg_id=msg_id, timestamp=timestamp, body=body) for s in standard]
    signed = {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: " ".join(dict.fromkeys(signatures)),
    }
    legacy = [s for s in secrets if not is_standard(s)]
    if legacy:
        signed[LEGACY_SIGNATURE_HEADER] = legacy_sign(
            secret=legacy[0], timestamp=timestamp, body=body
        )
    return signed


def verify(
    *,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_seconds: int = TOLERANCE_SECONDS,
    now: datetime | float | None = None,
) -> bool:
    """Check a delivery as a receiver would: one of the `v1` signatures in `webhook-signature`
    is the HMAC-SHA256, keyed with the secret, of `"{webhook-id}.{webhook-timestamp}." + body`
    (compared in constant time), and the timestamp is within `tolerance_seconds` of now (a
    replayed old request is refused). Header names are matched in any case."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get(ID_HEADER)
    stamp = lowered.get(TIMESTAMP_HEADER, "")
    offered = lowered.get(SIGNATURE_HEADER, "").split()
    if not msg_id or not stamp.isdigit() or not offered:
        return False
    current = now.timestamp() if isinstance(now, datetime) else (now or time.time())
    if abs(current - int(stamp)) > tolerance_seconds:
        return False
    expected = sign(secret=secret, msg_id=msg_id, timestamp=int(stamp), body=body)
    return any(hmac.compare_digest(expected.encode(), o.encode()) for o in offered)
