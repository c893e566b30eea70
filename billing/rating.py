"""Rating a month (pure): the one rounding rule of billing, volume and graduated tiers, the
monthly minimum and the SLA credit. Integers in, integers out: no database, no request.

May import: the standard library only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

BPS_FULL = 10_000

# --- rounding --------------------------------------------------------------------------------
# The one rounding rule of billing: a division of non-negative integers rounds half up.


def divide_half_up(numerator: int, denominator: int) -> int:
    """Return numerator / denominator rounded to the nearest integer, halves up."""
    return (2 * numerator + denominator) // (2 * denominator)


def share(amount: int, bps: int) -> int:
    """Return `bps` basis points of `amount`, in whole minor units (halves round up)."""
    return divide_half_up(amount * bps, BPS_FULL)


# --- rating (pure) ---------------------------------------------------------------------------

HIGHER_IS_BETTER = {"service_level": True, "first_response": True, "resolution": True}
HIGHER_IS_BETTER["abandonment"] = False
HIGHER_IS_BETTER["quality"] = True


def kpi_actuals(totals: dict) -> dict[str, int | None]:
    """Return each credited KPI's month figure in basis points from an SLA report's totals;
    None where there was nothing to measure."""

    def rate_bps(numerator: int, denominator: int) -> int | None:
        return divide_half_up(numerator * BPS_FULL, denominator) if denominator else None

    level = totals.get("service_level")
    return {
        # The report rounds rates to 4 digits, i.e. whole basis points already.
        "service_level": None if level is None else round(level * BPS_FULL),
        "first_response": rate_bps(
            totals["first_response"]["within_target"], totals["first_response"]["measured"]
        ),
        "resolution": rate_bps(
            totals["resolution"]["within_target"], totals["resolution"]["measured"]
        ),
        "abandonment": rate_bps(totals["abandoned"], totals["offered"]),
    }


def sla_credit(*, fee: int, sla_credits: dict, actuals: dict[str, int | None]) -> dict:
    """Return the SLA credit owed on `fee` and the figures and terms it came from.

    Per credited KPI: shortfall = target - actual (abandonment: actual - target) in basis
    points; credit share = credit_bps_per_point x shortfall / 100 (points), rounded, capped at
    cap_bps. The shares add up to at most total_cap_bps; the credit is that share of the fee.
    """
    kpis = []
    for term in sla_credits.get("kpis", []):
        actual = actuals.get(term["kpi"])
        shortfall = 0
        if actual is not None:
            gap = term["target_bps"] - actual
            shortfall = max(0, gap if HIGHER_IS_BETTER[term["kpi"]] else -gap)
        credit_bps = min(
            term["cap_bps"], divide_half_up(term["credit_bps_per_point"] * shortfall, 100)
        )
        kpis.append(
            {**term, "actual_bps": actual, "shortfall_bps": shortfall, "credit_bps": credit_bps}
        )
    total_cap = sla_credits.get("total_cap_bps", 0)
    credit_bps = min(total_cap, sum(k["credit_bps"] for k in kpis))
    amount = share(fee, credit_bps)
    return {
        "fee": fee,
        "total_cap_bps": total_cap,
        "credit_bps": credit_bps,
        "credit_amount": amount,
        "kpis": kpis,
    }


def _bands(tiers: list[dict]) -> list[tuple[int | None, int]]:
    return [(t["up_to"], t["discount_bps"]) for t in tiers] or [(None, 0)]


def _band_of(count: int, bands: list[tuple[int | None, int]]) -> int:
    for index, (up_to, _discount) in enumerate(bands):
        if up_to is None or count <= up_to:
            return index
    return len(bands) - 1


def graduated_band_limits(tiers: list[dict]) -> tuple[list[int], int]:
    """For the n-th contact handled in a month: its graduated band is the index of the first
    limit n does not exceed, else the second value. What a query numbering a month's usage in
    handled order needs to count it per band (`billing.service` does so in SQL)."""
    limits = []
    for index, (up_to, _discount) in enumerate(_bands(tiers)):
        if up_to is None:
            return limits, index
        limits.append(up_to)
    return limits, len(limits) - 1


def group_usage(usage: Iterable[tuple[str, str, str, int]], *, tiers: list[dict]) -> Counter:
    """Count usage (channel, category, direction, list unit price), in handled order, per
    (graduated band, channel, category, direction, list unit price)."""
    bands = _bands(tiers)
    groups: Counter = Counter()
    for n, (channel, category, direction, unit_amount) in enumerate(usage, start=1):
        groups[(_band_of(n, bands), channel, category, direction, unit_amount)] += 1
    return groups


def rate_month(
    *,
    usage: Iterable[tuple[str, str, str, int]],
    tier_mode: str,
    tiers: list[dict],
    monthly_minimum: int,
    sla_credits: dict,
    actuals: dict[str, int | None],
) -> dict:
    """Rate a month: usage (channel, category, direction, list unit price) in handled order.
    The same as `rate_groups` over `group_usage`'s counts."""
    return rate_groups(
        groups=group_usage(usage, tiers=tiers),
        tier_mode=tier_mode,
        tiers=tiers,
        monthly_minimum=monthly_minimum,
        sla_credits=sla_credits,
        actuals=actuals,
    )


