"""Screens for approvals: the list with its three tabs, a request's page with its decision forms, the
administrators' routes, and the manager's "request a role for a team member" form.

Decide / comment / cancel post back to the request's panel; with htmx only the panel is swapped, without
JavaScript the page redirects to itself.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.forms import formset_factory
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.approval_kinds import ROLE_GRANT, user_is_manager
from steelyard.core.models import ApprovalDecision, ApprovalRequest, ApprovalRoute, ApprovalStatus
from steelyard.core.selectors import approvals as selectors
from steelyard.core.services import approvals as services

PAGE_SIZE = 25


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _apply_errors(form: forms.BaseForm, exc: ValidationError, mapping: dict[str, str] | None = None) -> None:
    """Put a service's ``ValidationError`` on the form, on the matching field where there is one."""
    mapping = mapping or {}
    if hasattr(exc, "error_dict"):
        for key, errors in exc.error_dict.items():
            name = mapping.get(key, key)
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


# --- forms -------------------------------------------------------------------------------------------------


class PanelForm(forms.Form):
    """A form inside the htmx-swapped panel: no element ids, so htmx's settle step (which copies
    attributes between old and new elements of the same id) never writes a style attribute the CSP forbids.
    The template wraps each field in its label instead."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", False)
        super().__init__(*args, **kwargs)


class DecisionForm(PanelForm):
    decision = forms.ChoiceField(label=_("Decision"), choices=ApprovalDecision.choices)
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
        help_text=_("Required when you reject."),
    )


class CommentForm(PanelForm):
    comment = forms.CharField(
        label=_("Comment"), widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"})
    )


class RoleRequestForm(forms.Form):
    """A manager asks for roles to be granted to somebody in their team."""

    member = forms.ModelChoiceField(
        label=_("Team member"), queryset=None, widget=forms.Select(attrs={"class": "form-select"})
    )
    roles = forms.ModelMultipleChoiceField(
        label=_("Roles to add"), queryset=None, widget=forms.CheckboxSelectMultiple
    )
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"}),
        help_text=_("Say why the person needs the role; the administrator reads this."),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        from steelyard.org.models import Role, User

        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = (
            User.objects.visible_to(user)
            .filter(is_active=True, is_machine=False)
            .exclude(pk=user.pk)
            .order_by("display_name", "username")
        )
        self.fields["roles"].queryset = Role.objects.filter(is_machine=False).order_by("code")


class RouteForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=120, widget=forms.TextInput(attrs={"class": "form-control"})
    )
    is_active = forms.BooleanField(
        label=_("Active"),
        required=False,
        initial=True,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
        help_text=_("When inactive, the kind's built-in default steps apply."),
    )


class StepForm(forms.Form):
    """One row of a route: a step type and the value that type needs."""

    type = forms.ChoiceField(
        label=_("Step type"),
        required=False,
        choices=[
            ("", "—"),
            (services.STEP_MANAGER, _("Manager")),
            (services.STEP_ROLE, _("Role")),
            (services.STEP_USER, _("Person")),
        ],
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    level = forms.IntegerField(
        label=_("Manager level"),
        required=False,
        min_value=1,
        max_value=services.MAX_MANAGER_LEVEL,
        widget=forms.NumberInput(attrs={"class": "form-control form-control-sm"}),
    )
    role = forms.ModelChoiceField(
        label=_("Role"),
        required=False,
        queryset=None,
        to_field_name="code",
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    user = forms.ModelChoiceField(
        label=_("Person"),
        required=False,
        queryset=None,
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from steelyard.org.models import Role, User

        super().__init__(*args, **kwargs)
        self.fields["role"].queryset = Role.objects.filter(is_machine=False).order_by("code")
        self.fields["user"].queryset = User.objects.filter(is_active=True, is_machine=False).order_by(
            "username"
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind = data.get("type")
        if kind == services.STEP_MANAGER and not data.get("level"):
            self.add_error("level", _("Give the manager level (1 = direct manager)."))
        elif kind == services.STEP_ROLE and not data.get("role"):
            self.add_error("role", _("Choose the role."))
        elif kind == services.STEP_USER and not data.get("user"):
            self.add_error("user", _("Choose the person."))
        return data

    def step(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        kind = data.get("type")
        if not kind or data.get("DELETE"):
            return None
        if kind == services.STEP_MANAGER:
            return {"type": kind, "level": data["level"]}
        if kind == services.STEP_ROLE:
            return {"type": kind, "role": data["role"].code}
        return {"type": kind, "user": data["user"].pk}


StepFormSet = formset_factory(StepForm, extra=2, can_delete=True)


# --- helpers for display -----------------------------------------------------------------------------------


def step_rule_label(rule: dict[str, Any]) -> str:
    from steelyard.org.models import Role

    kind = rule.get("type")
    if kind == services.STEP_MANAGER:
        return str(_("Manager, level %(level)s") % {"level": rule.get("level", 1)})
    if kind == services.STEP_ROLE:
        role = Role.objects.filter(code=rule.get("role")).first()
        return str(_("Role: %(role)s") % {"role": role or rule.get("role")})
    if kind == services.STEP_USER:
        return str(_("Named person"))
    return str(_("Fallback: an administrator"))


def _subject_link(req: ApprovalRequest) -> tuple[str, str]:
    """The subject's name and, when it has a page, its URL."""
    try:
        subject = req.subject
    except Exception:  # a deleted record or a removed model
        subject = None
    if subject is None:
        return (str(_("(record no longer exists)")), "")
    url = ""
    get_url = getattr(subject, "get_absolute_url", None)
    if callable(get_url):
        try:
            url = str(get_url())
        except Exception:
            url = ""
    return (str(subject), url)


