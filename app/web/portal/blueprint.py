"""The portal area's blueprint, which its page modules add their routes to."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("portal", __name__, url_prefix="/firms/<uuid:tenant_id>")
