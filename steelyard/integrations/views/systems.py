"""The integration console (administrators): home, external systems and their tokens, inbound batches.

Reads through ``steelyard.integrations.selectors.systems``, writes through
``steelyard.integrations.services.systems`` (audited). Pages of the other integration areas (file
imports, webhooks, customer messages) are linked by URL name only when the name resolves, so this
console works whichever of them exist.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.core.selectors.audit import audit_for_object
from steelyard.integrations.forms import BatchFilter, ExternalSystemForm, ResultFilter, SystemTokenForm
from steelyard.integrations.models import ExternalSystem, FileImport, InboundBatch, Outcome
from steelyard.integrations.selectors import systems as selectors
from steelyard.integrations.services import systems as services

# Where the other areas' pages live (first name that resolves wins; later names are fallbacks).
IMPORTS_URLS = ("integrations_import_list",)
IMPORT_DETAIL_URLS = ("integrations_import_detail",)
WEBHOOKS_URLS = ("webhook_delivery_list", "webhook_list")
SUBSCRIPTIONS_URLS = ("webhook_list",)
SUBSCRIPTION_CREATE_URLS = ("webhook_create",)
MESSAGES_URLS = ("message_list",)
# The page of a local record, per inbound entity (None for entities without a page of their own).
RECORD_URLS: dict[str, tuple[str, ...]] = {
    "customer": ("customer_detail",),
    "product_line": ("catalog_line_detail", "catalog_product_line_detail"),
    "product": ("catalog_product_detail", "product_detail"),
    "contract": ("orders_contract_detail", "contract_detail"),
    "order": ("orders_order_detail", "order_detail"),
    "order_status": ("orders_order_detail", "order_detail"),
    "shipment": ("orders_shipment_detail", "shipment_detail"),
    "invoice": ("orders_invoice_detail", "invoice_detail"),
    "payment": ("orders_payment_detail", "payment_detail"),
}


def first_url(names: tuple[str, ...], *args: Any, query: dict[str, Any] | None = None) -> str | None:
    """The URL of the first name that resolves, or None (another area may not be built yet)."""
    for name in names:
        try:
            url = reverse(name, args=args)
        except NoReverseMatch:
            continue
        return f"{url}?{urlencode(query)}" if query else url
    return None


class _RecordLinks:
    """Local record URLs for one entity, resolving the URL name once per page."""

    def __init__(self, entity: str) -> None:
        self.template: str | None = None
        marker = 987654321
        url = first_url(RECORD_URLS.get(entity, ()), marker)
        if url and str(marker) in url:
            self.template = url.replace(str(marker), "{}")

    def url(self, object_id: int | None) -> str | None:
        if self.template is None or object_id is None:
            return None
        return self.template.format(int(object_id))


def _apply_service_error(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


# --- console home -------------------------------------------------------------------------------


@access.admin_only
def console_home(request: HttpRequest) -> HttpResponse:
    summary = selectors.console_summary(user=request.user)
    tiles = [
        {
            "key": "imports",
            "icon": "file-earmark-arrow-up",
            "label": _("File imports"),
            "url": first_url(IMPORTS_URLS),
            "counts": [
                (
                    _("In progress"),
                    summary.imports.get("queued", 0) + summary.imports.get("running", 0),
                    "info",
                ),
                (_("Failed"), summary.imports.get("failed", 0), "danger"),
            ],
        },
        {
            "key": "webhooks",
            "icon": "broadcast",
            "label": _("Webhook deliveries"),
            "url": first_url(WEBHOOKS_URLS),
            "counts": [
                (
                    pgettext_lazy("delivery status", "Pending"),
                    summary.webhooks.get("pending", 0) + summary.webhooks.get("retrying", 0),
                    "info",
                ),
                (_("Failed"), summary.webhooks.get("failed", 0), "danger"),
            ],
        },
        {
            "key": "messages",
            "icon": "chat-dots",
            "label": _("Customer messages"),
            "url": first_url(MESSAGES_URLS),
            "counts": [
                (
                    pgettext_lazy("delivery status", "Pending"),
                    summary.messages.get("pending", 0) + summary.messages.get("retrying", 0),
                    "info",
                ),
                (_("Failed"), summary.messages.get("failed", 0), "danger"),
            ],
        },
    ]
    return render(
        request,
        "integrations/console/home.html",
        {"cards": summary.cards, "tiles": tiles},
    )


# --- systems ------------------------------------------------------------------------------------


@access.admin_only
def system_list(request: HttpRequest) -> HttpResponse:
    systems = list(selectors.system_list(user=request.user))
    rows = [{"system": s, "token_warning": selectors.token_expiry_warning(s)} for s in systems]
    return render(request, "integrations/console/system_list.html", {"rows": rows})


@access.admin_only
def system_create(request: HttpRequest) -> HttpResponse:
    form = ExternalSystemForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            system = services.external_system_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _apply_service_error(form, exc)
        else:
            messages.success(
                request,
                _("System “%(name)s” registered with its machine user %(username)s. Issue it a token next.")
                % {"name": system.name, "username": system.user.username},
            )
            return redirect("integrations_system_detail", system.pk)
    return render(
        request,
        "integrations/console/system_form.html",
        {"form": form, "title": _("Register a system"), "cancel_url": reverse("integrations_system_list")},
        status=400 if form.is_bound and form.errors else 200,
    )


@access.admin_only
def system_edit(request: HttpRequest, pk: int) -> HttpResponse:
    system = selectors.system_get(user=request.user, pk=pk)
    form = ExternalSystemForm(
        request.POST or None, editing=True, initial=ExternalSystemForm.initial_for(system)
    )
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "code"}
        try:
            services.external_system_update(actor=request.user, system=system, **data)
        except ValidationError as exc:
            _apply_service_error(form, exc)
        else:
            messages.success(request, _("System “%(name)s” saved.") % {"name": data["name"]})
            return redirect("integrations_system_detail", system.pk)
    return render(
        request,
        "integrations/console/system_form.html",
        {
            "form": form,
            "system": system,
            "title": _("Edit “%(name)s”") % {"name": system.name},
            "cancel_url": reverse("integrations_system_detail", args=[system.pk]),
        },
        status=400 if form.is_bound and form.errors else 200,
    )


def _detail(
    request: HttpRequest,
    system: ExternalSystem,
    *,
    token_form: SystemTokenForm | None = None,
    new_token: str = "",
    status: int = 200,
) -> HttpResponse:
    tokens = list(selectors.system_tokens(user=request.user, system=system)[:50])
    annotated = selectors.system_list(user=request.user).get(pk=system.pk)
    context = {
        "system": system,
        "entity_labels": [services.entity_label(e) for e in system.entities or []],
        "tokens": tokens,
        "token_form": token_form
        or SystemTokenForm(initial={"name": _("%(name)s token") % {"name": system.name}}),
        "new_token": new_token,
        "token_warning": selectors.token_expiry_warning(annotated),
        "token_expires_at": annotated.token_expires_at,
        "stats": selectors.system_batch_stats(user=request.user, system=system),
        "batches": selectors.system_recent_batches(user=request.user, system=system),
        "batches_url": f"{reverse('integrations_batch_list')}?{urlencode({'system': system.pk})}",
        "subscriptions_url": first_url(SUBSCRIPTIONS_URLS, query={"system": system.pk}),
        "subscription_create_url": first_url(SUBSCRIPTION_CREATE_URLS, query={"system": system.pk}),
        "audit_entries": audit_for_object(user=request.user, obj=system, limit=20),
    }
    response = render(request, "integrations/console/system_detail.html", context, status=status)
    if new_token:
        # The clear token is in this response only: keep it out of every cache.
        response["Cache-Control"] = "no-store"
    return response


@access.admin_only
def system_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, selectors.system_get(user=request.user, pk=pk))


@access.admin_only
def system_set_active(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST (``active=1|0``) activates or deactivates."""
    system = selectors.system_get(user=request.user, pk=pk)
    if request.method == "POST":
        active = request.POST.get("active") == "1"
        services.external_system_set_active(actor=request.user, system=system, active=active)
        if active:
            messages.success(request, _("System “%(name)s” is active again.") % {"name": system.name})
        else:
            messages.success(
                request,
                _("System “%(name)s” is deactivated: its tokens are refused until you activate it again.")
                % {"name": system.name},
            )
        return redirect("integrations_system_detail", system.pk)
    return render(
        request,
        "integrations/console/system_confirm_active.html",
        {"system": system, "activate": not system.is_active},
    )


