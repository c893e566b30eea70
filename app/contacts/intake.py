"""Contacts coming in: routing a new contact to a queue, taking in one (idempotent by
external_id) or a historical batch (read from CSV or JSON lines), and numbering each end
customer's contacts.

Services take keyword arguments, return ORM objects and never commit. The SLA engine
(app.sla.service) plans each new contact's clocks. May import: app.db, app.errors, app.inputs,
app.metrics, app.contacts (models, schemas, events, service: the history and the checks intake
shares with the lifecycle actions), app.queues.models, app.sla.service, tenants (models, scoping,
service); app.contacts.service imports nothing from here.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Collection
from contextlib import nullcontext
from datetime import datetime

from marshmallow import ValidationError
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError

from app import inputs
from app.contacts import events as contact_log
from app.contacts import service as contacts_service
from app.contacts.models import PRIORITY_RANK, Contact
from app.contacts.schemas import ContactImportRowSchema
from app.db import db, utcnow
from app.errors import Conflict, Unprocessable
from app.metrics import CONTACTS_CREATED, count_on_commit
from app.queues.models import Queue
from app.sla import service as sla_service
from tenants import settings_cache
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tenants.service import Actor

# The unique key a repeated external_id runs into (named by the naming convention).
_EXTERNAL_ID_KEY = "uq_contacts_tenant_id_external_id"


def route(
    *,
    channel: str,
    category: str,
    language: str | None,
    queues: list[Queue] | None = None,
    within: Collection[uuid.UUID] | None = None,
) -> Queue:
    """Choose the queue a new contact lands in, or raise Unprocessable saying why there is none.

    Among the active queues taking the channel, those whose categories (and languages) are
    empty or include the contact's; the most specific first (a named category beats a named
    language), then the oldest queue.
    """
    candidates = [
        q
        for q in (queues if queues is not None else _active_queues())
        if channel in q.channels and (within is None or q.id in within)
    ]
    if not candidates:
        raise _unroutable(f"No active queue{_yours(within)} takes {channel} contacts.")
    by_category = [q for q in candidates if not q.categories or category in q.categories]
    if not by_category:
        raise _unroutable(
            f"No active queue{_yours(within)} takes {channel} contacts of category {category}."
        )
    by_language = [
        q for q in by_category if not q.languages or language is None or language in q.languages
    ]
    if not by_language:
        raise _unroutable(
            f"No active queue{_yours(within)} takes {channel} {category} contacts in "
            f"language {language!r}."
        )

    def rank(queue: Queue):
        named_category = bool(queue.categories)
        named_language = bool(queue.languages) and language in queue.languages
        return (-(named_category + named_language), not named_category, queue.created_at, queue.id)

    return min(by_language, key=rank)


def create(
    *,
    contact_in: dict,
    tenant: Tenant,
    actor: Actor,
    agent_queue_ids: Collection[uuid.UUID] | None = None,
    now: datetime | None = None,
    campaign_record: tuple[uuid.UUID, uuid.UUID] | None = None,
) -> tuple[Contact, bool]:
    """Take in a contact for the tenant in scope; return it and whether it is new.

    A repeated `external_id` returns the contact made the first time, even when the two
    requests race (the unique key decides). `agent_queue_ids`: the caller is an agent, who
    records outbound contacts in its own queues only. `campaign_record`: the (campaign, record)
    the contact is an attempt of (app/campaigns/dialer.py).
    """
    at = now or utcnow()
    external_id = contact_in.get("external_id")
    earlier = None
    if external_id:
        existing, earlier = _existing_and_earlier(
            external_id, contact_in, tenant_id=tenant.id, at=at
        )
        if existing is not None:
            return existing, False
    if tenant.status == "suspended":
        raise Conflict("This client firm is suspended: it takes no new contacts.")
    if agent_queue_ids is not None and contact_in.get("direction") != "outbound":
        raise Unprocessable(
            "Agents record outbound contacts; inbound ones come from the firm's integrations.",
            errors={"json": {"direction": ["Must be outbound when an agent records it."]}},
        )
    queue = _queue_for(contact_in, within=agent_queue_ids)
    contact = _new_contact(contact_in, queue=queue, at=at)
    if campaign_record is not None:
        contact.campaign_id, contact.campaign_record_id = campaign_record
    contact.customer_contact_number = (
        1 + earlier
        if earlier is not None
        else _contact_number(tenant.id, contact.customer_key, contact.received_at)
    )
    clocks = sla_service.plan_clocks(contact=contact, queue=queue, now=at)
    try:
        # Only an external id can race another request (the savepoint lets the loser answer
        # the winner's contact): without one the savepoint's two round trips buy nothing.
        with db.session.begin_nested() if external_id else nullcontext():
            db.session.add(contact)
            db.session.flush()
    except IntegrityError as exc:
        if not external_id or _EXTERNAL_ID_KEY not in str(exc.orig):
            raise
        # A concurrent request with the same external id committed first: answer its contact.
        existing = _by_external_id(external_id)
        if existing is None:
            raise Conflict(f"external_id {external_id!r} names another contact.") from exc
        return existing, False
    contacts_service.add_event(
        contact,
        action="create",
        from_status=None,
        at=at,
        actor=actor,
        details={"queue_id": str(queue.id), "routed": contact_in.get("queue_id") is None},
    )
    contact_log.created(contact, at=at)
    sla_service.start_clocks(contact=contact, planned=clocks, now=at)
    count_on_commit(
        db.session, CONTACTS_CREATED, channel=contact.channel, direction=contact.direction
    )
    return contact, True


def import_(*, rows: list[tuple[int, object]], tenant: Tenant, actor: Actor) -> list[Contact]:
    """Import historical contacts ((line, raw row) pairs) all at once, or none of them.

    Every row is validated like a single intake (plus its history), routed, and checked for a
    repeated external_id. Raises Unprocessable with a `report` naming every rejected line.
    """
    if tenant.status == "suspended":
        raise Conflict("This client firm is suspended: it takes no new contacts.")
    schema = ContactImportRowSchema()
    loaded: list[tuple[int, dict | None, dict]] = []
    for line, raw in rows:
        if isinstance(raw, RowError):
            loaded.append((line, None, {"_schema": [raw.message]}))
            continue
        # The rules every request body meets (app.inputs), row by row.
        errors = inputs.check_strings(raw)
        if errors:
            loaded.append((line, None, errors))
            continue
        try:
            row = schema.load(raw)
        except ValidationError as exc:
            loaded.append((line, None, exc.messages))
            continue
        errors = inputs.check_loaded(schema, row)
        loaded.append((line, None, errors) if errors else (line, row, {}))
    at = utcnow()
    queues = list(db.session.scalars(select(Queue)))
    active = [q for q in queues if q.is_active]
    by_id = {q.id: q for q in queues}
    report: list[dict] = []
    planned: list[tuple[int, dict, Queue]] = []
    seen: dict[str, int] = {}
    taken = _existing_external_ids([row.get("external_id") for _, row, _ in loaded if row])
    for line, row, errors in loaded:
        if row is None:
            report.append({"line": line, "errors": errors})
            continue
        external_id = row.get("external_id")
        if external_id in taken:
            errors["external_id"] = [f"Already imported as contact {taken[external_id]}."]
        elif external_id and external_id in seen:
            errors["external_id"] = [f"Repeats line {seen[external_id]}."]
        elif external_id:
            seen[external_id] = line
        queue = None
        try:
            if row.get("queue_id"):
                queue = contacts_service.named_queue(by_id.get(row["queue_id"]), row["channel"])
            else:
                queue = route(
                    channel=row["channel"],
                    category=row["category"],
                    language=row.get("language"),
                    queues=active,
                )
        except Unprocessable as exc:
            errors.update(exc.extra["errors"]["json"])
        if errors:
            report.append({"line": line, "errors": errors})
        else:
            planned.append((line, row, queue))
    if report:
        raise Unprocessable(
            f"{len(report)} of {len(rows)} rows were rejected; nothing was imported.",
            report=report,
        )
    contacts = [_new_contact(row, queue=queue, at=at, historical=True) for _, row, queue in planned]
    _number_batch(tenant.id, contacts)
    # Worked out before the contacts are stored, so that each is one INSERT with its SLA state.
    clocks = sla_service.plan_historical_clocks(contacts=contacts, queues=by_id, now=at)
    db.session.add_all(contacts)
    db.session.flush()
    db.session.add_all(clocks)
    for contact in contacts:
        contacts_service.add_event(
            contact,
            action="import",
            from_status=None,
            at=at,
            actor=actor,
            details={"received_at": contact.received_at.isoformat()},
        )
    contact_log.imported(contacts, at=at)
    db.session.flush()
    return contacts


# A batch is one transaction: keep it to what a request can do in reasonable time.
IMPORT_MAX_ROWS = 10_000
_CUSTOMER_COLUMNS = {f"customer_{k}": k for k in ("name", "email", "phone", "ref")}
_INTEGER_COLUMNS = ("compensation_amount", "csat")
_INTEGER = re.compile(r"^-?[0-9]+\Z")


class RowError:
    """A line of a batch that could not even be read as a row."""

    def __init__(self, message: str) -> None:
        self.message = message


def rows_from_csv(text: str) -> list[tuple[int, object]]:
    """Read CSV with a header row into (line, row) pairs, the way a JSON body would look.

    Empty cells are left out; `customer_name|email|phone|ref` columns make `customer`.
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows: list[tuple[int, object]] = []
    try:
        if reader.fieldnames is None:  # reads the header row; None: an empty body
            return rows
        for record in reader:
            # The line the row ends on (a quoted cell may span lines).
            line = reader.line_num
            if None in record:
                rows.append((line, RowError("More cells than the header has columns.")))
            else:
                rows.append((line, _csv_row(record)))
    except csv.Error as exc:
        rows.append((reader.line_num, RowError(f"Not valid CSV: {exc}.")))
    return rows


