"""Who is calling: access-token validation, the caller's roles, and the guards views use.

Every /v1 request is authenticated here. A route with `{tenant_id}` in its path is bound to
that tenant once, here, after checking the caller holds a role on it; a tenant the caller may
not see answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import inspect
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps

from flask import current_app, g, request
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import bindparam, null, or_, select, type_coerce, union_all
from sqlalchemy.orm import contains_eager

from app.agents.models import Agent, Assignment
from app.auth import families
from app.auth.first_party import WEB_CLIENT_ID, web_client
from app.auth.models import RevokedAccessToken
from app.auth.permissions import Permission, scopes_for_roles
from app.db import db
from app.errors import problem
from tenants import scoping
from tenants.models import ApiClient, Membership, Tenant, User
from tenants.scoping import unscoped

REALM = "switchboard"
# Our tokens are well under 2 KB; anything far longer is refused before it is parsed.
MAX_TOKEN_LENGTH = 8192
# RFC 6750 2.1's b64token: a JWS in compact form always fits it.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a person, or a tenant's integration acting for its tenant."""

    client_id: str
    user_id: uuid.UUID | None
    platform_roles: frozenset[str]
    tenant_roles: dict[uuid.UUID, str] = field(default_factory=dict)
    scopes: frozenset[str] = frozenset()
    # For agents: their profile and the queues (of any tenants) they are assigned to.
    agent_id: uuid.UUID | None = None
    queue_ids: frozenset[uuid.UUID] = frozenset()

    @property
    def is_bpo_admin(self) -> bool:
        return "bpo_admin" in self.platform_roles

    @property
    def roles(self) -> frozenset[str]:
        """Every role the caller holds anywhere."""
        return self.platform_roles | frozenset(self.tenant_roles.values())

    def role_on(self, tenant_id: uuid.UUID) -> str | None:
        """The caller's role on one tenant, or None when the tenant is out of its reach."""
        if self.is_bpo_admin:
            return "bpo_admin"
        return self.tenant_roles.get(tenant_id)

    def visible_tenant_ids(self) -> frozenset[uuid.UUID] | None:
        """The tenants the caller may see; None means all of them."""
        return None if self.is_bpo_admin else frozenset(self.tenant_roles)

    def allowed_scopes(self) -> frozenset[str]:
        return scopes_for_roles(self.roles)


class AuthError(Exception):
    """The request's credentials are missing or unacceptable (401)."""

    def __init__(self, description: str, error: str | None = "invalid_token") -> None:
        super().__init__(description)
        self.description = description
        self.error = error


def load_principal(client: ApiClient, user: User | None, scopes: frozenset[str]) -> Principal:
    """Build the caller from a client and (when a person is involved) a user."""
    if user is None and client.user_id is not None:
        user = client.user
    if user is not None:
        return principal_for_user(user, client_id=client.client_id, scopes=scopes)
    tenant_roles = {client.tenant_id: "integration"} if client.tenant_id is not None else {}
    return Principal(
        client_id=client.client_id,
        user_id=None,
        platform_roles=frozenset(),
        tenant_roles=tenant_roles,
        scopes=scopes if tenant_roles else frozenset(),
    )


def _roles_and_queues():
    # A person's memberships and, if they are an active agent, its queue assignments, in one
    # round trip (every request of a person asks): membership rows carry a role, the agent's
    # rows its id (one row with no queue when it has no assignment).
    memberships = select(
        Membership.tenant_id,
        Membership.role,
        # Typed, so that the union's columns read as UUIDs (SQLite answers text).
        type_coerce(null(), Agent.id.type).label("agent_id"),
        type_coerce(null(), Assignment.queue_id.type).label("queue_id"),
    ).where(Membership.user_id == bindparam("user_id"))
    assignments = (
        select(
            Assignment.tenant_id,
            null().label("role"),
            Agent.id.label("agent_id"),
            Assignment.queue_id,
        )
        .join(Assignment, Assignment.agent_id == Agent.id, isouter=True)
        .where(Agent.user_id == bindparam("user_id"), Agent.is_active.is_(True))
    )
    return union_all(memberships, assignments)


_ROLES_AND_QUEUES = _roles_and_queues()