@access.admin_only
@require_POST
def system_token_create(request: HttpRequest, pk: int) -> HttpResponse:
    system = selectors.system_get(user=request.user, pk=pk)
    form = SystemTokenForm(request.POST)
    if not form.is_valid():
        return _detail(request, system, token_form=form, status=400)
    try:
        issued = services.system_token_issue(
            actor=request.user,
            system=system,
            name=form.cleaned_data["name"],
            expires_in_days=form.cleaned_data["expires_in_days"],
        )
    except ValidationError as exc:
        _apply_service_error(form, exc)
        return _detail(request, system, token_form=form, status=400)
    system.refresh_from_db()
    return _detail(request, system, new_token=issued.plain)


@access.admin_only
@require_POST
def system_token_revoke(request: HttpRequest, pk: int, token_pk: int) -> HttpResponse:
    system = selectors.system_get(user=request.user, pk=pk)
    token = get_object_or_404(selectors.system_tokens(user=request.user, system=system), pk=token_pk)
    services.system_token_revoke(actor=request.user, system=system, token=token)
    messages.success(request, _("Token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("integrations_system_detail", system.pk)


# --- batches ------------------------------------------------------------------------------------


@access.admin_only
def batch_list(request: HttpRequest) -> HttpResponse:
    f = BatchFilter(request.GET, user=request.user)
    page = paginate(request, selectors.batch_list(user=request.user, filters=request.GET))
    return render(
        request,
        "integrations/console/batch_list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "labels": dict(services.entity_choices()),
        },
    )


@access.admin_only
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch: InboundBatch = selectors.batch_get(user=request.user, pk=pk)
    rf = ResultFilter(request.GET)
    outcome = rf.outcome_value
    page = paginate(
        request, selectors.batch_results(user=request.user, batch=batch, outcome=outcome), per_page=50
    )
    links = _RecordLinks(batch.entity)
    results = [
        {
            "result": r,
            "url": links.url(r.object_id) if r.outcome != Outcome.REJECTED else None,
            "reasons": _reasons(r.reasons),
        }
        for r in page
    ]
    kept = selectors.batch_outcome_counts(user=request.user, batch=batch)
    tabs = [{"value": "", "label": _("All"), "count": sum(kept.values())}] + [
        {"value": value, "label": label, "count": kept.get(value, 0)} for value, label in Outcome.choices
    ]
    file_import = None
    if batch.via == "file":
        fi = (
            FileImport.objects.visible_to(request.user)
            .filter(batch=batch)
            .only("pk", "original_name")
            .first()
        )
        if fi is not None:
            file_import = {"name": fi.original_name, "url": first_url(IMPORT_DETAIL_URLS, fi.pk)}
    return render(
        request,
        "integrations/console/batch_detail.html",
        {
            "batch": batch,
            "entity_label": services.entity_label(batch.entity),
            "page": page,
            "results": results,
            "outcome": outcome,
            "tabs": tabs,
            "file_import": file_import,
        },
    )


def _reasons(raw: Any) -> list[dict[str, str]]:
    """A result's reasons as ``[{"field", "message"}]``, whatever shape the engine stored."""
    if not raw:
        return []
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if isinstance(item, dict):
            out.append({"field": str(item.get("field") or ""), "message": str(item.get("message") or "")})
        else:
            out.append({"field": "", "message": str(item)})
    return out