def _csv_row(record: dict[str, str | None]) -> dict:
    row: dict = {}
    customer: dict = {}
    for column, value in record.items():
        if value is None or value.strip() == "":
            continue
        if column in _CUSTOMER_COLUMNS:
            customer[_CUSTOMER_COLUMNS[column]] = value
        elif column in _INTEGER_COLUMNS and _INTEGER.match(value.strip()):
            row[column] = int(value)
        else:
            row[column] = value
    if customer:
        row["customer"] = customer
    return row


def rows_from_ndjson(text: str) -> list[tuple[int, object]]:
    """Read JSON lines (one object per line, blank lines skipped) into (line, row) pairs."""
    rows: list[tuple[int, object]] = []
    for line, content in enumerate(text.splitlines(), start=1):
        if not content.strip():
            continue
        try:
            value = json.loads(content)
        except ValueError as exc:
            rows.append((line, RowError(f"Not valid JSON: {exc}.")))
            continue
        except RecursionError:
            rows.append((line, RowError("Not valid JSON: nested too deeply.")))
            continue
        rows.append((line, value if isinstance(value, dict) else RowError("Not a JSON object.")))
    return rows


def customer_key(customer: dict) -> str | None:
    """Who the end customer is, for repeat counting: the firm's ref, else email, else phone."""
    if customer.get("ref"):
        return f"ref:{customer['ref']}"
    if customer.get("email"):
        return f"email:{customer['email'].lower()}"
    digits = "".join(ch for ch in customer.get("phone") or "" if ch.isdigit())
    return f"phone:{digits}" if digits else None


