from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from steelyard.core import access


@access.authenticated
def profile(request: HttpRequest) -> HttpResponse:
    return render(request, "org/profile.html", {"person": request.user})
