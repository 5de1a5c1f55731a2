"""Webhook screens for administrators: subscriptions (create, edit, deactivate, rotate the secret, send a
test event) and the delivery log (filters, detail with payload and attempts, replay).

Reads go through ``steelyard.integrations.selectors.webhooks``, writes through the audited services in
``steelyard.integrations.services.webhooks``.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.events import event_types
from steelyard.core.filters import paginate
from steelyard.core.selectors.audit import audit_for_object
from steelyard.integrations.models import DeliveryStatus, ExternalSystem, WebhookSubscription
from steelyard.integrations.selectors import webhooks as selectors
from steelyard.integrations.services import webhooks as services


class SubscriptionForm(forms.Form):
    """A subscription: which system, where to, which events. The secret is generated, never typed."""

    system = forms.ModelChoiceField(
        label=_("System"),
        queryset=ExternalSystem.objects.none(),
        empty_label=_("Choose a system"),
    )
    url = forms.URLField(
        label=_("Endpoint URL"),
        max_length=500,
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"], message=services.ERR_URL)],
        help_text=_("The receiver's address; events are POSTed to it as signed JSON."),
    )
    events = forms.MultipleChoiceField(
        label=_("Events"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one event.")},
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["system"].queryset = ExternalSystem.objects.order_by("name")  # type: ignore[attr-defined]
        self.fields["events"].choices = selectors.event_choices()  # type: ignore[attr-defined]
        for name in ("system",):
            self.fields[name].widget.attrs.setdefault("class", "form-select")
        for name in ("url", "description"):
            self.fields[name].widget.attrs.setdefault("class", "form-control")
        self.fields["is_active"].widget.attrs.setdefault("class", "form-check-input")
        self.fields["events"].widget.attrs.setdefault("class", "form-check-input")

    def event_rows(self) -> list[dict[str, Any]]:
        """The event checkboxes with each type's description, for the template."""
        described = {et.code: et for et in event_types()}
        rows = []
        for box in self["events"]:
            et = described.get(str(box.data["value"]))
            rows.append({"box": box, "code": box.data["value"], "description": et.description if et else ""})
        return rows


def _apply_error(form: forms.Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errs in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errs)
    else:
        form.add_error(None, error)


# --- subscriptions -----------------------------------------------------------------------------------------


@access.admin_only
def webhook_list(request: HttpRequest) -> HttpResponse:
    f = selectors.SubscriptionFilter(request.GET, user=request.user)
    page = paginate(request, selectors.webhook_subscription_list(user=request.user, filters=request.GET))
    labels = dict(selectors.event_choices())
    for sub in page:
        sub.event_labels = [labels.get(code, code) for code in sub.events or []]
    return render(
        request,
        "integrations/webhooks/subscription_list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "has_systems": ExternalSystem.objects.exists(),
        },
    )


@access.admin_only
def webhook_create(request: HttpRequest) -> HttpResponse:
    initial: dict[str, Any] = {"is_active": True}
    if request.GET.get("system", "").isdigit():
        initial["system"] = int(request.GET["system"])
    form = SubscriptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sub = services.webhook_subscription_create(
                actor=request.user,
                system=data["system"],
                url=data["url"],
                events=data["events"],
                description=data["description"],
                is_active=data["is_active"],
            )
        except ValidationError as e:
            _apply_error(form, e)
        else:
            messages.success(
                request, _("Subscription created. Give its signing secret to the receiving system.")
            )
            return redirect("webhook_detail", sub.pk)
    return render(
        request,
        "integrations/webhooks/subscription_form.html",
        {"form": form, "title": _("New webhook subscription"), "cancel_url": reverse("webhook_list")},
    )


@access.admin_only
def webhook_edit(request: HttpRequest, pk: int) -> HttpResponse:
    sub = selectors.webhook_subscription_get(user=request.user, pk=pk)
    initial = {
        "system": sub.system_id,
        "url": sub.url,
        "events": list(sub.events or []),
        "description": sub.description,
        "is_active": sub.is_active,
    }
    form = SubscriptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.webhook_subscription_update(
                actor=request.user,
                subscription=sub,
                system=data["system"],
                url=data["url"],
                events=data["events"],
                description=data["description"],
                is_active=data["is_active"],
            )
        except ValidationError as e:
            _apply_error(form, e)
        else:
            messages.success(request, _("Subscription saved."))
            return redirect("webhook_detail", sub.pk)
    return render(
        request,
        "integrations/webhooks/subscription_form.html",
        {
            "form": form,
            "subscription": sub,
            "title": _("Edit webhook subscription"),
            "cancel_url": reverse("webhook_detail", args=[sub.pk]),
        },
    )


