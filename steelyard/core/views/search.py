from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from steelyard.core import access
from steelyard.core.registry import registry


@access.authenticated
def search(request: HttpRequest) -> HttpResponse:
    """Global search: every registered provider answers with results scoped to the user."""
    q = request.GET.get("q", "").strip()[:100]
    groups = []
    if len(q) >= 1:
        for provider in sorted(registry.search.values(), key=lambda p: (p.order, p.key)):
            results = provider.search(request.user, q, 10)
            if results:
                groups.append({"label": provider.label, "results": results})
    return render(request, "core/search.html", {"q": q, "groups": groups})
