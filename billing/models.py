"""Billing configuration: each tenant's rate card, versioned by the date it takes effect."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UUIDPrimaryKey, str_enum, utcnow
from tenants.scoping import TenantScoped

TIER_MODES = ("graduated", "volume")
CREDITED_KPIS = ("service_level", "first_response", "resolution", "abandonment")


class RateCard(UUIDPrimaryKey, TenantScoped, Base):
    """Prices per handled contact (SPEC section 8). Amounts are integer minor units of
    `currency`; shares are integer basis points (10000 = 100 %). Never edited: a new price
    list is a new version."""

    __tablename__ = "rate_cards"
    __table_args__ = (UniqueConstraint("tenant_id", "effective_from"),)

    effective_from: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3))
    # Price of a handled contact no specific price matches.
    default_unit_amount: Mapped[int]
    # [{"channel": "voice"|null, "category": ...|null, "direction": "inbound"|...|null,
    #   "unit_amount": 250}]; the most specific match wins.
    prices: Mapped[list[dict]] = mapped_column(JSONType, default=list)
    tier_mode: Mapped[str] = mapped_column(
        str_enum(*TIER_MODES, name="tier_mode"), default="graduated"
    )
    # [{"up_to": 1000, "discount_bps": 0}, {"up_to": null, "discount_bps": 1000}] over the
    # month's count of handled contacts; the last band has no upper bound.
    tiers: Mapped[list[dict]] = mapped_column(JSONType, default=list)
    monthly_minimum: Mapped[int] = mapped_column(default=0)
    # {"total_cap_bps": 1500, "kpis": [{"kpi": "service_level", "target_bps": 8000,
    #   "credit_bps_per_point": 100, "cap_bps": 1000}]}
    sla_credits: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
