"""Contacts and where they go. For now: the client departments contacts are escalated to."""

from __future__ import annotations

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamps, UUIDPrimaryKey, str_enum
from tenants.scoping import TenantScoped

DEPARTMENT_KINDS = ("logistics", "finance", "marketing", "technical", "legal", "custom")


class Department(UUIDPrimaryKey, TenantScoped, Timestamps, Base):
    """A back office of the client firm that contacts are escalated to."""

    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(str_enum(*DEPARTMENT_KINDS, name="department_kind"))
    email: Mapped[str | None] = mapped_column(String(254))
    is_active: Mapped[bool] = mapped_column(default=True)
