"""Onboarding rules: create a client firm and every part it runs on, all or nothing.

The firm's row comes first (tenants service), then everything else inside its own
`tenant_scope`, each part by its domain's service, the first client admin last: given no
password, they are invited (accounts), the mail going out after everything else is saved.
Nothing here commits: the request owns the transaction, and any failure, however late (the mail
server down included), raises so that the whole request rolls back. May import the services of
tenants, accounts, sla, queues (and its coverage), contacts, billing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError

from app.accounts import service as accounts_service
from app.auth.passwords import hash_password
from app.contacts import departments as contacts_departments
from app.contacts.models import Department
from app.errors import Conflict, Unprocessable
from app.queues import coverage
from app.queues import service as queues_service
from app.queues.models import Queue
from app.sla import calendars as sla_calendars
from app.sla import policies as sla_policies
from app.sla.models import BusinessCalendar, SlaPolicy
from billing import service as billing_service
from billing.models import RateCard
from tenants import service as tenants_service
from tenants.models import Membership, Tenant
from tenants.scoping import tenant_scope
from tenants.service import Actor

PROFILE_FIELDS = ("slug", "name", "time_zone", "locale", "currency")
PARTS = ("calendar", "queues", "departments", "sla_policy", "rate_card")

# Unique constraints a concurrent request can trip between our checks and our writes.
_CONFLICTS = {
    "uq_tenants_slug": "A tenant with this slug already exists.",
    "uq_users_email": "A user with the first admin's email already exists.",
}


@dataclass
class Onboarded:
    """What one onboarding created."""

    tenant: Tenant
    calendar: BusinessCalendar
    queues: list[Queue]
    departments: list[Department]
    sla_policy: SlaPolicy
    rate_card: RateCard
    first_admin: Membership | None
    defaults_applied: list[str] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    # The first admin's invitation link, only when no mail server could send it.
    first_admin_accept_url: str | None = None


def onboard(*, onboarding_in: dict, actor: Actor) -> Onboarded:
    """Create a client firm with its calendar, queues, departments, SLA policy, rate card and
    first client admin; parts left out get their domain's defaults."""
    try:
        return _onboard(onboarding_in, actor)
    except IntegrityError as exc:
        # Lost a race to a concurrent request after our own checks passed.
        constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
        raise Conflict(
            _CONFLICTS.get(constraint, "The onboarding conflicts with existing data.")
        ) from exc


def _onboard(onboarding_in: dict, actor: Actor) -> Onboarded:
    defaults = [part for part in PARTS if part not in onboarding_in]
    tenant = tenants_service.create(
        tenant_in={name: onboarding_in[name] for name in PROFILE_FIELDS}, actor=actor
    )
    with tenant_scope(tenant.id):
        with _part("calendar"):
            calendar = sla_calendars.create_calendar_version(
                calendar_in=onboarding_in.get("calendar")
                or sla_calendars.default_calendar_in(tenant=tenant),
                tenant=tenant,
                actor=actor,
            )
        queues = []
        for index, queue_in in enumerate(
            onboarding_in.get("queues") or queues_service.default_queues_in()
        ):
            with _part("queues", index):
                queues.append(queues_service.create(queue_in=queue_in, actor=actor))
        departments_in = onboarding_in.get("departments")
        if departments_in is None:
            departments_in = contacts_departments.default_departments_in()
        departments = []
        for index, department_in in enumerate(departments_in):
            with _part("departments", index):
                departments.append(
                    contacts_departments.create_department(department_in=department_in, actor=actor)
                )
        with _part("sla_policy"):
            sla_policy = sla_policies.create_policy(
                policy_in=onboarding_in.get("sla_policy") or sla_policies.default_policy_in(),
                actor=actor,
            )
        with _part("rate_card"):
            rate_card = billing_service.create_rate_card(
                rate_card_in=onboarding_in.get("rate_card")
                or billing_service.default_rate_card_in(tenant=tenant),
                tenant=tenant,
                actor=actor,
            )
        first_admin = None
        admin_in = onboarding_in.get("first_admin")
        if admin_in is not None:
            with _part("first_admin"):
                password = admin_in.get("password")
                first_admin = tenants_service.create_user(
                    email=admin_in["email"],
                    name=admin_in["name"],
                    password_hash=hash_password(password) if password else None,
                    role="client_admin",
                    tenant_id=tenant.id,
                    actor=actor,
                )
        onboarded = Onboarded(
            tenant=tenant,
            calendar=calendar,
            queues=queues,
            departments=departments,
            sla_policy=sla_policy,
            rate_card=rate_card,
            first_admin=first_admin,
            defaults_applied=defaults,
            warnings=coverage.warnings(queues=queues),
        )
        tenants_service.record_audit(
            actor=actor,
            action="tenant.onboarded",
            target_type="tenant",
            target_id=tenant.id,
            tenant_id=tenant.id,
            details=_audit_details(onboarded),
        )
        if first_admin is not None and first_admin.user.password_hash is None:
            issued = accounts_service.onboard_first_admin(
                membership=first_admin, tenant=tenant, actor=actor
            )
            onboarded.first_admin_accept_url = issued.accept_url
    return onboarded


def _audit_details(onboarded: Onboarded) -> dict:
    return {
        "slug": onboarded.tenant.slug,
        "parts": {
            "calendar": str(onboarded.calendar.id),
            "queues": [str(q.id) for q in onboarded.queues],
            "departments": [str(d.id) for d in onboarded.departments],
            "sla_policy": str(onboarded.sla_policy.id),
            "rate_card": str(onboarded.rate_card.id),
            "first_admin": str(onboarded.first_admin.user_id) if onboarded.first_admin else None,
        },
        "defaults_applied": onboarded.defaults_applied,
    }


@contextmanager
def _part(*path: str | int) -> Iterator[None]:
    """Re-address a part's own 422 to where the part sits in the onboarding request."""
    try:
        yield
    except Unprocessable as exc:
        errors = (exc.extra.get("errors") or {}).get("json") or {"_schema": [exc.detail]}
        for key in reversed(path):
            errors = {key: errors}
        where = ".".join(str(p) for p in path)
        raise Unprocessable(
            f"Invalid input in {where}: {exc.detail}", errors={"json": errors}
        ) from exc
