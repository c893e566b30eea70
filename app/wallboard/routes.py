"""HTTP resource of the supervisor's wallboard: GET /v1/wallboard, a snapshot for machines."""

from __future__ import annotations

from flask import Response, current_app
from flask.views import MethodView

from app.api_base import Blueprint
from app.auth.permissions import WALLBOARD_READ
from app.auth.principal import current_principal, require
from app.reports.portfolio import overseen_tenant_ids
from app.wallboard import service as wallboard_service
from app.wallboard.schemas import WallboardQueryArgsSchema, WallboardSchema

wallboard_blp = Blueprint(
    "wallboard",
    __name__,
    url_prefix="/v1",
    description="The supervisor's live wallboard: queues, agents and contacts at risk, per firm.",
)


@wallboard_blp.route("/wallboard")
class Wallboard(MethodView):
    @require(WALLBOARD_READ)
    @wallboard_blp.arguments(WallboardQueryArgsSchema, location="query")
    @wallboard_blp.response(200, WallboardSchema)
    def get(self, args):
        """Read the wallboard: per firm and queue, what waits, today's service level, the risk

        A BPO admin sees every firm (offboarded ones left out); a supervisor, the firms it
        supervises; `tenant_id` narrows to some of them, and a firm out of the caller's reach
        is simply not shown (as in the portfolio and the at-risk list). Today is each firm's
        local day, in its time zone; the service level is its SLA report's for today, under
        its abandon treatment, against its default policy's target. Agents are those assigned
        to the shown firms' queues, with the contacts of those firms each holds.

        One snapshot serves everyone watching the same firms: it is read at most about once a
        second per server process, and while a newer one is read (up to 10 s) the last one is
        answered at once. `generated_at` is when it was read.
        """
        tenant_ids = overseen_tenant_ids(current_principal())
        wanted = args.get("tenant_id")
        if wanted:
            tenant_ids = frozenset(wanted) if tenant_ids is None else tenant_ids & set(wanted)
        body = wallboard_service.shared_rendering(_as_json, as_="json", tenant_ids=tenant_ids)
        # Already the schema's JSON (flask-smorest passes a response through as it is).
        return Response(body, mimetype=current_app.json.mimetype)


def _as_json(snapshot: dict) -> bytes:
    """The snapshot as this endpoint answers it: WallboardSchema's JSON, written as
    flask-smorest would (through the app's JSON provider)."""
    return current_app.json.response(WallboardSchema().dump(snapshot)).get_data()
