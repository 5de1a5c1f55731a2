"""API of the quotes area (mounted at /api/v1/sales/quotes/): quotes and framework agreements.

Quotes:

- ``GET ""`` (keyset pages, newest first; the list page's filters: ``q``, ``status``, ``over_limit``,
  ``pending``, ``customer``, ``date_from``, ``date_to``), ``GET /{id}`` with its lines, ``GET /{id}/pdf``;
- ``POST ""`` (a draft on an opportunity; lines default to its solution lines), ``PATCH /{id}`` (a draft's
  terms), ``PUT /{id}/lines`` (a draft's lines, all replaced);
- ``POST /{id}/submit | withdraw | send | accept | reject | revise``.

Framework agreements (``/agreements``): ``GET`` list and one, ``POST`` a draft, ``PATCH`` its terms,
``PUT /agreements/{id}/lines`` (planned quantities; ``replace``), ``POST …/activate | end``,
``GET …/plan-vs-actual``.

Everything is scoped (out of scope: 404); a write the caller may not make is a 403; a service's refusal
is a 400 with field details (``lines.<index>.<field>`` for a bad line), a malformed body a 422.
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.customers.models import Customer
from steelyard.sales.forms_quotes import AgreementFilter, QuoteFilter
from steelyard.sales.models import FrameworkAgreement, Opportunity, Quote
from steelyard.sales.selectors import agreements as agreement_selectors
from steelyard.sales.selectors import quotes as selectors
from steelyard.sales.services import agreements as agreement_services
from steelyard.sales.services import quotes as services
from steelyard.sales.services.quote_pdf import CJKFontMissing, quote_pdf_filename, quote_pdf_render

router = Router(tags=["sales"])

ERR_UNKNOWN_OPPORTUNITY = _("Unknown opportunity.")
ERR_UNKNOWN_CUSTOMER = _("Unknown customer.")


# --- schemas: quotes -------------------------------------------------------------------------------------


class CreditOut(Schema):
    limit: Decimal | None = Field(None, description="The credit limit; null when the customer has none.")
    outstanding: Decimal
    open_orders: Decimal
    quote: Decimal
    exposure: Decimal = Field(..., description="outstanding + open_orders + quote")
    over: bool
    checked_at: str | None = None


class QuoteLineOut(Schema):
    product_id: int | None
    product_code: str
    description: str
    quantity: Decimal
    unit: str
    list_price: Decimal
    discount_pct: Decimal
    net_price: Decimal
    amount: Decimal

    @staticmethod
    def resolve_product_code(obj: Any) -> str:
        return obj.product.code if obj.product_id and obj.product else ""


class QuoteOut(Schema):
    id: int
    number: str
    revision: int
    status: str
    opportunity_id: int
    customer_id: int
    customer_name: str = Field(..., alias="customer.legal_name")
    language: str
    currency: str
    valid_until: dt.date
    list_total: Decimal
    net_total: Decimal
    discount_pct: Decimal = Field(
        ..., description="The largest line discount (%): the tier limit applies per line."
    )
    overall_discount_pct: Decimal = Field(..., description="1 − net / list (%), for information.")
    tier: str
    max_discount_pct: Decimal = Field(..., description="The discount the tier allows without approval (%).")
    needs_approval: bool
    payment_terms_days: int
    delivery_terms: str
    notes: str
    credit: CreditOut | None
    approval_id: int | None
    approval_status: str | None
    contract_id: int | None
    sent_at: dt.datetime | None
    decided_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_overall_discount_pct(obj: Quote) -> Decimal:
        return services.overall_discount(obj.list_total, obj.net_total)

    @staticmethod
    def resolve_needs_approval(obj: Quote) -> bool:
        return services.needs_approval(obj)

    @staticmethod
    def resolve_credit(obj: Quote) -> dict[str, Any] | None:
        return obj.credit or None

    @staticmethod
    def resolve_approval_status(obj: Quote) -> str | None:
        return obj.approval.status if obj.approval_id and obj.approval else None


class QuoteDetailOut(QuoteOut):
    lines: list[QuoteLineOut]

    @staticmethod
    def resolve_lines(obj: Quote) -> list[Any]:
        return getattr(obj, "line_rows", None) or selectors.quote_lines(obj)


class LineIn(Schema):
    product_id: int | None = Field(None, description="A catalogue product; or give a description.")
    description: str = Field("", max_length=200)
    quantity: Decimal = Decimal("1")
    unit: str = Field("", max_length=10)
    list_price: Decimal | None = Field(None, description="Default: the product's list price.")
    discount_pct: Decimal = Field(Decimal("0"), description="0–100.")

    def as_service(self) -> dict[str, Any]:
        d = self.dict()
        d["product"] = d.pop("product_id")
        return d


class QuoteIn(Schema):
    opportunity_id: int
    lines: list[LineIn] | None = Field(None, max_length=200, description="Default: the opportunity's lines.")
    valid_until: dt.date | None = Field(None, description="Default: in 30 days.")
    language: str = Field("zh-hans", description='"zh-hans" or "en": the PDF\'s language.')
    payment_terms_days: int | None = Field(None, description="Default: the customer's terms.")
    delivery_terms: str = Field("", max_length=200)
    notes: str = Field("", max_length=2000)


class QuotePatch(Schema):
    valid_until: dt.date | None = None
    language: str | None = None
    payment_terms_days: int | None = None
    delivery_terms: str | None = Field(None, max_length=200)
    notes: str | None = Field(None, max_length=2000)


class LinesIn(Schema):
    lines: list[LineIn] = Field(..., max_length=200)


class SubmitIn(Schema):
    reason: str = Field(
        "", max_length=2000, description="For the approvers when the discount is above the limit."
    )


class AcceptIn(Schema):
    signed_on: dt.date | None = Field(None, description="Default: today.")
    reason: str = Field("", description="Why it was won: a close reason code (price, product, …).")
    note: str = Field("", max_length=2000)


class RejectIn(Schema):
    reason: str = Field("", max_length=500)


class ReviseIn(Schema):
    valid_until: dt.date | None = None


class QuoteParams(Schema):
    q: str | None = Field(None, max_length=100, description="Quote number, customer or opportunity.")
    status: str | None = Field(None, description="Default: every status but superseded.")
    over_limit: str | None = Field(None, description='"discount" or "credit".')
    pending: str | None = Field(None, description='"1": awaiting approval; "me": awaiting my approval.')
    customer: int | None = None
    date_from: dt.date | None = Field(None, description="Made on or after.")
    date_to: dt.date | None = Field(None, description="Made on or before.")


# --- schemas: agreements ---------------------------------------------------------------------------------


class AgreementOut(Schema):
    id: int
    number: str
    title: str
    customer_id: int
    customer_name: str = Field(..., alias="customer.legal_name")
    contract_id: int | None
    period: str
    starts_on: dt.date
    ends_on: dt.date
    status: str
    notes: str
    created_at: dt.datetime
    updated_at: dt.datetime


class PlannedOut(Schema):
    product_id: int
    product_code: str = Field(..., alias="product.code")
    period_start: dt.date
    planned_quantity: Decimal


class AgreementDetailOut(AgreementOut):
    lines: list[PlannedOut]

    @staticmethod
    def resolve_lines(obj: FrameworkAgreement) -> list[Any]:
        return agreement_selectors.agreement_lines(obj)


class AgreementIn(Schema):
    customer_id: int
    title: str = Field(..., max_length=200)
    number: str = Field("", max_length=40, description="Default: FA-<year>-<sequence>.")
    period: str = Field("quarter", description='"month" or "quarter".')
    starts_on: dt.date
    ends_on: dt.date
    notes: str = Field("", max_length=2000)


class AgreementPatch(Schema):
    title: str | None = Field(None, max_length=200)
    number: str | None = Field(None, max_length=40)
    period: str | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    notes: str | None = Field(None, max_length=2000)


class PlannedIn(Schema):
    product_id: int
    period_start: dt.date = Field(..., description="Any day of the month or quarter.")
    planned_quantity: Decimal = Field(..., description="0 removes the cell.")


class PlannedLinesIn(Schema):
    lines: list[PlannedIn] = Field(..., max_length=2000)
    replace: bool = Field(False, description="Remove every planned quantity not given.")


class PlanCellOut(Schema):
    product_id: int
    product_code: str
    product_name: str
    period_start: dt.date
    period: str
    planned: Decimal
    actual: Decimal
    attainment_pct: Decimal | None


class PlanTotalOut(Schema):
    period_start: dt.date
    period: str
    planned: Decimal
    actual: Decimal
    attainment_pct: Decimal | None


class PlanVsActualOut(Schema):
    agreement_id: int
    period: str
    cells: list[PlanCellOut]
    periods: list[PlanTotalOut]
    planned: Decimal
    actual: Decimal
    attainment_pct: Decimal | None


class AgreementParams(Schema):
    q: str | None = Field(None, max_length=100)
    status: str | None = None
    period: str | None = None
    customer: int | None = None
    date_from: dt.date | None = Field(None, description="In force on or after.")
    date_to: dt.date | None = Field(None, description="In force on or before.")


# --- helpers ---------------------------------------------------------------------------------------------


def _filters(params: Schema, filter_class: Any, user: Any) -> dict[str, Any]:
    """The query parameters as the page's filter set reads them; a bad value is a 400 naming the field."""
    data: dict[str, Any] = {}
    for key, value in params.dict().items():
        if value is None:
            continue
        data[key] = value.isoformat() if isinstance(value, dt.date) else value
    f = filter_class(data, user=user)
    if not f.is_valid():
        raise ValidationError(f.errors.as_data())
    return data


