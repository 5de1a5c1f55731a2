"""The HTTP API at /api/v1/: one NinjaAPI, one error format, routers added per module.

- Auth: a personal token (``Authorization: Bearer sy_…``) or the browser session (CSRF
  enforced on unsafe methods). Either way the request acts with the user's own scopes.
- Errors: always ``{"error": {"code", "message", "fields"}}`` (see ``core/api/errors.py``).
- Lists: keyset pagination (``core/api/pagination.py``); a per-user rate limit answers 429
  with ``Retry-After`` (``core/api/throttle.py``).
- Docs: ``/api/v1/docs`` (signed-in users) and ``/api/v1/openapi.json``, served locally.

A module exposes ``router = Router(tags=[...])`` in its ``api.py`` and adds one line to the
routers block at the bottom of this file.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI

from steelyard.core.api.auth import SessionAuth, TokenAuth
from steelyard.core.api.docs import LocalSwagger, docs_login_required
from steelyard.core.api.errors import StrictJSONParser, install_error_handlers, json_method_not_allowed
from steelyard.core.api.throttle import UserRateThrottle


class SteelyardAPI(NinjaAPI):
    """NinjaAPI whose URL views answer a wrong method (405) in the one error format too."""

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        wrapped: list[URLResolver | URLPattern] = []
        for pattern in super()._get_urls():
            if isinstance(pattern, URLPattern):
                view = json_method_not_allowed(pattern.callback)
                view.csrf_exempt = getattr(pattern.callback, "csrf_exempt", False)  # type: ignore[attr-defined]
                pattern = URLPattern(pattern.pattern, view, pattern.default_args, pattern.name)
            wrapped.append(pattern)
        return wrapped


api = SteelyardAPI(
    title="Steelyard API",
    version="1",
    description=(
        "Authenticate with a personal API token (`Authorization: Bearer sy_…`) or a signed-in "
        'session. Every error has the shape `{"error": {"code", "message", "fields"}}`; '
        "lists use keyset pagination (`limit`, `cursor` → `next_cursor`)."
    ),
    urls_namespace="api",
    auth=[TokenAuth(), SessionAuth()],
    throttle=[UserRateThrottle()],
    parser=StrictJSONParser(),
    docs=LocalSwagger(),
    docs_url="/docs",
    docs_decorator=docs_login_required,
)
install_error_handlers(api)

# --- routers ------------------------------------------------------------------------------
# One line per module: api.add_router("/<prefix>/", "steelyard.<module>.api.router")
api.add_router("/me", "steelyard.core.api.me.router")
api.add_router("/tokens", "steelyard.core.api.tokens.router")
api.add_router("/audit", "steelyard.core.api.audit.router")
api.add_router("/org/", "steelyard.org.api.router")
api.add_router("/jobs/", "steelyard.core.api.jobs.router")
api.add_router("/notifications/", "steelyard.core.api.notifications.router")
api.add_router("/records/", "steelyard.core.api.collaboration.router")
api.add_router("/approvals/", "steelyard.core.api.approvals.router")
api.add_router("/customers/", "steelyard.customers.api.router")
api.add_router("/catalog/", "steelyard.catalog.api.router")
api.add_router("/orders/", "steelyard.orders.api.router")
api.add_router("/integrations/", "steelyard.integrations.api.router")
api.add_router("/tiers/", "steelyard.tiering.api.router")
api.add_router("/sales/", "steelyard.sales.api.router")
# --- end of routers -------------------------------------------------------------------------
