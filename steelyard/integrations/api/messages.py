"""Customer messages over the API (/api/v1/integrations/messages/): the log, retries, a customer's
endpoints, and an order's signed status link.

Scoped like the pages: a customer, message or order outside the caller's scope answers 404;
writes go through the audited services (bad input is a 422 with field details).
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status

from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.core.scopes import CHANGE
from steelyard.customers.models import Contact
from steelyard.customers.selectors.customers import customer_get
from steelyard.integrations.models import NotificationEndpoint, OutboundMessage
from steelyard.integrations.selectors import messages as selectors
from steelyard.integrations.services import messages as services
from steelyard.orders.models import SalesOrder

router = Router(tags=["customer messages"])


# --- schemas ------------------------------------------------------------------------------------


class MessageOut(Schema):
    id: int
    endpoint_id: int
    customer_id: int
    channel: str
    address: str
    event: str
    language: str
    subject: str
    body: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str
    order_id: int | None
    created_at: dt.datetime
    sent_at: dt.datetime | None

    @staticmethod
    def resolve_customer_id(obj: OutboundMessage) -> int:
        return obj.endpoint.customer_id

    @staticmethod
    def resolve_channel(obj: OutboundMessage) -> str:
        return obj.endpoint.channel

    @staticmethod
    def resolve_address(obj: OutboundMessage) -> str:
        return obj.endpoint.address

    @staticmethod
    def resolve_subject(obj: OutboundMessage) -> str:
        return obj.title

    @staticmethod
    def resolve_order_id(obj: OutboundMessage) -> int | None:
        return obj.subject_id if obj.subject_type == services.ORDER_SUBJECT else None


class MessageParams(Schema):
    q: str | None = Field(None, max_length=100, description="Customer name, subject or address.")
    customer: int | None = None
    channel: str | None = Field(None, description='"wecom", "email" or "webhook".')
    status: str | None = Field(None, description='"pending", "retrying", "delivered" or "failed".')
    event: str | None = None


class EndpointOut(Schema):
    id: int
    customer_id: int
    contact_id: int | None
    channel: str
    address: str
    language: str
    events: list[str]
    is_active: bool
    has_secret: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_has_secret(obj: NotificationEndpoint) -> bool:
        return bool(obj.secret)


class EndpointCreatedOut(EndpointOut):
    secret: str = Field(description="The webhook signing secret (shown on create only).")


class EndpointIn(Schema):
    customer_id: int
    channel: str = Field(..., description='"wecom", "email" or "webhook".')
    address: str = Field(..., max_length=500)
    contact_id: int | None = None
    language: str = "zh-hans"
    events: list[str] = Field([], description="Event types; empty means every customer-facing event.")
    secret: str = Field("", max_length=100, description="Webhook signing secret; made up when empty.")


class EndpointPatch(Schema):
    channel: str | None = None
    address: str | None = Field(None, max_length=500)
    contact_id: int | None = Field(None, description="Send 0 for the customer in general.")
    language: str | None = None
    events: list[str] | None = None
    secret: str | None = Field(None, max_length=100)
    is_active: bool | None = None


class EndpointParams(Schema):
    customer_id: int


class StatusLinkOut(Schema):
    url: str
    expires_at: dt.datetime


# --- helpers ------------------------------------------------------------------------------------


def _guard(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a service; a PermissionDenied on a record the caller can see reads as 404 (no hint)."""
    try:
        return fn(*args, **kwargs)
    except PermissionDenied:
        raise Http404("Not allowed.") from None


def _contact(customer: Any, contact_id: int | None) -> Contact | None:
    if not contact_id:
        return None
    contact = Contact.objects.filter(customer=customer, pk=contact_id).first()
    if contact is None:
        raise ValidationError({"contact_id": str(services.ERR_CONTACT)})
    return contact


# --- messages -----------------------------------------------------------------------------------


@router.get("", response=list[MessageOut])
@paginate(KeysetPagination, ordering=("-created_at", "-id"))
def list_messages(request: HttpRequest, filters: Query[MessageParams]):  # type: ignore[no-untyped-def]
    """Messages to the caller's customers, filtered like the log page, newest first."""
    data = {k: v for k, v in filters.dict().items() if v is not None}
    f = selectors.MessageFilter(data, user=request.user)
    if not f.is_valid():
        raise ValidationError(f.errors.as_data())
    return selectors.message_list(user=request.user, filters=data)


