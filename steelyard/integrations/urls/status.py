"""Customer order status page (public, signed link; mounted at /track/)."""

from __future__ import annotations

urlpatterns: list = []
