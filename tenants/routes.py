"""HTTP resources of tenancy: /v1/tenants (reads, profile, lifecycle, exports), and each
tenant's users and API clients. Onboarding (`POST /v1/tenants`) is `app.onboarding`'s."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import abort

from app.api_base import Blueprint, SelectPage
from app.auth.passwords import hash_password
from app.auth.permissions import EXPORT_READ, TENANT_ADMIN, TENANT_READ, USER_ADMIN, USER_READ
from app.auth.principal import current_actor, current_principal, current_tenant, require
from app.crud import CollectionView, ItemView, found
from tenants import service as tenants_service
from tenants.schemas import (
    INTEGRATION_SCOPES,
    ApiClientCreatedSchema,
    ApiClientCreateSchema,
    ApiClientSchema,
    LifecycleActionSchema,
    OffboardingSchema,
    TenantExportSchema,
    TenantQueryArgsSchema,
    TenantSchema,
    TenantUpdateSchema,
    UserCreateSchema,
    UserSchema,
    UserUpdateSchema,
)

NDJSON = "application/x-ndjson"

tenants_blp = Blueprint(
    "tenants",
    __name__,
    url_prefix="/v1/tenants",
    description="Client firms (tenants) whose customer service the BPO runs.",
)
users_blp = Blueprint(
    "users",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/users",
    description="A client firm's users and their roles.",
)
api_clients_blp = Blueprint(
    "api_clients",
    __name__,
    url_prefix="/v1/tenants/<uuid:tenant_id>/api-clients",
    description="A client firm's OAuth clients for integrations (client credentials).",
)


@tenants_blp.route("")
class Tenants(CollectionView):
    blp, schema, query_schema = tenants_blp, TenantSchema, TenantQueryArgsSchema
    read = require(TENANT_READ)
    docs = {"get": "List the client firms you can see"}

    def select(self, **args):
        return tenants_service.list_(visible=current_principal().visible_tenant_ids(), **args)


@tenants_blp.route("/<uuid:tenant_id>")
class TenantById(ItemView):
    blp, schema, update_schema = tenants_blp, TenantSchema, TenantUpdateSchema
    read, write = require(TENANT_READ), require(TENANT_ADMIN)
    docs = {"get": "Read a client firm", "patch": "Change a client firm's profile"}

    def item(self, **_path):
        # The firm the path names, bound to the request by the access check.
        return current_tenant()

    def update(self, tenant, tenant_in):
        return tenants_service.update(tenant=tenant, tenant_in=tenant_in, actor=current_actor())


_ILLEGAL_MOVE = (
    "The firm's status does not allow this action; `allowed_actions` lists what it allows "
    "(offboarded firms allow none: they are read-only until purged)."
)


@tenants_blp.route("/<uuid:tenant_id>/suspend")
class TenantSuspend(MethodView):
    @require(TENANT_ADMIN)
    @tenants_blp.arguments(LifecycleActionSchema, required=False)
    @tenants_blp.response(200, TenantSchema)
    @tenants_blp.alt_response(409, description=_ILLEGAL_MOVE)
    def post(self, action_in, tenant_id):
        """Suspend a client firm

        Allowed from `active`. Its data stays readable; new contacts are refused and agents
        cannot claim its work until it is activated again. The optional `reason` goes to the
        audit log (`tenant.suspended`).
        """
        return tenants_service.suspend(
            tenant=current_tenant(), reason=action_in.get("reason"), actor=current_actor()
        )


@tenants_blp.route("/<uuid:tenant_id>/activate")
class TenantActivate(MethodView):
    @require(TENANT_ADMIN)
    @tenants_blp.arguments(LifecycleActionSchema, required=False)
    @tenants_blp.response(200, TenantSchema)
    @tenants_blp.alt_response(409, description=_ILLEGAL_MOVE)
    def post(self, action_in, tenant_id):
        """Activate a suspended client firm

        Allowed from `suspended` only; audited as `tenant.activated`.
        """
        return tenants_service.activate(
            tenant=current_tenant(), reason=action_in.get("reason"), actor=current_actor()
        )


@tenants_blp.route("/<uuid:tenant_id>/offboard")
class TenantOffboard(MethodView):
    @require(TENANT_ADMIN)
    @tenants_blp.arguments(LifecycleActionSchema, required=False)
    @tenants_blp.response(200, OffboardingSchema)
    @tenants_blp.alt_response(409, description=_ILLEGAL_MOVE)
    def post(self, action_in, tenant_id):
        """Offboard a client firm: export its data, then schedule its deletion

        Allowed from `active` and `suspended`; final. In one step it exports all of the
        firm's data (every table it owns, its users' public fields; no password or secret
        digests) as JSON lines, downloadable from `exports`; makes the firm read-only (any
        write answers 409); revokes its API clients; and sets `purge_after` to now plus the
        retention period (`OFFBOARDING_RETENTION_DAYS`, 30 days by default), after which
        `flask tenants purge` deletes it. Audited as `tenant.exported` and `tenant.offboarded`.
        """
        retention = timedelta(days=current_app.config["OFFBOARDING_RETENTION_DAYS"])
        tenant = current_tenant()
        export = tenants_service.offboard(
            tenant=tenant,
            reason=action_in.get("reason"),
            retention=retention,
            actor=current_actor(),
        )
        return {"tenant": tenant, "export": export}


@tenants_blp.route("/<uuid:tenant_id>/exports")
class TenantExports(MethodView):
    @require(EXPORT_READ)
    @tenants_blp.response(200, TenantExportSchema(many=True))
    @tenants_blp.paginate(SelectPage)
    def get(self, tenant_id):
        """List the client firm's data exports, newest first (without their content)"""
        return tenants_service.list_exports()