def _quote(user: Any, quote_id: int) -> Quote:
    return selectors.quote_with_lines(user=user, pk=quote_id)


def _fresh(user: Any, quote: Quote) -> Quote:
    return _quote(user, quote.pk)


# --- quotes ----------------------------------------------------------------------------------------------


@router.get("", response=list[QuoteOut])
@paginate(KeysetPagination, ordering=("-created_at", "-id"))
def list_quotes(request: HttpRequest, filters: Query[QuoteParams]):  # type: ignore[no-untyped-def]
    """Quotes the caller can see, newest first, filtered like the quotes page."""
    return selectors.quote_list(user=request.user, filters=_filters(filters, QuoteFilter, request.user))


@router.post("", response={201: QuoteDetailOut})
def create_quote(request: HttpRequest, payload: QuoteIn):  # type: ignore[no-untyped-def]
    """A draft quote on an opportunity the caller may change (its owner, their managers, the deal's team)."""
    opportunity = Opportunity.objects.visible_to(request.user).filter(pk=payload.opportunity_id).first()
    if opportunity is None:
        raise ValidationError({"opportunity_id": ERR_UNKNOWN_OPPORTUNITY})
    quote = services.quote_create(
        actor=request.user,
        opportunity=opportunity,
        lines=[ln.as_service() for ln in payload.lines] if payload.lines is not None else None,
        valid_until=payload.valid_until,
        language=payload.language,
        payment_terms_days=payload.payment_terms_days,
        delivery_terms=payload.delivery_terms,
        notes=payload.notes,
    )
    return Status(201, _fresh(request.user, quote))


