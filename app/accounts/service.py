"""Accounts rules: inviting people, resending and revoking invitations, accepting them, and
resetting a forgotten password, each by a single-use link valid 24 hours.

An invitation names a person who exists already, with no password yet (inviting a new address
creates them, as `users` would, without a password); the link sets their first password.
Services take keyword arguments and never commit: the request owns the transaction, and a mail
that cannot be sent (app/mail.py, 503) rolls back everything the call was about to save.
May import the services of tenants and auth (passwords, token families) and app/mail.py.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, and_, select, update

from app import mail
from app.accounts.models import INVITATION, PASSWORD_RESET, AccountToken
from app.auth import families
from app.auth.models import TokenFamily, digest
from app.auth.passwords import MIN_PASSWORD_LENGTH, hash_password
from app.db import db, utcnow
from app.errors import Conflict, DomainError, Unprocessable
from tenants import service as tenants_service
from tenants.models import CLIENT_ROLES, Membership, Tenant, User
from tenants.scoping import unscoped
from tenants.service import Actor

log = logging.getLogger(__name__)

# How long a link works (the issue's rule; the mails and the refusals say 24 hours).
LINK_TTL_HOURS = 24
# Paths of the web pages a link opens (app/web/accounts.py).
INVITATION_PATH = "/invitations/"
RESET_PATH = "/reset-password/"

ROLE_NAMES = {
    "en": {
        "bpo_admin": "BPO administrator",
        "supervisor": "supervisor",
        "agent": "agent",
        "client_admin": "administrator",
        "client_viewer": "viewer",
    },
    "es": {
        "bpo_admin": "administrador del BPO",
        "supervisor": "supervisor",
        "agent": "agente",
        "client_admin": "administrador",
        "client_viewer": "lector",
    },
}
SUBJECTS = {
    (INVITATION, "en"): "Your invitation to Switchboard",
    (INVITATION, "es"): "Tu invitación a Switchboard",
    (PASSWORD_RESET, "en"): "Reset your Switchboard password",
    (PASSWORD_RESET, "es"): "Restablece tu contraseña de Switchboard",
}


class LinkRefused(DomainError):
    """A link that cannot be used (unknown, used, expired, superseded or revoked) (400)."""

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


_REFUSALS = {
    "unknown": "This link is not valid. Check that you copied all of it, or ask for a new one.",
    "accepted": "This link was already used. Sign in with your password, or ask for a new link.",
    "expired": "This link has expired: links are valid for 24 hours. Ask for a new one.",
    "superseded": "A newer link was sent to you since this one: use the latest e-mail.",
    "revoked": "This invitation was withdrawn. Ask your administrator for a new one.",
}


@dataclass(frozen=True)
class Issued:
    """A link just made: its row and, when no mail server sent it, the link itself (shown once
    to the admin who asked for it, and never stored nor logged)."""

    token: AccountToken
    accept_url: str | None


# --- invitations -----------------------------------------------------------------------------


def list_(*, status: str | None = None) -> Select:
    """Select the invitations in scope (a firm's, or unscoped the BPO's), newest first."""
    stmt = (
        select(AccountToken)
        .join(AccountToken.user)
        .where(AccountToken.purpose == INVITATION)
        .order_by(AccountToken.created_at.desc(), AccountToken.id)
    )
    if status is not None:
        stmt = stmt.where(_status_is(status))
    return stmt


def list_platform(*, status: str | None = None) -> Select:
    """Select the invitations to BPO roles (no firm), newest first."""
    return list_(status=status).where(AccountToken.tenant_id.is_(None))


def _status_is(status: str):
    now = utcnow()
    open_ = and_(
        AccountToken.used_at.is_(None),
        AccountToken.revoked_at.is_(None),
        AccountToken.superseded_at.is_(None),
    )
    return {
        "accepted": AccountToken.used_at.is_not(None),
        "revoked": and_(AccountToken.used_at.is_(None), AccountToken.revoked_at.is_not(None)),
        "superseded": and_(
            AccountToken.used_at.is_(None),
            AccountToken.revoked_at.is_(None),
            AccountToken.superseded_at.is_not(None),
        ),
        "expired": and_(open_, AccountToken.expires_at <= now),
        "pending": and_(open_, AccountToken.expires_at > now),
    }[status]


def get(*, invitation_id: uuid.UUID, platform: bool = False) -> AccountToken | None:
    """Return one invitation in scope (`platform`: one to a BPO role)."""
    stmt = select(AccountToken).where(
        AccountToken.id == invitation_id, AccountToken.purpose == INVITATION
    )
    if platform:
        stmt = stmt.where(AccountToken.tenant_id.is_(None))
    return db.session.scalar(stmt)


def invite(*, invitation_in: dict, tenant: Tenant | None, actor: Actor) -> Issued:
    """Invite a person to a firm (its client roles) or, with no tenant, to a BPO role: create
    them without a password unless they are already there waiting, and send them a link."""
    email, role = invitation_in["email"].strip().lower(), invitation_in["role"]
    tenant_id = tenant.id if tenant is not None else None
    user = tenants_service.find_user(email=email)
    if user is None:
        with _platform_scope(tenant):
            membership = tenants_service.create_user(
                email=email,
                name=invitation_in["name"],
                password_hash=None,
                role=role,
                tenant_id=tenant_id,
                actor=actor,
            )
        user = membership.user
        if invitation_in.get("language"):
            # The language the admin chose for a newcomer is theirs until they choose one.
            tenants_service.set_language(user=user, language=invitation_in["language"])
    else:
        _check_invitable(user, role=role, tenant_id=tenant_id)
    return _issue(
        user=user,
        purpose=INVITATION,
        tenant=tenant,
        role=role,
        language=invitation_in.get("language"),
        actor=actor,
    )


def _check_invitable(user: User, *, role: str, tenant_id: uuid.UUID | None) -> None:
    # Where the person belongs is read across every firm: an address already at another
    # firm (or at the BPO) must not be pulled into this one.
    with unscoped():
        memberships = db.session.scalars(
            select(Membership).where(Membership.user_id == user.id)
        ).all()
    here = [m for m in memberships if m.tenant_id == tenant_id]
    elsewhere = [
        m
        for m in memberships
        if m.tenant_id != tenant_id and (tenant_id is not None or m.role in CLIENT_ROLES)
    ]
    if elsewhere or not here:
        where = "the BPO" if tenant_id is None else "this client firm"
        raise Conflict(
            f"A person with this e-mail already belongs to someone other than {where}; "
            "one e-mail address is one person, in one place."
        )
    if user.password_hash is not None:
        raise Conflict(
            "This person already has an account and a password; if they forgot it, they can "
            "ask for a reset link on the sign-in page."
        )
    if here[0].role != role:
        raise Conflict(
            f"This person is already invited as {here[0].role}; change their role first, "
            "or invite them with that role."
        )


def onboard_first_admin(*, membership: Membership, tenant: Tenant, actor: Actor) -> Issued:
    """Invite a firm's first client admin, just created without a password by onboarding."""
    return _issue(
        user=membership.user,
        purpose=INVITATION,
        tenant=tenant,
        role=membership.role,
        language=None,
        actor=actor,
    )


