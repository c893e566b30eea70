"""Idempotent POSTs: a request retried with the same `Idempotency-Key` gets the first answer.

The record is written in the request's own transaction, before the work: a concurrent retry
waits on the unique key until the first commits and then replays it; a request that fails
(4xx/5xx) rolls its record back, so retrying after a failure does the work again.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from functools import wraps

from flask import Response, current_app, g, request
from sqlalchemy import String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UUIDPrimaryKey, db, utcnow
from app.errors import problem
from tenants.scoping import OptionallyTenantScoped

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


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
    body: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.path.encode())
    digest.update(b"\n")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _caller() -> str:
    principal = g.principal
    return str(principal.user_id) if principal.user_id else principal.client_id


def idempotent(view):
    """Make a POST view replay its first answer when retried with the same key."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not key or len(key) > MAX_KEY_LENGTH:
            return problem(400, f"{HEADER} must be 1-{MAX_KEY_LENGTH} characters.")
        tenant = g.get("tenant")
        tenant_id = tenant.id if tenant is not None else None
        record = IdempotencyRecord(
            tenant_id=tenant_id, caller=_caller(), key=key, fingerprint=_fingerprint()
        )
        try:
            with db.session.begin_nested():
                db.session.add(record)
        except IntegrityError:
            return _replay(tenant_id, key, record.fingerprint)
        response = view(*args, **kwargs)
        response = _as_response(response)
        if response.status_code < 400:
            record.status_code = response.status_code
            record.body = response.get_data(as_text=True)
            record.headers = {
                k: v for k, v in response.headers.items() if k in ("Location", "ETag")
            }
            db.session.flush()
        return response

    return wrapper


def _as_response(value) -> Response:
    return current_app.make_response(value)


def _replay(tenant_id: uuid.UUID | None, key: str, fingerprint: str) -> Response:
    first = db.session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.tenant_id.is_(None)
            if tenant_id is None
            else IdempotencyRecord.tenant_id == tenant_id,
            IdempotencyRecord.caller == _caller(),
            IdempotencyRecord.key == key,
        )
    )
    if first is None or first.status_code is None:
        return problem(409, "A request with this Idempotency-Key is still being processed.")
    if first.fingerprint != fingerprint:
        return problem(422, "This Idempotency-Key was used for a different request; use a new key.")
    response = Response(first.body, status=first.status_code, mimetype="application/json")
    for name, value in first.headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response
