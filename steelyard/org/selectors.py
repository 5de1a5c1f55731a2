"""Reads for people and organisation, always scoped to the user asking."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from steelyard.org.models import OrgUnit, Position, Qualification, Role, User, UserQualification


def org_unit_list(*, user: User, filters: dict[str, Any] | None = None) -> QuerySet[OrgUnit]:
    qs = OrgUnit.objects.visible_to(user).select_related("parent", "manager")
    f = filters or {}
    if f.get("q"):
        qs = qs.filter(Q(name__icontains=f["q"]) | Q(code__icontains=f["q"]))
    if f.get("kind"):
        qs = qs.filter(kind=f["kind"])
    if f.get("active") in ("1", "0", True, False):
        qs = qs.filter(is_active=f["active"] in ("1", True))
    return qs.annotate(member_count=Count("members", filter=Q(members__is_active=True)))


def user_list(*, user: User, filters: dict[str, Any] | None = None) -> QuerySet[User]:
    qs = User.objects.visible_to(user).select_related("org_unit", "manager").prefetch_related("roles")
    f = filters or {}
    if f.get("q"):
        q = f["q"]
        qs = qs.filter(
            Q(username__icontains=q)
            | Q(display_name__icontains=q)
            | Q(email__icontains=q)
            | Q(phone__icontains=q)
        )
    if f.get("role"):
        qs = qs.filter(roles__code=f["role"])
    if f.get("unit"):
        unit = OrgUnit.objects.filter(pk=f["unit"]).first()
        qs = qs.filter(org_unit__path__startswith=unit.path) if unit else qs.none()
    if f.get("active") in ("1", "0", True, False):
        qs = qs.filter(is_active=f["active"] in ("1", True))
    return qs


def role_list(*, user: User) -> QuerySet[Role]:
    return Role.objects.annotate(user_count=Count("users", filter=Q(users__is_active=True)))


def position_list(*, user: User, filters: dict[str, Any] | None = None) -> QuerySet[Position]:
    qs = Position.objects.prefetch_related("required_qualifications")
    f = filters or {}
    if f.get("q"):
        qs = qs.filter(Q(name__icontains=f["q"]) | Q(code__icontains=f["q"]))
    if f.get("category"):
        qs = qs.filter(category=f["category"])
    return qs


def user_missing_qualifications(
    *, user: User, position: Position, on: dt.date | None = None
) -> list[Qualification]:
    """The position's required qualifications that ``user`` does not hold valid on ``on`` (today)."""
    day = on or timezone.localdate()
    held = set(
        UserQualification.objects.filter(user=user).valid_on(day).values_list("qualification_id", flat=True)
    )
    return [q for q in position.required_qualifications.all() if q.pk not in held]


def qualifications_expiring(*, user: User, within_days: int = 30) -> QuerySet[UserQualification]:
    today = timezone.localdate()
    return (
        UserQualification.objects.visible_to(user)
        .filter(expires_on__gte=today, expires_on__lte=today + dt.timedelta(days=within_days))
        .select_related("user", "qualification")
    )
