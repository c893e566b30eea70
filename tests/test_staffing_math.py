"""Erlang C staffing arithmetic (app/queues/staffing.py) against SPEC section 7, published
Erlang B and C values, and an exact oracle built from the closed-form sums."""

from __future__ import annotations

import math
import time
from decimal import Decimal
from fractions import Fraction

import pytest

from app.queues import staffing

# --- the oracle: closed-form sums in exact arithmetic (factorials allowed here, and only here) --


def _scaled_terms(n: int, a: Fraction) -> list[int]:
    """A^k / k! for k = 0..n, each times q^n n! (A = p/q) so that all of them are integers."""
    p, q = a.numerator, a.denominator
    term = q**n * math.factorial(n)  # k = 0
    terms = [term]
    for k in range(1, n + 1):
        term = term * p // (q * k)  # exact: the term still holds q^(n-k) and n!/k!
        terms.append(term)
    return terms


def oracle_b(n: int, a) -> Fraction:
    """Erlang B = (A^N / N!) / sum_{k=0..N} A^k / k!, exactly."""
    terms = _scaled_terms(n, Fraction(a))
    return Fraction(terms[-1], sum(terms))


def oracle_c(n: int, a) -> Fraction:
    """Erlang C = (A^N/N! . N/(N-A)) / (sum_{k<N} A^k/k! + A^N/N! . N/(N-A)), exactly."""
    a = Fraction(a)
    terms = _scaled_terms(n, a)
    last = terms[-1] * Fraction(n) / (n - a)
    return last / (sum(terms[:-1]) + last)


def oracle_c_small(n: int, a) -> Fraction:
    """The same closed form written literally with factorials, for small N."""
    a = Fraction(a)
    last = a**n / math.factorial(n) * n / (n - a)
    return last / (sum(a**k / math.factorial(k) for k in range(n)) + last)


def halfin_whitt_c(n: int, a: float) -> float:
    """Erlang C in the many-server limit: 1 / (1 + b.Phi(b)/phi(b)), b = (N - A) / sqrt(A)."""
    beta = (n - a) / math.sqrt(a)
    cdf = 0.5 * (1 + math.erf(beta / math.sqrt(2)))
    pdf = math.exp(-beta * beta / 2) / math.sqrt(2 * math.pi)
    return 1 / (1 + beta * cdf / pdf)


def spec_example(**changes) -> staffing.Staffing:
    """SPEC section 7: 100 contacts per 30 min, AHT 180 s, 80% in 20 s, 30% shrinkage."""
    inputs = dict(
        volume=100,
        aht_seconds=180,
        interval_seconds=1800,
        target=Decimal("0.8"),
        threshold_seconds=20,
        shrinkage=Decimal("0.3"),
    )
    return staffing.staff(**{**inputs, **changes})


# --- the SPEC's worked example ---------------------------------------------------------------


def test_the_spec_example_needs_14_agents_and_20_scheduled_with_30_percent_shrinkage():
    sized = spec_example()

    assert sized.traffic_erlangs == 10.0
    needed = sized.needed
    assert needed.agents == 14
    assert round(needed.service_level, 3) == 0.888
    assert round(needed.asa_seconds, 1) == 7.8
    assert needed.scheduled == 20
    assert needed.occupancy == pytest.approx(10 / 14)
    assert needed.meets_target


def test_one_agent_fewer_than_needed_misses_the_target():
    curve = {level.agents: level for level in spec_example().curve}

    assert not curve[13].meets_target
    assert curve[13].service_level < 0.8 <= curve[14].service_level


def test_the_spec_example_agrees_with_the_exact_oracle():
    needed = spec_example().needed

    exact_c = oracle_c(14, 10)
    assert needed.probability_wait == pytest.approx(float(exact_c), rel=1e-12)
    assert needed.service_level == pytest.approx(
        1 - float(exact_c) * math.exp(-(14 - 10) * 20 / 180), rel=1e-12
    )
    assert needed.asa_seconds == pytest.approx(float(exact_c) * 180 / (14 - 10), rel=1e-12)


# --- published Erlang B and C values ---------------------------------------------------------