def _new_contact(contact_in: dict, *, queue: Queue, at: datetime, historical=False) -> Contact:
    customer = contact_in.get("customer") or {}
    received_at = contacts_service.utc(contact_in.get("received_at")) or at
    # A contact stamped a little ahead (clock skew) joins the queue now, not in the future.
    queued_at = min(received_at, at)
    contact = Contact(
        external_id=contact_in.get("external_id"),
        channel=contact_in["channel"],
        direction=contact_in.get("direction", "inbound"),
        category=contact_in["category"],
        priority=contact_in.get("priority", "normal"),
        priority_rank=PRIORITY_RANK[contact_in.get("priority", "normal")],
        language=contact_in.get("language"),
        subject=contact_in.get("subject", ""),
        body=contact_in.get("body", contact_in.get("summary", "")),
        customer_name=customer.get("name"),
        customer_email=customer.get("email"),
        customer_phone=customer.get("phone"),
        customer_ref=customer.get("ref"),
        customer_key=customer_key(customer),
        customer_contact_number=1,
        remedy_requested=contact_in.get("remedy_requested"),
        queue_id=queue.id,
        status="queued",
        status_since=queued_at,
        received_at=received_at,
        queued_at=queued_at,
        reopen_count=0,
        queued_seconds=0,
        talk_seconds=0,
        hold_seconds=0,
        acw_seconds=0,
    )
    status = contact_in.get("status", "queued")
    if historical and status != "queued":
        answered = contacts_service.utc(contact_in.get("answered_at"))
        responded = contacts_service.utc(contact_in.get("first_response_at"))
        resolved = contacts_service.utc(contact_in["resolved_at"])
        closed = contacts_service.utc(contact_in.get("closed_at"))
        first_touch = answered or responded
        contact.status = status
        contact.status_since = closed or resolved
        contact.answered_at, contact.first_response_at = answered, responded
        contact.resolved_at, contact.closed_at = resolved, closed
        contact.queued_seconds = _seconds(received_at, first_touch) if first_touch else 0
        contact.disposition = contact_in.get("disposition")
        contact.resolution_note = contact_in.get("resolution_note")
        contact.outcome = contact_in.get("outcome")
        contact.compensation_amount = contact_in.get("compensation_amount")
        contact.csat = contact_in.get("csat")
    return contact


