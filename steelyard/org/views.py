"""Organisation pages: org units, people, roles, positions & qualifications, my profile.

Reads go through ``steelyard.org.selectors`` (scoped to the signed-in user; out of scope is
404), writes through ``steelyard.org.services`` (audited). Writes are for administrators.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.core.scopes import CHANGE
from steelyard.core.selectors.audit import audit_for_object
from steelyard.org import selectors, services
from steelyard.org.filters import OrgUnitFilter, PositionFilter, UserFilter
from steelyard.org.forms import (
    SCOPE_LABELS,
    OrgUnitForm,
    PasswordSetForm,
    PositionAssignForm,
    PositionForm,
    ProfileForm,
    QualificationForm,
    QualificationGrantForm,
    RoleCreateForm,
    RoleForm,
    UserForm,
    apply_service_error,
)
from steelyard.org.models import (
    OrgUnit,
    Position,
    PositionAssignment,
    Qualification,
    Role,
    User,
    UserQualification,
)
from steelyard.org.roles import MANAGERS, SEEDED_ROLES

SEEDED_ROLE_CODES = frozenset(code for code, *_rest in SEEDED_ROLES)
EXPIRING_WITHIN_DAYS = 30


def _is_admin(request: HttpRequest) -> bool:
    return access.user_has_role(request.user, access.ADMINISTRATOR)


def _with_state(quals: Any) -> list[UserQualification]:
    """Tag each held qualification "expired", "expiring" (within 30 days) or "valid" for its badge."""
    today = timezone.localdate()
    soon = today + dt.timedelta(days=EXPIRING_WITHIN_DAYS)
    rows = list(quals)
    for uq in rows:
        if uq.expires_on is None or uq.expires_on > soon:
            uq.state = "valid"  # type: ignore[attr-defined]
        elif uq.expires_on < today:
            uq.state = "expired"  # type: ignore[attr-defined]
        else:
            uq.state = "expiring"  # type: ignore[attr-defined]
    return rows


def _form_page(request: HttpRequest, form: Any, *, title: str, cancel_url: str, **extra: Any) -> HttpResponse:
    return render(request, "org/form.html", {"form": form, "title": title, "cancel_url": cancel_url, **extra})


# --- org units --------------------------------------------------------------------------


@access.authenticated
def unit_list(request: HttpRequest) -> HttpResponse:
    """The org tree the user can see, indented by depth, with member counts."""
    f = OrgUnitFilter(request.GET, user=request.user)
    page = paginate(request, selectors.org_unit_list(user=request.user, filters=request.GET), per_page=50)
    return render(request, "org/unit_list.html", {"filter": f, "page": page, "can_edit": _is_admin(request)})


@access.admin_only
def unit_create(request: HttpRequest) -> HttpResponse:
    initial = {}
    if request.GET.get("parent"):
        initial["parent"] = request.GET["parent"]
    form = OrgUnitForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            unit = services.org_unit_create(actor=request.user, **form.cleaned_data)
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Org unit “%(name)s” created.") % {"name": unit.name})
            return redirect("org_unit_list")
    return _form_page(request, form, title=_("New org unit"), cancel_url="org_unit_list")


@access.admin_only
def unit_edit(request: HttpRequest, pk: int) -> HttpResponse:
    unit = get_object_or_404(OrgUnit.objects.visible_to(request.user, CHANGE), pk=pk)
    initial = {
        "name": unit.name,
        "code": unit.code,
        "kind": unit.kind,
        "parent": unit.parent_id,
        "manager": unit.manager_id,
    }
    form = OrgUnitForm(request.POST or None, user=request.user, unit=unit, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.org_unit_update(actor=request.user, unit=unit, **form.cleaned_data)
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Org unit “%(name)s” saved.") % {"name": unit.name})
            return redirect("org_unit_list")
    return _form_page(
        request,
        form,
        title=_("Edit org unit “%(name)s”") % {"name": unit.name},
        cancel_url="org_unit_list",
        unit=unit,
    )


@access.admin_only
@require_POST
def unit_set_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate (``active=0``) or reactivate (``active=1``) a unit; refused while it has active members."""
    unit = get_object_or_404(OrgUnit.objects.visible_to(request.user, CHANGE), pk=pk)
    active = request.POST.get("active") == "1"
    try:
        services.org_unit_update(actor=request.user, unit=unit, is_active=active)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        msg = _("Org unit “%(name)s” reactivated.") if active else _("Org unit “%(name)s” deactivated.")
        messages.success(request, msg % {"name": unit.name})
    return redirect("org_unit_list")


