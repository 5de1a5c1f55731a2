"""People and organisation: users, the org-unit tree, roles, positions and qualifications."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractUser, Permission, UserManager
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.scopes import Scope, ScopedManager, ScopedQuerySet


def path_prefixes(path: str) -> list[str]:
    """Every ancestor path of ``path``, itself included: "1.4.9." → ["1.", "1.4.", "1.4.9."]."""
    parts = [p for p in path.split(".") if p]
    return [".".join(parts[: i + 1]) + "." for i in range(len(parts))]


class OrgUnitKind(models.TextChoices):
    GROUP = "group", _("Group")
    REGION = "region", _("Region")
    BRANCH = "branch", _("Branch")
    DEPARTMENT = "department", _("Department")
    TEAM = "team", _("Team")


class OrgUnitQuerySet(ScopedQuerySet):
    def subtree_of(self, unit: OrgUnit) -> OrgUnitQuerySet:
        return self.filter(path__startswith=unit.path)


class OrgUnit(models.Model):
    """A node of the company's organisation: group → region → branch → department → team.

    ``path`` is a materialised path ("0001.0004.0012.") so a whole subtree is one indexed
    ``LIKE 'prefix%'`` query on SQLite and PostgreSQL alike.
    """

    scope_owner_field = "manager"
    scope_unit_field = "self"

    name = models.CharField(_("name"), max_length=120)
    code = models.SlugField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=OrgUnitKind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    manager = models.ForeignKey(
        "org.User",
        verbose_name=_("manager"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_units",
    )
    path = models.CharField(_("path"), max_length=255, unique=True, editable=False)
    depth = models.PositiveSmallIntegerField(_("depth"), default=0, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = ScopedManager.from_queryset(OrgUnitQuerySet)()

    class Meta:
        verbose_name = _("org unit")
        verbose_name_plural = _("org units")
        ordering = ["path"]
        indexes = [models.Index(fields=["kind"])]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_extra_q(cls, user, action):  # type: ignore[no-untyped-def]
        # Units are visible along a user's own branch of the tree and, for wider scopes, below it.
        if not user.org_unit_id:
            return None
        unit = user.org_unit
        return Q(path__in=path_prefixes(unit.path)) | Q(path__startswith=unit.path)

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        # The path needs the primary key, so a new unit is saved twice inside one transaction.
        if not self.path:
            from uuid import uuid4

            self.path = f"tmp-{uuid4().hex}"
            super().save(*args, **kwargs)
            self.path = (self.parent.path if self.parent_id else "") + f"{self.pk:04d}."
            self.depth = self.parent.depth + 1 if self.parent_id else 0
            kwargs.pop("force_insert", None)
            super().save(update_fields=["path", "depth"])
            return
        super().save(*args, **kwargs)

    def ancestors(self) -> models.QuerySet[OrgUnit]:
        return OrgUnit.objects.filter(path__in=path_prefixes(self.path)[:-1]).order_by("depth")

    def descendants(self, include_self: bool = False) -> models.QuerySet[OrgUnit]:
        qs = OrgUnit.objects.filter(path__startswith=self.path)
        return qs if include_self else qs.exclude(pk=self.pk)


class Role(models.Model):
    """A role a user holds; it carries a data scope and the permissions it grants."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=80)
    description = models.TextField(_("description"), blank=True)
    data_scope = models.CharField(_("data scope"), max_length=10, choices=Scope.choices, default=Scope.OWN)
    is_machine = models.BooleanField(
        _("machine role"), default=False, help_text=_("For integration users that only act through the API.")
    )
    permissions = models.ManyToManyField(Permission, verbose_name=_("permissions"), blank=True)

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["code"]

    def __str__(self) -> str:
        return str(_(self.name))


class Language(models.TextChoices):
    ZH_HANS = "zh-hans", "简体中文"
    EN = "en", "English"


class UserQuerySet(ScopedQuerySet):
    pass