@router.get("/{int:quote_id}", response=QuoteDetailOut)
def get_quote(request: HttpRequest, quote_id: int):  # type: ignore[no-untyped-def]
    return _quote(request.user, quote_id)


@router.patch("/{int:quote_id}", response=QuoteDetailOut)
def update_quote(request: HttpRequest, quote_id: int, payload: QuotePatch):  # type: ignore[no-untyped-def]
    """A draft's terms (fields left out keep their value)."""
    quote = selectors.quote_get(user=request.user, pk=quote_id)
    services.quote_update(actor=request.user, quote=quote, **payload.dict(exclude_unset=True))
    return _fresh(request.user, quote)


@router.put("/{int:quote_id}/lines", response=QuoteDetailOut)
def set_quote_lines(request: HttpRequest, quote_id: int, payload: LinesIn):  # type: ignore[no-untyped-def]
    """Replace a draft's lines; the quote is repriced and its credit check redone."""
    quote = selectors.quote_get(user=request.user, pk=quote_id)
    services.quote_lines_set(actor=request.user, quote=quote, lines=[ln.as_service() for ln in payload.lines])
    return _fresh(request.user, quote)


@router.post("/{int:quote_id}/submit", response=QuoteDetailOut)
def submit_quote(request: HttpRequest, quote_id: int, payload: SubmitIn):  # type: ignore[no-untyped-def]
    """Approved at once within the tier's discount limit; above it, ``pending`` with an approval request."""
    quote = selectors.quote_get(user=request.user, pk=quote_id)
    services.quote_submit(actor=request.user, quote=quote, reason=payload.reason)
    return _fresh(request.user, quote)


