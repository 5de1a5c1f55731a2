"""Assessing customers (定级): factors computed in SQL, scored, weighted, tiered with hysteresis.

An assessment run takes one :class:`~steelyard.tiering.models.TierModel` and every live customer
(``merged_into`` empty) and, in this order:

1. **Factors.** :func:`factor_values` computes the raw value of each factor the model uses with a few
   shared SQL scans (``GROUP BY customer`` over orders, order lines, invoices, payments, shipped units
   and entered values). The definitions — windows, None, product-line models — are documented in
   :mod:`steelyard.tiering.selectors.assessment`.
2. **Points.** :func:`score_factor` turns a raw value into points between 0 and the factor's weight,
   rounded to cents (half up):

   - *Bands* ``[[bound, share], …]`` (read in ascending order of bound, shares clamped to 0–1). When
     higher is better the bounds are **lower** bounds: the share of the highest band whose bound ≤ raw,
     0 below the first bound. When lower is better (days late, overdue share, recency) the bounds are
     **upper** bounds: the share of the lowest band whose bound ≥ raw, 0 above the last bound. A raw
     value equal to a bound belongs to that bound's band either way. Points = share × weight.
   - *Linear*: ``weight × clamp((raw − from) / (to − from), 0, 1)``, or ``(to − raw) / (to − from)``
     when lower is better. A linear factor without both ends, or with ``to ≤ from``, scores 0.
   - A raw value of None (no data) scores 0.

   The **score** is the sum of the rounded points, so the points stored with an assessment (and the
   explanation) add up exactly to its score.
3. **Tier by score** (:func:`tier_for_score`): the best-ranked tier whose ``min_score`` ≤ score; a score
   below every threshold gets the worst tier (the floor; its ``min_score`` should be 0).
4. **Hysteresis** (:func:`hysteresis`), against the customer's *assessed* tier (``CustomerTier.tier``):

   - A customer seen for the first time (no ``CustomerTier``, an empty tier, or a tier the model no
     longer has) takes the tier by score at once.
   - Tier by score = assessed tier: it stays, and a pending move is forgotten.
   - Otherwise the score points up (a better tier) or down. A threshold θ (a tier's ``min_score``) is
     *clearly crossed* upwards when score ≥ θ + margin, downwards when score < θ − margin. The customer
     moves at once to the tier it reaches by clearly crossed thresholds: upwards, the best tier whose
     threshold + margin ≤ score; downwards, the tier that score + margin falls in. A score that entered
     another tier's band by less than the margin does not move the customer at once.
   - It also moves — to the tier by score — when the tier by score has differed from the assessed tier
     *in the same direction* for ``hysteresis_runs`` consecutive assessments. ``pending_tier`` /
     ``pending_runs`` on :class:`CustomerTier` keep that count (the latest tier by score and how many
     assessments in a row pointed that way); an assessment pointing the other way, or at the assessed
     tier, starts it again. ``hysteresis_runs`` of 0 or 1 and a margin of 0 move at once.

   So a score oscillating around a threshold by less than the margin never changes the tier.
5. **Overrides.** An approved override in force (``override_tier`` set and ``override_until`` ≥ the
   assessment day) wins: it is the tier of the assessment and, for the global model, ``Customer.tier``.
   The assessed tier and its hysteresis state still advance underneath, so when the override ends the
   customer lands where the scores have been pointing.

What a run writes, in bulk (a fixed number of statements per 10,000 customers):

- one :class:`AssessmentRun` (counts, duration, the **migration matrix** ``{from: {to: customers}}``
  of tiers in force before → after, with ``""`` for customers without a tier before; the diagonal is
  the customers that stayed, ``changed`` counts the others);
- one :class:`Assessment` per customer: ``score``, ``computed_tier`` (by score), ``tier`` (after
  hysteresis and override), ``previous_tier`` (in force before) and ``factors`` =
  ``[{"code", "raw", "points", "weight"}, …]`` in the model's factor order, numbers as exact decimal
  strings (``raw`` null when there was no data) — read them with
  ``selectors.assessment.assessment_factor_rows``;
- :class:`CustomerTier` inserted for a customer seen for the first time, and updated only where the
  assessed tier, score or hysteresis state changes (``since`` when the assessed tier changed; override
  fields untouched) — a customer's latest assessment is the one of its latest run
  (``selectors.assessment.latest_assessments``, by the (customer, run) index);
- for the global model (no product line), ``Customer.tier`` set to the tier in force where it differs
  (``updated_at`` is left alone — a derived tier is not an edit): right after the run commits, in
  short transactions of 10,000 customers (:func:`customer_tiers_mirror`; two connections side by side
  on PostgreSQL), so the run never holds a lock on every customer row; inside a caller's transaction,
  one set-based UPDATE in that transaction. ``assessment_run`` returns once the mirror is done;
- one audit row (verb ``tiering.assessed``) and one ``tiering.assessed`` event.

Speed (100k customers, 1M order lines: ``python -m bench tiering``): the factor scans and the customers'
stored tiers are read before the write transaction opens — side by side in threads when the caller
is not inside a transaction — so SQLite's single writer is held only for the writes. Customers are
then decided 10,000 at a time while the previous chunk is written (PostgreSQL: ``COPY`` fed by a
writer thread, tiers through a staging table, a commit that does not wait for the disk; SQLite:
``executemany``). After commit, a background job (``tiering.tasks.follow_tier_changes``) recomputes
the public-pool clocks of customers whose ``Customer.tier`` changed where their pool's days depend
on the tier.

:func:`assessment_preview` runs steps 1–5 with optional changed weights, thresholds and bands and
writes nothing. :func:`explain` turns a stored assessment into one sentence per factor.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from itertools import repeat
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Max, Min
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from steelyard.core.events import publish
from steelyard.core.models import AuditAction
from steelyard.core.services.audit import audit_record
from steelyard.core.tasks import current_job_id, job_progress
from steelyard.customers.models import Customer
from steelyard.tiering.models import (
    Assessment,
    AssessmentRun,
    CustomerTier,
    Factor,
    FactorCode,
    RunStatus,
    Scoring,
    Tier,
    TierModel,
)
from steelyard.tiering.selectors.assessment import (
    DEFAULTS,
    FactorScan,
    assessment_factor_rows,
    assessment_population,
    factor_scan,
    live_customer_ids,
)

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
ONE = Decimal("1")
NO_LIMIT = Decimal("Infinity")
MAX_PENDING_RUNS = 32767  # PositiveSmallIntegerField
DECIDE_CHUNK = 10000  # customers decided (and written) at a time

AUDIT_VERB = "tiering.assessed"
EVENT = "tiering.assessed"

ERR_NO_TIERS = _("This model has no tiers yet: add at least one tier before assessing customers.")
ERR_UNKNOWN_FACTOR = _("“%(code)s” is not a factor of this model.")
ERR_UNKNOWN_TIER = _("“%(code)s” is not a tier of this model.")
ERR_NUMBER = _("Enter a number.")
ERR_BANDS = _("Enter bands as a list of pairs [bound, share between 0 and 1].")

Raw = Decimal | None
Scorer = Callable[[Raw], Decimal]


# --- points -------------------------------------------------------------------------------------


def _number(value: Any) -> Decimal:
    """A finite Decimal from a number or numeric string; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(value)
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(value) from exc
    if not d.is_finite():
        raise ValueError(value)
    return d


