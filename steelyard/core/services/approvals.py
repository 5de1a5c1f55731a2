"""Approvals: asking somebody to approve a change to a record, and applying it when they do.

An *approval kind* is a sort of request a module can raise ("sales.discount", "finance.credit_override",
"org.role_grant"). The module registers it once with :func:`approval_kind_register`, giving the hooks that
apply (or undo) the requested change when the request is decided, and the default route.

A *route* is the ordered list of steps that says who decides. Administrators can override a kind's default
steps with an :class:`~steelyard.core.models.ApprovalRoute`. Each step is resolved to one approver when the
request is raised, and recorded on an :class:`~steelyard.core.models.ApprovalStep`:

- ``{"type": "manager", "level": N}``: the N-th manager up the requester's reporting line, continued through
  the managers of the requester's org unit and its ancestors when the reporting line runs out;
- ``{"type": "role", "role": "finance"}``: an active holder of the role, nearest to the requester first
  (own unit, then deeper units, then ancestor units, then anybody); never the requester;
- ``{"type": "user", "user": <id>}``: that user.

Steps that resolve to nobody or to the requester are skipped, consecutive steps with the same approver are
merged, and when nothing resolves an active administrator decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from steelyard.core.events import publish
from steelyard.core.models import (
    ApprovalDecision,
    ApprovalEvent,
    ApprovalRequest,
    ApprovalRoute,
    ApprovalStatus,
    ApprovalStep,
    AuditAction,
)
from steelyard.core.services.audit import audit_record, diff, snapshot

if TYPE_CHECKING:
    from steelyard.org.models import User

ERR_REASON_REQUIRED = _("Please give a reason for the request.")
ERR_UNKNOWN_KIND = _("Unknown kind of approval request: %(kind)s.")
ERR_WRONG_SUBJECT = _("This kind of request cannot be raised on this record.")
ERR_DUPLICATE_PENDING = _("A request of this kind is already waiting for a decision on this record.")
ERR_NOT_PENDING = _("This request has already been closed.")
ERR_NOT_YOUR_TURN = _("This request is not waiting for your decision.")
ERR_REJECT_NEEDS_COMMENT = _("Please say why you reject the request.")
ERR_BAD_DECISION = _("Choose approve or reject.")
ERR_COMMENT_REQUIRED = _("Please write a comment.")
ERR_NOT_PARTICIPANT = _("Only the requester and the approvers can comment on this request.")
ERR_ONLY_REQUESTER_CANCELS = _("Only the requester can cancel a request.")
ERR_NO_APPROVER = _("Nobody can approve this request: there is no active administrator.")
ERR_SUBJECT_NOT_VISIBLE = _("You cannot raise a request on a record you cannot see.")
ERR_STEPS_EMPTY = _("A route needs at least one step.")
ERR_STEP_TYPE = _("Step %(n)s: choose manager, role or user.")
ERR_STEP_LEVEL = _("Step %(n)s: the manager level must be a whole number from 1 to 10.")
ERR_STEP_ROLE = _("Step %(n)s: choose an existing role.")
ERR_STEP_USER = _("Step %(n)s: choose an active user.")

STEP_MANAGER = "manager"
STEP_ROLE = "role"
STEP_USER = "user"
STEP_TYPES = (STEP_MANAGER, STEP_ROLE, STEP_USER)
MAX_MANAGER_LEVEL = 10

EVENT_REQUESTED = "requested"
EVENT_APPROVED = "approved"
EVENT_REJECTED = "rejected"
EVENT_COMMENTED = "commented"
EVENT_CANCELLED = "cancelled"
EVENT_COMPLETED = "completed"

Hook = Callable[[ApprovalRequest, Any], None]
Check = Callable[..., None]


@dataclass(frozen=True)
class ApprovalKind:
    """A sort of approval request a module can raise, with the hooks that act on the decision.

    ``on_approved(request, actor)`` / ``on_rejected(request, actor)`` run inside the deciding transaction and
    apply the change through the requesting module's own services; an exception they raise undoes the
    decision. ``check(actor=..., subject=..., requested_change=...)`` may refuse a request before it is
    raised (``ValidationError`` / ``PermissionDenied``). ``subject_model`` ("app_label.Model") restricts
    which records the kind applies to. ``change_labels`` names the keys of ``requested_change`` for display;
    ``describe_change(requested_change)`` may instead return the ``[(label, value), ...]`` rows to show.
    """

    kind: str
    label: Any
    on_approved: Hook
    on_rejected: Hook | None = None
    default_steps: list[dict[str, Any]] = field(default_factory=list)
    subject_model: str | None = None
    check: Check | None = None
    change_labels: dict[str, Any] = field(default_factory=dict)
    describe_change: Callable[[dict[str, Any]], list[tuple[Any, Any]]] | None = None

    def subject_model_class(self) -> type[models.Model] | None:
        return apps.get_model(self.subject_model) if self.subject_model else None


_kinds: dict[str, ApprovalKind] = {}


def approval_kind_register(
    kind: str,
    *,
    label: Any,
    on_approved: Hook,
    on_rejected: Hook | None = None,
    default_steps: list[dict[str, Any]] | None = None,
    subject_model: str | type[models.Model] | None = None,
    check: Check | None = None,
    change_labels: dict[str, Any] | None = None,
    describe_change: Callable[[dict[str, Any]], list[tuple[Any, Any]]] | None = None,
) -> ApprovalKind:
    """Register (or replace) a kind of approval request; call it from the module's ``AppConfig.ready``."""
    if isinstance(subject_model, type):
        subject_model = subject_model._meta.label
    entry = ApprovalKind(
        kind=kind,
        label=label,
        on_approved=on_approved,
        on_rejected=on_rejected,
        default_steps=list(default_steps or [{"type": STEP_ROLE, "role": "administrator"}]),
        subject_model=subject_model,
        check=check,
        change_labels=dict(change_labels or {}),
        describe_change=describe_change,
    )
    _kinds[kind] = entry
    return entry


