"""HTTP resources of outbound campaigns: a firm's campaigns and their states, the lists loaded
into them and their records, an attempt's disposition, and the do-not-contact registers (the
firm's under /v1/tenants/{id}/do-not-contact, the BPO's under /v1/do-not-contact).

An agent reads the campaigns of its queues (their scripts and dispositions), as it sees only
their contacts; the customers' records are for those who load the lists (the desk shows an
agent the record of the attempt it holds). Anything else is a 404, as another firm's is.
"""

from __future__ import annotations

import uuid

from flask.views import MethodView
from sqlalchemy import select

from app.api_base import CSV, NDJSON, Blueprint, SelectPage, batch_rows
from app.auth.permissions import (
    BPO_DNC_ADMIN,
    CAMPAIGN_ADMIN,
    CAMPAIGN_BLEND,
    CAMPAIGN_DISPOSE,
    CAMPAIGN_LISTS,
    CAMPAIGN_READ,
    DNC_ADMIN,
    DNC_READ,
)
from app.auth.principal import (
    Forbidden,
    check,
    current_actor,
    current_principal,
    current_tenant,
    require,
)
from app.campaigns import dispositions, lists, register
from app.campaigns import service as campaigns_service
from app.campaigns.models import CampaignList, CampaignRecord
from app.campaigns.schemas import (
    CampaignCreateSchema,
    CampaignListSchema,
    CampaignQueryArgsSchema,
    CampaignSchema,
    CampaignUpdateSchema,
    DispositionInSchema,
    DoNotContactInSchema,
    DoNotContactQueryArgsSchema,
    DoNotContactSchema,
    ListLoadArgsSchema,
    RecordQueryArgsSchema,
    RecordSchema,
)
from app.contacts import intake as contacts_intake
from app.contacts import service as contacts_service
from app.crud import found
from app.db import db

LIST_MAX_BYTES = 8 * 1024 * 1024

campaigns_blp = Blueprint(
    "campaigns",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>",
    description="A client firm's outbound campaigns: set up, lists of records loaded, run by "
    "the agents of its queue inside each customer's calling window, attempts disposed of; and "
    "the firm's do-not-contact register.",
)
bpo_register_blp = Blueprint(
    "bpo_do_not_contact",
    __name__,
    url_prefix="/v1/do-not-contact",
    description="The BPO's own do-not-contact register: no firm's campaign reaches its entries.",
)

_BLEND_FIELDS = ("blend", "share_bps")


def _agent_queues() -> frozenset | None:
    """An agent's queues in the firm in scope (None for everyone else)."""
    principal = current_principal()
    return principal.queue_ids if principal.role_on(current_tenant().id) == "agent" else None


def _campaign_or_404(campaign_id: uuid.UUID):
    campaign = campaigns_service.get_campaign(campaign_id=campaign_id)
    queues = _agent_queues()
    if campaign is not None and queues is not None and campaign.queue_id not in queues:
        campaign = None
    return found(campaign, "No such campaign in this client firm.")


def _out(campaign) -> dict:
    return {
        **{c.key: getattr(campaign, c.key) for c in campaign.__table__.columns},
        "records": campaigns_service.record_counts(campaign_id=campaign.id),
    }


def _check_blend(campaign_in: dict) -> None:
    if any(name in campaign_in for name in _BLEND_FIELDS):
        check(CAMPAIGN_BLEND)


