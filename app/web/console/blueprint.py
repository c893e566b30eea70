"""The console area's blueprint, which its page modules add their routes to."""

from __future__ import annotations

from flask import Blueprint, g
from flask_babel import gettext as _

from app.auth.principal import Forbidden

bp = Blueprint("console", __name__, url_prefix="/console")


@bp.before_request
def _bpo_staff_only():
    """The console is the BPO's: its admins and supervisors; a firm's people have the portal."""
    principal = g.principal
    if not (principal.is_bpo_admin or "supervisor" in principal.roles):
        raise Forbidden(_("The console is for the BPO's admins and supervisors."))
