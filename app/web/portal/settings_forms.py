"""What the settings pages share: reading a posted form the way the API reads a JSON body, and
turning a service's refusal into errors shown beside the fields (or above the form)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from flask import g, request

from app.errors import DomainError
from app.web.shell import form_errors


def form_of(*names: str, lists: tuple[str, ...] = (), blank_is_none: tuple[str, ...] = ()) -> dict:
    """The posted fields among `names` (lists: every value of a multiple field), as a JSON
    body would carry them: a field absent from the form is absent here, so a schema's
    defaults and required rules apply as they do in the API."""
    values: dict = {}
    for name in names:
        if name in request.form:
            value = request.form[name]
            values[name] = None if name in blank_is_none and not value.strip() else value
    for name in lists:
        # A group of checkboxes with none ticked is sent as nothing: the hidden marker says
        # the group was on the form, so "none" is meant.
        if name in request.form or f"{name}__present" in request.form:
            values[name] = [v for v in request.form.getlist(name) if v]
    return values


def gathered(errors: dict[str, list[str]], *lists: str) -> dict[str, list[str]]:
    """Errors of one item of a list field (`queue_ids.0`) shown beside the list's field."""
    out: dict[str, list[str]] = {}
    for key, messages in errors.items():
        head = key.split(".", 1)[0]
        out.setdefault(head if head in lists else key, []).extend(messages)
    return out


def problems_of(error: DomainError) -> dict[str, list[str]]:
    """A service's refusal as errors per field: an Unprocessable names its fields, any other
    rule (a conflict) is an error of the whole form."""
    fields = (error.extra.get("errors") or {}).get("json")
    if fields:
        return form_errors(fields)
    return {"_form": [error.detail]}


def firm_moment(value: str | None) -> str | None:
    """A `datetime-local` value (no offset) read in the firm's time zone, as ISO 8601 with its
    offset, which the API's AwareDateTime fields take; other text is left for them to refuse."""
    if not value:
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        zone = zoneinfo.ZoneInfo(getattr(g.get("tenant"), "time_zone", None) or "UTC")
        moment = moment.replace(tzinfo=zone)
    return moment.isoformat()


def local_input(moment: datetime | None) -> str:
    """A stored moment as a `datetime-local` input's value, in the firm's time zone."""
    if moment is None:
        return ""
    zone = zoneinfo.ZoneInfo(getattr(g.get("tenant"), "time_zone", None) or "UTC")
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
