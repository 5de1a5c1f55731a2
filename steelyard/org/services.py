"""Writes for people and organisation. Every change is audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr
from django.utils.translation import gettext_lazy as _

from steelyard.core.models import AuditAction
from steelyard.core.services.audit import audit_create, audit_delete, audit_record, audit_update, snapshot
from steelyard.org.models import (
    OrgUnit,
    Position,
    PositionAssignment,
    Qualification,
    Role,
    User,
    UserQualification,
)

ERR_UNIT_CYCLE = _("A unit cannot be moved under itself or one of its own sub-units.")
ERR_UNIT_HAS_MEMBERS = _("This unit still has active members or sub-units; move them first.")
ERR_MANAGER_CYCLE = _("A person cannot report to themselves or to someone who reports to them.")
ERR_LAST_ADMIN = _("You cannot remove the last active administrator.")
ERR_QUAL_DATES = _("The expiry date must be after the date obtained.")
ERR_ROLE_SEEDED = _(
    "Roles shipped with Steelyard cannot be deleted; change their scope or permissions instead."
)
ERR_ROLE_IN_USE = _("This role is still held by people; take it away from them first.")

USER_AUDIT_FIELDS = [
    "username",
    "display_name",
    "email",
    "phone",
    "title",
    "org_unit_id",
    "manager_id",
    "language",
    "is_active",
    "is_machine",
]
UNIT_AUDIT_FIELDS = ["name", "code", "kind", "parent_id", "manager_id", "is_active"]


# --- org units --------------------------------------------------------------------------


@transaction.atomic
def org_unit_create(
    *,
    actor: User | None,
    name: str,
    code: str,
    kind: str,
    parent: OrgUnit | None = None,
    manager: User | None = None,
) -> OrgUnit:
    unit = OrgUnit(name=name, code=code, kind=kind, parent=parent, manager=manager)
    unit.full_clean(exclude=["path"])
    unit.save()
    audit_create(actor=actor, obj=unit, fields=UNIT_AUDIT_FIELDS)
    return unit


@transaction.atomic
def org_unit_update(*, actor: User | None, unit: OrgUnit, **fields: Any) -> OrgUnit:
    """Change a unit's fields; a new ``parent`` moves the whole subtree (paths rewritten in one UPDATE)."""
    before = snapshot(unit, UNIT_AUDIT_FIELDS)
    new_parent = fields.pop("parent", unit.parent)
    if fields.get("is_active") is False and unit.is_active:
        if unit.children.filter(is_active=True).exists() or unit.members.filter(is_active=True).exists():
            raise ValidationError(ERR_UNIT_HAS_MEMBERS)
    for name, value in fields.items():
        setattr(unit, name, value)
    unit.full_clean(exclude=["path"])
    if (new_parent.pk if new_parent else None) != unit.parent_id:
        _org_unit_move(unit, new_parent)
    unit.save()
    audit_update(actor=actor, obj=unit, before=before)
    return unit


def _org_unit_move(unit: OrgUnit, new_parent: OrgUnit | None) -> None:
    if new_parent is not None and new_parent.path.startswith(unit.path):
        raise ValidationError({"parent": ERR_UNIT_CYCLE})
    old_path = unit.path
    new_path = (new_parent.path if new_parent else "") + f"{unit.pk:04d}."
    depth_delta = (new_parent.depth + 1 if new_parent else 0) - unit.depth
    OrgUnit.objects.filter(path__startswith=old_path).update(
        path=Concat(Value(new_path), Substr("path", len(old_path) + 1)),
        depth=F("depth") + depth_delta,
    )
    unit.refresh_from_db(fields=["path", "depth"])
    unit.parent = new_parent


# --- users ------------------------------------------------------------------------------


def _check_manager(user: User, manager: User | None) -> None:
    seen = {user.pk} if user.pk else set()
    m = manager
    while m is not None:
        if m.pk in seen:
            raise ValidationError({"manager": ERR_MANAGER_CYCLE})
        seen.add(m.pk)
        m = m.manager