def parse_bands(bands: Any) -> list[tuple[Decimal, Decimal]]:
    """``[[bound, share], …]`` as ``(bound, share)`` pairs sorted by bound, shares clamped to 0–1.

    Raises ``ValidationError`` when ``bands`` is not a list of number pairs.
    """
    if bands in (None, ""):
        return []
    if not isinstance(bands, (list, tuple)):
        raise ValidationError(str(ERR_BANDS))
    out = []
    for item in bands:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ValidationError(str(ERR_BANDS))
        try:
            bound, share = _number(item[0]), _number(item[1])
        except ValueError:
            raise ValidationError(str(ERR_BANDS))
        out.append((bound, min(max(share, Decimal(0)), ONE)))
    out.sort(key=lambda pair: pair[0])
    return out


def _points(weight: Decimal, share: Decimal) -> Decimal:
    return (weight * share).quantize(CENT, ROUND_HALF_UP)


def factor_scorer(factor: Factor) -> Scorer:
    """``raw → points`` for ``factor`` (the rules of :func:`score_factor`), remembering what it scored."""
    weight = max(_number(factor.weight or 0), Decimal(0))
    zero = ZERO
    cache: dict[Decimal, Decimal] = {}

    if factor.scoring == Scoring.LINEAR:
        lower, upper = factor.lower, factor.upper
        if lower is None or upper is None or _number(upper) <= _number(lower):
            return lambda raw: zero
        lo, hi = _number(lower), _number(upper)
        span = hi - lo
        rising = bool(factor.higher_is_better)

        def linear(raw: Raw) -> Decimal:
            if raw is None:
                return zero
            found = cache.get(raw)
            if found is None:
                share = (raw - lo) / span if rising else (hi - raw) / span
                found = cache[raw] = _points(weight, min(max(share, Decimal(0)), ONE))
            return found

        return linear

    bands = parse_bands(factor.bands)
    bounds = [b for b, _s in bands]
    points = [_points(weight, s) for _b, s in bands]
    if not bands:
        return lambda raw: zero
    if factor.higher_is_better:

        def lower_bounds(raw: Raw) -> Decimal:
            if raw is None:
                return zero
            i = bisect.bisect_right(bounds, raw)  # bands whose bound <= raw
            return points[i - 1] if i else zero

        return lower_bounds

    last = len(bounds)

    def upper_bounds(raw: Raw) -> Decimal:
        if raw is None:
            return zero
        i = bisect.bisect_left(bounds, raw)  # the first band whose bound >= raw
        return points[i] if i < last else zero

    return upper_bounds


def score_factor(factor: Factor, raw: Decimal | None) -> Decimal:
    """The points (0 … ``factor.weight``, 2 places) ``raw`` earns under ``factor`` (module docstring, 2)."""
    return factor_scorer(factor)(None if raw is None else _number(raw))


def score_factors(
    factors: Sequence[Factor], raws: Mapping[str, Decimal | None]
) -> tuple[Decimal, list[Decimal]]:
    """``(score, points per factor)`` for raw values by factor code; the score is the sum of the points."""
    points = [score_factor(f, raws.get(f.code)) for f in factors]
    return sum(points, ZERO), points


# --- tiers and hysteresis -----------------------------------------------------------------------