def approval_kind_get(kind: str) -> ApprovalKind | None:
    return _kinds.get(kind)


def approval_kinds() -> list[ApprovalKind]:
    return sorted(_kinds.values(), key=lambda k: k.kind)


def approval_change_rows(request: ApprovalRequest) -> list[tuple[Any, str]]:
    """The requested change as readable ``(label, value)`` rows for a table."""
    change = request.requested_change or {}
    entry = approval_kind_get(request.kind)
    if entry is not None and entry.describe_change is not None:
        return [(label, str(value)) for label, value in entry.describe_change(change)]
    labels = entry.change_labels if entry else {}

    def text(value: Any) -> str:
        if isinstance(value, (list, tuple)):
            return ", ".join(text(v) for v in value)
        if isinstance(value, dict):
            return "; ".join(f"{k}: {text(v)}" for k, v in value.items())
        if value is None:
            return "—"
        return str(value)

    if not isinstance(change, dict):
        return [("", text(change))]
    return [(labels.get(k, str(k).replace("_", " ").capitalize()), text(v)) for k, v in change.items()]


# --- routing ----------------------------------------------------------------------------------------------


def approval_steps_validate(steps: Any) -> list[dict[str, Any]]:
    """Check a route's steps and return them in their normal form; raises ``ValidationError``."""
    from steelyard.org.models import Role, User

    if not isinstance(steps, list) or not steps:
        raise ValidationError(ERR_STEPS_EMPTY)
    errors: list[Any] = []
    clean: list[dict[str, Any]] = []
    for n, step in enumerate(steps, start=1):
        kind = step.get("type") if isinstance(step, dict) else None
        if kind not in STEP_TYPES:
            errors.append(ValidationError(ERR_STEP_TYPE, params={"n": n}))
            continue
        if kind == STEP_MANAGER:
            try:
                level = int(step.get("level", 1))
            except (TypeError, ValueError):
                level = 0
            if not 1 <= level <= MAX_MANAGER_LEVEL:
                errors.append(ValidationError(ERR_STEP_LEVEL, params={"n": n}))
                continue
            clean.append({"type": STEP_MANAGER, "level": level})
        elif kind == STEP_ROLE:
            code = str(step.get("role") or "")
            if not code or not Role.objects.filter(code=code).exists():
                errors.append(ValidationError(ERR_STEP_ROLE, params={"n": n}))
                continue
            clean.append({"type": STEP_ROLE, "role": code})
        else:
            try:
                user_id = int(step.get("user"))
            except (TypeError, ValueError):
                user_id = 0
            if not User.objects.filter(pk=user_id, is_active=True).exists():
                errors.append(ValidationError(ERR_STEP_USER, params={"n": n}))
                continue
            clean.append({"type": STEP_USER, "user": user_id})
    if errors:
        raise ValidationError(errors)
    return clean


