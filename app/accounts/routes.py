"""HTTP resources of accounts: a client firm's invitations (/v1/tenants/{id}/invitations) and
the BPO's invitations to its own roles (/v1/invitations)."""

from __future__ import annotations

import inspect

from flask.views import MethodView
from sqlalchemy import func, select

from app.accounts import service as accounts_service
from app.accounts.schemas import (
    InvitationCreatedSchema,
    InvitationCreateSchema,
    InvitationQueryArgsSchema,
    InvitationSchema,
    PlatformInvitationCreateSchema,
)
from app.api_base import Blueprint
from app.auth.permissions import STAFF_ADMIN, USER_ADMIN, USER_READ
from app.auth.principal import current_actor, current_tenant, require
from app.crud import CollectionView, ItemView, found
from app.db import db
from tenants.scoping import unscoped

invitations_blp = Blueprint(
    "invitations",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/invitations",
    description="Invitations to a client firm: a single-use link, valid 24 hours, by which "
    "the person sets their password.",
)
platform_invitations_blp = Blueprint(
    "platform_invitations",
    __name__,
    url_prefix="/v1/invitations",
    description="Invitations to the BPO's own roles (BPO admin, supervisor, agent).",
)

_MAIL_DOWN = (
    "The mail server could not be reached: nothing was sent and nothing was saved; try again."
)
_CONFLICT = (
    "The e-mail belongs to a person of another client firm (or of the BPO), or to someone who "
    "already has a password, or who was invited with another role."
)
_ACCEPTED = "The invitation was accepted already: deactivate the user instead."
_NOT_RESENDABLE = "The invitation was accepted, revoked or superseded (`detail` says which)."


_LINK_MAILED = """A mail with the link goes to the person, in the invitation's `language`, else the
firm's locale, else English. With no mail server configured (`SWITCHBOARD_SMTP_URL`) the answer
carries the link as `accept_url`, this once: hand it to the person yourself; only its digest is
stored, and it is logged nowhere. The link is valid 24 hours and works once; a newer link for the
same person (invitation, resend, password reset) ends the older ones. Mail server down: 503, and
nothing is saved."""


def _mails_a_link(view):
    """Add to a view's API docs what every answer that sends a link says about it."""
    view.__doc__ = f"{inspect.cleandoc(view.__doc__ or '')}\n\n{_LINK_MAILED}"
    return view


def _created(issued: accounts_service.Issued) -> dict:
    # Raw values: the response schema does the one and only dump.
    token = issued.token
    answer = {name: getattr(token, name) for name in InvitationSchema().fields}
    if issued.accept_url is not None:
        answer["accept_url"] = issued.accept_url
    return answer


@invitations_blp.route("")
class Invitations(CollectionView):
    blp, schema, query_schema = invitations_blp, InvitationSchema, InvitationQueryArgsSchema
    read = require(USER_READ)
    docs = {"get": "List the client firm's invitations, newest first, with their status"}

    def select(self, **args):
        return accounts_service.list_(**args)

    @require(USER_ADMIN)
    @invitations_blp.arguments(InvitationCreateSchema)
    @invitations_blp.response(201, InvitationCreatedSchema)
    @invitations_blp.alt_response(409, description=_CONFLICT)
    @invitations_blp.alt_response(503, description=_MAIL_DOWN)
    @_mails_a_link
    def post(self, invitation_in, tenant_id):
        """Invite a person to the client firm as client admin or client viewer

        A new address becomes one of the firm's users, without a password until they accept
        (it shows in `users`). Inviting someone already invited and not yet signed up sends
        them a new link.
        """
        issued = accounts_service.invite(
            invitation_in=invitation_in, tenant=current_tenant(), actor=current_actor()
        )
        return _created(issued)


@invitations_blp.route("/<uuid:invitation_id>")
class InvitationById(ItemView):
    blp, schema = invitations_blp, InvitationSchema
    read = require(USER_READ)
    docs = {"get": "Read one of the client firm's invitations"}

    def item(self, invitation_id, **_path):
        return found(
            accounts_service.get(invitation_id=invitation_id),
            "No such invitation in this client firm.",
        )

    @require(USER_ADMIN)
    @invitations_blp.response(204)
    @invitations_blp.alt_response(409, description=_ACCEPTED)
    def delete(self, tenant_id, invitation_id):
        """Revoke an invitation: its link stops working at once

        The person stays among the firm's users, without a password; deactivate them under
        `users` to keep them out for good. An accepted invitation cannot be revoked (409).
        """
        accounts_service.revoke(invitation=self.item(invitation_id), actor=current_actor())


