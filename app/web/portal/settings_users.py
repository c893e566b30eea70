"""A firm's settings index, its users (role, active flag) and its API clients (create with the
secret shown once, revoke), for the firm's client admin and the BPO's admins."""

from __future__ import annotations

from flask import abort, flash, g, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from marshmallow import ValidationError

from app.auth.permissions import SETTINGS_ADMIN, USER_ADMIN, USER_READ
from app.auth.principal import Forbidden, check, current_actor
from app.db import db
from app.errors import DomainError
from app.web import labels, nav
from app.web.portal.blueprint import bp
from app.web.portal.settings_forms import form_of, problems_of
from app.web.shell import form_errors, is_htmx, render
from tenants import service as tenants_service
from tenants.models import CLIENT_ROLES
from tenants.schemas import INTEGRATION_SCOPES, ApiClientCreateSchema, UserUpdateSchema


def _may_manage_settings() -> None:
    """The settings area opens to whoever may manage the firm's people or its settings."""
    try:
        check(USER_READ)
    except Forbidden:
        check(SETTINGS_ADMIN)


@bp.get("/settings")
def settings(tenant_id):
    """The settings index: a link to each section."""
    _may_manage_settings()
    return render("portal/settings/index.html")


# --- users -----------------------------------------------------------------------------------


def _members():
    return db.session.scalars(tenants_service.list_members()).all()


def _users_page(errors=None, typed=None, status=200):
    page = render(
        "portal/settings/users.html",
        members=_members(),
        roles=labels.options("role", CLIENT_ROLES),
        errors=errors or {},
        typed=typed or {},
    )
    return page, status


@bp.get("/settings/users")
def settings_users(tenant_id):
    """The firm's users with their role and whether they may sign in."""
    check(USER_READ)
    return _users_page()


@bp.post("/settings/users/<uuid:user_id>")
def settings_user_update(tenant_id, user_id):
    """Change a user's role or active flag (PATCH /v1/tenants/{id}/users/{user_id})."""
    check(USER_ADMIN)
    membership = tenants_service.get_member(user_id=user_id)
    if membership is None:
        abort(404)
    typed = form_of("role", "is_active")
    try:
        member_in = UserUpdateSchema().load(typed)
        tenants_service.refuse_changing_own_standing(
            membership=membership, member_in=member_in, user_id=g.principal.user_id
        )
        tenants_service.update_member(
            membership=membership, member_in=member_in, actor=current_actor()
        )
    except ValidationError as err:
        return _row_or_page(membership, form_errors(err.messages), typed)
    except DomainError as err:
        return _row_or_page(membership, problems_of(err), typed)
    if is_htmx():
        return _row(membership, saved=True)
    flash(_("%(name)s was updated.", name=membership.user.name), "ok")
    return redirect(url_for("web.portal.settings_users", tenant_id=tenant_id))


def _row_or_page(membership, errors, typed):
    # The errors are shown in the row of the user they are about.
    db.session.rollback()
    user_id = membership.user_id
    if is_htmx():
        membership = tenants_service.get_member(user_id=user_id)
        return _row(membership, errors={user_id: errors}, typed={user_id: typed}), 422
    return _users_page({user_id: errors}, {user_id: typed}, 422)


def _row(membership, *, saved=False, errors=None, typed=None):
    """One user's row, what htmx swaps in place of the old one."""
    return render(
        "portal/settings/_user_row.html",
        member=membership,
        roles=labels.options("role", CLIENT_ROLES),
        errors=errors or {},
        typed=typed or {},
        saved=saved,
    )


# --- API clients -----------------------------------------------------------------------------


def _api_clients_page(errors=None, typed=None, status=200):
    clients = db.session.scalars(tenants_service.list_api_clients()).all()
    page = render(
        "portal/settings/api_clients.html",
        clients=clients,
        scopes=INTEGRATION_SCOPES,
        errors=errors or {},
        typed=typed or {},
    )
    return page, status


@bp.get("/settings/api-clients")
def settings_api_clients(tenant_id):
    """The firm's API clients (integrations), revoked ones included."""
    check(USER_READ)
    return _api_clients_page()


@bp.post("/settings/api-clients")
def settings_api_client_create(tenant_id):
    """Create an API client; this answer is the only page that ever shows its secret."""
    check(USER_ADMIN)
    typed = form_of("name")
    scopes = form_of(lists=("scope",)).get("scope")
    # No scope ticked: every scope an integration may hold, as in the API.
    body = {**typed, "scope": " ".join(scopes)} if scopes else typed
    try:
        client_in = ApiClientCreateSchema().load(body)
        client, secret = tenants_service.create_api_client(
            name=client_in["name"],
            scope=client_in.get("scope") or " ".join(INTEGRATION_SCOPES),
            tenant_id=tenant_id,
            actor=current_actor(),
        )
    except ValidationError as err:
        return _api_clients_page(form_errors(err.messages), {**typed, "scope": scopes or []}, 422)
    except DomainError as err:
        db.session.rollback()
        return _api_clients_page(problems_of(err), {**typed, "scope": scopes or []}, 422)
    return render("portal/settings/api_client_created.html", client=client, secret=secret)


@bp.post("/settings/api-clients/<uuid:api_client_id>/revoke")
def settings_api_client_revoke(tenant_id, api_client_id):
    """Revoke an API client: its tokens stop working at once."""
    check(USER_ADMIN)
    client = tenants_service.get_api_client(api_client_id=api_client_id)
    if client is None:
        abort(404)
    tenants_service.revoke_api_client(client=client, actor=current_actor())
    flash(_("%(name)s was revoked.", name=client.name), "ok")
    return redirect(url_for("web.portal.settings_api_clients", tenant_id=tenant_id))


nav.portal(
    "web.portal.settings",
    lazy_gettext("Settings"),
    order=90,
    roles=("client_admin", "bpo_admin"),
)
