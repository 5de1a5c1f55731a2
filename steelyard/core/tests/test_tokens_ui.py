"""The "API tokens" page: list own tokens, create one (shown once), revoke with confirmation."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from steelyard.core.models import ApiToken
from steelyard.core.services.tokens import api_token_create, api_token_revoke


def test_it_explains_tokens_when_there_are_none(personas, client_for):
    response = client_for(personas.alice).get("/tokens/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert "empty-state" in html
    assert 'action="/tokens/new/"' in html


def test_it_creates_a_token_and_shows_it_once(personas, client_for):
    client = client_for(personas.alice)
    response = client.post("/tokens/new/", {"name": "ERP sync", "expires_in_days": 30})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    match = re.search(r'value="(sy_[A-Za-z0-9]{8}_[A-Za-z0-9]{32})"', html)
    assert match, "the new token is shown"
    plain = match.group(1)
    assert Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plain}").status_code == 200
    again = client.get("/tokens/").content.decode()
    assert plain not in again
    assert "ERP sync" in again


def test_it_explains_a_bad_form(personas, client_for):
    response = client_for(personas.alice).post(
        "/tokens/new/", {"name": "", "expires_in_days": 9999}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert html.count("invalid-feedback") >= 2
    assert not ApiToken.objects.exists()


def test_it_lists_only_my_tokens_with_their_status(personas, client_for, django_assert_max_num_queries):
    for i in range(30):
        api_token_create(actor=personas.alice, name=f"alice-{i:02d}", expires_in_days=10)
    revoked = api_token_create(actor=personas.alice, name="gone", expires_in_days=10).token
    api_token_revoke(actor=personas.alice, token=revoked)
    api_token_create(actor=personas.bob, name="bobs-token", expires_in_days=10)
    client = client_for(personas.alice)
    with django_assert_max_num_queries(12):
        html = client.get("/tokens/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "bobs-token" not in html
    assert html.count("data-token=") == 25  # one page
    assert "data-confirm=" in html
    revoked_only = client.get("/tokens/?status=revoked").content.decode()
    assert revoked_only.count("data-token=") == 1
    searched = client.get("/tokens/?q=alice-07").content.decode()
    assert searched.count("data-token=") == 1
    page_two = client.get("/tokens/?page=2&sort=name").content.decode()
    assert page_two.count("data-token=") == 6


@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_it_hides_alices_tokens_from_others(personas, client_for, who):
    token = api_token_create(actor=personas.alice, name="alice-secret", expires_in_days=10).token
    client = client_for(getattr(personas, who))
    assert "alice-secret" not in client.get("/tokens/").content.decode()
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_it_revokes_my_token(personas, client_for):
    token = api_token_create(actor=personas.alice, name="old", expires_in_days=10).token
    response = client_for(personas.alice).post(f"/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_it_refuses_revoking_with_get(personas, client_for):
    token = api_token_create(actor=personas.alice, name="old", expires_in_days=10).token
    assert client_for(personas.alice).get(f"/tokens/{token.pk}/revoke/").status_code == 405


def test_it_sends_strangers_to_login(db):
    response = Client().get("/tokens/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
