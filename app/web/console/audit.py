"""The console's audit log: every entry of every firm and the BPO's own, for the BPO admin,
as `GET /v1/audit` reads it (filters, pages, CSV)."""

from __future__ import annotations

from datetime import UTC

from flask import request
from flask_babel import lazy_gettext
from sqlalchemy import select

from app.auth.permissions import AUDIT_READ_ALL
from app.auth.principal import check
from app.db import db, utcnow
from app.web import audit_log, nav
from app.web.console.blueprint import bp
from app.web.shell import render
from tenants.models import Tenant
from tenants.scoping import unscoped


@bp.get("/audit")
def audit():
    """The whole audit log, newest first, narrowed by the form's filters."""
    check(AUDIT_READ_ALL)
    typed, args, errors = audit_log.read_filters(request.args, UTC, with_firm=True)
    number = audit_log.page_number(request.args)
    # The BPO admin reads every firm's entries and the BPO's own, which belong to no firm.
    with unscoped():
        entries, more = ([], False) if errors else audit_log.page(args, number)
        firms = list(db.session.execute(select(Tenant.id, Tenant.name).order_by(Tenant.name)))
    return render(
        "console/audit.html",
        entries=entries,
        more=more,
        number=number,
        typed=typed,
        errors=errors,
        query={k: v for k, v in typed.items() if v},
        firm_options=[("", lazy_gettext("Every firm"))]
        + [(str(firm.id), firm.name) for firm in firms],
        firm_names={firm.id: firm.name for firm in firms},
        csv_url="web.console.audit_csv",
        list_url="web.console.audit",
        url_values={},
    ), (422 if errors else 200)


@bp.get("/audit.csv")
def audit_csv():
    """The entries the filters select, as the API's CSV."""
    check(AUDIT_READ_ALL)
    _typed, args, errors = audit_log.read_filters(request.args, UTC, with_firm=True)
    if errors:
        return audit()
    # As above: the whole log belongs to no one firm.
    with unscoped():
        return audit_log.as_csv(args, f"audit-{utcnow().date()}.csv")


nav.console("web.console.audit", lazy_gettext("Audit log"), order=35, roles=("bpo_admin",))
