"""A firm's do-not-contact register in the portal (the pages are app/web/do_not_contact.py's):
read by the firm's admins and the BPO's staff, kept by those the API lets keep it."""

from __future__ import annotations

from flask import g, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from app.auth.permissions import DNC_ADMIN, DNC_READ
from app.auth.principal import check, current_actor
from app.web import do_not_contact as pages
from app.web import nav
from app.web.portal.blueprint import bp

_ENDPOINTS = {
    "list": "web.portal.do_not_contact",
    "add": "web.portal.do_not_contact_add",
    "remove": "web.portal.do_not_contact_remove",
}


def _page(**kwargs):
    return pages.page(
        bpo=False,
        title=_("Do not contact"),
        endpoints=_ENDPOINTS,
        url_values={"tenant_id": g.tenant.id},
        may_admin=g.principal.role_on(g.tenant.id) in DNC_ADMIN.roles,
        **kwargs,
    )


@bp.get("/do-not-contact")
def do_not_contact(tenant_id):
    """The firm's register, newest first, narrowed by the search."""
    check(DNC_READ)
    return _page()


@bp.post("/do-not-contact")
def do_not_contact_add(tenant_id):
    """Add a phone number or an e-mail address no campaign of the firm reaches again."""
    check(DNC_ADMIN)
    typed, errors = pages.add(actor=current_actor(), tenant_id=g.tenant.id)
    if errors:
        return _page(errors=errors, typed_entry=typed, status=422)
    return redirect(url_for("web.portal.do_not_contact", tenant_id=tenant_id))


@bp.post("/do-not-contact/<uuid:entry_id>/remove")
def do_not_contact_remove(tenant_id, entry_id):
    """Take an entry off the firm's register."""
    check(DNC_ADMIN)
    pages.remove(actor=current_actor(), entry_id=entry_id, bpo=False)
    return redirect(url_for("web.portal.do_not_contact", tenant_id=tenant_id))


nav.portal(
    "web.portal.do_not_contact",
    lazy_gettext("Do not contact"),
    order=46,
    roles=tuple(sorted(DNC_READ.roles - {"integration"})),
)
