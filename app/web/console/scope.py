"""What the console's pages share: which client firms the caller oversees (all, for a BPO
admin), the reads scoped to them, and a page of a long list."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import g, request
from sqlalchemy import Select

from app.agents.common import reading
from app.db import db

PAGE_SIZE = 25


def overseen() -> frozenset[uuid.UUID] | None:
    """The firms whose agents and queues the caller may read: None for all (a BPO admin), as
    the agents API decides it."""
    principal = g.principal
    if principal.is_bpo_admin:
        return None
    return frozenset(t for t, role in principal.tenant_roles.items() if role == "supervisor")


def scoped(tenant_ids: frozenset[uuid.UUID] | None = None):
    """Reads of the firms the caller oversees (every firm for a BPO admin)."""
    return reading(overseen() if tenant_ids is None else tenant_ids)


@dataclass(frozen=True)
class Page:
    items: list
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def page_of(stmt: Select, size: int = PAGE_SIZE) -> Page:
    """One page (`?page=N`, from 1) of a select's rows, and whether another follows."""
    try:
        number = max(int(request.args.get("page", "1")), 1)
    except ValueError:
        number = 1
    rows = list(db.session.scalars(stmt.limit(size + 1).offset((number - 1) * size)))
    return Page(rows[:size], number, len(rows) > size)
