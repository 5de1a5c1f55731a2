"""Reading visits and activities: lists, a customer's timeline, visit plans and the rep's day.

A *visit plan* is how often each customer must be visited: the customer's own
``visit_every_days``, else what the strategy menu in force gives its tier (``strategy_for``:
the tier's rule, else the untiered rule), else the ``VisitFrequencyDefault`` for its tier, else
the one for untiered customers. A private customer is *overdue for a visit* when its last
visit (or, never visited, the day its owner took it over) plus that frequency is before today.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.db.models import (
    Case,
    Count,
    DateField,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.filters import ListFilter
from steelyard.customers.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    Customer,
    VisitFrequencyDefault,
)

ABOUT_TO_RECYCLE_DAYS = 14
ONE_DAY = dt.timedelta(days=1)


# --- lists --------------------------------------------------------------------------------------


class ActivityFilter(ListFilter):
    """Filters of the activity list, shared by the page and the API."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    kind = forms.ChoiceField(
        label=_("Type"), required=False, choices=[("", _("All types")), *ActivityKind.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All statuses")), *ActivityStatus.choices]
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    customer = forms.IntegerField(required=False, widget=forms.HiddenInput)
    mine = forms.BooleanField(label=_("Only mine"), required=False)

    sort_fields = {"when": ("when",), "customer": ("customer__legal_name",), "created": ("created_at",)}
    default_sort = "-when"

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("q"):
            q = data["q"]
            queryset = queryset.filter(
                Q(subject__icontains=q)
                | Q(customer__legal_name__icontains=q)
                | Q(customer__short_name__icontains=q)
            )
        if data.get("kind"):
            queryset = queryset.filter(kind=data["kind"])
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        if data.get("customer"):
            queryset = queryset.filter(customer_id=data["customer"])
        if data.get("mine") and self.user is not None:
            queryset = queryset.filter(owner=self.user)
        tz = timezone.get_current_timezone()
        if data.get("date_from"):
            start = dt.datetime.combine(data["date_from"], dt.time.min, tzinfo=tz)
            queryset = queryset.filter(when__gte=start)
        if data.get("date_to"):
            end = dt.datetime.combine(data["date_to"] + ONE_DAY, dt.time.min, tzinfo=tz)
            queryset = queryset.filter(when__lt=end)
        return queryset


def _with_when(qs: QuerySet) -> QuerySet:
    # One time per activity: when it happened, else when it is planned, else when it was written down.
    return qs.annotate(when=Coalesce("occurred_at", "planned_at", "created_at", output_field=DateTimeField()))


def activity_list(*, user: Any, filters: dict[str, Any] | None = None) -> QuerySet[Activity]:
    """Activities the user can see (own; a manager's team; those they took part in), newest first."""
    qs = _with_when(Activity.objects.visible_to(user)).select_related("customer", "owner")
    if filters:
        qs = ActivityFilter(filters, user=user).apply(qs)
    else:
        qs = qs.order_by("-when", "-pk")
    return qs


def activity_get(*, user: Any, pk: int) -> Activity | None:
    return (
        Activity.objects.visible_to(user)
        .select_related("customer", "owner", "org_unit")
        .filter(pk=pk)
        .first()
    )


def activity_timeline(*, user: Any, customer: Customer, limit: int = 20) -> list[Activity]:
    """A customer's activities the user can see, newest first (done and planned)."""
    qs = _with_when(Activity.objects.visible_to(user).filter(customer=customer)).select_related("owner")
    return list(qs.order_by("-when", "-pk")[:limit])


# --- visit plans ---------------------------------------------------------------------------------


def visit_frequency_for(customer: Customer, *, menu: Any = None) -> int | None:
    """Days between required visits: the customer's own, else the strategy menu's for its tier,
    else its tier's ``VisitFrequencyDefault``, else the untiered one.

    None means no visit plan applies. ``menu`` is a ``MenuInForce`` already read (saves a query).
    """
    if customer.visit_every_days:
        return customer.visit_every_days
    from steelyard.tiering.selectors.strategy import strategy_for

    from_menu = strategy_for(customer, menu=menu).visit_every_days
    if from_menu:
        return from_menu
    defaults = dict(
        VisitFrequencyDefault.objects.filter(tier__in={customer.tier or "", ""}).values_list("tier", "days")
    )
    if customer.tier and customer.tier in defaults:
        return defaults[customer.tier]
    return defaults.get("")


def _menu_frequencies(menu: Any) -> tuple[dict[str, int | None], int | None]:
    """``({tier: days}, days of any other tier)`` the strategy menu in force gives (None: not set)."""
    if menu is None:
        from steelyard.tiering.selectors.strategy import menu_in_force

        menu = menu_in_force()
    return menu.tier_values("visit_every_days")


def _frequency_expression(menu_days: tuple[dict[str, int | None], int | None] | None = None) -> Coalesce:
    """The required frequency in SQL: own, else the menu's for the tier (a CASE over the tiers the
    menu names), else the tier's ``VisitFrequencyDefault``, else the untiered one."""
    tier_default = (
        VisitFrequencyDefault.objects.filter(tier=OuterRef("tier")).exclude(tier="").values("days")[:1]
    )
    untiered = VisitFrequencyDefault.objects.filter(tier="").values("days")[:1]
    named, other = menu_days if menu_days is not None else _menu_frequencies(None)
    from_menu = Case(
        *(When(tier=t, then=Value(d, output_field=IntegerField())) for t, d in sorted(named.items())),
        default=Value(other or None, output_field=IntegerField()),
        output_field=IntegerField(),
    )
    return Coalesce(
        F("visit_every_days"),
        from_menu,
        Subquery(tier_default, output_field=IntegerField()),
        Subquery(untiered, output_field=IntegerField()),
        output_field=IntegerField(),
    )


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def visits_overdue(*, user: Any, team: bool = False, today: dt.date | None = None) -> QuerySet[Customer]:
    """Private customers in scope whose required visit is past, most overdue first.

    Each row carries ``visit_frequency`` (days) and ``days_overdue`` (a timedelta; use ``.days``),
    both computed by the database. ``team=False`` keeps the user's own customers; ``team=True``
    everything in their scope.

    Adding "frequency days" to a timestamp is not portable between SQLite and PostgreSQL, so the
    comparison is made per frequency bucket instead: for each distinct frequency ``f`` (a handful:
    the tier defaults and the customers' own), a customer is overdue when its last visit was before
    local midnight of ``today - f``. Both sides of every comparison are plain timestamps.
    """
    today = today or timezone.localdate()
    qs = Customer.objects.visible_to(user).private().filter(merged_into__isnull=True)
    if not team:
        qs = qs.filter(owner=user)
    menu_days = _menu_frequencies(None)
    frequencies = set(VisitFrequencyDefault.objects.values_list("days", flat=True))
    frequencies |= {d for d in (*menu_days[0].values(), menu_days[1]) if d}
    frequencies |= set(
        qs.exclude(visit_every_days__isnull=True)
        .order_by()
        .values_list("visit_every_days", flat=True)
        .distinct()
    )
    frequencies.discard(0)
    if not frequencies:
        return qs.none()
    qs = qs.annotate(
        visit_frequency=_frequency_expression(menu_days),
        visit_base=Coalesce("last_visit_at", "owned_since", "created_at", output_field=DateTimeField()),
    )
    due = Q(pk__in=[])
    overdue_by: list[When] = []
    for f in sorted(frequencies):
        threshold = today - dt.timedelta(days=f)
        due |= Q(visit_frequency=f, visit_base__lt=_local_midnight(threshold))
        overdue_by.append(
            When(
                visit_frequency=f,
                then=ExpressionWrapper(
                    Value(threshold, output_field=DateField()) - TruncDate("visit_base"),
                    output_field=DurationField(),
                ),
            )
        )
    return (
        qs.filter(due)
        .annotate(days_overdue=Case(*overdue_by, output_field=DurationField()))
        .select_related("owner")
        .order_by("-days_overdue", "pk")
    )


def visits_overdue_by_rep(*, user: Any, today: dt.date | None = None) -> list[dict[str, Any]]:
    """The team's overdue visits counted per rep (a GROUP BY), most first."""
    from steelyard.org.models import User

    rows = (
        visits_overdue(user=user, team=True, today=today)
        .order_by()
        .values("owner")
        .annotate(n=Count("pk", distinct=True))
        .order_by("-n", "owner")
    )
    counts = {r["owner"]: r["n"] for r in rows}
    people = User.objects.in_bulk(list(counts))
    return [{"owner": people[pk], "count": n} for pk, n in counts.items() if pk in people]


# --- the rep's day --------------------------------------------------------------------------------


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, start + ONE_DAY


def my_day(*, user: Any, today: dt.date | None = None, limit: int = 20) -> dict[str, Any]:
    """What a rep should do today: planned visits, overdue follow-ups, customers about to be recycled, overdue visits."""
    today = today or timezone.localdate()
    start, end = _day_bounds(today)
    mine = Activity.objects.visible_to(user).filter(owner=user).select_related("customer")
    planned = mine.filter(status=ActivityStatus.PLANNED)
    todays = list(
        planned.filter(planned_at__gte=start, planned_at__lt=end).order_by("planned_at", "pk")[:limit]
    )
    overdue_followups = list(planned.filter(planned_at__lt=start).order_by("planned_at", "pk")[:limit])
    recycling = list(
        Customer.objects.visible_to(user)
        .filter(
            owner=user,
            recycle_at__isnull=False,
            recycle_at__lte=today + dt.timedelta(days=ABOUT_TO_RECYCLE_DAYS),
        )
        .order_by("recycle_at", "pk")[:limit]
    )
    for c in recycling:
        c.days_left = (c.recycle_at - today).days  # type: ignore[attr-defined]
    overdue_visits = list(visits_overdue(user=user, today=today)[:limit])
    return {
        "today": today,
        "todays_visits": todays,
        "overdue_followups": overdue_followups,
        "recycling": recycling,
        "overdue_visits": overdue_visits,
    }
