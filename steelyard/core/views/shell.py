"""The shell around every page: home, language switch, web-app manifest, service worker, health."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.registry import registry

MANAGER_ROLES = frozenset({"executive", "sales_director", "sales_manager", "service_manager"})


@dataclass(frozen=True)
class QuickLink:
    """A shortcut on the home page; shown when the user holds one of ``roles`` and a URL name resolves.

    ``url_names`` lists candidates in order, so a link appears as soon as the module that owns the page
    is installed, and never breaks the home page when it is not.
    """

    label: Any
    icon: str
    url_names: tuple[str, ...]
    roles: frozenset[str] = frozenset()  # empty: everyone

    def url(self) -> str | None:
        for name in self.url_names:
            try:
                return reverse(name)
            except NoReverseMatch:
                continue
        return None


QUICK_LINKS: tuple[QuickLink, ...] = (
    QuickLink(gettext_lazy("Add a user"), "person-plus", ("org_user_create",), frozenset({"administrator"})),
    QuickLink(gettext_lazy("People"), "people", ("org_user_list",), frozenset({"administrator"})),
    QuickLink(gettext_lazy("Org units"), "diagram-3", ("org_unit_list",), frozenset({"administrator"})),
    QuickLink(gettext_lazy("Roles"), "shield-check", ("org_role_list",), frozenset({"administrator"})),
    QuickLink(gettext_lazy("Audit log"), "journal-text", ("audit_list",), frozenset({"administrator"})),
    QuickLink(gettext_lazy("My team"), "people", ("org_user_list",), MANAGER_ROLES),
    QuickLink(
        gettext_lazy("Approvals"), "check2-square", ("approval_list",), MANAGER_ROLES | {"administrator"}
    ),
    QuickLink(gettext_lazy("Inbox"), "inbox", ("inbox",)),
    QuickLink(gettext_lazy("My profile"), "person-badge", ("profile",)),
    QuickLink(gettext_lazy("Search"), "search", ("search",)),
)


def _role_codes(user: Any) -> set[str]:
    codes = set(user.roles.values_list("code", flat=True))
    if user.is_superuser:
        codes.add("administrator")
    return codes


def quick_links_for(user: Any) -> list[dict[str, Any]]:
    """The shortcuts this user gets on the home page, role-specific ones first."""
    held = _role_codes(user)
    links = []
    for link in QUICK_LINKS:
        if link.roles and not (held & link.roles):
            continue
        url = link.url()
        if url is not None:
            links.append({"label": link.label, "icon": link.icon, "url": url})
    return links


def _greeting(hour: int) -> str:
    if hour < 5:
        return _("Working late")
    if hour < 12:
        return _("Good morning")
    if hour < 18:
        return _("Good afternoon")
    return _("Good evening")


def _role_intro(held: set[str]) -> str:
    if "administrator" in held:
        return _("Set up people, roles and policies, and keep an eye on the audit log.")
    if held & MANAGER_ROLES:
        return _("Here is what your team needs from you today.")
    return _("Here is what needs your attention today.")


@access.authenticated
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in user's start page: greeting, shortcuts for their roles, and registered widgets."""
    user = request.user
    widgets = [{"widget": w, "context": w.context(request)} for w in registry.home_for(user)]
    held = _role_codes(user)
    now = timezone.localtime()
    context = {
        "widgets": widgets,
        "today": now.date(),
        "greeting": _greeting(now.hour),
        "intro": _role_intro(held),
        "role_names": [str(r) for r in user.roles.all()],
        "quick_links": quick_links_for(user),
    }
    return render(request, "core/home.html", context)


@access.public
@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the UI language; a signed-in user's choice is saved on their profile."""
    lang = request.POST.get("language", "")
    nxt = request.POST.get("next") or reverse("home")
    if not url_has_allowed_host_and_scheme(
        nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        nxt = reverse("home")
    response = HttpResponseRedirect(nxt)
    if lang not in dict(settings.LANGUAGES):
        return response
    if request.user.is_authenticated and request.user.language != lang:
        from steelyard.org.services import user_set_language

        user_set_language(actor=request.user, user=request.user, language=lang)
    translation.activate(lang)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        lang,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=request.is_secure(),
    )
    return response


@access.public
def manifest(request: HttpRequest) -> JsonResponse:
    """The web-app manifest that makes Steelyard installable on a phone's home screen."""
    data = {
        "id": reverse("home"),
        "name": _("Steelyard CRM"),
        "short_name": _("Steelyard"),
        "description": _("The CRM for equipment manufacturers"),
        "start_url": reverse("home"),
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "background_color": "#f4f6fa",
        "theme_color": "#15294a",
        "lang": translation.get_language(),
        "categories": ["business", "productivity"],
        "icons": [
            {"src": static("img/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
            {"src": static("img/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("img/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": static("img/icon-512-maskable.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
        "shortcuts": [
            {"name": _("Inbox"), "url": reverse("inbox")},
            {"name": _("Search"), "url": reverse("search")},
        ],
    }
    return JsonResponse(
        data, content_type="application/manifest+json", json_dumps_params={"ensure_ascii": False}
    )


@access.public
@cache_control(no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, served from the site root so that its scope covers every page."""
    path = finders.find("js/sw.js")
    body = Path(path).read_text(encoding="utf-8") if path else ""
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    return response


@access.public
def offline(request: HttpRequest) -> HttpResponse:
    """What the service worker shows when a page is requested without a network connection."""
    return render(request, "errors/offline.html")


@access.public
def healthz(request: HttpRequest) -> JsonResponse:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
