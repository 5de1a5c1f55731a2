"""Built-in approval kinds and the approvals entry points (menu item, home widget).

Imported once at start-up (``CoreConfig.ready``). ``org.role_grant`` is the kind the platform uses today: a
manager asks for roles to be granted to one of their reports and an administrator decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from steelyard.core.access import user_has_role
from steelyard.core.registry import HomeWidget, MenuItem, registry
from steelyard.core.services.approvals import approval_kind_register

if TYPE_CHECKING:
    from steelyard.core.models import ApprovalRequest
    from steelyard.org.models import User

ROLE_GRANT = "org.role_grant"

ERR_NOT_A_MANAGER = _("Only managers can ask for roles for their team members.")
ERR_NO_ROLES = _("Choose at least one role to add.")
ERR_UNKNOWN_ROLE = _("Unknown role: %(code)s.")
ERR_ROLES_HELD = _("The person already holds every role asked for.")
ERR_NOT_FOR_SELF = _("You cannot ask for roles for yourself here; ask your manager.")


def user_is_manager(user: Any) -> bool:
    """A manager: holds a managing role or has active direct reports."""
    from steelyard.org.roles import MANAGERS

    if not getattr(user, "is_authenticated", False):
        return False
    return user_has_role(user, *MANAGERS) or user.reports.filter(is_active=True).exists()


def _requested_codes(requested_change: dict[str, Any]) -> list[str]:
    codes = requested_change.get("add_roles") if isinstance(requested_change, dict) else None
    if not isinstance(codes, list):
        return []
    return [str(c) for c in codes if c]


def role_grant_check(*, actor: User, subject: User, requested_change: dict[str, Any]) -> None:
    from steelyard.org.models import Role

    if not user_is_manager(actor):
        raise PermissionDenied(ERR_NOT_A_MANAGER)
    if subject.pk == actor.pk:
        raise ValidationError(ERR_NOT_FOR_SELF)
    codes = _requested_codes(requested_change)
    if not codes:
        raise ValidationError({"requested_change": ERR_NO_ROLES})
    known = set(Role.objects.filter(code__in=codes, is_machine=False).values_list("code", flat=True))
    for code in codes:
        if code not in known:
            raise ValidationError(
                {"requested_change": ValidationError(ERR_UNKNOWN_ROLE, params={"code": code})}
            )
    if set(codes) <= set(subject.roles.values_list("code", flat=True)):
        raise ValidationError({"requested_change": ERR_ROLES_HELD})


def role_grant_apply(request: ApprovalRequest, actor: User) -> None:
    """Add the roles asked for through the org module's own service (audited there)."""
    from steelyard.org.models import Role, User
    from steelyard.org.services import user_update

    user = User.objects.get(pk=request.object_id)
    codes = _requested_codes(request.requested_change)
    roles = {r.pk: r for r in user.roles.all()}
    roles.update({r.pk: r for r in Role.objects.filter(code__in=codes, is_machine=False)})
    user_update(actor=actor, user=user, roles=list(roles.values()))


def role_grant_describe(requested_change: dict[str, Any]) -> list[tuple[Any, Any]]:
    from steelyard.org.models import Role

    codes = _requested_codes(requested_change)
    names = {r.code: str(r) for r in Role.objects.filter(code__in=codes)}
    return [(_("Roles to add"), ", ".join(names.get(c, c) for c in codes))]


approval_kind_register(
    ROLE_GRANT,
    label=_("Role grant"),
    on_approved=role_grant_apply,
    default_steps=[{"type": "role", "role": "administrator"}],
    subject_model="org.User",
    check=role_grant_check,
    change_labels={"add_roles": _("Roles to add")},
    describe_change=role_grant_describe,
)


def _waiting_widget_context(request: HttpRequest) -> dict[str, Any]:
    from steelyard.core.selectors.approvals import approvals_waiting_for

    items = list(approvals_waiting_for(request.user)[:6])
    return {"items": items[:5], "more": len(items) > 5}


registry.add_menu(
    MenuItem(
        key="approvals",
        label=_("Approvals"),
        url_name="approval_list",
        icon="check2-square",
        order=20,
        bottom_nav=True,
    )
)
registry.add_home(
    HomeWidget(
        key="approvals_waiting",
        template="core/approvals/_home_widget.html",
        context=_waiting_widget_context,
        order=10,
    )
)
