"""HTTP resources of the end customer's rights: exporting and erasing what a firm holds about one
of its end customers (`/v1/tenants/{tenant_id}/data-subjects/...`), with their request and
answer shapes (small enough to live beside the two views)."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.api_base import Blueprint
from app.auth.permissions import DATA_SUBJECT_ERASE, DATA_SUBJECT_EXPORT
from app.auth.principal import current_actor, current_tenant, require
from app.contacts import data_rights

data_subjects_blp = Blueprint(
    "data_subjects",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/data-subjects",
    description="The end customer's rights: export everything a firm holds about one end "
    "customer, or erase their personal data while every figure stays.",
)


class DataSubjectSchema(Schema):
    """One end customer, by exactly one identifier."""

    email = fields.Email(
        validate=validate.Length(min=3, max=254),
        metadata={"description": "The customer's e-mail (any case).", "example": "ana@example.com"},
    )
    phone = fields.String(
        validate=validate.Length(min=1, max=40),
        metadata={
            "description": "The customer's phone; compared by its digits.",
            "example": "+34 600 11 22 33",
        },
    )
    ref = fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "The firm's own customer id.", "example": "CUST-1042"},
    )

    @validates_schema
    def _exactly_one(self, data: dict, **_kwargs) -> None:
        given = [name for name in data_rights.IDENTIFIERS if data.get(name) is not None]
        if not given:
            raise ValidationError("Name the end customer by email, phone or ref.", "email")
        if len(given) > 1:
            message = "Name the end customer by one identifier only."
            raise ValidationError({name: [message] for name in given[1:]})
        if "phone" in given and not data_rights.phone_digits(data["phone"]):
            raise ValidationError("A phone number has digits.", "phone")


_COUNTS = fields.Dict(
    keys=fields.String(),
    values=fields.Integer(),
    metadata={"description": "How many of each kind: contacts, messages, contact_events, ..."},
)


class DataSubjectExportSchema(Schema):
    tenant_id = fields.UUID()
    identifier = fields.Nested(DataSubjectSchema)
    exported_at = fields.AwareDateTime()
    counts = _COUNTS
    contacts = fields.List(
        fields.Dict(),
        metadata={
            "description": "Each of the customer's contacts with every field it has, and its "
            "`events` (history), `messages` (the thread, internal notes included), "
            "`sla_clocks`; its CSAT is the contact's `csat`. Times are RFC 3339, ids strings."
        },
    )
    campaign_records = fields.List(
        fields.Dict(),
        metadata={"description": "The outbound campaigns' records (lists) that name them."},
    )


class DataSubjectErasureSchema(Schema):
    erased_at = fields.AwareDateTime()
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={
            "description": "What was wiped: `contacts`, `messages` (bodies and author names), "
            "`contact_events` (notes), `escalations` (notes to departments), `domain_events` "
            "and `webhook_deliveries` (reply texts), `evaluations` (quality reviewers' "
            "comments; scores kept), `campaign_records` (who a campaign's list named; a record "
            "still to be worked is closed), `idempotency_records` (stored answers dropped). All "
            "zero "
            "when nothing was left."
        },
    )


@data_subjects_blp.route("/export")
class DataSubjectExport(MethodView):
    @require(DATA_SUBJECT_EXPORT)
    @data_subjects_blp.arguments(DataSubjectSchema)
    @data_subjects_blp.response(200, DataSubjectExportSchema)
    def post(self, subject_in, tenant_id):
        """Export everything held about one end customer

        For the firm to answer its customer's request of access (the firm is the controller,
        the BPO its processor). The customer is named by `email`, `phone` or `ref` (the firm's
        customer id); their contacts are those carrying it and every contact the firm keys to
        the same customer. Each comes with all its fields, its history, its thread and its SLA
        clocks. Audited as `data_subject.exported` (the kind of identifier and the counts,
        never its value). A POST, so that the identifier stays out of URLs and logs.
        """
        return data_rights.export(
            identifier=subject_in, tenant=current_tenant(), actor=current_actor()
        )


@data_subjects_blp.route("/erase")
class DataSubjectErase(MethodView):
    @require(DATA_SUBJECT_ERASE)
    @data_subjects_blp.arguments(DataSubjectSchema)
    @data_subjects_blp.response(200, DataSubjectErasureSchema)
    def post(self, subject_in, tenant_id):
        """Erase one end customer's personal data; every figure stays

        Wipes, on each of the customer's contacts (found as the export finds them): name,
        e-mail, phone, the firm's customer id, subject, body, remedy asked and resolution
        note; every message body and author name of their threads; the notes of their
        history; and the reply texts quoted by domain events and webhook deliveries. The
        customer key becomes a random pseudonym shared by these contacts alone, so first
        contact resolution, and with it every SLA report and invoice, is unchanged; so are
        times, statuses, queues, channels, categories, outcomes, compensation and CSAT.
        Idempotent: a repeat finds nothing and answers zeros. Audited as
        `data_subject.erased` (the kind of identifier, the counts and the contact ids).
        """
        return data_rights.erase(
            identifier=subject_in, tenant=current_tenant(), actor=current_actor()
        )
