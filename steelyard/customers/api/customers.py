"""Customers and contacts over the API (/api/v1/customers/).

The list uses the page's filter set (``CustomerFilter``) and keyset pagination; a customer outside
the caller's scope answers 404; writes go through the audited services (a possible duplicate on
create is a 400 naming the duplicates, unless ``allow_duplicate``).
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.core.scopes import CHANGE
from steelyard.customers.filters import CustomerFilter
from steelyard.customers.models import Contact, Customer, Tag
from steelyard.customers.selectors import customers as selectors
from steelyard.customers.services import customers as services
from steelyard.org.models import User

router = Router(tags=["customers"])

ERR_UNKNOWN_OWNER = _("Unknown owner.")
ERR_UNKNOWN_PARENT = _("Unknown group company.")
ERR_UNKNOWN_TAGS = _("Unknown tags: %(names)s")


# --- schemas ------------------------------------------------------------------------------


class CustomerOut(Schema):
    id: int
    legal_name: str
    short_name: str
    credit_code: str
    industry: str
    province: str
    city: str
    address: str
    size: str
    parent_id: int | None
    status: str
    source: str
    is_key_account: bool
    tier: str
    tags: list[str]
    first_order_date: dt.date | None
    visit_every_days: int | None
    owner_id: int | None
    org_unit_id: int | None
    pool_id: int | None
    recycle_at: dt.date | None
    recycle_trigger: str
    last_visit_at: dt.datetime | None
    last_followup_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_tags(obj: Customer) -> list[str]:
        return [t.name for t in obj.tags.all()]


class ContactIn(Schema):
    name: str = Field(..., max_length=60)
    title: str = Field("", max_length=80)
    phone: str = Field("", max_length=30)
    email: str = Field("", max_length=254)
    wechat_id: str = Field("", max_length=60)
    decision_role: str = ""
    is_primary: bool = False
    notes: str = ""


class ContactPatch(Schema):
    name: str | None = Field(None, max_length=60)
    title: str | None = Field(None, max_length=80)
    phone: str | None = Field(None, max_length=30)
    email: str | None = Field(None, max_length=254)
    wechat_id: str | None = Field(None, max_length=60)
    decision_role: str | None = None
    is_primary: bool | None = None
    notes: str | None = None
    is_active: bool | None = None


class ContactOut(Schema):
    id: int
    customer_id: int
    name: str
    title: str
    phone: str
    email: str
    wechat_id: str
    decision_role: str
    is_primary: bool
    notes: str
    is_active: bool


class CustomerIn(Schema):
    legal_name: str = Field(..., max_length=200)
    short_name: str = Field("", max_length=80)
    credit_code: str = Field("", max_length=30)
    industry: str = ""
    province: str = ""
    city: str = Field("", max_length=40)
    address: str = Field("", max_length=200)
    size: str = ""
    parent_id: int | None = None
    status: str = "prospect"
    source: str = ""
    is_key_account: bool = False
    tier: str = Field("", max_length=20)
    tags: list[str] = []
    first_order_date: dt.date | None = None
    visit_every_days: int | None = None
    owner_id: int | None = Field(None, description="Leave out to route by the territory rules.")
    assign: bool = Field(
        True, description="Without an owner: route by the territory rules (else stays in the pool)."
    )
    allow_duplicate: bool = Field(False, description="Create even though possible duplicates exist.")
    contacts: list[ContactIn] = []


class CustomerPatch(Schema):
    legal_name: str | None = Field(None, max_length=200)
    short_name: str | None = Field(None, max_length=80)
    credit_code: str | None = Field(None, max_length=30)
    industry: str | None = None
    province: str | None = None
    city: str | None = Field(None, max_length=40)
    address: str | None = Field(None, max_length=200)
    size: str | None = None
    parent_id: int | None = Field(None, description="Send 0 to clear the group company.")
    status: str | None = None
    source: str | None = None
    is_key_account: bool | None = None
    tier: str | None = Field(None, max_length=20)
    tags: list[str] | None = None
    first_order_date: dt.date | None = None
    visit_every_days: int | None = None


class MergeIn(Schema):
    merge_id: int = Field(..., description="The duplicate that is merged into this customer.")
    reason: str = Field(..., max_length=500)


class CustomerParams(Schema):
    q: str | None = Field(
        None, max_length=100, description="Name, short name, pinyin, initials or credit code."
    )
    scope: str | None = Field(None, description='"mine", "pool", or empty for all the caller can see.')
    status: str | None = None
    industry: str | None = None
    province: str | None = None
    owner: int | None = None
    unit: int | None = Field(None, description="Org unit id; its subtree is included.")
    tier: str | None = None
    size: str | None = None
    key: str | None = Field(None, description='"1" key accounts only, "0" the others.')
    new: str | None = Field(None, description='"new" (no first order yet) or "existing".')
    tag: int | None = None
    recycle_within: int | None = Field(None, description="Returns to the pool within this many days.")


# --- helpers ------------------------------------------------------------------------------


def _validated(params: Schema, user: Any) -> dict[str, Any]:
    data = {k: v for k, v in params.dict().items() if v is not None}
    f = CustomerFilter(data, user=user)
    if not f.is_valid():
        raise ValidationError(f.errors.as_data())
    return data


def _customer(request: HttpRequest, pk: int, action: str = "view") -> Customer:
    customer = selectors.customer_get(user=request.user, pk=pk, action=action)
    if customer.merged_into_id:
        raise Http404("Merged customer.")
    return customer


def _out(request: HttpRequest, pk: int) -> Customer:
    return selectors.customer_base(user=request.user).prefetch_related("tags").get(pk=pk)


def _tags(names: list[str]) -> list[Tag]:
    tags = list(Tag.objects.filter(name__in=names))
    unknown = sorted(set(names) - {t.name for t in tags})
    if unknown:
        raise ValidationError({"tags": ERR_UNKNOWN_TAGS % {"names": ", ".join(unknown)}})
    return tags


def _parent(request: HttpRequest, pk: int) -> Customer:
    parent = selectors.customer_base(user=request.user).filter(pk=pk).first()
    if parent is None:
        raise ValidationError({"parent_id": str(ERR_UNKNOWN_PARENT)})
    return parent


def _guard(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a service; a PermissionDenied on a record the caller can see reads as 404 (no hint)."""
    try:
        return fn(*args, **kwargs)
    except PermissionDenied:
        raise Http404("Not allowed.")