@router.post("/{int:quote_id}/withdraw", response=QuoteDetailOut)
def withdraw_quote(request: HttpRequest, quote_id: int):  # type: ignore[no-untyped-def]
    """The requester withdraws the pending approval request; the quote is a draft again."""
    quote = selectors.quote_get(user=request.user, pk=quote_id)
    services.quote_withdraw(actor=request.user, quote=quote)
    return _fresh(request.user, quote)


@router.post("/{int:quote_id}/send", response=QuoteDetailOut)
def send_quote(request: HttpRequest, quote_id: int):  # type: ignore[no-untyped-def]
    quote = selectors.quote_get(user=request.user, pk=quote_id)
    services.quote_send(actor=request.user, quote=quote)
    return _fresh(request.user, quote)


@router.post("/{int:quote_id}/accept", response=QuoteDetailOut)
def accept_quote(request: HttpRequest, quote_id: int, payload: AcceptIn):  # type: ignore[no-untyped-def]
    """The customer accepted: a signed contract (``contract.signed`` to the ERP) and the opportunity won."""
    quote = selectors.quote_get(user=request.user, pk=quote_id)
    services.quote_accept(
        actor=request.user, quote=quote, signed_on=payload.signed_on, reason=payload.reason, note=payload.note
    )
    return _fresh(request.user, quote)


@router.post("/{int:quote_id}/reject", response=QuoteDetailOut)
def reject_quote(request: HttpRequest, quote_id: int, payload: RejectIn):  # type: ignore[no-untyped-def]
    quote = selectors.quote_get(user=request.user, pk=quote_id)
    services.quote_reject(actor=request.user, quote=quote, reason=payload.reason)
    return _fresh(request.user, quote)


@router.post("/{int:quote_id}/revise", response={201: QuoteDetailOut})
def revise_quote(request: HttpRequest, quote_id: int, payload: ReviseIn):  # type: ignore[no-untyped-def]
    """A new draft revision (same number, revision + 1); the old one is superseded."""
    quote = selectors.quote_get(user=request.user, pk=quote_id)
    new = services.quote_revise(actor=request.user, quote=quote, valid_until=payload.valid_until)
    return Status(201, _fresh(request.user, new))


@router.get("/{int:quote_id}/pdf", response={200: None})
def quote_pdf(request: HttpRequest, quote_id: int):  # type: ignore[no-untyped-def]
    """The quote as a PDF in its language (``application/pdf``)."""
    quote = selectors.quote_get(user=request.user, pk=quote_id)
    try:
        pdf = quote_pdf_render(quote, selectors.quote_lines(quote))
    except CJKFontMissing as e:
        raise ValidationError(str(e)) from e
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{quote_pdf_filename(quote)}"'
    return response


# --- framework agreements --------------------------------------------------------------------------------


@router.get("/agreements", response=list[AgreementOut])
@paginate(KeysetPagination, ordering=("-starts_on", "-id"))
def list_agreements(request: HttpRequest, filters: Query[AgreementParams]):  # type: ignore[no-untyped-def]
    return agreement_selectors.agreement_list(
        user=request.user, filters=_filters(filters, AgreementFilter, request.user)
    )


