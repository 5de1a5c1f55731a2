"""The filter set of the customer list, shared by the page, the export and the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.filters import ListFilter
from steelyard.customers.models import CompanySize, CustomerStatus, Industry, Tag
from steelyard.customers.regions import PROVINCE_CHOICES
from steelyard.org.models import OrgUnit, User

SCOPE_ALL, SCOPE_MINE, SCOPE_POOL = "all", "mine", "pool"
NEW_CHOICES = [
    ("", _("New and existing")),
    ("new", _("New customers")),
    ("existing", _("Existing customers")),
]
SCOPE_CHOICES = [
    ("", _("All I can see")),
    (SCOPE_MINE, _("Mine")),
    (SCOPE_POOL, _("In the pool")),
]
KEY_CHOICES = [("", _("Any")), ("1", _("Key accounts")), ("0", _("Not key accounts"))]


class CustomerFilter(ListFilter):
    """Search, status, industry, province, owner, unit (subtree), tier, key account, new/existing,
    tag, mine / in the pool / all, and "returns to the pool within N days"."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        help_text=_("Name, short name, pinyin, pinyin initials or credit code."),
    )
    scope = forms.ChoiceField(label=_("Show"), choices=SCOPE_CHOICES, required=False)
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All statuses")), *CustomerStatus.choices], required=False
    )
    industry = forms.ChoiceField(
        label=_("Industry"), choices=[("", _("All industries")), *Industry.choices], required=False
    )
    province = forms.ChoiceField(
        label=_("Province"), choices=[("", _("All provinces")), *PROVINCE_CHOICES], required=False
    )
    owner = forms.ModelChoiceField(
        label=_("Owner"), queryset=User.objects.none(), required=False, empty_label=_("Any owner")
    )
    unit = forms.ModelChoiceField(
        label=_("Org unit"), queryset=OrgUnit.objects.none(), required=False, empty_label=_("All units")
    )
    tier = forms.CharField(label=_("Tier"), required=False, max_length=20)
    size = forms.ChoiceField(
        label=_("Size"), choices=[("", _("Any size")), *CompanySize.choices], required=False
    )
    key = forms.ChoiceField(label=_("Key account"), choices=KEY_CHOICES, required=False)
    new = forms.ChoiceField(label=_("New / existing"), choices=NEW_CHOICES, required=False)
    tag = forms.ModelChoiceField(
        label=_("Tag"), queryset=Tag.objects.all(), required=False, empty_label=_("Any tag")
    )
    recycle_within = forms.IntegerField(
        label=_("Returns to the pool within (days)"), required=False, min_value=0, max_value=3650
    )

    sort_fields = {
        "name": ("legal_name",),
        "updated": ("updated_at",),
        "recycle": ("recycle_at",),
        "created": ("created_at",),
    }
    default_sort = "name"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        if user is not None:
            # Only the columns the option labels need: at 500+ users the full rows dominate the page.
            self.fields["owner"].queryset = (
                User.objects.visible_to(user)  # type: ignore[attr-defined]
                .filter(is_active=True, is_machine=False)
                .only("id", "username", "display_name", "first_name", "last_name")
                .order_by("display_name", "username")
            )
            self.fields["unit"].queryset = (
                OrgUnit.objects.visible_to(user).only("id", "name", "depth", "path").order_by("path")  # type: ignore[attr-defined]
            )
            self.fields["unit"].label_from_instance = lambda u: f"{'— ' * u.depth}{u.name}"  # type: ignore[attr-defined]

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        from steelyard.customers.selectors.customers import search_q

        if data.get("q"):
            queryset = queryset.filter(search_q(data["q"]))
        scope = data.get("scope")
        if scope == SCOPE_MINE and self.user is not None:
            queryset = queryset.filter(owner=self.user)
        elif scope == SCOPE_POOL:
            queryset = queryset.filter(owner__isnull=True)
        for name in ("status", "industry", "province", "size", "tier"):
            if data.get(name):
                queryset = queryset.filter(**{name: data[name]})
        if data.get("owner"):
            queryset = queryset.filter(owner=data["owner"])
        if data.get("unit"):
            queryset = queryset.filter(org_unit__path__startswith=data["unit"].path)
        if data.get("key") in ("1", "0"):
            queryset = queryset.filter(is_key_account=data["key"] == "1")
        if data.get("new") == "new":
            queryset = queryset.filter(first_order_date__isnull=True)
        elif data.get("new") == "existing":
            queryset = queryset.filter(first_order_date__isnull=False)
        if data.get("tag"):
            queryset = queryset.filter(tags=data["tag"])
        if data.get("recycle_within") is not None:
            until = timezone.localdate() + dt.timedelta(days=data["recycle_within"])
            queryset = queryset.filter(owner__isnull=False, recycle_at__isnull=False, recycle_at__lte=until)
        return queryset