def _queue_for(contact_in: dict, *, within: Collection[uuid.UUID] | None) -> Queue:
    queue_id = contact_in.get("queue_id")
    if queue_id is None:
        return route(
            channel=contact_in["channel"],
            category=contact_in["category"],
            language=contact_in.get("language"),
            within=within,
        )
    queue = db.session.get(Queue, queue_id) if within is None or queue_id in within else None
    return contacts_service.named_queue(queue, contact_in["channel"])


def _active_queues() -> list[Queue]:
    # Read on every contact taken in: this process's copy while the firm's settings stand.
    return settings_cache.cached("active_queues", _read_active_queues)


def _read_active_queues() -> list[Queue]:
    queues = db.session.scalars(select(Queue).where(Queue.is_active.is_(True)))
    return settings_cache.detached_copies(list(queues))


def _unroutable(reason: str) -> Unprocessable:
    return Unprocessable(
        f"{reason} Name a queue_id, or add a queue for it.",
        errors={"json": {"queue_id": [f"{reason} Name a queue."]}},
    )


def _yours(within) -> str:
    return " of yours" if within is not None else ""


# Built once, values bound per call (asked on every contact taken in).
_SAME_EXTERNAL_ID = Contact.external_id == bindparam("external_id")
_BY_EXTERNAL_ID = select(Contact).where(_SAME_EXTERNAL_ID)
_EARLIER_OF_CUSTOMER = select(func.count()).where(
    Contact.customer_key == bindparam("key"), Contact.received_at < bindparam("received_at")
)
_EXISTING_AND_EARLIER = select(
    select(Contact.id).where(_SAME_EXTERNAL_ID).scalar_subquery(),
    _EARLIER_OF_CUSTOMER.scalar_subquery(),
)


def _by_external_id(external_id: str) -> Contact | None:
    return db.session.scalar(_BY_EXTERNAL_ID, {"external_id": external_id})


def _existing_and_earlier(
    external_id: str, contact_in: dict, *, tenant_id: uuid.UUID, at: datetime
) -> tuple[Contact | None, int | None]:
    """The contact this external id already names, and how many earlier contacts the end
    customer has (None: not counted here). Both in one round trip when the scope is the firm's
    whole (an integration's, a supervisor's): an agent's scope sees only its queues, where the
    customer's earlier contacts must be counted across the firm (`_contact_number`)."""
    key = customer_key(contact_in.get("customer") or {})
    if key is None or settings_cache.single_firm() != tenant_id:
        return _by_external_id(external_id), None
    received_at = contacts_service.utc(contact_in.get("received_at")) or at
    existing_id, earlier = db.session.execute(
        _EXISTING_AND_EARLIER,
        {"external_id": external_id, "key": key, "received_at": received_at},
    ).one()
    if existing_id is not None:
        return db.session.get(Contact, existing_id), None
    return None, earlier or 0


def _existing_external_ids(external_ids: list[str | None]) -> dict[str, uuid.UUID]:
    wanted = sorted({e for e in external_ids if e})
    found: dict[str, uuid.UUID] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        rows = db.session.execute(
            select(Contact.external_id, Contact.id).where(Contact.external_id.in_(chunk))
        )
        found.update((external_id, contact_id) for external_id, contact_id in rows)
    return found


def _contact_number(tenant_id: uuid.UUID, key: str | None, received_at: datetime) -> int:
    """1 + the end customer's earlier contacts with the firm."""
    if key is None:
        return 1
    # Repeats count across all the firm's queues, also when an agent (who sees only its own
    # queues) records the contact: widen to the whole tenant for this count only.
    with tenant_scope(tenant_id):
        earlier = db.session.scalar(_EARLIER_OF_CUSTOMER, {"key": key, "received_at": received_at})
    return 1 + (earlier or 0)


def _number_batch(tenant_id: uuid.UUID, contacts: list[Contact]) -> None:
    """Number a batch's contacts per end customer, counting earlier stored ones and the batch's."""
    keys = sorted({c.customer_key for c in contacts if c.customer_key})
    stored: dict[str, list[datetime]] = defaultdict(list)
    for start in range(0, len(keys), 1000):
        rows = db.session.execute(
            select(Contact.customer_key, Contact.received_at).where(
                Contact.customer_key.in_(keys[start : start + 1000])
            )
        )
        for key, received_at in rows:
            stored[key].append(received_at)
    for contact in contacts:
        if contact.customer_key:
            stored[contact.customer_key].append(contact.received_at)
    for times in stored.values():
        times.sort()
    for contact in contacts:
        if contact.customer_key:
            times = stored[contact.customer_key]
            contact.customer_contact_number = 1 + bisect.bisect_left(times, contact.received_at)


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))
