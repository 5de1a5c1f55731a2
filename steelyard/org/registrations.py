"""What the org module adds to the shell: menu entries, search providers, home widgets."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.registry import HomeWidget, MenuItem, SearchProvider, SearchResult, registry
from steelyard.org import selectors
from steelyard.org.models import OrgUnit, OrgUnitKind, User
from steelyard.org.roles import MANAGERS

GROUP = _("Organisation")

# --- menu -------------------------------------------------------------------------------

registry.add_menu(MenuItem("org.users", _("People"), "org_user_list", icon="people", group=GROUP, order=900))
registry.add_menu(
    MenuItem("org.units", _("Org units"), "org_unit_list", icon="diagram-3", group=GROUP, order=910)
)
registry.add_menu(
    MenuItem(
        "org.positions",
        _("Positions & qualifications"),
        "org_position_list",
        icon="award",
        group=GROUP,
        order=920,
    )
)
registry.add_menu(
    MenuItem(
        "org.roles",
        _("Roles"),
        "org_role_list",
        icon="shield-check",
        group=GROUP,
        order=930,
        roles=(ADMINISTRATOR,),
    )
)
registry.add_menu(
    MenuItem(
        "core.audit",
        _("Audit log"),
        "audit_list",
        icon="journal-text",
        group=GROUP,
        order=940,
        roles=(ADMINISTRATOR,),
    )
)

# --- global search ------------------------------------------------------------------------


def search_users(user: Any, q: str, limit: int) -> list[SearchResult]:
    """People the searcher can see whose name, username, phone or email contains ``q``."""
    rows = (
        User.objects.visible_to(user)
        .filter(
            Q(username__icontains=q)
            | Q(display_name__icontains=q)
            | Q(phone__icontains=q)
            | Q(email__icontains=q)
        )
        .select_related("org_unit")
        .order_by("-is_active", "display_name", "username")[:limit]
    )
    return [
        SearchResult(
            kind=_("Person"),
            title=str(p),
            url=reverse("org_user_detail", args=[p.pk]),
            subtitle=" · ".join(s for s in (p.title, str(p.org_unit or ""), p.phone) if s),
        )
        for p in rows
    ]


def search_units(user: Any, q: str, limit: int) -> list[SearchResult]:
    rows = (
        OrgUnit.objects.visible_to(user)
        .filter(Q(name__icontains=q) | Q(code__icontains=q))
        .order_by("path")[:limit]
    )
    return [
        SearchResult(
            kind=_("Org unit"),
            title=u.name,
            url=f"{reverse('org_user_list')}?unit={u.pk}",
            subtitle=f"{u.get_kind_display()} · {u.code}",
        )
        for u in rows
    ]


registry.add_search(SearchProvider("org.users", _("People"), search_users, order=900))
registry.add_search(SearchProvider("org.units", _("Org units"), search_units, order=910))

# --- home widgets -------------------------------------------------------------------------


def my_team_context(request: Any) -> dict[str, Any]:
    return {"reports": list(selectors.user_direct_reports(user=request.user, person=request.user)[:20])}


def qualifications_expiring_context(request: Any) -> dict[str, Any]:
    """Own qualifications expiring within 30 days; a manager also sees their team's."""
    days = 30
    qs = selectors.qualifications_expiring(user=request.user, within_days=days)
    if not user_has_role(request.user, *MANAGERS):
        qs = qs.filter(user=request.user)
    return {"rows": list(qs[:10]), "days": days}


def org_glance_context(request: Any) -> dict[str, Any]:
    """Counts computed by the database: active people per role, active units per kind."""
    roles = selectors.role_list(user=request.user).filter(user_count__gt=0)
    kind_labels = dict(OrgUnitKind.choices)
    kinds = (
        OrgUnit.objects.visible_to(request.user)
        .filter(is_active=True)
        .values("kind")
        .annotate(count=Count("pk"))
        .order_by("kind")
    )
    return {
        "roles": list(roles),
        "kinds": [{"label": kind_labels.get(k["kind"], k["kind"]), "count": k["count"]} for k in kinds],
        "active_users": User.objects.visible_to(request.user).filter(is_active=True).count(),
    }


registry.add_home(
    HomeWidget("org.my_team", "org/widgets/my_team.html", my_team_context, roles=MANAGERS, order=500)
)
registry.add_home(
    HomeWidget(
        "org.qualifications_expiring",
        "org/widgets/qualifications_expiring.html",
        qualifications_expiring_context,
        order=510,
    )
)
registry.add_home(
    HomeWidget(
        "org.glance",
        "org/widgets/org_glance.html",
        org_glance_context,
        roles=(ADMINISTRATOR,),
        order=520,
        width="col-12",
    )
)
