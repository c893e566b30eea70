"""Idempotent POSTs: a request retried with the same `Idempotency-Key` gets the first answer.

The record is written in the request's own transaction, before the work: a concurrent retry
waits on the unique key until the first commits and then replays it; a request that fails
(4xx/5xx) rolls its record back, so retrying after a failure does the work again.

Keys are per caller (the user, or the integration's client) and per tenant; routes with no
tenant in their path (onboarding) keep theirs at the BPO level (tenant_id NULL). May import
the data layer and the auth layer's `g.principal`; no domain.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from contextlib import nullcontext
from datetime import datetime
from functools import wraps

from flask import Response, current_app, g, request
from sqlalchemy import String, Text, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UUIDPrimaryKey, db, utcnow
from app.errors import problem
from tenants.scoping import OptionallyTenantScoped, unscoped

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Visible ASCII: what a UUID, a ULID or any sensible client-made key is made of.
_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")
# Response headers worth replaying; the rest (request id, dates) belong to each answer.
_REPLAYED_HEADERS = ("Content-Type", "Location", "ETag")
# Members of an answer shown once and stored nowhere (a link that is a credential): kept, and
# replayed, as null.
SHOWN_ONCE = frozenset({"first_admin_accept_url"})

# For `@blp.doc(parameters=[...])` on every idempotent view.
OPENAPI_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "description": (
        "Makes a retry safe: a request repeated with the same key and the same body returns "
        "the first successful answer (with `Idempotent-Replayed: true`) instead of doing the "
        "work again; the same key with a different body is a 422. A failed request keeps "
        "nothing, so it can be retried with its key. Keys are per caller, 1-255 visible "
        "ASCII characters; a UUID is a good choice."
    ),
}


class IdempotencyRecord(UUIDPrimaryKey, OptionallyTenantScoped, Base):
    """The first answer to a keyed request, per caller and tenant (NULL: BPO-level routes)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (
        UniqueConstraint("tenant_id", "caller", "key", postgresql_nulls_not_distinct=True),
    )

    caller: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    # A cached answer may carry what was shown only once (a client secret): never exported.
    body: Mapped[str | None] = mapped_column(Text, info={"export": False})
    headers: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _fingerprint() -> str:
    """Hash the method, path and body; JSON bodies in canonical form, so that key order and
    whitespace do not make a faithful retry look like a different request."""
    raw = request.get_data(cache=True)
    body = raw
    if raw and request.is_json:
        try:
            body = json.dumps(
                json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
            body = raw  # the view will refuse it; hash it as it came
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), body):
        digest.update(part)
        digest.update(b"\n")
    return digest.hexdigest()


def _caller() -> str:
    principal = g.principal
    return str(principal.user_id) if principal.user_id else principal.client_id


def _records_scope(tenant_id: uuid.UUID | None):
    # A BPO-level route has no tenant in scope; its records belong to the BPO (tenant_id NULL).
    return unscoped() if tenant_id is None else nullcontext()


def idempotent(view):
    """Make a POST view replay its first successful answer when retried with the same key."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not _KEY.fullmatch(key):
            return problem(
                400, f"{HEADER} must be 1-{MAX_KEY_LENGTH} visible ASCII characters (no spaces)."
            )
        tenant = g.get("tenant")
        tenant_id = tenant.id if tenant is not None else None
        fingerprint = _fingerprint()
        first = _first(tenant_id, key)
        if first is not None:
            return _replay(first, fingerprint)
        record = IdempotencyRecord(
            tenant_id=tenant_id, caller=_caller(), key=key, fingerprint=fingerprint
        )
        try:
            # A concurrent request holding the same key makes this INSERT wait until it
            # commits (then the key exists: replay) or rolls back (then go ahead). On SQLite,
            # whose unique keys let NULL tenants repeat, only the lookup above protects.
            with _records_scope(tenant_id), db.session.begin_nested():
                db.session.add(record)
        except IntegrityError:
            return _replay(_first(tenant_id, key), fingerprint)
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code < 400:
            # Changed inside the records' scope: entering a scope flushes what is pending.
            with _records_scope(tenant_id):
                record.status_code = response.status_code
                record.body = _stored(response.get_data(as_text=True))
                record.headers = {
                    name: response.headers[name]
                    for name in _REPLAYED_HEADERS
                    if name in response.headers
                }
                db.session.flush()
        return response

    return wrapper


def _stored(body: str) -> str:
    """The body to keep for replays: without what is shown only once."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body
    if not isinstance(answer, dict) or not SHOWN_ONCE & answer.keys():
        return body
    return json.dumps({k: None if k in SHOWN_ONCE else v for k, v in answer.items()})


def _first(tenant_id: uuid.UUID | None, key: str) -> IdempotencyRecord | None:
    """The caller's committed record of this key, if any."""
    with _records_scope(tenant_id):
        return db.session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.tenant_id.is_(None)
                if tenant_id is None
                else IdempotencyRecord.tenant_id == tenant_id,
                IdempotencyRecord.caller == _caller(),
                IdempotencyRecord.key == key,
            )
        )


def _replay(first: IdempotencyRecord | None, fingerprint: str) -> Response:
    if first is None or first.status_code is None:
        return problem(409, "A request with this Idempotency-Key is still being processed.")
    if first.fingerprint != fingerprint:
        return problem(
            422,
            f"This {HEADER} was used for a different request (method, path or body); "
            "send this request with a new key.",
        )
    headers = dict(first.headers)
    response = Response(
        first.body,
        status=first.status_code,
        content_type=headers.pop("Content-Type", "application/json"),
    )
    for name, value in headers.items():
        response.headers[name] = value
    response.headers[REPLAYED_HEADER] = "true"
    return response


def prune(*, older_than: datetime) -> int:
    """Delete stored answers older than `older_than` (they may hold personal data or a secret
    shown once); return how many went. Retries after that do the work again."""
    # Keys of every tenant and of the BPO expire alike.
    with unscoped():
        result = db.session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < older_than)
        )
    return result.rowcount or 0