@campaigns_blp.route("/campaigns")
class Campaigns(MethodView):
    @require(CAMPAIGN_READ)
    @campaigns_blp.arguments(CampaignQueryArgsSchema, location="query")
    @campaigns_blp.response(200, CampaignSchema(many=True))
    def get(self, args, tenant_id):
        """List the firm's campaigns, newest first (an agent: those of its queues)"""
        stmt = campaigns_service.list_campaigns(state=args.get("state"), queue_ids=_agent_queues())
        return [_out(c) for c in db.session.scalars(stmt)]

    @require(CAMPAIGN_ADMIN)
    @campaigns_blp.arguments(CampaignCreateSchema)
    @campaigns_blp.response(201, CampaignSchema)
    @campaigns_blp.alt_response(409, description="A campaign with this name exists.")
    def post(self, campaign_in, tenant_id):
        """Set up a campaign (a draft): purpose, channel, queue, script, dispositions, window

        The calling window is read in each customer's local time: `weekdays` (ISO, 1 Monday)
        from `window_start` to `window_end`, skipping the public holidays of the customer's
        country (`skip_holidays`), from `starts_on` to `ends_on` (the customer's dates). A
        record is tried at most `max_attempts` times, `retry_delay_minutes` apart (or its
        disposition's `retry_after_minutes`). Each disposition says whether the customer was
        `reached`, whether it is a `success`, whether to `retry`, and whether the customer asked
        to go on the firm's do-not-contact register. `blend` and `share_bps` (how its records
        mix with inbound work) are the BPO's to set: a client admin's campaign is
        `inbound_first`.
        """
        _check_blend(campaign_in)
        return _out(
            campaigns_service.create_campaign(campaign_in=campaign_in, actor=current_actor())
        )


@campaigns_blp.route("/campaigns/<uuid:campaign_id>")
class CampaignById(MethodView):
    @require(CAMPAIGN_READ)
    @campaigns_blp.response(200, CampaignSchema)
    def get(self, tenant_id, campaign_id):
        """Read a campaign, with how many of its records are in each state"""
        return _out(_campaign_or_404(campaign_id))

    @require(CAMPAIGN_ADMIN)
    @campaigns_blp.arguments(CampaignUpdateSchema)
    @campaigns_blp.response(200, CampaignSchema)
    @campaigns_blp.alt_response(409, description="The campaign has finished, or the name is taken.")
    def patch(self, campaign_in, tenant_id, campaign_id):
        """Change a campaign (not its channel); a new window or retry rule plans its waiting
        records again"""
        _check_blend(campaign_in)
        campaign = _campaign_or_404(campaign_id)
        campaigns_service.update_campaign(
            campaign=campaign, campaign_in=campaign_in, actor=current_actor()
        )
        return _out(campaign)


def _state_route(action: str, summary: str) -> None:
    class View(MethodView):
        @require(CAMPAIGN_ADMIN)
        @campaigns_blp.response(200, CampaignSchema)
        @campaigns_blp.alt_response(409, description="Not allowed from the campaign's state.")
        def post(self, tenant_id, campaign_id):
            campaign = _campaign_or_404(campaign_id)
            campaigns_service.change_state(campaign=campaign, action=action, actor=current_actor())
            return _out(campaign)

    View.post.__doc__ = summary
    View.__name__ = f"Campaign{action.title()}"
    campaigns_blp.route(f"/campaigns/<uuid:campaign_id>/{action}")(View)


_state_route(
    "start",
    "Start a draft campaign, or resume a paused one: its records are offered from now, each "
    "inside its customer's window",
)
_state_route("pause", "Pause a running campaign: no record is offered until it starts again")
_state_route(
    "finish",
    "Finish a campaign for good: its waiting records close (an attempt under way ends first)",
)


