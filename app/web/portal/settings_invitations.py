"""A firm's invitations in its settings: who was invited and where each stands, invite a person
(the link shown once when no mail server sends it), resend and revoke; the firm's client admin
and the BPO's admins, as in the API (/v1/tenants/{id}/invitations)."""

from __future__ import annotations

from flask import abort, flash, g, redirect, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from app.accounts import service as accounts_service
from app.accounts.schemas import InvitationCreateSchema
from app.auth.permissions import USER_ADMIN, USER_READ
from app.auth.principal import check, current_actor
from app.db import db
from app.errors import DomainError
from app.mail import LANGUAGES
from app.web.labels import label
from app.web.portal.blueprint import bp
from app.web.portal.settings_forms import form_of, problems_of
from app.web.shell import form_errors, render
from tenants.models import CLIENT_ROLES

# The pages' endpoints, which the console's invitations to the BPO share the templates with.
ENDPOINTS = {
    "list": "web.portal.settings_invitations",
    "create": "web.portal.settings_invitation_create",
    "resend": "web.portal.settings_invitation_resend",
    "revoke": "web.portal.settings_invitation_revoke",
}


def _page(errors=None, typed=None, status=200):
    invitations = db.session.scalars(accounts_service.list_()).all()
    page = render(
        "portal/settings/invitations.html",
        endpoints=ENDPOINTS,
        url_args={"tenant_id": g.tenant.id},
        invitations=invitations,
        roles=[(role, label(role, "role")) for role in CLIENT_ROLES],
        mail_languages=[("", _("The firm's language")), ("en", "English"), ("es", "Español")],
        errors=errors or {},
        typed=typed or {},
    )
    return page, status


@bp.get("/settings/invitations")
def settings_invitations(tenant_id):
    """The firm's invitations, newest first, with their status; the form to invite someone."""
    check(USER_READ)
    return _page()


@bp.post("/settings/invitations")
def settings_invitation_create(tenant_id):
    """Invite a person (POST /v1/tenants/{id}/invitations)."""
    check(USER_ADMIN)
    typed = form_of("email", "name", "role", "language")
    body = {k: v for k, v in typed.items() if not (k == "language" and v not in LANGUAGES)}
    try:
        invitation_in = InvitationCreateSchema().load(body)
        issued = accounts_service.invite(
            invitation_in=invitation_in, tenant=g.tenant, actor=current_actor()
        )
    except ValidationError as err:
        return _page(form_errors(err.messages), typed, 422)
    except DomainError as err:
        # A conflict, or the mail server down (503): nothing of it is kept.
        db.session.rollback()
        return _page(problems_of(err), typed, 422)
    return _issued(issued, tenant_id)


@bp.post("/settings/invitations/<uuid:invitation_id>/resend")
def settings_invitation_resend(tenant_id, invitation_id):
    """Send an invitation again, as a new link."""
    check(USER_ADMIN)
    try:
        invitation = _invitation(invitation_id)
        issued = accounts_service.resend(invitation=invitation, actor=current_actor())
    except DomainError as err:
        db.session.rollback()
        return _page(problems_of(err), None, 422)
    return _issued(issued, tenant_id)


@bp.post("/settings/invitations/<uuid:invitation_id>/revoke")
def settings_invitation_revoke(tenant_id, invitation_id):
    """Withdraw an invitation: its link stops working at once."""
    check(USER_ADMIN)
    invitation = _invitation(invitation_id)
    try:
        accounts_service.revoke(invitation=invitation, actor=current_actor())
    except DomainError as err:
        db.session.rollback()
        return _page(problems_of(err), None, 422)
    flash(_("The invitation to %(email)s was revoked.", email=invitation.email), "ok")
    return redirect(url_for("web.portal.settings_invitations", tenant_id=tenant_id))


def _invitation(invitation_id):
    invitation = accounts_service.get(invitation_id=invitation_id)
    if invitation is None:
        abort(404)
    return invitation


def _issued(issued: accounts_service.Issued, tenant_id):
    if issued.accept_url is not None:
        # No mail server: this page is the only place the link is ever shown.
        return render(
            "portal/settings/invitation_link.html",
            endpoints=ENDPOINTS,
            url_args={"tenant_id": tenant_id},
            invitation=issued.token,
            accept_url=issued.accept_url,
        )
    flash(_("An invitation was sent to %(email)s.", email=issued.token.email), "ok")
    return redirect(url_for("web.portal.settings_invitations", tenant_id=tenant_id))
