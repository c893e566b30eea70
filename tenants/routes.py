"""HTTP resources of tenancy: /v1/tenants, and each tenant's users and API clients."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from app.api import SelectPage
from app.auth.passwords import hash_password
from app.auth.permissions import TENANT_ADMIN, TENANT_READ, USER_ADMIN, USER_READ
from app.auth.principal import current_actor, current_principal, current_tenant, require
from tenants import service as tenants_service
from tenants.schemas import (
    INTEGRATION_SCOPES,
    ApiClientCreatedSchema,
    ApiClientCreateSchema,
    ApiClientSchema,
    TenantCreateSchema,
    TenantQueryArgsSchema,
    TenantSchema,
    TenantUpdateSchema,
    UserCreateSchema,
    UserSchema,
    UserUpdateSchema,
)

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
class Tenants(MethodView):
    @require(TENANT_READ)
    @tenants_blp.arguments(TenantQueryArgsSchema, location="query")
    @tenants_blp.response(200, TenantSchema(many=True))
    @tenants_blp.paginate(SelectPage)
    def get(self, args):
        """List the client firms you can see"""
        return tenants_service.list_(visible=current_principal().visible_tenant_ids(), **args)

    @require(TENANT_ADMIN)
    @tenants_blp.arguments(TenantCreateSchema)
    @tenants_blp.response(201, TenantSchema)
    @tenants_blp.alt_response(409, description="A tenant with this slug exists.")
    def post(self, tenant_in):
        """Onboard a client firm"""
        return tenants_service.create(tenant_in=tenant_in, actor=current_actor())


@tenants_blp.route("/<uuid:tenant_id>")
class TenantById(MethodView):
    @require(TENANT_READ)
    @tenants_blp.etag
    @tenants_blp.response(200, TenantSchema)
    def get(self, tenant_id):
        """Read a client firm"""
        return current_tenant()

    @require(TENANT_ADMIN)
    @tenants_blp.etag
    @tenants_blp.arguments(TenantUpdateSchema)
    @tenants_blp.response(200, TenantSchema)
    def patch(self, tenant_in, tenant_id):
        """Change a client firm's profile"""
        tenant = current_tenant()
        tenants_blp.check_etag(tenant, TenantSchema)
        return tenants_service.update(tenant=tenant, tenant_in=tenant_in, actor=current_actor())


@users_blp.route("")
class Users(MethodView):
    @require(USER_READ)
    @users_blp.response(200, UserSchema(many=True))
    @users_blp.paginate(SelectPage)
    def get(self, tenant_id):
        """List the client firm's users"""
        return tenants_service.list_members()

    @require(USER_ADMIN)
    @users_blp.arguments(UserCreateSchema)
    @users_blp.response(201, UserSchema)
    @users_blp.alt_response(409, description="A user with this email exists.")
    def post(self, user_in, tenant_id):
        """Add a user to the client firm"""
        password = user_in.pop("password", None)
        return tenants_service.create_user(
            **user_in,
            password_hash=hash_password(password) if password else None,
            tenant_id=tenant_id,
            actor=current_actor(),
        )


@users_blp.route("/<uuid:user_id>")
class UserById(MethodView):
    @require(USER_READ)
    @users_blp.etag
    @users_blp.response(200, UserSchema)
    def get(self, tenant_id, user_id):
        """Read one of the client firm's users"""
        return _member_or_404(user_id)

    @require(USER_ADMIN)
    @users_blp.etag
    @users_blp.arguments(UserUpdateSchema)
    @users_blp.response(200, UserSchema)
    def patch(self, member_in, tenant_id, user_id):
        """Change a user's name, role or active flag"""
        membership = _member_or_404(user_id)
        users_blp.check_etag(membership, UserSchema)
        return tenants_service.update_member(
            membership=membership, member_in=member_in, actor=current_actor()
        )


def _member_or_404(user_id):
    membership = tenants_service.get_member(user_id=user_id)
    if membership is None:
        abort(404, message="No such user in this client firm.")
    return membership


@api_clients_blp.route("")
class ApiClients(MethodView):
    @require(USER_READ)
    @api_clients_blp.response(200, ApiClientSchema(many=True))
    @api_clients_blp.paginate(SelectPage)
    def get(self, tenant_id):
        """List the client firm's API clients"""
        return tenants_service.list_api_clients()

    @require(USER_ADMIN)
    @api_clients_blp.arguments(ApiClientCreateSchema)
    @api_clients_blp.response(201, ApiClientCreatedSchema)
    def post(self, client_in, tenant_id):
        """Create an API client for an integration; its secret is shown only now"""
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
class ApiClientById(MethodView):
    @require(USER_READ)
    @api_clients_blp.etag
    @api_clients_blp.response(200, ApiClientSchema)
    def get(self, tenant_id, api_client_id):
        """Read one API client"""
        return _api_client_or_404(api_client_id)

    @require(USER_ADMIN)
    @api_clients_blp.response(204)
    def delete(self, tenant_id, api_client_id):
        """Revoke an API client; tokens it holds stop working at once"""
        tenants_service.revoke_api_client(
            client=_api_client_or_404(api_client_id), actor=current_actor()
        )


def _api_client_or_404(api_client_id):
    client = tenants_service.get_api_client(api_client_id=api_client_id)
    if client is None:
        abort(404, message="No such API client in this client firm.")
    return client
