from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from steelyard.core import access
from steelyard.core.models import ApiToken


@access.authenticated
def token_list(request: HttpRequest) -> HttpResponse:
    tokens = ApiToken.objects.filter(user=request.user)
    return render(request, "core/token_list.html", {"tokens": tokens})
