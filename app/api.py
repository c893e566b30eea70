"""The API registry: the one flask-smorest `api`, the one tuple of /v1 blueprints, and their
binding to the app with the auth layer in front. What the blueprints build on is app/api_base.py;
nothing but the app factory imports this module, so it may import every route module."""

from __future__ import annotations

from flask import Flask, request

from app.accounts.routes import invitations_blp, platform_invitations_blp
from app.agents.routes import agents_blp, me_blp, supervisors_blp
from app.api_base import Api
from app.audit.routes import audit_blp, tenant_audit_blp
from app.auth import principal
from app.auth.permissions import SCOPES
from app.campaigns.routes import bpo_register_blp, campaigns_blp
from app.contacts.data_rights_routes import data_subjects_blp
from app.contacts.routes import contacts_blp, departments_blp, messages_blp
from app.events import catalogue as events_catalogue
from app.live.routes import events_blp
from app.onboarding.routes import onboarding_blp
from app.quality.routes import quality_blp, scorecards_blp
from app.queues.routes import briefings_blp, queues_blp
from app.reports.campaign_routes import campaign_reports_blp
from app.reports.quality_routes import my_coaching_blp, quality_reports_blp
from app.reports.routes import portfolio_blp, reports_blp
from app.sla.routes import calendar_blp, sla_blp, sla_policies_blp
from app.wallboard.routes import wallboard_blp
from app.webhooks.routes import webhooks_blp
from billing.routes import billing_periods_blp, invoices_blp, rate_card_blp, stripe_webhook_blp
from tenants.routes import api_clients_blp, tenants_blp, users_blp

api = Api()

# Every /v1 blueprint a token protects, in the order the API documents them.
BLUEPRINTS = (
    onboarding_blp,
    tenants_blp,
    users_blp,
    invitations_blp,
    platform_invitations_blp,
    api_clients_blp,
    calendar_blp,
    sla_policies_blp,
    sla_blp,
    queues_blp,
    briefings_blp,
    departments_blp,
    contacts_blp,
    messages_blp,
    data_subjects_blp,
    rate_card_blp,
    invoices_blp,
    billing_periods_blp,
    agents_blp,
    supervisors_blp,
    me_blp,
    reports_blp,
    portfolio_blp,
    quality_reports_blp,
    campaign_reports_blp,
    my_coaching_blp,
    wallboard_blp,
    webhooks_blp,
    events_blp,
    audit_blp,
    tenant_audit_blp,
    scorecards_blp,
    quality_blp,
    campaigns_blp,
    bpo_register_blp,
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
    for blp in BLUEPRINTS:
        api.register_blueprint(blp)
        protected.add(blp.name)
    # Not in `protected`: Stripe authenticates its webhook with a signature, not a token.
    api.errors_plugin.protected = False
    api.register_blueprint(stripe_webhook_blp)
    api.errors_plugin.protected = True
    # After the blueprints: the event catalogue is the document's last section.
    events_catalogue.document(api.spec)

    @app.before_request
    def _authenticate():
        # Every /v1 route needs a valid token; there is no public API resource.
        if request.blueprint in protected:
            principal.authenticate()

    app.teardown_request(principal.release_tenant)
