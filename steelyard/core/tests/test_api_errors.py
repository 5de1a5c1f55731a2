"""The API's one error format: every failure is JSON with a code, a message and field details."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.utils.translation import gettext, override

from steelyard.core.services.tokens import api_token_create


def zh(msgid: str) -> str:
    with override("zh-hans"):
        return gettext(msgid)


@pytest.fixture
def client(personas) -> Client:
    plain = api_token_create(actor=personas.alice, name="t", expires_in_days=5).plain
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_it_answers_malformed_json_with_400(client):
    response = client.post("/api/v1/tokens", data="{not json", content_type="application/json")
    error = assert_error_shape(response, 400, "malformed_json")
    assert error["message"] == zh("The request body is not valid JSON.")


def test_it_answers_malformed_json_in_english(client):
    response = client.post(
        "/api/v1/tokens", data="{not json", content_type="application/json", HTTP_ACCEPT_LANGUAGE="en"
    )
    # The token owner's saved language (zh-hans) wins over the browser's.
    assert response.json()["error"]["message"] == zh("The request body is not valid JSON.")


def test_it_answers_an_oversized_body_with_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"name": "' + "x" * 4000 + '"}'
    response = client.post("/api/v1/tokens", data=body, content_type="application/json")
    assert_error_shape(response, 413, "payload_too_large")


def test_it_answers_an_unknown_route_with_json_404(client):
    response = client.get("/api/v1/nope")
    error = assert_error_shape(response, 404, "not_found")
    assert error["fields"] == []


def test_it_answers_an_unknown_route_with_json_404_even_anonymously(db):
    response = Client().get("/api/v1/no/such/thing/", HTTP_ACCEPT_LANGUAGE="en")
    assert_error_shape(response, 404, "not_found")


def test_it_answers_a_schema_violation_with_422_and_field_details(client):
    response = client.post("/api/v1/tokens", data={"expires_in_days": 9999}, content_type="application/json")
    error = assert_error_shape(response, 422, "validation_error")
    fields = {f["field"]: f["message"] for f in error["fields"]}
    assert set(fields) == {"body.payload.name", "body.payload.expires_in_days"}
    assert fields["body.payload.name"] == zh("This field is required.")
    assert fields["body.payload.name"] == "这个字段是必填项。"  # Django's own catalogue has it


def test_it_translates_field_messages_to_english(personas, client_for):
    response = client_for(personas.alice).get("/api/v1/tokens?limit=0", HTTP_ACCEPT_LANGUAGE="en")
    personas.alice.language = "en"
    personas.alice.save()
    response = client_for(personas.alice).get("/api/v1/tokens?limit=0")
    error = assert_error_shape(response, 422, "validation_error")
    assert error["fields"] == [
        {"field": "query.limit", "message": "Ensure this value is greater than or equal to 1."}
    ]


def test_it_answers_a_service_validation_error_with_400_and_fields(personas, client, settings):
    settings.API_TOKEN_DEFAULT_DAYS = 365
    response = client.post("/api/v1/tokens", data={"name": "   "}, content_type="application/json")
    error = assert_error_shape(response, 400, "validation_error")
    assert [f["field"] for f in error["fields"]] == ["name"]


def test_it_answers_permission_denied_with_403(client):
    response = client.get("/api/v1/audit")
    assert_error_shape(response, 403, "forbidden")


def test_it_answers_an_unexpected_exception_with_500_json(client, monkeypatch):
    from steelyard.core.api import me

    def boom(*args, **kwargs):
        raise RuntimeError("kaput")

    monkeypatch.setattr(me, "user_scope", boom)
    response = client.get("/api/v1/me")
    error = assert_error_shape(response, 500, "server_error")
    assert "kaput" not in error["message"]


def test_it_shows_a_clear_translated_error_for_a_wrong_password(personas):
    response = Client().post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "alert-danger" in html
    assert "请输入一个正确的用户名和密码" in html
    # Pages ignore Accept-Language; a visitor switches to English with the language cookie.
    ignored = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        "/accounts/login/", {"username": "alice", "password": "wrong"}
    )
    assert "请输入一个正确的用户名和密码" in ignored.content.decode()
    english = Client()
    english.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = english.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert "Please enter a correct" in response.content.decode()


def test_it_answers_an_oversized_html_form_with_413(personas, client_for, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = client_for(personas.alice).post("/tokens/new/", {"name": "x" * 500, "expires_in_days": 5})
    assert response.status_code == 413


def test_it_answers_a_csrf_less_api_form_post_with_json(personas):
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(personas.alice)
    response = client.delete("/api/v1/tokens/1")
    error = assert_error_shape(response, 403, "csrf_failed")
    assert "CSRF" in error["message"]


def test_it_answers_a_wrong_method_with_json_405(client):
    response = client.put("/api/v1/me", HTTP_ACCEPT_LANGUAGE="en")
    error = assert_error_shape(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]
    assert "GET" in error["message"]
