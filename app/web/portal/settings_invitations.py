"""A firm's invitations in its settings (app/web/invitation_pages.py): its client roles; the
firm's client admin and the BPO's admins, as in the API (/v1/tenants/{id}/invitations)."""

from __future__ import annotations

from flask import g
from flask_babel import gettext as _

from app.accounts.schemas import InvitationCreateSchema
from app.auth.permissions import USER_ADMIN, USER_READ
from app.auth.principal import check
from app.web import invitation_pages
from app.web.portal.blueprint import bp
from tenants.models import CLIENT_ROLES


def _firm() -> invitation_pages.Place:
    return invitation_pages.Place(
        tenant=g.tenant,
        roles=CLIENT_ROLES,
        schema=InvitationCreateSchema,
        endpoints={
            "list": "web.portal.settings_invitations",
            "create": "web.portal.settings_invitation_create",
            "resend": "web.portal.settings_invitation_resend",
            "revoke": "web.portal.settings_invitation_revoke",
        },
        default_language=_("The firm's language"),
    )


@bp.get("/settings/invitations")
def settings_invitations(tenant_id):
    """The firm's invitations, newest first, with their status; the form to invite someone."""
    check(USER_READ)
    return invitation_pages.page(_firm())


@bp.post("/settings/invitations")
def settings_invitation_create(tenant_id):
    """Invite a person (POST /v1/tenants/{id}/invitations)."""
    check(USER_ADMIN)
    return invitation_pages.create(_firm())


@bp.post("/settings/invitations/<uuid:invitation_id>/resend")
def settings_invitation_resend(tenant_id, invitation_id):
    """Send an invitation again, as a new link."""
    check(USER_ADMIN)
    return invitation_pages.resend(_firm(), invitation_id)


@bp.post("/settings/invitations/<uuid:invitation_id>/revoke")
def settings_invitation_revoke(tenant_id, invitation_id):
    """Withdraw an invitation: its link stops working at once."""
    check(USER_ADMIN)
    return invitation_pages.revoke(_firm(), invitation_id)
