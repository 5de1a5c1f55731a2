"""The standard sales process: stage playbooks, opportunities, quotes, framework agreements, forecast.

- A :class:`Playbook` (per product line, or the default for lines without their own) is versioned data:
  :class:`PlaybookStage` rows in order, each with a default probability and forecast category, a stall
  limit, exit criteria and :class:`PlaybookItem` rows (key tasks, required fields, required documents).
  An opportunity keeps the playbook version it started on until it is migrated to a newer one.
- An :class:`Opportunity` has solution :class:`OpportunityLine` rows, competitors
  (:class:`OpportunityCompetitor` → :class:`Competitor`), decision-makers (:class:`OpportunityContact`),
  a virtual team (:class:`OpportunityMember`), the checklist state (:class:`ChecklistEntry`) and its stage
  history (:class:`StageVisit`, one row per stay in a stage, with how long it lasted).
- A :class:`Quote` (revisions of an opportunity's price) has :class:`QuoteLine` rows at list price and
  discount; the customer's tier strategy sets the discount that needs no approval; a won quote becomes an
  ``orders.Contract``. A :class:`FrameworkAgreement` plans quantities per period per product
  (:class:`FrameworkLine`), compared with actual orders.
- The forecast reads :class:`ForecastCell` — amounts per (owner, unit, product line, close month,
  category), kept up to date by every opportunity write (a delta, not a recount) and rebuilt in one
  GROUP BY. Managers' :class:`ForecastAdjustment` rows sit beside the system figure; a weekly
  :class:`ForecastSnapshot` (with :class:`ForecastSnapshotRow` copies of the cells) is immutable.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import BooleanField, F, Func, Q, Subquery
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from steelyard.catalog.models import CURRENCY_DEFAULT
from steelyard.core.scopes import ScopedManager, ScopedQuerySet
from steelyard.customers.models import Customer, CustomerScoped, DecisionRole

ZERO = Decimal("0")
HUNDRED = Decimal("100")


def _money(verbose: object, **kwargs: object) -> models.DecimalField:
    return models.DecimalField(verbose, max_digits=16, decimal_places=2, default=ZERO, **kwargs)  # type: ignore[arg-type]


def _pct(verbose: object, **kwargs: object) -> models.DecimalField:
    return models.DecimalField(verbose, max_digits=5, decimal_places=2, default=ZERO, **kwargs)  # type: ignore[arg-type]


# --- playbooks ------------------------------------------------------------------------------------


class ForecastCategory(models.TextChoices):
    PIPELINE = "pipeline", _("Pipeline")
    BEST_CASE = "best_case", _("Best case")
    COMMIT = "commit", _("Commit")
    CLOSED_WON = "won", _("Closed won")
    CLOSED_LOST = "lost", _("Closed lost")
    OMITTED = "omitted", _("Omitted")


#: The categories an open opportunity may carry (won / lost come from closing it).
OPEN_CATEGORIES = (
    ForecastCategory.PIPELINE,
    ForecastCategory.BEST_CASE,
    ForecastCategory.COMMIT,
    ForecastCategory.OMITTED,
)


class PlaybookStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    RETIRED = "retired", _("Retired")


class Playbook(models.Model):
    """One version of the sales process for a product line (or the default, without a line).

    Only one version per line is ``active`` at a time: new opportunities start on it. Open opportunities
    stay on the version they started on until they are migrated (``services.playbooks.playbook_migrate``).
    An active or retired version is not edited; a new draft version is copied from it instead.
    """

    product_line = models.ForeignKey(
        "catalog.ProductLine",
        verbose_name=_("product line"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="playbooks",
        help_text=_("Empty: the default for product lines without their own playbook."),
    )
    name = models.CharField(_("name"), max_length=100)
    version = models.PositiveIntegerField(_("version"), default=1)
    status = models.CharField(
        _("status"), max_length=10, choices=PlaybookStatus.choices, default=PlaybookStatus.DRAFT
    )
    description = models.TextField(_("description"), blank=True)
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
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
        verbose_name = _("playbook")
        verbose_name_plural = _("playbooks")
        ordering = ["product_line__sort_order", "product_line_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["product_line", "version"], name="uq_playbook_version"),
            models.UniqueConstraint(
                fields=["version"], condition=Q(product_line__isnull=True), name="uq_playbook_default_version"
            ),
            models.UniqueConstraint(
                fields=["product_line"],
                condition=Q(status="active"),
                name="uq_playbook_active_line",
            ),
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="active", product_line__isnull=True),
                name="uq_playbook_active_default",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("sales_playbook_detail", args=[self.pk])


class PlaybookStage(models.Model):
    """One stage of a playbook version, in ``order``. ``is_won`` / ``is_lost`` mark the two closing stages."""

    playbook = models.ForeignKey(
        Playbook, verbose_name=_("playbook"), on_delete=models.CASCADE, related_name="stages"
    )
    code = models.SlugField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=60)
    name_en = models.CharField(_("English name"), max_length=60, blank=True)
    order = models.PositiveSmallIntegerField(_("order"))
    probability = _pct(_("probability (%)"))
    forecast_category = models.CharField(
        _("forecast category"),
        max_length=10,
        choices=ForecastCategory.choices,
        default=ForecastCategory.PIPELINE,
    )
    stall_days = models.PositiveIntegerField(
        _("stalled after (days without activity)"), null=True, blank=True
    )
    exit_criteria = models.TextField(_("exit criteria"), blank=True)
    is_won = models.BooleanField(_("closed won"), default=False)
    is_lost = models.BooleanField(_("closed lost"), default=False)

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["playbook", "order"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "code"], name="uq_stage_code"),
            models.UniqueConstraint(fields=["playbook", "order"], name="uq_stage_order"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.is_won or self.is_lost


class ItemKind(models.TextChoices):
    TASK = "task", _("Key task")
    FIELD = "field", _("Required information")
    DOCUMENT = "document", _("Required document")


#: Opportunity fields a FIELD item may require (satisfied when the opportunity has a value for them).
REQUIRABLE_FIELDS = {
    "amount": _("Amount"),
    "expected_close_date": _("Expected close date"),
    "next_step": _("Next step"),
    "lines": _("Solution lines"),
    "competitors": _("Competitors"),
    "decision_makers": _("Decision-makers"),
    "solution_engineer": _("Solution engineer on the team"),
    "delivery_manager": _("Delivery manager on the team"),
    "quote": _("A quote"),
    "source": _("Source"),
}


class PlaybookItem(models.Model):
    """A checklist item of a stage: a key task, a field that must be filled, or a document to attach."""

    stage = models.ForeignKey(
        PlaybookStage, verbose_name=_("stage"), on_delete=models.CASCADE, related_name="items"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=ItemKind.choices, default=ItemKind.TASK)
    label = models.CharField(_("label"), max_length=200)
    label_en = models.CharField(_("English label"), max_length=200, blank=True)
    field = models.CharField(
        _("field"),
        max_length=40,
        blank=True,
        help_text=_("For required information: which opportunity field must be filled."),
    )
    required = models.BooleanField(_("required"), default=False)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist items")
        ordering = ["stage", "order", "id"]

    def __str__(self) -> str:
        return self.label

    def clean(self) -> None:
        if self.kind == ItemKind.FIELD and self.field not in REQUIRABLE_FIELDS:
            raise ValidationError({"field": _("Choose which opportunity field this item requires.")})


# --- opportunities --------------------------------------------------------------------------------


class Competitor(models.Model):
    """A competing manufacturer, shared by every opportunity (win/loss analysis reads it)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("competitor")
        verbose_name_plural = _("competitors")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OpportunityStatus(models.TextChoices):
    OPEN = "open", _("Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class OpportunitySource(models.TextChoices):
    LEAD = "lead", _("Lead")
    CAMPAIGN = "campaign", _("Campaign")
    EXHIBITION = "exhibition", _("Exhibition")
    REFERRAL = "referral", _("Referral")
    EXISTING = "existing", _("Existing customer")
    TENDER = "tender", _("Public tender")
    PARTNER = "partner", _("Partner / dealer")
    OTHER = "other", _("Other")


class CloseReason(models.TextChoices):
    PRICE = "price", _("Price")
    PRODUCT = "product", _("Product fit")
    DELIVERY = "delivery", _("Delivery time")
    RELATIONSHIP = "relationship", _("Relationship")
    SERVICE = "service", _("Service")
    FINANCING = "financing", _("Financing and terms")
    TECHNICAL = "technical", _("Technical solution")
    NO_DECISION = "no_decision", _("No decision / project cancelled")
    OTHER = "other", _("Other")


class RiskFlag(models.TextChoices):
    STALLED = "stalled", _("Stalled")
    CLOSE_PASSED = "close_passed", _("Close date passed")
    TASKS_MISSING = "tasks_missing", _("Required items missing")
    DISCOUNT = "discount", _("Discount above the tier limit")
    CREDIT = "credit", _("Credit exposure over the limit")
    SINGLE_THREADED = "single_threaded", _("Single-threaded")
    COMPETITOR = "competitor", _("Competitor threat")


class _InSubquery(Func):
    """``column IN (subquery)``, written ``column = ANY(ARRAY(subquery))`` on PostgreSQL: the subquery then
    runs once and the column is looked up in its index, which PostgreSQL can OR with the other branches
    of a scope (a hashed ``IN`` subplan forces a scan of the whole table)."""

    output_field = BooleanField()

    def __init__(self, column: Any, queryset: Any) -> None:
        super().__init__(column, Subquery(queryset))

    def _parts(self, compiler: Any) -> tuple[str, str, tuple[Any, ...]]:
        column, subquery = self.get_source_expressions()
        column_sql, column_params = compiler.compile(column)
        sub_sql, sub_params = compiler.compile(subquery)
        if not sub_sql.startswith("("):
            sub_sql = f"({sub_sql})"
        return column_sql, sub_sql, (*column_params, *sub_params)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:
        column_sql, sub_sql, params = self._parts(compiler)
        return f"{column_sql} IN {sub_sql}", params

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:
        column_sql, sub_sql, params = self._parts(compiler)
        return f"{column_sql} = ANY(ARRAY{sub_sql})", params


class OpportunityQuerySet(ScopedQuerySet):
    def open(self) -> OpportunityQuerySet:
        return self.filter(status=OpportunityStatus.OPEN)

    def with_flag(self, flag: str) -> OpportunityQuerySet:
        """Opportunities currently carrying ``flag`` (``risk_flags`` is stored as ``,flag,flag,``)."""
        return self.filter(risk_flags__contains=f",{flag},")


class Opportunity(models.Model):
    """A deal being worked: a customer, a product line, a configured solution, a stage of the playbook.

    Scope: the owner, the owning unit (the owner's unit when created), and the members of its virtual
    team (view and change); the customer's owner sees it too (view). ``amount`` is the sum of the lines
    unless ``amount_is_manual``. ``probability`` and ``forecast_category`` come from the stage unless the
    rep set them. ``risk_flags`` holds the current flags as ``,code,code,`` (``RiskFlag``) for filtering;
    ``services.risks`` keeps it up to date. ``weighted_amount`` = amount × probability / 100 rounded half
    up to the cent (``services.forecast.weighted``), set by every service that changes either.
    ``furthest_order`` is the highest stage order in its stage history, the lost stage left out, kept by
    the services that write stage visits (``services.funnel``): the funnel's conversion reads it.
    """

    scope_owner_field = "owner"
    scope_unit_field = "org_unit"

    number = models.CharField(_("number"), max_length=30, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="opportunities",
    )
    product_line = models.ForeignKey(
        "catalog.ProductLine",
        verbose_name=_("product line"),
        on_delete=models.PROTECT,
        related_name="opportunities",
    )
    playbook = models.ForeignKey(
        Playbook, verbose_name=_("playbook"), on_delete=models.PROTECT, related_name="opportunities"
    )
    stage = models.ForeignKey(
        PlaybookStage, verbose_name=_("stage"), on_delete=models.PROTECT, related_name="opportunities"
    )
    status = models.CharField(
        _("status"), max_length=5, choices=OpportunityStatus.choices, default=OpportunityStatus.OPEN
    )
    probability = _pct(_("probability (%)"))
    probability_is_manual = models.BooleanField(_("probability set by hand"), default=False)
    forecast_category = models.CharField(
        _("forecast category"),
        max_length=10,
        choices=ForecastCategory.choices,
        default=ForecastCategory.PIPELINE,
    )
    forecast_category_is_manual = models.BooleanField(_("category set by hand"), default=False)
    amount = _money(_("amount"))
    amount_is_manual = models.BooleanField(_("amount set by hand"), default=False)
    weighted_amount = _money(
        _("weighted amount"), editable=False, help_text=_("Amount × probability, rounded to the cent.")
    )
    currency = models.CharField(_("currency"), max_length=3, default=CURRENCY_DEFAULT)
    expected_close_date = models.DateField(_("expected close date"))
    next_step = models.CharField(_("next step"), max_length=200, blank=True)
    next_step_date = models.DateField(_("next step by"), null=True, blank=True)
    description = models.TextField(_("description"), blank=True)
    source = models.CharField(_("source"), max_length=12, choices=OpportunitySource.choices, blank=True)
    source_detail = models.CharField(
        _("source detail"), max_length=200, blank=True, help_text=_("Which lead, campaign or exhibition.")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="opportunities",
    )
    org_unit = models.ForeignKey(
        "org.OrgUnit",
        verbose_name=_("owning unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="opportunities",
    )
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    close_reason = models.CharField(
        _("win/loss reason"), max_length=15, choices=CloseReason.choices, blank=True
    )
    close_note = models.TextField(_("win/loss note"), blank=True)
    lost_to = models.ForeignKey(
        Competitor,
        verbose_name=_("lost to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="wins_against_us",
    )
    stage_entered_at = models.DateTimeField(_("in this stage since"))
    last_activity_at = models.DateTimeField(_("last activity"))
    risk_flags = models.CharField(_("risk flags"), max_length=200, blank=True, default="", editable=False)
    furthest_order = models.PositiveSmallIntegerField(
        _("furthest stage reached"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Highest stage order in the stage history, the lost stage left out."),
    )
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

    objects = models.Manager.from_queryset(OpportunityQuerySet)()
    history = HistoricalRecords(
        excluded_fields=["risk_flags", "last_activity_at", "updated_at", "furthest_order"]
    )

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        ordering = ["expected_close_date", "-id"]
        indexes = [
            models.Index(fields=["owner", "status", "expected_close_date"]),
            models.Index(fields=["org_unit", "status", "expected_close_date"]),
            models.Index(fields=["customer", "status"]),
            models.Index(fields=["status", "stage"]),
            models.Index(fields=["product_line", "status", "expected_close_date"]),
            models.Index(fields=["status", "closed_on"]),
            models.Index(fields=["-updated_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("sales_opportunity_detail", args=[self.pk])

    @classmethod
    def scope_extra_q(cls, user, action):  # type: ignore[no-untyped-def]
        # The virtual team (owner, solution engineer, delivery manager...) works the deal with the owner;
        # the customer's owner may look at every deal on their customer.
        # Every branch filters an indexed column of this table (no join, see ``_InSubquery``), so the
        # database ORs index lookups instead of scanning every deal.
        team = Q(
            _InSubquery(F("pk"), OpportunityMember.objects.filter(user_id=user.pk).values("opportunity_id"))
        )
        if action != "view":
            return team
        return team | Q(_InSubquery(F("customer_id"), Customer.objects.filter(owner_id=user.pk).values("pk")))

    @property
    def is_open(self) -> bool:
        return self.status == OpportunityStatus.OPEN

    @property
    def flags(self) -> list[str]:
        return [f for f in self.risk_flags.split(",") if f]


class LineKind(models.TextChoices):
    MACHINE = "machine", _("Machine")
    OPTION = "option", _("Option")
    PART = "part", _("Spare part")
    SERVICE = "service", _("Service contract")


class OpportunityLine(models.Model):
    """One line of the configured solution: a machine, an option on it, parts, a service contract."""

    opportunity = models.ForeignKey(
        Opportunity, verbose_name=_("opportunity"), on_delete=models.CASCADE, related_name="lines"
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("option of"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="options",
    )
    product = models.ForeignKey(
        "catalog.Product",
        verbose_name=_("product"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    kind = models.CharField(_("kind"), max_length=10, choices=LineKind.choices, default=LineKind.MACHINE)
    description = models.CharField(_("description"), max_length=200, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=2, default=Decimal("1"))
    unit_price = _money(_("unit price"))
    amount = _money(_("amount"))
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("solution line")
        verbose_name_plural = _("solution lines")
        ordering = ["opportunity", "order", "id"]

    def __str__(self) -> str:
        return self.description or str(self.product or "")


class ThreatLevel(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class OpportunityCompetitor(models.Model):
    opportunity = models.ForeignKey(
        Opportunity, verbose_name=_("opportunity"), on_delete=models.CASCADE, related_name="competitors"
    )
    competitor = models.ForeignKey(
        Competitor, verbose_name=_("competitor"), on_delete=models.PROTECT, related_name="+"
    )
    strengths = models.TextField(_("strengths"), blank=True)
    weaknesses = models.TextField(_("weaknesses"), blank=True)
    threat = models.CharField(
        _("threat"), max_length=6, choices=ThreatLevel.choices, default=ThreatLevel.MEDIUM
    )
    price_position = models.CharField(_("their price"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("competitor on the deal")
        verbose_name_plural = _("competitors on the deal")
        ordering = ["opportunity", "competitor__name"]
        constraints = [
            models.UniqueConstraint(fields=["opportunity", "competitor"], name="uq_opp_competitor")
        ]

    def __str__(self) -> str:
        return str(self.competitor)


class Attitude(models.TextChoices):
    CHAMPION = "champion", _("Champion")
    SUPPORTER = "supporter", _("Supporter")
    NEUTRAL = "neutral", _("Neutral")
    OPPONENT = "opponent", _("Opponent")


class OpportunityContact(models.Model):
    """A decision-maker (or influencer) on the deal: a contact of the customer and their role in it."""

    opportunity = models.ForeignKey(
        Opportunity, verbose_name=_("opportunity"), on_delete=models.CASCADE, related_name="contacts"
    )
    contact = models.ForeignKey(
        "customers.Contact", verbose_name=_("contact"), on_delete=models.CASCADE, related_name="+"
    )
    role = models.CharField(_("role in the decision"), max_length=20, choices=DecisionRole.choices)
    attitude = models.CharField(
        _("attitude"), max_length=10, choices=Attitude.choices, default=Attitude.NEUTRAL
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("decision-maker")
        verbose_name_plural = _("decision-makers")
        ordering = ["opportunity", "role"]
        constraints = [models.UniqueConstraint(fields=["opportunity", "contact"], name="uq_opp_contact")]

    def __str__(self) -> str:
        return f"{self.contact} ({self.get_role_display()})"


class TeamRole(models.TextChoices):
    OWNER = "owner", _("Account owner")
    SOLUTION_ENGINEER = "solution_engineer", _("Solution engineer")
    DELIVERY_MANAGER = "delivery_manager", _("Delivery manager")
    SERVICE = "service", _("Service engineer")
    FINANCE = "finance", _("Finance")
    OTHER = "other", _("Other")


class OpportunityMember(models.Model):
    """A member of the deal's virtual team (the rep, solution engineer, delivery manager...)."""

    opportunity = models.ForeignKey(
        Opportunity, verbose_name=_("opportunity"), on_delete=models.CASCADE, related_name="members"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person"),
        on_delete=models.CASCADE,
        related_name="opportunity_roles",
    )
    role = models.CharField(_("role"), max_length=20, choices=TeamRole.choices)

    class Meta:
        verbose_name = _("team member")
        verbose_name_plural = _("team members")
        ordering = ["opportunity", "role"]
        constraints = [models.UniqueConstraint(fields=["opportunity", "user", "role"], name="uq_opp_member")]
        indexes = [models.Index(fields=["user", "opportunity"])]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"


class ChecklistEntry(models.Model):
    """The state of one checklist item on one opportunity (a task ticked, a document attached)."""

    opportunity = models.ForeignKey(
        Opportunity, verbose_name=_("opportunity"), on_delete=models.CASCADE, related_name="checklist"
    )
    item = models.ForeignKey(PlaybookItem, verbose_name=_("item"), on_delete=models.CASCADE, related_name="+")
    done = models.BooleanField(_("done"), default=False)
    note = models.CharField(_("note"), max_length=300, blank=True)
    attachment = models.ForeignKey(
        "core.Attachment",
        verbose_name=_("document"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("done by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    class Meta:
        verbose_name = _("checklist entry")
        verbose_name_plural = _("checklist entries")
        constraints = [models.UniqueConstraint(fields=["opportunity", "item"], name="uq_checklist_item")]

    def __str__(self) -> str:
        return str(self.item)


class StageVisit(models.Model):
    """One stay of an opportunity in a stage: entered, left (empty while it is there), and how it got in.

    ``approval`` is set when a manager's approval let it past a gate with required items missing
    (``missing`` lists them). Velocity (days per stage), conversion and recalibrated probabilities are
    computed from these rows.
    """

    opportunity = models.ForeignKey(
        Opportunity, verbose_name=_("opportunity"), on_delete=models.CASCADE, related_name="stage_visits"
    )
    stage = models.ForeignKey(
        PlaybookStage, verbose_name=_("stage"), on_delete=models.PROTECT, related_name="visits"
    )
    entered_at = models.DateTimeField(_("entered"))
    left_at = models.DateTimeField(_("left"), null=True, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("moved by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approval = models.ForeignKey(
        "core.ApprovalRequest",
        verbose_name=_("approval"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    missing = models.JSONField(_("items missing"), default=list, blank=True)

    class Meta:
        verbose_name = _("stage visit")
        verbose_name_plural = _("stage history")
        ordering = ["opportunity", "entered_at", "id"]
        indexes = [
            models.Index(fields=["opportunity", "entered_at"]),
            models.Index(fields=["stage", "entered_at"]),
        ]

    # --- quotes and agreements -------------------------------------------------------------------------

    def __str__(self) -> str:
        return f"{self.stage} {self.entered_at:%Y-%m-%d}"


class QuoteStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING = "pending", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")
    SUPERSEDED = "superseded", _("Superseded")


class Quote(models.Model):
    """A priced offer on an opportunity; revisions keep their number with ``revision`` +1.

    Scoped like its opportunity. ``max_discount_pct`` and ``tier`` are what the strategy menu allowed when
    the quote was priced; ``discount_pct`` is the largest line discount. ``credit`` is the credit check
    at quote time: ``{"limit", "outstanding", "open_orders", "quote", "exposure", "over"}``. An accepted
    quote becomes ``contract``.
    """

    scope_owner_field = "opportunity__owner"
    scope_unit_field = "opportunity__org_unit"

    number = models.CharField(_("number"), max_length=30, editable=False)
    revision = models.PositiveSmallIntegerField(_("revision"), default=1)
    opportunity = models.ForeignKey(
        Opportunity, verbose_name=_("opportunity"), on_delete=models.CASCADE, related_name="quotes"
    )
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="quotes"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=QuoteStatus.choices, default=QuoteStatus.DRAFT
    )
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    currency = models.CharField(_("currency"), max_length=3, default=CURRENCY_DEFAULT)
    valid_until = models.DateField(_("valid until"))
    list_total = _money(_("total at list price"))
    net_total = _money(_("total"))
    discount_pct = _pct(_("largest discount (%)"))
    tier = models.CharField(_("tier"), max_length=20, blank=True)
    max_discount_pct = _pct(_("discount without approval (%)"))
    payment_terms_days = models.PositiveIntegerField(_("payment terms (days)"), default=30)
    delivery_terms = models.CharField(_("delivery terms"), max_length=200, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    credit = models.JSONField(_("credit check"), default=dict, blank=True)
    approval = models.ForeignKey(
        "core.ApprovalRequest",
        verbose_name=_("approval"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    contract = models.ForeignKey(
        "orders.Contract",
        verbose_name=_("contract"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="quotes",
    )
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    decided_at = models.DateTimeField(_("accepted or rejected"), null=True, blank=True)
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

    objects = ScopedManager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["number", "revision"], name="uq_quote_revision")]
        indexes = [
            models.Index(fields=["opportunity", "-revision"]),
            models.Index(fields=["customer", "-created_at"]),
            models.Index(fields=["status", "valid_until"]),
        ]

    def __str__(self) -> str:
        return f"{self.number}-R{self.revision}"

    def get_absolute_url(self) -> str:
        return reverse("sales_quote_detail", args=[self.pk])

    @classmethod
    def scope_extra_q(cls, user, action):  # type: ignore[no-untyped-def]
        team = Q(
            opportunity_id__in=OpportunityMember.objects.filter(user_id=user.pk).values("opportunity_id")
        )
        if action != "view":
            return team
        return team | Q(customer__owner_id=user.pk)


class QuoteLine(models.Model):
    quote = models.ForeignKey(Quote, verbose_name=_("quote"), on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        "catalog.Product",
        verbose_name=_("product"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=2, default=Decimal("1"))
    unit = models.CharField(_("unit"), max_length=10, blank=True)
    list_price = _money(_("list price"))
    discount_pct = _pct(_("discount (%)"))
    net_price = _money(_("net price"))
    amount = _money(_("amount"))
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("quote line")
        verbose_name_plural = _("quote lines")
        ordering = ["quote", "order", "id"]

    def __str__(self) -> str:
        return self.description or str(self.product or "")


class AgreementPeriod(models.TextChoices):
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")


class AgreementStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("In force")
    ENDED = "ended", _("Ended")


class FrameworkAgreement(CustomerScoped):
    """A long-term (framework) agreement: planned quantities per period per product, against actual orders."""

    number = models.CharField(_("number"), max_length=40, unique=True)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="framework_agreements",
    )
    contract = models.ForeignKey(
        "orders.Contract",
        verbose_name=_("contract"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    title = models.CharField(_("title"), max_length=200)
    period = models.CharField(
        _("period"), max_length=8, choices=AgreementPeriod.choices, default=AgreementPeriod.QUARTER
    )
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    status = models.CharField(
        _("status"), max_length=8, choices=AgreementStatus.choices, default=AgreementStatus.DRAFT
    )
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

    objects = ScopedManager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("framework agreement")
        verbose_name_plural = _("framework agreements")
        ordering = ["-starts_on", "-id"]
        indexes = [models.Index(fields=["customer", "-starts_on"])]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("sales_agreement_detail", args=[self.pk])


class FrameworkLine(models.Model):
    """Planned quantity of one product in one period (``period_start``: the first day of the month/quarter)."""

    agreement = models.ForeignKey(
        FrameworkAgreement, verbose_name=_("agreement"), on_delete=models.CASCADE, related_name="lines"
    )
    product = models.ForeignKey(
        "catalog.Product", verbose_name=_("product"), on_delete=models.PROTECT, related_name="+"
    )
    period_start = models.DateField(_("period"))
    planned_quantity = models.DecimalField(_("planned quantity"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("planned quantity")
        verbose_name_plural = _("planned quantities")
        ordering = ["agreement", "period_start", "product"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "product", "period_start"], name="uq_framework_line")
        ]

    # --- forecast -------------------------------------------------------------------------------------

    def __str__(self) -> str:
        return f"{self.product} {self.period_start:%Y-%m}"


class ForecastCell(models.Model):
    """The forecast's running totals for one (owner, unit, product line, close month, category).

    ``key`` is ``"owner:unit:line:YYYY-MM:category"`` (0 for an empty unit): one unique column, so a delta
    is one ``INSERT … ON CONFLICT (key) DO UPDATE`` on SQLite and PostgreSQL alike. Open opportunities
    count in their category by expected close month; won and lost ones in ``won`` / ``lost`` by the month
    they closed. Sums are integer cents, exact on both databases: ``amount_cents`` = Σ amount,
    ``weighted_cents`` = Σ ``Opportunity.weighted_amount`` (each rounded to the cent). Maintained by
    ``services.forecast.forecast_cells_apply`` on every opportunity write; ``forecast_rebuild`` recounts.
    """

    scope_owner_field = "owner"
    scope_unit_field = "org_unit"

    key = models.CharField(max_length=80, unique=True)
    # Derived totals, recounted from the opportunities at will: no database FK constraints (a rebuild after
    # a bulk load inserts ~100k cells, and their deferred checks cost more than the recount); the ORM's
    # cascades still apply.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    org_unit = models.ForeignKey(
        "org.OrgUnit", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    product_line = models.ForeignKey(
        "catalog.ProductLine", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    month = models.DateField()
    category = models.CharField(max_length=10, choices=ForecastCategory.choices)
    count = models.IntegerField(default=0)
    amount_cents = models.BigIntegerField(default=0)
    weighted_cents = models.BigIntegerField(default=0)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("forecast cell")
        verbose_name_plural = _("forecast cells")
        indexes = [models.Index(fields=["owner", "month"]), models.Index(fields=["month", "category"])]

    def __str__(self) -> str:
        return self.key


class ForecastAdjustment(models.Model):
    """A manager's own figure for a person's or a unit's month and category, kept beside the system figure.

    The latest row per (subject, month, category) is in force; earlier ones stay as history.
    """

    scope_owner_field = "author"
    scope_unit_field = "author__org_unit"

    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("adjusted by"), on_delete=models.PROTECT, related_name="+"
    )
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("for person"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    subject_unit = models.ForeignKey(
        "org.OrgUnit",
        verbose_name=_("for unit"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    month = models.DateField(_("month"))
    category = models.CharField(_("category"), max_length=10, choices=ForecastCategory.choices)
    amount = _money(_("amount"))
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("forecast adjustment")
        verbose_name_plural = _("forecast adjustments")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(subject_user__isnull=False, subject_unit__isnull=True)
                | Q(subject_user__isnull=True, subject_unit__isnull=False),
                name="ck_adjustment_one_subject",
            )
        ]
        indexes = [
            models.Index(fields=["subject_user", "month", "category", "-created_at"]),
            models.Index(fields=["subject_unit", "month", "category", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.category} {self.amount}"


class ImmutableError(Exception):
    """A forecast snapshot (or one of its rows) was asked to change after it was taken."""


class ImmutableQuerySet(ScopedQuerySet):
    """Rows are inserted (``create`` / ``bulk_create``) and read; never updated or deleted."""

    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        raise ImmutableError("forecast snapshots are never changed")

    def delete(self):  # type: ignore[no-untyped-def]
        raise ImmutableError("forecast snapshots are never deleted")


class _Immutable(models.Model):
    objects = models.Manager.from_queryset(ImmutableQuerySet)()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self._state.adding:
            raise ImmutableError("forecast snapshots are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise ImmutableError("forecast snapshots are never deleted")


class ForecastSnapshot(_Immutable):
    """The forecast as it stood when taken (weekly, or on demand); never changed afterwards.

    Visible to everyone who may see the forecast; its rows are scoped (``ForecastSnapshotRow``).
    ``rows_count`` is known before the rows are copied (the snapshot is written once, complete).
    """

    taken_at = models.DateTimeField(_("taken"))
    week = models.DateField(_("week"), help_text=_("Monday of the week it was taken in."))
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("taken by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    is_weekly = models.BooleanField(_("weekly"), default=True)
    rows_count = models.PositiveIntegerField(_("rows"), default=0)

    class Meta:
        verbose_name = _("forecast snapshot")
        verbose_name_plural = _("forecast snapshots")
        ordering = ["-taken_at"]
        constraints = [
            models.UniqueConstraint(fields=["week"], condition=Q(is_weekly=True), name="uq_weekly_snapshot")
        ]

    def __str__(self) -> str:
        return f"{self.week:%Y-%m-%d}"


class ForecastSnapshotRow(_Immutable):
    """A copy of one forecast cell in a snapshot (scoped like the cell)."""

    scope_owner_field = "owner"
    scope_unit_field = "org_unit"

    snapshot = models.ForeignKey(ForecastSnapshot, on_delete=models.PROTECT, related_name="rows")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    org_unit = models.ForeignKey(
        "org.OrgUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    product_line = models.ForeignKey("catalog.ProductLine", on_delete=models.PROTECT, related_name="+")
    month = models.DateField()
    category = models.CharField(max_length=10, choices=ForecastCategory.choices)
    count = models.IntegerField(default=0)
    amount_cents = models.BigIntegerField(default=0)
    weighted_cents = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("forecast snapshot row")
        verbose_name_plural = _("forecast snapshot rows")
        indexes = [models.Index(fields=["snapshot", "owner", "month"])]

    def __str__(self) -> str:
        return f"{self.snapshot_id}:{self.owner_id}:{self.month:%Y-%m}:{self.category}"
