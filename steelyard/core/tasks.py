"""The task shim: Steelyard code imports ``task`` from here, never from huey or django_tasks directly."""

from __future__ import annotations

from django_tasks import task  # noqa: F401
from django_tasks.backends.immediate import ImmediateBackend


class HueyBackend(ImmediateBackend):
    """Placeholder until the huey backend lands."""