def resend(*, invitation: AccountToken, actor: Actor) -> Issued:
    """Send a pending or expired invitation again, as a new link that ends the old one."""
    if invitation.status not in ("pending", "expired"):
        raise Conflict(_NOT_RESENT[invitation.status])
    if invitation.user.password_hash is not None:
        raise Conflict(
            "This person has set a password since; they can ask for a reset link instead."
        )
    tenant = db.session.get(Tenant, invitation.tenant_id) if invitation.tenant_id else None
    return _issue(
        user=invitation.user,
        purpose=INVITATION,
        tenant=tenant,
        role=invitation.role,
        language=invitation.language,
        actor=actor,
        action="invitation.resent",
    )


_NOT_RESENT = {
    "accepted": "This invitation was accepted: the person has signed up.",
    "revoked": "This invitation was revoked; invite the person again to send a new one.",
    "superseded": "A newer invitation was sent to this person: resend that one.",
}


def revoke(*, invitation: AccountToken, actor: Actor) -> AccountToken:
    """Withdraw an invitation: its link stops working. The person stays, without a password."""
    if invitation.used_at is not None:
        raise Conflict("This invitation was accepted already; deactivate the user instead.")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        _audit(invitation, "invitation.revoked", actor)
        db.session.flush()
    return invitation


