"""A campaign's attempt on the desk: the campaign's brief, the customer in their own time, the
script with the record's fields filled in, and the disposition form that ends the attempt
(app.campaigns.dispositions does the ending; this module only reads and presents).

May import: app.campaigns (models, service, window, dispositions, schemas), app.web.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape
from marshmallow import ValidationError

from app.campaigns import dispositions
from app.campaigns import service as campaigns_service
from app.campaigns import window as windows
from app.campaigns.models import Campaign, CampaignRecord
from app.campaigns.schemas import DispositionInSchema
from app.contacts.models import Contact
from app.db import db, utcnow
from app.errors import DomainError
from app.web.shell import form_errors

# What the agent may still do to an attempt by hand; it ends only by its disposition.
ATTEMPT_ACTIONS = ("answer", "hold", "resume")
# A placeholder of the script: `{name}`, `{plan}`.
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]+)\}")
# How the customer's clock reads (weekday, day, month, time): the same words in both languages.
_LOCAL_FORMAT = "EEE d MMM, HH:mm"


def fill_script(script: str, values: dict) -> Markup:
    """The script as HTML: every placeholder the record has a value for replaced by it (marked),
    the rest left as typed; everything escaped, line breaks kept."""
    parts: list[Markup] = []
    last = 0
    script = script.replace("\r\n", "\n")
    for match in _PLACEHOLDER.finditer(script):
        parts.append(escape(script[last : match.start()]))
        value = values.get(match.group(1))
        if value is None or value == "":
            parts.append(escape(match.group(0)))
        else:
            parts.append(Markup('<mark class="script-field">{}</mark>').format(str(value)))
        last = match.end()
    parts.append(escape(script[last:]))
    return Markup("<br>\n").join(Markup("").join(parts).split("\n"))


def script_values(record: CampaignRecord) -> dict:
    """What the script's placeholders may name: the record's own fields and those its list
    brought (the record's own win)."""
    own = {
        "name": record.name,
        "phone": record.phone,
        "email": record.email,
        "ref": record.customer_ref,
        "customer_ref": record.customer_ref,
    }
    return {**(record.fields or {}), **{k: v for k, v in own.items() if v}}


def local_time(at: datetime, zone: str) -> str:
    """An instant on the customer's clock, in the reader's language."""
    return format_datetime(at, _LOCAL_FORMAT, tzinfo=ZoneInfo(zone), locale=get_locale())


def attempt_context(contact: Contact) -> dict | None:
    """What the workspace shows of a campaign's attempt; None for any other contact."""
    if contact.campaign_record_id is None:
        return None
    campaign = db.session.get(Campaign, contact.campaign_id)
    record = db.session.get(CampaignRecord, contact.campaign_record_id)
    if campaign is None or record is None:
        return None
    return {
        "campaign": campaign,
        "record": record,
        "local_now": local_time(utcnow(), record.time_zone),
        "zone": record.time_zone,
        "script": fill_script(campaign.script or "", script_values(record)),
        "dispositions": campaign.dispositions,
        "last": _label_of(campaign, record.last_disposition),
    }


def _label_of(campaign: Campaign, code: str | None) -> str | None:
    """A disposition's label as the campaign names it (its code if the campaign dropped it)."""
    if not code:
        return None
    chosen = campaigns_service.disposition(campaign, code)
    return chosen["label"] if chosen else code


def _local_instant(text: str, zone: str) -> datetime:
    """A date and time typed on the customer's clock (datetime-local) as an aware instant."""
    try:
        typed = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        typed = None
    if typed is None or typed.tzinfo is not None:
        raise ValidationError(
            {"callback_at": [_("Give a date and a time, such as 2026-12-07 10:30.")]}
        )
    return typed.replace(tzinfo=ZoneInfo(zone))


def load(values: dict, record: CampaignRecord) -> dict:
    """The form as the API's disposition input (a call-back read on the customer's clock)."""
    if not values.get("code"):
        raise ValidationError({"code": [_("Choose how the attempt ended.")]})
    given = {"code": values["code"], "note": values.get("note", "")}
    if values.get("callback_at"):
        given["callback_at"] = _local_instant(values["callback_at"], record.time_zone).isoformat()
        given["callback_for"] = values.get("callback_for") or "me"
    return DispositionInSchema().load(given)


def _callback_said(record: CampaignRecord, campaign: Campaign, when: datetime) -> str:
    """Why a call-back time was refused, in the agent's language, with the customer's next
    opening on their own clock when the time fell outside their window."""
    at = utcnow()
    if not at < when <= at + dispositions.CALLBACK_HORIZON:
        return _("Choose a time in the future, within 60 days.")
    window = campaigns_service.window_of(campaign)
    if windows.is_open(window=window, zone=record.time_zone, country=record.country, at=when):
        return ""
    opening = windows.next_opening(
        window=window, zone=record.time_zone, country=record.country, not_before=when
    )
    if opening is None:
        return _("Outside the customer's calling window, and no later opening is left.")
    return _(
        "Outside the customer's calling window. The next opening is %(when)s (%(zone)s).",
        when=local_time(opening[0], record.time_zone),
        zone=record.time_zone,
    )


def errors_of(error: DomainError, loaded: dict | None, contact: Contact) -> dict:
    """A refused disposition's errors by field, a call-back's said in the agent's language."""
    fields = (error.extra.get("errors") or {}).get("json")
    if not fields:
        return {"_form": [error.detail]}
    errors = form_errors(fields)
    if "callback_at" in errors and loaded and loaded.get("callback_at"):
        record = db.session.get(CampaignRecord, contact.campaign_record_id)
        campaign = db.session.get(Campaign, contact.campaign_id)
        said = _callback_said(record, campaign, loaded["callback_at"])
        if said:
            errors["callback_at"] = [said]
    return errors
