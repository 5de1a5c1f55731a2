"""The strategy menu over the API (/api/v1/tiers/strategy/).

- ``GET /menus`` (keyset pages, newest version first; ``status``, ``q``) and ``GET /menus/{id}`` with its
  rules: every signed-in user (drafts only for their editors: 404 otherwise).
- ``POST /menus`` (a new draft copying ``copy_from_id`` or the version in force), ``PATCH /menus/{id}``
  (a draft's name, notes, planned start), ``PATCH /menus/{id}/rules`` (upsert/delete rules of a draft, all
  or nothing), ``POST /menus/{id}/activate``, ``DELETE /menus/{id}`` (discard a draft): administrators and
  sales directors (403 for others); audited by the services.
- ``GET /for/{customer_id}`` (``product_line_id``, ``on``): ``strategy_for``'s answer for a customer the
  caller can see (404 otherwise), with ``customer_credit_terms``.
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from steelyard.catalog.models import ProductLine
from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.customers.selectors.customers import customer_get
from steelyard.tiering.forms_strategy import MenuFilter
from steelyard.tiering.models import MenuStatus, StrategyMenu
from steelyard.tiering.selectors import strategy as selectors
from steelyard.tiering.services import strategy as services

router = Router(tags=["tiers"])

ERR_UNKNOWN_MENU = _("Unknown strategy menu version.")


# --- schemas ---------------------------------------------------------------------------------------


class RuleOut(Schema):
    id: int
    tier: str
    product_line_id: int | None
    max_discount_pct: Decimal
    approval_chain: list[str]
    payment_terms_days: int
    credit_limit: Decimal | None
    delivery_priority: int
    visit_every_days: int | None
    visitor_seniority: str
    escalate_after_days: int | None
    response_hours: int | None
    resolution_hours: int | None
    pool_recycle_days: int | None
    entitlements: list[str]


class MenuOut(Schema):
    id: int
    name: str
    version: int
    status: str
    state: str = Field(description="draft, scheduled, in_force, ended or never_in_force (today)")
    effective_from: dt.date
    effective_to: dt.date | None
    notes: str
    created_by_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_state(obj: StrategyMenu) -> str:
        return selectors.menu_state(obj)


class MenuDetailOut(MenuOut):
    rules: list[RuleOut]

    @staticmethod
    def resolve_rules(obj: StrategyMenu) -> list[Any]:
        return selectors.menu_rules(obj)


class MenuIn(Schema):
    name: str = Field("", max_length=100, description="Empty: the name of the version copied.")
    notes: str = Field("", max_length=2000)
    copy_from_id: int | None = Field(
        None, description="The version whose rules are copied (default: in force)."
    )
    effective_from: dt.date | None = Field(None, description="Planned start (today or later).")


class MenuPatch(Schema):
    name: str | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=2000)
    effective_from: dt.date | None = None


class RulePatchItem(Schema):
    """One rule to create or change (fields left out keep their value), or to delete (``delete``)."""

    model_config = ConfigDict(extra="forbid")

    tier: str = Field("", max_length=20, description='"" for customers without a tier.')
    product_line_id: int | None = Field(None, description="Empty: every product line without its own rule.")
    delete: bool = False
    max_discount_pct: Decimal | None = None
    approval_chain: list[str] | None = None
    payment_terms_days: int | None = None
    credit_limit: Decimal | None = None
    delivery_priority: int | None = None
    visit_every_days: int | None = None
    visitor_seniority: str | None = None
    escalate_after_days: int | None = None
    response_hours: int | None = None
    resolution_hours: int | None = None
    pool_recycle_days: int | None = None
    entitlements: list[str] | None = None


class RulesPatch(Schema):
    rules: list[RulePatchItem] = Field(..., max_length=500)


class ActivateIn(Schema):
    effective_from: dt.date | None = Field(None, description="Today or later; default today.")


class CreditTermsOut(Schema):
    credit_limit: Decimal | None
    payment_terms_days: int
    source: str


class StrategyOut(Schema):
    customer_id: int
    on: dt.date
    tier: str
    product_line_id: int | None
    menu_version: int | None
    source: str
    max_discount_pct: Decimal
    approval_chain: list[str]
    payment_terms_days: int
    credit_limit: Decimal | None
    delivery_priority: int
    visit_every_days: int | None
    visitor_seniority: str
    escalate_after_days: int | None
    response_hours: int | None
    resolution_hours: int | None
    pool_recycle_days: int | None
    entitlements: list[str]
    credit_terms: CreditTermsOut


class MenuParams(Schema):
    q: str | None = Field(None, max_length=100)
    status: str | None = Field(None, description="draft, active or retired")


class ForParams(Schema):
    product_line_id: int | None = None
    on: dt.date | None = Field(None, description="Default: today.")


# --- helpers -------------------------------------------------------------------------------------


def _visible(request: HttpRequest) -> Any:
    qs = selectors.menu_list()
    if not services.can_edit_strategy(request.user):
        qs = qs.exclude(status=MenuStatus.DRAFT)
    return qs


def _menu(request: HttpRequest, menu_id: int) -> StrategyMenu:
    menu = _visible(request).filter(pk=menu_id).first()
    if menu is None:
        raise Http404("No such strategy menu.")
    return menu


def _require_editor(request: HttpRequest) -> None:
    if not services.can_edit_strategy(request.user):
        raise PermissionDenied(str(services.ERR_FORBIDDEN))


# --- routes --------------------------------------------------------------------------------------


@router.get("/menus", response=list[MenuOut])
@paginate(KeysetPagination, ordering=("-version",))
def list_menus(request: HttpRequest, filters: Query[MenuParams]):  # type: ignore[no-untyped-def]
    """Every version, newest first (drafts only for administrators and sales directors)."""
    data = {k: v for k, v in filters.dict().items() if v is not None}
    f = MenuFilter(data, user=request.user)
    if not f.is_valid():
        raise ValidationError(f.errors.as_data())
    return f.filter_queryset(_visible(request), f.cleaned_data)


@router.get("/menus/{int:menu_id}", response=MenuDetailOut)
def get_menu(request: HttpRequest, menu_id: int):  # type: ignore[no-untyped-def]
    return _menu(request, menu_id)


@router.post("/menus", response={201: MenuDetailOut})
def create_menu(request: HttpRequest, payload: MenuIn):  # type: ignore[no-untyped-def]
    """A new draft version (administrators and sales directors)."""
    _require_editor(request)
    source = None
    if payload.copy_from_id is not None:
        source = _visible(request).filter(pk=payload.copy_from_id).first()
        if source is None:
            raise ValidationError({"copy_from_id": str(ERR_UNKNOWN_MENU)})
    menu = services.strategy_menu_create(
        actor=request.user,
        name=payload.name,
        notes=payload.notes,
        source=source,
        effective_from=payload.effective_from,
    )
    return Status(201, menu)


@router.patch("/menus/{int:menu_id}", response=MenuDetailOut)
def update_menu(request: HttpRequest, menu_id: int, payload: MenuPatch):  # type: ignore[no-untyped-def]
    _require_editor(request)
    menu = _menu(request, menu_id)
    return services.strategy_menu_update(actor=request.user, menu=menu, **payload.dict(exclude_unset=True))


@router.patch("/menus/{int:menu_id}/rules", response=MenuDetailOut)
def patch_rules(request: HttpRequest, menu_id: int, payload: RulesPatch):  # type: ignore[no-untyped-def]
    """Create, change or delete rules of a draft; all or nothing (errors name ``rules.<i>.<field>``)."""
    _require_editor(request)
    menu = _menu(request, menu_id)
    items = [item.dict(exclude_unset=True) for item in payload.rules]
    services.strategy_rules_patch(actor=request.user, menu=menu, rules=items)
    return _menu(request, menu_id)


@router.post("/menus/{int:menu_id}/activate", response=MenuDetailOut)
def activate_menu(request: HttpRequest, menu_id: int, payload: ActivateIn):  # type: ignore[no-untyped-def]
    """Put a draft in force from ``effective_from`` (today or later)."""
    _require_editor(request)
    menu = _menu(request, menu_id)
    services.strategy_menu_activate(actor=request.user, menu=menu, effective_from=payload.effective_from)
    return _menu(request, menu_id)


@router.delete("/menus/{int:menu_id}", response={204: None})
def delete_menu(request: HttpRequest, menu_id: int):  # type: ignore[no-untyped-def]
    """Discard a draft (activated versions are history and stay)."""
    _require_editor(request)
    menu = _menu(request, menu_id)
    services.strategy_menu_delete(actor=request.user, menu=menu)
    return Status(204, None)


@router.get("/for/{int:customer_id}", response=StrategyOut)
def strategy_for_customer(request: HttpRequest, customer_id: int, params: Query[ForParams]):  # type: ignore[no-untyped-def]
    """What a customer the caller can see is entitled to (``strategy_for``), and its credit terms."""
    customer = customer_get(user=request.user, pk=customer_id)
    if customer.merged_into_id:
        raise Http404("Merged customer.")
    if (
        params.product_line_id is not None
        and not ProductLine.objects.filter(pk=params.product_line_id).exists()
    ):
        raise ValidationError({"product_line_id": str(services.ERR_LINE)})
    menu = selectors.menu_in_force(params.on)
    s = selectors.strategy_for(customer, params.product_line_id, on=menu.on, menu=menu)
    terms = selectors.customer_credit_terms(customer, on=menu.on, menu=menu)
    return {
        **s.__dict__,
        "approval_chain": list(s.approval_chain),
        "entitlements": list(s.entitlements),
        "customer_id": customer.pk,
        "on": menu.on,
        "credit_terms": terms._asdict(),
    }
