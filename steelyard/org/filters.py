"""The filter sets of the organisation lists, shared by the HTML pages and the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from steelyard.core.filters import ListFilter
from steelyard.org.models import OrgUnit, OrgUnitKind, PositionCategory, Role

ACTIVE_CHOICES = [("", _("Active and inactive")), ("1", _("Active")), ("0", _("Inactive"))]


def _active(qs: QuerySet, value: str | None) -> QuerySet:
    if value in ("1", "0"):
        return qs.filter(is_active=value == "1")
    return qs


class UserFilter(ListFilter):
    """Filters of the people list: search, unit (with its whole subtree), role, active."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    unit = forms.ModelChoiceField(
        label=_("Org unit"), queryset=OrgUnit.objects.none(), required=False, empty_label=_("All units")
    )
    role = forms.ModelChoiceField(
        label=_("Role"),
        queryset=Role.objects.all(),
        to_field_name="code",
        required=False,
        empty_label=_("All roles"),
    )
    active = forms.ChoiceField(label=_("Status"), choices=ACTIVE_CHOICES, required=False)

    sort_fields = {
        "name": ("display_name", "username"),
        "username": ("username",),
        "unit": ("org_unit__path",),
        "joined": ("date_joined",),
        "last_login": ("last_login",),
    }
    default_sort = "name"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        # Only units the user can see may be chosen; an id outside them is a form error.
        self.fields["unit"].queryset = OrgUnit.objects.visible_to(user).order_by("path")  # type: ignore[attr-defined]
        self.fields["unit"].label_from_instance = lambda u: f"{'— ' * u.depth}{u.name}"  # type: ignore[attr-defined]

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("q"):
            q = data["q"]
            queryset = queryset.filter(
                Q(username__icontains=q)
                | Q(display_name__icontains=q)
                | Q(first_name__icontains=q)
                | Q(last_name__icontains=q)
                | Q(email__icontains=q)
                | Q(phone__icontains=q)
            )
        if data.get("unit"):
            queryset = queryset.filter(org_unit__path__startswith=data["unit"].path)
        if data.get("role"):
            queryset = queryset.filter(roles=data["role"])
        return _active(queryset, data.get("active"))


class OrgUnitFilter(ListFilter):
    """Filters of the org-unit tree; the tree is always in path order."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("", _("All kinds")), *OrgUnitKind.choices], required=False
    )
    active = forms.ChoiceField(label=_("Status"), choices=ACTIVE_CHOICES, required=False)

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("q"):
            queryset = queryset.filter(Q(name__icontains=data["q"]) | Q(code__icontains=data["q"]))
        if data.get("kind"):
            queryset = queryset.filter(kind=data["kind"])
        return _active(queryset, data.get("active")).order_by("path")


class PositionFilter(ListFilter):
    """Filters of the positions list."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    category = forms.ChoiceField(
        label=_("Category"), choices=[("", _("All categories")), *PositionCategory.choices], required=False
    )

    sort_fields = {"name": ("name",), "code": ("code",), "category": ("category", "code")}
    default_sort = "category"

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("q"):
            queryset = queryset.filter(Q(name__icontains=data["q"]) | Q(code__icontains=data["q"]))
        if data.get("category"):
            queryset = queryset.filter(category=data["category"])
        return queryset