def _panel_context(request: HttpRequest, req: ApprovalRequest, **extra: Any) -> dict[str, Any]:
    steps = list(selectors.approval_steps(req))
    user = request.user
    current = next((s for s in steps if s.order == req.current_step), None)
    pending = req.status == ApprovalStatus.PENDING
    participant_ids = {req.requester_id, *(s.approver_id for s in steps)}
    rows = []
    for s in steps:
        if s.decision:
            state = s.decision
        elif pending and s.order == req.current_step:
            state = "current"
        elif pending:
            state = "waiting"
        else:
            state = "skipped"
        rows.append({"step": s, "rule": step_rule_label(s.rule), "state": state})
    ctx = {
        "req": req,
        "step_rows": rows,
        "events": list(selectors.approval_events(req)),
        "can_decide": pending and current is not None and current.approver_id == user.pk,
        "can_cancel": pending and req.requester_id == user.pk,
        "can_comment": user.pk in participant_ids,
        "decision_form": DecisionForm(),
        "comment_form": CommentForm(),
    }
    ctx.update(extra)
    return ctx


def _get_visible(request: HttpRequest, pk: int) -> ApprovalRequest:
    req = selectors.approval_detail(user=request.user, pk=pk)
    if req is None:
        raise Http404
    return req


def _panel_response(
    request: HttpRequest, req: ApprovalRequest, status: int = 200, **extra: Any
) -> HttpResponse:
    if is_htmx(request):
        return render(
            request, "core/approvals/detail.html#panel", _panel_context(request, req, **extra), status=status
        )
    ctx = _panel_context(request, req, **extra)
    ctx.update(_page_context(req))
    return render(request, "core/approvals/detail.html", ctx, status=status)


def _page_context(req: ApprovalRequest) -> dict[str, Any]:
    name, url = _subject_link(req)
    entry = services.approval_kind_get(req.kind)
    return {
        "subject_name": name,
        "subject_url": url,
        "kind_label": entry.label if entry else req.kind,
        "change_rows": services.approval_change_rows(req),
    }


# --- views -------------------------------------------------------------------------------------------------


@access.authenticated
def approval_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    params = request.GET
    tab = params.get("tab") if params.get("tab") in selectors.TABS else selectors.TAB_WAITING
    filters = {
        "tab": tab,
        "status": params.get("status", ""),
        "kind": params.get("kind", ""),
        "q": params.get("q", "").strip(),
        "sort": params.get("sort") if params.get("sort") in selectors.SORTS else selectors.DEFAULT_SORT,
    }
    page = Paginator(selectors.approval_list(user=user, filters=filters), PAGE_SIZE).get_page(
        params.get("page")
    )
    waiting_count = selectors.approvals_waiting_for(user).count()
    query = params.copy()
    query.pop("page", None)
    kinds = [(k.kind, k.label) for k in services.approval_kinds()]
    kind_labels = dict(kinds)
    for r in page.object_list:
        r.kind_label = kind_labels.get(r.kind, r.kind)
    return render(
        request,
        "core/approvals/list.html",
        {
            "page": page,
            "filters": filters,
            "tabs": [
                (selectors.TAB_WAITING, _("Waiting for me")),
                (selectors.TAB_MINE, _("My requests")),
                (selectors.TAB_ALL, _("All I can see")),
            ],
            "statuses": ApprovalStatus.choices,
            "kinds": kinds,
            "sorts": [
                ("newest", _("Newest first")),
                ("oldest", _("Oldest first")),
                ("title", _("Title")),
                ("status", _("Status")),
            ],
            "waiting_count": waiting_count,
            "query": query.urlencode(),
            "filtered": bool(filters["status"] or filters["kind"] or filters["q"]),
            "can_request_role": user_is_manager(user),
            "is_admin": access.user_has_role(user, access.ADMINISTRATOR),
        },
    )


@access.authenticated
def approval_detail(request: HttpRequest, pk: int) -> HttpResponse:
    req = _get_visible(request, pk)
    ctx = _panel_context(request, req)
    ctx.update(_page_context(req))
    return render(request, "core/approvals/detail.html", ctx)


