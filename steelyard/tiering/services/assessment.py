"""Assessing customers: factors computed in SQL, scored, weighted, tiered with hysteresis.

CONTRACT (other areas code against these names; the engine helper implements them and replaces this
docstring with real documentation):

    def factor_values(*, as_of: date, customer_ids: Iterable[int] | None = None) -> dict[int, dict[str, Decimal | None]]
        Raw value of every FactorCode for every (or the given) customer, computed with a few shared SQL
        scans (GROUP BY customer) over orders / invoices / payments / shipped units / EnteredValue.

    def score_factor(factor: Factor, raw: Decimal | None) -> Decimal          # 0 … factor.weight
    def tier_for_score(tiers: Sequence[Tier], score: Decimal) -> str          # the best tier whose min_score <= score
    def hysteresis(*, current: str, pending: str, pending_runs: int, computed: str, score: Decimal,
                   tiers: Sequence[Tier], margin: Decimal, runs: int) -> tuple[str, str, int]
        -> (new tier, new pending tier, new pending runs)

    def assessment_run(*, model: TierModel, actor=None, as_of: date | None = None) -> AssessmentRun
        Assess every active (not merged) customer: writes one Assessment each (factors = [{code, raw, points,
        weight}] whose points add up to score), updates CustomerTier (hysteresis state; overrides in force win),
        sets Customer.tier for the global model, stores the migration matrix {from: {to: n}}. Bulk writes.

    def assessment_preview(*, model: TierModel, weights: dict[str, Decimal] | None = None,
                           thresholds: dict[str, Decimal] | None = None, bands: dict[str, list] | None = None) -> dict
        Same computation, nothing written: {"customers": n, "changed": n, "migration": {from: {to: n}}}
        ("with these weights, 212 customers change tier").

    def explain(assessment: Assessment, *, language: str | None = None) -> list[str]
        One line per factor, e.g. "Revenue, trailing 12 months 8.2M scores 30/35".
"""