# --- people -----------------------------------------------------------------------------


@access.authenticated
def user_list(request: HttpRequest) -> HttpResponse:
    f = UserFilter(request.GET, user=request.user)
    page = paginate(request, selectors.user_list(user=request.user, filters=request.GET))
    return render(
        request,
        "org/user_list.html",
        {"filter": f, "page": page, "sorts": f.sort_links(request), "can_edit": _is_admin(request)},
    )


@access.authenticated
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = selectors.user_get(user=request.user, pk=pk)
    is_admin = _is_admin(request)
    ctx: dict[str, Any] = {
        "person": person,
        "roles": person.roles.order_by("code"),
        "reports": selectors.user_direct_reports(user=request.user, person=person),
        "positions": selectors.user_positions(user=request.user, person=person),
        "qualifications": _with_state(selectors.user_qualifications(user=request.user, person=person)),
        "can_edit": is_admin,
        "expiring_within": EXPIRING_WITHIN_DAYS,
    }
    if person.manager_id and not User.objects.visible_to(request.user).filter(pk=person.manager_id).exists():
        ctx["manager_hidden"] = True
    if is_admin:
        ctx["audit_entries"] = audit_for_object(user=request.user, obj=person, limit=20)
        ctx["user_type_id"] = ContentType.objects.get_for_model(User).pk
        ctx["grant_form"] = QualificationGrantForm()
        ctx["assign_form"] = PositionAssignForm()
    return render(request, "org/user_detail.html", ctx)


def _user_service_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("password1", "password2", "roles")}


@access.admin_only
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserForm(
        request.POST or None, user=request.user, initial={"language": "zh-hans", "is_active": True}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields = _user_service_fields(data)
        is_active = fields.pop("is_active", True)
        try:
            person = services.user_create(
                actor=request.user, roles=data["roles"], password=data.get("password1") or None, **fields
            )
            if not is_active:
                services.user_update(actor=request.user, user=person, is_active=False)
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("%(name)s can now be found in the people list.") % {"name": person})
            return redirect("org_user_detail", pk=person.pk)
    return _form_page(request, form, title=_("New person"), cancel_url="org_user_list")