def approval_route_steps(kind: str) -> list[dict[str, Any]]:
    """The steps requests of ``kind`` follow: the administrators' active route, else the kind's default."""
    route = ApprovalRoute.objects.filter(kind=kind, is_active=True).first()
    if route is not None and route.steps:
        return list(route.steps)
    entry = approval_kind_get(kind)
    return list(entry.default_steps) if entry else []


def _manager_chain(requester: User) -> list[User]:
    """The requester's managers, nearest first: the reporting line, then the org-unit managers above it."""
    from steelyard.org.models import OrgUnit, User, path_prefixes

    chain: list[User] = []
    seen = {requester.pk}
    person = requester
    while person.manager_id and person.manager_id not in seen:
        manager = User.objects.select_related("org_unit").get(pk=person.manager_id)
        seen.add(manager.pk)
        chain.append(manager)
        person = manager
    # Where the reporting line runs out, continue with the managers of the last person's unit and its
    # ancestors (nearest first).
    last = chain[-1] if chain else requester
    unit = last.org_unit if last.org_unit_id else None
    if unit is not None:
        units = (
            OrgUnit.objects.filter(path__in=path_prefixes(unit.path), manager__isnull=False)
            .select_related("manager")
            .order_by("-depth")
        )
        for u in units:
            if u.manager.pk not in seen and u.manager.is_active:
                seen.add(u.manager.pk)
                chain.append(u.manager)
    return chain


def _role_holder(requester: User, code: str) -> User | None:
    """An active holder of role ``code`` nearest to the requester in the org tree, never the requester."""
    from steelyard.org.models import User

    holders = list(
        User.objects.filter(roles__code=code, is_active=True)
        .exclude(pk=requester.pk)
        .select_related("org_unit")
        .distinct()
    )
    if not holders:
        return None
    base = requester.org_unit.path if requester.org_unit_id else None

    def rank(u: User) -> tuple[int, int, int]:
        path = u.org_unit.path if u.org_unit_id else None
        if base and path:
            if path.startswith(base):  # own unit, then deeper units
                return (0, u.org_unit.depth, u.pk)
            if base.startswith(path):  # ancestor units, nearest first
                return (1, -u.org_unit.depth, u.pk)
        return (2, 0, u.pk)

    return min(holders, key=rank)


def _fallback_admin(requester: User) -> User | None:
    from steelyard.org.models import User

    admins = User.objects.filter(is_active=True).filter(Q(roles__code="administrator") | Q(is_superuser=True))
    return admins.exclude(pk=requester.pk).order_by("pk").first() or admins.order_by("pk").first()


def approval_route_resolve(*, requester: User, steps: Iterable[dict[str, Any]]) -> list[tuple[dict, User]]:
    """Resolve each step to an approver: ``[(rule, approver), ...]`` in order, never empty.

    Raises ``ValidationError`` only when not even an administrator can be found.
    """
    from steelyard.org.models import User

    chain: list[User] | None = None
    resolved: list[tuple[dict, User]] = []
    for rule in steps:
        approver: User | None = None
        kind = rule.get("type")
        if kind == STEP_MANAGER:
            if chain is None:
                chain = _manager_chain(requester)
            level = int(rule.get("level", 1))
            approver = chain[level - 1] if 0 < level <= len(chain) else None
        elif kind == STEP_ROLE:
            approver = _role_holder(requester, str(rule.get("role", "")))
        elif kind == STEP_USER:
            approver = User.objects.filter(pk=rule.get("user"), is_active=True).first()
        if approver is None or approver.pk == requester.pk:
            continue
        if resolved and resolved[-1][1].pk == approver.pk:
            continue
        resolved.append((dict(rule), approver))
    if not resolved:
        admin = _fallback_admin(requester)
        if admin is None:
            raise ValidationError(ERR_NO_APPROVER)
        resolved.append(({"type": "fallback", "role": "administrator"}, admin))
    return resolved