@router.get("/{int:message_id}", response=MessageOut)
def get_message(request: HttpRequest, message_id: int):  # type: ignore[no-untyped-def]
    return selectors.message_get(user=request.user, pk=message_id)


@router.post("/{int:message_id}/retry", response=MessageOut)
def retry_message(request: HttpRequest, message_id: int):  # type: ignore[no-untyped-def]
    """Send a failed message again now."""
    message = selectors.message_get(user=request.user, pk=message_id)
    _guard(services.message_retry, actor=request.user, message=message)
    return selectors.message_get(user=request.user, pk=message_id)


# --- endpoints ----------------------------------------------------------------------------------


@router.get("/endpoints", response=list[EndpointOut])
def list_endpoints(request: HttpRequest, params: Query[EndpointParams]):  # type: ignore[no-untyped-def]
    """A customer's notification endpoints."""
    customer = customer_get(user=request.user, pk=params.customer_id)
    return list(selectors.endpoint_list(user=request.user, customer=customer))


@router.post("/endpoints", response={201: EndpointCreatedOut})
def create_endpoint(request: HttpRequest, payload: EndpointIn):  # type: ignore[no-untyped-def]
    customer = customer_get(user=request.user, pk=payload.customer_id, action=CHANGE)
    endpoint = _guard(
        services.endpoint_create,
        actor=request.user,
        customer=customer,
        channel=payload.channel,
        address=payload.address,
        contact=_contact(customer, payload.contact_id),
        language=payload.language,
        events=payload.events,
        secret=payload.secret,
    )
    return Status(201, endpoint)


@router.patch("/endpoints/{int:endpoint_id}", response=EndpointOut)
def update_endpoint(request: HttpRequest, endpoint_id: int, payload: EndpointPatch):  # type: ignore[no-untyped-def]
    endpoint = selectors.endpoint_get(user=request.user, pk=endpoint_id, action=CHANGE)
    data = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None or k == "contact_id"}
    if "contact_id" in data:
        data["contact"] = _contact(endpoint.customer, data.pop("contact_id"))
    return _guard(services.endpoint_update, actor=request.user, endpoint=endpoint, **data)


@router.delete("/endpoints/{int:endpoint_id}", response={204: None})
def deactivate_endpoint(request: HttpRequest, endpoint_id: int):  # type: ignore[no-untyped-def]
    """Deactivate the endpoint (it and its messages are kept for the record)."""
    endpoint = selectors.endpoint_get(user=request.user, pk=endpoint_id, action=CHANGE)
    _guard(services.endpoint_deactivate, actor=request.user, endpoint=endpoint)
    return Status(204, None)


@router.post("/endpoints/{int:endpoint_id}/test", response={202: MessageOut})
def test_endpoint(request: HttpRequest, endpoint_id: int):  # type: ignore[no-untyped-def]
    """Queue a test message to the endpoint; its outcome shows in the log."""
    endpoint = selectors.endpoint_get(user=request.user, pk=endpoint_id, action=CHANGE)
    message = _guard(services.endpoint_send_test, actor=request.user, endpoint=endpoint)
    return Status(202, selectors.message_get(user=request.user, pk=message.pk))


# --- status links -------------------------------------------------------------------------------


@router.get("/orders/{int:order_id}/status-link", response=StatusLinkOut)
def order_status_link(request: HttpRequest, order_id: int, lang: str = "zh-hans"):  # type: ignore[no-untyped-def]
    """A fresh signed link to the order's public status page (for sending through another system)."""
    order = SalesOrder.objects.visible_to(request.user).filter(pk=order_id).first()
    if order is None:
        raise Http404("No such order.")
    language = lang if lang in dict(services.LANGUAGE_CHOICES) else "zh-hans"
    return {
        "url": services.order_status_link(order, language=language),
        "expires_at": timezone.now() + dt.timedelta(days=settings.ORDER_STATUS_LINK_DAYS),
    }
