"""Erlang C staffing (SPEC section 7): agents needed for a traffic, and what they achieve.

Pure arithmetic, no database and no Flask: the service feeds it the inputs and shapes the answer.
Erlang B comes from its recursion, never from factorials or powers, so it stays within floating
point for any traffic; the search for the staffing level advances that recursion one agent at a
time and never restarts it, so sizing thousands of erlangs costs a few thousand steps.
Inputs that decide integers (traffic against agents, occupancy against its cap, the shrinkage
division) are taken as exact fractions, so 14 / (1 - 0.3) is 20 and not 20.000000000000004.
May import: the standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

Number = int | float | Decimal | Fraction


@dataclass(frozen=True)
class Level:
    """What `agents` on the phones achieve for one traffic.

    At or below the traffic (agents <= erlangs, with some traffic) the queue grows without
    bound: service level and ASA have no steady state and are None, every contact waits
    (probability_wait 1) and agents are never idle (occupancy 1).
    """

    agents: int
    scheduled: int
    service_level: float | None
    asa_seconds: float | None
    occupancy: float
    probability_wait: float
    meets_target: bool


@dataclass(frozen=True)
class Staffing:
    """The least staffing meeting the target, and the levels around it (N-2..N+3, N >= 0)."""

    traffic_erlangs: float
    needed: Level
    curve: list[Level]


def exact(value: Number) -> Fraction:
    """Return `value` as an exact fraction; a float is read as the decimal it prints as."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return Fraction(repr(value))
    return Fraction(value)


def traffic(*, volume: Number, aht_seconds: Number, interval_seconds: Number) -> Fraction:
    """Return the offered traffic in erlangs: A = volume x AHT / interval."""
    interval = exact(interval_seconds)
    if interval <= 0:
        raise ValueError("the interval must be positive")
    return exact(volume) * exact(aht_seconds) / interval


def erlang_b(agents: int, erlangs: Number) -> float:
    """Return Erlang B (blocking probability) by B(0) = 1, B(n) = A.B(n-1) / (n + A.B(n-1))."""
    if agents < 0:
        raise ValueError("agents must not be negative")
    series = _ErlangB(float(exact(erlangs)))
    return series(agents)


def erlang_c(agents: int, erlangs: Number) -> float:
    """Return Erlang C, the probability that a contact waits: N.B / (N - A.(1 - B)), N > A."""
    a = exact(erlangs)
    if agents <= a:
        raise ValueError("Erlang C needs more agents than erlangs")
    return _probability_wait(agents, float(a), erlang_b(agents, a))


def scheduled(agents: int, shrinkage: Number) -> int:
    """Return the headcount to schedule so that `agents` are on the phones: N / (1 - s), up."""
    s = exact(shrinkage)
    if not 0 <= s < 1:
        raise ValueError("shrinkage must be in [0, 1)")
    return math.ceil(agents / (1 - s))


def staff(
    *,
    volume: Number,
    aht_seconds: Number,
    interval_seconds: Number,
    target: Number,
    threshold_seconds: Number,
    shrinkage: Number = 0,
    max_occupancy: Number | None = None,
) -> Staffing:
    """Return the least N > A whose service level meets `target` (and whose occupancy is at
    most `max_occupancy`, when given), with the curve of levels around it."""
    a = traffic(volume=volume, aht_seconds=aht_seconds, interval_seconds=interval_seconds)
    aht, t = exact(aht_seconds), exact(threshold_seconds)
    goal, s = exact(target), exact(shrinkage)
    cap = exact(max_occupancy) if max_occupancy is not None else None
    if aht <= 0:
        raise ValueError("AHT must be positive")
    if a < 0 or t < 0:
        raise ValueError("volume and threshold must not be negative")
    if not 0 < goal < 1:
        raise ValueError("the target must be in (0, 1)")
    if cap is not None and not 0 < cap <= 1:
        raise ValueError("max_occupancy must be in (0, 1]")
    if not 0 <= s < 1:
        raise ValueError("shrinkage must be in [0, 1)")

    series = _ErlangB(float(a))

    def level(n: int) -> Level:
        return _level(n, a=a, aht=aht, threshold=t, target=goal, cap=cap, shrinkage=s, b=series)

    if a == 0:
        agents = 0  # no work: nobody is needed, and any staffing meets any target
    else:
        agents = math.floor(a) + 1  # the least integer above A
        if cap is not None:
            agents = max(agents, math.ceil(a / cap))
        # Service level rises with N, and B reaches 0.0 (service level 1) within some tens of
        # sqrt(A) agents above A, so this ends for any target below 1.
        while not level(agents).meets_target:
            agents += 1
    needed = level(agents)
    curve = [needed if n == agents else level(n) for n in range(max(agents - 2, 0), agents + 4)]
    return Staffing(traffic_erlangs=float(a), needed=needed, curve=curve)


def _level(
    n: int,
    *,
    a: Fraction,
    aht: Fraction,
    threshold: Fraction,
    target: Fraction,
    cap: Fraction | None,
    shrinkage: Fraction,
    b: _ErlangB,
) -> Level:
    head = scheduled(n, shrinkage)
    if a == 0:
        return Level(n, head, 1.0, 0.0, 0.0, 0.0, True)
    if n <= a:
        return Level(n, head, None, None, 1.0, 1.0, False)
    erlangs = float(a)
    p_wait = _probability_wait(n, erlangs, b(n))
    spare = float(n - a)  # exact before it is rounded: N and A may be large and close
    sl = 1.0 - p_wait * math.exp(-spare * float(threshold) / float(aht))
    asa = p_wait * float(aht) / spare
    occupancy = a / n
    meets = sl >= float(target) and (cap is None or occupancy <= cap)
    return Level(n, head, sl, asa, float(occupancy), p_wait, meets)


def _probability_wait(n: int, a: float, b: float) -> float:
    # N.B / (N - A.(1 - B)): the denominator is N - A + A.B, positive whenever N > A.
    return min(1.0, n * b / (n - a + a * b))


class _ErlangB:
    """B(n) for one traffic, advanced upwards one agent at a time and never restarted.

    It remembers the last few values (the curve looks back two agents from where the search
    stopped). Once B underflows to 0.0 it stays 0.0, so a far-off n is answered at once.
    """

    KEEP = 8

    def __init__(self, erlangs: float) -> None:
        self._a = erlangs
        self._n = 0
        self._b = 1.0
        self._recent: dict[int, float] = {0: 1.0}

    def __call__(self, n: int) -> float:
        if n in self._recent:
            return self._recent[n]
        if self._b == 0.0 and n > self._n:
            return 0.0
        if n < self._n:
            # Further back than remembered: recompute rather than keep the whole series.
            return _ErlangB(self._a)(n)
        a, b = self._a, self._b
        for k in range(self._n + 1, n + 1):
            ab = a * b
            b = ab / (k + ab)
            if k >= n - self.KEEP:
                self._recent[k] = b
            if b == 0.0:
                n = k
                break
        self._n, self._b = n, b
        for old in [k for k in self._recent if k < n - self.KEEP]:
            del self._recent[old]
        return b
