"""Keyset pagination over API lists, and the per-user rate limit."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils.translation import gettext, override

from steelyard.core.api.throttle import parse_rate
from steelyard.core.models import AuditLog
from steelyard.core.services.audit import audit_record
from steelyard.core.services.tokens import api_token_create


def zh(msgid: str) -> str:
    """The message as a zh-hans user reads it."""
    with override("zh-hans"):
        return gettext(msgid)


@pytest.fixture
def admin_client(personas) -> Client:
    plain = api_token_create(actor=personas.admin, name="t", expires_in_days=5).plain
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}", HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def test_it_walks_all_items_with_no_duplicates(personas, admin_client, django_assert_max_num_queries):
    for i in range(23):
        audit_record(actor=personas.alice, action="action", verb=f"test.{i}")
    expected = list(AuditLog.objects.order_by("-id").values_list("id", flat=True))
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        url = "/api/v1/audit?limit=5" + (f"&cursor={cursor}" if cursor else "")
        with django_assert_max_num_queries(6):
            response = admin_client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= 5
        seen.extend(item["id"] for item in body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert len(seen) == len(set(seen))
    assert pages == -(-len(expected) // 5)


def test_it_sees_rows_added_between_pages_without_repeating(personas, admin_client):
    for i in range(6):
        audit_record(actor=personas.alice, action="action", verb=f"a.{i}")
    first = admin_client.get("/api/v1/audit?limit=3").json()
    audit_record(actor=personas.alice, action="action", verb="late")  # newer: before the cursor
    second = admin_client.get(f"/api/v1/audit?limit=3&cursor={first['next_cursor']}").json()
    ids = [i["id"] for i in first["items"]] + [i["id"] for i in second["items"]]
    assert len(ids) == len(set(ids))


def test_it_refuses_a_tampered_cursor_with_400(personas, admin_client):
    for i in range(3):
        audit_record(actor=personas.alice, action="action", verb=f"a.{i}")
    cursor = admin_client.get("/api/v1/audit?limit=1").json()["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for bad in (tampered, "garbage", "eyJvIjpbXX0"):
        response = admin_client.get(f"/api/v1/audit?cursor={bad}")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid_cursor"
        # The admin's saved language (zh-hans) wins over the client's Accept-Language.
        assert error["message"] == zh("This cursor is not valid. Start again from the first page.")


def test_it_caps_the_limit(personas, admin_client):
    response = admin_client.get("/api/v1/audit?limit=501")
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "query.limit"


def test_it_parses_rates():
    assert parse_rate("600/min") == (600, 60)
    assert parse_rate("10/s") == (10, 1)
    assert parse_rate("100/5m") == (100, 300)
    assert parse_rate("off") is None
    with pytest.raises(ValueError):
        parse_rate("lots")


def test_it_answers_429_with_retry_after_over_the_limit(personas, settings):
    settings.API_RATE_LIMIT = "3/min"
    alice = Client(
        HTTP_AUTHORIZATION=f"Bearer {api_token_create(actor=personas.alice, name='a', expires_in_days=5).plain}",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    for _i in range(3):
        assert alice.get("/api/v1/me").status_code == 200
    response = alice.get("/api/v1/me")
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert str(retry_after) in error["message"]


def test_it_limits_each_user_separately(personas, settings, client_for):
    settings.API_RATE_LIMIT = "2/min"
    alice = client_for(personas.alice)
    bob = client_for(personas.bob)
    assert alice.get("/api/v1/me").status_code == 200
    assert alice.get("/api/v1/me").status_code == 200
    assert alice.get("/api/v1/me").status_code == 429
    assert bob.get("/api/v1/me").status_code == 200
