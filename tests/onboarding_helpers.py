"""Helpers for the onboarding and idempotency tests: request bodies and whole-database reads."""

from __future__ import annotations

import copy

from sqlalchemy import func, select

from app.db import Base, db
from tenants.models import AuditLog, Tenant, User
from tenants.scoping import is_tenant_owned, unscoped
from tests.http_helpers import TENANT_IN

ADMIN_PASSWORD = "a long enough admin password"

# Every part given, each unlike its default, so the response shows what was sent.
FULL_ONBOARDING = {
    **TENANT_IN,
    "calendar": {
        "time_zone": "Europe/Madrid",
        "weekly_hours": {
            "mon": [{"start": "09:00", "end": "14:00"}, {"start": "16:00", "end": "19:00"}],
            "tue": [{"start": "09:00", "end": "14:00"}, {"start": "16:00", "end": "19:00"}],
            "fri": [{"start": "08:00", "end": "15:00"}],
        },
        "holiday_country": "ES",
        "holiday_subdivision": "MD",
        "closures": ["2027-12-24"],
    },
    "queues": [
        {"name": "Ventas", "channels": ["voice", "chat"], "languages": ["es"]},
        {
            "name": "Reclamaciones",
            "channels": ["email", "web"],
            "categories": ["complaint", "claim"],
            "answer_threshold_seconds": 30,
        },
    ],
    "departments": [
        {"kind": "logistics", "email": "logistica@acme.example"},
        {"kind": "custom", "name": "Atención VIP"},
    ],
    "sla_policy": {
        "name": "Premium",
        "targets": [
            {"priority": "high", "first_response_seconds": 900, "resolution_seconds": 14400},
            {"priority": "normal", "channel": "voice", "answer_threshold_seconds": 15},
        ],
        "service_level_target_bps": 9000,
    },
    "rate_card": {
        "default_unit_amount": 180,
        "prices": [{"channel": "voice", "unit_amount": 250}],
        "tiers": [{"up_to": 1000, "discount_bps": 0}, {"up_to": None, "discount_bps": 500}],
        "monthly_minimum": 50000,
    },
    "first_admin": {
        "email": "ana.ruiz@acme.example",
        "name": "Ana Ruiz",
        "password": ADMIN_PASSWORD,
    },
}


def full_onboarding(**changes) -> dict:
    """A deep copy of FULL_ONBOARDING with top-level changes."""
    return {**copy.deepcopy(FULL_ONBOARDING), **changes}


def tenant_owned_tables() -> dict[str, type]:
    return {
        m.local_table.name: m.class_ for m in Base.registry.mappers if is_tenant_owned(m.class_)
    }


def database_counts(app) -> dict[str, int]:
    """Rows in every table a request could write to, read unscoped: nothing can hide."""
    with app.app_context():
        # The test counts the whole database, across tenants and the BPO's own rows.
        with unscoped():
            models = {"tenants": Tenant, "users": User, **tenant_owned_tables()}
            return {
                name: db.session.scalar(select(func.count()).select_from(model))
                for name, model in models.items()
            }


def tenant_by_slug(app, slug: str) -> Tenant | None:
    with app.app_context():
        return db.session.scalar(select(Tenant).where(Tenant.slug == slug))


def rows_of_tenant(app, tenant_id) -> dict[str, int]:
    """The tenant's rows in every tenant-owned table, read unscoped."""
    with app.app_context():
        # Unscoped on purpose: a scope would hide rows that should not exist.
        with unscoped():
            return {
                name: db.session.scalar(
                    select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
                )
                for name, model in tenant_owned_tables().items()
            }


def audit_of(app, tenant_id) -> list[AuditLog]:
    with app.app_context():
        # The audit log as a whole, past any scope.
        with unscoped():
            return list(
                db.session.scalars(
                    select(AuditLog)
                    .where(AuditLog.tenant_id == tenant_id)
                    .order_by(AuditLog.occurred_at)
                )
            )
