"""Customer-message screens: the message log (list, detail, retry), a customer's endpoints
(the "Customer notifications" section of the 360 page, add/edit/deactivate/test), the message
templates (administrators, with a preview), and the "share status link" section of an order.

Reads go through ``selectors/messages.py`` (scoped by the customer; out of scope is 404), writes
through ``services/messages.py`` (audited).
"""

from __future__ import annotations

from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.core.scopes import CHANGE
from steelyard.customers.forms import apply_service_error
from steelyard.customers.models import Customer
from steelyard.customers.selectors.customers import customer_get
from steelyard.customers.services.customers import can_change
from steelyard.integrations import message_defaults as defaults
from steelyard.integrations.channels import CHANNELS
from steelyard.integrations.forms_messages import EndpointForm, TemplateForm
from steelyard.integrations.models import DeliveryStatus, MessageTemplate
from steelyard.integrations.selectors import messages as selectors
from steelyard.integrations.services import messages as services

SECTION_ANCHOR = "notifications"


def _customer_url(customer: Customer) -> str:
    return f"{reverse('customer_detail', args=[customer.pk])}#{SECTION_ANCHOR}"


def _event_labels() -> dict[str, Any]:
    return dict(services.template_events())


# --- the message log ------------------------------------------------------------------------------


@access.authenticated
def message_list(request: HttpRequest) -> HttpResponse:
    f = selectors.MessageFilter(request.GET, user=request.user)
    page = paginate(request, selectors.message_list(user=request.user, filters=request.GET))
    labels = _event_labels()
    for m in page.object_list:
        m.event_label = labels.get(m.event, m.event)
    customer = None
    customer_id = f.valid_data.get("customer")
    if customer_id:
        customer = Customer.objects.visible_to(request.user).filter(pk=customer_id).first()
    return render(
        request,
        "integrations/messages/message_list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "customer": customer,
        },
    )


@access.authenticated
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    message = selectors.message_get(user=request.user, pk=pk)
    customer = message.endpoint.customer
    return render(
        request,
        "integrations/messages/message_detail.html",
        {
            "message": message,
            "endpoint": message.endpoint,
            "customer": customer,
            "event_label": _event_labels().get(message.event, message.event),
            "can_retry": message.status == DeliveryStatus.FAILED and can_change(request.user, customer),
            "max_attempts": services.MAX_ATTEMPTS,
        },
    )


@access.authenticated
@require_POST
def message_retry(request: HttpRequest, pk: int) -> HttpResponse:
    message = selectors.message_get(user=request.user, pk=pk)
    try:
        services.message_retry(actor=request.user, message=message)
    except PermissionDenied:
        raise Http404("Not allowed.") from None
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        messages.success(request, _("The message is being sent again."))
    return redirect("message_detail", message.pk)


# --- endpoints (the customer's notification settings) ------------------------------------------


