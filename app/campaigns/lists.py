"""Loading a list into a campaign: each row checked like a contacts import row (all of the
list, or none of it, with every refused line named), the customer's zone and country worked
out, duplicates within the list and across the campaign's lists merged into one record, and
the rows on a do-not-contact register kept but never offered.

Services take keyword arguments and never commit; the firm in scope.
May import: app.db, app.errors, app.inputs, app.campaigns (models, register, service, window,
schemas), app.contacts.intake (reading rows), tenants.service.
"""

from __future__ import annotations

from datetime import datetime

from marshmallow import ValidationError
from sqlalchemy import select

from app import inputs
from app.campaigns import register
from app.campaigns import service as campaigns_service
from app.campaigns import window as windows
from app.campaigns.models import Campaign, CampaignList, CampaignRecord
from app.campaigns.schemas import RecordRowSchema
from app.contacts.intake import IMPORT_MAX_ROWS, RowError
from app.db import db, utcnow
from app.errors import Conflict, Unprocessable
from tenants.service import Actor, auditor

MAX_ROWS = IMPORT_MAX_ROWS
_KNOWN = frozenset(RecordRowSchema().fields) - {"fields_"} | {"fields"}
# What a channel needs of a customer to reach them.
_NEEDS = {"voice": ("phone",), "email": ("email",)}
_FILLABLE = ("name", "phone", "email", "customer_ref", "language")

_audit = auditor("campaign", summary=lambda campaign: {"name": campaign.name})


def dedupe_key(row: dict) -> str | None:
    """Who the customer is, as the contacts' customer_key: the firm's ref, else e-mail, else
    the phone's digits."""
    if row.get("customer_ref"):
        return f"ref:{row['customer_ref']}"
    if row.get("email"):
        return f"email:{row['email'].lower()}"
    digits = register.phone_key(row.get("phone"), region=row.get("country"))
    return f"phone:{digits}" if digits else None


def load(
    *,
    campaign: Campaign,
    name: str,
    rows: list[tuple[int, object]],
    actor: Actor,
    now: datetime | None = None,
) -> CampaignList:
    """Load (line, raw row) pairs into the campaign; Unprocessable with a `report` of every
    refused line, and nothing loaded, if any row is refused."""
    at = now or utcnow()
    if campaign.state == "finished":
        raise Conflict("This campaign has finished: it takes no more lists.")
    if len(rows) > MAX_ROWS:
        raise Unprocessable(f"A list holds at most {MAX_ROWS} rows; split it.")
    checked, report = [], []
    for line, raw in rows:
        row, errors = _check_row(raw, channel=campaign.channel)
        if errors:
            report.append({"line": line, "errors": errors})
        else:
            checked.append((line, row))
    if report:
        raise Unprocessable(
            f"{len(report)} of {len(rows)} rows were refused; nothing was loaded.",
            report=report,
        )
    merged: dict[str, dict] = {}
    for _line, row in checked:
        key = row["dedupe_key"]
        if key in merged:
            _fill(merged[key], row)
        else:
            merged[key] = row
    existing = {
        record.dedupe_key: record
        for record in db.session.scalars(
            select(CampaignRecord).where(
                CampaignRecord.campaign_id == campaign.id,
                CampaignRecord.dedupe_key.in_(sorted(merged)),
            )
        )
    }
    batch = CampaignList(
        campaign_id=campaign.id,
        name=name,
        rows=len(rows),
        added=0,
        merged=len(checked) - len(merged),
        blocked=0,
        loaded_at=at,
        loaded_by_user_id=actor.user_id,
    )
    db.session.add(batch)
    db.session.flush()
    blocked = _blocked(merged.values())
    for key, row in merged.items():
        record = existing.get(key)
        if record is not None:
            _fill_record(record, row)
            batch.merged += 1
            continue
        record = CampaignRecord(
            campaign_id=campaign.id,
            list_id=batch.id,
            dedupe_key=key,
            **{f: row.get(f) for f in _FILLABLE},
            phone_digits=register.phone_key(row.get("phone"), region=row["country"]),
            email_lower=(row.get("email") or "").lower() or None,
            time_zone=row["time_zone"],
            country=row["country"],
            fields=row["fields"],
            state="pending",
            attempts=0,
        )
        if key in blocked:
            record.state = "do_not_contact"
            batch.blocked += 1
        elif campaign.state == "running":
            campaigns_service.plan(record=record, campaign=campaign, not_before=at)
        db.session.add(record)
        batch.added += 1
    db.session.flush()
    _audit(
        campaign,
        "campaign.list_loaded",
        actor,
        {"list_id": str(batch.id), "added": batch.added, "merged": batch.merged},
    )
    return batch