@access.admin_only
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    sub = selectors.webhook_subscription_get(user=request.user, pk=pk)
    labels = dict(selectors.event_choices())
    return render(
        request,
        "integrations/webhooks/subscription_detail.html",
        {
            "sub": sub,
            "events": [(code, labels.get(code, code)) for code in sub.events or []],
            "deliveries": selectors.webhook_recent_deliveries(user=request.user, subscription=sub),
            "audit_entries": audit_for_object(user=request.user, obj=sub, limit=20),  # type: ignore[arg-type]
            "scheme": {
                "event": services.HEADER_EVENT,
                "delivery": services.HEADER_DELIVERY,
                "timestamp": services.HEADER_TIMESTAMP,
                "signature": services.HEADER_SIGNATURE,
            },
        },
    )


@access.admin_only
@require_POST
def webhook_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    sub = selectors.webhook_subscription_get(user=request.user, pk=pk)
    services.webhook_subscription_rotate_secret(actor=request.user, subscription=sub)
    messages.success(
        request, _("New signing secret generated. The old one no longer works: update the receiver.")
    )
    return redirect("webhook_detail", sub.pk)


@access.admin_only
@require_POST
def webhook_test(request: HttpRequest, pk: int) -> HttpResponse:
    sub = selectors.webhook_subscription_get(user=request.user, pk=pk)
    try:
        delivery = services.webhook_send_test(actor=request.user, subscription=sub)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return redirect("webhook_detail", sub.pk)
    messages.success(request, _("Test event queued. Its delivery shows how the receiver answered."))
    return redirect("webhook_delivery_detail", delivery.pk)


@access.admin_only
@require_POST
def webhook_set_active(request: HttpRequest, pk: int) -> HttpResponse:
    sub = selectors.webhook_subscription_get(user=request.user, pk=pk)
    active = request.POST.get("active") == "1"
    services.webhook_subscription_set_active(actor=request.user, subscription=sub, is_active=active)
    if active:
        messages.success(request, _("Subscription activated."))
    else:
        messages.success(request, _("Subscription deactivated: nothing more is sent to it."))
    return redirect("webhook_detail", sub.pk)


# --- deliveries --------------------------------------------------------------------------------------------


@access.admin_only
def webhook_delivery_list(request: HttpRequest) -> HttpResponse:
    f = selectors.DeliveryFilter(request.GET, user=request.user)
    page = paginate(request, selectors.webhook_delivery_list(user=request.user, filters=request.GET))
    subscription = None
    sub_id = f.valid_data.get("subscription")
    if sub_id:
        subscription = WebhookSubscription.objects.filter(pk=sub_id).select_related("system").first()
    labels = dict(selectors.event_choices(with_test=True))
    for d in page:
        d.event_label = labels.get(d.event, d.event)
    return render(
        request,
        "integrations/webhooks/delivery_list.html",
        {"filter": f, "page": page, "sorts": f.sort_links(request), "subscription": subscription},
    )


@access.admin_only
def webhook_delivery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = selectors.webhook_delivery_get(user=request.user, pk=pk)
    return render(
        request,
        "integrations/webhooks/delivery_detail.html",
        {
            "d": delivery,
            "event_label": selectors.event_label(delivery.event),
            "payload": json.dumps(delivery.payload, ensure_ascii=False, indent=2, sort_keys=True),
            "attempts": selectors.webhook_delivery_attempts(user=request.user, delivery=delivery),
            "replays": selectors.webhook_delivery_replays(user=request.user, delivery=delivery),
            "can_replay": delivery.status in services.REPLAYABLE,
            "max_attempts": services.MAX_ATTEMPTS,
            "audit_entries": audit_for_object(user=request.user, obj=delivery, limit=20),  # type: ignore[arg-type]
            "statuses": DeliveryStatus,
        },
    )


@access.admin_only
@require_POST
def webhook_delivery_replay(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = selectors.webhook_delivery_get(user=request.user, pk=pk)
    try:
        replay = services.webhook_delivery_replay(actor=request.user, delivery=delivery)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return redirect("webhook_delivery_detail", delivery.pk)
    messages.success(
        request, _("Replay queued with the same event id, so the receiver can tell it is a repeat.")
    )
    return redirect("webhook_delivery_detail", replay.pk)
