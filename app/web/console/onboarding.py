"""Onboarding a client firm from the console: one long form in steps (profile, calendar,
queues, SLA targets, rate card, first admin) sent as the API's one-call onboarding."""

from __future__ import annotations

import zoneinfo

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from marshmallow import ValidationError

from app.auth.permissions import TENANT_ADMIN
from app.auth.principal import check, current_actor
from app.errors import Conflict, Unprocessable
from app.onboarding import service as onboarding_service
from app.onboarding.schemas import OnboardingCreateSchema
from app.sla.calendar import WEEKDAYS
from app.sla.models import ABANDON_TREATMENTS
from app.vocabulary import CHANNELS, PRIORITIES
from app.web import labels, nav
from app.web.console import onboarding_form
from app.web.console.blueprint import bp
from app.web.shell import form_errors, render

_ZONES = sorted(zoneinfo.available_timezones())


def _page(form, errors: dict | None = None, status: int = 200):
    errors = errors or {}
    return (
        render(
            "console/onboard.html",
            form=form,
            errors=errors,
            opened=onboarding_form.step_errors(errors),
            step_of={p: step for step, ps in onboarding_form.STEPS.items() for p in ps},
            zones=_ZONES,
            weekdays=WEEKDAYS,
            windows=range(onboarding_form.WINDOWS_PER_DAY),
            queue_rows=range(onboarding_form.QUEUE_ROWS),
            channel_options=labels.options("channel", CHANNELS),
            priorities=PRIORITIES,
            treatment_options=labels.options("treatment", ABANDON_TREATMENTS),
        ),
        status,
    )


@bp.get("/firms/new")
def onboard():
    """The onboarding form, filled in with the defaults onboarding would apply."""
    check(TENANT_ADMIN)
    return _page(onboarding_form.initial())


@bp.post("/firms/new")
def onboard_submit():
    """Onboard the firm in one go; any bad value comes back beside its field, nothing made."""
    check(TENANT_ADMIN)
    built = onboarding_form.Request(request.form)
    try:
        onboarding_in = OnboardingCreateSchema().load(built.body)
        onboarded = onboarding_service.onboard(onboarding_in=onboarding_in, actor=current_actor())
    except ValidationError as err:
        return _page(request.form, built.field_errors(form_errors(err.messages)), 422)
    except Unprocessable as exc:
        messages = (exc.extra.get("errors") or {}).get("json") or {"_schema": [exc.detail]}
        return _page(request.form, built.field_errors(form_errors(messages)), 422)
    except Conflict as exc:
        # A slug or an e-mail already taken: said beside the field it is about.
        field = "slug" if "slug" in exc.detail else "first_admin.email"
        field = field if "slug" in exc.detail or "email" in exc.detail else "_form"
        return _page(request.form, {field: [exc.detail]}, 409)
    flash(_("%(name)s is onboarded.", name=onboarded.tenant.name))
    for warning in onboarded.warnings:
        flash(warning.get("message", ""), "warning")
    if onboarded.first_admin_accept_url:
        # No mail server sent the first admin's invitation: this page shows its link, once.
        return render("accounts/first_admin_link.html", onboarded=onboarded)
    return redirect(url_for("web.console.firm", tenant_id=onboarded.tenant.id))


nav.console("web.console.onboard", lazy_gettext("Onboard a firm"), order=10, roles=("bpo_admin",))
