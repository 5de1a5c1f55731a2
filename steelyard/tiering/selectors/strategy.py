"""The strategy menu as modules read it.

CONTRACT (the strategy helper implements it and replaces this docstring with real documentation):

    @dataclass(frozen=True)
    class Strategy:
        tier: str; product_line_id: int | None; menu_version: int | None
        max_discount_pct: Decimal; approval_chain: tuple[str, ...]; payment_terms_days: int
        credit_limit: Decimal | None; delivery_priority: int; visit_every_days: int | None
        visitor_seniority: str; escalate_after_days: int | None; response_hours: int | None
        resolution_hours: int | None; pool_recycle_days: int | None; entitlements: tuple[str, ...]

    def strategy_for(customer, product_line=None, *, on: date | None = None) -> Strategy
        The ONLY way modules read the menu: the rule of the menu in force on ``on`` (today) for the customer's
        tier (under the product line's model when one is given and active, else the global tier) and the
        product line (falling back to the tier's rule without a line, then to the untiered rule, then to
        built-in defaults). At most two queries; no writes.
"""