def principal_for_user(
    user: User, *, client_id: str = "", scopes: frozenset[str] = frozenset()
) -> Principal:
    """A person as a caller, with the roles their memberships (and, for agents, their queue
    assignments) give them."""
    # Reading a user's memberships and assignments precedes knowing which tenants they may see.
    with unscoped():
        rows = db.session.execute(_ROLES_AND_QUEUES, {"user_id": user.id}).all()
    memberships = [row for row in rows if row.role is not None]
    platform = frozenset(m.role for m in memberships if m.tenant_id is None)
    tenant_roles = {m.tenant_id: m.role for m in memberships if m.tenant_id is not None}
    queue_ids: frozenset[uuid.UUID] = frozenset()
    agent_id = None
    if "agent" in platform:
        assignments = [row for row in rows if row.agent_id is not None]
        agent_id = assignments[0].agent_id if assignments else None
        queue_ids = frozenset(r.queue_id for r in assignments if r.queue_id is not None)
        for row in assignments:
            if row.tenant_id is not None:
                # An agent reaches a tenant only through that tenant's queues.
                tenant_roles.setdefault(row.tenant_id, "agent")
    return Principal(
        client_id=client_id,
        user_id=user.id,
        platform_roles=platform,
        tenant_roles=tenant_roles,
        scopes=scopes,
        agent_id=agent_id,
        queue_ids=queue_ids,
    )


def find_client(client_id: str) -> ApiClient | None:
    """An active OAuth client by its public id; a person's client only while they are active."""
    if client_id == WEB_CLIENT_ID:
        return web_client()
    with unscoped():
        return db.session.scalar(_ACTIVE_CLIENT, {"client_id": client_id})


def _active_client(*columns):
    # The person or firm the client acts for comes in the same row (contains_eager): a
    # person's token needs them next, an integration's calls name its firm. Run unscoped:
    # clients authenticate before any tenant is known, and the id itself is the lookup key.
    return (
        select(ApiClient, *columns)
        .outerjoin(User, ApiClient.user_id == User.id)
        .outerjoin(Tenant, ApiClient.tenant_id == Tenant.id)
        .options(contains_eager(ApiClient.user), contains_eager(ApiClient.tenant))
        .where(
            ApiClient.client_id == bindparam("client_id"),
            ApiClient.revoked_at.is_(None),
            # A script acting as a deactivated person is deactivated with them.
            or_(ApiClient.user_id.is_(None), User.is_active.is_(True)),
        )
    )


# Built once, values bound per call: every API request authenticates, and building these
# (and working out their cache keys) cost more than PostgreSQL took to answer them.
_ACTIVE_CLIENT = _active_client()
_ACTIVE_CLIENT_OF_TOKEN = _active_client(
    select(RevokedAccessToken.jti)
    .where(RevokedAccessToken.jti == bindparam("jti"))
    .exists()
    .label("revoked")
)


def _client_of_token(claims: dict) -> ApiClient:
    """The token's client, still active, or AuthError. Whether the token itself was revoked is
    asked in the same statement: one round trip on every request, not two."""
    jti, client_id = claims["jti"], claims["client_id"]
    if client_id == WEB_CLIENT_ID:
        if db.session.get(RevokedAccessToken, jti) is not None:
            raise AuthError("The access token has been revoked.")
        return web_client()
    with unscoped():
        row = db.session.execute(
            _ACTIVE_CLIENT_OF_TOKEN, {"client_id": client_id, "jti": jti}
        ).first()
    if row is None:
        # No active client left: a revoked token is still said to be revoked, first.
        if db.session.get(RevokedAccessToken, jti) is not None:
            raise AuthError("The access token has been revoked.")
        raise AuthError(
            "The client this token was issued to no longer exists, was revoked, or acts for "
            "a deactivated user."
        )
    if row.revoked:
        raise AuthError("The access token has been revoked.")
    return row.ApiClient


