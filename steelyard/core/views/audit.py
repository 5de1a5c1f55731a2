"""The audit log page: read-only, for administrators. There is no route that changes an entry."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.core.selectors.audit import AuditLogFilter, audit_list


@access.admin_only
@require_safe
def audit_log(request: HttpRequest) -> HttpResponse:
    f = AuditLogFilter(request.GET, user=request.user)
    page = paginate(request, audit_list(user=request.user, filters=request.GET), per_page=50)
    return render(
        request, "core/audit/audit_list.html", {"filter": f, "page": page, "sorts": f.sort_links(request)}
    )