@access.authenticated
@require_POST
def approval_decide(request: HttpRequest, pk: int) -> HttpResponse:
    req = _get_visible(request, pk)
    form = DecisionForm(request.POST)
    if form.is_valid():
        try:
            req = services.approval_decide(
                actor=request.user,
                request=req,
                decision=form.cleaned_data["decision"],
                comment=form.cleaned_data["comment"],
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            done = {
                ApprovalStatus.APPROVED: _("Approved."),
                ApprovalStatus.REJECTED: _("Rejected."),
            }.get(req.status, _("Approved; the request moves to the next approver."))
            messages.success(request, done)
            if not is_htmx(request):
                return HttpResponseRedirect(reverse("approval_detail", args=[req.pk]))
            req.refresh_from_db()
            return _panel_response(request, req, flash=done)
    return _panel_response(request, req, status=422, decision_form=form)


@access.authenticated
@require_POST
def approval_comment(request: HttpRequest, pk: int) -> HttpResponse:
    req = _get_visible(request, pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.approval_comment(actor=request.user, request=req, comment=form.cleaned_data["comment"])
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            if not is_htmx(request):
                messages.success(request, _("Comment added."))
                return HttpResponseRedirect(reverse("approval_detail", args=[req.pk]))
            return _panel_response(request, req, flash=_("Comment added."))
    return _panel_response(request, req, status=422, comment_form=form)


@access.authenticated
@require_POST
def approval_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    req = _get_visible(request, pk)
    try:
        services.approval_cancel(actor=request.user, request=req)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Request withdrawn."))
    return HttpResponseRedirect(reverse("approval_detail", args=[req.pk]))


@access.authenticated
def approval_role_request(request: HttpRequest) -> HttpResponse:
    """A manager asks an administrator to grant roles to one of their team members."""
    if not user_is_manager(request.user):
        raise PermissionDenied
    form = RoleRequestForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        member = form.cleaned_data["member"]
        codes = sorted(r.code for r in form.cleaned_data["roles"])
        try:
            req = services.approval_request_create(
                actor=request.user,
                subject=member,
                kind=ROLE_GRANT,
                requested_change={"add_roles": codes},
                reason=form.cleaned_data["reason"],
                title=str(_("Roles for %(name)s") % {"name": member}),
            )
        except ValidationError as exc:
            _apply_errors(form, exc, {"requested_change": "roles"})
        else:
            messages.success(request, _("Request sent for approval."))
            return HttpResponseRedirect(reverse("approval_detail", args=[req.pk]))
    return render(request, "core/approvals/role_request.html", {"form": form})


@access.admin_only
def approval_route_list(request: HttpRequest) -> HttpResponse:
    routes = {r.kind: r for r in selectors.approval_route_list()}
    rows = []
    for entry in services.approval_kinds():
        route = routes.pop(entry.kind, None)
        steps = route.steps if route is not None and route.is_active and route.steps else entry.default_steps
        rows.append(
            {
                "kind": entry.kind,
                "label": entry.label,
                "route": route,
                "steps": [step_rule_label(s) for s in steps],
                "uses_default": route is None or not route.is_active,
            }
        )
    orphans = list(routes.values())  # routes whose kind no module registers any more
    return render(request, "core/approvals/route_list.html", {"rows": rows, "orphans": orphans})


@access.admin_only
def approval_route_edit(request: HttpRequest, kind: str) -> HttpResponse:
    entry = services.approval_kind_get(kind)
    if entry is None:
        raise Http404
    route = ApprovalRoute.objects.filter(kind=kind).first()
    current_steps = route.steps if route is not None else entry.default_steps
    if request.method == "POST":
        form = RouteForm(request.POST)
        formset = StepFormSet(request.POST, prefix="steps")
    else:
        form = RouteForm(
            initial={
                "name": route.name if route else str(entry.label),
                "is_active": route.is_active if route else True,
            }
        )
        formset = StepFormSet(prefix="steps", initial=[_step_initial(s) for s in current_steps])
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        steps = [s for s in (f.step() for f in formset.forms) if s]
        try:
            services.approval_route_save(
                actor=request.user,
                kind=kind,
                name=form.cleaned_data["name"],
                steps=steps,
                is_active=form.cleaned_data["is_active"],
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, _("Route saved."))
            return HttpResponseRedirect(reverse("approval_route_list"))
    return render(
        request,
        "core/approvals/route_edit.html",
        {"form": form, "formset": formset, "entry": entry, "route": route},
    )


def _step_initial(step: dict[str, Any]) -> dict[str, Any]:
    kind = step.get("type")
    if kind == services.STEP_MANAGER:
        return {"type": kind, "level": step.get("level", 1)}
    if kind == services.STEP_ROLE:
        return {"type": kind, "role": step.get("role")}
    if kind == services.STEP_USER:
        return {"type": kind, "user": step.get("user")}
    return {}