@access.admin_only
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User.objects.visible_to(request.user, CHANGE), pk=pk)
    initial = {
        "username": person.username,
        "display_name": person.display_name,
        "email": person.email,
        "phone": person.phone,
        "title": person.title,
        "org_unit": person.org_unit_id,
        "manager": person.manager_id,
        "roles": list(person.roles.values_list("pk", flat=True)),
        "language": person.language,
        "is_active": person.is_active,
    }
    form = UserForm(request.POST or None, user=request.user, person=person, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(
                actor=request.user,
                user=person,
                roles=form.cleaned_data["roles"],
                **_user_service_fields(form.cleaned_data),
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Changes to %(name)s saved.") % {"name": person})
            return redirect("org_user_detail", pk=person.pk)
    return _form_page(
        request,
        form,
        title=_("Edit %(name)s") % {"name": person},
        cancel_url="org_user_list",
        person=person,
    )


@access.admin_only
@require_POST
def user_set_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate (``active=0``) or reactivate (``active=1``) a person; the last administrator stays."""
    person = get_object_or_404(User.objects.visible_to(request.user, CHANGE), pk=pk)
    active = request.POST.get("active") == "1"
    try:
        services.user_update(actor=request.user, user=person, is_active=active)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        msg = _("%(name)s reactivated.") if active else _("%(name)s deactivated; they can no longer sign in.")
        messages.success(request, msg % {"name": person})
    return redirect("org_user_detail", pk=person.pk)


@access.admin_only
def user_password(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User.objects.visible_to(request.user, CHANGE), pk=pk)
    form = PasswordSetForm(request.POST or None, person=person)
    if request.method == "POST" and form.is_valid():
        services.user_set_password(actor=request.user, user=person, password=form.cleaned_data["password1"])
        messages.success(request, _("New password set for %(name)s.") % {"name": person})
        return redirect("org_user_detail", pk=person.pk)
    return _form_page(
        request, form, title=_("Set a password for %(name)s") % {"name": person}, cancel_url="org_user_list"
    )


@access.admin_only
def user_qualification_grant(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User.objects.visible_to(request.user, CHANGE), pk=pk)
    form = QualificationGrantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_qualification_grant(actor=request.user, user=person, **form.cleaned_data)
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(
                request,
                _("%(qualification)s granted to %(name)s.")
                % {"qualification": form.cleaned_data["qualification"], "name": person},
            )
            return redirect("org_user_detail", pk=person.pk)
    return _form_page(
        request,
        form,
        title=_("Grant a qualification to %(name)s") % {"name": person},
        cancel_url="org_user_list",
    )


@access.admin_only
@require_POST
def user_qualification_revoke(request: HttpRequest, pk: int, uq_pk: int) -> HttpResponse:
    person = get_object_or_404(User.objects.visible_to(request.user, CHANGE), pk=pk)
    uq = get_object_or_404(UserQualification.objects.visible_to(request.user, CHANGE), pk=uq_pk, user=person)
    services.user_qualification_revoke(actor=request.user, user_qualification=uq)
    messages.success(request, _("Qualification revoked."))
    return redirect("org_user_detail", pk=person.pk)


@access.admin_only
def user_position_assign(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User.objects.visible_to(request.user, CHANGE), pk=pk)
    form = PositionAssignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.position_assign(actor=request.user, user=person, **form.cleaned_data)
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(
                request,
                _("%(name)s now holds the position %(position)s.")
                % {"name": person, "position": form.cleaned_data["position"]},
            )
            return redirect("org_user_detail", pk=person.pk)
    return _form_page(
        request, form, title=_("Assign a position to %(name)s") % {"name": person}, cancel_url="org_user_list"
    )


@access.admin_only
@require_POST
def user_position_unassign(request: HttpRequest, pk: int, assignment_pk: int) -> HttpResponse:
    person = get_object_or_404(User.objects.visible_to(request.user, CHANGE), pk=pk)
    assignment = get_object_or_404(
        PositionAssignment.objects.visible_to(request.user, CHANGE), pk=assignment_pk, user=person
    )
    services.position_unassign(actor=request.user, assignment=assignment)
    messages.success(request, _("Position removed."))
    return redirect("org_user_detail", pk=person.pk)


# --- roles ------------------------------------------------------------------------------


@access.admin_only
def role_list(request: HttpRequest) -> HttpResponse:
    roles = selectors.role_list(user=request.user)
    return render(
        request,
        "org/role_list.html",
        {"roles": roles, "scope_labels": SCOPE_LABELS, "seeded": SEEDED_ROLE_CODES},
    )


def _permission_groups(form: RoleForm) -> list[dict[str, Any]]:
    """Permissions grouped by the kind of record they apply to, with the ones ticked in the form."""
    if form.is_bound:
        chosen = {str(v) for v in form.data.getlist("permissions")}
    else:
        chosen = {str(v) for v in form.initial.get("permissions", [])}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    labels: dict[str, str] = {}
    perms = Permission.objects.select_related("content_type").order_by(
        "content_type__app_label", "content_type__model", "codename"
    )
    for perm in perms:
        ct = perm.content_type
        key = f"{ct.app_label}.{ct.model}"
        model = ct.model_class()
        labels[key] = str(model._meta.verbose_name_plural).capitalize() if model else key
        groups[key].append({"pk": perm.pk, "name": perm.name, "checked": str(perm.pk) in chosen})
    return [{"key": k, "label": labels[k], "permissions": v} for k, v in groups.items()]


@access.admin_only
def role_create(request: HttpRequest) -> HttpResponse:
    form = RoleCreateForm(request.POST or None, initial={"data_scope": "own"})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        permissions = data.pop("permissions")
        try:
            role = services.role_create(actor=request.user, **data)
            services.role_update(actor=request.user, role=role, permissions=permissions)
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Role “%(name)s” created.") % {"name": role})
            return redirect("org_role_list")
    return render(
        request,
        "org/role_form.html",
        {"form": form, "title": _("New role"), "groups": _permission_groups(form)},
    )


@access.admin_only
def role_edit(request: HttpRequest, pk: int) -> HttpResponse:
    role = get_object_or_404(Role, pk=pk)
    initial = {
        "name": role.name,
        "description": role.description,
        "data_scope": role.data_scope,
        "permissions": [str(p) for p in role.permissions.values_list("pk", flat=True)],
    }
    form = RoleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.role_update(actor=request.user, role=role, **form.cleaned_data)
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Role “%(name)s” saved.") % {"name": role})
            return redirect("org_role_list")
    return render(
        request,
        "org/role_form.html",
        {
            "form": form,
            "role": role,
            "title": _("Edit role “%(name)s”") % {"name": role},
            "groups": _permission_groups(form),
            "deletable": role.code not in SEEDED_ROLE_CODES,
        },
    )


@access.admin_only
@require_POST
def role_delete(request: HttpRequest, pk: int) -> HttpResponse:
    role = get_object_or_404(Role, pk=pk)
    try:
        services.role_delete(actor=request.user, role=role)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return redirect("org_role_edit", pk=role.pk)
    messages.success(request, _("Role deleted."))
    return redirect("org_role_list")


# --- positions and qualifications ----------------------------------------------------------


@access.authenticated
def position_list(request: HttpRequest) -> HttpResponse:
    """Positions, qualifications, and the qualifications (in the user's scope) expiring soon."""
    f = PositionFilter(request.GET, user=request.user)
    page = paginate(request, selectors.position_list(user=request.user, filters=request.GET))
    return render(
        request,
        "org/position_list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "qualifications": selectors.qualification_list(user=request.user),
            "expiring": selectors.qualifications_expiring(
                user=request.user, within_days=EXPIRING_WITHIN_DAYS
            )[:50],
            "expiring_within": EXPIRING_WITHIN_DAYS,
            "can_edit": _is_admin(request),
        },
    )


@access.admin_only
def position_create(request: HttpRequest) -> HttpResponse:
    return _position_form(request, None)


@access.admin_only
def position_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _position_form(request, get_object_or_404(Position, pk=pk))


def _position_form(request: HttpRequest, position: Position | None) -> HttpResponse:
    initial: dict[str, Any] = {"is_active": True}
    if position is not None:
        initial = {
            "code": position.code,
            "name": position.name,
            "category": position.category,
            "duties": position.duties,
            "required_qualifications": list(position.required_qualifications.values_list("pk", flat=True)),
            "is_active": position.is_active,
        }
    form = PositionForm(request.POST or None, position=position, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.position_save(actor=request.user, position=position, **form.cleaned_data)
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Position “%(name)s” saved.") % {"name": saved})
            return redirect("org_position_list")
    title = _("New position") if position is None else _("Edit position “%(name)s”") % {"name": position}
    return _form_page(request, form, title=title, cancel_url="org_position_list")


@access.admin_only
def qualification_create(request: HttpRequest) -> HttpResponse:
    return _qualification_form(request, None)


@access.admin_only
def qualification_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _qualification_form(request, get_object_or_404(Qualification, pk=pk))


def _qualification_form(request: HttpRequest, qualification: Qualification | None) -> HttpResponse:
    initial: dict[str, Any] = {}
    if qualification is not None:
        initial = {
            "code": qualification.code,
            "name": qualification.name,
            "description": qualification.description,
            "validity_months": qualification.validity_months,
        }
    form = QualificationForm(request.POST or None, qualification=qualification, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.qualification_save(
                actor=request.user, qualification=qualification, **form.cleaned_data
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Qualification “%(name)s” saved.") % {"name": saved})
            return redirect("org_position_list")
    title = (
        _("New qualification")
        if qualification is None
        else _("Edit qualification “%(name)s”") % {"name": qualification}
    )
    return _form_page(request, form, title=title, cancel_url="org_position_list")


# --- my profile -------------------------------------------------------------------------


@access.authenticated
def profile(request: HttpRequest) -> HttpResponse:
    """The signed-in person's own page: details they may change, roles, qualifications, positions."""
    me = request.user
    form = ProfileForm(
        request.POST or None,
        initial={
            "display_name": me.display_name,
            "email": me.email,
            "phone": me.phone,
            "language": me.language,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(actor=me, user=me, **form.cleaned_data)
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Your profile is saved."))
            return redirect("profile")
    return render(
        request,
        "org/profile.html",
        {
            "person": me,
            "form": form,
            "roles": me.roles.order_by("code"),
            "qualifications": _with_state(selectors.user_qualifications(user=me, person=me)),
            "positions": selectors.user_positions(user=me, person=me),
            "is_manager": access.user_has_role(me, *MANAGERS),
            "expiring_within": EXPIRING_WITHIN_DAYS,
        },
    )
