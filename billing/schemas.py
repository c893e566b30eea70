"""Request and response shapes of billing: the rate card, usage records and invoices (SPEC 8).

Money is integer minor units of the rate card's currency (150 = 1.50 EUR) and shares are integer
basis points (10000 = 100 %): a float or a numeric string is refused, never rounded.
`RateCardCreateSchema` is also nested in the onboarding request: keep it free of anything that
needs a tenant or the database (the currency check against the tenant is the service's).
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.common_schemas import dump_only_choice
from app.vocabulary import CATEGORIES, CHANNELS, DIRECTIONS
from billing.models import CAMPAIGN_BASES, CREDITED_KPIS, TIER_MODES
from billing.rating import BPS_FULL
from tenants.schemas import CURRENCY

# The amount columns are 32-bit integers: 21,474,836.47 in a currency with cents.
MAX_AMOUNT = 2_147_483_647


class Amount(fields.Integer):
    """A non-negative integer amount in minor units."""

    default_error_messages = {
        "invalid": "Use an integer amount in minor units (150 for 1.50), not a fraction or text."
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(strict=True, validate=validate.Range(min=0, max=MAX_AMOUNT), **kwargs)


class BasisPoints(fields.Integer):
    """An integer share in basis points, 0 to 10000 (100 %)."""

    default_error_messages = {
        "invalid": "Use an integer number of basis points (2.5 % is 250), not a fraction or text."
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(strict=True, validate=validate.Range(min=0, max=BPS_FULL), **kwargs)


class PriceSchema(Schema):
    """A specific price; the most specific entry matching a handled contact wins."""

    channel = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(CHANNELS))
    category = fields.String(
        allow_none=True, load_default=None, validate=validate.OneOf(CATEGORIES)
    )
    direction = fields.String(
        allow_none=True, load_default=None, validate=validate.OneOf(DIRECTIONS)
    )
    unit_amount = Amount(required=True, metadata={"example": 250})

    @validates_schema
    def _specific(self, data: dict, **_kwargs) -> None:
        if not any(data.get(key) for key in ("channel", "category", "direction")):
            raise ValidationError(
                "Name a channel, category or direction; default_unit_amount prices the rest."
            )


class CampaignPriceSchema(Schema):
    """How a campaign's attempts are billed."""

    campaign_id = fields.UUID(
        allow_none=True,
        load_default=None,
        metadata={"description": "The campaign; null: every campaign without its own entry."},
    )
    basis = fields.String(
        required=True,
        validate=validate.OneOf(CAMPAIGN_BASES),
        metadata={
            "description": "attempt: every attempt, reached or not; reached: once per customer "
            "reached (the attempt that first reached the record)."
        },
    )
    unit_amount = Amount(required=True, metadata={"example": 90})


def _one_entry_per_campaign(entries: list[dict]) -> None:
    seen = [str(e.get("campaign_id")) for e in entries]
    if len(seen) != len(set(seen)):
        raise ValidationError("One entry per campaign (and one for every campaign).")


class TierSchema(Schema):
    up_to = fields.Integer(
        strict=True,
        required=True,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={
            "description": "The band's last handled contact of the month (inclusive); null "
            "on the last band, which has no upper bound.",
            "example": 1000,
        },
    )
    discount_bps = BasisPoints(
        required=True,
        metadata={"description": "Discount on the unit price in this band.", "example": 500},
    )


class KpiCreditSchema(Schema):
    kpi = fields.String(required=True, validate=validate.OneOf(CREDITED_KPIS))
    target_bps = BasisPoints(
        required=True,
        metadata={
            "description": "The contractual target: share answered within T (service_level), "
            "share within the SLA target (first_response, resolution), the highest "
            "acceptable abandonment rate (abandonment), or the least average score of the "
            "month's current quality reviews (quality).",
            "example": 8000,
        },
    )
    credit_bps_per_point = BasisPoints(
        required=True,
        metadata={
            "description": "Share of the month's fee credited per percentage point the month "
            "misses the target by.",
            "example": 100,
        },
    )
    cap_bps = BasisPoints(
        required=True,
        metadata={"description": "Most this KPI can credit, as a share of the fee."},
    )


