"""Pages a person reaches from a mail, signed out: accept an invitation (set a first password),
ask for a password reset, and set a new password through a reset link."""

from __future__ import annotations

from flask import Blueprint, request
from flask_babel import get_locale
from marshmallow import ValidationError

from app.accounts import service as accounts_service
from app.accounts.models import INVITATION, PASSWORD_RESET
from app.accounts.schemas import PasswordResetRequestSchema, SetPasswordSchema
from app.auth.passwords import MIN_PASSWORD_LENGTH
from app.errors import Unprocessable
from app.mail import MailUnavailable
from app.web.shell import form_errors, public, render

bp = Blueprint("accounts", __name__)


def _refused(error: accounts_service.LinkRefused):
    # 410: the link is gone for good (used, expired, superseded, revoked, or never was).
    return render("accounts/link_refused.html", reason=error.reason), 410


def _set_password(token: str, purpose: str, done):
    """The form of a link, shown (GET) or sent (POST)."""
    try:
        link = accounts_service.check_token(token=token, purpose=purpose)
    except accounts_service.LinkRefused as error:
        return _refused(error)
    page = {
        "purpose": purpose,
        "email": link.user.email,
        "name": link.user.name,
        "errors": {},
        "min_length": MIN_PASSWORD_LENGTH,
    }
    if request.method == "GET":
        return render("accounts/set_password.html", **page)
    try:
        fields = ("password", "password_confirm", "name")
        form = SetPasswordSchema().load({k: request.form[k] for k in fields if k in request.form})
        done(token=token, form=form)
    except ValidationError as error:
        page.update(errors=form_errors(error.messages), name=request.form.get("name", ""))
        return render("accounts/set_password.html", **page), 422
    except Unprocessable as error:
        page.update(errors=form_errors((error.extra.get("errors") or {}).get("json") or {}))
        return render("accounts/set_password.html", **page), 422
    except accounts_service.LinkRefused as error:
        return _refused(error)
    return render("accounts/password_set.html", purpose=purpose)


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str):
    """Set your password to accept an invitation, then go and sign in."""

    def accept(*, token, form):
        accounts_service.accept_invitation(
            token=token, password=form["password"], name=form.get("name") or None
        )

    return _set_password(token, INVITATION, accept)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str):
    """Choose a new password through a reset link; every earlier sign-in ends."""

    def reset(*, token, form):
        accounts_service.reset_password(token=token, password=form["password"])

    return _set_password(token, PASSWORD_RESET, reset)


@bp.route("/forgot-password", methods=["GET", "POST"])
@public
def forgot_password():
    """Ask for a reset link; the answer is the same whether or not the address has an account."""
    if request.method == "GET":
        return render("accounts/forgot_password.html", errors={}, email="", mail_down=False)
    email = request.form.get("email", "")
    try:
        form = PasswordResetRequestSchema().load({"email": email})
        accounts_service.request_password_reset(
            email=form["email"], language=str(get_locale() or "") or None
        )
    except ValidationError as error:
        errors = form_errors(error.messages)
        page = {"errors": errors, "email": email, "mail_down": False}
        return render("accounts/forgot_password.html", **page), 422
    except MailUnavailable:
        page = {"errors": {}, "email": email, "mail_down": True}
        return render("accounts/forgot_password.html", **page), 503
    return render("accounts/reset_sent.html")