@transaction.atomic
def user_create(
    *,
    actor: User | None,
    username: str,
    password: str | None = None,
    display_name: str = "",
    email: str = "",
    phone: str = "",
    title: str = "",
    org_unit: OrgUnit | None = None,
    manager: User | None = None,
    roles: Iterable[Role] = (),
    language: str = "zh-hans",
    is_machine: bool = False,
) -> User:
    user = User(
        username=username,
        display_name=display_name,
        email=email,
        phone=phone,
        title=title,
        org_unit=org_unit,
        manager=manager,
        language=language,
        is_machine=is_machine,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    _check_manager(user, manager)
    user.save()
    user.roles.set(list(roles))
    audit_create(actor=actor, obj=user, fields=USER_AUDIT_FIELDS)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=user,
        verb="user.roles",
        changes={"roles": [[], sorted(r.code for r in roles)]},
    )
    return user


@transaction.atomic
def user_update(
    *, actor: User | None, user: User, roles: Iterable[Role] | None = None, **fields: Any
) -> User:
    before = snapshot(user, USER_AUDIT_FIELDS)
    if "manager" in fields:
        _check_manager(user, fields["manager"])
    if fields.get("is_active") is False and user.is_active:
        _ensure_not_last_admin(user)
    for name, value in fields.items():
        setattr(user, name, value)
    user.full_clean(exclude=["password"])
    user.save()
    audit_update(actor=actor, obj=user, before=before)
    if roles is not None:
        old = sorted(user.roles.values_list("code", flat=True))
        new_roles = list(roles)
        new = sorted(r.code for r in new_roles)
        if old != new:
            if "administrator" in old and "administrator" not in new:
                _ensure_not_last_admin(user)
            user.roles.set(new_roles)
            audit_record(
                actor=actor,
                action=AuditAction.UPDATE,
                obj=user,
                verb="user.roles",
                changes={"roles": [old, new]},
            )
    return user


def _ensure_not_last_admin(user: User) -> None:
    others = User.objects.filter(is_active=True, roles__code="administrator").exclude(pk=user.pk)
    if user.roles.filter(code="administrator").exists() and not others.exists():
        raise ValidationError(ERR_LAST_ADMIN)


@transaction.atomic
def user_set_language(*, actor: User, user: User, language: str) -> User:
    return user_update(actor=actor, user=user, language=language)


@transaction.atomic
def user_set_password(*, actor: User | None, user: User, password: str) -> User:
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(actor=actor, action=AuditAction.ACTION, obj=user, verb="user.password_set")
    return user


# --- roles ------------------------------------------------------------------------------


@transaction.atomic
def role_update(
    *, actor: User | None, role: Role, permissions: Iterable[Any] | None = None, **fields: Any
) -> Role:
    before = snapshot(role, ["name", "description", "data_scope", "is_machine"])
    for name, value in fields.items():
        setattr(role, name, value)
    role.full_clean()
    role.save()
    audit_update(actor=actor, obj=role, before=before)
    if permissions is not None:
        old = sorted(role.permissions.values_list("codename", flat=True))
        perms = list(permissions)
        role.permissions.set(perms)
        new = sorted(p.codename for p in perms)
        if old != new:
            audit_record(
                actor=actor,
                action=AuditAction.UPDATE,
                obj=role,
                verb="role.permissions",
                changes={"permissions": [old, new]},
            )
    return role


@transaction.atomic
def role_create(
    *, actor: User | None, code: str, name: str, description: str = "", data_scope: str = "own"
) -> Role:
    role = Role(code=code, name=name, description=description, data_scope=data_scope)
    role.full_clean()
    role.save()
    audit_create(actor=actor, obj=role, fields=["code", "name", "description", "data_scope"])
    return role