class SteelyardUserManager(UserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    pass


class User(AbstractUser):
    """A person (or machine) who signs in. Belongs to one primary org unit and reports to a manager."""

    scope_owner_field = "id"
    scope_unit_field = "org_unit"

    display_name = models.CharField(_("display name"), max_length=80, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    title = models.CharField(_("job title"), max_length=80, blank=True)
    org_unit = models.ForeignKey(
        OrgUnit,
        verbose_name=_("primary org unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )
    manager = models.ForeignKey(
        "self",
        verbose_name=_("manager"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
    )
    roles = models.ManyToManyField(Role, verbose_name=_("roles"), blank=True, related_name="users")
    language = models.CharField(
        _("language"), max_length=10, choices=Language.choices, default=Language.ZH_HANS
    )
    is_machine = models.BooleanField(_("machine user"), default=False)

    objects = SteelyardUserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["username"]

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    @classmethod
    def scope_extra_q(cls, user, action):  # type: ignore[no-untyped-def]
        # Colleagues can always find the people they work with: a user's manager and direct reports.
        if action != "view":
            return None
        q = Q(manager_id=user.pk)
        if user.manager_id:
            q |= Q(pk=user.manager_id)
        return q

    def get_role_codes(self) -> set[str]:
        return set(self.roles.values_list("code", flat=True))


class PositionCategory(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    SALES = "sales", _("Sales")
    SOLUTION = "solution", _("Solution")
    DELIVERY = "delivery", _("Delivery")
    SERVICE = "service", _("Service")
    MANAGEMENT = "management", _("Management")
    SUPPORT = "support", _("Support")


class Qualification(models.Model):
    """A certificate or skill a person can hold, e.g. 'Crane solution engineer, level 2'."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    validity_months = models.PositiveIntegerField(
        _("validity (months)"), null=True, blank=True, help_text=_("Leave empty when it never expires.")
    )

    class Meta:
        verbose_name = _("qualification")
        verbose_name_plural = _("qualifications")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Position(models.Model):
    """A post in the organisation (marketing, sales, solution, delivery, service) with its duties."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    category = models.CharField(_("category"), max_length=20, choices=PositionCategory.choices)
    duties = models.TextField(_("duties"), blank=True)
    required_qualifications = models.ManyToManyField(
        Qualification, verbose_name=_("required qualifications"), blank=True, related_name="positions"
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("position")
        verbose_name_plural = _("positions")
        ordering = ["category", "code"]

    def __str__(self) -> str:
        return self.name


class UserQualificationQuerySet(ScopedQuerySet):
    def valid_on(self, day: dt.date) -> UserQualificationQuerySet:
        return self.filter(obtained_on__lte=day).filter(Q(expires_on__isnull=True) | Q(expires_on__gte=day))


class UserQualification(models.Model):
    """A qualification a user holds, with when it was obtained and when it expires."""

    scope_owner_field = "user"
    scope_unit_field = "user__org_unit"

    user = models.ForeignKey(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="qualifications"
    )
    qualification = models.ForeignKey(
        Qualification, verbose_name=_("qualification"), on_delete=models.PROTECT, related_name="holders"
    )
    obtained_on = models.DateField(_("obtained on"))
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    certificate_no = models.CharField(_("certificate number"), max_length=60, blank=True)

    objects = ScopedManager.from_queryset(UserQualificationQuerySet)()

    class Meta:
        verbose_name = _("user qualification")
        verbose_name_plural = _("user qualifications")
        ordering = ["expires_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "qualification", "obtained_on"], name="uq_user_qual_obtained"
            ),
        ]
        indexes = [models.Index(fields=["expires_on"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.qualification}"

    @property
    def is_expired(self) -> bool:
        return self.expires_on is not None and self.expires_on < timezone.localdate()


class PositionAssignment(models.Model):
    """A user holding a position (a person may hold more than one)."""

    scope_owner_field = "user"
    scope_unit_field = "user__org_unit"

    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="positions")
    position = models.ForeignKey(
        Position, verbose_name=_("position"), on_delete=models.PROTECT, related_name="assignments"
    )
    since = models.DateField(_("since"), default=dt.date.today)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("position assignment")
        verbose_name_plural = _("position assignments")
        constraints = [models.UniqueConstraint(fields=["user", "position"], name="uq_user_position")]

    def __str__(self) -> str:
        return f"{self.user} · {self.position}"