def _check_row(raw, *, channel: str) -> tuple[dict, dict]:
    """The row loaded and completed (zone, country, key), or its errors by field."""
    if isinstance(raw, RowError):
        return {}, {"_schema": [raw.message]}
    errors = inputs.check_strings(raw)
    if errors:
        return {}, errors
    # Columns the list names beyond the known ones are the script's fields.
    extra = {k: v for k, v in raw.items() if k not in _KNOWN}
    given = {k: v for k, v in raw.items() if k in _KNOWN}
    if not isinstance(given.get("fields", {}), dict):
        return {}, {"fields": ["Must be an object of the script's fields."]}
    given["fields"] = {**extra, **given.get("fields", {})}
    try:
        row = RecordRowSchema().load(given)
    except ValidationError as exc:
        return {}, exc.messages
    row["fields"] = row.pop("fields_")
    errors = {}
    if any(not isinstance(v, str | int | float | bool) for v in row["fields"].values()):
        errors["fields"] = ["A script field is a text, a number or true/false."]
    for need in _NEEDS.get(channel, ()):
        if not row.get(need):
            errors[need] = [f"A {channel} campaign needs the customer's {need}."]
    if not row.get("phone") and not row.get("email"):
        errors["phone"] = ["Give the customer's phone or e-mail."]
    if row.get("phone") and len(register.phone_digits(row["phone"]) or "") < 6:
        errors["phone"] = ["A phone number has 6 or more digits."]
    try:
        row["time_zone"], row["country"] = windows.resolve_zone(
            time_zone=row.get("time_zone"), country=row.get("country")
        )
    except windows.ZoneError as exc:
        errors["time_zone" if row.get("time_zone") else "country"] = [str(exc)]
    if errors:
        return {}, errors
    row["dedupe_key"] = dedupe_key(row)
    return row, {}


def _fill(kept: dict, row: dict) -> None:
    """Merge a repeated row into the one kept: its blanks filled, its script fields added to."""
    for name in _FILLABLE:
        if not kept.get(name) and row.get(name):
            kept[name] = row[name]
    kept["fields"] = {**row["fields"], **kept["fields"]}


def _fill_record(record: CampaignRecord, row: dict) -> None:
    """Merge a row into a record an earlier list made: blanks filled, attempts untouched."""
    for name in _FILLABLE:
        if not getattr(record, name) and row.get(name):
            setattr(record, name, row[name])
    record.phone_digits = register.phone_key(record.phone, region=record.country)
    record.email_lower = (record.email or "").lower() or None
    record.fields = {**row["fields"], **(record.fields or {})}


def _blocked(rows) -> set[str]:
    """The keys of the rows whose phone or e-mail a register names."""
    rows = list(rows)
    phones = {_key(row) for row in rows} - {None}
    emails = {(row.get("email") or "").lower() for row in rows} - {""}
    listed = register.listed(phones=phones, emails=emails)
    return {
        row["dedupe_key"]
        for row in rows
        if ("phone", _key(row)) in listed or ("email", (row.get("email") or "").lower()) in listed
    }


def _key(row: dict) -> str | None:
    return register.phone_key(row.get("phone"), region=row.get("country"))