# --- customers ----------------------------------------------------------------------------


@router.get("", response=list[CustomerOut])
@paginate(KeysetPagination, ordering=("legal_name", "id"))
def list_customers(request: HttpRequest, filters: Query[CustomerParams]):  # type: ignore[no-untyped-def]
    """Customers the caller can see (own, team by scope, and their pools), filtered like the list page."""
    data = _validated(filters, request.user)
    data.pop("sort", None)
    return selectors.customer_list(user=request.user, filters=data)


@router.get("/{int:customer_id}", response=CustomerOut)
def get_customer(request: HttpRequest, customer_id: int):  # type: ignore[no-untyped-def]
    _customer(request, customer_id)
    return _out(request, customer_id)


@router.post("", response={201: CustomerOut})
def create_customer(request: HttpRequest, payload: CustomerIn):  # type: ignore[no-untyped-def]
    """Create a customer; possible duplicates (credit code, normalised name, contact phone) are a 400."""
    data = payload.dict()
    owner_id = data.pop("owner_id")
    owner = None
    if owner_id:
        owner = User.objects.visible_to(request.user).filter(pk=owner_id, is_active=True).first()
        if owner is None:
            raise ValidationError({"owner_id": str(ERR_UNKNOWN_OWNER)})
    parent_id = data.pop("parent_id")
    data["parent"] = _parent(request, parent_id) if parent_id else None
    tags = _tags(data.pop("tags"))
    contacts = data.pop("contacts")
    customer = services.customer_create(
        actor=request.user,
        owner=owner,
        assign=data.pop("assign"),
        allow_duplicate=data.pop("allow_duplicate"),
        contacts=contacts,
        tags=tags,
        **data,
    )
    found = selectors.customer_base(user=request.user).prefetch_related("tags").filter(pk=customer.pk).first()
    return Status(201, found or customer)


@router.patch("/{int:customer_id}", response=CustomerOut)
def update_customer(request: HttpRequest, customer_id: int, payload: CustomerPatch):  # type: ignore[no-untyped-def]
    customer = _customer(request, customer_id, CHANGE)
    data = payload.dict(exclude_unset=True)
    tags = _tags(data.pop("tags")) if data.get("tags") is not None else None
    data.pop("tags", None)
    if "parent_id" in data:
        pid = data.pop("parent_id")
        data["parent"] = _parent(request, pid) if pid else None
    fields = {
        k: v
        for k, v in data.items()
        if v is not None or k in ("first_order_date", "visit_every_days", "parent")
    }
    _guard(services.customer_update, actor=request.user, customer=customer, tags=tags, **fields)
    return _out(request, customer_id)


@router.post("/{int:customer_id}/merge", response=CustomerOut)
def merge_customer(request: HttpRequest, customer_id: int, payload: MergeIn):  # type: ignore[no-untyped-def]
    """Merge the duplicate ``merge_id`` into this customer (administrators and managers)."""
    if not services.can_merge(request.user):
        raise PermissionDenied(str(services.ERR_MERGE_ROLE))
    keep = _customer(request, customer_id, CHANGE)
    merge = _customer(request, payload.merge_id, CHANGE)
    _guard(services.customer_merge, actor=request.user, keep=keep, merge=merge, reason=payload.reason)
    return _out(request, customer_id)


# --- contacts -----------------------------------------------------------------------------


@router.get("/{int:customer_id}/contacts", response=list[ContactOut])
def list_contacts(request: HttpRequest, customer_id: int):  # type: ignore[no-untyped-def]
    customer = _customer(request, customer_id)
    return list(selectors.contact_list(user=request.user, customer=customer))


@router.post("/{int:customer_id}/contacts", response={201: ContactOut})
def create_contact(request: HttpRequest, customer_id: int, payload: ContactIn):  # type: ignore[no-untyped-def]
    customer = _customer(request, customer_id, CHANGE)
    contact = _guard(services.contact_create, actor=request.user, customer=customer, **payload.dict())
    return Status(201, contact)


def _contact(request: HttpRequest, customer_id: int, contact_id: int) -> Contact:
    customer = _customer(request, customer_id, CHANGE)
    return selectors.contact_get(user=request.user, customer=customer, pk=contact_id, action=CHANGE)


@router.patch("/{int:customer_id}/contacts/{int:contact_id}", response=ContactOut)
def update_contact(request: HttpRequest, customer_id: int, contact_id: int, payload: ContactPatch):  # type: ignore[no-untyped-def]
    contact = _contact(request, customer_id, contact_id)
    fields = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    return _guard(services.contact_update, actor=request.user, contact=contact, **fields)


@router.delete("/{int:customer_id}/contacts/{int:contact_id}", response={204: None})
def delete_contact(request: HttpRequest, customer_id: int, contact_id: int):  # type: ignore[no-untyped-def]
    contact = _contact(request, customer_id, contact_id)
    _guard(services.contact_delete, actor=request.user, contact=contact)
    return Status(204, None)
