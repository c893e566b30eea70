"""HTTP resources of reports."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from app.auth.permissions import REPORTS_READ
from app.auth.principal import require
from app.db import utcnow
from app.reports import service as reports_service
from app.reports.schemas import AgentTimeQueryArgsSchema, AgentTimeReportSchema

reports_blp = Blueprint(
    "reports",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/reports",
    description="A client firm's reports.",
)


@reports_blp.route("/agent-time")
class AgentTime(MethodView):
    @require(REPORTS_READ)
    @reports_blp.arguments(AgentTimeQueryArgsSchema, location="query")
    @reports_blp.response(200, AgentTimeReportSchema)
    def get(self, args, tenant_id):
        """Report the agents' working minutes attributed to the client firm in [from, to)

        Time an agent spends with queues of several firms active is shared equally between
        them; break and offline time counts for nobody.
        """
        now = utcnow()
        return {
            "tenant_id": tenant_id,
            "from_": args["from_"],
            "to": args["to"],
            "generated_at": now,
            "agents": reports_service.agent_time(from_=args["from_"], to=args["to"], now=now),
        }