class Ladder:
    """A model's tiers, best first: where a score lands and how a customer moves between tiers.

    ``scale`` is the unit scores are given in: 1 for points, 100 for cents of a point (the engine
    sums points as integer cents); thresholds and margins are compared exactly either way.
    """

    def __init__(self, tiers: Iterable[Any], *, scale: int = 1) -> None:
        ordered = sorted(tiers, key=lambda t: t.rank)
        self.codes: list[str] = [t.code for t in ordered]
        self.mins: list[Decimal] = [Decimal(t.min_score) * scale for t in ordered]
        self.rank: dict[str, int] = {code: i for i, code in enumerate(self.codes)}
        self._pairs = list(zip(self.codes, self.mins, strict=True))

    def tier_for(self, score: Decimal | int) -> str:
        for code, minimum in self._pairs:
            if minimum <= score:
                return code
        return self.codes[-1] if self.codes else ""

    def move(
        self,
        *,
        current: str,
        pending: str,
        pending_runs: int,
        computed: str,
        score: Decimal | int,
        margin: Decimal,
        runs: int,
    ) -> tuple[str, str, int]:
        rank = self.rank
        if current not in rank or computed not in rank:
            return computed, "", 0
        if computed == current:
            return current, "", 0
        up = rank[computed] < rank[current]
        same_way = pending in rank and pending != current and (rank[pending] < rank[current]) == up
        count = min(pending_runs + 1, MAX_PENDING_RUNS) if same_way else 1
        if count >= max(runs, 1):
            return computed, "", 0
        if up:
            target = self.tier_for(score - margin)
            moved = rank[target] < rank[current]
        else:
            target = self.tier_for(score + margin)
            moved = rank[target] > rank[current]
        if not moved:
            return current, computed, count
        if target == computed:
            return computed, "", 0
        return target, computed, count


def tier_for_score(tiers: Sequence[Tier], score: Decimal) -> str:
    """The best-ranked tier whose ``min_score`` ≤ ``score``; the worst tier when none is ("" without tiers)."""
    return Ladder(tiers).tier_for(Decimal(score))


def hysteresis(
    *,
    current: str,
    pending: str,
    pending_runs: int,
    computed: str,
    score: Decimal,
    tiers: Sequence[Tier],
    margin: Decimal,
    runs: int,
) -> tuple[str, str, int]:
    """``(assessed tier, pending tier, pending runs)`` after one assessment (module docstring, 4).

    ``current`` is the assessed tier before (``""`` for a customer seen for the first time),
    ``pending``/``pending_runs`` the stored state, ``computed`` the tier by ``score``.
    """
    return Ladder(tiers).move(
        current=current,
        pending=pending,
        pending_runs=int(pending_runs or 0),
        computed=computed,
        score=Decimal(score),
        margin=max(Decimal(margin or 0), Decimal(0)),
        runs=int(runs or 0),
    )


def override_in_force(override_tier: str, override_until: dt.date | None, on: dt.date) -> bool:
    return bool(override_tier) and override_until is not None and override_until >= on


# --- factors ------------------------------------------------------------------------------------


def factor_values(
    *,
    as_of: dt.date,
    customer_ids: Iterable[int] | None = None,
    codes: Iterable[str] | None = None,
    product_line_id: int | None = None,
) -> dict[int, dict[str, Decimal | None]]:
    """``{customer_id: {factor code: raw value}}`` for every live customer (or ``customer_ids``).

    Every factor (or ``codes``) of every customer asked for, from at most six shared SQL scans (see
    :mod:`steelyard.tiering.selectors.assessment` for the definitions). Not scoped.
    """
    ids = live_customer_ids(customer_ids)
    scan, _none = factor_scan(
        as_of=as_of, codes=codes, customer_ids=customer_ids, product_line_id=product_line_id, parallel=True
    )
    return {cid: scan.row(cid) for cid in ids}


# --- the computation shared by runs and previews ------------------------------------------------


@dataclass
class ModelSpec:
    """A model as the engine reads it (possibly with a preview's changes applied to copies)."""

    model: TierModel
    ladder_tiers: list[Any]
    factors: list[Factor]
    margin: Decimal
    runs: int


def _spec(
    model: TierModel,
    *,
    weights: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, Any] | None = None,
    bands: Mapping[str, Any] | None = None,
) -> ModelSpec:
    tiers = list(Tier.objects.filter(model=model).order_by("rank"))
    factors = list(Factor.objects.filter(model=model).order_by("-weight", "code"))
    errors: dict[str, list[str]] = {}
    by_factor = {f.code: f for f in factors}
    by_tier = {t.code: t for t in tiers}

    def changed(kind: str, values: Mapping[str, Any] | None, rows: dict[str, Any], unknown: Any) -> dict:
        out = {}
        for code, value in (values or {}).items():
            if code not in rows:
                errors.setdefault(f"{kind}.{code}", []).append(str(unknown % {"code": code}))
                continue
            out[code] = value
        return out

    new_weights = changed("weights", weights, by_factor, ERR_UNKNOWN_FACTOR)
    new_bands = changed("bands", bands, by_factor, ERR_UNKNOWN_FACTOR)
    new_mins = changed("thresholds", thresholds, by_tier, ERR_UNKNOWN_TIER)
    for code, value in new_weights.items():
        try:
            by_factor[code] = copy.copy(by_factor[code])
            by_factor[code].weight = _number(value)
        except ValueError:
            errors.setdefault(f"weights.{code}", []).append(str(ERR_NUMBER))
    for code, value in new_bands.items():
        try:
            parse_bands(value)
        except ValidationError:
            errors.setdefault(f"bands.{code}", []).append(str(ERR_BANDS))
            continue
        by_factor[code] = copy.copy(by_factor[code])
        by_factor[code].bands = value
    for code, value in new_mins.items():
        try:
            by_tier[code] = copy.copy(by_tier[code])
            by_tier[code].min_score = _number(value)
        except ValueError:
            errors.setdefault(f"thresholds.{code}", []).append(str(ERR_NUMBER))
    if errors:
        raise ValidationError(errors)
    if not tiers:
        raise ValidationError(str(ERR_NO_TIERS))
    factors = sorted(by_factor.values(), key=lambda f: (-f.weight, f.code))
    return ModelSpec(
        model=model,
        ladder_tiers=list(by_tier.values()),
        factors=factors,
        margin=max(Decimal(model.hysteresis_margin or 0), Decimal(0)),
        runs=int(model.hysteresis_runs or 0),
    )


