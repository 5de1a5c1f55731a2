"""Reads for people and organisation, always scoped to the user asking."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from steelyard.org.filters import OrgUnitFilter, PositionFilter, UserFilter
from steelyard.org.models import (
    OrgUnit,
    Position,
    PositionAssignment,
    Qualification,
    Role,
    User,
    UserQualification,
)


def org_unit_list(*, user: User, filters: Mapping[str, Any] | None = None) -> QuerySet[OrgUnit]:
    """Units ``user`` can see, in tree (path) order, with their count of active members."""
    qs = OrgUnit.objects.visible_to(user).select_related("parent", "manager")
    qs = OrgUnitFilter(filters or {}, user=user).apply(qs)
    return qs.annotate(member_count=Count("members", filter=Q(members__is_active=True)))


def user_list(*, user: User, filters: Mapping[str, Any] | None = None) -> QuerySet[User]:
    """People ``user`` can see, with unit, manager and roles loaded for a list (no N+1)."""
    qs = User.objects.visible_to(user).select_related("org_unit", "manager").prefetch_related("roles")
    return UserFilter(filters or {}, user=user).apply(qs)


def user_get(*, user: User, pk: Any) -> User:
    """One person ``user`` can see, or 404."""
    return get_object_or_404(User.objects.visible_to(user).select_related("org_unit", "manager"), pk=pk)


def user_direct_reports(*, user: User, person: User) -> QuerySet[User]:
    return (
        User.objects.visible_to(user)
        .filter(manager=person, is_active=True)
        .select_related("org_unit")
        .prefetch_related("roles")
        .order_by("display_name", "username")
    )


def user_qualifications(*, user: User, person: User) -> QuerySet[UserQualification]:
    return (
        UserQualification.objects.visible_to(user)
        .filter(user=person)
        .select_related("qualification")
        .order_by("qualification__name", "-obtained_on")
    )


def user_positions(*, user: User, person: User) -> QuerySet[PositionAssignment]:
    return (
        PositionAssignment.objects.visible_to(user)
        .filter(user=person)
        .select_related("position")
        .order_by("position__name")
    )


def role_list(*, user: User) -> QuerySet[Role]:
    """Every role (roles are configuration, not scoped data) with its count of active holders."""
    return Role.objects.annotate(user_count=Count("users", filter=Q(users__is_active=True))).order_by("code")


def position_list(*, user: User, filters: Mapping[str, Any] | None = None) -> QuerySet[Position]:
    """Positions (configuration, visible to every signed-in user) with their required qualifications."""
    qs = Position.objects.prefetch_related("required_qualifications").annotate(
        holder_count=Count("assignments", distinct=True)
    )
    return PositionFilter(filters or {}, user=user).apply(qs)


def qualification_list(*, user: User) -> QuerySet[Qualification]:
    """Qualifications with how many people hold one that is valid today."""
    today = timezone.localdate()
    valid = Q(holders__obtained_on__lte=today) & (
        Q(holders__expires_on__isnull=True) | Q(holders__expires_on__gte=today)
    )
    return Qualification.objects.annotate(holder_count=Count("holders", filter=valid)).order_by("code")


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
    """Qualifications ``user`` can see (own, team's, subtree's) that expire within ``within_days``."""
    today = timezone.localdate()
    return (
        UserQualification.objects.visible_to(user)
        .filter(expires_on__gte=today, expires_on__lte=today + dt.timedelta(days=within_days))
        .select_related("user", "qualification")
        .order_by("expires_on", "pk")
    )