@transaction.atomic
def role_delete(*, actor: User | None, role: Role) -> None:
    """Delete a custom role nobody holds; the seeded roles are part of the product and stay."""
    from steelyard.org.roles import SEEDED_ROLES

    if role.code in {code for code, *_rest in SEEDED_ROLES}:
        raise ValidationError(ERR_ROLE_SEEDED)
    if role.users.exists():
        raise ValidationError(ERR_ROLE_IN_USE)
    audit_delete(actor=actor, obj=role)
    role.delete()


# --- positions and qualifications --------------------------------------------------------


@transaction.atomic
def position_save(
    *,
    actor: User | None,
    position: Position | None = None,
    required_qualifications: Iterable[Qualification] | None = None,
    **fields: Any,
) -> Position:
    creating = position is None
    position = position or Position()
    before = {} if creating else snapshot(position, ["code", "name", "category", "duties", "is_active"])
    for name, value in fields.items():
        setattr(position, name, value)
    position.full_clean()
    position.save()
    if required_qualifications is not None:
        position.required_qualifications.set(list(required_qualifications))
    if creating:
        audit_create(actor=actor, obj=position, fields=["code", "name", "category", "duties", "is_active"])
    else:
        audit_update(actor=actor, obj=position, before=before)
    return position


@transaction.atomic
def qualification_save(
    *, actor: User | None, qualification: Qualification | None = None, **fields: Any
) -> Qualification:
    creating = qualification is None
    qualification = qualification or Qualification()
    names = ["code", "name", "description", "validity_months"]
    before = {} if creating else snapshot(qualification, names)
    for name, value in fields.items():
        setattr(qualification, name, value)
    qualification.full_clean()
    qualification.save()
    if creating:
        audit_create(actor=actor, obj=qualification, fields=names)
    else:
        audit_update(actor=actor, obj=qualification, before=before)
    return qualification


@transaction.atomic
def user_qualification_grant(
    *,
    actor: User | None,
    user: User,
    qualification: Qualification,
    obtained_on: dt.date,
    expires_on: dt.date | None = None,
    certificate_no: str = "",
) -> UserQualification:
    """Record that ``user`` holds ``qualification``; expiry defaults from the qualification's validity."""
    if expires_on is None and qualification.validity_months:
        expires_on = obtained_on + relativedelta(months=qualification.validity_months)
    if expires_on is not None and expires_on <= obtained_on:
        raise ValidationError({"expires_on": ERR_QUAL_DATES})
    uq = UserQualification(
        user=user,
        qualification=qualification,
        obtained_on=obtained_on,
        expires_on=expires_on,
        certificate_no=certificate_no,
    )
    uq.full_clean()
    uq.save()
    audit_create(
        actor=actor,
        obj=uq,
        fields=["user_id", "qualification_id", "obtained_on", "expires_on", "certificate_no"],
    )
    return uq


@transaction.atomic
def user_qualification_revoke(*, actor: User | None, user_qualification: UserQualification) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.DELETE,
        obj=user_qualification,
        changes={"qualification_id": [user_qualification.qualification_id, None]},
    )
    user_qualification.delete()


@transaction.atomic
def position_assign(
    *,
    actor: User | None,
    user: User,
    position: Position,
    since: dt.date | None = None,
    require_qualified: bool = True,
) -> PositionAssignment:
    """Put ``user`` in ``position``; by default they must hold every required, unexpired qualification."""
    from steelyard.org.selectors import user_missing_qualifications

    if require_qualified:
        missing = user_missing_qualifications(user=user, position=position)
        if missing:
            raise ValidationError(
                _("%(user)s lacks the qualifications this position requires: %(missing)s")
                % {"user": user, "missing": ", ".join(q.name for q in missing)}
            )
    assignment = PositionAssignment(user=user, position=position, since=since or dt.date.today())
    assignment.full_clean()
    assignment.save()
    audit_create(actor=actor, obj=assignment, fields=["user_id", "position_id", "since"])
    return assignment


@transaction.atomic
def position_unassign(*, actor: User | None, assignment: PositionAssignment) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.DELETE,
        obj=assignment,
        changes={"position_id": [assignment.position_id, None], "user_id": [assignment.user_id, None]},
    )
    assignment.delete()
