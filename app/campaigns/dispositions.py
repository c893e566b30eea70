"""The end of a campaign's attempt: the agent's disposition ends the contact (resolved when the
customer was reached, closed as `unreached` when not), moves the record on (done, a retry after
its delay, a call-back, exhausted at the attempt limit, or onto the firm's do-not-contact
register) and bills the attempt by the campaign's terms on the rate card.

Services take keyword arguments and never commit; the firm in scope.
May import: app.db, app.errors, app.campaigns (models, register, service, window),
app.contacts (models, service, lifecycle), billing.service, tenants.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from app.campaigns import register
from app.campaigns import service as campaigns_service
from app.campaigns import window as windows
from app.campaigns.models import Campaign, CampaignRecord
from app.contacts import service as contacts_service
from app.contacts.lifecycle import ASYNCHRONOUS_CHANNELS, HELD_STATUSES
from app.contacts.models import Contact
from app.db import db, utcnow
from app.errors import Conflict, Unprocessable
from billing import service as billing_service
from tenants.models import Tenant
from tenants.service import Actor

# How far ahead a call-back may be set.
CALLBACK_HORIZON = timedelta(days=60)


def dispose(
    *,
    contact: Contact,
    disposition_in: dict,
    tenant: Tenant,
    actor: Actor,
    agent_id: uuid.UUID,
    now: datetime | None = None,
) -> CampaignRecord:
    """End the agent's (locked) attempt with its disposition; return the record as it is now."""
    at = now or utcnow()
    if contact.campaign_record_id is None:
        raise Conflict("This contact is no campaign attempt: resolve it instead.")
    if contact.agent_id != agent_id or contact.status not in HELD_STATUSES:
        raise Conflict(
            "Only the agent holding an attempt records its disposition.",
            contact_status=contact.status,
        )
    record = db.session.scalar(
        select(CampaignRecord)
        .where(CampaignRecord.id == contact.campaign_record_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    campaign = db.session.get(Campaign, contact.campaign_id)
    code = disposition_in["code"]
    chosen = campaigns_service.disposition(campaign, code)
    if chosen is None:
        codes = ", ".join(d["code"] for d in campaign.dispositions)
        raise _invalid("code", f"Not one of the campaign's dispositions ({codes}).")
    callback_at = disposition_in.get("callback_at")
    if callback_at is not None:
        _check_callback(record=record, campaign=campaign, chosen=chosen, at=at, when=callback_at)
    _end_contact(
        contact=contact,
        chosen=chosen,
        note=disposition_in.get("note") or "",
        tenant=tenant,
        actor=actor,
        agent_id=agent_id,
        at=at,
    )
    first_reach = bool(chosen.get("reached")) and record.reached_at is None
    _move_record(
        record=record,
        campaign=campaign,
        chosen=chosen,
        at=at,
        callback_at=callback_at,
        callback_agent_id=agent_id if disposition_in.get("callback_for", "me") == "me" else None,
    )
    if chosen.get("do_not_contact"):
        for kind, value in (("phone", record.phone), ("email", record.email)):
            if value:
                register.add(
                    kind=kind,
                    value=value,
                    reason=f"Asked during an attempt of {campaign.name}.",
                    source="disposition",
                    actor=actor,
                    tenant_id=tenant.id,
                    contact_id=contact.id,
                    region=record.country,
                )
    billing_service.record_attempt_usage(contact=contact, first_reach=first_reach, at=at)
    db.session.flush()
    return record


def _end_contact(
    *,
    contact: Contact,
    chosen: dict,
    note: str,
    tenant: Tenant,
    actor: Actor,
    agent_id: uuid.UUID,
    at: datetime,
) -> None:
    """Reached: answered (or responded to) if not yet, then resolved with the disposition's
    code. Not reached: closed from assigned (an attempt already answered is resolved)."""

    def act(action: str, action_in: dict) -> None:
        contacts_service.act(
            contact=contact,
            action=action,
            action_in=action_in,
            tenant=tenant,
            actor=actor,
            acting_agent_id=agent_id,
            now=at,
            by_disposition=True,
        )

    if contact.status in ("on_hold", "waiting_customer", "escalated"):
        act("resume", {})
    if contact.status == "assigned" and not chosen.get("reached"):
        contact.disposition = chosen["code"]
        act("unreached", {"note": note or None})
        return
    if contact.status == "assigned":
        act("respond" if contact.channel in ASYNCHRONOUS_CHANNELS else "answer", {})
    act("resolve", {"disposition": chosen["code"], "resolution_note": note})


def _move_record(
    *,
    record: CampaignRecord,
    campaign: Campaign,
    chosen: dict,
    at: datetime,
    callback_at: datetime | None,
    callback_agent_id: uuid.UUID | None,
) -> None:
    record.current_contact_id = None
    record.last_disposition = chosen["code"]
    if chosen.get("reached") and record.reached_at is None:
        record.reached_at = at
    if chosen.get("success") and record.succeeded_at is None:
        record.succeeded_at = at
    if chosen.get("do_not_contact"):
        record.state = "do_not_contact"
        return
    if campaign.state == "finished":
        record.state = "closed"
        return
    if callback_at is not None:
        # A call-back the customer asked for is kept even past the attempt limit.
        record.state = "pending"
        record.callback_at, record.callback_agent_id = callback_at, callback_agent_id
        campaigns_service.plan(record=record, campaign=campaign, not_before=callback_at)
        return
    if not chosen.get("retry"):
        record.state = "done"
        return
    if record.attempts >= campaign.max_attempts:
        record.state = "exhausted"
        return
    delay = chosen.get("retry_after_minutes") or campaign.retry_delay_minutes
    record.state = "pending"
    record.retry_after = at + timedelta(minutes=delay)
    campaigns_service.plan(record=record, campaign=campaign, not_before=record.retry_after)


def _check_callback(
    *, record: CampaignRecord, campaign: Campaign, chosen: dict, at: datetime, when: datetime
) -> None:
    if chosen.get("do_not_contact"):
        raise _invalid(
            "callback_at", "A customer who asked not to be contacted is not called back."
        )
    if not at < when <= at + CALLBACK_HORIZON:
        raise _invalid("callback_at", "Must be in the future, within 60 days.")
    window = campaigns_service.window_of(campaign)
    if not windows.is_open(window=window, zone=record.time_zone, country=record.country, at=when):
        opening = windows.next_opening(
            window=window, zone=record.time_zone, country=record.country, not_before=when
        )
        hint = f" The next opening is {opening[0].isoformat()}." if opening else ""
        raise _invalid(
            "callback_at",
            "Outside the customer's calling window (their local time, weekdays and public "
            f"holidays of their country).{hint}",
        )


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(f"Invalid input: {field}. {message}", errors={"json": {field: [message]}})