@invitations_blp.route("/<uuid:invitation_id>/resend")
class InvitationResend(MethodView):
    @require(USER_ADMIN)
    @invitations_blp.response(201, InvitationCreatedSchema)
    @invitations_blp.alt_response(409, description=_NOT_RESENDABLE)
    @invitations_blp.alt_response(503, description=_MAIL_DOWN)
    @_mails_a_link
    def post(self, tenant_id, invitation_id):
        """Send a pending or expired invitation again, as a new invitation

        The answer is the new invitation (a new id); the old one is `superseded`.
        """
        invitation = found(
            accounts_service.get(invitation_id=invitation_id),
            "No such invitation in this client firm.",
        )
        return _created(accounts_service.resend(invitation=invitation, actor=current_actor()))


@platform_invitations_blp.route("")
class PlatformInvitations(MethodView):
    @require(STAFF_ADMIN)
    @platform_invitations_blp.arguments(InvitationQueryArgsSchema, location="query")
    @platform_invitations_blp.response(200, InvitationSchema(many=True))
    @platform_invitations_blp.paginate()
    def get(self, args, pagination_parameters):
        """List the invitations to BPO roles, newest first, with their status"""
        stmt = accounts_service.list_platform(**args)
        # The BPO's own invitations belong to no firm: only unscoped reads see them.
        with unscoped():
            pagination_parameters.item_count = db.session.scalar(
                select(func.count()).select_from(stmt.order_by(None).subquery())
            )
            return db.session.scalars(
                stmt.limit(pagination_parameters.page_size).offset(pagination_parameters.first_item)
            ).all()

    @require(STAFF_ADMIN)
    @platform_invitations_blp.arguments(PlatformInvitationCreateSchema)
    @platform_invitations_blp.response(201, InvitationCreatedSchema)
    @platform_invitations_blp.alt_response(409, description=_CONFLICT)
    @platform_invitations_blp.alt_response(503, description=_MAIL_DOWN)
    @_mails_a_link
    def post(self, invitation_in):
        """Invite a person to a BPO role: BPO admin, supervisor or agent

        A new address becomes a user with that role across the BPO, without a password until
        they accept. An agent also needs an agent profile (`POST /v1/agents`) to take work;
        for someone created there without a password, invite the same address with the role
        `agent` to send them their link. Supervisors are granted their firms under
        `/v1/supervisors`.
        """
        # The BPO's own people and invitations belong to no firm.
        with unscoped():
            issued = accounts_service.invite(
                invitation_in=invitation_in, tenant=None, actor=current_actor()
            )
            return _created(issued)


@platform_invitations_blp.route("/<uuid:invitation_id>")
class PlatformInvitationById(MethodView):
    @require(STAFF_ADMIN)
    @platform_invitations_blp.response(200, InvitationSchema)
    def get(self, invitation_id):
        """Read one invitation to a BPO role"""
        # The BPO's own invitations belong to no firm.
        with unscoped():
            return _platform_invitation(invitation_id)

    @require(STAFF_ADMIN)
    @platform_invitations_blp.response(204)
    @platform_invitations_blp.alt_response(409, description=_ACCEPTED)
    def delete(self, invitation_id):
        """Revoke an invitation to a BPO role: its link stops working at once"""
        with unscoped():
            accounts_service.revoke(
                invitation=_platform_invitation(invitation_id), actor=current_actor()
            )


@platform_invitations_blp.route("/<uuid:invitation_id>/resend")
class PlatformInvitationResend(MethodView):
    @require(STAFF_ADMIN)
    @platform_invitations_blp.response(201, InvitationCreatedSchema)
    @platform_invitations_blp.alt_response(409, description=_NOT_RESENDABLE)
    @platform_invitations_blp.alt_response(503, description=_MAIL_DOWN)
    @_mails_a_link
    def post(self, invitation_id):
        """Send a pending or expired invitation to a BPO role again, as a new invitation

        The answer is the new invitation (a new id); the old one is `superseded`.
        """
        with unscoped():
            invitation = _platform_invitation(invitation_id)
            return _created(accounts_service.resend(invitation=invitation, actor=current_actor()))


def _platform_invitation(invitation_id):
    return found(
        accounts_service.get(invitation_id=invitation_id, platform=True),
        "No such invitation to a BPO role.",
    )
