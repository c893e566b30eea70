"""The navigation of each area: pages register their entry where they are defined, so the menu
grows with the pages and shows each person only the ones their role opens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import g, request, url_for

from app.auth.principal import Principal


@dataclass(frozen=True)
class Entry:
    endpoint: str
    label: object  # a lazy gettext (or a function giving the text): translated when drawn
    order: int
    roles: frozenset[str] | None  # None: everyone who reaches the area


_PORTAL: list[Entry] = []
_CONSOLE: list[Entry] = []


def portal(endpoint: str, label, *, order: int, roles: tuple[str, ...] | None = None) -> None:
    """Add a page to a firm's menu; `roles` limits it (a viewer sees no settings)."""
    _PORTAL.append(Entry(endpoint, label, order, frozenset(roles) if roles else None))
    _PORTAL.sort(key=lambda e: e.order)


def console(endpoint: str, label, *, order: int, roles: tuple[str, ...] | None = None) -> None:
    """Add a page to the console's menu."""
    _CONSOLE.append(Entry(endpoint, label, order, frozenset(roles) if roles else None))
    _CONSOLE.sort(key=lambda e: e.order)


def _text(label) -> str:
    # A LazyString (lazy_gettext, as pages pass it) translates on str(); a function is called.
    return str(label() if callable(label) else label)


@dataclass(frozen=True)
class Item:
    url: str
    label: str
    current: bool


def _items(entries: list[Entry], role_of: Callable[[Principal], set[str]], **values) -> list[Item]:
    principal = g.get("principal")
    if principal is None:
        return []
    roles = role_of(principal)
    return [
        Item(url_for(e.endpoint, **values), _text(e.label), request.endpoint == e.endpoint)
        for e in entries
        if e.roles is None or roles & e.roles
    ]


def portal_items(tenant) -> list[Item]:
    return _items(_PORTAL, lambda p: {p.role_on(tenant.id) or ""}, tenant_id=tenant.id)


def console_items() -> list[Item]:
    return _items(_CONSOLE, lambda p: set(p.roles))