def rate_groups(
    *,
    groups: Counter,
    tier_mode: str,
    tiers: list[dict],
    monthly_minimum: int,
    sla_credits: dict,
    actuals: dict[str, int | None],
) -> dict:
    """Rate a month from its usage counted per (graduated band, channel, category, direction,
    list unit price), as `group_usage` counts it.

    Tiers run over the month's count of billable handled contacts: graduated, the n-th
    contact gets the discount of the band n falls in; volume, every contact gets the band the
    month's count reaches. A line per (tier, channel, category, direction, list price) with
    its discounted unit price (rounded half up) x quantity; the fee is topped up to the
    monthly minimum; the SLA credit is a share of the fee; total = fee - credit.
    """
    bands = _bands(tiers)
    count = sum(groups.values())
    if tier_mode == "volume":
        volume_band = _band_of(count, bands)
        banded: Counter = Counter()
        for (_band, *rest), quantity in groups.items():
            banded[(volume_band, *rest)] += quantity
        groups = banded
    lines = []
    for (band, channel, category, direction, list_price), quantity in sorted(
        groups.items(), key=lambda item: (item[0][0], *item[0][1:4], -item[0][4])
    ):
        discount = bands[band][1]
        unit_amount = share(list_price, BPS_FULL - discount)
        tier = band + 1 if tiers else None
        label = f"Handled contacts: {channel} / {category} / {direction}"
        if tier is not None:
            label += f", tier {tier}"
        if discount:
            label += f" ({discount / 100:g} % off {list_price})"
        lines.append(
            {
                "kind": "usage",
                "description": label,
                "channel": channel,
                "category": category,
                "direction": direction,
                "tier": tier,
                "quantity": quantity,
                "unit_amount": unit_amount,
                "amount": unit_amount * quantity,
            }
        )
    subtotal = sum(line["amount"] for line in lines)
    topup = max(0, monthly_minimum - subtotal)
    if topup:
        lines.append(
            _fee_line("minimum_topup", f"Top-up to the monthly minimum of {monthly_minimum}", topup)
        )
    figures = sla_credit(fee=subtotal + topup, sla_credits=sla_credits, actuals=actuals)
    credit = figures["credit_amount"]
    if credit:
        lines.append(
            _fee_line(
                "sla_credit", f"SLA credit ({figures['credit_bps'] / 100:g} % of the fee)", -credit
            )
        )
    return {
        "usage_count": count,
        "subtotal": subtotal,
        "minimum_topup": topup,
        "credit_amount": credit,
        "total": max(0, subtotal + topup - credit),
        "sla_figures": figures,
        "lines": [{**line, "position": n} for n, line in enumerate(lines, start=1)],
    }


def _fee_line(kind: str, description: str, amount: int) -> dict:
    return {
        "kind": kind,
        "description": description,
        "channel": None,
        "category": None,
        "direction": None,
        "tier": None,
        "quantity": 1,
        "unit_amount": amount,
        "amount": amount,
    }