@transaction.atomic
def approval_route_save(
    *, actor: User, kind: str, name: str, steps: list[dict[str, Any]], is_active: bool = True
) -> ApprovalRoute:
    """Create or change the administrators' route for ``kind``; audited."""
    if approval_kind_get(kind) is None:
        raise ValidationError({"kind": ValidationError(ERR_UNKNOWN_KIND, params={"kind": kind})})
    clean = approval_steps_validate(steps)
    route = ApprovalRoute.objects.select_for_update().filter(kind=kind).first()
    fields = ["kind", "name", "steps", "is_active"]
    if route is None:
        route = ApprovalRoute(kind=kind, name=name, steps=clean, is_active=is_active)
        route.full_clean()
        route.save()
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            obj=route,
            verb="approval.route_created",
            changes=diff({}, snapshot(route, fields)),
        )
        return route
    before = snapshot(route, fields)
    route.name, route.steps, route.is_active = name, clean, is_active
    route.full_clean()
    route.save()
    changes = diff(before, snapshot(route, fields))
    if changes:
        audit_record(
            actor=actor, action=AuditAction.UPDATE, obj=route, verb="approval.route_changed", changes=changes
        )
    return route


# --- requests ---------------------------------------------------------------------------------------------


def approval_url(request: ApprovalRequest) -> str:
    return reverse("approval_detail", args=[request.pk])


def _person(user: Any) -> dict[str, Any] | None:
    if user is None or not getattr(user, "pk", None):
        return None
    return {"id": user.pk, "username": user.username, "name": str(user)}


def approval_event_payload(
    request: ApprovalRequest, *, decided_by: Any = None, comment: str = ""
) -> dict[str, Any]:
    """What ``approval.requested`` / ``approval.decided`` tell subscribers (e.g. the OA system)."""
    ct = ContentType.objects.get_for_id(request.content_type_id)
    return {
        "id": request.pk,
        "kind": request.kind,
        "title": request.title,
        "subject_type": f"{ct.app_label}.{ct.model}",
        "subject_id": request.object_id,
        "requested_change": request.requested_change,
        "reason": request.reason,
        "requester": _person(request.requester),
        "status": request.status,
        "decided_by": _person(decided_by),
        "comment": comment,
    }


def _publish(event: str, request: ApprovalRequest, actor: Any, **kwargs: Any) -> None:
    publish(event, payload=approval_event_payload(request, **kwargs), subject=request, actor=actor)


def _notify(**kwargs: Any) -> None:
    from steelyard.core.services.notifications import notify

    notify(**kwargs)


def _event(request: ApprovalRequest, actor: User | None, event: str, comment: str = "") -> ApprovalEvent:
    return ApprovalEvent.objects.create(request=request, actor=actor, event=event, comment=comment)


def _current_step(request: ApprovalRequest) -> ApprovalStep | None:
    return (
        ApprovalStep.objects.filter(request=request, order=request.current_step)
        .select_related("approver")
        .first()
    )


def _notify_step_open(request: ApprovalRequest, step: ApprovalStep, actor: User) -> None:
    requester, title = request.requester, request.title
    _notify(
        recipients=[step.approver],
        title=lambda: format_lazy(_("{name} asks for your approval: {title}"), name=requester, title=title),
        body=request.reason,
        subject=request,
        url=approval_url(request),
        event="approval.requested",
        actor=actor,
    )


def _subject_is_visible(actor: User, subject: models.Model) -> bool:
    manager = type(subject)._default_manager
    if not hasattr(manager, "visible_to"):
        return True
    return manager.visible_to(actor).filter(pk=subject.pk).exists()


