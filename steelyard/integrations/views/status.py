"""The customer's order-status page, reached by a signed, expiring link — no sign-in.

It shows what the customer may know of its order (our name, the order number, the customer,
products and quantities, the timeline, shipments with carrier and tracking) and nothing
internal: no amounts, prices, notes or people. It is in Chinese unless the link asks for
English (``?lang=en``). A link that was altered answers 404, an expired one 410, each with a
friendly page; never a 500.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation

from steelyard.core import access
from steelyard.integrations import message_defaults as defaults
from steelyard.integrations.selectors import messages as selectors
from steelyard.integrations.services import messages as services

TEMPLATE = "integrations/messages/status_page.html"
INVALID_TEMPLATE = "integrations/messages/status_invalid.html"


def _language(request: HttpRequest) -> str:
    lang = request.GET.get("lang", "")
    return lang if lang in dict(settings.LANGUAGES) else defaults.FALLBACK_LANGUAGE


def _private(response: HttpResponse, language: str) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "private, no-store"
    response["Content-Language"] = language
    return response


@access.public
def order_status_page(request: HttpRequest, token: str) -> HttpResponse:
    language = _language(request)
    with translation.override(language):
        try:
            pk = services.order_status_token_read(token)
            order = selectors.order_for_status_page(pk=pk)
        except services.StatusLinkExpired:
            response = render(request, INVALID_TEMPLATE, {"expired": True, "language": language}, status=410)
            return _private(response, language)
        except (services.StatusLinkInvalid, Http404):
            response = render(request, INVALID_TEMPLATE, {"expired": False, "language": language}, status=404)
            return _private(response, language)
        page = selectors.status_page(order=order)
        response = render(
            request,
            TEMPLATE,
            {
                "page": page,
                "order": order,
                "company": services.company_name(),
                "language": language,
                "other_language": "en" if language != "en" else defaults.FALLBACK_LANGUAGE,
                "token": token,
            },
        )
    return _private(response, language)
