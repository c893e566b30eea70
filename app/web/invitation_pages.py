"""The invitation pages, one implementation for the two places people are invited from: a firm's
settings (its client roles) and the console (the BPO's own roles). Who was invited and where each
stands, invite a person (the link shown once when no mail server sends it), resend and revoke.
The views around them check the permission; these call the accounts service as the API does."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from marshmallow import Schema, ValidationError

from app.accounts import service as accounts_service
from app.auth.principal import current_actor
from app.db import db
from app.errors import DomainError
from app.mail import LANGUAGES
from app.web.labels import label
from app.web.portal.settings_forms import form_of, problems_of
from app.web.shell import form_errors, render
from tenants.models import Tenant
from tenants.scoping import unscoped


@dataclass(frozen=True)
class Place:
    """Where invitations are made: a firm (`tenant`), or the BPO itself (None)."""

    tenant: Tenant | None
    roles: tuple[str, ...]  # the least powerful last: the form's default
    schema: type[Schema]
    endpoints: dict[str, str]  # list, create, resend, revoke
    default_language: str  # what the e-mail's language is when none is picked

    @property
    def url_args(self) -> dict:
        return {"tenant_id": self.tenant.id} if self.tenant is not None else {}

    def scope(self):
        # The BPO's own people and invitations belong to no firm: only unscoped code sees them.
        return unscoped() if self.tenant is None else nullcontext()


def page(place: Place, errors=None, typed=None, status: int = 200):
    """The invitations, newest first, with the form to invite someone."""
    with place.scope():
        listed = accounts_service.list_() if place.tenant else accounts_service.list_platform()
        invitations = db.session.scalars(listed).all()
    return render(
        "portal/settings/invitations.html",
        endpoints=place.endpoints,
        url_args=place.url_args,
        invitations=invitations,
        roles=[(role, label(role, "role")) for role in place.roles],
        mail_languages=[("", place.default_language), ("en", "English"), ("es", "Español")],
        errors=errors or {},
        typed=typed or {},
    ), status


def create(place: Place):
    """Invite the person the form names; errors beside their fields, nothing kept on failure."""
    typed = form_of("email", "name", "role", "language")
    body = {k: v for k, v in typed.items() if not (k == "language" and v not in LANGUAGES)}
    try:
        invitation_in = place.schema().load(body)
        with place.scope():
            issued = accounts_service.invite(
                invitation_in=invitation_in, tenant=place.tenant, actor=current_actor()
            )
    except ValidationError as err:
        return page(place, form_errors(err.messages), typed, 422)
    except DomainError as err:
        # A conflict, or the mail server down (503): nothing of it is kept.
        db.session.rollback()
        return page(place, problems_of(err), typed, 422)
    return _issued(place, issued)


def resend(place: Place, invitation_id):
    """Send an invitation again, as a new link."""
    try:
        with place.scope():
            issued = accounts_service.resend(
                invitation=_invitation(place, invitation_id), actor=current_actor()
            )
    except DomainError as err:
        db.session.rollback()
        return page(place, problems_of(err), None, 422)
    return _issued(place, issued)


def revoke(place: Place, invitation_id):
    """Withdraw an invitation: its link stops working at once."""
    try:
        with place.scope():
            invitation = _invitation(place, invitation_id)
            accounts_service.revoke(invitation=invitation, actor=current_actor())
    except DomainError as err:
        db.session.rollback()
        return page(place, problems_of(err), None, 422)
    flash(_("The invitation to %(email)s was revoked.", email=invitation.email), "ok")
    return redirect(url_for(place.endpoints["list"], **place.url_args))


def _invitation(place: Place, invitation_id):
    invitation = accounts_service.get(invitation_id=invitation_id, platform=place.tenant is None)
    if invitation is None:
        abort(404)
    return invitation


def _issued(place: Place, issued: accounts_service.Issued):
    if issued.accept_url is not None:
        # No mail server: this page is the only place the link is ever shown.
        return render(
            "portal/settings/invitation_link.html",
            endpoints=place.endpoints,
            url_args=place.url_args,
            invitation=issued.token,
            accept_url=issued.accept_url,
        )
    flash(_("An invitation was sent to %(email)s.", email=issued.token.email), "ok")
    return redirect(url_for(place.endpoints["list"], **place.url_args))
