"""Visit and activity pages: the list, one activity, plan / log / edit forms, phone check-in,
the overdue-visit list and the rep's my-day page.

Reads go through ``selectors.activities`` (scoped; out of scope is 404), writes through
``services.activities`` (audited).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.core.scopes import CHANGE, SCOPE_ORDER, Scope, user_scope
from steelyard.customers.models import Activity, ActivityKind, ActivityStatus, Contact, Customer
from steelyard.customers.selectors import activities as selectors
from steelyard.customers.services import activities as services

# --- forms ---------------------------------------------------------------------------------------


class _Styled:
    def style_fields(self) -> None:
        for field in self.fields.values():  # type: ignore[attr-defined]
            w = field.widget
            if isinstance(w, forms.CheckboxSelectMultiple | forms.HiddenInput):
                continue
            css = "form-select" if isinstance(w, forms.Select | forms.SelectMultiple) else "form-control"
            w.attrs.setdefault("class", css)


class MultiplePhotoInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Zero or more image files (the browser offers the camera on a phone)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            MultiplePhotoInput(attrs={"accept": "image/jpeg,image/png,image/gif", "capture": "environment"}),
        )
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(PhotosField, self).clean(f, initial) for f in files]


def _dt_widget() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class ActivityForm(_Styled, forms.Form):
    """Plan or log an activity (``mode`` "plan" or "log"); the customer is fixed or chosen from one's own."""

    customer = forms.ModelChoiceField(label=gettext_lazy("Customer"), queryset=Customer.objects.none())
    kind = forms.ChoiceField(label=gettext_lazy("Type"), choices=ActivityKind.choices)
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200)
    planned_at = forms.DateTimeField(label=gettext_lazy("Planned for"), required=False, widget=_dt_widget())
    occurred_at = forms.DateTimeField(
        label=gettext_lazy("Happened at"),
        required=False,
        widget=_dt_widget(),
        help_text=gettext_lazy("Leave empty for now."),
    )
    purpose = forms.CharField(
        label=gettext_lazy("Purpose"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    outcome = forms.CharField(
        label=gettext_lazy("Outcome"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    next_step = forms.CharField(label=gettext_lazy("Next step"), max_length=200, required=False)
    contacts = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Customer contacts"), queryset=Contact.objects.none(), required=False
    )
    photos = PhotosField(label=gettext_lazy("Photos"))

    def __init__(
        self, *args: Any, user: Any, mode: str, customer: Customer | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.mode = mode
        if customer is not None:
            self.fields["customer"].queryset = Customer.objects.filter(pk=customer.pk)
            self.fields["customer"].initial = customer.pk
            self.fields["customer"].widget = forms.HiddenInput()
            self.fields["contacts"].queryset = Contact.objects.filter(customer=customer, is_active=True)
        else:
            self.fields["customer"].queryset = Customer.objects.visible_to(user).filter(owner=user)
            del self.fields["contacts"]
        if mode == "plan":
            for name in ("occurred_at", "outcome", "next_step", "photos"):
                del self.fields[name]
            self.fields["planned_at"].required = True
        else:
            del self.fields["planned_at"]
        self.style_fields()


class EditForm(_Styled, forms.Form):
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200)
    planned_at = forms.DateTimeField(label=gettext_lazy("Planned for"), required=False, widget=_dt_widget())
    occurred_at = forms.DateTimeField(label=gettext_lazy("Happened at"), required=False, widget=_dt_widget())
    purpose = forms.CharField(
        label=gettext_lazy("Purpose"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    outcome = forms.CharField(
        label=gettext_lazy("Outcome"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    next_step = forms.CharField(label=gettext_lazy("Next step"), max_length=200, required=False)

    def __init__(self, *args: Any, activity: Activity, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if activity.status == ActivityStatus.PLANNED:
            del self.fields["outcome"]
            del self.fields["occurred_at"]
        self.style_fields()


class CompleteForm(_Styled, forms.Form):
    """The outcome of a planned activity, with visit photos."""

    outcome = forms.CharField(label=gettext_lazy("Outcome"), widget=forms.Textarea(attrs={"rows": 3}))
    next_step = forms.CharField(label=gettext_lazy("Next step"), max_length=200, required=False)
    photos = PhotosField(label=gettext_lazy("Photos"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_fields()


class CancelForm(_Styled, forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_fields()


def _apply_error(form: forms.Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _is_manager(user: Any) -> bool:
    scope = user_scope(user)
    return scope is not None and SCOPE_ORDER.get(scope, 0) >= SCOPE_ORDER[Scope.TEAM]


def _editable(user: Any, activity: Activity) -> bool:
    return Activity.objects.visible_to(user, CHANGE).filter(pk=activity.pk).exists()


# --- pages ---------------------------------------------------------------------------------------


@access.authenticated
def activity_list(request: HttpRequest) -> HttpResponse:
    """Activities the user can see (a manager: the team's), filtered and paginated."""
    f = selectors.ActivityFilter(request.GET, user=request.user)
    page = paginate(request, f.apply(selectors.activity_list(user=request.user)))
    return render(
        request,
        "customers/activity_list.html",
        {"filter": f, "page": page, "sorts": f.sort_links(request), "is_manager": _is_manager(request.user)},
    )


@access.authenticated
def activity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    activity = selectors.activity_get(user=request.user, pk=pk)
    if activity is None:
        raise Http404
    editable = _editable(request.user, activity)
    planned = activity.status == ActivityStatus.PLANNED
    return render(
        request,
        "customers/activity_detail.html",
        {
            "activity": activity,
            "editable": editable,
            "can_checkin": editable
            and planned
            and activity.kind == ActivityKind.VISIT
            and not activity.checkin_at,
            "complete_form": CompleteForm() if editable and planned else None,
            "cancel_form": CancelForm() if editable and planned else None,
            "participants": list(activity.participants.all()),
            "contacts": list(activity.contacts.all()),
        },
    )


def _customer_from_query(request: HttpRequest) -> Customer | None:
    raw = request.GET.get("customer") or request.POST.get("customer")
    if not raw:
        return None
    try:
        return get_object_or_404(Customer.objects.visible_to(request.user), pk=int(raw))
    except ValueError:
        raise Http404 from None


def _save_photos(request: HttpRequest, activity: Activity, photos: list[Any]) -> bool:
    if not photos:
        return True
    try:
        services.activity_photos_add(actor=request.user, activity=activity, photos=photos)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return False
    return True


@access.authenticated
def activity_create(request: HttpRequest, mode: str = "log") -> HttpResponse:
    """Plan (``mode="plan"``) or log (``mode="log"``) an activity, optionally for ``?customer=``."""
    customer = _customer_from_query(request)
    initial = {"kind": request.GET.get("kind") or ActivityKind.VISIT}
    form = ActivityForm(
        request.POST or None,
        request.FILES or None,
        user=request.user,
        mode=mode,
        customer=customer,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        common = {
            "actor": request.user,
            "customer": data["customer"],
            "kind": data["kind"],
            "subject": data["subject"],
            "purpose": data["purpose"],
            "contacts": data.get("contacts") or (),
        }
        try:
            if mode == "plan":
                activity = services.activity_plan(planned_at=data["planned_at"], **common)
            else:
                activity = services.activity_log(
                    occurred_at=data["occurred_at"],
                    outcome=data["outcome"],
                    next_step=data["next_step"],
                    **common,
                )
        except ValidationError as e:
            _apply_error(form, e)
        except PermissionDenied:
            raise Http404 from None
        else:
            _save_photos(request, activity, data.get("photos") or [])
            messages.success(request, _("Activity saved.") if mode == "log" else _("Activity planned."))
            return redirect(activity.get_absolute_url())
    title = _("Plan an activity") if mode == "plan" else _("Log an activity")
    return render(
        request,
        "customers/activity_form.html",
        {"form": form, "title": title, "customer": customer, "multipart": mode == "log"},
    )


@access.authenticated
def activity_edit(request: HttpRequest, pk: int) -> HttpResponse:
    activity = get_object_or_404(
        Activity.objects.visible_to(request.user, CHANGE).select_related("customer"), pk=pk
    )
    initial = {
        "subject": activity.subject,
        "planned_at": timezone.localtime(activity.planned_at) if activity.planned_at else None,
        "occurred_at": timezone.localtime(activity.occurred_at) if activity.occurred_at else None,
        "purpose": activity.purpose,
        "outcome": activity.outcome,
        "next_step": activity.next_step,
    }
    form = EditForm(request.POST or None, activity=activity, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.activity_update(actor=request.user, activity=activity, **form.cleaned_data)
        except ValidationError as e:
            _apply_error(form, e)
        else:
            messages.success(request, _("Activity updated."))
            return redirect(activity.get_absolute_url())
    return render(
        request,
        "customers/activity_form.html",
        {"form": form, "title": _("Edit activity"), "customer": activity.customer, "activity": activity},
    )


def _changeable(request: HttpRequest, pk: int) -> Activity:
    return get_object_or_404(Activity.objects.visible_to(request.user, CHANGE), pk=pk)


@access.authenticated
@require_POST
def activity_complete(request: HttpRequest, pk: int) -> HttpResponse:
    """Log the outcome of a planned activity (a visit: after checking in), with photos."""
    activity = _changeable(request, pk)
    form = CompleteForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.activity_complete(
                actor=request.user,
                activity=activity,
                outcome=form.cleaned_data["outcome"],
                next_step=form.cleaned_data["next_step"],
            )
        except ValidationError as e:
            _apply_error(form, e)
        else:
            _save_photos(request, activity, form.cleaned_data["photos"])
            messages.success(request, _("Outcome saved. The customer's follow-up clock has moved."))
            return redirect(activity.get_absolute_url())
    for errors in form.errors.values():
        for e in errors:
            messages.error(request, e)
    return redirect(activity.get_absolute_url())


@access.authenticated
@require_POST
def activity_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    activity = _changeable(request, pk)
    form = CancelForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(services.ERR_REASON_REQUIRED)
        services.activity_cancel(actor=request.user, activity=activity, reason=form.cleaned_data["reason"])
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        messages.success(request, _("Activity cancelled."))
    return redirect(activity.get_absolute_url())


@access.authenticated
@require_POST
def activity_checkin(request: HttpRequest, pk: int) -> HttpResponse:
    """Check in to a planned visit. ``checkin.js`` posts the position; without one, the time only."""
    activity = _changeable(request, pk)
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        activity = services.activity_checkin(
            actor=request.user,
            activity=activity,
            lat=request.POST.get("lat"),
            lng=request.POST.get("lng"),
            accuracy_m=request.POST.get("accuracy_m"),
        )
    except ValidationError as e:
        text = " ".join(e.messages)
        if wants_json:
            return JsonResponse({"ok": False, "message": text}, status=400)
        messages.error(request, text)
        return redirect(activity.get_absolute_url())
    if activity.checkin_lat is not None:
        text = _("Checked in at %(time)s with your location (±%(acc)s m). Now log the outcome.") % {
            "time": timezone.localtime(activity.checkin_at).strftime("%H:%M"),
            "acc": activity.checkin_accuracy_m if activity.checkin_accuracy_m is not None else "?",
        }
    else:
        text = _("Checked in at %(time)s without a location (it was not shared). Now log the outcome.") % {
            "time": timezone.localtime(activity.checkin_at).strftime("%H:%M")
        }
    messages.success(request, text)
    if wants_json:
        return JsonResponse({"ok": True, "message": text, "next": activity.get_absolute_url()})
    return redirect(activity.get_absolute_url())


@access.authenticated
def visits_overdue(request: HttpRequest) -> HttpResponse:
    """Customers overdue for a visit: the rep's own; a manager sees the team grouped by rep."""
    is_manager = _is_manager(request.user)
    team = is_manager and request.GET.get("scope") != "mine"
    page = paginate(request, selectors.visits_overdue(user=request.user, team=team))
    by_rep = selectors.visits_overdue_by_rep(user=request.user) if team else []
    return render(
        request,
        "customers/activity_overdue.html",
        {"page": page, "by_rep": by_rep, "team": team, "is_manager": is_manager},
    )


@access.authenticated
def my_day(request: HttpRequest) -> HttpResponse:
    """The rep's day on a phone: today's visits, overdue follow-ups, customers about to be recycled."""
    return render(request, "customers/myday.html", selectors.my_day(user=request.user))


def section_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """The activity timeline section of the customer page (scoped to what the viewer may see)."""
    return {
        "act_customer": customer,
        "act_items": selectors.activity_timeline(user=request.user, customer=customer, limit=20),
        "act_list_url": f"{reverse('activity_list')}?customer={customer.pk}",
    }