@campaigns_blp.route("/campaigns/<uuid:campaign_id>/lists")
class CampaignLists(MethodView):
    # A /v1 route whose body is not JSON (see app._require_json_body), as the contacts import.
    accepted_body_types = (CSV, NDJSON)
    max_body_bytes = LIST_MAX_BYTES

    @require(CAMPAIGN_LISTS)
    @campaigns_blp.response(200, CampaignListSchema(many=True))
    def get(self, tenant_id, campaign_id):
        """List the lists loaded into a campaign, newest first"""
        campaign = _campaign_or_404(campaign_id)
        return db.session.scalars(
            select(CampaignList)
            .where(CampaignList.campaign_id == campaign.id)
            .order_by(CampaignList.loaded_at.desc(), CampaignList.id)
        ).all()

    @require(CAMPAIGN_LISTS)
    @campaigns_blp.arguments(ListLoadArgsSchema, location="query")
    @campaigns_blp.doc(
        requestBody={
            "required": True,
            "content": {
                CSV: {
                    "schema": {"type": "string"},
                    "example": "name,phone,country,time_zone,plan\n"
                    "Ana García,+34 600 111 222,ES,Europe/Madrid,fibre\n",
                },
                NDJSON: {
                    "schema": {"type": "string"},
                    "example": '{"name": "Luis", "phone": "+51 1 555 0101", "country": "PE", '
                    '"fields": {"plan": "mobile"}}\n',
                },
            },
        }
    )
    @campaigns_blp.response(201, CampaignListSchema)
    @campaigns_blp.alt_response(409, description="The campaign has finished.")
    @campaigns_blp.alt_response(
        422,
        description="Some rows were refused; nothing was loaded. `report` lists each refused "
        "row as `{line, errors}` (errors by field).",
    )
    def post(self, args, tenant_id, campaign_id):
        """Load a list of records (CSV or JSON lines), all or nothing

        Each row: `name`, `phone`, `email`, `customer_ref`, the customer's `time_zone` (IANA)
        and/or `country` (ISO 3166 alpha-2; a country with one zone gives it, a zone its
        country), `language`, and the script's `fields` (in CSV, every other column). A voice
        campaign needs a phone, an e-mail one an address. Rows naming the same customer (the
        firm's ref, else e-mail, else phone) within the list or an earlier one are merged into
        one record: blanks filled, attempts kept. Rows on a do-not-contact register are kept as
        records never offered (`blocked`). At most 10,000 rows and 8 MiB.
        """
        campaign = _campaign_or_404(campaign_id)
        rows = batch_rows(
            what="list",
            parse_csv=contacts_intake.rows_from_csv,
            parse_ndjson=contacts_intake.rows_from_ndjson,
            max_rows=lists.MAX_ROWS,
        )
        return lists.load(campaign=campaign, name=args["name"], rows=rows, actor=current_actor())


@campaigns_blp.route("/campaigns/<uuid:campaign_id>/records")
class CampaignRecords(MethodView):
    @require(CAMPAIGN_LISTS)
    @campaigns_blp.arguments(RecordQueryArgsSchema, location="query")
    @campaigns_blp.response(200, RecordSchema(many=True))
    @campaigns_blp.paginate(SelectPage)
    def get(self, args, tenant_id, campaign_id):
        """List a campaign's records, the next to be offered first"""
        campaign = _campaign_or_404(campaign_id)
        stmt = (
            select(CampaignRecord)
            .where(CampaignRecord.campaign_id == campaign.id)
            .order_by(
                CampaignRecord.next_attempt_at.asc().nulls_last(),
                CampaignRecord.created_at,
                CampaignRecord.id,
            )
        )
        if args.get("state"):
            stmt = stmt.where(CampaignRecord.state == args["state"])
        return stmt


@campaigns_blp.route("/campaigns/<uuid:campaign_id>/records/<uuid:record_id>")
class CampaignRecordById(MethodView):
    @require(CAMPAIGN_LISTS)
    @campaigns_blp.response(200, RecordSchema)
    def get(self, tenant_id, campaign_id, record_id):
        """Read a record: the customer, their zone, the script's fields, its attempts"""
        campaign = _campaign_or_404(campaign_id)
        record = db.session.get(CampaignRecord, record_id)
        if record is not None and record.campaign_id != campaign.id:
            record = None
        return found(record, "No such record in this campaign.")


