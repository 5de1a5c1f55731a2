"""Tiering models_admin API."""

from __future__ import annotations

from ninja import Router

router = Router()
