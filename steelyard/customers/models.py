"""Customers, contacts, territories, the public pool (公海), and visits & activities.

A customer is a company asset, not a rep's private property: a customer nobody follows up within
its pool's rules returns to the public pool, from which reps claim customers under limits.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from steelyard.core.request_context import request_memo
from steelyard.core.scopes import ScopedManager, ScopedQuerySet


class Industry(models.TextChoices):
    CONSTRUCTION = "construction", _("Construction")
    MINING = "mining", _("Mining")
    PORTS = "ports", _("Ports & logistics")
    ENERGY = "energy", _("Energy & power")
    RAIL = "rail", _("Rail transit")
    MARINE = "marine", _("Shipbuilding & marine")
    MUNICIPAL = "municipal", _("Municipal & utilities")
    MANUFACTURING = "manufacturing", _("Manufacturing")
    RENTAL = "rental", _("Equipment rental")
    AGRICULTURE = "agriculture", _("Agriculture")
    OTHER = "other", _("Other")


class CompanySize(models.TextChoices):
    SMALL = "small", _("Small (< 100 staff)")
    MEDIUM = "medium", _("Medium (100–999)")
    LARGE = "large", _("Large (1,000–9,999)")
    GIANT = "giant", _("Very large (10,000+)")


class CustomerStatus(models.TextChoices):
    PROSPECT = "prospect", _("Prospect")
    ACTIVE = "active", pgettext_lazy("customer status", "Active")
    DORMANT = "dormant", _("Dormant")
    LOST = "lost", _("Lost")


class CustomerSource(models.TextChoices):
    SELF = "self", _("Self-developed")
    REFERRAL = "referral", _("Referral")
    EXHIBITION = "exhibition", _("Exhibition")
    CAMPAIGN = "campaign", _("Campaign")
    WEBSITE = "website", _("Website")
    TENDER = "tender", _("Public tender")
    ERP = "erp", _("ERP import")
    IMPORT = "import", _("File import")
    OTHER = "other", _("Other")


class Tag(models.Model):
    """A free label on customers, e.g. '央企' or 'overseas project'."""

    name = models.CharField(_("name"), max_length=40, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Pool(models.Model):
    """A public pool (公海) of an org unit: where unowned customers wait to be claimed.

    Members may see and claim its customers; administrators manage it and may lock customers.
    """

    name = models.CharField(_("name"), max_length=80)
    org_unit = models.ForeignKey(
        "org.OrgUnit", verbose_name=_("org unit"), on_delete=models.PROTECT, related_name="pools"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("members"), blank=True, related_name="pools"
    )
    admins = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("administrators"),
        blank=True,
        related_name="administered_pools",
    )
    holding_cap = models.PositiveIntegerField(
        _("private customers per rep"),
        default=200,
        help_text=_("A rep holding this many customers cannot claim more."),
    )
    claims_per_day = models.PositiveIntegerField(_("claims per day"), default=10)
    cooldown_days = models.PositiveIntegerField(
        _("cooldown (days)"),
        default=30,
        help_text=_("Days before the previous owner may claim a customer back."),
    )
    warn_days = models.PositiveIntegerField(
        _("warn before (days)"),
        default=7,
        help_text=_("Warn owner and manager this many days before recycling."),
    )
    exclude_won_within_days = models.PositiveIntegerField(
        _("keep if a deal was won within (days)"), default=90
    )
    exclude_open_opportunity = models.BooleanField(_("keep while an opportunity is open"), default=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("pool")
        verbose_name_plural = _("pools")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PoolTrigger(models.TextChoices):
    NO_VISIT = "no_visit", _("No visit")
    NO_FOLLOWUP = "no_followup", _("No follow-up of any kind")
    NO_OPPORTUNITY = "no_opportunity", _("No new opportunity")
    NO_DEAL = "no_deal", _("No deal")


class PoolRule(models.Model):
    """Recycle a pool's private customers after ``days`` without an event, per customer tier.

    ``tier`` empty is the rule for customers without a tier (it should be the strictest).
    """

    pool = models.ForeignKey(Pool, verbose_name=_("pool"), on_delete=models.CASCADE, related_name="rules")
    trigger = models.CharField(_("trigger"), max_length=20, choices=PoolTrigger.choices)
    tier = models.CharField(_("tier"), max_length=20, blank=True)
    days = models.PositiveIntegerField(_("days"))

    class Meta:
        verbose_name = _("pool rule")
        verbose_name_plural = _("pool rules")
        ordering = ["pool", "trigger", "tier"]
        constraints = [models.UniqueConstraint(fields=["pool", "trigger", "tier"], name="uq_pool_rule")]

    def __str__(self) -> str:
        return f"{self.pool}: {self.get_trigger_display()} {self.tier or '-'} {self.days}"


class Territory(models.Model):
    """A sales territory: region / industry / product-line criteria, an owner and the team that works it."""

    class Strategy(models.TextChoices):
        OWNER = "owner", _("Territory owner")
        ROUND_ROBIN = "round_robin", _("Round-robin in the team")
        LEAST_LOADED = "least_loaded", _("Least-loaded in the team")

    name = models.CharField(_("name"), max_length=80)
    code = models.SlugField(_("code"), max_length=40, unique=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent territory"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_territories",
    )
    org_unit = models.ForeignKey(
        "org.OrgUnit",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="territories",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("members"), blank=True, related_name="territories"
    )
    provinces = models.JSONField(_("provinces"), default=list, blank=True)
    industries = models.JSONField(_("industries"), default=list, blank=True)
    product_lines = models.JSONField(_("product lines"), default=list, blank=True)
    strategy = models.CharField(
        _("assignment"), max_length=20, choices=Strategy.choices, default=Strategy.ROUND_ROBIN
    )
    priority = models.IntegerField(_("priority"), default=100, help_text=_("Lower numbers are tried first."))
    rr_cursor = models.PositiveIntegerField(default=0, editable=False)
    pool = models.ForeignKey(
        Pool,
        verbose_name=_("pool"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="territories",
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("territory")
        verbose_name_plural = _("territories")
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return self.name


def user_pool_ids(user, *, admin_only: bool = False) -> list[int]:  # type: ignore[no-untyped-def]
    """Ids of the active pools ``user`` administers (and, unless ``admin_only``, is a member of)."""
    q = Q(admins=user.pk) if admin_only else Q(members=user.pk) | Q(admins=user.pk)
    return request_memo(
        ("customers.pool_ids", user.pk, admin_only),
        lambda: sorted(set(Pool.objects.filter(q, is_active=True).values_list("id", flat=True))),
    )


class CustomerQuerySet(ScopedQuerySet):
    def private(self) -> CustomerQuerySet:
        return self.filter(owner__isnull=False)

    def in_pool(self) -> CustomerQuerySet:
        return self.filter(owner__isnull=True, merged_into__isnull=True)


class Customer(models.Model):
    """A company that buys (or may buy) from us; may belong to a parent group company."""

    scope_owner_field = "owner"
    scope_unit_field = "org_unit"

    legal_name = models.CharField(_("legal name"), max_length=200)
    short_name = models.CharField(_("short name"), max_length=80, blank=True)
    name_key = models.CharField(_("normalised name"), max_length=200, db_index=True, editable=False)
    pinyin = models.CharField(_("pinyin"), max_length=400, blank=True, editable=False)
    pinyin_initials = models.CharField(
        _("pinyin initials"), max_length=80, blank=True, db_index=True, editable=False
    )
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    industry = models.CharField(_("industry"), max_length=20, choices=Industry.choices, blank=True)
    province = models.CharField(_("province"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=40, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    size = models.CharField(_("size"), max_length=10, choices=CompanySize.choices, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("group company"),
        null=True,
        blank=True,
        db_index=False,  # covered by a composite index (Meta.indexes)
        on_delete=models.PROTECT,
        related_name="subsidiaries",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=CustomerStatus.choices, default=CustomerStatus.PROSPECT
    )
    source = models.CharField(_("source"), max_length=20, choices=CustomerSource.choices, blank=True)
    is_key_account = models.BooleanField(_("key account"), default=False)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")
    tier = models.CharField(_("tier"), max_length=20, blank=True)
    first_order_date = models.DateField(_("first order"), null=True, blank=True)
    visit_every_days = models.PositiveIntegerField(
        _("visit every (days)"),
        null=True,
        blank=True,
        help_text=_("Leave empty to use the default for the customer's tier."),
    )
    credit_limit = models.DecimalField(
        _("credit limit"),
        max_digits=16,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Leave empty to use the default of the customer's tier (the strategy menu)."),
    )
    payment_terms_days = models.PositiveIntegerField(
        _("payment terms (days)"),
        null=True,
        blank=True,
        help_text=_("Leave empty to use the terms of the customer's tier."),
    )

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        db_index=False,  # covered by a composite index (Meta.indexes)
        on_delete=models.PROTECT,
        related_name="customers",
    )
    org_unit = models.ForeignKey(
        "org.OrgUnit",
        verbose_name=_("owning unit"),
        null=True,
        blank=True,
        db_index=False,  # covered by a composite index (Meta.indexes)
        on_delete=models.PROTECT,
        related_name="customers",
    )
    territory = models.ForeignKey(
        Territory,
        verbose_name=_("territory"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customers",
    )
    pool = models.ForeignKey(
        Pool,
        verbose_name=_("pool"),
        null=True,
        blank=True,
        db_index=False,  # covered by a composite index (Meta.indexes)
        on_delete=models.PROTECT,
        related_name="customers",
    )
    owned_since = models.DateTimeField(_("owned since"), null=True, blank=True)
    previous_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("previous owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    released_at = models.DateTimeField(_("returned to pool at"), null=True, blank=True)

    # The pool clock: the latest qualifying events, and the stored recycle date with its reason.
    last_visit_at = models.DateTimeField(_("last visit"), null=True, blank=True)
    last_followup_at = models.DateTimeField(_("last follow-up"), null=True, blank=True)
    last_opportunity_at = models.DateTimeField(_("last new opportunity"), null=True, blank=True)
    last_deal_at = models.DateTimeField(_("last deal"), null=True, blank=True)
    has_open_opportunity = models.BooleanField(_("has an open opportunity"), default=False)
    recycle_at = models.DateField(_("returns to the pool on"), null=True, blank=True)
    recycle_trigger = models.CharField(
        _("recycle reason"), max_length=20, choices=PoolTrigger.choices, blank=True
    )
    recycle_since = models.DateTimeField(_("reason since"), null=True, blank=True)
    recycle_warned_at = models.DateTimeField(_("warned at"), null=True, blank=True)
    locked_until = models.DateField(_("locked by a manager until"), null=True, blank=True)

    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_from",
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

    objects = ScopedManager.from_queryset(CustomerQuerySet)()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["legal_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["credit_code"],
                condition=~Q(credit_code="") & Q(merged_into=None),
                name="uq_customer_credit_code",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "recycle_at"]),
            models.Index(
                fields=["recycle_at"], condition=Q(owner__isnull=False), name="customer_recycle_due"
            ),
            models.Index(fields=["pool", "owner"]),
            models.Index(fields=["org_unit", "legal_name"]),
            models.Index(fields=["owner", "legal_name"]),
            # Most customers have no group company: index only those that do, so the planner trusts it.
            models.Index(fields=["parent"], condition=Q(parent__isnull=False), name="customer_subsidiaries"),
            models.Index(
                fields=["legal_name", "id"],
                condition=Q(merged_into__isnull=True),
                name="customer_live_by_name",
            ),
            models.Index(fields=["credit_code"]),
            models.Index(fields=["status"]),
            models.Index(fields=["-updated_at"]),
        ]

    def __str__(self) -> str:
        return self.short_name or self.legal_name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("customer_detail", args=[self.pk])

    @classmethod
    def scope_extra_q(cls, user, action):  # type: ignore[no-untyped-def]
        # The public pool: unowned customers are visible to the members and admins of their pool.
        # Pool ids are read once (a user is in a handful of pools) so the list query needs no join
        # and no DISTINCT over the customers table.
        return Q(owner__isnull=True, pool_id__in=user_pool_ids(user, admin_only=action != "view"))

    @property
    def is_new_customer(self) -> bool:
        """New for targets until its first order; existing afterwards."""
        return self.first_order_date is None


class DecisionRole(models.TextChoices):
    DECISION_MAKER = "decision_maker", _("Decision maker")
    TECHNICAL = "technical", _("Technical")
    PROCUREMENT = "procurement", _("Procurement")
    FINANCE = "finance", _("Finance")
    USER = "user", _("User")
    INFLUENCER = "influencer", _("Influencer")


class ContactQuerySet(ScopedQuerySet):
    pass


class CustomerScoped(models.Model):
    """A record scoped through its ``customer``: the customer's owner and owning unit see it, and so do the
    members of the pool a pool customer waits in (view only). Contacts, orders, invoices, tiers, customer
    notification endpoints... all inherit this one rule."""

    scope_owner_field = "customer__owner"
    scope_unit_field = "customer__org_unit"

    class Meta:
        abstract = True

    @classmethod
    def scope_extra_q(cls, user, action):  # type: ignore[no-untyped-def]
        if action != "view":
            return None
        return Q(customer__owner__isnull=True, customer__pool_id__in=user_pool_ids(user))


class Contact(CustomerScoped):
    """A person at a customer and their role in the buying decision."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(_("name"), max_length=60)
    title = models.CharField(_("title"), max_length=80, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    phone_key = models.CharField(
        _("normalised phone"), max_length=20, blank=True, db_index=True, editable=False
    )
    email = models.EmailField(_("email"), blank=True)
    wechat_id = models.CharField(_("WeChat ID"), max_length=60, blank=True)
    decision_role = models.CharField(
        _("role in the decision"), max_length=20, choices=DecisionRole.choices, blank=True
    )
    is_primary = models.BooleanField(_("primary contact"), default=False)
    notes = models.TextField(_("notes"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = ScopedManager.from_queryset(ContactQuerySet)()

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-is_primary", "name"]

    def __str__(self) -> str:
        return self.name


class OwnershipAction(models.TextChoices):
    CREATE = "create", _("Created")
    ASSIGN = "assign", _("Assigned")
    REASSIGN = "reassign", _("Reassigned")
    CLAIM = "claim", _("Claimed from the pool")
    RELEASE = "release", _("Released to the pool")
    RECYCLE = "recycle", _("Recycled to the pool")
    MERGE = "merge", _("Merged")


class OwnershipEvent(models.Model):
    """One change of a customer's owner, with who did it, why and which rule fired."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="ownership_events"
    )
    action = models.CharField(_("action"), max_length=10, choices=OwnershipAction.choices)
    from_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("from"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    to_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.TextField(_("reason"), blank=True)
    rule = models.CharField(_("rule"), max_length=60, blank=True)
    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("ownership event")
        verbose_name_plural = _("ownership events")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-at"]),
            models.Index(fields=["to_owner", "action", "-at"]),
        ]

    def __str__(self) -> str:
        return f"{self.customer} {self.action}"


class ActivityKind(models.TextChoices):
    VISIT = "visit", _("Visit")
    CALL = "call", _("Call")
    MEETING = "meeting", _("Meeting")
    EMAIL = "email", _("Email note")


class ActivityStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class Activity(models.Model):
    """A visit, call, meeting or email note with a customer, planned or done.

    Done activities move the customer's pool clock (a visit also counts as a visit).
    """

    scope_owner_field = "owner"
    scope_unit_field = "org_unit"

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="activities"
    )
    kind = models.CharField(
        _("type"), max_length=10, choices=ActivityKind.choices, default=ActivityKind.VISIT
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ActivityStatus.choices, default=ActivityStatus.PLANNED
    )
    subject = models.CharField(_("subject"), max_length=200)
    purpose = models.TextField(_("purpose"), blank=True)
    planned_at = models.DateTimeField(_("planned for"), null=True, blank=True)
    occurred_at = models.DateTimeField(_("happened at"), null=True, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    next_step = models.CharField(_("next step"), max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="activities"
    )
    org_unit = models.ForeignKey(
        "org.OrgUnit",
        verbose_name=_("owning unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    participants = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("participants"), blank=True, related_name="activities_joined"
    )
    contacts = models.ManyToManyField(
        Contact, verbose_name=_("customer contacts"), blank=True, related_name="activities"
    )
    checkin_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    checkin_lat = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    checkin_lng = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    checkin_accuracy_m = models.PositiveIntegerField(_("accuracy (m)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["-occurred_at", "-planned_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-occurred_at"]),
            models.Index(fields=["owner", "status", "planned_at"]),
        ]

    def __str__(self) -> str:
        return self.subject

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("activity_detail", args=[self.pk])

    @classmethod
    def scope_extra_q(cls, user, action):  # type: ignore[no-untyped-def]
        # Participants see the activities they took part in.
        return Q(participants=user.pk) if action == "view" else None

    scope_extra_distinct = True


class VisitFrequencyDefault(models.Model):
    """Default required visit frequency per customer tier (the tiering module's strategy menu will supply it).

    ``tier`` empty is the default for customers without a tier.
    """

    tier = models.CharField(_("tier"), max_length=20, blank=True, unique=True)
    days = models.PositiveIntegerField(_("visit every (days)"))

    class Meta:
        verbose_name = _("visit frequency default")
        verbose_name_plural = _("visit frequency defaults")
        ordering = ["tier"]

    def __str__(self) -> str:
        return f"{self.tier or '-'}: {self.days}"


class SavedView(models.Model):
    """A named set of list filters a user keeps (optionally shared with everyone)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="saved_views",
    )
    list_key = models.CharField(_("list"), max_length=40)
    name = models.CharField(_("name"), max_length=60)
    query = models.CharField(_("filters"), max_length=1000)
    is_shared = models.BooleanField(_("shared"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "list_key", "name"], name="uq_saved_view")]

    def __str__(self) -> str:
        return self.name
