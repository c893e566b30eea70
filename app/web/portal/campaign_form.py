"""Setting a firm's outbound campaign up in the portal, and changing it: every field of the API's
body on one form, its dispositions as rows of one table (errors beside each row's field), its
blend with inbound work shown only to the BPO's staff, who alone may set it. The campaigns
service checks what the schema cannot (the queue, the window, the dispositions)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from app.auth.permissions import CAMPAIGN_ADMIN, CAMPAIGN_BLEND
from app.auth.principal import check, current_actor
from app.campaigns import service as campaigns_service
from app.campaigns.models import BLENDS, PURPOSES
from app.campaigns.schemas import CampaignCreateSchema, CampaignUpdateSchema
from app.db import db
from app.errors import Conflict, DomainError
from app.queues import service as queues_service
from app.vocabulary import CATEGORIES, CHANNELS
from app.web import labels
from app.web.portal.blueprint import bp
from app.web.portal.settings_forms import form_of
from app.web.shell import form_errors, render

BLANK_ROWS = 3
MAX_ROWS = 50
ROW_FIELDS = ("code", "label", "retry_after_minutes")
ROW_BOXES = ("reached", "success", "retry", "do_not_contact")
_FIELDS = (
    "name",
    "purpose",
    "channel",
    "category",
    "queue_id",
    "script",
    "window_start",
    "window_end",
    "max_attempts",
    "retry_delay_minutes",
    "starts_on",
    "ends_on",
    "blend",
    "share",
)
_ROW_ERROR = re.compile(r"^dispositions\.(\d+)\.(\w+)$")


def may_blend() -> bool:
    """Whether the caller may set how a campaign blends with inbound work (the BPO's staff)."""
    return g.principal.role_on(g.tenant.id) in CAMPAIGN_BLEND.roles


def campaign_or_404(campaign_id):
    """The firm's campaign (an agent: one of its queues'), or the 404 page."""
    campaign = campaigns_service.get_campaign(campaign_id=campaign_id)
    principal = g.principal
    if campaign is not None and principal.role_on(g.tenant.id) == "agent":
        if campaign.queue_id not in principal.queue_ids:
            campaign = None
    if campaign is None:
        abort(404)
    return campaign


def _typed_of(campaign=None) -> dict:
    """The form's values: the campaign's, or a new campaign's defaults."""
    if campaign is None:
        return {
            "purpose": "sales",
            "channel": "voice",
            "category": "order_request",
            "weekdays": ["1", "2", "3", "4", "5"],
            "window_start": "09:00",
            "window_end": "20:00",
            "skip_holidays": True,
            "max_attempts": "3",
            "retry_delay_minutes": "120",
            "blend": "inbound_first",
        }
    typed = {name: getattr(campaign, name) for name in _FIELDS if hasattr(campaign, name)}
    typed |= {
        "queue_id": str(campaign.queue_id),
        "weekdays": [str(day) for day in campaign.weekdays],
        "skip_holidays": campaign.skip_holidays,
        "max_attempts": str(campaign.max_attempts),
        "retry_delay_minutes": str(campaign.retry_delay_minutes),
        "starts_on": campaign.starts_on.isoformat(),
        "ends_on": campaign.ends_on.isoformat() if campaign.ends_on else "",
        "share": _percent_of(campaign.share_bps),
    }
    return typed


def _percent_of(bps: int | None) -> str:
    if bps is None:
        return ""
    return str(Decimal(bps) / 100).rstrip("0").rstrip(".") if bps % 100 else str(bps // 100)


def _rows_of(campaign) -> list[dict]:
    return [
        {
            "code": d["code"],
            "label": d["label"],
            "retry_after_minutes": str(d.get("retry_after_minutes") or ""),
            **{box: bool(d.get(box)) for box in ROW_BOXES},
        }
        for d in campaign.dispositions
    ]


def _posted_rows() -> list[dict]:
    try:
        count = min(int(request.form.get("rows", "0") or 0), MAX_ROWS)
    except ValueError:
        count = 0
    rows = []
    for n in range(count):
        row = {name: request.form.get(f"row-{n}-{name}", "").strip() for name in ROW_FIELDS}
        row |= {box: request.form.get(f"row-{n}-{box}") == "on" for box in ROW_BOXES}
        rows.append(row)
    return rows


def _posted_typed() -> dict:
    typed = {name: request.form.get(name, "").strip() for name in _FIELDS}
    typed["script"] = request.form.get("script", "")
    typed["weekdays"] = request.form.getlist("weekdays")
    typed["skip_holidays"] = request.form.get("skip_holidays") == "on"
    return typed


def _share_bps(text: str):
    """A percentage as typed (`30`, `12.5`, `12,5`) in basis points; other text as is (the
    schema says what is wrong with it)."""
    try:
        scaled = Decimal(text.replace(",", ".").strip()) * 100
    except InvalidOperation:
        return text
    return int(scaled) if scaled == scaled.to_integral_value() else text


def _body(typed: dict, rows: list[dict], *, new: bool) -> tuple[dict, dict[int, int]]:
    """The API's body from the form, and which row each disposition came from (blank rows
    are left out): a blank optional field is left out too, so the schema's default applies."""
    body = form_of(
        "name", "purpose", "category", "queue_id", "window_start", "window_end", "starts_on"
    )
    body = {key: value.strip() for key, value in body.items()}
    body["script"] = typed["script"]
    body["weekdays"] = typed["weekdays"]
    body["skip_holidays"] = typed["skip_holidays"]
    for name in ("max_attempts", "retry_delay_minutes"):
        if typed[name]:
            body[name] = typed[name]
    body["ends_on"] = typed["ends_on"] or None
    if new:
        body["channel"] = typed["channel"]
    if may_blend():
        body["blend"] = typed["blend"] or "inbound_first"
        body["share_bps"] = _share_bps(typed["share"]) if typed["share"] else None
    dispositions, places = [], {}
    for n, row in enumerate(rows):
        if not (row["code"] or row["label"]):
            continue  # a blank row
        places[len(dispositions)] = n
        disposition = {"code": row["code"], "label": row["label"]}
        disposition |= {box: row[box] for box in ROW_BOXES}
        disposition["retry_after_minutes"] = row["retry_after_minutes"] or None
        dispositions.append(disposition)
    body["dispositions"] = dispositions
    return body, places


def _row_errors(errors: dict[str, list[str]], places: dict[int, int]) -> dict[str, list[str]]:
    """`dispositions.1.code` -> `row-3-code`; `share_bps` -> `share` (typed as a percentage)."""
    out: dict[str, list[str]] = {}
    for key, messages in errors.items():
        match = _ROW_ERROR.match(key)
        if match and int(match[1]) in places:
            key = f"row-{places[int(match[1])]}-{match[2]}"
        elif key.startswith("weekdays."):
            key = "weekdays"
        elif key == "share_bps":
            key = "share"
        out.setdefault(key, []).extend(messages)
    return out


def _page(campaign, *, typed: dict, rows: list[dict], errors=None, status=200):
    rows = rows + [
        dict.fromkeys(ROW_FIELDS, "") | dict.fromkeys(ROW_BOXES, False) for _n in range(BLANK_ROWS)
    ]
    channel = campaign.channel if campaign is not None else None
    queues = [
        q
        for q in db.session.scalars(queues_service.list_()).all()
        if (q.is_active or (campaign is not None and q.id == campaign.queue_id))
        and (channel is None or channel in q.channels)
    ]
    queue_options = [
        (
            str(q.id),
            f"{q.name} ({', '.join(labels.label(c, 'channel') for c in q.channels)})",
        )
        for q in queues
    ]
    return (
        render(
            "portal/campaign_form.html",
            firm=g.tenant,
            campaign=campaign,
            typed=typed,
            rows=rows,
            errors=errors or {},
            may_blend=may_blend(),
            purpose_options=labels.options("campaign_purpose", PURPOSES),
            channel_options=labels.options("channel", CHANNELS),
            category_options=labels.options("category", CATEGORIES),
            blend_options=labels.options("campaign_blend", BLENDS),
            queue_options=queue_options,
            weekday_options=_weekdays(),
        ),
        status,
    )


def _weekdays() -> list[tuple[str, str]]:
    names = (
        _("Monday"),
        _("Tuesday"),
        _("Wednesday"),
        _("Thursday"),
        _("Friday"),
        _("Saturday"),
        _("Sunday"),
    )
    return [(str(n), name) for n, name in enumerate(names, start=1)]


def _save(campaign):
    """Create or change the campaign from the form: the campaign, or the form again (422)."""
    typed, rows = _posted_typed(), _posted_rows()
    if request.form.get("more"):
        return _page(campaign, typed=typed, rows=rows)  # more blank rows, nothing saved
    body, places = _body(typed, rows, new=campaign is None)
    try:
        if campaign is None:
            loaded = CampaignCreateSchema().load(body)
            return campaigns_service.create_campaign(campaign_in=loaded, actor=current_actor())
        loaded = CampaignUpdateSchema().load(body)
        campaigns_service.update_campaign(
            campaign=campaign, campaign_in=loaded, actor=current_actor()
        )
        return campaign
    except ValidationError as err:
        errors = form_errors(err.messages)
    except DomainError as err:
        db.session.rollback()
        fields = (err.extra.get("errors") or {}).get("json")
        if fields:
            errors = form_errors(fields)
        elif isinstance(err, Conflict) and (campaign is None or campaign.state != "finished"):
            errors = {"name": [err.detail]}  # the one conflict of a live campaign's form
        else:
            errors = {"_form": [err.detail]}
        if campaign is not None:
            campaign = campaigns_service.get_campaign(campaign_id=campaign.id)
    return _page(campaign, typed=typed, rows=rows, errors=_row_errors(errors, places), status=422)


@bp.get("/campaigns/new")
def campaign_new(tenant_id):
    """The form of a new campaign."""
    check(CAMPAIGN_ADMIN)
    return _page(None, typed=_typed_of(), rows=[])


@bp.post("/campaigns/new")
def campaign_create(tenant_id):
    """Set up a campaign (a draft)."""
    check(CAMPAIGN_ADMIN)
    saved = _save(None)
    if isinstance(saved, tuple):
        return saved
    flash(_("The campaign is set up as a draft: load a list, then start it."), "ok")
    return redirect(url_for("web.portal.campaign", tenant_id=tenant_id, campaign_id=saved.id))


@bp.get("/campaigns/<uuid:campaign_id>/edit")
def campaign_edit(tenant_id, campaign_id):
    """A campaign's form, filled with what it is now."""
    check(CAMPAIGN_ADMIN)
    campaign = campaign_or_404(campaign_id)
    return _page(campaign, typed=_typed_of(campaign), rows=_rows_of(campaign))


@bp.post("/campaigns/<uuid:campaign_id>/edit")
def campaign_update(tenant_id, campaign_id):
    """Save a campaign's changes (a new window plans its waiting records again)."""
    check(CAMPAIGN_ADMIN)
    saved = _save(campaign_or_404(campaign_id))
    if isinstance(saved, tuple):
        return saved
    flash(_("The campaign was saved."), "ok")
    return redirect(url_for("web.portal.campaign", tenant_id=tenant_id, campaign_id=saved.id))