def test_erlang_c_of_three_agents_and_two_erlangs_is_four_ninths():
    assert staffing.erlang_c(3, 2) == pytest.approx(4 / 9, rel=1e-12)
    assert oracle_c_small(3, 2) == Fraction(4, 9)


def test_erlang_b_of_ten_agents_and_five_erlangs_is_about_1_838_percent():
    assert staffing.erlang_b(10, 5) == pytest.approx(0.01838, abs=5e-6)


@pytest.mark.parametrize(
    ("agents", "erlangs"),
    # The 1% column of the classic Erlang B table: traffic each trunk group carries at 1% loss.
    [(1, 0.0101), (2, 0.153), (5, 1.361), (10, 4.461), (20, 12.031), (50, 37.901), (100, 84.064)],
)
def test_erlang_b_matches_the_published_one_percent_loss_table(agents, erlangs):
    # The table rounds traffic to three decimals, so blocking lands within 0.5% of 1%.
    assert staffing.erlang_b(agents, erlangs) == pytest.approx(0.01, rel=5e-3)


def test_erlang_b_starts_at_one_and_halves_with_one_agent_on_one_erlang():
    assert staffing.erlang_b(0, 3) == 1.0
    assert staffing.erlang_b(1, 1) == 0.5
    assert staffing.erlang_b(2, 1) == pytest.approx(0.2)


# --- the exact oracle ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agents", "erlangs"),
    [
        (1, Fraction(1, 2)),
        (2, 1),
        (3, 2),
        (5, Fraction(37, 10)),
        (8, Fraction(15, 2)),
        (14, 10),
        (25, Fraction(201, 10)),
        (60, 50),
        (150, Fraction(2801, 20)),
    ],
)
def test_erlang_b_and_c_agree_with_the_closed_form_sums(agents, erlangs):
    assert staffing.erlang_b(agents, erlangs) == pytest.approx(
        float(oracle_b(agents, erlangs)), rel=1e-11
    )
    assert staffing.erlang_c(agents, erlangs) == pytest.approx(
        float(oracle_c(agents, erlangs)), rel=1e-11
    )
    if agents <= 25:
        assert oracle_c(agents, erlangs) == oracle_c_small(agents, erlangs)


def test_thousands_of_erlangs_size_in_well_under_a_second_and_match_the_oracle():
    # 5000 erlangs: 100,000 contacts per 30 min at 90 s.
    started = time.perf_counter()
    sized = staffing.staff(
        volume=100_000,
        aht_seconds=90,
        interval_seconds=1800,
        target=Decimal("0.8"),
        threshold_seconds=20,
    )
    elapsed = time.perf_counter() - started

    assert elapsed < 0.5, elapsed
    assert sized.traffic_erlangs == 5000.0
    n = sized.needed.agents
    # Exactly the least N: the oracle says N meets 80% in 20 s and N - 1 does not.
    for agents, meets in ((n - 1, False), (n, True)):
        exact_c = float(oracle_c(agents, 5000))
        sl = 1 - exact_c * math.exp(-(agents - 5000) * 20 / 90)
        assert (sl >= 0.8) is meets, (agents, sl)
    assert sized.needed.probability_wait == pytest.approx(float(oracle_c(n, 5000)), rel=1e-9)


@pytest.mark.parametrize("erlangs", [2000, 5000, 50_000])
def test_many_servers_approach_the_halfin_whitt_limit(erlangs):
    # N = A + sqrt(A): Erlang C tends to 1/(1 + Phi(1)/phi(1)) ~ 0.2234 as A grows, the gap
    # shrinking like 1/sqrt(A) (about 0.14/sqrt(A) here).
    agents = erlangs + round(math.sqrt(erlangs))
    c = staffing.erlang_c(agents, erlangs)
    assert c == pytest.approx(halfin_whitt_c(agents, erlangs), abs=0.2 / math.sqrt(erlangs))
    assert c > halfin_whitt_c(agents, erlangs)


# --- the curve, the caps and the edges -------------------------------------------------------


