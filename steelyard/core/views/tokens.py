"""The "API tokens" page: a person's own tokens, issuing one (shown once) and revoking."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.forms import ApiTokenCreateForm
from steelyard.core.models import ApiToken
from steelyard.core.models.tokens import ApiTokenStatus
from steelyard.core.services.tokens import MAX_EXPIRY_DAYS, api_token_create, api_token_revoke

PAGE_SIZE = 25
SORTS = {
    "-created": "-created_at",
    "created": "created_at",
    "name": "name",
    "expires": "expires_at",
    "-last_used": "-last_used_at",
}


def _own_tokens(request: HttpRequest) -> QuerySet[ApiToken]:
    # Personal: a manager's wider data scope does not reach other people's tokens.
    return ApiToken.objects.filter(user=request.user)


def _filtered(request: HttpRequest) -> tuple[QuerySet[ApiToken], dict[str, str]]:
    q = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    sort = request.GET.get("sort", "-created")
    qs = _own_tokens(request)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(prefix__startswith=q))
    now = timezone.now()
    if status == ApiTokenStatus.ACTIVE:
        qs = qs.filter(revoked_at__isnull=True, expires_at__gt=now)
    elif status == ApiTokenStatus.EXPIRED:
        qs = qs.filter(revoked_at__isnull=True, expires_at__lte=now)
    elif status == ApiTokenStatus.REVOKED:
        qs = qs.filter(revoked_at__isnull=False)
    qs = qs.order_by(SORTS.get(sort, "-created_at"), "-id")
    return qs, {"q": q, "status": status, "sort": sort if sort in SORTS else "-created"}


def _page(
    request: HttpRequest,
    form: ApiTokenCreateForm,
    new_token: str = "",
    status: int = 200,
) -> HttpResponse:
    qs, filters = _filtered(request)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "page": page,
        "tokens": page.object_list,
        "filters": filters,
        "is_filtered": bool(filters["q"] or filters["status"]),
        "statuses": ApiTokenStatus.choices,
        "form": form,
        "new_token": new_token,
        "max_days": MAX_EXPIRY_DAYS,
    }
    response = render(request, "core/token_list.html", context, status=status)
    if new_token:
        # The clear token is in this page only: keep it out of every cache.
        response["Cache-Control"] = "no-store"
    return response


def _initial_form() -> ApiTokenCreateForm:
    return ApiTokenCreateForm(
        initial={"expires_in_days": min(settings.API_TOKEN_DEFAULT_DAYS, MAX_EXPIRY_DAYS)}
    )


@access.authenticated
def token_list(request: HttpRequest) -> HttpResponse:
    return _page(request, _initial_form())


@access.authenticated
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = ApiTokenCreateForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        issued = api_token_create(
            actor=request.user,
            name=form.cleaned_data["name"],
            expires_in_days=form.cleaned_data["expires_in_days"],
        )
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, exc)
        return _page(request, form, status=400)
    return _page(request, _initial_form(), new_token=issued.plain)


@access.authenticated
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(_own_tokens(request), pk=pk)
    api_token_revoke(actor=request.user, token=token)
    messages.success(request, _("Token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("token_list")
