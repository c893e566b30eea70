"""HTTP resources of contacts. For now: the departments contacts are escalated to."""

from __future__ import annotations

from flask_smorest import Blueprint

departments_blp = Blueprint(
    "departments",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/departments",
    description="A client firm's back offices that contacts are escalated to.",
)