@dataclass
class State:
    """A customer's stored tier under the model (``CustomerTier``) as the engine needs it."""

    id: int | None = None
    tier: str = ""
    pending: str = ""
    pending_runs: int = 0
    override_tier: str = ""
    override_until: dt.date | None = None
    score: int | None = None  # in cents


def _cents(value: Any) -> int | None:
    """A stored score (Decimal, or a float/int/str from SQLite) in integer cents."""
    if value is None:
        return None
    return int((Decimal(str(value)) * 100).to_integral_value(ROUND_HALF_UP))


def _states(rows: Iterable[tuple]) -> tuple[list[int], dict[int, State]]:
    """Customer ids and the stored states of those assessed before, from ``assessment_population``."""
    ids: list[int] = []
    states: dict[int, State] = {}
    for cid, ct_id, tier, pending, pending_runs, override_tier, override_until, score in rows:
        ids.append(cid)
        if ct_id is not None:
            states[cid] = State(
                ct_id, tier, pending, pending_runs, override_tier, override_until, _cents(score)
            )
    return ids, states


@dataclass
class Outcome:
    """The totals of a run (or a preview): customers, tier changes and the migration matrices.

    The rows themselves stream by in chunks (:func:`_decide`); each is ``(customer_id, score as
    "12.34", tier by score, assessed tier, pending tier, pending runs, tier in force, tier in force
    before, factors JSON, CustomerTier id or None, assessed tier before, whether the stored
    CustomerTier stays as it is)`` — a stored tier whose tier, score and hysteresis state do not
    change is not written.
    """

    customers: int = 0
    changed: int = 0
    by_score_changed: int = 0
    migration: dict[str, dict[str, int]] = field(default_factory=dict)
    by_score: dict[str, dict[str, int]] = field(default_factory=dict)

    def distribution(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for targets in self.migration.values():
            for tier, n in targets.items():
                out[tier] += n
        return dict(out)


class FactorEncoder:
    """``raw → (points in cents, the factor's JSON object)`` for one factor, remembered per raw value.

    Raw values of one factor all carry the same number of decimals (the scans round them), so equal
    values also print the same and may share an entry. :meth:`column` encodes many customers at once.
    """

    def __init__(self, factor: Factor) -> None:
        self.scorer = factor_scorer(factor)
        self.head = f'{{"code":"{factor.code}","raw":'
        self.tail = f'","weight":"{_number(factor.weight).quantize(CENT)}"}}'
        self.memo: dict[Raw, tuple[int, str]] = {}

    def __call__(self, raw: Raw) -> tuple[int, str]:
        hit = self.memo.get(raw)
        if hit is None:
            points = self.scorer(raw)
            text = "null" if raw is None else f'"{raw}"'
            hit = self.memo[raw] = (int(points * 100), f'{self.head}{text},"points":"{points}{self.tail}')
        return hit

    def column(self, raws: Iterable[Raw]) -> list[tuple[int, str]]:
        known, encode = self.memo.get, self.__call__
        return [known(raw) or encode(raw) for raw in raws]


def _cents_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass
class Inputs:
    """Everything a run reads before it decides: the factor values and every customer's state."""

    scan: FactorScan
    customer_ids: list[int]
    states: dict[int, State]
    on: dt.date


def _read(spec: ModelSpec, *, as_of: dt.date) -> Inputs:
    """The factor scans and the customers with their stored tiers (side by side outside a transaction)."""
    model = spec.model
    scan, (population,) = factor_scan(
        as_of=as_of,
        codes=[f.code for f in spec.factors],
        product_line_id=model.product_line_id,
        parallel=True,
        alongside=[partial(assessment_population, model.pk)],
    )
    ids, states = _states(population)
    return Inputs(scan, ids, states, as_of)


def _decide(
    spec: ModelSpec, inputs: Inputs, tally: Outcome, *, chunk_size: int = DECIDE_CHUNK
) -> Iterator[list[tuple]]:
    """Points, score, tier by score, hysteresis and overrides for every customer, in chunks (no queries).

    Within a chunk, factor by factor over the customers (fast); points are summed as integer cents.
    ``tally`` receives the totals once the last chunk has been taken.
    """
    encoders = [
        (FactorEncoder(f), inputs.scan.values.get(f.code, {}).get, DEFAULTS[f.code]) for f in spec.factors
    ]
    ladder = Ladder(spec.ladder_tiers, scale=100)
    margin, runs, on = spec.margin * 100, spec.runs, inputs.on
    move, tier_for = ladder.move, ladder.tier_for
    states, empty = inputs.states, State()
    migration: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_score: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    changed = by_score_changed = 0
    all_ids = inputs.customer_ids
    for start in range(0, len(all_ids), chunk_size):
        ids = all_ids[start : start + chunk_size]
        cents_cols: list[list[int]] = []
        text_cols: list[list[str]] = []
        for encode, get, default in encoders:
            encoded = encode.column(map(get, ids, repeat(default)))
            cents_cols.append([e[0] for e in encoded])
            text_cols.append([e[1] for e in encoded])
        scores = list(map(sum, zip(*cents_cols, strict=True))) if cents_cols else [0] * len(ids)
        texts = (
            ["[" + ",".join(p) + "]" for p in zip(*text_cols, strict=True)]
            if text_cols
            else ["[]"] * len(ids)
        )
        rows = []
        for cid, cents, text in zip(ids, scores, texts, strict=True):
            computed = tier_for(cents)
            state = states.get(cid, empty)
            current = state.tier
            if computed == current:
                assessed, pending, pending_runs = current, "", 0
            else:
                assessed, pending, pending_runs = move(
                    current=current,
                    pending=state.pending,
                    pending_runs=state.pending_runs,
                    computed=computed,
                    score=cents,
                    margin=margin,
                    runs=runs,
                )
            forced = state.override_tier and override_in_force(state.override_tier, state.override_until, on)
            previous = state.override_tier if forced else current
            in_force = state.override_tier if forced else assessed
            rows.append(
                (
                    cid,
                    _cents_text(cents),
                    computed,
                    assessed,
                    pending,
                    pending_runs,
                    in_force,
                    previous,
                    text,
                    state.id,
                    current,
                    state.id is not None
                    and assessed == current
                    and cents == state.score
                    and pending == state.pending
                    and pending_runs == state.pending_runs,
                )
            )
            migration[previous][in_force] += 1
            by_score[previous][computed] += 1
            changed += in_force != previous
            by_score_changed += computed != previous
        yield rows
    tally.customers = len(all_ids)
    tally.changed, tally.by_score_changed = changed, by_score_changed
    tally.migration = {src: dict(dst) for src, dst in migration.items()}
    tally.by_score = {src: dict(dst) for src, dst in by_score.items()}


# --- bulk writes --------------------------------------------------------------------------------


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


_A_COLUMNS = "run_id, customer_id, score, computed_tier, tier, previous_tier, factors"
_CT_COLUMNS = (
    "customer_id, model_id, tier, score, since, pending_tier, pending_runs, override_tier, override_reason"
)
# A customer seen for the first time gets its CustomerTier inserted. Should one have appeared since the
# states were read (an override approved meanwhile, which creates the row), the insert updates it
# instead: the assessed tier and hysteresis state are set, its override stays.
_CT_UPSERT = (
    " ON CONFLICT (customer_id, model_id) DO UPDATE SET tier = EXCLUDED.tier, score = EXCLUDED.score,"
    " since = EXCLUDED.since, pending_tier = EXCLUDED.pending_tier, pending_runs = EXCLUDED.pending_runs"
)


def _sqlite_first_id() -> int:
    """The id the next assessment gets. The caller's transaction writes, so it holds SQLite's only write
    lock: nobody takes ids meanwhile. ``sqlite_sequence`` keeps AUTOINCREMENT from reusing deleted ids."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MAX(COALESCE((SELECT MAX(id) FROM {_table(Assessment)}), 0),"  # noqa: S608
            " COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0))",
            [Assessment._meta.db_table],
        )
        return int(cursor.fetchone()[0]) + 1


def _write_sqlite(run: AssessmentRun, chunks: Iterable[list[tuple]], now: dt.datetime) -> None:
    """The assessments, then the tiers that change, chunk by chunk."""
    a, ct = _table(Assessment), _table(CustomerTier)
    since = connection.ops.adapt_datetimefield_value(now)
    run_id, model_id = run.pk, run.model_id
    next_id = _sqlite_first_id()
    insert_a = f"INSERT INTO {a} (id, {_A_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
    kept_sql = f"UPDATE {ct} SET score = %s, pending_tier = %s, pending_runs = %s WHERE id = %s"  # noqa: S608
    moved_sql = (
        f"UPDATE {ct} SET tier = %s, score = %s, since = %s, pending_tier = %s, pending_runs = %s"  # noqa: S608
        " WHERE id = %s"
    )
    new_sql = (
        f"INSERT INTO {ct} ({_CT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, '', '')"  # noqa: S608
        + _CT_UPSERT
    )
    with connection.cursor() as cursor:
        for rows in chunks:
            ids = range(next_id, next_id + len(rows))
            next_id += len(rows)
            kept, moved, new = [], [], []
            for r in rows:
                if r[11]:
                    continue
                if r[9] is None:
                    new.append((r[0], model_id, r[3], r[1], since, r[4], r[5]))
                elif r[3] == r[10]:
                    kept.append((r[1], r[4], r[5], r[9]))
                else:
                    moved.append((r[3], r[1], since, r[4], r[5], r[9]))
            cursor.executemany(
                insert_a,
                [(aid, run_id, r[0], r[1], r[2], r[6], r[7], r[8]) for aid, r in zip(ids, rows, strict=True)],
            )
            for sql, params in ((kept_sql, kept), (moved_sql, moved), (new_sql, new)):
                if params:
                    cursor.executemany(sql, params)


def _relaxed_commit() -> None:
    """PostgreSQL: the run's own transaction commits without waiting for its WAL to reach the disk.

    A crash in the fraction of a second after the commit could lose the run — never half of it, and
    an assessment can always be run again — while the commit of ~100 MB of WAL returns at once.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _write_postgresql(run: AssessmentRun, chunks: Iterable[list[tuple]], now: dt.datetime) -> None:
    """COPY the assessments while the next chunk is computed, then the tiers that change from a staging table.

    A writer thread sends the COPY data, so the server stores one chunk while Python decides the next.
    """
    from psycopg.copy import QueuedLibpqWriter

    a, ct = _table(Assessment), _table(CustomerTier)
    stage = "tiering_ct_stage"
    run_id = run.pk
    tiers: list[tuple] = []
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {a} ({_A_COLUMNS}) FROM STDIN", writer=QueuedLibpqWriter(raw)) as copy_in:
            for rows in chunks:
                for r in rows:
                    copy_in.write_row((run_id, r[0], r[1], r[2], r[6], r[7], r[8]))
                    if not r[11]:
                        tiers.append((r[9], r[0], r[3], r[1], r[3] != r[10], r[4], r[5]))
        if not tiers:
            return
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{stage}")
        cursor.execute(
            f"CREATE TEMP TABLE {stage} (ct_id bigint, customer_id bigint, tier text, score numeric(7, 2),"
            " moved boolean, pending_tier text, pending_runs integer)"
        )
        with raw.copy(f"COPY {stage} FROM STDIN") as copy_in:
            for t in tiers:
                copy_in.write_row(t)
        cursor.execute(f"ANALYZE {stage}")
        cursor.execute(
            f"UPDATE {ct} SET tier = s.tier, score = s.score,"  # noqa: S608
            f" since = CASE WHEN s.moved THEN %s ELSE {ct}.since END,"
            " pending_tier = s.pending_tier, pending_runs = s.pending_runs"
            f" FROM {stage} s WHERE s.ct_id IS NOT NULL AND {ct}.id = s.ct_id",
            [now],
        )
        cursor.execute(
            f"INSERT INTO {ct} ({_CT_COLUMNS})"  # noqa: S608
            " SELECT s.customer_id, %s, s.tier, s.score, %s, s.pending_tier, s.pending_runs, '', ''"
            f" FROM {stage} s WHERE s.ct_id IS NULL" + _CT_UPSERT,
            [run.model_id, now],
        )
        cursor.execute(f"DROP TABLE {stage}")


def _customer_tiers_sync(model: TierModel, on: dt.date, id_range: tuple[int, int] | None = None) -> int:
    """``Customer.tier`` := the global model's tier in force on ``on``, where it differs.

    Read from the CustomerTier rows at write time, so an override approved while the run was computing
    is kept. ``updated_at`` is left alone: a derived tier is not an edit of the customer (the run is
    in the audit log and the ``tiering.assessed`` event). ``id_range`` (inclusive) limits it to those
    customer ids. Returns the number of customers changed.
    """
    c, ct = _table(Customer), _table(CustomerTier)
    day = "CAST(%s AS date)" if connection.vendor == "postgresql" else "%s"
    in_force = (
        f"CASE WHEN ct.override_tier <> '' AND ct.override_until >= {day}"
        " THEN ct.override_tier ELSE ct.tier END"
    )
    on_param = connection.ops.adapt_datefield_value(on)
    limit, limit_params = "", []
    if id_range is not None:
        limit, limit_params = " AND ct.customer_id BETWEEN %s AND %s", list(id_range)
    if connection.vendor == "sqlite" and connection.Database.sqlite_version_info < (3, 33, 0):
        sql = (
            f"UPDATE {c} SET tier = (SELECT {in_force} FROM {ct} ct WHERE ct.customer_id = {c}.id"  # noqa: S608
            f" AND ct.model_id = %s) WHERE merged_into_id IS NULL AND id IN ("
            f"SELECT ct.customer_id FROM {ct} ct JOIN {c} x ON x.id = ct.customer_id"
            f" WHERE ct.model_id = %s AND x.tier <> {in_force}{limit})"
        )
        params = [on_param, model.pk, model.pk, on_param, *limit_params]
    else:  # UPDATE … FROM: PostgreSQL, SQLite 3.33+
        sql = (
            f"UPDATE {c} SET tier = e.tier FROM ("  # noqa: S608
            f"SELECT ct.customer_id, {in_force} AS tier FROM {ct} ct WHERE ct.model_id = %s{limit}) e"
            f" WHERE {c}.id = e.customer_id AND {c}.merged_into_id IS NULL AND {c}.tier <> e.tier"
        )
        params = [on_param, model.pk, *limit_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


#: Customers per transaction when the tiers are mirrored onto the customers after a run.
MIRROR_CHUNK = 10_000
#: PostgreSQL: the chunks are written by this many connections side by side.
MIRROR_WORKERS = 2


def customer_tiers_mirror(model: TierModel, on: dt.date, *, chunk_size: int = MIRROR_CHUNK) -> int:
    """Mirror the global model's tiers in force onto ``Customer.tier`` (where they differ); returns the
    number of customers changed.

    Outside a transaction (a run that committed), customers are written ``chunk_size`` ids at a time,
    each chunk in its own short transaction, so no customer row stays locked for the whole mirror and a
    rep saving a customer meanwhile waits milliseconds, not seconds; on PostgreSQL the chunks are shared
    out to ``MIRROR_WORKERS`` connections side by side. Inside a caller's transaction it is one
    statement in that transaction. Idempotent: a mirror cut short (a crash after the run committed) is
    completed by the next run, which compares every customer.
    """
    if connection.in_atomic_block:
        return _customer_tiers_sync(model, on)
    bounds = CustomerTier.objects.filter(model=model).aggregate(
        low=Min("customer_id"), high=Max("customer_id")
    )
    if bounds["low"] is None:
        return 0
    ranges = [
        (start, min(start + chunk_size - 1, bounds["high"]))
        for start in range(bounds["low"], bounds["high"] + 1, chunk_size)
    ]

    def write(id_range: tuple[int, int]) -> int:
        with transaction.atomic():
            return _customer_tiers_sync(model, on, id_range)

    if connection.vendor != "postgresql" or len(ranges) < 2:
        return sum(write(r) for r in ranges)

    def worker(share: list[tuple[int, int]]) -> int:
        try:
            return sum(write(r) for r in share)
        finally:
            connection.close()  # this thread's own connection

    shares = [ranges[i::MIRROR_WORKERS] for i in range(MIRROR_WORKERS)]
    with ThreadPoolExecutor(max_workers=MIRROR_WORKERS) as pool:
        return sum(pool.map(worker, shares))


# --- runs ---------------------------------------------------------------------------------------


def _real_user(actor: Any) -> Any:
    return actor if actor is not None and getattr(actor, "pk", None) else None


def assessment_run(
    *, model: TierModel, actor: Any = None, as_of: dt.date | None = None, follow_up: bool = True
) -> AssessmentRun:
    """Assess every live customer under ``model`` (module docstring); returns the finished run.

    ``as_of`` (default: today) is the day the factors are measured on and overrides are judged on.
    The run row is created first, so a failed run stays visible with its error (and the exception
    propagates). ``follow_up=False`` skips the pool-clock job after commit (benchmarks time it apart).
    Reads happen before the write transaction opens; the rows are decided chunk by chunk while they
    are written.
    """
    started = time.perf_counter()
    now = timezone.now()
    as_of = as_of or timezone.localdate(now)
    spec = _spec(model)
    run = AssessmentRun.objects.create(
        model=model, as_of=as_of, triggered_by=_real_user(actor), job_id=current_job_id()
    )
    try:
        job_progress(0, 4, message=str(_("Computing the factors")))
        inputs = _read(spec, as_of=as_of)
        job_progress(1, 4, message=str(_("Writing the assessments")))
        outcome = Outcome()
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            list(TierModel.objects.select_for_update().filter(pk=model.pk).order_by().values_list("pk"))
            chunks = _decide(spec, inputs, outcome)
            if connection.vendor == "postgresql":
                if outermost:  # never the durability of a caller's own transaction
                    _relaxed_commit()
                _write_postgresql(run, chunks, now)
            else:
                _write_sqlite(run, chunks, now)
            if model.product_line_id is None and not outermost:
                _customer_tiers_sync(model, as_of)
            run.status = RunStatus.DONE
            run.customers = outcome.customers
            run.changed = outcome.changed
            run.migration = outcome.migration
            run.finished_at = timezone.now()
            run.duration_ms = int((time.perf_counter() - started) * 1000)
            run.save(
                update_fields=["status", "customers", "changed", "migration", "finished_at", "duration_ms"]
            )
            summary = {
                "model": model.code,
                "as_of": as_of.isoformat(),
                "customers": run.customers,
                "changed": run.changed,
                "duration_ms": run.duration_ms,
            }
            audit_record(actor=actor, action=AuditAction.ACTION, verb=AUDIT_VERB, obj=run, extra=summary)
            publish(
                EVENT,
                payload={"run": run.pk, **summary, "migration": run.migration},
                subject=run,
                actor=actor,
            )
            if follow_up and model.product_line_id is None and run.changed and not outermost:
                run_id, starter = run.pk, _real_user(actor)
                transaction.on_commit(lambda: _follow_up_enqueue(run_id, starter))
        if model.product_line_id is None and outermost:
            # After the commit, in short transactions (customer_tiers_mirror); then the pool clocks.
            job_progress(3, 4, message=str(_("Updating the customers' tiers")))
            customer_tiers_mirror(model, as_of)
            if follow_up and run.changed:
                _follow_up_enqueue(run.pk, _real_user(actor))
        job_progress(4, 4, message="")
    except Exception as exc:
        run.status = RunStatus.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:4000]
        run.finished_at = timezone.now()
        run.duration_ms = int((time.perf_counter() - started) * 1000)
        run.save(update_fields=["status", "error", "finished_at", "duration_ms"])
        raise
    return run


def _follow_up_enqueue(run_id: int, actor: Any) -> None:
    from steelyard.core.tasks import enqueue_job
    from steelyard.tiering.tasks import follow_tier_changes

    enqueue_job(
        follow_tier_changes,
        actor=actor,
        label=str(_("Pool clocks after a tier assessment")),
        args=[run_id],
    )


def assessment_preview(
    *,
    model: TierModel,
    weights: Mapping[str, Decimal] | None = None,
    thresholds: Mapping[str, Decimal] | None = None,
    bands: Mapping[str, list] | None = None,
    as_of: dt.date | None = None,
) -> dict[str, Any]:
    """What a run would do now with these changes (by factor / tier code); nothing is written.

    Returns ``{"customers", "changed", "migration", "tiers", "by_score"}``: ``changed`` and
    ``migration`` exactly as a run would record them (hysteresis and overrides applied), ``tiers`` the
    customers per tier afterwards, and ``by_score`` = ``{"changed", "migration"}`` comparing the tier by
    score with the tier in force — where customers head once hysteresis lets them. Unknown codes or bad
    values raise ``ValidationError`` keyed ``weights.<code>``, ``thresholds.<code>``, ``bands.<code>``.
    """
    spec = _spec(model, weights=weights, thresholds=thresholds, bands=bands)
    outcome = Outcome()
    for _chunk in _decide(spec, _read(spec, as_of=as_of or timezone.localdate()), outcome):
        pass
    return {
        "customers": outcome.customers,
        "changed": outcome.changed,
        "migration": outcome.migration,
        "tiers": outcome.distribution(),
        "by_score": {"changed": outcome.by_score_changed, "migration": outcome.by_score},
    }


# --- after a run: the pool clocks ----------------------------------------------------------------


def tier_changes_follow(*, run: AssessmentRun | int, chunk_size: int = 1000) -> dict[str, int]:
    """Recompute the pool clocks of customers whose tier changed in ``run`` where the tier matters.

    Only private customers in a pool, and only where the pool's days (its rules, or the strategy menu's
    pool days) differ between the old and the new tier. Chunks of ``chunk_size`` customers, each read
    with one query and written with one bulk update in its own transaction.
    """
    from steelyard.customers.services.pool import (
        TRIGGER_ORDER,
        PolicyCache,
        customer_clock_recompute,
        pool_policy,
    )

    run_id = getattr(run, "pk", run)
    run_row = AssessmentRun.objects.select_related("model").get(pk=run_id)
    if run_row.model.product_line_id is not None:
        return {"moved": 0, "checked": 0, "changed": 0}
    moved = (
        Assessment.objects.filter(run_id=run_id, customer__owner__isnull=False, customer__pool__isnull=False)
        .exclude(previous_tier=F("tier"))
        .order_by("customer_id")
        .values_list("customer_id", "previous_tier", "tier", "customer__pool_id")
    )
    policies: PolicyCache = {}
    ids = []
    count = 0
    for cid, old, new, pool_id in moved:
        count += 1
        policy = pool_policy(pool_id, policies)
        if policy is None or not policy.is_active:
            continue
        if any(policy.days_for(t, old) != policy.days_for(t, new) for t in TRIGGER_ORDER):
            ids.append(cid)
    now = timezone.now()
    changed = 0
    fields = ["recycle_at", "recycle_trigger", "recycle_since"]
    job_progress(0, len(ids))
    for i in range(0, len(ids), chunk_size):
        with transaction.atomic():
            updates = []
            for customer in Customer.objects.filter(pk__in=ids[i : i + chunk_size], merged_into__isnull=True):
                before = [getattr(customer, f) for f in fields]
                customer_clock_recompute(customer, save=False, now=now, policies=policies)
                if [getattr(customer, f) for f in fields] != before:
                    updates.append(customer)
            Customer.objects.bulk_update(updates, fields, batch_size=500)
            changed += len(updates)
        job_progress(min(i + chunk_size, len(ids)), len(ids))
    return {"moved": count, "checked": len(ids), "changed": changed}


# --- explanation --------------------------------------------------------------------------------

MONEY_FACTORS = {FactorCode.REVENUE_12M.value, FactorCode.POTENTIAL.value}
SHARE_FACTORS = {
    FactorCode.GROSS_MARGIN.value,
    FactorCode.REVENUE_GROWTH.value,
    FactorCode.OVERDUE_SHARE.value,
}
DAY_FACTORS = {FactorCode.DAYS_LATE.value, FactorCode.RECENCY.value}


def _plain(value: Decimal, places: int = 2) -> str:
    """``value`` with at most ``places`` decimals and no trailing zeros: 30, 27.5, 8.25."""
    q = value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    text = f"{q:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _money(value: Decimal, language: str) -> str:
    size = abs(value)
    if language.startswith("zh"):
        for unit, word in ((Decimal(10) ** 8, "亿"), (Decimal(10) ** 4, "万")):
            if size >= unit:
                return f"{_plain(value / unit, 1 if unit > Decimal(10) ** 4 else 0)}{word}"
        return _plain(value, 0)
    for unit, word in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "K")):
        if size >= unit:
            return f"{_plain(value / unit, 1)}{word}"
    return _plain(value, 0)


