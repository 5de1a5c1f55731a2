from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from steelyard.core import access
from steelyard.core.models import Notification


@access.authenticated
def inbox(request: HttpRequest) -> HttpResponse:
    items = Notification.objects.visible_to(request.user)[:50]
    return render(request, "core/inbox.html", {"items": items})


@access.authenticated
def inbox_badge(request: HttpRequest) -> HttpResponse:
    count = Notification.objects.visible_to(request.user).filter(read_at__isnull=True).count()
    return render(request, "core/_inbox_badge.html", {"count": count})
