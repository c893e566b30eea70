"""Reading the audit log (tenants.models.AuditLog, written by tenants.service.record_audit):
every entry for the BPO admin, and a client firm's own entries for its client admin.

What a firm sees of its log: the entries about its data (its `tenant_id`), less the BPO's
internal ones. Internal are the entries with no firm at all (the BPO's own: staff, billing
periods, invitations to BPO roles), those about the BPO's own objects even when they name the
firm (agent profiles and their queue assignments, billing periods), and the BPO's staffing of
the firm (supervisors granted or revoked): who of the BPO works on the firm is the processor's
business, what was done to the firm's data is the firm's.

Services take keyword arguments, return selects (to paginate) and never commit.
May import: app.db, tenants (models).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Select, and_, func, not_, or_, select

from app.db import db
from tenants.models import AuditLog, User

# Objects of the BPO's own, whatever firm their entry names.
INTERNAL_TARGET_TYPES = ("agent", "billing_period")
# Actions on the BPO's staffing of a firm.
INTERNAL_ACTION_PREFIXES = ("supervisor.",)
# Entries a CSV reads from the server-side cursor at a time: memory stays flat whatever the size.
CSV_BATCH = 1_000


def firm_visible():
    """The condition an entry meets to be shown to its firm (see the module's docstring)."""
    return and_(
        AuditLog.tenant_id.is_not(None),
        AuditLog.target_type.not_in(INTERNAL_TARGET_TYPES),
        not_(or_(*(AuditLog.action.startswith(p) for p in INTERNAL_ACTION_PREFIXES))),
    )


def list_(
    *,
    tenant_id: uuid.UUID | None = None,
    firm_view: bool = False,
    actor_user_id: uuid.UUID | None = None,
    actor_client_id: str | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    from_: datetime | None = None,
    to: datetime | None = None,
) -> Select:
    """Select audit entries with their actor's name and e-mail, newest first, filtered by what
    is given; `firm_view` keeps only what the firm of `tenant_id` is shown of its log.

    An `action` ending in `.` names every action of that kind (`user.`: `user.created`, ...).
    """
    stmt = (
        select(AuditLog, User.name, User.email)
        .outerjoin(User, User.id == AuditLog.actor_user_id)
        .order_by(AuditLog.occurred_at.desc(), AuditLog.id.desc())
    )
    if firm_view:
        assert tenant_id is not None
        stmt = stmt.where(firm_visible())
    if action is not None:
        stmt = stmt.where(
            AuditLog.action.startswith(action, autoescape=True)
            if action.endswith(".")
            else AuditLog.action == action
        )
    for column, value in (
        (AuditLog.tenant_id, tenant_id),
        (AuditLog.actor_user_id, actor_user_id),
        (AuditLog.actor_client_id, actor_client_id),
        (AuditLog.target_type, target_type),
        (AuditLog.target_id, target_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if from_ is not None:
        stmt = stmt.where(AuditLog.occurred_at >= from_)
    if to is not None:
        stmt = stmt.where(AuditLog.occurred_at < to)
    return stmt


def entries(rows) -> list[dict]:
    """Audit rows (entry, actor's name, actor's e-mail) as the API shows them."""
    return [
        {
            "id": entry.id,
            "occurred_at": entry.occurred_at,
            "tenant_id": entry.tenant_id,
            "actor": {
                "user_id": entry.actor_user_id,
                "name": name,
                "email": email,
                "client_id": entry.actor_client_id,
            },
            "action": entry.action,
            "target_type": entry.target_type,
            "target_id": entry.target_id,
            "details": entry.details or {},
            "request_id": entry.request_id,
        }
        for entry, name, email in rows
    ]


def page(stmt: Select, *, offset: int, limit: int) -> list[dict]:
    """One page of a select of `list_`."""
    return entries(db.session.execute(stmt.limit(limit).offset(offset)))


def count(stmt: Select) -> int:
    """How many entries a select of `list_` holds."""
    return db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))


def stream(stmt: Select, *, batch: int | None = None) -> Iterator[dict]:
    """Every entry of a select of `list_`, in its order, read `batch` rows at a time through a
    server-side cursor (`yield_per`), so an export of any size holds one batch in memory."""
    result = db.session.execute(stmt.execution_options(yield_per=batch or CSV_BATCH))
    for rows in result.partitions():
        yield from entries(rows)
