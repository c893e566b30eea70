"""The API registry: the flask-smorest Api, the one list of /v1 blueprints, shared helpers."""

from __future__ import annotations

from flask import Flask, request
from flask_smorest import Api as _Api
from flask_smorest import Page
from marshmallow import Schema, fields
from sqlalchemy import Select, func, select

from app.auth import principal
from app.auth.permissions import SCOPES
from app.db import db
from app.errors import http_exception_to_problem


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.String(metadata={"example": "about:blank"})
    title = fields.String(metadata={"example": "Not Found"})
    status = fields.Integer(metadata={"example": 404})
    detail = fields.String()
    instance = fields.String()
    request_id = fields.String()
    errors = fields.Dict(metadata={"description": "Per-field validation errors (422 only)."})


class Api(_Api):
    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error):
        return http_exception_to_problem(error)


api = Api()


def blueprints():
    """Every /v1 blueprint, in one place; each is protected by the auth layer."""
    from app.agents.routes import agents_blp, me_blp, supervisors_blp
    from app.contacts.routes import contacts_blp, departments_blp
    from app.onboarding.routes import onboarding_blp
    from app.queues.routes import briefings_blp, queues_blp
    from app.reports.routes import portfolio_blp, reports_blp
    from app.sla.routes import calendar_blp, sla_blp, sla_policies_blp
    from app.webhooks.routes import webhooks_blp
    from billing.routes import billing_periods_blp, invoices_blp, rate_card_blp
    from tenants.routes import api_clients_blp, tenants_blp, users_blp

    return (
        onboarding_blp,
        tenants_blp,
        users_blp,
        api_clients_blp,
        calendar_blp,
        sla_policies_blp,
        sla_blp,
        queues_blp,
        briefings_blp,
        departments_blp,
        contacts_blp,
        rate_card_blp,
        invoices_blp,
        billing_periods_blp,
        agents_blp,
        supervisors_blp,
        me_blp,
        reports_blp,
        portfolio_blp,
        webhooks_blp,
    )


def init_app(app: Flask) -> None:
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    # Relative URLs: they resolve against the server the document was fetched from.
    api.spec.components.security_scheme(
        "oauth2",
        {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": SCOPES},
                "authorizationCode": {
                    "authorizationUrl": "/oauth/authorize",
                    "tokenUrl": "/oauth/token",
                    "refreshUrl": "/oauth/token",
                    "scopes": SCOPES,
                },
            },
        },
    )
    api.spec.options["security"] = [{"bearerAuth": []}, {"oauth2": []}]
    protected = set()
    for blp in blueprints():
        api.register_blueprint(blp)
        protected.add(blp.name)
    # Not in `protected`: Stripe authenticates its webhook with a signature, not a token.
    from billing.routes import stripe_webhook_blp

    api.register_blueprint(stripe_webhook_blp)

    @app.before_request
    def _authenticate():
        # Every /v1 route needs a valid token; there is no public API resource.
        if request.blueprint in protected:
            principal.authenticate()

    app.teardown_request(principal.release_tenant)


class SelectPage(Page):
    """flask-smorest pagination over a SQLAlchemy select(): count, then one page."""

    @property
    def item_count(self) -> int:
        stmt: Select = self.collection
        return db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))

    @property
    def items(self):
        stmt: Select = self.collection
        return db.session.scalars(
            stmt.limit(self.page_params.page_size).offset(self.page_params.first_item)
        ).all()
