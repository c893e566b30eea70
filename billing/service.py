"""Billing rules. For now: storing each tenant's rate card, versioned by effective instant.

A rate card is never edited: a new price list is a new version, so the version in force when
a contact was handled keeps pricing it (SPEC section 8). Services take keyword arguments,
return ORM objects (or a select to paginate) and never commit; they act on the tenant in scope.
May import: app.db, app.errors, billing.models, tenants (models and audit).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Select, select

from app.db import db, utcnow
from app.errors import Conflict, Unprocessable
from billing.models import RateCard
from tenants.models import Tenant
from tenants.service import Actor, record_audit


def default_rate_card_in(*, tenant: Tenant) -> dict:
    """Return the placeholder rate card a new client firm gets: nothing is charged.

    Zero prices, no tiers, no minimum, no SLA credits. It only makes the firm's price list
    visible and editable: the BPO must price it (PUT a new version) before billing the firm.
    """
    return {
        "currency": tenant.currency,
        "default_unit_amount": 0,
        "prices": [],
        "tier_mode": "graduated",
        "tiers": [],
        "monthly_minimum": 0,
        "sla_credits": {"total_cap_bps": 0, "kpis": []},
    }


def rate_card_in_force(*, at: datetime | None = None) -> RateCard | None:
    """Return the version in force at `at` (default now): the latest that took effect by then."""
    return db.session.scalar(
        select(RateCard)
        .where(RateCard.effective_from <= (at or utcnow()))
        .order_by(RateCard.effective_from.desc())
        .limit(1)
    )


def list_rate_cards() -> Select:
    """Select every version of the rate card in scope, latest effective first."""
    return select(RateCard).order_by(RateCard.effective_from.desc(), RateCard.id)


def lock_rate_cards(*, tenant: Tenant) -> None:
    """Serialise changes to one tenant's rate card until the transaction ends.

    Two admins adding a version at once would both find the same version in force; holding
    the tenant's row makes the second wait and then see the first's version.
    """
    db.session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())


def create_rate_card(*, rate_card_in: dict, tenant: Tenant, actor: Actor) -> RateCard:
    """Add a version of the tenant's rate card, effective from `effective_from` (default now)."""
    lock_rate_cards(tenant=tenant)
    now = utcnow()
    # In UTC, so the version created answers exactly what a later read of it does.
    effective_from = (rate_card_in.get("effective_from") or now).astimezone(UTC)
    currency = rate_card_in.get("currency") or tenant.currency
    errors: dict[str, list[str]] = {}
    if currency != tenant.currency:
        errors["currency"] = [f"Must be the client firm's currency, {tenant.currency}."]
    in_force = rate_card_in_force(at=now)
    if in_force is not None and effective_from <= in_force.effective_from:
        errors["effective_from"] = [
            "Must be after the version in force, effective from "
            f"{in_force.effective_from.isoformat()}."
        ]
    if errors:
        raise Unprocessable(f"Invalid input: {', '.join(sorted(errors))}.", errors={"json": errors})
    if db.session.scalar(select(RateCard.id).where(RateCard.effective_from == effective_from)):
        raise Conflict(
            f"A version effective from {effective_from.isoformat()} already exists; "
            "choose another instant."
        )
    rate_card = RateCard(
        effective_from=effective_from,
        currency=currency,
        default_unit_amount=rate_card_in["default_unit_amount"],
        prices=[dict(price) for price in rate_card_in.get("prices", [])],
        tier_mode=rate_card_in.get("tier_mode", "graduated"),
        tiers=[dict(tier) for tier in rate_card_in.get("tiers", [])],
        monthly_minimum=rate_card_in.get("monthly_minimum", 0),
        sla_credits=dict(rate_card_in.get("sla_credits") or {"total_cap_bps": 0, "kpis": []}),
    )
    db.session.add(rate_card)
    db.session.flush()
    record_audit(
        actor=actor,
        action="rate_card.version_created",
        target_type="rate_card",
        target_id=rate_card.id,
        tenant_id=tenant.id,
        details={
            "effective_from": rate_card.effective_from.isoformat(),
            "currency": rate_card.currency,
            "default_unit_amount": rate_card.default_unit_amount,
        },
    )
    return rate_card
