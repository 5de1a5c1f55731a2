"""API authentication: personal tokens, the browser session with CSRF, machine users."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.translation import gettext, override

from steelyard.core.models import ApiToken, AuditLog
from steelyard.core.services.tokens import api_token_create, api_token_revoke

ME = "/api/v1/me"


def zh(msgid: str) -> str:
    """The message as a zh-hans user reads it (Chinese once the catalogue is compiled)."""
    with override("zh-hans"):
        return gettext(msgid)


def bearer(plain: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"{scheme} {plain}"}


@pytest.fixture
def alice_token(personas) -> str:
    return api_token_create(actor=personas.alice, name="script", expires_in_days=30).plain


def test_it_authenticates_with_a_bearer_token(personas, alice_token):
    response = Client().get(ME, **bearer(alice_token))
    assert response.status_code == 200
    data = response.json()
    assert data["username"] == "alice"
    assert data["authenticated_by"] == "token"
    assert data["data_scope"] == "own"
    assert [r["code"] for r in data["roles"]] == ["sales_rep"]
    assert data["org_unit"]["code"] == "sh-crane"


def test_it_accepts_the_token_scheme_too(personas, alice_token):
    assert Client().get(ME, **bearer(alice_token, "Token")).status_code == 200


def test_it_refuses_a_garbage_token_in_chinese_by_default(personas):
    response = Client().get(ME, **bearer("not-a-token"))
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert error["message"] == zh("Invalid token.")
    assert response["Content-Language"] == "zh-hans"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_a_garbage_token_in_english_when_asked(personas):
    response = Client().get(ME, HTTP_ACCEPT_LANGUAGE="en", **bearer("sy_abcdefgh_" + "x" * 32))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid token."
    assert response["Content-Language"] == "en"


def test_it_refuses_a_revoked_token(personas, alice_token):
    token = ApiToken.objects.get(user=personas.alice)
    api_token_revoke(actor=personas.alice, token=token)
    response = Client().get(ME, HTTP_ACCEPT_LANGUAGE="en", **bearer(alice_token))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This token was revoked."
    zh_response = Client().get(ME, **bearer(alice_token))
    assert zh_response.json()["error"]["message"] == zh("This token was revoked.")


def test_it_refuses_an_expired_token(personas, alice_token):
    ApiToken.objects.filter(user=personas.alice).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = Client().get(ME, HTTP_ACCEPT_LANGUAGE="en", **bearer(alice_token))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This token has expired."
    zh_response = Client().get(ME, **bearer(alice_token))
    assert zh_response.json()["error"]["message"] == zh("This token has expired.")


def test_it_refuses_a_token_of_a_disabled_user(personas, alice_token):
    personas.alice.is_active = False
    personas.alice.save()
    response = Client().get(ME, HTTP_ACCEPT_LANGUAGE="en", **bearer(alice_token))
    assert response.status_code == 401
    assert "disabled" in response.json()["error"]["message"]


def test_it_refuses_a_token_with_a_right_prefix_and_wrong_secret(personas, alice_token):
    forged = alice_token[:12] + ("A" if alice_token[12] != "A" else "B") + alice_token[13:]
    response = Client().get(ME, HTTP_ACCEPT_LANGUAGE="en", **bearer(forged))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid token."


def test_it_answers_401_json_without_credentials(db):
    response = Client().get(ME, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_it_stores_only_the_hash_and_prefix(personas):
    issued = api_token_create(actor=personas.alice, name="x", expires_in_days=1)
    assert issued.plain.startswith(f"sy_{issued.token.prefix}_")
    assert len(issued.plain) == 3 + 8 + 1 + 32
    row = ApiToken.objects.get(pk=issued.token.pk)
    assert issued.plain not in (row.key_hash, row.prefix, row.name)
    audit = AuditLog.objects.get(object_id=str(row.pk), action="create")
    assert row.key_hash not in str(audit.changes)


def test_it_updates_last_used_at_most_once_a_minute(personas, alice_token, django_assert_num_queries):
    client = Client()
    client.get(ME, **bearer(alice_token))
    first = ApiToken.objects.get(user=personas.alice).last_used_at
    assert first is not None
    client.get(ME, **bearer(alice_token))
    assert ApiToken.objects.get(user=personas.alice).last_used_at == first
    ApiToken.objects.filter(user=personas.alice).update(last_used_at=first - dt.timedelta(minutes=2))
    client.get(ME, **bearer(alice_token))
    assert ApiToken.objects.get(user=personas.alice).last_used_at > first - dt.timedelta(minutes=2)


def test_it_acts_with_the_token_owners_language(personas, alice_token):
    personas.alice.language = "en"
    personas.alice.save()
    response = Client().post(
        "/api/v1/tokens", data="{}", content_type="application/json", **bearer(alice_token)
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "Some fields are not valid."


def test_it_lets_the_session_read_without_csrf(personas, client_for):
    response = client_for(personas.alice).get(ME)
    assert response.status_code == 200
    assert response.json()["authenticated_by"] == "session"


def test_it_refuses_a_session_post_without_csrf_token(personas):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.alice)
    response = client.post(
        "/api/v1/tokens",
        data={"name": "x", "expires_in_days": 5},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert not ApiToken.objects.exists()


def test_it_accepts_a_session_post_with_the_csrf_token(personas):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.alice)
    client.get("/tokens/")  # sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        "/api/v1/tokens",
        data={"name": "x", "expires_in_days": 5},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert response.status_code == 201, response.content
    assert ApiToken.objects.filter(user=personas.alice).count() == 1


def test_it_needs_no_csrf_token_with_a_bearer_token(personas, alice_token):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/tokens",
        data={"name": "y", "expires_in_days": 5},
        content_type="application/json",
        **bearer(alice_token),
    )
    assert response.status_code == 201


def test_it_refuses_the_session_of_a_machine_user(personas, client_for):
    personas.charlie.is_machine = True
    personas.charlie.save()
    response = client_for(personas.charlie).get(ME)
    assert response.status_code == 401


def test_it_lets_a_machine_user_in_with_a_token(personas):
    personas.charlie.is_machine = True
    personas.charlie.save()
    issued = api_token_create(actor=personas.admin, user=personas.charlie, name="erp", expires_in_days=10)
    response = Client().get(ME, **bearer(issued.plain))
    assert response.status_code == 200
    assert response.json()["is_machine"] is True


def test_it_refuses_a_machine_user_at_the_login_page(personas):
    from steelyard.core.testing.personas import PASSWORD

    personas.charlie.is_machine = True
    personas.charlie.save()
    # Pages ignore Accept-Language: an anonymous visitor reads the login page in zh-hans.
    response = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        "/accounts/login/", {"username": "charlie", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert zh("This is a machine account. It can only use the API, with an API token.") in (
        response.content.decode()
    )
    assert "_auth_user_id" not in response.client.session
