"""A firm's departments (the back offices contacts are escalated to) in its settings: list,
create, edit, deactivate and reactivate, as the API allows."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from app.auth.permissions import SETTINGS_ADMIN
from app.auth.principal import check, current_actor
from app.contacts import departments as contacts_departments
from app.contacts.models import DEPARTMENT_KINDS
from app.contacts.schemas import DepartmentCreateSchema, DepartmentUpdateSchema
from app.db import db
from app.errors import DomainError
from app.web import labels
from app.web.portal.blueprint import bp
from app.web.portal.settings_forms import form_of, problems_of
from app.web.shell import form_errors, render

_FIELDS = ("kind", "name", "email")


def _kinds():
    return labels.options("department_kind", DEPARTMENT_KINDS)


def _department_or_404(department_id):
    department = contacts_departments.get_department(department_id=department_id)
    if department is None:
        abort(404)
    return department


def _typed():
    # A blank name lets a standard kind name itself; a blank email means none.
    typed = form_of(*_FIELDS, blank_is_none=("email",))
    if not (typed.get("name") or "").strip():
        typed.pop("name", None)
    return typed


def _list_page(errors=None, typed=None, status=200):
    departments = db.session.scalars(contacts_departments.list_departments()).all()
    page = render(
        "portal/settings/departments.html",
        departments=departments,
        kinds=_kinds(),
        errors=errors or {},
        typed=typed or {},
    )
    return page, status


@bp.get("/settings/departments")
def settings_departments(tenant_id):
    """The firm's departments, active and not, and the form to add one."""
    check(SETTINGS_ADMIN)
    return _list_page()


@bp.post("/settings/departments")
def settings_department_create(tenant_id):
    """Add a department contacts can be escalated to."""
    check(SETTINGS_ADMIN)
    typed = _typed()
    try:
        department_in = DepartmentCreateSchema().load(typed)
        department = contacts_departments.create_department(
            department_in=department_in, actor=current_actor()
        )
    except ValidationError as err:
        return _list_page(form_errors(err.messages), typed, 422)
    except DomainError as err:
        db.session.rollback()
        return _list_page(_beside_name(err), typed, 422)
    flash(_("%(name)s was added.", name=department.name), "ok")
    return redirect(url_for("web.portal.settings_departments", tenant_id=tenant_id))


def _beside_name(error: DomainError) -> dict[str, list[str]]:
    # The one conflict a department meets is its name being taken: shown beside the name.
    problems = problems_of(error)
    if list(problems) == ["_form"]:
        return {"name": problems["_form"]}
    return problems


def _edit_page(department, errors=None, typed=None, status=200):
    page = render(
        "portal/settings/department.html",
        department=department,
        kinds=_kinds(),
        errors=errors or {},
        typed=typed
        if typed is not None
        else {"kind": department.kind, "name": department.name, "email": department.email},
    )
    return page, status


@bp.get("/settings/departments/<uuid:department_id>")
def settings_department(tenant_id, department_id):
    """One department's form."""
    check(SETTINGS_ADMIN)
    return _edit_page(_department_or_404(department_id))


@bp.post("/settings/departments/<uuid:department_id>")
def settings_department_update(tenant_id, department_id):
    """Change a department's name, kind or email."""
    check(SETTINGS_ADMIN)
    department = _department_or_404(department_id)
    typed = _typed()
    try:
        department_in = DepartmentUpdateSchema().load(typed)
        contacts_departments.update_department(
            department=department, department_in=department_in, actor=current_actor()
        )
    except ValidationError as err:
        return _edit_page(department, form_errors(err.messages), typed, 422)
    except DomainError as err:
        db.session.rollback()
        return _edit_page(_department_or_404(department_id), _beside_name(err), typed, 422)
    flash(_("%(name)s was saved.", name=department.name), "ok")
    return redirect(url_for("web.portal.settings_departments", tenant_id=tenant_id))


@bp.post("/settings/departments/<uuid:department_id>/active")
def settings_department_active(tenant_id, department_id):
    """Deactivate a department (no new escalations, history kept) or bring it back."""
    check(SETTINGS_ADMIN)
    department = _department_or_404(department_id)
    try:
        wanted = DepartmentUpdateSchema(only=("is_active",)).load(form_of("is_active"))
    except ValidationError:
        abort(400)
    if wanted.get("is_active") is False:
        contacts_departments.deactivate_department(department=department, actor=current_actor())
        flash(_("%(name)s was deactivated.", name=department.name), "ok")
    elif wanted.get("is_active") is True:
        contacts_departments.update_department(
            department=department, department_in=wanted, actor=current_actor()
        )
        flash(_("%(name)s was reactivated.", name=department.name), "ok")
    return redirect(url_for("web.portal.settings_departments", tenant_id=tenant_id))
