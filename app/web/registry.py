"""Wires the web app into Flask: the language setup, the parent blueprint and every area's pages.

Each area's page modules are imported here, once, so that their routes are registered on their
area's blueprint before the blueprint is.
"""

from __future__ import annotations

from flask import Flask

from app.web import accounts, department_answers, i18n, live, shell, signin
from app.web.console import (
    agents,
    assignments,
    billing,
    firms,
    invitations,
    onboarding,
    portfolio,
    staffing,
    supervisors,
    wallboard,
)
from app.web.console import audit as console_audit
from app.web.console import blueprint as console
from app.web.console import campaigns as console_campaigns
from app.web.console import do_not_contact as console_do_not_contact
from app.web.console import quality as console_quality
from app.web.desk import blueprint as desk
from app.web.desk import evaluations as desk_evaluations
from app.web.desk import home as desk_home
from app.web.desk import workspace as desk_workspace
from app.web.portal import audit as portal_audit
from app.web.portal import blueprint as portal
from app.web.portal import (
    campaign_form,
    campaign_report,
    campaigns,
    contacts,
    customers,
    dashboard,
    home,
    invoices,
    quality,
    quality_report,
    quality_scorecards,
    quality_scoring,
    registers,
    settings_briefings,
    settings_departments,
    settings_invitations,
    settings_users,
    settings_webhooks,
)
from app.web.portal import do_not_contact as portal_do_not_contact

# The page modules: imported for the routes they add to their area's blueprint.
PAGES = (
    live,
    invitations,
    portfolio,
    onboarding,
    firms,
    agents,
    assignments,
    supervisors,
    billing,
    staffing,
    wallboard,
    home,
    dashboard,
    settings_users,
    settings_invitations,
    settings_webhooks,
    settings_departments,
    settings_briefings,
    contacts,
    invoices,
    registers,
    desk_home,
    desk_workspace,
    desk_evaluations,
    console_audit,
    console_quality,
    portal_audit,
    customers,
    quality,
    quality_report,
    quality_scorecards,
    quality_scoring,
    console_campaigns,
    campaign_report,
    campaign_form,
    campaigns,
    portal_do_not_contact,
    console_do_not_contact,
)

# Once, at import: the areas nest under the parent blueprint, which each app then registers.
for _area in (signin.bp, accounts.bp, department_answers.bp, portal.bp, console.bp, desk.bp):
    shell.web.register_blueprint(_area)


def init_app(app: Flask) -> None:
    i18n.init_app(app)
    app.register_blueprint(shell.web)
    app.after_request(shell.security_headers)
    app.register_error_handler(404, shell.page_not_found)
    app.context_processor(shell.template_context)
