"""The BPO's own do-not-contact register in the console, kept by its admins: no firm's
campaign reaches its entries (the pages are app/web/do_not_contact.py's)."""

from __future__ import annotations

from flask import redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from app.auth.permissions import BPO_DNC_ADMIN
from app.auth.principal import check, current_actor
from app.web import do_not_contact as pages
from app.web import nav
from app.web.console.blueprint import bp

_ENDPOINTS = {
    "list": "web.console.do_not_contact",
    "add": "web.console.do_not_contact_add",
    "remove": "web.console.do_not_contact_remove",
}


def _page(**kwargs):
    return pages.page(
        bpo=True,
        title=_("The BPO's do-not-contact register"),
        endpoints=_ENDPOINTS,
        url_values={},
        may_admin=True,
        **kwargs,
    )


@bp.get("/do-not-contact")
def do_not_contact():
    """The BPO's register, newest first, narrowed by the search."""
    check(BPO_DNC_ADMIN)
    return _page()


@bp.post("/do-not-contact")
def do_not_contact_add():
    """Add an entry no campaign of any firm reaches again."""
    check(BPO_DNC_ADMIN)
    typed, errors = pages.add(actor=current_actor(), tenant_id=None)
    if errors:
        return _page(errors=errors, typed_entry=typed, status=422)
    return redirect(url_for("web.console.do_not_contact"))


@bp.post("/do-not-contact/<uuid:entry_id>/remove")
def do_not_contact_remove(entry_id):
    """Take an entry off the BPO's register."""
    check(BPO_DNC_ADMIN)
    pages.remove(actor=current_actor(), entry_id=entry_id, bpo=True)
    return redirect(url_for("web.console.do_not_contact"))


nav.console(
    "web.console.do_not_contact",
    lazy_gettext("BPO do not contact"),
    order=37,
    roles=("bpo_admin",),
)