def _no_duplicate_kpis(kpis: list[dict]) -> None:
    seen = [k["kpi"] for k in kpis]
    twice = sorted({k for k in seen if seen.count(k) > 1})
    if twice:
        raise ValidationError(f"Each KPI may be credited once; listed twice: {', '.join(twice)}.")


class SlaCreditsSchema(Schema):
    total_cap_bps = BasisPoints(
        required=True,
        metadata={"description": "Most all KPIs together can credit, as a share of the fee."},
    )
    kpis = fields.List(
        fields.Nested(KpiCreditSchema), load_default=list, validate=_no_duplicate_kpis
    )


def _no_duplicate_prices(prices: list[dict]) -> None:
    first: dict[tuple, int] = {}
    for index, price in enumerate(prices):
        key = (price["channel"], price["category"], price["direction"])
        if key in first:
            raise ValidationError(
                f"Entries {first[key]} and {index} price the same channel, category and direction."
            )
        first[key] = index


def _ascending_bands(tiers: list[dict]) -> None:
    if not tiers:
        return
    if tiers[-1]["up_to"] is not None:
        raise ValidationError("The last band must be open-ended (up_to null).")
    bounds = [t["up_to"] for t in tiers[:-1]]
    if None in bounds:
        raise ValidationError("Only the last band may be open-ended (up_to null).")
    for index in range(1, len(bounds)):
        if bounds[index] <= bounds[index - 1]:
            raise ValidationError(
                f"Bands must ascend by up_to: band {index} ({bounds[index]}) is not above "
                f"band {index - 1} ({bounds[index - 1]})."
            )


class RateCardSchema(Schema):
    id = fields.UUID(dump_only=True)
    effective_from = fields.AwareDateTime(dump_only=True)
    currency = fields.String(dump_only=True)
    default_unit_amount = fields.Integer(dump_only=True)
    prices = fields.List(fields.Nested(PriceSchema), dump_only=True)
    tier_mode = dump_only_choice(TIER_MODES)
    tiers = fields.List(fields.Nested(TierSchema), dump_only=True)
    monthly_minimum = fields.Integer(dump_only=True)
    sla_credits = fields.Nested(SlaCreditsSchema, dump_only=True)
    campaign_prices = fields.List(fields.Nested(CampaignPriceSchema), dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class RateCardCreateSchema(Schema):
    """A new version of the rate card: the whole price list, effective from an instant."""

    effective_from = fields.AwareDateTime(
        metadata={
            "description": "When this version takes effect; default now. Not before the version "
            "in force.",
            "example": "2027-01-01T00:00:00+01:00",
        }
    )
    currency = fields.String(
        validate=validate.Regexp(CURRENCY, error="Use an ISO 4217 code such as EUR."),
        metadata={"description": "Must be the client firm's currency; defaults to it."},
    )
    default_unit_amount = Amount(
        required=True,
        metadata={
            "description": "Price of a handled contact no specific price matches, in minor units.",
            "example": 150,
        },
    )
    prices = fields.List(
        fields.Nested(PriceSchema),
        load_default=list,
        validate=[validate.Length(max=500), _no_duplicate_prices],
        metadata={"description": "Specific prices by channel, category and direction."},
    )
    tier_mode = fields.String(
        load_default="graduated",
        validate=validate.OneOf(TIER_MODES),
        metadata={
            "description": "graduated: each contact gets the discount of the band it falls in; "
            "volume: every contact of the month gets the band the month's count reaches."
        },
    )
    tiers = fields.List(
        fields.Nested(TierSchema),
        load_default=list,
        validate=[validate.Length(max=50), _ascending_bands],
        metadata={"description": "Volume bands over the month's handled contacts; empty: none."},
    )
    monthly_minimum = Amount(
        load_default=0,
        metadata={"description": "The month's fee is topped up to this; 0: no minimum."},
    )
    sla_credits = fields.Nested(
        SlaCreditsSchema,
        load_default=lambda: {"total_cap_bps": 0, "kpis": []},
        metadata={"description": "Credits owed when the month misses SLA targets; default none."},
    )
    campaign_prices = fields.List(
        fields.Nested(CampaignPriceSchema),
        load_default=list,
        validate=[validate.Length(max=200), _one_entry_per_campaign],
        metadata={
            "description": "How outbound campaigns' attempts are billed (per attempt or per "
            "reached customer); an attempt no entry matches is billed as any contact."
        },
    )


# --- usage and invoices ----------------------------------------------------------------------


class PeriodArgsSchema(Schema):
    period = fields.String(
        required=True,
        validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="Use a month as YYYY-MM."),
        metadata={
            "description": "The month, in the client firm's time zone.",
            "example": "2027-01",
        },
    )


