"""HTTP resource of onboarding: POST /v1/tenants."""

from __future__ import annotations

from flask_smorest import Blueprint

onboarding_blp = Blueprint(
    "onboarding",
    __name__,
    url_prefix="/v1/tenants",
    description="Onboard a client firm in one call.",
)