@tenants_blp.route("/<uuid:tenant_id>/exports/<uuid:export_id>")
class TenantExportById(MethodView):
    @require(EXPORT_READ)
    @tenants_blp.response(
        200,
        content_type=NDJSON,
        description=(
            "The export as NDJSON (`application/x-ndjson`), one JSON object per line: "
            '`{"table": "<table name>", "row": {<column>: <value>}}`. First the `tenants` '
            "row, then `users` (public fields of the firm's users), then every table the firm "
            "owns. Times are RFC 3339, ids are strings; binary columns, password and secret "
            "digests are left out. `Repr-Digest` carries the SHA-256 listed with the export."
        ),
        example=(
            '{"row":{"id":"6f1c…","slug":"acme-retail","status":"active",…},"table":"tenants"}\n'
            '{"row":{"id":"9b2e…","name":"General","channels":["voice"],…},"table":"queues"}\n'
        ),
    )
    def get(self, tenant_id, export_id):
        """Download a data export as NDJSON (application/x-ndjson)"""
        export = tenants_service.get_export(export_id=export_id)
        if export is None:
            abort(404, message="No such export of this client firm.")
        file = tenants_service.export_file(
            export=export, tenant=current_tenant(), actor=current_actor()
        )
        return Response(
            file.body,
            mimetype=NDJSON,
            headers={
                "Content-Disposition": f'attachment; filename="{file.filename}"',
                "Repr-Digest": file.repr_digest,
                "Cache-Control": "no-store",
            },
        )


@users_blp.route("")
class Users(CollectionView):
    blp, schema, create_schema = users_blp, UserSchema, UserCreateSchema
    read, write = require(USER_READ), require(USER_ADMIN)
    conflict = "A user with this email exists."
    docs = {"get": "List the client firm's users", "post": "Add a user to the client firm"}

    def select(self, **_path):
        return tenants_service.list_members()

    def create(self, user_in, tenant_id):
        password = user_in.pop("password", None)
        return tenants_service.create_user(
            **user_in,
            password_hash=hash_password(password) if password else None,
            tenant_id=tenant_id,
            actor=current_actor(),
        )


@users_blp.route("/<uuid:user_id>")
class UserById(ItemView):
    blp, schema, update_schema = users_blp, UserSchema, UserUpdateSchema
    read, write = require(USER_READ), require(USER_ADMIN)
    docs = {
        "get": "Read one of the client firm's users",
        "patch": """Change a user's name, role or active flag

        Not your own role or active flag: another admin of the firm changes those, so that a
        firm cannot lock itself out by mistake.
        """,
    }

    def item(self, user_id, **_path):
        return found(
            tenants_service.get_member(user_id=user_id), "No such user in this client firm."
        )

    def vet(self, membership, member_in):
        tenants_service.refuse_changing_own_standing(
            membership=membership, member_in=member_in, user_id=current_principal().user_id
        )

    def update(self, membership, member_in):
        return tenants_service.update_member(
            membership=membership, member_in=member_in, actor=current_actor()
        )


@api_clients_blp.route("")
class ApiClients(CollectionView):
    blp, schema = api_clients_blp, ApiClientSchema
    create_schema, created_schema = ApiClientCreateSchema, ApiClientCreatedSchema
    read, write = require(USER_READ), require(USER_ADMIN)
    docs = {
        "get": "List the client firm's API clients",
        "post": "Create an API client for an integration; its secret is shown only now",
    }

    def select(self, **_path):
        return tenants_service.list_api_clients()

    def create(self, client_in, tenant_id):
        client, secret = tenants_service.create_api_client(
            name=client_in["name"],
            scope=client_in.get("scope") or " ".join(INTEGRATION_SCOPES),
            tenant_id=tenant_id,
            actor=current_actor(),
        )
        # Raw values: the response schema does the one and only dump.
        fields = {name: getattr(client, name) for name in ApiClientSchema().fields}
        return {**fields, "client_secret": secret}


@api_clients_blp.route("/<uuid:api_client_id>")
class ApiClientById(ItemView):
    blp, schema = api_clients_blp, ApiClientSchema
    read, write = require(USER_READ), require(USER_ADMIN)
    docs = {
        "get": "Read one API client",
        "delete": "Revoke an API client; tokens it holds stop working at once",
    }

    def item(self, api_client_id, **_path):
        return found(
            tenants_service.get_api_client(api_client_id=api_client_id),
            "No such API client in this client firm.",
        )

    def delete_item(self, client):
        tenants_service.revoke_api_client(client=client, actor=current_actor())