class UsageRecordSchema(Schema):
    id = fields.UUID(dump_only=True)
    contact_id = fields.UUID(dump_only=True)
    period = fields.String(dump_only=True)
    handled_at = fields.AwareDateTime(dump_only=True)
    channel = fields.String(dump_only=True)
    category = fields.String(dump_only=True)
    direction = fields.String(dump_only=True)
    rate_card_id = fields.UUID(dump_only=True)
    currency = fields.String(dump_only=True)
    unit_amount = fields.Integer(
        dump_only=True, metadata={"description": "List price in minor units, before tiers."}
    )
    status = fields.String(dump_only=True, metadata={"enum": ["billable", "voided"]})
    voided_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    void_reason = fields.String(dump_only=True, allow_none=True)
    voided_by_user_id = fields.UUID(dump_only=True, allow_none=True)


class UsageVoidSchema(Schema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "Why the contact was not really handled (audited)."},
    )


class InvoiceLineSchema(Schema):
    position = fields.Integer(dump_only=True)
    kind = fields.String(
        dump_only=True, metadata={"enum": ["usage", "minimum_topup", "sla_credit"]}
    )
    description = fields.String(dump_only=True)
    channel = fields.String(dump_only=True, allow_none=True)
    category = fields.String(dump_only=True, allow_none=True)
    direction = fields.String(dump_only=True, allow_none=True)
    tier = fields.Integer(dump_only=True, allow_none=True)
    quantity = fields.Integer(dump_only=True)
    unit_amount = fields.Integer(
        dump_only=True, metadata={"description": "After the tier's discount, in minor units."}
    )
    amount = fields.Integer(
        dump_only=True, metadata={"description": "quantity x unit_amount; negative for a credit."}
    )


class InvoiceSchema(Schema):
    id = fields.UUID(dump_only=True, allow_none=True)
    tenant_id = fields.UUID(dump_only=True)
    period = fields.String(dump_only=True)
    status = fields.String(
        dump_only=True,
        metadata={"enum": ["preview", "closed", "finalized", "paid", "payment_failed", "void"]},
    )
    currency = fields.String(dump_only=True)
    usage_count = fields.Integer(dump_only=True)
    subtotal = fields.Integer(dump_only=True, metadata={"description": "Usage after tiers."})
    minimum_topup = fields.Integer(dump_only=True)
    credit_amount = fields.Integer(
        dump_only=True, metadata={"description": "SLA credits, a positive amount taken off."}
    )
    total = fields.Integer(dump_only=True)
    sla_figures = fields.Dict(
        dump_only=True,
        metadata={"description": "The month's KPI figures (basis points) and the terms applied."},
    )
    closed_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    finalized_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    paid_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    payment_failed_at = fields.AwareDateTime(dump_only=True, allow_none=True)


class InvoiceDetailSchema(InvoiceSchema):
    lines = fields.List(fields.Nested(InvoiceLineSchema), dump_only=True)


class PeriodCloseResultSchema(Schema):
    tenant_id = fields.UUID(dump_only=True)
    invoice_id = fields.UUID(dump_only=True)
    result = fields.String(dump_only=True, metadata={"enum": ["closed", "already_closed"]})
    total = fields.Integer(dump_only=True)
    currency = fields.String(dump_only=True)


class PeriodCloseSchema(Schema):
    period = fields.String(dump_only=True)
    closed = fields.Integer(dump_only=True)
    already_closed = fields.Integer(dump_only=True)
    tenants = fields.List(fields.Nested(PeriodCloseResultSchema), dump_only=True)


class StripeWebhookResultSchema(Schema):
    received = fields.Boolean(dump_only=True)
    outcome = fields.String(
        dump_only=True,
        metadata={
            "enum": ["paid", "payment_failed", "duplicate", "ignored"],
            "description": "What the event did: `duplicate` for an event id acted on before, "
            "`ignored` for an event about something else.",
        },
    )
