"""HTTP resources of reports."""

from __future__ import annotations

from flask_smorest import Blueprint

reports_blp = Blueprint(
    "reports",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/reports",
    description="A client firm's reports.",
)
