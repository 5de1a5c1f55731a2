"""The engine's pure parts: points, scores, tiers by score and hysteresis (no database per example)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from steelyard.tiering.models import Factor, FactorCode, Scoring, Tier, TierModel
from steelyard.tiering.selectors.assessment import FactorScan, Windows
from steelyard.tiering.services.assessment import (
    Inputs,
    Ladder,
    ModelSpec,
    Outcome,
    State,
    _decide,
    hysteresis,
    parse_bands,
    score_factor,
    score_factors,
    tier_for_score,
)

D = Decimal
TIERS = [
    Tier(code="strategic", rank=1, min_score=D("75")),
    Tier(code="key", rank=2, min_score=D("50")),
    Tier(code="regular", rank=3, min_score=D("25")),
    Tier(code="potential", rank=4, min_score=D("0")),
]


def bands(code: str, pairs: list, *, weight: str = "10", higher: bool = True) -> Factor:
    return Factor(code=code, weight=D(weight), scoring=Scoring.BANDS, bands=pairs, higher_is_better=higher)


def linear(code: str, lower: str, upper: str, *, weight: str = "10", higher: bool = True) -> Factor:
    return Factor(
        code=code,
        weight=D(weight),
        scoring=Scoring.LINEAR,
        lower=D(lower),
        upper=D(upper),
        higher_is_better=higher,
    )


# --- points -------------------------------------------------------------------------------------


def test_it_scores_bands_as_lower_bounds_when_higher_is_better():
    f = bands("revenue_12m", [[0, 0], [1_000_000, 0.2], [5_000_000, 0.5], [10_000_000, 1]], weight="35")
    assert score_factor(f, D("-1")) == D("0.00")  # below the first bound
    assert score_factor(f, D("999999.99")) == D("0.00")
    assert score_factor(f, D("1000000")) == D("7.00")  # a bound belongs to its own band
    assert score_factor(f, D("4999999")) == D("7.00")
    assert score_factor(f, D("5000000")) == D("17.50")
    assert score_factor(f, D("80000000")) == D("35.00")
    assert score_factor(f, None) == D("0.00")


def test_it_scores_bands_as_upper_bounds_when_lower_is_better():
    f = bands("days_late", [[0, 1], [15, 0.6], [30, 0.3], [60, 0.1]], higher=False)
    assert score_factor(f, D("-3")) == D("10.00")
    assert score_factor(f, D("0")) == D("10.00")
    assert score_factor(f, D("0.1")) == D("6.00")
    assert score_factor(f, D("15")) == D("6.00")
    assert score_factor(f, D("15.1")) == D("3.00")
    assert score_factor(f, D("60")) == D("1.00")
    assert score_factor(f, D("60.1")) == D("0.00")  # beyond the last bound
    assert score_factor(f, None) == D("0.00")


def test_it_reads_bands_in_ascending_order_and_clamps_shares():
    f = bands("installed_base", [[5, 0.6], [0, 0], ["1", "0.3"], [20, 1.7]])
    assert parse_bands(f.bands) == [(D(0), D(0)), (D(1), D("0.3")), (D(5), D("0.6")), (D(20), D(1))]
    assert score_factor(f, D("3")) == D("3.00")
    assert score_factor(f, D("25")) == D("10.00")


def test_it_refuses_malformed_bands():
    for bad in ([[1]], [["x", 0.5]], "1,2", [[1, "nan"]]):
        with pytest.raises(ValidationError):
            parse_bands(bad)


def test_it_scores_linear_factors_both_ways():
    up = linear("strategic_fit", "0", "5")
    assert score_factor(up, D("-1")) == D("0.00")
    assert score_factor(up, D("2")) == D("4.00")
    assert score_factor(up, D("7")) == D("10.00")
    down = linear("recency_days", "90", "720", weight="5", higher=False)
    assert score_factor(down, D("30")) == D("5.00")
    assert score_factor(down, D("90")) == D("5.00")
    assert score_factor(down, D("405")) == D("2.50")
    assert score_factor(down, D("720")) == D("0.00")
    assert score_factor(down, None) == D("0.00")
    broken = Factor(code="potential", weight=D("5"), scoring=Scoring.LINEAR, lower=D("5"), upper=D("5"))
    assert score_factor(broken, D("9")) == D("0.00")


def test_points_are_rounded_half_up_to_cents():
    f = linear("strategic_fit", "0", "3", weight="10")
    assert score_factor(f, D("1")) == D("3.33")
    assert score_factor(f, D("2")) == D("6.67")


# --- properties ---------------------------------------------------------------------------------

money = st.decimals(
    min_value=-1_000_000, max_value=100_000_000, places=2, allow_nan=False, allow_infinity=False
)
share = st.decimals(min_value=0, max_value=1, places=2)
weight = st.decimals(min_value=0, max_value=50, places=2)


@st.composite
def revenue_factors(draw) -> Factor:
    """A revenue factor as an administrator may configure it: bands with rising shares, or linear."""
    w = draw(weight)
    if draw(st.booleans()):
        bounds = sorted(set(draw(st.lists(money, min_size=1, max_size=6))))
        shares = sorted(draw(st.lists(share, min_size=len(bounds), max_size=len(bounds))))
        return bands(
            "revenue_12m", [[str(b), str(s)] for b, s in zip(bounds, shares, strict=True)], weight=str(w)
        )
    lo = draw(money)
    hi = lo + draw(st.decimals(min_value="0.01", max_value=10_000_000, places=2))
    return linear("revenue_12m", str(lo), str(hi), weight=str(w))


@st.composite
def ladders(draw) -> list[Tier]:
    n = draw(st.integers(min_value=1, max_value=5))
    mins = sorted(
        set(draw(st.lists(st.decimals(min_value=1, max_value=99, places=2), min_size=n - 1, max_size=n - 1)))
    )
    mins = [*reversed(mins), D("0")]
    return [Tier(code=f"t{i + 1}", rank=i + 1, min_score=m) for i, m in enumerate(mins)]


OTHERS = [
    bands("days_late", [[0, 1], [15, 0.6], [30, 0.3], [60, 0]], higher=False),
    linear("strategic_fit", "0", "5", weight="5"),
    bands("purchase_frequency", [[0, 0], [1, 0.3], [3, 0.6], [12, 1]]),
]
raw_value = st.one_of(st.none(), st.decimals(min_value=-10, max_value=100, places=1))


@settings(max_examples=150, deadline=None)
@given(
    revenue=revenue_factors(),
    tiers=ladders(),
    low=money,
    extra=money.filter(lambda m: m >= 0),
    others=st.tuples(raw_value, raw_value, raw_value),
)
def test_more_revenue_never_gives_a_lower_tier(revenue, tiers, low, extra, others):
    factors = [revenue, *OTHERS]
    rest = {f.code: v for f, v in zip(OTHERS, others, strict=True)}
    score_low, _ = score_factors(factors, {**rest, "revenue_12m": low})
    score_high, _ = score_factors(factors, {**rest, "revenue_12m": low + extra})
    assert score_high >= score_low
    ladder = Ladder(tiers)
    assert ladder.rank[tier_for_score(tiers, score_high)] <= ladder.rank[tier_for_score(tiers, score_low)]


@settings(max_examples=150, deadline=None)
@given(revenue=revenue_factors(), others=st.tuples(raw_value, raw_value, raw_value), low=money)
def test_the_points_add_up_to_the_score_and_stay_within_the_weights(revenue, others, low):
    factors = [revenue, *OTHERS]
    raws = {f.code: v for f, v in zip(OTHERS, others, strict=True)} | {"revenue_12m": low}
    score, points = score_factors(factors, raws)
    assert sum(points, D("0")) == score
    assert score == score.quantize(D("0.01"))
    for f, p in zip(factors, points, strict=True):
        assert D("0") <= p <= f.weight
        assert p == p.quantize(D("0.01"))


@settings(max_examples=200, deadline=None)
@given(tiers=ladders(), data=st.data())
def test_thresholds_hold_exactly_at_their_boundaries(tiers, data):
    tier = data.draw(st.sampled_from(tiers))
    assert tier_for_score(tiers, tier.min_score) == tier.code
    below = tier_for_score(tiers, tier.min_score - D("0.01"))
    worse = [t for t in tiers if t.rank > tier.rank]
    if worse:
        assert below == min(worse, key=lambda t: t.rank).code  # the tier just below
    else:
        assert below == tier.code  # the floor catches everything below it


def test_a_score_below_every_threshold_gets_the_floor_and_no_tiers_give_nothing():
    tiers = [Tier(code="a", rank=1, min_score=D("50")), Tier(code="b", rank=2, min_score=D("20"))]
    assert tier_for_score(tiers, D("3")) == "b"
    assert tier_for_score([], D("3")) == ""


# --- hysteresis ---------------------------------------------------------------------------------


def step(state: tuple[str, str, int], score: D, *, margin: str = "2", runs: int = 2) -> tuple[str, str, int]:
    current, pending, count = state
    return hysteresis(
        current=current,
        pending=pending,
        pending_runs=count,
        computed=tier_for_score(TIERS, score),
        score=score,
        tiers=TIERS,
        margin=D(margin),
        runs=runs,
    )


def test_a_new_customer_takes_the_tier_by_score_at_once():
    assert step(("", "", 0), D("51")) == ("key", "", 0)


def test_it_moves_at_once_when_the_threshold_is_crossed_by_the_margin():
    assert step(("regular", "", 0), D("52")) == ("key", "", 0)  # 50 + 2
    assert step(("key", "", 0), D("47.99")) == ("regular", "", 0)  # below 50 − 2
    assert step(("key", "", 0), D("48")) == ("key", "regular", 1)  # not below 48


def test_it_moves_when_the_score_stays_across_for_the_set_number_of_runs():
    state = step(("regular", "", 0), D("51"))
    assert state == ("regular", "key", 1)
    assert step(state, D("50.5")) == ("key", "", 0)


def test_a_change_of_direction_restarts_the_count():
    state = step(("key", "", 0), D("49"))
    assert state == ("key", "regular", 1)
    state = step(state, D("76"))  # now pointing up
    assert state == ("key", "strategic", 1)
    state = step(state, D("55"))  # back at its own tier: forgotten
    assert state == ("key", "", 0)


def test_a_jump_over_several_tiers_stops_where_the_margin_allows():
    # From regular to just above strategic's threshold: key is clearly crossed, strategic is not.
    assert step(("regular", "", 0), D("76")) == ("key", "strategic", 1)
    # Down from strategic to just under key's threshold: key is where it lands at once.
    assert step(("strategic", "", 0), D("49")) == ("key", "regular", 1)


def test_a_margin_of_zero_or_a_single_run_moves_at_once():
    assert step(("key", "", 0), D("49.99"), margin="0") == ("regular", "", 0)
    assert step(("key", "", 0), D("49.99"), runs=1) == ("regular", "", 0)


def test_a_tier_the_model_no_longer_has_is_replaced_at_once():
    assert step(("gold", "", 0), D("30")) == ("regular", "", 0)


@settings(max_examples=200, deadline=None)
@given(
    threshold=st.sampled_from([D("25"), D("50"), D("75")]),
    margin=st.decimals(min_value="0.02", max_value=10, places=2),
    data=st.data(),
    runs=st.integers(min_value=2, max_value=5),
    start_above=st.booleans(),
)
def test_a_score_oscillating_around_a_threshold_within_the_margin_never_flips(
    threshold, margin, data, runs, start_above
):
    offsets = data.draw(
        st.lists(
            st.decimals(min_value="0.01", max_value=margin - D("0.01"), places=2), min_size=2, max_size=12
        )
    )
    ladder = Ladder(TIERS)
    current = ladder.tier_for(threshold if start_above else threshold - D("0.01"))
    state = (current, "", 0)
    for i, offset in enumerate(offsets):
        above = (i % 2 == 0) != start_above  # alternate sides, starting on the other side
        score = threshold + offset if above else threshold - offset
        state = hysteresis(
            current=state[0],
            pending=state[1],
            pending_runs=state[2],
            computed=ladder.tier_for(score),
            score=score,
            tiers=TIERS,
            margin=margin,
            runs=runs,
        )
        assert state[0] == current


def test_hysteresis_counts_only_consecutive_runs_in_one_direction():
    # Two runs pointing down, separated by one at its own tier: never two in a row.
    state = ("key", "", 0)
    for score in ("49", "55", "49", "55", "49"):
        state = step(state, D(score))
    assert state == ("key", "regular", 1)


def test_factor_codes_cover_every_factor():
    assert {f.code for f in OTHERS} <= set(FactorCode.values)


# --- the bulk path of a run agrees with the functions above ------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    revenue=revenue_factors(),
    tiers=ladders(),
    margin=st.decimals(min_value=0, max_value=5, places=2),
    runs=st.integers(min_value=0, max_value=3),
    customers=st.lists(
        st.tuples(
            money,
            raw_value,
            raw_value,
            st.integers(min_value=0, max_value=4),  # index of the stored tier (4: none yet)
            st.integers(min_value=0, max_value=4),  # index of the pending tier (4: none)
            st.integers(min_value=0, max_value=3),
        ),
        min_size=1,
        max_size=25,
    ),
)
def test_a_runs_bulk_decisions_match_the_reference_functions(revenue, tiers, margin, runs, customers):
    factors = [revenue, OTHERS[0], OTHERS[1]]
    codes = [f.code for f in factors]
    on = dt.date(2026, 6, 30)
    scan = FactorScan(Windows.ending(on), tuple(codes), {code: {} for code in codes})
    states = {}
    tier_codes = [t.code for t in tiers]
    for cid, (rev, late, fit, stored, pending, count) in enumerate(customers, start=1):
        scan.values["revenue_12m"][cid] = rev
        scan.values["days_late"][cid] = late
        scan.values["strategic_fit"][cid] = fit
        if stored < len(tier_codes):
            states[cid] = State(
                cid, tier_codes[stored], tier_codes[pending] if pending < len(tier_codes) else "", count
            )
    spec = ModelSpec(TierModel(code="x"), tiers, factors, margin, runs)
    ids = list(range(1, len(customers) + 1))
    rows = [
        row
        for chunk in _decide(spec, Inputs(scan, ids, states, on), Outcome(), chunk_size=7)
        for row in chunk
    ]
    for row in rows:
        cid = row[0]
        score, _points = score_factors(factors, {c: scan.values[c][cid] for c in codes})
        assert D(row[1]) == score
        assert row[2] == tier_for_score(tiers, score)
        state = states.get(cid, State())
        expected = hysteresis(
            current=state.tier,
            pending=state.pending,
            pending_runs=state.pending_runs,
            computed=row[2],
            score=score,
            tiers=tiers,
            margin=margin,
            runs=runs,
        )
        assert (row[3], row[4], row[5]) == expected
        stored = json.loads(row[8])
        assert sum((D(f["points"]) for f in stored), D("0")) == score
        assert [f["code"] for f in stored] == codes
