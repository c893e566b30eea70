"""Departments of the tenant in scope: the back offices its contacts are escalated to.

Services take keyword arguments, return ORM objects (or a select to paginate) and never commit.
May import: app.changes, app.db, app.errors, app.contacts.models, tenants.service.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select

from app import changes
from app.contacts.models import DEPARTMENT_KINDS, Department
from app.db import db
from app.errors import Conflict
from tenants.service import Actor, auditor


def default_departments_in() -> list[dict]:
    """Return one department of each standard kind, for onboarding to offer as a default."""
    return [
        {"kind": kind, "name": _default_name(kind), "email": None}
        for kind in DEPARTMENT_KINDS
        if kind != "custom"
    ]


def get_department(*, department_id: uuid.UUID) -> Department | None:
    """Return one department of the tenant in scope."""
    return db.session.scalar(select(Department).where(Department.id == department_id))


def list_departments(*, active: bool | None = None) -> Select:
    """Select the departments in scope by name (optionally only active ones)."""
    stmt = select(Department).order_by(Department.name, Department.id)
    if active is not None:
        stmt = stmt.where(Department.is_active.is_(active))
    return stmt


def create_department(*, department_in: dict, actor: Actor) -> Department:
    """Create a department of the tenant in scope; a standard kind names itself if unnamed."""
    kind = department_in["kind"]
    name = department_in.get("name") or _default_name(kind)
    _ensure_name_free(name)
    department = Department(name=name, kind=kind, email=department_in.get("email"))
    db.session.add(department)
    db.session.flush()
    _audit(department, "department.created", actor, {"kind": kind})
    return department


def update_department(*, department: Department, department_in: dict, actor: Actor) -> Department:
    """Change a department's name, kind or email, or (re)activate it."""
    fields = dict(department_in)
    active = fields.pop("is_active", None)
    if "name" in changes.diff(department, fields):
        _ensure_name_free(fields["name"], other_than=department.id)
    changes.apply(department, fields, kind="department", actor=actor, audit=_audit)
    changes.set_active(department, active, kind="department", actor=actor, audit=_audit)
    db.session.flush()
    return department


def deactivate_department(*, department: Department, actor: Actor) -> Department:
    """Stop escalations to a department, keeping it readable for the contacts that went there."""
    if changes.set_active(department, False, kind="department", actor=actor, audit=_audit):
        db.session.flush()
    return department


def _default_name(kind: str) -> str:
    return kind.capitalize()


def _ensure_name_free(name: str, other_than: uuid.UUID | None = None) -> None:
    # Case-insensitive: "Finance" and "finance" would be one back office to the people choosing.
    stmt = select(Department.id).where(func.lower(Department.name) == name.lower())
    if other_than is not None:
        stmt = stmt.where(Department.id != other_than)
    if db.session.scalar(stmt) is not None:
        raise Conflict(f"A department named {name!r} already exists in this client firm.")


_audit = auditor("department", summary=lambda department: {"name": department.name})