def test_the_curve_runs_from_two_below_to_three_above_and_improves_with_every_agent():
    sized = spec_example()

    assert [level.agents for level in sized.curve] == [12, 13, 14, 15, 16, 17]
    assert sized.curve[2] == sized.needed
    pairs = list(zip(sized.curve, sized.curve[1:], strict=False))
    for fewer, more in pairs:
        assert more.service_level > fewer.service_level
        assert more.asa_seconds < fewer.asa_seconds
        assert more.probability_wait < fewer.probability_wait
        assert more.occupancy < fewer.occupancy
        assert more.scheduled >= fewer.scheduled
    assert [level.meets_target for level in sized.curve] == [False, False, True, True, True, True]


def test_levels_at_or_below_the_traffic_have_no_service_level():
    # 2.4 erlangs, a target any stable staffing meets: N = 3, the curve starts at 1.
    sized = staffing.staff(
        volume=48,
        aht_seconds=180,
        interval_seconds=3600,
        target=Decimal("0.01"),
        threshold_seconds=0,
    )

    assert sized.needed.agents == 3
    one, two = sized.curve[0], sized.curve[1]
    assert (one.agents, two.agents) == (1, 2)
    for level in (one, two):
        assert (level.service_level, level.asa_seconds) == (None, None)
        assert (level.probability_wait, level.occupancy, level.meets_target) == (1.0, 1.0, False)
    assert sized.curve[2].service_level is not None


def test_a_max_occupancy_below_what_the_target_gives_adds_agents():
    # The target alone gives 14 agents at 71.4%; at most 65% busy needs ceil(10 / 0.65) = 16.
    sized = spec_example(max_occupancy=Decimal("0.65"))

    assert sized.needed.agents == 16
    assert sized.needed.occupancy <= 0.65
    curve = {level.agents: level for level in sized.curve}
    assert curve[15].service_level >= 0.8 and not curve[15].meets_target  # 66.7% busy


def test_an_occupancy_cap_met_exactly_counts_as_met():
    # 10 / 16 is exactly 0.625: exact arithmetic, so no float puts it a hair above.
    assert spec_example(max_occupancy=Decimal("0.625")).needed.agents == 16
    assert spec_example(max_occupancy=0.625).needed.agents == 16


def test_a_max_occupancy_above_what_the_target_gives_changes_nothing():
    assert spec_example(max_occupancy=Decimal("0.9")).needed == spec_example().needed


def test_scheduling_divides_by_one_minus_shrinkage_exactly():
    # In binary floating point 14 / (1 - 0.3) is 20.000000000000004, which would round up to 21.
    assert staffing.scheduled(14, 0.3) == 20
    assert staffing.scheduled(14, Decimal("0.3")) == 20
    assert staffing.scheduled(14, 0) == 14
    assert staffing.scheduled(15, Decimal("0.3")) == 22


def test_no_volume_needs_no_agents():
    sized = spec_example(volume=0)

    assert sized.traffic_erlangs == 0.0
    assert (sized.needed.agents, sized.needed.scheduled) == (0, 0)
    assert (sized.needed.service_level, sized.needed.probability_wait) == (1.0, 0.0)
    assert [level.agents for level in sized.curve] == [0, 1, 2, 3]


def test_a_tiny_occupancy_cap_is_answered_at_once_far_above_the_traffic():
    started = time.perf_counter()
    sized = spec_example(max_occupancy=Decimal("0.0001"))

    assert time.perf_counter() - started < 0.5
    assert sized.needed.agents == 100_000
    assert sized.needed.service_level == 1.0


def test_a_zero_threshold_asks_only_that_contacts_do_not_wait():
    needed = spec_example(threshold_seconds=0, target=Decimal("0.5")).needed

    assert needed.service_level == pytest.approx(1 - needed.probability_wait)
    assert needed.probability_wait <= 0.5


@pytest.mark.parametrize(
    "changes",
    [
        {"target": 1},
        {"target": 0},
        {"shrinkage": 1},
        {"max_occupancy": 0},
        {"max_occupancy": Decimal("1.5")},
        {"aht_seconds": 0},
        {"interval_seconds": 0},
        {"volume": float("nan")},
    ],
)
def test_inputs_outside_their_domain_are_refused(changes):
    with pytest.raises(ValueError):
        spec_example(**changes)
