from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.registry import registry


@access.authenticated
def home(request: HttpRequest) -> HttpResponse:
    widgets = []
    for widget in registry.home_for(request.user):
        widgets.append({"widget": widget, "context": widget.context(request)})
    return render(request, "core/home.html", {"widgets": widgets})


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
    data = {
        "name": _("Steelyard CRM"),
        "short_name": _("Steelyard"),
        "start_url": reverse("home"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#1f3a5f",
        "lang": translation.get_language(),
        "icons": [
            {"src": static("img/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("img/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": static("img/icon-512-maskable.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    return JsonResponse(
        data, content_type="application/manifest+json", json_dumps_params={"ensure_ascii": False}
    )


@access.public
def healthz(request: HttpRequest) -> JsonResponse:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
