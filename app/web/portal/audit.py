"""A firm's audit log in the portal, for its client admin: what was done to the firm's data,
without the BPO's internal entries, as `GET /v1/tenants/{id}/audit` reads it."""

from __future__ import annotations

from flask import g, request
from flask_babel import lazy_gettext

from app.auth.permissions import AUDIT_READ
from app.auth.principal import check
from app.db import utcnow
from app.reports.periods import zone_of
from app.web import audit_log, nav
from app.web.portal.blueprint import bp
from app.web.shell import render


def _filters():
    return audit_log.read_filters(request.args, zone_of(g.tenant))


@bp.get("/audit")
def audit(tenant_id):
    """The firm's audit log, newest first, narrowed by the form's filters."""
    check(AUDIT_READ)
    typed, args, errors = _filters()
    number = audit_log.page_number(request.args)
    entries, more = (
        ([], False)
        if errors
        else audit_log.page(args, number, tenant_id=g.tenant.id, firm_view=True)
    )
    return render(
        "portal/audit.html",
        firm=g.tenant,
        entries=entries,
        more=more,
        number=number,
        typed=typed,
        errors=errors,
        query={k: v for k, v in typed.items() if v},
        firm_options=None,
        firm_names={},
        csv_url="web.portal.audit_csv",
        list_url="web.portal.audit",
        url_values={"tenant_id": g.tenant.id},
    ), (422 if errors else 200)


@bp.get("/audit.csv")
def audit_csv(tenant_id):
    """The firm's entries the filters select, as the API's CSV."""
    check(AUDIT_READ)
    _typed, args, errors = _filters()
    if errors:
        return audit(tenant_id)
    filename = f"audit-{g.tenant.slug}-{utcnow().date()}.csv"
    return audit_log.as_csv(args, filename, tenant_id=g.tenant.id, firm_view=True)


nav.portal(
    "web.portal.audit",
    lazy_gettext("Audit log"),
    order=80,
    roles=("client_admin", "bpo_admin"),
)
