"""A firm's outbound campaigns in the portal: the list, and a campaign's page with its state
buttons (start or resume, pause, finish), the lists loaded into it, a form to load another
(a CSV or JSON lines file; each refused line shown with its errors) and its records, each
one's next attempt in the customer's own time. The form is app/web/portal/campaign_form.py's."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from babel.dates import format_datetime
from flask import flash, g, redirect, request, url_for
from flask.views import MethodView
from flask_babel import get_locale, lazy_gettext
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import select

from app.auth.permissions import CAMPAIGN_ADMIN, CAMPAIGN_LISTS, CAMPAIGN_READ
from app.auth.principal import check, current_actor
from app.campaigns import lists
from app.campaigns import service as campaigns_service
from app.campaigns.models import RECORD_STATES, CampaignList, CampaignRecord
from app.campaigns.schemas import ListLoadArgsSchema
from app.contacts import intake as contacts_intake
from app.db import db
from app.errors import DomainError, Unprocessable
from app.queues.models import Queue
from app.web import labels, nav
from app.web.console.scope import page_of
from app.web.portal.blueprint import bp
from app.web.portal.campaign_form import campaign_or_404, may_blend
from app.web.shell import form_errors, render

LIST_MAX_BYTES = 8 * 1024 * 1024  # as the API's
RECORDS_PAGE = 50
_ACTIONS = ("start", "pause", "finish")


def _role() -> str | None:
    return g.principal.role_on(g.tenant.id)


def _may(permission) -> bool:
    return _role() in permission.roles


def _queue_names() -> dict:
    return {q.id: q.name for q in db.session.scalars(select(Queue))}


@bp.get("/campaigns")
def campaigns(tenant_id):
    """The firm's campaigns, newest first (an agent: those of its queues), with their records
    by state."""
    check(CAMPAIGN_READ)
    queue_ids = g.principal.queue_ids if _role() == "agent" else None
    rows = [
        (campaign, campaigns_service.record_counts(campaign_id=campaign.id))
        for campaign in db.session.scalars(campaigns_service.list_campaigns(queue_ids=queue_ids))
    ]
    return render(
        "portal/campaigns.html",
        firm=g.tenant,
        rows=rows,
        queue_names=_queue_names(),
        may_admin=_may(CAMPAIGN_ADMIN),
    )


def _customer_time(moment: datetime | None, zone: str) -> str:
    """A moment in the customer's own zone (not the firm's), as the reader's language writes it."""
    if moment is None:
        return "—"
    try:
        tz = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    return format_datetime(moment, "medium", tzinfo=tz, locale=str(get_locale() or "en"))


def _records_page(campaign):
    state = request.args.get("state", "")
    stmt = (
        select(CampaignRecord)
        .where(CampaignRecord.campaign_id == campaign.id)
        .order_by(
            CampaignRecord.next_attempt_at.asc().nulls_last(),
            CampaignRecord.created_at,
            CampaignRecord.id,
        )
    )
    if state in RECORD_STATES:
        stmt = stmt.where(CampaignRecord.state == state)
    return state, page_of(stmt, size=RECORDS_PAGE)


def _campaign_page(campaign, *, errors=None, report=None, typed_name="", status=200):
    reads_lists = _may(CAMPAIGN_LISTS)
    loaded, records, state = [], None, ""
    if reads_lists:
        loaded = db.session.scalars(
            select(CampaignList)
            .where(CampaignList.campaign_id == campaign.id)
            .order_by(CampaignList.loaded_at.desc(), CampaignList.id)
        ).all()
        state, records = _records_page(campaign)
    return (
        render(
            "portal/campaign.html",
            firm=g.tenant,
            campaign=campaign,
            counts=campaigns_service.record_counts(campaign_id=campaign.id),
            queue_names=_queue_names(),
            may_admin=_may(CAMPAIGN_ADMIN),
            reads_lists=reads_lists,
            shows_blend=may_blend() or campaign.blend != "inbound_first",
            actions=[a for a in _ACTIONS if campaign.state in campaigns_service.MOVES[a]],
            loaded=loaded,
            records=records,
            state=state,
            state_options=[("", _("Every state")), *labels.options("record_state", RECORD_STATES)],
            customer_time=_customer_time,
            errors=errors or {},
            report=report or [],
            typed_name=typed_name,
        ),
        status,
    )


@bp.get("/campaigns/<uuid:campaign_id>")
def campaign(tenant_id, campaign_id):
    """A campaign: its set-up and state, its lists and its records."""
    check(CAMPAIGN_READ)
    return _campaign_page(campaign_or_404(campaign_id))


