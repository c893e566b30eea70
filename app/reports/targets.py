"""A firm's headline targets and whether a figure meets them: the one rule the dashboard, the
portfolio and the API's SLA report share.

The default SLA policy promises a service level, and may set targets for the other headline
figures (ASA, AHT, abandonment, FCR, CSAT, the average quality score in basis points). ASA
without its own target is held to the strictest answer threshold the policy gives a channel;
first response and resolution within target are held to the service-level share; breaches to
none.
"""

from __future__ import annotations

# figure -> whether a higher value is better
DIRECTIONS = {
    "service_level": True,
    "asa_seconds": False,
    "aht_seconds": False,
    "abandonment_rate": False,
    "first_response_within_target": True,
    "resolution_within_target": True,
    "fcr_rate": True,
    "csat_rate": True,
    "breaches": False,
    # The month's average score of current quality reviews, basis points (app/reports/quality.py).
    "quality_score_bps": True,
}
DEFAULT_TARGETS = {
    "service_level": 0.8,
    "asa_seconds": None,
    "aht_seconds": None,
    "abandonment_rate": None,
    "first_response_within_target": 0.8,
    "resolution_within_target": 0.8,
    "fcr_rate": None,
    "csat_rate": None,
    "breaches": 0,
    "quality_score_bps": None,
}


def _share(bps: int | None) -> float | None:
    return None if bps is None else bps / 10000


def of_policy(policy) -> dict[str, float | int | None]:
    """The targets a policy sets (None: the figure has no target), keyed as DIRECTIONS."""
    if policy is None:
        return dict(DEFAULT_TARGETS)
    share = service_level_of(policy)
    thresholds = [
        t["answer_threshold_seconds"]
        for t in policy.targets or []
        if t.get("answer_threshold_seconds")
    ]
    asa = policy.asa_target_seconds
    return {
        "service_level": share,
        "asa_seconds": asa if asa is not None else (min(thresholds) if thresholds else None),
        "aht_seconds": policy.aht_target_seconds,
        "abandonment_rate": _share(policy.abandonment_target_bps),
        "first_response_within_target": share,
        "resolution_within_target": share,
        "fcr_rate": _share(policy.fcr_target_bps),
        "csat_rate": _share(policy.csat_target_bps),
        "breaches": 0,
        "quality_score_bps": policy.quality_target_bps,
    }


def service_level_of(policy) -> float | None:
    """The service level a policy promises (of_policy's "service_level"), from its
    `service_level_target_bps` alone: a reader may pass a row of that one column."""
    if policy is None:
        return DEFAULT_TARGETS["service_level"]
    return _share(policy.service_level_target_bps)


def state(figure: str, value, target) -> str | None:
    """`met` or `missed` for a value against its target; None when either is missing."""
    if value is None or target is None:
        return None
    met = value >= target if DIRECTIONS[figure] else value <= target
    return "met" if met else "missed"
