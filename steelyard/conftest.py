from __future__ import annotations

import os

import pytest
from django.test import Client

from steelyard.core.testing.personas import Personas, make_personas

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # playwright's sync API runs an event loop


@pytest.fixture
def personas(db) -> Personas:
    return make_personas()


@pytest.fixture
def client_for(personas):
    """``client_for(user)`` returns a test client signed in as ``user``."""

    def make(user) -> Client:
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language; a request in an earlier test may have activated another."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _serialized_rollback(django_db_serialized_rollback):
    """Transactional tests (browser, threads, concurrency) all put the migrated data back the same way.

    A transactional test without it flushes the database and lets ``post_migrate`` recreate the content
    types under new ids; a later test with ``serialized_rollback`` then fails to load its snapshot over
    them. With every transactional test serialised, each one starts from the migrated data (shipped
    defaults included) whatever ran before it on the same worker. No effect on ordinary tests.
    """