# --- links -----------------------------------------------------------------------------------


def _issue(
    *,
    user: User,
    purpose: str,
    tenant: Tenant | None,
    role: str | None,
    language: str | None,
    actor: Actor,
    action: str | None = None,
) -> Issued:
    """Make a link for the person, ending their older unused ones, and mail it (or, with no
    mail server, hand it back to show once)."""
    now = utcnow()
    _supersede(user_id=user.id, now=now)
    secret = secrets.token_urlsafe(32)
    hours = LINK_TTL_HOURS
    token = AccountToken(
        token_hash=digest(secret),
        purpose=purpose,
        user_id=user.id,
        tenant_id=tenant.id if tenant is not None else None,
        role=role,
        language=language,
        created_at=now,
        created_by_user_id=actor.user_id,
        created_by_client_id=actor.client_id,
        expires_at=now + timedelta(hours=hours),
    )
    with _platform_scope(tenant):
        db.session.add(token)
        db.session.flush()
        if purpose == INVITATION:
            _audit(token, action or "invitation.created", actor)
        else:
            _audit(token, "password.reset_requested", actor)
        db.session.flush()
    path = INVITATION_PATH if purpose == INVITATION else RESET_PATH
    link = current_app.config["OAUTH_ISSUER"].rstrip("/") + path + secret
    if not mail.is_configured():
        return Issued(token=token, accept_url=link)
    _mail(token=token, user=user, tenant=tenant, link=link, hours=hours)
    return Issued(token=token, accept_url=None)


def _platform_scope(tenant: Tenant | None):
    """The BPO's own rows (no firm) are written unscoped; a firm's in the request's scope."""
    if tenant is None:
        # A BPO-wide invitation, or a reset, belongs to no firm: only unscoped code sees it.
        return unscoped()
    return nullcontext()


def _supersede(*, user_id: uuid.UUID, now: datetime) -> None:
    # A person's older links, whichever firm (or none) they were issued in, all end here.
    with unscoped():
        db.session.execute(
            update(AccountToken)
            .where(
                AccountToken.user_id == user_id,
                AccountToken.used_at.is_(None),
                AccountToken.revoked_at.is_(None),
                AccountToken.superseded_at.is_(None),
            )
            .values(superseded_at=now)
            .execution_options(synchronize_session=False)
        )


def _mail(*, token: AccountToken, user: User, tenant: Tenant | None, link: str, hours: int):
    # The person's own language, else the one asked for this mail, else their firm's.
    language = mail.language_of(user.language, token.language, tenant.locale if tenant else None)
    text, html = mail.render(
        token.purpose,
        language=language,
        name=user.name,
        firm=tenant.name if tenant is not None else None,
        role=ROLE_NAMES[language].get(token.role or "", token.role or ""),
        link=link,
        hours=hours,
    )
    mail.send(to=user.email, subject=SUBJECTS[(token.purpose, language)], text=text, html=html)


def _audit(token: AccountToken, action: str, actor: Actor) -> None:
    tenants_service.record_audit(
        actor=actor,
        action=action,
        target_type="user",
        target_id=token.user_id,
        tenant_id=token.tenant_id,
        details={"token_id": str(token.id), "role": token.role},
    )


def check_token(*, token: str, purpose: str) -> AccountToken:
    """Return the usable link this secret opens, or raise LinkRefused saying why not."""
    # The link is the credential: no firm is known until its row is read.
    with unscoped():
        row = db.session.scalar(
            select(AccountToken).where(
                AccountToken.token_hash == digest(token), AccountToken.purpose == purpose
            )
        )
    status = "unknown" if row is None else row.status
    if status != "pending":
        raise LinkRefused(_REFUSALS[status], reason=status)
    return row