def endpoints_section(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """The "Customer notifications" section of the customer page."""
    return {
        "endpoints": list(selectors.endpoint_list(user=request.user, customer=customer)),
        "recent_messages": selectors.messages_recent_for_customer(user=request.user, customer=customer),
        "can_edit": can_change(request.user, customer),
        "event_labels": _event_labels(),
    }


def _changeable_customer(request: HttpRequest, pk: int) -> Customer:
    customer = customer_get(user=request.user, pk=pk, action=CHANGE)
    if customer.merged_into_id:
        raise Http404("Merged customer.")
    return customer


@access.authenticated
def endpoint_create(request: HttpRequest, customer_pk: int) -> HttpResponse:
    customer = _changeable_customer(request, customer_pk)
    form = EndpointForm(request.POST or None, customer=customer)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.endpoint_create(
                actor=request.user, customer=customer, **form.service_fields()
            )
        except ValidationError as e:
            apply_service_error(form, e)
        except PermissionDenied:
            raise Http404("Not allowed.") from None
        else:
            messages.success(request, _("Notification endpoint added: %(endpoint)s") % {"endpoint": endpoint})
            return redirect(_customer_url(customer))
    return render(
        request,
        "integrations/messages/endpoint_form.html",
        {"form": form, "customer": customer, "title": _("New notification endpoint"), "channels": CHANNELS},
    )


@access.authenticated
def endpoint_edit(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = selectors.endpoint_get(user=request.user, pk=pk, action=CHANGE)
    customer = endpoint.customer
    if not can_change(request.user, customer):
        raise Http404("Not allowed.")
    form = EndpointForm(request.POST or None, customer=customer, endpoint=endpoint)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_update(actor=request.user, endpoint=endpoint, **form.service_fields())
        except ValidationError as e:
            apply_service_error(form, e)
        except PermissionDenied:
            raise Http404("Not allowed.") from None
        else:
            messages.success(request, _("Notification endpoint saved."))
            return redirect(_customer_url(customer))
    return render(
        request,
        "integrations/messages/endpoint_form.html",
        {
            "form": form,
            "customer": customer,
            "endpoint": endpoint,
            "title": _("Edit notification endpoint"),
            "channels": CHANNELS,
        },
    )


def _endpoint_for_action(request: HttpRequest, pk: int) -> Any:
    endpoint = selectors.endpoint_get(user=request.user, pk=pk, action=CHANGE)
    if not can_change(request.user, endpoint.customer):
        raise Http404("Not allowed.")
    return endpoint


@access.authenticated
@require_POST
def endpoint_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint_for_action(request, pk)
    services.endpoint_deactivate(actor=request.user, endpoint=endpoint)
    messages.success(request, _("No more messages go to %(endpoint)s.") % {"endpoint": endpoint})
    return redirect(_customer_url(endpoint.customer))


@access.authenticated
@require_POST
def endpoint_test(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint_for_action(request, pk)
    try:
        message = services.endpoint_send_test(actor=request.user, endpoint=endpoint)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return redirect(_customer_url(endpoint.customer))
    messages.success(request, _("A test message is on its way; its outcome shows in the message log."))
    return redirect("message_detail", message.pk)


# --- message templates (administrators) ---------------------------------------------------------


@access.admin_only
def template_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "integrations/messages/template_list.html",
        {"rows": selectors.template_rows(), "channels": dict(CHANNELS)},
    )


@access.admin_only
def template_edit(request: HttpRequest, event: str, language: str) -> HttpResponse:
    labels = _event_labels()
    if event not in labels or language not in dict(services.LANGUAGE_CHOICES):
        raise Http404("No such template.")
    channel = request.POST.get("channel", request.GET.get("channel", ""))
    channel = channel if channel in CHANNELS else ""
    row = selectors.template_get(event=event, language=language, channel=channel)
    default_subject, default_body = defaults.default_template(event, language)
    initial: dict[str, Any] = {
        "channel": channel,
        "subject": row.subject if row else default_subject,
        "body": row.body if row else default_body,
        "is_active": row.is_active if row else True,
    }
    form = TemplateForm(request.POST or None, initial=initial)
    preview: tuple[str, str] | None = None
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        if request.POST.get("action") == "preview":
            try:
                preview = services.template_check(d["subject"], d["body"], language)
            except ValidationError as e:
                apply_service_error(form, e)
        else:
            try:
                services.message_template_save(
                    actor=request.user,
                    event=event,
                    language=language,
                    channel=d.get("channel") or "",
                    subject=d["subject"],
                    body=d["body"],
                    is_active=d.get("is_active", False),
                )
            except ValidationError as e:
                apply_service_error(form, e)
            else:
                messages.success(request, _("Message template saved."))
                return redirect("message_template_list")
    elif request.method != "POST":
        try:
            preview = services.template_check(initial["subject"], initial["body"], language)
        except ValidationError:
            preview = None
    return render(
        request,
        "integrations/messages/template_form.html",
        {
            "form": form,
            "event": event,
            "event_label": labels[event],
            "language": language,
            "language_label": dict(services.LANGUAGE_CHOICES)[language],
            "row": row,
            "preview": preview,
            "placeholders": defaults.PLACEHOLDERS,
        },
    )


@access.admin_only
@require_POST
def template_reset(request: HttpRequest, pk: int) -> HttpResponse:
    row = MessageTemplate.objects.filter(pk=pk).first()
    if row is None:
        raise Http404("No such template.")
    services.message_template_reset(actor=request.user, template=row)
    messages.success(request, _("The shipped wording applies again."))
    return redirect("message_template_list")


# --- the order page: share the status link ------------------------------------------------------


def qr_data_uri(text: str) -> str:
    """An SVG QR code of ``text`` as a data: URI (the CSP allows data: images)."""
    return segno.make(text, error="m").svg_data_uri(scale=4, border=2, dark="#15294a")


def order_share_section(request: HttpRequest, order: Any) -> dict[str, Any]:
    """The "share status link" section of the order page: a fresh link, its QR code, its validity."""
    link = services.order_status_link(order)
    link_en = services.order_status_link(order, language="en")
    return {
        "status_link": link,
        "status_link_en": link_en,
        "status_qr": qr_data_uri(link),
        "link_days": settings.ORDER_STATUS_LINK_DAYS,
    }
