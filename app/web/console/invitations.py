"""Invitations to the BPO's own roles (BPO admin, supervisor, agent), through the shared
invitation pages (app/web/invitation_pages.py); BPO admins only, as POST /v1/invitations.
A firm's people are invited from that firm's settings."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from app.accounts.schemas import PlatformInvitationCreateSchema
from app.auth.permissions import STAFF_ADMIN
from app.auth.principal import check
from app.web import invitation_pages, nav
from app.web.console.blueprint import bp
from tenants.models import BPO_ROLES


def _bpo() -> invitation_pages.Place:
    return invitation_pages.Place(
        tenant=None,
        roles=BPO_ROLES,
        schema=PlatformInvitationCreateSchema,
        endpoints={
            "list": "web.console.invitations",
            "create": "web.console.invitation_create",
            "resend": "web.console.invitation_resend",
            "revoke": "web.console.invitation_revoke",
        },
        default_language=_("The browser's language"),
    )


@bp.get("/invitations")
def invitations():
    """The invitations to BPO roles, newest first, with the form to invite someone."""
    check(STAFF_ADMIN)
    return invitation_pages.page(_bpo())


@bp.post("/invitations")
def invitation_create():
    """Invite a person to a BPO role (POST /v1/invitations)."""
    check(STAFF_ADMIN)
    return invitation_pages.create(_bpo())


@bp.post("/invitations/<uuid:invitation_id>/resend")
def invitation_resend(invitation_id):
    """Send an invitation again, as a new link."""
    check(STAFF_ADMIN)
    return invitation_pages.resend(_bpo(), invitation_id)


@bp.post("/invitations/<uuid:invitation_id>/revoke")
def invitation_revoke(invitation_id):
    """Withdraw an invitation: its link stops working at once."""
    check(STAFF_ADMIN)
    return invitation_pages.revoke(_bpo(), invitation_id)


nav.console("web.console.invitations", lazy_gettext("Invite staff"), order=29, roles=("bpo_admin",))
