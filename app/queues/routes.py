"""HTTP resources of queues and briefings."""

from __future__ import annotations

from flask_smorest import Blueprint

queues_blp = Blueprint(
    "queues",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/queues",
    description="A client firm's queues: which channels, categories and languages land where.",
)
briefings_blp = Blueprint(
    "briefings",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/briefings",
    description="Notices a client firm gives agents working its queues.",
)