@transaction.atomic
def approval_request_create(
    *,
    actor: User,
    subject: models.Model,
    kind: str,
    requested_change: dict[str, Any],
    reason: str,
    title: str | None = None,
    steps: list[dict[str, Any]] | None = None,
) -> ApprovalRequest:
    """Raise a request of ``kind`` on ``subject`` and route it to its approvers.

    ``steps`` (rule dicts: ``{"type": "role", "role": code}``, ``{"type": "manager", "level": n}``...) route this one request when the approvers
    depend on the subject — e.g. a quote's discount chain comes from its customer's tier; empty or None:
    the kind's route (the administrators' route, else the kind's default steps).

    Raises ``ValidationError`` for an empty reason, an unknown kind, a subject the kind does not apply to,
    or another pending request of the same kind on the same subject.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ERR_REASON_REQUIRED})
    entry = approval_kind_get(kind)
    if entry is None:
        raise ValidationError({"kind": ValidationError(ERR_UNKNOWN_KIND, params={"kind": kind})})
    model = entry.subject_model_class()
    if model is not None and not isinstance(subject, model):
        raise ValidationError(ERR_WRONG_SUBJECT)
    if not _subject_is_visible(actor, subject):
        raise PermissionDenied(ERR_SUBJECT_NOT_VISIBLE)
    if entry.check is not None:
        entry.check(actor=actor, subject=subject, requested_change=requested_change)
    content_type = ContentType.objects.get_for_model(subject)
    # Lock the subject row so two simultaneous submissions cannot both pass the duplicate check.
    type(subject)._default_manager.select_for_update().filter(pk=subject.pk).first()
    duplicate = ApprovalRequest.objects.filter(
        kind=kind, content_type=content_type, object_id=str(subject.pk), status=ApprovalStatus.PENDING
    ).exists()
    if duplicate:
        raise ValidationError(ERR_DUPLICATE_PENDING)
    steps = approval_route_resolve(requester=actor, steps=steps or approval_route_steps(kind))
    request = ApprovalRequest(
        kind=kind,
        title=(title or f"{entry.label}: {subject}")[:200],
        content_type=content_type,
        object_id=str(subject.pk),
        requested_change=requested_change or {},
        reason=reason,
        requester=actor,
        status=ApprovalStatus.PENDING,
        current_step=0,
    )
    request.full_clean(exclude=["content_type", "requester"])
    request.save()
    ApprovalStep.objects.bulk_create(
        [ApprovalStep(request=request, order=i, approver=u, rule=rule) for i, (rule, u) in enumerate(steps)]
    )
    _event(request, actor, EVENT_REQUESTED, reason)
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=request,
        verb="approval.requested",
        changes=diff(
            {}, snapshot(request, ["kind", "title", "object_id", "requested_change", "reason", "status"])
        ),
        extra={"approvers": [u.pk for _r, u in steps]},
    )
    first = _current_step(request)
    assert first is not None
    _notify_step_open(request, first, actor)
    _publish("approval.requested", request, actor)
    return request


def _lock(request: ApprovalRequest) -> ApprovalRequest:
    return ApprovalRequest.objects.select_for_update().select_related("requester").get(pk=request.pk)


@transaction.atomic
def approval_decide(
    *, actor: User, request: ApprovalRequest, decision: str, comment: str = ""
) -> ApprovalRequest:
    """The current step's approver approves or rejects.

    Approving opens the next step or, on the last step, approves the request and runs the kind's
    ``on_approved`` hook; rejecting (which needs a comment) ends the request and runs ``on_rejected``.
    """
    request = _lock(request)
    comment = (comment or "").strip()
    if request.status != ApprovalStatus.PENDING:
        raise ValidationError(ERR_NOT_PENDING)
    step = _current_step(request)
    if step is None or step.approver_id != actor.pk:
        raise PermissionDenied(ERR_NOT_YOUR_TURN)
    if decision not in ApprovalDecision.values:
        raise ValidationError({"decision": ERR_BAD_DECISION})
    if decision == ApprovalDecision.REJECT and not comment:
        raise ValidationError({"comment": ERR_REJECT_NEEDS_COMMENT})
    entry = approval_kind_get(request.kind)
    if entry is None:
        raise ValidationError(ERR_UNKNOWN_KIND, params={"kind": request.kind})

    now = timezone.now()
    step.decision, step.comment, step.decided_at = decision, comment, now
    step.save(update_fields=["decision", "comment", "decided_at"])
    before = snapshot(request, ["status", "current_step"])
    requester, title = request.requester, request.title

    if decision == ApprovalDecision.APPROVE:
        _event(request, actor, EVENT_APPROVED, comment)
        next_step = (
            ApprovalStep.objects.filter(request=request, order__gt=step.order).order_by("order").first()
        )
        if next_step is not None:
            request.current_step = next_step.order
            request.save(update_fields=["current_step"])
            audit_record(
                actor=actor,
                action=AuditAction.UPDATE,
                obj=request,
                verb="approval.step_approved",
                changes=diff(before, snapshot(request, before.keys())),
                extra={"step": step.order, "comment": comment},
            )
            next_step.request = request
            _notify_step_open(request, next_step, actor)
            return request
        request.status, request.decided_at, request.outcome_note = ApprovalStatus.APPROVED, now, comment
        request.save(update_fields=["status", "decided_at", "outcome_note"])
        entry.on_approved(request, actor)
        verb = "approval.approved"
        message = _("Approved: {title}")
    else:
        _event(request, actor, EVENT_REJECTED, comment)
        request.status, request.decided_at, request.outcome_note = ApprovalStatus.REJECTED, now, comment
        request.save(update_fields=["status", "decided_at", "outcome_note"])
        if entry.on_rejected is not None:
            entry.on_rejected(request, actor)
        verb = "approval.rejected"
        message = _("Rejected: {title}")
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=request,
        verb=verb,
        changes=diff(before, snapshot(request, before.keys())),
        extra={"step": step.order, "comment": comment},
    )
    _notify(
        recipients=[requester],
        title=lambda: format_lazy(message, title=title),
        body=comment,
        subject=request,
        url=approval_url(request),
        event=verb,
        actor=actor,
    )
    _publish("approval.decided", request, actor, decided_by=actor, comment=comment)
    return request


def approval_participants(request: ApprovalRequest) -> list[User]:
    """The requester and every approver of the request, each once."""
    people = {request.requester_id: request.requester}
    for step in request.steps.select_related("approver"):
        people.setdefault(step.approver_id, step.approver)
    return list(people.values())


@transaction.atomic
def approval_comment(*, actor: User, request: ApprovalRequest, comment: str) -> ApprovalEvent:
    """The requester or an approver adds a comment; the other participants are told."""
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError({"comment": ERR_COMMENT_REQUIRED})
    participants = approval_participants(request)
    if actor.pk not in {p.pk for p in participants}:
        raise PermissionDenied(ERR_NOT_PARTICIPANT)
    event = _event(request, actor, EVENT_COMMENTED, comment)
    audit_record(
        actor=actor,
        action=AuditAction.ACTION,
        obj=request,
        verb="approval.commented",
        extra={"comment": comment},
    )
    title = request.title
    _notify(
        recipients=participants,
        title=lambda: format_lazy(_("{name} commented on: {title}"), name=actor, title=title),
        body=comment,
        subject=request,
        url=approval_url(request),
        event="approval.commented",
        actor=actor,
    )
    return event


@transaction.atomic
def approval_cancel(*, actor: User, request: ApprovalRequest) -> ApprovalRequest:
    """The requester withdraws a pending request; the approver it waits for is told."""
    request = _lock(request)
    if request.requester_id != actor.pk:
        raise PermissionDenied(ERR_ONLY_REQUESTER_CANCELS)
    if request.status != ApprovalStatus.PENDING:
        raise ValidationError(ERR_NOT_PENDING)
    before = snapshot(request, ["status"])
    request.status, request.decided_at = ApprovalStatus.CANCELLED, timezone.now()
    request.save(update_fields=["status", "decided_at"])
    _event(request, actor, EVENT_CANCELLED)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=request,
        verb="approval.cancelled",
        changes=diff(before, snapshot(request, before.keys())),
    )
    step = _current_step(request)
    title = request.title
    if step is not None:
        _notify(
            recipients=[step.approver],
            title=lambda: format_lazy(_("Withdrawn: {title}"), title=title),
            subject=request,
            url=approval_url(request),
            event="approval.cancelled",
            actor=actor,
        )
    _publish("approval.decided", request, actor, decided_by=actor)
    return request
