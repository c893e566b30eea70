"""HTTP resources of SLA configuration: the business calendar and SLA policies."""

from __future__ import annotations

from flask_smorest import Blueprint

calendar_blp = Blueprint(
    "calendar",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/calendar",
    description="A client firm's business calendar (versioned) and business-time arithmetic.",
)
sla_policies_blp = Blueprint(
    "sla_policies",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/sla-policies",
    description="A client firm's SLA policies: targets per priority, channel and category.",
)