@campaigns_blp.route("/contacts/<uuid:contact_id>/disposition")
class AttemptDisposition(MethodView):
    @require(CAMPAIGN_DISPOSE)
    @campaigns_blp.arguments(DispositionInSchema)
    @campaigns_blp.response(200, RecordSchema)
    @campaigns_blp.alt_response(409, description="Not an attempt you hold.")
    def post(self, disposition_in, tenant_id, contact_id):
        """End the campaign attempt you hold with its disposition

        Reached: the contact is answered (or responded to) if it was not, and resolved with the
        disposition's code; not reached: it closes. The record then is done, tried again after
        the delay (below the attempt limit; else exhausted), called back at `callback_at` (in
        the customer's window; by you, or by `anyone`), or put on the firm's do-not-contact
        register. The attempt is billed as the rate card's campaign terms say. Answers the
        record as it now is.
        """
        principal = current_principal()
        contact = found(
            contacts_service.get(contact_id=contact_id, for_update=True),
            "No such contact in this client firm.",
        )
        if principal.agent_id is None:
            raise Forbidden("Only an agent disposes of its attempts.")
        return dispositions.dispose(
            contact=contact,
            disposition_in=disposition_in,
            tenant=current_tenant(),
            actor=current_actor(),
            agent_id=principal.agent_id,
        )


# --- the registers ---------------------------------------------------------------------------


@campaigns_blp.route("/do-not-contact")
class FirmRegister(MethodView):
    @require(DNC_READ)
    @campaigns_blp.arguments(DoNotContactQueryArgsSchema, location="query")
    @campaigns_blp.response(200, DoNotContactSchema(many=True))
    @campaigns_blp.paginate(SelectPage)
    def get(self, args, tenant_id):
        """List the firm's do-not-contact register, newest first (`q`: part of a value)"""
        return register.list_entries(kind=args.get("kind"), q=args.get("q"))

    @require(DNC_ADMIN)
    @campaigns_blp.arguments(DoNotContactInSchema)
    @campaigns_blp.response(201, DoNotContactSchema)
    @campaigns_blp.alt_response(409, description="The entry is already on the register.")
    def post(self, entry_in, tenant_id):
        """Add a phone number or e-mail address: no campaign of the firm offers it again, from
        this moment, whatever list it came in"""
        return register.add(**entry_in, actor=current_actor(), tenant_id=tenant_id)


@campaigns_blp.route("/do-not-contact/<uuid:entry_id>")
class FirmRegisterEntry(MethodView):
    @require(DNC_ADMIN)
    @campaigns_blp.response(204)
    def delete(self, tenant_id, entry_id):
        """Take an entry off the register (its records stay as they are)"""
        entry = found(register.get_entry(entry_id=entry_id), "No such entry on the register.")
        register.remove(entry=entry, actor=current_actor())


@bpo_register_blp.route("")
class BpoRegister(MethodView):
    @require(BPO_DNC_ADMIN)
    @bpo_register_blp.arguments(DoNotContactQueryArgsSchema, location="query")
    @bpo_register_blp.response(200, DoNotContactSchema(many=True))
    @bpo_register_blp.paginate(SelectPage)
    def get(self, args):
        """List the BPO's do-not-contact register, newest first"""
        return register.list_entries(bpo=True, kind=args.get("kind"), q=args.get("q"))

    @require(BPO_DNC_ADMIN)
    @bpo_register_blp.arguments(DoNotContactInSchema)
    @bpo_register_blp.response(201, DoNotContactSchema)
    @bpo_register_blp.alt_response(409, description="The entry is already on the register.")
    def post(self, entry_in):
        """Add an entry no campaign of any firm reaches again, from this moment"""
        return register.add(**entry_in, actor=current_actor())


@bpo_register_blp.route("/<uuid:entry_id>")
class BpoRegisterEntry(MethodView):
    @require(BPO_DNC_ADMIN)
    @bpo_register_blp.response(204)
    def delete(self, entry_id):
        """Take an entry off the BPO's register"""
        entry = found(register.get_entry(entry_id=entry_id, bpo=True), "No such entry.")
        register.remove(entry=entry, actor=current_actor())
