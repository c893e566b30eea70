"""The do-not-contact registers: a firm's own and the BPO's, their entries (a phone number's
digits or a lower-cased e-mail address), and the condition that keeps a register's people out of
every campaign's offers, whenever they were added.

Services take keyword arguments and never commit; the firm's register is the one in scope.
May import: app.db, app.errors, app.campaigns.models, tenants (scoping, service).
"""

from __future__ import annotations

import re
import uuid

import phonenumbers
from sqlalchemy import ColumnElement, Select, and_, exists, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.campaigns.models import BpoDoNotContact, CampaignRecord, DoNotContact
from app.db import db
from app.errors import Conflict, Unprocessable
from tenants.models import Tenant
from tenants.scoping import unscoped
from tenants.service import Actor, auditor, record_audit

# Fewer digits than this is not a phone number anyone can be called on.
MIN_PHONE_DIGITS = 6
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_audit = auditor("do_not_contact", summary=lambda entry: {"kind": entry.kind})


def phone_digits(phone: str | None) -> str | None:
    """The bare digits of a phone number; None if none."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return digits or None


def phone_key(phone: str | None, *, region: str | None = None) -> str | None:
    """A phone number as registers and records compare it: its international number's digits
    (E.164 without the +) when it reads as one, written internationally ("+34 600...",
    "0034 600...") or nationally in `region` (the customer's country: "600 11 22 33" in ES);
    else its bare digits. So the same person is one entry however a list wrote them."""
    digits = phone_digits(phone)
    if digits is None:
        return None
    try:
        number = phonenumbers.parse(phone, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return digits
    if not phonenumbers.is_possible_number(number):
        return digits
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def region_of(locale: str | None) -> str | None:
    """The country of a locale such as es-ES or es_PE (None for a bare language)."""
    parts = (locale or "").replace("_", "-").split("-")
    return parts[1].upper() if len(parts) > 1 and len(parts[1]) == 2 else None


def normalise(*, kind: str, value: str, region: str | None = None) -> str:
    """The register's form of an entry, or Unprocessable saying why it is no phone or e-mail;
    a phone written nationally is read in `region`."""
    if kind == "phone":
        digits = phone_key(value, region=region) or ""
        if len(digits) < MIN_PHONE_DIGITS:
            raise Unprocessable(
                "Invalid input: value.",
                errors={"json": {"value": [f"A phone number has {MIN_PHONE_DIGITS}+ digits."]}},
            )
        return digits
    address = value.strip().lower()
    if not _EMAIL.match(address):
        raise Unprocessable(
            "Invalid input: value.", errors={"json": {"value": ["Not an e-mail address."]}}
        )
    return address


def blocked(record=CampaignRecord) -> ColumnElement[bool]:
    """Whether a record's phone or e-mail is on the firm's register or the BPO's (SQL)."""

    def on(table) -> ColumnElement[bool]:
        return exists().where(
            or_(
                and_(table.kind == "phone", table.value == record.phone_digits),
                and_(table.kind == "email", table.value == record.email_lower),
            ),
            *([table.tenant_id == record.tenant_id] if table is DoNotContact else []),
        )

    return or_(on(DoNotContact), on(BpoDoNotContact))


def listed(*, phones: set[str], emails: set[str]) -> set[tuple[str, str]]:
    """Which of these phone digits and e-mail addresses either register names, as (kind,
    value) pairs: a few statements for a whole list."""
    found: set[tuple[str, str]] = set()
    for kind, values in (("phone", sorted(phones)), ("email", sorted(emails))):
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            for table in (DoNotContact, BpoDoNotContact):
                found.update(
                    (kind, value)
                    for value in db.session.scalars(
                        select(table.value).where(table.kind == kind, table.value.in_(chunk))
                    )
                )
    return found


_CHUNK = 1000


def list_entries(*, bpo: bool = False, kind: str | None = None, q: str | None = None) -> Select:
    """The firm's register in scope (or the BPO's), newest first."""
    table = BpoDoNotContact if bpo else DoNotContact
    stmt = select(table).order_by(table.created_at.desc(), table.id)
    if kind:
        stmt = stmt.where(table.kind == kind)
    if q:
        stmt = stmt.where(table.value.contains(q.strip().lower(), autoescape=True))
    return stmt


def get_entry(*, entry_id: uuid.UUID, bpo: bool = False):
    return db.session.get(BpoDoNotContact if bpo else DoNotContact, entry_id)


def add(
    *,
    kind: str,
    value: str,
    reason: str = "",
    source: str = "manual",
    actor: Actor,
    tenant_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    region: str | None = None,
):
    """Add an entry to the firm's register (`tenant_id`, in scope) or, without one, to the
    BPO's; an entry already there is answered as it is (Conflict if asked by hand). The
    records it names stop being offered at once; those still pending are marked. A phone
    written nationally is read in `region`, by default the firm's country (its locale's)."""
    if region is None and tenant_id is not None:
        tenant = db.session.get(Tenant, tenant_id)
        region = region_of(tenant.locale if tenant is not None else None)
    normal = normalise(kind=kind, value=value, region=region)
    table = DoNotContact if tenant_id else BpoDoNotContact
    existing = db.session.scalar(select(table).where(table.kind == kind, table.value == normal))
    if existing is not None:
        if source == "manual":
            raise Conflict("This entry is already on the register.", entry_id=str(existing.id))
        return existing
    entry = table(kind=kind, value=normal, reason=reason, source=source)
    entry.added_by_user_id = actor.user_id
    if tenant_id:
        entry.contact_id = contact_id
    try:
        with db.session.begin_nested():
            db.session.add(entry)
            db.session.flush()
    except IntegrityError as exc:  # the same entry added concurrently
        raise Conflict("This entry is already on the register.") from exc
    _mark_records(kind=kind, value=normal, everywhere=tenant_id is None)
    if tenant_id:
        _audit(entry, "do_not_contact.added", actor, {"source": source})
    else:
        _audit_bpo(entry, "do_not_contact.bpo_added", actor, {"source": source})
    return entry


def remove(*, entry, actor: Actor) -> None:
    """Take an entry off its register (a mistake put it there): its records stay as they are."""
    db.session.delete(entry)
    db.session.flush()
    if isinstance(entry, DoNotContact):
        _audit(entry, "do_not_contact.removed", actor)
    else:
        _audit_bpo(entry, "do_not_contact.bpo_removed", actor)


def _audit_bpo(entry: BpoDoNotContact, action: str, actor: Actor, details=None) -> None:
    # The BPO's register is its own: its trail belongs to no firm.
    with unscoped():
        record_audit(
            actor=actor,
            action=action,
            target_type="do_not_contact",
            target_id=entry.id,
            details={"kind": entry.kind, **(details or {})},
        )


def _mark_records(*, kind: str, value: str, everywhere: bool) -> None:
    """Mark the pending records the entry names (every firm's for the BPO's register)."""
    column = CampaignRecord.phone_digits if kind == "phone" else CampaignRecord.email_lower
    stmt = (
        update(CampaignRecord)
        .where(column == value, CampaignRecord.state == "pending")
        .values(state="do_not_contact", next_attempt_at=None, window_closes_at=None)
        .execution_options(synchronize_session=False)
    )
    if everywhere:
        with unscoped():
            db.session.execute(stmt)
    else:
        db.session.execute(stmt)
