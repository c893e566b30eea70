"""HTTP resources of contacts. For now: the departments contacts are escalated to."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from app.api import SelectPage
from app.auth.permissions import SETTINGS_ADMIN, TENANT_READ
from app.auth.principal import current_actor, require
from app.contacts import service as contacts_service
from app.contacts.schemas import (
    DepartmentCreateSchema,
    DepartmentQueryArgsSchema,
    DepartmentSchema,
    DepartmentUpdateSchema,
)

departments_blp = Blueprint(
    "departments",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/departments",
    description="A client firm's back offices that contacts are escalated to.",
)


@departments_blp.route("")
class Departments(MethodView):
    @require(TENANT_READ)
    @departments_blp.arguments(DepartmentQueryArgsSchema, location="query")
    @departments_blp.response(200, DepartmentSchema(many=True))
    @departments_blp.paginate(SelectPage)
    def get(self, args, tenant_id):
        """List the client firm's departments, by name"""
        return contacts_service.list_departments(**args)

    @require(SETTINGS_ADMIN)
    @departments_blp.arguments(DepartmentCreateSchema)
    @departments_blp.response(201, DepartmentSchema)
    @departments_blp.alt_response(409, description="A department with this name exists.")
    def post(self, department_in, tenant_id):
        """Add a department contacts can be escalated to"""
        return contacts_service.create_department(
            department_in=department_in, actor=current_actor()
        )


@departments_blp.route("/<uuid:department_id>")
class DepartmentById(MethodView):
    @require(TENANT_READ)
    @departments_blp.etag
    @departments_blp.response(200, DepartmentSchema)
    def get(self, tenant_id, department_id):
        """Read a department"""
        return _department_or_404(department_id)

    @require(SETTINGS_ADMIN)
    @departments_blp.etag
    @departments_blp.arguments(DepartmentUpdateSchema)
    @departments_blp.response(200, DepartmentSchema)
    @departments_blp.alt_response(409, description="A department with this name exists.")
    def patch(self, department_in, tenant_id, department_id):
        """Change a department's name, kind or email, or reactivate it"""
        department = _department_or_404(department_id)
        departments_blp.check_etag(department, DepartmentSchema)
        return contacts_service.update_department(
            department=department, department_in=department_in, actor=current_actor()
        )

    @require(SETTINGS_ADMIN)
    @departments_blp.response(204)
    def delete(self, tenant_id, department_id):
        """Deactivate a department: no new escalations, history kept

        Idempotent; no If-Match needed. PATCH `is_active: true` brings it back.
        """
        contacts_service.deactivate_department(
            department=_department_or_404(department_id), actor=current_actor()
        )


def _department_or_404(department_id: uuid.UUID):
    department = contacts_service.get_department(department_id=department_id)
    if department is None:
        abort(404, message="No such department in this client firm.")
    return department
