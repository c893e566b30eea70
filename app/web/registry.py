"""Wires the web app into Flask: the language setup, the parent blueprint and every area's pages.

Each area's page modules are imported here, once, so that their routes are registered on their
area's blueprint before the blueprint is.
"""

from __future__ import annotations

from flask import Flask

from app.web import i18n, shell, signin
from app.web.console import (
    agents,  # noqa: F401
    assignments,  # noqa: F401
    billing,  # noqa: F401
    portfolio,  # noqa: F401
    staffing,  # noqa: F401
    supervisors,  # noqa: F401
)
from app.web.console import blueprint as console
from app.web.portal import blueprint as portal
from app.web.portal import home  # noqa: F401


def init_app(app: Flask) -> None:
    i18n.init_app(app)
    shell.web.register_blueprint(signin.bp)
    shell.web.register_blueprint(portal.bp)
    shell.web.register_blueprint(console.bp)
    app.register_blueprint(shell.web)
    app.after_request(shell.security_headers)
    app.context_processor(shell.template_context)