def _use(*, token: str, purpose: str, password: str) -> tuple[AccountToken, User]:
    _check_password(password)
    row = check_token(token=token, purpose=purpose)
    now = utcnow()
    # Single use across processes: the conditional UPDATE's row count picks the one winner.
    with unscoped():
        claimed = db.session.execute(
            update(AccountToken)
            .where(
                AccountToken.id == row.id,
                AccountToken.used_at.is_(None),
                AccountToken.revoked_at.is_(None),
                AccountToken.superseded_at.is_(None),
                AccountToken.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
    if claimed.rowcount != 1:
        raise LinkRefused(_REFUSALS["accepted"], reason="accepted")
    user = db.session.get(User, row.user_id)
    # Whatever an admin decided about the person (deactivated) stays as it is.
    user.password_hash = hash_password(password)
    return row, user


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH or len(password) > 256:
        raise Unprocessable(
            "Invalid input: password.",
            errors={
                "json": {
                    "password": [
                        f"Use at least {MIN_PASSWORD_LENGTH} characters (and at most 256)."
                    ]
                }
            },
        )


def accept_invitation(*, token: str, password: str, name: str | None = None) -> User:
    """Set an invited person's first password (and, if given, their name) through their link."""
    row, user = _use(token=token, purpose=INVITATION, password=password)
    if name and name.strip():
        user.name = name.strip()[:200]
    actor = Actor(user_id=user.id, client_id=None)
    # The row is read through its link; its firm's audit entry is written there.
    with unscoped():
        _audit(row, "invitation.accepted", actor)
        db.session.flush()
    return user


# --- password resets -------------------------------------------------------------------------


def request_password_reset(*, email: str, language: str | None = None) -> Issued | None:
    """Mail a reset link to the person with this e-mail, at most once per interval; nothing
    for an unknown, deactivated or not yet signed-up address, and nothing without a mail server
    (a link handed back here would let anyone reset anyone's password). The caller answers
    the same whatever happened."""
    user = tenants_service.find_user(email=email)
    if user is None or not user.is_active or user.password_hash is None:
        return None
    if not mail.is_configured():
        log.warning("password reset asked for, but no mail server is configured (SMTP_URL)")
        return None
    interval = timedelta(seconds=int(current_app.config["PASSWORD_RESET_INTERVAL_SECONDS"]))
    # A person's resets belong to no firm.
    with unscoped():
        recent = db.session.scalar(
            select(AccountToken.id).where(
                AccountToken.user_id == user.id,
                AccountToken.purpose == PASSWORD_RESET,
                AccountToken.created_at > utcnow() - interval,
            )
        )
    if recent is not None:
        return None
    tenant = _home_firm(user)
    return _issue(
        user=user,
        purpose=PASSWORD_RESET,
        tenant=None,
        role=None,
        language=language or (tenant.locale if tenant else None),
        actor=Actor(user_id=None, client_id="password-reset"),
    )


def _home_firm(user: User) -> Tenant | None:
    # Which firm's language the person reads is read across firms: no firm is in scope.
    with unscoped():
        tenant_id = db.session.scalar(
            select(Membership.tenant_id).where(
                Membership.user_id == user.id, Membership.tenant_id.is_not(None)
            )
        )
    return db.session.get(Tenant, tenant_id) if tenant_id else None


def reset_password(*, token: str, password: str) -> User:
    """Set a new password through a reset link, and end every sign-in the person had."""
    row, user = _use(token=token, purpose=PASSWORD_RESET, password=password)
    live = db.session.scalars(
        select(TokenFamily.id).where(
            TokenFamily.user_id == user.id, TokenFamily.revoked_at.is_(None)
        )
    ).all()
    for family_id in live:
        families.revoke(family_id)
    with unscoped():
        tenants_service.record_audit(
            actor=Actor(user_id=user.id, client_id=None),
            action="password.reset",
            target_type="user",
            target_id=user.id,
            details={"token_id": str(row.id), "sign_ins_revoked": len(live)},
        )
        db.session.flush()
    return user
