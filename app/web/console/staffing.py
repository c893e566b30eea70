"""The console's staffing: a queue of any firm the caller sees sized by Erlang C, as
GET /v1/tenants/<id>/queues/<id>/staffing answers it, with its curve as a chart."""

from __future__ import annotations

import uuid

from flask import g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from marshmallow import ValidationError
from werkzeug.exceptions import NotFound as HttpNotFound

from app.auth.permissions import REPORTS_READ
from app.auth.principal import check
from app.db import db
from app.errors import Unprocessable
from app.queues import service as queues_service
from app.queues.schemas import StaffingQueryArgsSchema
from app.web import nav
from app.web.console.blueprint import bp
from app.web.console.scope import scoped
from app.web.shell import form_errors, render
from tenants import service as tenants_service
from tenants.scoping import tenant_scope

INPUTS = ("interval", "volume", "aht", "target", "threshold", "shrinkage", "max_occupancy")


@bp.get("/staffing")
def staffing():
    """Pick a queue and the inputs; the agents needed, what they achieve, and the curve."""
    check(REPORTS_READ)
    values = {name: request.args.get(name, "") for name in ("queue", *INPUTS)}
    errors: dict[str, list[str]] = {}
    answer = None
    if values["queue"]:
        try:
            answer = _size(values)
        except ValidationError as err:
            errors = form_errors(err.messages)
        except Unprocessable as err:
            errors = form_errors((err.extra.get("errors") or {}).get("query") or err.detail)
    page = render(
        "console/staffing.html",
        choices=_queue_choices(),
        values=values,
        errors=errors,
        answer=answer,
        chart=_chart(answer) if answer else None,
    )
    return page, 422 if errors else 200


def _size(values: dict) -> dict:
    """The API's answer for the queue picked, in the scope of its firm."""
    try:
        tenant_id, queue_id = (uuid.UUID(part) for part in values["queue"].split(":"))
    except ValueError:
        raise ValidationError({"queue": [_("Choose a queue from the list.")]}) from None
    sent = {k: values[k].strip() for k in INPUTS if values[k].strip()}
    args = StaffingQueryArgsSchema().load(sent)
    # As the API binds a firm from its URL: one out of the caller's reach is not there.
    tenant = tenants_service.get(tenant_id=tenant_id)
    if tenant is None or g.principal.role_on(tenant_id) is None:
        raise HttpNotFound()
    with tenant_scope(tenant_id):
        queue = queues_service.get(queue_id=queue_id)
        if queue is None:
            raise HttpNotFound()
        args["interval_seconds"] = args.pop("interval")
        return queues_service.staffing(queue=queue, **args)


def _queue_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The active queues of the firms the caller sees, grouped by firm."""
    firms = {
        f.id: f
        for f in db.session.scalars(tenants_service.list_(visible=g.principal.visible_tenant_ids()))
    }
    with scoped(g.principal.visible_tenant_ids()):
        queues = list(db.session.scalars(queues_service.list_(active=True)))
    groups: dict = {}
    for queue in queues:
        if queue.tenant_id in firms:
            groups.setdefault(queue.tenant_id, []).append(
                (f"{queue.tenant_id}:{queue.id}", queue.name)
            )
    return sorted(((firms[t].name, options) for t, options in groups.items()), key=lambda g: g[0])


def _chart(answer: dict) -> dict:
    """Service level by agents on the phones, with the target as a dashed line (Chart.js)."""
    curve = answer["curve"]
    target = answer["inputs"]["target"] * 100
    return {
        "type": "line",
        "data": {
            "labels": [level["agents"] for level in curve],
            "datasets": [
                {
                    "label": _("Service level (%)"),
                    "data": [
                        None if level["service_level"] is None else level["service_level"] * 100
                        for level in curve
                    ],
                    "spanGaps": False,
                },
                {
                    "label": _("Target (%)"),
                    "data": [target for _level in curve],
                    "borderDash": [6, 4],
                    "pointRadius": 0,
                },
                {
                    "label": _("Occupancy (%)"),
                    "data": [level["occupancy"] * 100 for level in curve],
                    "hidden": True,
                },
            ],
        },
        "options": {
            "scales": {
                "x": {"title": {"display": True, "text": _("Agents")}},
                "y": {"min": 0, "max": 100, "title": {"display": True, "text": "%"}},
            }
        },
    }


nav.console("web.console.staffing", lazy_gettext("Staffing"), order=40)
