"""HTTP resources of the audit log: `/v1/audit` (the BPO admin: every entry) and
`/v1/tenants/{tenant_id}/audit` (a client firm's own entries). JSON pages, or CSV with
`Accept: text/csv`."""

from __future__ import annotations

from flask.views import MethodView

from app.api_base import Blueprint
from app.audit import service as audit_service
from app.audit.schemas import (
    AuditEntryCsvSchema,
    AuditEntrySchema,
    AuditQueryArgsSchema,
    BpoAuditQueryArgsSchema,
)
from app.auth.permissions import AUDIT_READ, AUDIT_READ_ALL
from app.auth.principal import current_tenant, require
from app.csv_responses import csv_doc, csv_response, wants_csv
from app.db import utcnow
from tenants.scoping import current_scope, unscoped

audit_blp = Blueprint(
    "audit",
    __name__,
    url_prefix="/v1/audit",
    description="The BPO's whole audit log: who did what to which firm's data, and when.",
)
tenant_audit_blp = Blueprint(
    "tenant_audit",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/audit",
    description="A client firm's audit log: who did what to the firm's data, and when.",
)

_CSV = csv_doc(
    "every entry the filters select (the page parameters do not apply), one row each, newest "
    "first, the actor flattened (`actor_name`, ...) and `details` as JSON. The CSV is streamed "
    "as it is read (in batches, from a database cursor), so an export of any size has no row "
    "limit; narrow it with the filters.",
    json="A page of entries as JSON",
)


def _answer(stmt, pagination_parameters, filename: str):
    """A page of entries, or (CSV) all of them; both read in the scope in force."""
    pagination_parameters.item_count = audit_service.count(stmt)
    if wants_csv():
        # Streamed: the rows are read while the body is sent, under the request's scope.
        return csv_response(
            AuditEntryCsvSchema(),
            lambda: audit_service.stream(stmt),
            filename,
            scope=current_scope(),
        )
    return audit_service.page(
        stmt,
        offset=pagination_parameters.first_item,
        limit=pagination_parameters.page_size,
    )


@audit_blp.route("")
class AuditEntries(MethodView):
    @require(AUDIT_READ_ALL)
    @audit_blp.arguments(BpoAuditQueryArgsSchema, location="query")
    @audit_blp.doc(**_CSV)
    @audit_blp.response(200, AuditEntrySchema(many=True))
    @audit_blp.paginate()
    def get(self, args, pagination_parameters):
        """Read the whole audit log: every firm's entries and the BPO's own

        Each entry says who (the person, by id, name and e-mail, and the API client used),
        what (`action`), to which object (`target_type`, `target_id`) of which firm
        (`tenant_id`; null for the BPO's own: staff, billing periods), when, and the request.

        Filters combine (AND): the actor (`actor_user_id`, `actor_client_id`), the action (a
        trailing dot names a kind: `user.`), the object (`target_type`, `target_id`) and the
        time (`from` inclusive, `to` exclusive). Newest first.
        """
        # The BPO admin reads every firm's entries and the BPO's own, which belong to no firm.
        with unscoped():
            stmt = audit_service.list_(**args)
            return _answer(stmt, pagination_parameters, f"audit-{utcnow().date()}.csv")


@tenant_audit_blp.route("")
class TenantAuditEntries(MethodView):
    @require(AUDIT_READ)
    @tenant_audit_blp.arguments(AuditQueryArgsSchema, location="query")
    @tenant_audit_blp.doc(**_CSV)
    @tenant_audit_blp.response(200, AuditEntrySchema(many=True))
    @tenant_audit_blp.paginate()
    def get(self, args, tenant_id, pagination_parameters):
        """Read the client firm's audit log: what was done to its data

        Who did it (the person and the API client used), what, to which object, when, and
        the request. The BPO's internal entries are not here: its agents and their
        assignments, its supervisors' access, billing periods and everything of no firm
        (the BPO admin reads those in `GET /v1/audit`).

        Filters combine (AND): the actor (`actor_user_id`, `actor_client_id`), the action (a
        trailing dot names a kind: `user.`), the object (`target_type`, `target_id`) and the
        time (`from` inclusive, `to` exclusive). Newest first.
        """
        tenant = current_tenant()
        stmt = audit_service.list_(**args, tenant_id=tenant.id, firm_view=True)
        filename = f"audit-{tenant.slug}-{utcnow().date()}.csv"
        return _answer(stmt, pagination_parameters, filename)
