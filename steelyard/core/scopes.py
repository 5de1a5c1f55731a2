"""Record-level data scopes: the one place that decides which rows a user may see.

Every selector, view, API route, export and search reaches records through
``Model.objects.visible_to(user, action)``. A model opts in by using
:class:`ScopedQuerySet` (or :class:`ScopedManager`) and declaring where its owner and
owning org unit live::

    class Customer(models.Model):
        scope_owner_field = "owner"          # user who owns the record
        scope_unit_field = "org_unit"        # org unit that owns the record
        objects = ScopedManager()

        @classmethod
        def scope_extra_q(cls, user, action):   # optional: e.g. the public pool
            return Q(owner__isnull=True, pool__members=user)

A user's scope is the widest scope of their roles (own < team < subtree < all).
Deny by default: an anonymous or inactive user sees nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from steelyard.core.request_context import request_memo

if TYPE_CHECKING:
    from steelyard.org.models import User


class Scope(models.TextChoices):
    OWN = "own", _("Own records")
    TEAM = "team", _("Own team")
    SUBTREE = "subtree", _("Org subtree")
    ALL = "all", _("Everything")


SCOPE_ORDER = {Scope.OWN: 0, Scope.TEAM: 1, Scope.SUBTREE: 2, Scope.ALL: 3}

VIEW = "view"
CHANGE = "change"
DELETE = "delete"


def user_scope(user: Any) -> str | None:
    """The widest data scope of the user's roles; None for anonymous or inactive users."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Scope.ALL
    cached = getattr(user, "_scope_cache", None)
    if cached is not None:
        return cached
    scopes = list(user.roles.values_list("data_scope", flat=True))
    best = max(scopes, key=lambda s: SCOPE_ORDER.get(s, -1), default=Scope.OWN)
    user._scope_cache = best
    return best


def scope_q(model: type[models.Model], user: User, action: str = VIEW) -> Q | None:
    """The filter for ``user`` on ``model``; None means no restriction (scope 'all').

    ``scope_owner_field`` names the owning user ("id" when the row *is* the user);
    ``scope_unit_field`` names the owning org unit ("self" when the row *is* the unit).
    """
    scope = user_scope(user)
    if scope == Scope.ALL:
        return None
    owner_field = getattr(model, "scope_owner_field", None)
    unit_field = getattr(model, "scope_unit_field", None)
    unit_prefix = "" if unit_field == "self" else f"{unit_field}__"
    q = Q(pk__in=[])
    if owner_field:
        q |= Q(**{owner_field: user.pk})
    # Membership is resolved to id lists/subqueries first, so the main query filters on indexed
    # columns of its own table (owner_id IN (...), org_unit_id IN (...)) instead of joining users.
    if scope == Scope.TEAM:
        # The team: records owned by people who report to me, or owned by my own unit.
        from steelyard.org.models import User as UserModel

        if owner_field:
            reports = request_memo(
                ("scope.reports", user.pk),
                lambda: list(UserModel.objects.filter(manager_id=user.pk).values_list("pk", flat=True)),
            )
            if reports:
                q |= Q(**{f"{owner_field}__in": reports})
        if unit_field and user.org_unit_id:
            q |= Q(**{f"{unit_prefix}pk": user.org_unit_id})
    elif scope == Scope.SUBTREE and user.org_unit_id:
        from steelyard.org.models import OrgUnit
        from steelyard.org.models import User as UserModel

        path = user.org_unit.path
        units = OrgUnit.objects.filter(path__startswith=path).values("pk")
        if unit_field:
            q |= Q(**{f"{unit_prefix}pk__in": units})
        if owner_field:
            q |= Q(**{f"{owner_field}__in": UserModel.objects.filter(org_unit__in=units).values("pk")})
    extra = getattr(model, "scope_extra_q", None)
    if extra is not None:
        extra_q = extra(user, action)
        if extra_q is not None:
            q |= extra_q
    return q


class ScopedQuerySet(models.QuerySet):
    def visible_to(self, user: Any, action: str = VIEW) -> ScopedQuerySet:
        """Rows of this queryset that ``user`` may ``action``; none for anonymous users."""
        if user_scope(user) is None:
            return self.none()
        q = scope_q(self.model, user, action)
        if q is None:
            return self
        # distinct() only when an extra clause may join to-many relations.
        qs = self.filter(q)
        if getattr(self.model, "scope_extra_distinct", False):
            qs = qs.distinct()
        return qs


class ScopedManager(models.Manager.from_queryset(ScopedQuerySet)):  # type: ignore[misc]
    pass
