"""Invitations to the BPO's own roles (BPO admin, supervisor, agent): who was invited and where
each stands, invite a person, resend and revoke; BPO admins only, as POST /v1/invitations.
A firm's people are invited from that firm's settings."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from marshmallow import ValidationError

from app.accounts import service as accounts_service
from app.accounts.schemas import PlatformInvitationCreateSchema
from app.auth.permissions import STAFF_ADMIN
from app.auth.principal import check, current_actor
from app.db import db
from app.errors import DomainError
from app.mail import LANGUAGES
from app.web import nav
from app.web.console.blueprint import bp
from app.web.labels import label
from app.web.portal.settings_forms import problems_of
from app.web.shell import form_errors, render
from tenants.models import BPO_ROLES
from tenants.scoping import unscoped

ENDPOINTS = {
    "list": "web.console.invitations",
    "create": "web.console.invitation_create",
    "resend": "web.console.invitation_resend",
    "revoke": "web.console.invitation_revoke",
}


def _roles() -> list[tuple[str, str]]:
    # BPO_ROLES ends with the least powerful role (agent): the form's default is the last.
    return [(role, label(role, "role")) for role in BPO_ROLES]


def _page(errors=None, typed=None, status=200):
    # The BPO's own invitations belong to no firm: only unscoped reads see them.
    with unscoped():
        invitations = db.session.scalars(accounts_service.list_platform()).all()
    return render(
        "portal/settings/invitations.html",
        endpoints=ENDPOINTS,
        url_args={},
        invitations=invitations,
        roles=_roles(),
        mail_languages=[("", _("The browser's language")), ("en", "English"), ("es", "Español")],
        errors=errors or {},
        typed=typed or {},
    ), status


@bp.get("/invitations")
def invitations():
    """The invitations to BPO roles, newest first, with the form to invite someone."""
    check(STAFF_ADMIN)
    return _page()


@bp.post("/invitations")
def invitation_create():
    """Invite a person to a BPO role (POST /v1/invitations)."""
    check(STAFF_ADMIN)
    typed = {name: request.form.get(name, "").strip() for name in ("email", "name", "role")}
    language = request.form.get("language", "")
    body = {**typed, **({"language": language} if language in LANGUAGES else {})}
    try:
        invitation_in = PlatformInvitationCreateSchema().load(body)
        with unscoped():
            issued = accounts_service.invite(
                invitation_in=invitation_in, tenant=None, actor=current_actor()
            )
    except ValidationError as err:
        return _page(form_errors(err.messages), typed, 422)
    except DomainError as err:
        db.session.rollback()  # a conflict, or the mail server down: nothing of it is kept
        return _page(problems_of(err), typed, 422)
    return _issued(issued)


@bp.post("/invitations/<uuid:invitation_id>/resend")
def invitation_resend(invitation_id):
    """Send an invitation again, as a new link."""
    check(STAFF_ADMIN)
    try:
        with unscoped():
            issued = accounts_service.resend(
                invitation=_invitation(invitation_id), actor=current_actor()
            )
    except DomainError as err:
        db.session.rollback()
        return _page(problems_of(err), None, 422)
    return _issued(issued)


@bp.post("/invitations/<uuid:invitation_id>/revoke")
def invitation_revoke(invitation_id):
    """Withdraw an invitation: its link stops working at once."""
    check(STAFF_ADMIN)
    try:
        with unscoped():
            invitation = _invitation(invitation_id)
            accounts_service.revoke(invitation=invitation, actor=current_actor())
    except DomainError as err:
        db.session.rollback()
        return _page(problems_of(err), None, 422)
    flash(_("The invitation to %(email)s was revoked.", email=invitation.email), "ok")
    return redirect(url_for(ENDPOINTS["list"]))


def _invitation(invitation_id):
    invitation = accounts_service.get(invitation_id=invitation_id, platform=True)
    if invitation is None:
        abort(404)
    return invitation


def _issued(issued: accounts_service.Issued):
    if issued.accept_url is not None:
        # No mail server: this page is the only place the link is ever shown.
        return render(
            "portal/settings/invitation_link.html",
            endpoints=ENDPOINTS,
            url_args={},
            invitation=issued.token,
            accept_url=issued.accept_url,
        )
    flash(_("An invitation was sent to %(email)s.", email=issued.token.email), "ok")
    return redirect(url_for(ENDPOINTS["list"]))


nav.console("web.console.invitations", lazy_gettext("Invite staff"), order=29, roles=("bpo_admin",))
