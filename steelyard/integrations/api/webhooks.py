"""Webhooks over the API (/api/v1/integrations/webhooks/), for administrators only.

Subscriptions: list, create (the answer carries the generated secret), read (with the secret), change,
delete (only while nothing was sent; otherwise deactivate), rotate the secret, send a test event.
Deliveries: the log with the page's filters and keyset pagination, one delivery with its attempts,
replay. ``GET /events`` lists the event types one can subscribe to.
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
import uuid
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.core.events import event_types
from steelyard.integrations.models import ExternalSystem, WebhookDelivery, WebhookSubscription
from steelyard.integrations.selectors import webhooks as selectors
from steelyard.integrations.services import webhooks as services

router = Router(tags=["webhooks"])

ERR_UNKNOWN_SYSTEM = _("Unknown system.")


# --- schemas -------------------------------------------------------------------------------------------------


class EventTypeOut(Schema):
    code: str
    label: str
    description: str


class SubscriptionOut(Schema):
    id: int
    system_id: int
    system: str
    url: str
    events: list[str]
    description: str
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_system(obj: WebhookSubscription) -> str:
        return obj.system.code


class SubscriptionSecretOut(SubscriptionOut):
    secret: str


class SubscriptionIn(Schema):
    system_id: int
    url: str = Field(..., max_length=500)
    events: list[str] = Field(..., description="Event type codes; see GET /events.")
    description: str = Field("", max_length=200)
    is_active: bool = True


class SubscriptionPatch(Schema):
    system_id: int | None = None
    url: str | None = Field(None, max_length=500)
    events: list[str] | None = None
    description: str | None = Field(None, max_length=200)
    is_active: bool | None = None


class SubscriptionParams(Schema):
    system: int | None = None
    event: str | None = Field(None, max_length=60)
    active: str | None = Field(None, description='"1" active only, "0" inactive only.')


class DeliveryOut(Schema):
    id: int
    subscription_id: int
    system: str
    event: str
    event_id: uuid.UUID
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str
    replay_of_id: int | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None

    @staticmethod
    def resolve_system(obj: WebhookDelivery) -> str:
        return obj.subscription.system.code


class AttemptOut(Schema):
    number: int
    at: dt.datetime
    status_code: int | None
    error: str
    duration_ms: int


class DeliveryDetailOut(DeliveryOut):
    payload: dict[str, Any]
    attempts_log: list[AttemptOut] = Field(..., alias="attempt_list")


class DeliveryParams(Schema):
    system: int | None = None
    subscription: int | None = None
    event: str | None = Field(None, max_length=60)
    status: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    q: str | None = Field(None, description="An event id.")


# --- helpers -------------------------------------------------------------------------------------------------


def _admin(request: HttpRequest) -> Any:
    if not user_has_role(request.user, ADMINISTRATOR):
        raise PermissionDenied(str(services.ERR_ADMIN_ONLY))
    return request.user


def _filters(params: Schema, filter_class: type, user: Any) -> dict[str, Any]:
    data = {k: v for k, v in params.dict().items() if v is not None}
    f = filter_class(data, user=user)
    if not f.is_valid():
        raise ValidationError(f.errors.as_data())
    return data


def _system(system_id: int) -> ExternalSystem:
    system = ExternalSystem.objects.filter(pk=system_id).first()
    if system is None:
        raise ValidationError({"system_id": ERR_UNKNOWN_SYSTEM})
    return system


def _detail(request: HttpRequest, pk: int) -> WebhookDelivery:
    delivery = selectors.webhook_delivery_get(user=request.user, pk=pk)
    delivery.attempt_list = selectors.webhook_delivery_attempts(  # type: ignore[attr-defined]
        user=request.user, delivery=delivery
    )
    return delivery


# --- events --------------------------------------------------------------------------------------------------


@router.get("/events", response=list[EventTypeOut])
def webhook_event_types(request: HttpRequest) -> list[dict[str, str]]:
    _admin(request)
    return [
        {"code": et.code, "label": str(et.label), "description": str(et.description)} for et in event_types()
    ]


# --- subscriptions -------------------------------------------------------------------------------------------


@router.get("/subscriptions", response=list[SubscriptionOut])
@paginate(KeysetPagination, ordering=("id",))
def webhook_subscription_list(request: HttpRequest, filters: Query[SubscriptionParams]) -> Any:
    _admin(request)
    data = _filters(filters, selectors.SubscriptionFilter, request.user)
    return selectors.webhook_subscription_list(user=request.user, filters=data)


@router.post("/subscriptions", response={201: SubscriptionSecretOut})
def webhook_subscription_create(request: HttpRequest, payload: SubscriptionIn) -> Any:
    actor = _admin(request)
    sub = services.webhook_subscription_create(
        actor=actor,
        system=_system(payload.system_id),
        url=payload.url,
        events=payload.events,
        description=payload.description,
        is_active=payload.is_active,
    )
    return Status(201, selectors.webhook_subscription_get(user=actor, pk=sub.pk))


@router.get("/subscriptions/{int:pk}", response=SubscriptionSecretOut)
def webhook_subscription_read(request: HttpRequest, pk: int) -> Any:
    _admin(request)
    return selectors.webhook_subscription_get(user=request.user, pk=pk)


@router.patch("/subscriptions/{int:pk}", response=SubscriptionOut)
def webhook_subscription_update(request: HttpRequest, pk: int, payload: SubscriptionPatch) -> Any:
    actor = _admin(request)
    sub = selectors.webhook_subscription_get(user=actor, pk=pk)
    fields = payload.dict(exclude_unset=True)
    system_id = fields.pop("system_id", None)
    if system_id is not None:
        fields["system"] = _system(system_id)
    fields = {k: v for k, v in fields.items() if v is not None}
    services.webhook_subscription_update(actor=actor, subscription=sub, **fields)
    return selectors.webhook_subscription_get(user=actor, pk=pk)


@router.delete("/subscriptions/{int:pk}", response={204: None})
def webhook_subscription_delete(request: HttpRequest, pk: int) -> Any:
    actor = _admin(request)
    sub = selectors.webhook_subscription_get(user=actor, pk=pk)
    services.webhook_subscription_delete(actor=actor, subscription=sub)
    return Status(204, None)


@router.post("/subscriptions/{int:pk}/rotate-secret", response=SubscriptionSecretOut)
def webhook_subscription_rotate_secret(request: HttpRequest, pk: int) -> Any:
    actor = _admin(request)
    sub = selectors.webhook_subscription_get(user=actor, pk=pk)
    services.webhook_subscription_rotate_secret(actor=actor, subscription=sub)
    return selectors.webhook_subscription_get(user=actor, pk=pk)


@router.post("/subscriptions/{int:pk}/test", response={202: DeliveryOut})
def webhook_subscription_test(request: HttpRequest, pk: int) -> Any:
    actor = _admin(request)
    sub = selectors.webhook_subscription_get(user=actor, pk=pk)
    delivery = services.webhook_send_test(actor=actor, subscription=sub)
    return Status(202, selectors.webhook_delivery_get(user=actor, pk=delivery.pk))


# --- deliveries ----------------------------------------------------------------------------------------------


@router.get("/deliveries", response=list[DeliveryOut])
@paginate(KeysetPagination, ordering=("-created_at", "-id"))
def webhook_delivery_list(request: HttpRequest, filters: Query[DeliveryParams]) -> Any:
    _admin(request)
    data = _filters(filters, selectors.DeliveryFilter, request.user)
    return selectors.webhook_delivery_list(user=request.user, filters=data)


@router.get("/deliveries/{int:pk}", response=DeliveryDetailOut)
def webhook_delivery_read(request: HttpRequest, pk: int) -> Any:
    _admin(request)
    return _detail(request, pk)


@router.post("/deliveries/{int:pk}/replay", response={202: DeliveryDetailOut})
def webhook_delivery_replay(request: HttpRequest, pk: int) -> Any:
    actor = _admin(request)
    delivery = selectors.webhook_delivery_get(user=actor, pk=pk)
    replay = services.webhook_delivery_replay(actor=actor, delivery=delivery)
    return Status(202, _detail(request, replay.pk))