@bp.post("/campaigns/<uuid:campaign_id>/state")
def campaign_state(tenant_id, campaign_id):
    """Start (or resume), pause or finish the campaign, as the form's button says."""
    check(CAMPAIGN_ADMIN)
    campaign = campaign_or_404(campaign_id)
    action = request.form.get("action", "")
    if action not in _ACTIONS:
        return _campaign_page(campaign, errors={"_form": [_("Choose an action.")]}, status=422)
    try:
        campaigns_service.change_state(campaign=campaign, action=action, actor=current_actor())
    except DomainError as err:
        db.session.rollback()
        campaign = campaign_or_404(campaign_id)
        return _campaign_page(campaign, errors={"_form": [err.detail]}, status=err.status)
    flash(
        {
            "start": _(
                "The campaign is running: its records are offered inside each customer's window."
            ),
            "pause": _("The campaign is paused: no record is offered until it is resumed."),
            "finish": _("The campaign has finished: its waiting records are closed."),
        }[action],
        "ok",
    )
    return redirect(url_for("web.portal.campaign", tenant_id=tenant_id, campaign_id=campaign.id))


def _rows_of_upload(upload) -> tuple[list | None, dict[str, list[str]]]:
    """The file's (line, row) pairs read as the API reads its body, or an error beside it."""
    if upload is None or not upload.filename:
        return None, {"file": [_("Choose a CSV or JSON lines file.")]}
    try:
        data = upload.read(LIST_MAX_BYTES + 1)
    finally:
        upload.close()  # a large file is spooled to disk: let it go at once
    if len(data) > LIST_MAX_BYTES:
        return None, {"file": [_("A list file holds at most 8 MiB: split it.")]}
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, {"file": [_("The file must be UTF-8 text.")]}
    name = upload.filename.lower()
    json_lines = name.endswith((".jsonl", ".ndjson", ".json")) or upload.mimetype in (
        "application/x-ndjson",
        "application/jsonl",
    )
    parse = contacts_intake.rows_from_ndjson if json_lines else contacts_intake.rows_from_csv
    rows = parse(text)
    if not rows:
        return None, {"file": [_("The list has no rows.")]}
    if len(rows) > lists.MAX_ROWS:
        return None, {"file": [_("At most %(n)s rows per list: split the file.", n=lists.MAX_ROWS)]}
    return rows, {}


def _load_list(tenant_id, campaign_id):
    """Read the uploaded file and load it, or show the campaign's page with what went wrong."""
    check(CAMPAIGN_LISTS)
    campaign = campaign_or_404(campaign_id)
    upload = request.files.get("file")
    typed_name = request.form.get("name", "").strip()
    named = typed_name or (upload.filename if upload is not None and upload.filename else "")
    args_errors = {}
    try:
        args = ListLoadArgsSchema().load({"name": named[:200]} if named else {})
    except ValidationError as err:
        args, args_errors = {}, form_errors(err.messages)
    rows, errors = _rows_of_upload(upload)
    errors |= args_errors
    if errors:
        return _campaign_page(campaign, errors=errors, typed_name=typed_name, status=422)
    try:
        batch = lists.load(campaign=campaign, name=args["name"], rows=rows, actor=current_actor())
    except Unprocessable as err:
        db.session.rollback()
        campaign = campaign_or_404(campaign_id)
        report = [
            {"line": item["line"], "errors": form_errors(item["errors"])}
            for item in err.extra.get("report") or []
        ]
        return _campaign_page(
            campaign,
            errors={"file": [err.detail]},
            report=report,
            typed_name=typed_name,
            status=422,
        )
    except DomainError as err:
        db.session.rollback()
        campaign = campaign_or_404(campaign_id)
        # A finished campaign shows no upload form: its refusal goes above the page.
        where = "_form" if campaign.state == "finished" else "file"
        return _campaign_page(
            campaign, errors={where: [err.detail]}, typed_name=typed_name, status=err.status
        )
    flash(
        _(
            "%(rows)s rows loaded: %(added)s new records, %(merged)s merged, %(blocked)s on a "
            "do-not-contact register.",
            rows=batch.rows,
            added=batch.added,
            merged=batch.merged,
            blocked=batch.blocked,
        ),
        "ok",
    )
    return redirect(url_for("web.portal.campaign", tenant_id=tenant_id, campaign_id=campaign.id))


class CampaignListLoad(MethodView):
    """Load a list into the campaign, all of it or (a line refused) none of it."""

    # A list file may be larger than a form's usual limit (app/__init__.py reads this): the
    # API's 8 MiB, and room for the form's other fields.
    max_body_bytes = LIST_MAX_BYTES + 64 * 1024

    def post(self, tenant_id, campaign_id):
        return _load_list(tenant_id, campaign_id)


bp.add_url_rule(
    "/campaigns/<uuid:campaign_id>/lists",
    view_func=CampaignListLoad.as_view("campaign_list_load"),
    methods=["POST"],
)


nav.portal(
    "web.portal.campaigns",
    lazy_gettext("Campaigns"),
    order=45,
    roles=tuple(sorted(CAMPAIGN_READ.roles - {"agent", "integration"})),
)
