"""The inbox: a person's notifications, the unread badge in the top bar, and following a link."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from steelyard.core import access
from steelyard.core.selectors.notifications import ALL, UNREAD, notification_list, unread_count
from steelyard.core.services.notifications import notification_mark_all_read, notification_mark_read

PAGE_SIZE = 25


def is_local_url(url: str, request: HttpRequest) -> bool:
    """True for a path on this site ("/customers/7/"), false for anything that leaves it."""
    return (
        bool(url)
        and url.startswith("/")
        and not url.startswith("//")
        and "\\" not in url
        and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()})
    )


@access.authenticated
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", UNREAD)
    if state not in (UNREAD, ALL):
        state = UNREAD
    q = request.GET.get("q", "").strip()[:100]
    page = Paginator(
        notification_list(user=request.user, filters={"state": state, "q": q}), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "core/inbox.html",
        {"page": page, "state": state, "q": q, "unread": unread_count(request.user)},
    )


@access.authenticated
@require_GET
def inbox_badge(request: HttpRequest) -> HttpResponse:
    return render(request, "core/_inbox_badge.html", {"count": unread_count(request.user)})


@access.authenticated
@require_GET
def inbox_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark the notification read and follow its link, which must stay on this site."""
    notification = get_object_or_404(notification_list(user=request.user, filters={"state": ALL}), pk=pk)
    notification_mark_read(actor=request.user, notification=notification)
    if is_local_url(notification.url, request):
        return HttpResponseRedirect(notification.url)
    return redirect("inbox")


@access.authenticated
@require_POST
def inbox_mark_read(request: HttpRequest, pk: int) -> HttpResponse:
    notification = get_object_or_404(notification_list(user=request.user, filters={"state": ALL}), pk=pk)
    notification_mark_read(actor=request.user, notification=notification)
    state = ALL if request.POST.get("state") == ALL else UNREAD
    return HttpResponseRedirect(f"{reverse('inbox')}?state={state}")


@access.authenticated
@require_POST
def inbox_mark_all_read(request: HttpRequest) -> HttpResponse:
    changed = notification_mark_all_read(actor=request.user)
    if changed:
        messages.success(request, _("All notifications are marked read."))
    return redirect("inbox")