def format_raw(code: str, raw: Decimal | None, language: str | None = None) -> str:
    """A raw factor value as people read it: 8.2M / 820万, 23.4%, 12.5 days, 14 orders."""
    language = language or translation.get_language() or "zh-hans"
    if raw is None:
        return str(_("no data"))
    if code in MONEY_FACTORS:
        return _money(raw, language)
    if code in SHARE_FACTORS:
        return f"{_plain(raw * 100, 1)}%"
    count = int(raw) if raw == raw.to_integral_value() else 2
    if code in DAY_FACTORS:
        return ngettext("%(n)s day", "%(n)s days", count) % {"n": _plain(raw, 1)}
    if code == FactorCode.PURCHASE_FREQUENCY:
        return ngettext("%(n)s order", "%(n)s orders", count) % {"n": _plain(raw, 0)}
    if code == FactorCode.INSTALLED_BASE:
        return ngettext("%(n)s unit", "%(n)s units", count) % {"n": _plain(raw, 0)}
    return _plain(raw, 2)


def explain(assessment: Assessment, *, language: str | None = None) -> list[str]:
    """One line per factor of ``assessment``: "Revenue, trailing 12 months 8.2M scores 30/35" (no query).

    In ``language`` (default: the active one). The points on the lines add up to the score.
    """
    with translation.override(language or translation.get_language()):
        lang = translation.get_language() or "zh-hans"
        return [
            str(
                _("%(factor)s %(raw)s scores %(points)s/%(weight)s")
                % {
                    "factor": row.label,
                    "raw": format_raw(row.code, row.raw, lang),
                    "points": _plain(row.points),
                    "weight": _plain(row.weight),
                }
            )
            for row in assessment_factor_rows(assessment)
        ]