@router.post("/agreements", response={201: AgreementDetailOut})
def create_agreement(request: HttpRequest, payload: AgreementIn):  # type: ignore[no-untyped-def]
    """A draft agreement with a customer the caller may change."""
    customer = Customer.objects.visible_to(request.user).filter(pk=payload.customer_id).first()
    if customer is None:
        raise ValidationError({"customer_id": ERR_UNKNOWN_CUSTOMER})
    agreement = agreement_services.agreement_create(
        actor=request.user,
        customer=customer,
        title=payload.title,
        number=payload.number,
        period=payload.period,
        starts_on=payload.starts_on,
        ends_on=payload.ends_on,
        notes=payload.notes,
    )
    return Status(201, agreement_selectors.agreement_get(user=request.user, pk=agreement.pk))


@router.get("/agreements/{int:agreement_id}", response=AgreementDetailOut)
def get_agreement(request: HttpRequest, agreement_id: int):  # type: ignore[no-untyped-def]
    return agreement_selectors.agreement_get(user=request.user, pk=agreement_id)


@router.patch("/agreements/{int:agreement_id}", response=AgreementDetailOut)
def update_agreement(request: HttpRequest, agreement_id: int, payload: AgreementPatch):  # type: ignore[no-untyped-def]
    agreement = agreement_selectors.agreement_get(user=request.user, pk=agreement_id)
    agreement_services.agreement_update(
        actor=request.user, agreement=agreement, **payload.dict(exclude_unset=True)
    )
    return agreement_selectors.agreement_get(user=request.user, pk=agreement_id)


@router.put("/agreements/{int:agreement_id}/lines", response=AgreementDetailOut)
def set_agreement_lines(request: HttpRequest, agreement_id: int, payload: PlannedLinesIn):  # type: ignore[no-untyped-def]
    """Planned quantities per product and period (any day of the period); 0 removes a cell."""
    agreement = agreement_selectors.agreement_get(user=request.user, pk=agreement_id)
    agreement_services.agreement_lines_set(
        actor=request.user,
        agreement=agreement,
        lines=[
            {
                "product": ln.product_id,
                "period_start": ln.period_start,
                "planned_quantity": ln.planned_quantity,
            }
            for ln in payload.lines
        ],
        replace=payload.replace,
    )
    return agreement_selectors.agreement_get(user=request.user, pk=agreement_id)


@router.post("/agreements/{int:agreement_id}/activate", response=AgreementDetailOut)
def activate_agreement(request: HttpRequest, agreement_id: int):  # type: ignore[no-untyped-def]
    agreement = agreement_selectors.agreement_get(user=request.user, pk=agreement_id)
    agreement_services.agreement_activate(actor=request.user, agreement=agreement)
    return agreement_selectors.agreement_get(user=request.user, pk=agreement_id)


@router.post("/agreements/{int:agreement_id}/end", response=AgreementDetailOut)
def end_agreement(request: HttpRequest, agreement_id: int):  # type: ignore[no-untyped-def]
    agreement = agreement_selectors.agreement_get(user=request.user, pk=agreement_id)
    agreement_services.agreement_end(actor=request.user, agreement=agreement)
    return agreement_selectors.agreement_get(user=request.user, pk=agreement_id)


@router.get("/agreements/{int:agreement_id}/plan-vs-actual", response=PlanVsActualOut)
def agreement_plan_vs_actual(request: HttpRequest, agreement_id: int):  # type: ignore[no-untyped-def]
    """Planned against ordered quantity per product per period, with attainment (%)."""
    agreement = agreement_selectors.agreement_get(user=request.user, pk=agreement_id)
    pva = agreement_selectors.agreement_plan_vs_actual(agreement)
    return {
        "agreement_id": agreement.pk,
        "period": agreement.period,
        "cells": pva.flat(),
        "periods": [
            {
                "period_start": start,
                "period": label,
                "planned": c.planned,
                "actual": c.actual,
                "attainment_pct": c.attainment,
            }
            for start, label, c in zip(pva.periods, pva.labels, pva.period_totals, strict=True)
        ],
        "planned": pva.total.planned,
        "actual": pva.total.actual,
        "attainment_pct": pva.total.attainment,
    }
