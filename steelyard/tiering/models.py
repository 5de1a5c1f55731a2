"""Customer tiers (定级) and the differentiated strategy menu (定策略).

- A :class:`TierModel` (global, or per product line) has :class:`Factor` rows — each computed from data
  (trailing revenue, margin, growth, payment punctuality, frequency, recency, installed base) or entered
  by a person (potential, strategic fit: :class:`EnteredValue`) — scored by bands or linearly, weighted,
  and :class:`Tier` thresholds. Hysteresis (a margin in points and a number of consecutive runs) keeps
  customers from flip-flopping.
- An :class:`AssessmentRun` assesses every customer in SQL and writes one :class:`Assessment` per
  customer (raw value, score and contribution of every factor); :class:`CustomerTier` holds the current
  tier per customer and model, with the hysteresis state and an approved :class:`TierOverride`.
- The :class:`StrategyMenu` (versioned, effective dates) has a :class:`StrategyRule` per tier (and per
  product line where set). Modules read it only through ``selectors.strategy.strategy_for``.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from steelyard.core.scopes import ScopedManager
from steelyard.customers.models import CustomerScoped

ZERO = Decimal("0")


class FactorCode(models.TextChoices):
    REVENUE_12M = "revenue_12m", _("Revenue, trailing 12 months")
    GROSS_MARGIN = "gross_margin", _("Gross margin")
    REVENUE_GROWTH = "revenue_growth", _("Revenue growth")
    DAYS_LATE = "days_late", _("Average days paid late")
    OVERDUE_SHARE = "overdue_share", _("Overdue share of receivables")
    PURCHASE_FREQUENCY = "purchase_frequency", _("Orders, trailing 24 months")
    RECENCY = "recency_days", _("Days since the last order")
    INSTALLED_BASE = "installed_base", _("Installed base (units)")
    POTENTIAL = "potential", _("Potential (estimated annual demand)")
    STRATEGIC_FIT = "strategic_fit", _("Strategic fit")


# Factors a person enters (EnteredValue); all the others are computed from data.
ENTERED_FACTORS = {FactorCode.POTENTIAL, FactorCode.STRATEGIC_FIT}


class Scoring(models.TextChoices):
    BANDS = "bands", _("Bands")
    LINEAR = "linear", _("Normalised between two values")


class TierModel(models.Model):
    """How customers are tiered: global (no product line) or for one product line."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    product_line = models.ForeignKey(
        "catalog.ProductLine",
        verbose_name=_("product line"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tier_models",
        help_text=_("Empty: the global model, whose tier is the customer's tier."),
    )
    description = models.TextField(_("description"), blank=True)
    hysteresis_margin = models.DecimalField(
        _("hysteresis margin (points)"),
        max_digits=6,
        decimal_places=2,
        default=Decimal("2"),
        help_text=_("A customer moves at once only when it crosses a threshold by at least this much."),
    )
    hysteresis_runs = models.PositiveSmallIntegerField(
        _("consecutive assessments"),
        default=2,
        help_text=_("Or when it stays across the threshold for this many assessments in a row."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("tier model")
        verbose_name_plural = _("tier models")
        ordering = ["product_line__sort_order", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["product_line"], condition=Q(is_active=True), name="uq_active_tier_model_per_line"
            ),
            models.UniqueConstraint(
                fields=["is_active"],
                condition=Q(is_active=True, product_line__isnull=True),
                name="uq_one_active_global_tier_model",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Tier(models.Model):
    """One tier of a model: customers scoring at least ``min_score`` (the best tier has rank 1)."""

    model = models.ForeignKey(
        TierModel, verbose_name=_("model"), on_delete=models.CASCADE, related_name="tiers"
    )
    code = models.SlugField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=50)
    name_en = models.CharField(_("English name"), max_length=50, blank=True)
    rank = models.PositiveSmallIntegerField(_("rank"), help_text=_("1 is the best tier."))
    min_score = models.DecimalField(_("minimum score"), max_digits=7, decimal_places=2, default=ZERO)

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["model", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["model", "code"], name="uq_tier_code"),
            models.UniqueConstraint(fields=["model", "rank"], name="uq_tier_rank"),
        ]

    def __str__(self) -> str:
        return self.name


class Factor(models.Model):
    """One factor of a model: how its raw value becomes points, and its weight."""

    model = models.ForeignKey(
        TierModel, verbose_name=_("model"), on_delete=models.CASCADE, related_name="factors"
    )
    code = models.CharField(_("factor"), max_length=30, choices=FactorCode.choices)
    weight = models.DecimalField(
        _("weight"),
        max_digits=6,
        decimal_places=2,
        default=Decimal("10"),
        help_text=_("The most points this factor can contribute."),
    )
    scoring = models.CharField(_("scoring"), max_length=10, choices=Scoring.choices, default=Scoring.BANDS)
    bands = models.JSONField(
        _("bands"),
        default=list,
        blank=True,
        help_text=_("Pairs [lower bound, share 0–1 of the weight], ascending by bound."),
    )
    lower = models.DecimalField(_("from"), max_digits=18, decimal_places=4, null=True, blank=True)
    upper = models.DecimalField(_("to"), max_digits=18, decimal_places=4, null=True, blank=True)
    higher_is_better = models.BooleanField(_("higher is better"), default=True)

    class Meta:
        verbose_name = _("factor")
        verbose_name_plural = _("factors")
        ordering = ["model", "-weight", "code"]
        constraints = [models.UniqueConstraint(fields=["model", "code"], name="uq_factor_code")]

    def __str__(self) -> str:
        return f"{self.model_id}:{self.code}"


class EnteredValue(models.Model):
    """A value a person enters for a customer (potential, strategic fit)."""

    scope_owner_field = "customer__owner"
    scope_unit_field = "customer__org_unit"

    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+"
    )
    code = models.CharField(_("factor"), max_length=30, choices=FactorCode.choices)
    value = models.DecimalField(_("value"), max_digits=18, decimal_places=4)
    note = models.CharField(_("note"), max_length=300, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("entered by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    entered_at = models.DateTimeField(_("entered"), auto_now=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("entered factor value")
        verbose_name_plural = _("entered factor values")
        constraints = [models.UniqueConstraint(fields=["customer", "code"], name="uq_entered_value")]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.code}={self.value}"


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class AssessmentRun(models.Model):
    """One assessment of every customer under one model, and the tier migration it caused."""

    model = models.ForeignKey(
        TierModel, verbose_name=_("model"), on_delete=models.PROTECT, related_name="runs"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    as_of = models.DateField(_("as of"))
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    job = models.ForeignKey(
        "core.Job", verbose_name=_("job"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    customers = models.PositiveIntegerField(_("customers"), default=0)
    changed = models.PositiveIntegerField(_("changed tier"), default=0)
    migration = models.JSONField(
        _("migration"), default=dict, blank=True, help_text=_("{from tier: {to tier: customers}}")
    )
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("assessment run")
        verbose_name_plural = _("assessment runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.model_id} {self.as_of}"


class Assessment(CustomerScoped):
    """One customer's assessment in one run: every factor's raw value, points and the tiers."""

    run = models.ForeignKey(
        AssessmentRun,
        verbose_name=_("run"),
        on_delete=models.CASCADE,
        related_name="assessments",
        db_constraint=False,  # an append-only log of 100k rows a run: the engine writes ids it just read
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="assessments",
        db_constraint=False,
    )
    score = models.DecimalField(_("score"), max_digits=7, decimal_places=2)
    computed_tier = models.CharField(_("tier by score"), max_length=20)
    tier = models.CharField(_("tier"), max_length=20, help_text=_("After hysteresis and overrides."))
    previous_tier = models.CharField(_("previous tier"), max_length=20, blank=True)
    factors = models.JSONField(
        _("factors"), default=list, help_text=_("[{code, raw, points, weight}] — points add up to the score.")
    )

    objects = ScopedManager()

    class Meta:
        verbose_name = _("assessment")
        verbose_name_plural = _("assessments")
        ordering = ["run", "customer"]
        constraints = [models.UniqueConstraint(fields=["run", "customer"], name="uq_assessment")]
        indexes = [models.Index(fields=["customer", "-run"])]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.customer_id} {self.tier}"


class CustomerTier(CustomerScoped):
    """A customer's current tier under one model, with the hysteresis state and any override."""

    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="tiers"
    )
    model = models.ForeignKey(
        TierModel, verbose_name=_("model"), on_delete=models.CASCADE, related_name="customer_tiers"
    )
    tier = models.CharField(_("tier"), max_length=20, db_index=True)
    score = models.DecimalField(_("score"), max_digits=7, decimal_places=2, default=ZERO)
    since = models.DateTimeField(_("in this tier since"))
    pending_tier = models.CharField(_("moving towards"), max_length=20, blank=True)
    pending_runs = models.PositiveSmallIntegerField(_("assessments in a row"), default=0)
    override_tier = models.CharField(_("override"), max_length=20, blank=True)
    override_until = models.DateField(_("override until"), null=True, blank=True)
    override_reason = models.CharField(_("override reason"), max_length=300, blank=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("customer tier")
        verbose_name_plural = _("customer tiers")
        constraints = [models.UniqueConstraint(fields=["customer", "model"], name="uq_customer_tier")]
        indexes = [models.Index(fields=["model", "tier"])]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.model_id}={self.tier}"


class OverrideStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    APPROVED = "approved", _("In force")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


class TierOverride(models.Model):
    """A manual tier for a customer, with a reason and an expiry, in force once approved."""

    scope_owner_field = "customer__owner"
    scope_unit_field = "customer__org_unit"

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="tier_overrides",
    )
    model = models.ForeignKey(TierModel, verbose_name=_("model"), on_delete=models.CASCADE, related_name="+")
    tier = models.CharField(_("tier"), max_length=20)
    reason = models.TextField(_("reason"))
    expires_on = models.DateField(_("expires on"))
    status = models.CharField(
        _("status"), max_length=10, choices=OverrideStatus.choices, default=OverrideStatus.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.PROTECT, related_name="+"
    )
    approval = models.ForeignKey(
        "core.ApprovalRequest",
        verbose_name=_("approval"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("tier override")
        verbose_name_plural = _("tier overrides")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.customer_id} → {self.tier}"


class MenuStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("In force")
    RETIRED = "retired", _("Retired")


class StrategyMenu(models.Model):
    """A version of the strategy menu, in force from ``effective_from`` (to ``effective_to``)."""

    name = models.CharField(_("name"), max_length=100)
    version = models.PositiveIntegerField(_("version"), unique=True)
    status = models.CharField(
        _("status"), max_length=10, choices=MenuStatus.choices, default=MenuStatus.DRAFT
    )
    effective_from = models.DateField(_("effective from"))
    effective_to = models.DateField(_("effective to"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("strategy menu")
        verbose_name_plural = _("strategy menus")
        ordering = ["-effective_from", "-version"]
        indexes = [models.Index(fields=["status", "effective_from"])]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class Seniority(models.TextChoices):
    REP = "rep", _("Sales rep")
    MANAGER = "manager", _("Sales manager")
    DIRECTOR = "director", _("Sales director")
    EXECUTIVE = "executive", _("Executive")


class StrategyRule(models.Model):
    """What one tier (optionally for one product line) is entitled to under one menu version."""

    menu = models.ForeignKey(
        StrategyMenu, verbose_name=_("menu"), on_delete=models.CASCADE, related_name="rules"
    )
    tier = models.CharField(
        _("tier"), max_length=20, help_text=_("Empty: customers without a tier."), blank=True
    )
    product_line = models.ForeignKey(
        "catalog.ProductLine",
        verbose_name=_("product line"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("Empty: every product line without its own rule."),
    )
    max_discount_pct = models.DecimalField(
        _("discount without approval (%)"), max_digits=5, decimal_places=2, default=ZERO
    )
    approval_chain = models.JSONField(
        _("approval chain above it"),
        default=list,
        blank=True,
        help_text=_("Roles that approve a bigger discount, in order (e.g. sales_manager, sales_director)."),
    )
    payment_terms_days = models.PositiveIntegerField(_("payment terms (days)"), default=30)
    credit_limit = models.DecimalField(
        _("default credit limit"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    delivery_priority = models.PositiveSmallIntegerField(
        _("delivery priority"), default=5, help_text=_("1 is served first when capacity is short.")
    )
    visit_every_days = models.PositiveIntegerField(_("visit every (days)"), null=True, blank=True)
    visitor_seniority = models.CharField(
        _("visited by"), max_length=10, choices=Seniority.choices, default=Seniority.REP
    )
    escalate_after_days = models.PositiveIntegerField(
        _("escalate after (days overdue)"), null=True, blank=True
    )
    response_hours = models.PositiveIntegerField(_("service response (hours)"), null=True, blank=True)
    resolution_hours = models.PositiveIntegerField(_("service resolution (hours)"), null=True, blank=True)
    pool_recycle_days = models.PositiveIntegerField(
        _("back to the pool after (days without a visit)"), null=True, blank=True
    )
    entitlements = models.JSONField(_("other entitlements"), default=list, blank=True)

    class Meta:
        verbose_name = _("strategy rule")
        verbose_name_plural = _("strategy rules")
        ordering = ["menu", "tier", "product_line"]
        constraints = [
            models.UniqueConstraint(fields=["menu", "tier", "product_line"], name="uq_strategy_rule_line"),
            models.UniqueConstraint(
                fields=["menu", "tier"],
                condition=Q(product_line__isnull=True),
                name="uq_strategy_rule_default",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.menu_id}:{self.tier or '-'}:{self.product_line_id or '*'}"


class TierReview(models.Model):
    """A manager's periodic review of the tiers, with the performance data it was made on."""

    model = models.ForeignKey(
        TierModel, verbose_name=_("model"), on_delete=models.CASCADE, related_name="reviews"
    )
    period = models.CharField(_("period"), max_length=20, help_text=_("e.g. 2026-Q4"))
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reviewer"), on_delete=models.PROTECT, related_name="+"
    )
    snapshot = models.JSONField(_("data reviewed"), default=dict)
    conclusion = models.TextField(_("conclusion"))
    menu = models.ForeignKey(
        StrategyMenu,
        verbose_name=_("menu reviewed"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("reviewed"), auto_now_add=True)

    class Meta:
        verbose_name = _("tier review")
        verbose_name_plural = _("tier reviews")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["model", "period"], name="uq_tier_review_period")]

    def __str__(self) -> str:
        return f"{self.model_id} {self.period}"
