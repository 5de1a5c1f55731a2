"""The HTTP API at /api/v1/: one NinjaAPI, one error format, routers added per module."""

from __future__ import annotations

from ninja import NinjaAPI
from ninja.security import SessionAuth

api = NinjaAPI(
    title="Steelyard API",
    version="1",
    urls_namespace="api",
    auth=[SessionAuth()],
    docs_url="/docs",
)

api.add_router("/org/", "steelyard.org.api.router")
