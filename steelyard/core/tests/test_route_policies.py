"""Every route declares an access policy; a route without one is refused (deny by default)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver

from steelyard.api import api
from steelyard.core import access


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.callback


def test_it_declares_a_policy_on_every_route():
    missing = []
    for route, view in _walk(get_resolver().url_patterns):
        policy = getattr(view, "access_policy", None) or getattr(
            getattr(view, "view_class", None), "access_policy", None
        )
        if policy is None:
            missing.append(route)
    assert missing == [], f"routes without an access policy: {missing}"


def test_it_requires_auth_on_every_api_operation_unless_marked_public():
    unauthenticated = []
    seen = 0
    for bound in api._get_bound_routers():
        prefix = bound.prefix
        for path, path_view in bound.path_operations.items():
            for op in path_view.operations:
                seen += 1
                auth = op.auth_callbacks
                if not auth and not getattr(op.view_func, "access_policy", None) == access.PUBLIC:
                    unauthenticated.append(f"{prefix}{path} {op.methods}")
    assert seen > 20, "the API's operations were not found"
    assert unauthenticated == []


def test_it_refuses_a_view_without_policy(rf, db):
    from django.contrib.auth.models import AnonymousUser
    from django.http import Http404, HttpResponse

    from steelyard.core.middleware import AccessPolicyMiddleware

    def naked(request):
        return HttpResponse("secret")

    request = rf.get("/x")
    request.user = AnonymousUser()
    mw = AccessPolicyMiddleware(lambda r: HttpResponse())
    try:
        mw.process_view(request, naked, (), {})
    except Http404:
        return
    raise AssertionError("a view without a policy was let through")