def decode_access_token(token: str) -> dict:
    """Verify an access token's signature and claims; return its claims or raise AuthError."""
    keys = current_app.extensions["signing_keys"]
    config = current_app.config
    try:
        decoded = jwt.decode(token, keys.verification_set, algorithms=[keys.algorithm])
    except (JoseError, ValueError) as exc:
        raise AuthError("The access token is malformed or its signature is invalid.") from exc
    if decoded.header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
        raise AuthError("The token is not an access token (typ must be at+jwt).")
    options = {
        "iss": {"essential": True, "value": config["OAUTH_ISSUER"]},
        "aud": {"essential": True, "value": config["OAUTH_AUDIENCE"]},
        "sub": {"essential": True},
        "client_id": {"essential": True},
        "jti": {"essential": True},
        "iat": {"essential": True},
        "exp": {"essential": True},
    }
    registry = jwt.JWTClaimsRegistry(leeway=config["JWT_LEEWAY"], **options)
    try:
        registry.validate(decoded.claims)
    except JoseError as exc:
        reason = exc.description or exc.error
        raise AuthError(f"The access token is not acceptable: {reason}.") from exc
    return decoded.claims


def bearer_token() -> str:
    """The request's bearer token, syntax-checked; AuthError when there is none or it is bad."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    # RFC 7235: the scheme is case-insensitive. No header, or another scheme, is a challenge
    # without an error code (RFC 6750 3.1); a Bearer credential that is not a token is not.
    if scheme.lower() != "bearer":
        raise AuthError("Send an access token as `Authorization: Bearer <token>`.", error=None)
    token = token.strip(" \t")
    if not token:
        raise AuthError("The Bearer credential is empty; send `Authorization: Bearer <token>`.")
    if "," in token:
        # Servers join repeated headers with a comma: which one counts would be a guess.
        raise AuthError("Send exactly one Authorization header with one access token.")
    if len(token) > MAX_TOKEN_LENGTH or not _B64TOKEN.fullmatch(token):
        raise AuthError("The access token is malformed or its signature is invalid.")
    return token


def issued_before_deactivation(user: User, issued_at: datetime | int) -> bool:
    """Whether a credential issued at `issued_at` (a datetime, or a JWT's whole-second `iat`)
    predates the person's last deactivation, and so stays dead after a reactivation."""
    cutoff = user.tokens_valid_after
    if cutoff is None:
        return False
    if isinstance(issued_at, datetime):
        return issued_at <= cutoff
    # `iat` drops the fraction: a token of the deactivation's own second counts as before it.
    return issued_at <= int(cutoff.timestamp())


def _revoked_family(sid) -> bool:
    try:
        family_id = uuid.UUID(str(sid))
    except ValueError:
        return True
    return families.is_revoked(family_id)


def check_access_token(claims: dict) -> tuple[ApiClient, User | None]:
    """Check that verified claims are still good (not revoked, client and person still there
    and active); return the client and the person, or raise AuthError."""
    client = _client_of_token(claims)
    # A token of a sign-in (token family) dies with it: replay detection, refresh revocation.
    if "sid" in claims and _revoked_family(claims["sid"]):
        raise AuthError("The access token has been revoked.")
    user = None
    if claims["sub"] != client.client_id:
        try:
            user_id = uuid.UUID(claims["sub"])
        except ValueError as exc:
            raise AuthError("The token's subject is not a user.") from exc
        # A person's own client came with them (_active_client); another's is read.
        user = client.user if client.user_id == user_id else db.session.get(User, user_id)
        if user is None:
            raise AuthError("The user this token was issued to no longer exists.")
    if user is not None and not user.is_active:
        raise AuthError("The user this token was issued to is deactivated.")
    # A person's script acts as them: its tokens end with their deactivation too.
    person = user if user is not None else (client.user if client.user_id else None)
    if person is not None and issued_before_deactivation(person, claims["iat"]):
        raise AuthError("The access token was issued before its user was deactivated.")
    return client, user


def authenticate() -> None:
    """before_request for /v1: validate the bearer token and load the caller into `g`."""
    claims = decode_access_token(bearer_token())
    client, user = check_access_token(claims)
    scopes = frozenset(str(claims.get("scope") or "").split())
    g.principal = load_principal(client, user, scopes)
    g.token_claims = claims
    bind_tenant_from_url()


def bind_tenant_from_url() -> None:
    """Bind the request to the `tenant_id` of its URL (API and web pages alike), once the caller
    is known to hold a role there; otherwise NotVisible (404)."""
    tenant_id = (request.view_args or {}).get("tenant_id")
    if tenant_id is None:
        return
    principal: Principal = g.principal
    # An integration's own firm is in the session already (_active_client): no round trip.
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None or principal.role_on(tenant_id) is None:
        raise NotVisible()
    if tenant.status == "offboarded" and request.method not in ("GET", "HEAD", "OPTIONS"):
        raise TenantOffboarded()
    g.tenant = tenant
    # An agent reaches a tenant only through its assigned queues: queue-scoped rows (contacts)
    # of the tenant's other queues stay invisible to it.
    queue_ids = principal.queue_ids if principal.role_on(tenant_id) == "agent" else None
    g.scope_token = scoping.bind(scoping.single(tenant_id, queue_ids=queue_ids))


def release_tenant(_exc=None) -> None:
    """teardown_request: end the tenant scope the request was bound to."""
    token = g.pop("scope_token", None)
    if token is not None:
        scoping.release(token)


class TenantOffboarded(Exception):
    """The tenant was offboarded: its data can be read until it is purged, not changed (409)."""


class NotVisible(Exception):
    """The tenant in the URL does not exist or is out of the caller's reach (404)."""


class Forbidden(Exception):
    """The caller's role, or token scope, does not allow the action (403)."""

    def __init__(self, detail: str, missing_scope: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.missing_scope = missing_scope


def current_principal() -> Principal:
    return g.principal


def check(permission: Permission) -> None:
    """Raise Forbidden unless the caller's role and token scope allow the permission."""
    principal: Principal = g.principal
    tenant = g.get("tenant")
    roles = {principal.role_on(tenant.id)} if tenant is not None else set(principal.roles)
    if not roles & permission.roles:
        raise Forbidden(
            f"Your role ({', '.join(sorted(r for r in roles if r)) or 'none'}) may not "
            f"{permission.action}; allowed: {', '.join(sorted(permission.roles))}."
        )
    if permission.scope not in principal.scopes:
        raise Forbidden(
            f"The access token lacks the `{permission.scope}` scope.",
            missing_scope=permission.scope,
        )


def require(permission: Permission):
    """Guard a view with a permission; the requirement is added to its API docs."""

    def decorator(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            check(permission)
            return view(*args, **kwargs)

        note = (
            f"Requires scope `{permission.scope}` and one of the roles: "
            f"{', '.join(f'`{r}`' for r in sorted(permission.roles))}."
        )
        # Dedent first: an indented multi-line docstring followed by an unindented note would
        # render as a code block in the API docs.
        guarded.__doc__ = f"{inspect.cleandoc(view.__doc__ or '')}\n\n{note}"
        return guarded

    return decorator


def register_error_handlers(app) -> None:
    """Answer AuthError, NotVisible and Forbidden as problem+json with the right headers."""

    @app.errorhandler(AuthError)
    def _unauthenticated(exc: AuthError):
        response = problem(401, exc.description)
        params = f'realm="{REALM}"'
        if exc.error:
            description = exc.description.replace('"', "'")
            params += f', error="{exc.error}", error_description="{description}"'
        response.headers["WWW-Authenticate"] = f"Bearer {params}"
        return response

    @app.errorhandler(TenantOffboarded)
    def _offboarded(_exc: TenantOffboarded):
        return problem(409, "This client firm was offboarded; its data is read-only until purged.")

    @app.errorhandler(NotVisible)
    def _not_visible(_exc: NotVisible):
        return problem(404)

    @app.errorhandler(Forbidden)
    def _forbidden(exc: Forbidden):
        response = problem(403, exc.detail)
        if exc.missing_scope:
            response.headers["WWW-Authenticate"] = (
                f'Bearer realm="{REALM}", error="insufficient_scope", scope="{exc.missing_scope}"'
            )
        return response


def current_actor():
    """The caller as an audit-log actor."""
    from tenants.service import Actor

    principal: Principal = g.principal
    return Actor(
        user_id=principal.user_id, client_id=principal.client_id, request_id=g.get("request_id")
    )


def current_tenant() -> Tenant:
    """The tenant the request is bound to (from the URL, after the access check)."""
    return g.tenant
