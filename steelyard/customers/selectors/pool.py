"""Reads of the public pool: my pools, their customers, my customers about to return."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.customers.models import Customer, OwnershipAction, OwnershipEvent, Pool

ABOUT_TO_RETURN_DAYS = 14


def pool_list(*, user: Any) -> QuerySet[Pool]:
    """Pools the user is a member or administrator of (administrators: every pool)."""
    if not getattr(user, "is_authenticated", False):
        return Pool.objects.none()
    if user_has_role(user, ADMINISTRATOR):
        return Pool.objects.select_related("org_unit").order_by("name")
    ids = Pool.objects.filter(Q(members=user.pk) | Q(admins=user.pk)).values("pk")
    return Pool.objects.filter(pk__in=ids).select_related("org_unit").order_by("name")


def pool_get(*, user: Any, pk: int) -> Pool | None:
    return pool_list(user=user).filter(pk=pk).first()


def pool_customer_list(*, user: Any, pools: QuerySet[Pool] | list[Pool] | None = None) -> QuerySet[Customer]:
    """Unowned customers of the user's pools (or of ``pools``), scoped through ``visible_to``."""
    pools = pool_list(user=user) if pools is None else pools
    pool_ids = [p.pk for p in pools]
    return (
        Customer.objects.visible_to(user)
        .in_pool()
        .filter(pool_id__in=pool_ids)
        .select_related("pool", "previous_owner")
    )


def customers_about_to_return(*, user: Any, days: int = ABOUT_TO_RETURN_DAYS) -> QuerySet[Customer]:
    """The user's own private customers whose recycle date is within ``days``."""
    today = timezone.localdate()
    return (
        Customer.objects.visible_to(user)
        .filter(owner_id=user.pk, recycle_at__isnull=False, recycle_at__lte=today + dt.timedelta(days=days))
        .order_by("recycle_at", "pk")
    )


def customer_ownership_history(*, customer: Customer) -> QuerySet[OwnershipEvent]:
    """Ownership events of a customer the caller may already see (newest first)."""
    return customer.ownership_events.select_related("from_owner", "to_owner", "actor")


def claims_today_count(*, user: Any) -> int:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return OwnershipEvent.objects.filter(
        to_owner_id=user.pk, action=OwnershipAction.CLAIM, at__gte=start
    ).count()
