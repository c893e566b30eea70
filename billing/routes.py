"""HTTP resources of billing. For now: the rate card."""

from __future__ import annotations

from flask_smorest import Blueprint

rate_card_blp = Blueprint(
    "rate_card",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/rate-card",
    description="A client firm's prices per handled contact, versioned by effective date.",
)
