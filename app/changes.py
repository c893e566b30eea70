"""Changing a record's fields from what a client sent, and auditing the change: the one way every
CRUD resource's service does it (queues, briefings, departments, SLA policies, webhook endpoints,
tenants). Imports no domain: each domain passes its own audit function, which writes the row.

The audit rows are the house's: `<kind>.updated` with `{"changed": [field names, sorted]}`, and
`<kind>.activated` / `<kind>.deactivated` for the active flag, each with whatever the domain's
audit function adds (say, the record's name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# audit(record, action, actor, details): appends one audit row about `record`.
Audit = Callable[..., object]


@dataclass(frozen=True)
class Change:
    """One field's value before and after."""

    old: Any
    new: Any


def diff(record: object, values: Mapping[str, Any]) -> dict[str, Change]:
    """Return the fields of `values` that differ from the record's, old -> new."""
    changes = {}
    for key, new in values.items():
        old = getattr(record, key)
        if old != new:
            changes[key] = Change(old, new)
    return changes


def apply(
    record: object, values: Mapping[str, Any], *, kind: str, actor: object, audit: Audit
) -> dict[str, Change]:
    """Set each of `values` that differs on the record and, when any did, audit
    `<kind>.updated` with the names changed; return the changes (old -> new). Never flushes."""
    changes = diff(record, values)
    for key, change in changes.items():
        setattr(record, key, change.new)
    if changes:
        audit(record, f"{kind}.updated", actor, {"changed": sorted(changes)})
    return changes


def set_active(
    record: object, active: bool | None, *, kind: str, actor: object, audit: Audit
) -> bool:
    """(De)activate the record unless `active` is None or already so, auditing
    `<kind>.activated` or `<kind>.deactivated`; return whether it changed. Never flushes."""
    if active is None or active == record.is_active:
        return False
    record.is_active = active
    audit(record, f"{kind}.activated" if active else f"{kind}.deactivated", actor)
    return True
