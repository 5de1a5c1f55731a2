"""Fixtures shared by the customers tests.

The customers tests exercise the pool rules and the visit-frequency defaults on their own, so the strategy
menu that tiering ships as data (``tiering/migrations/0002_defaults.py``, in force from 2026) is set aside
for them: with a menu in force, its pool days and visit frequencies win for the tiers it covers. How the
menu changes the pool clock and visit plans is tested in ``steelyard/tiering/tests/test_strategy_*.py``.
A customers test that wants a menu creates one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _without_the_shipped_strategy_menu(request: pytest.FixtureRequest) -> Iterator[None]:
    names = set(request.fixturenames)
    marker = request.node.get_closest_marker("django_db")
    if marker is None and not names & {"db", "transactional_db", "live_server"}:
        yield
        return
    transactional = bool(
        names & {"transactional_db", "live_server"}
        or (marker is not None and marker.kwargs.get("transaction"))
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    from steelyard.tiering.models import StrategyMenu

    StrategyMenu.objects.all().delete()
    yield
