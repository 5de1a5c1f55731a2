"""The tokens API and the token services, from the owner, the manager and the outsider side."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from steelyard.core.models import ApiToken, AuditLog
from steelyard.core.services.tokens import MAX_EXPIRY_DAYS, api_token_create, api_token_revoke


def token_client(user) -> Client:
    plain = api_token_create(actor=user, name="client", expires_in_days=5).plain
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}", HTTP_ACCEPT_LANGUAGE="en")


def test_it_creates_a_token_and_shows_it_once(personas):
    client = token_client(personas.alice)
    response = client.post(
        "/api/v1/tokens", data={"name": "ERP sync", "expires_in_days": 90}, content_type="application/json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith(f"sy_{body['prefix']}_")
    assert body["status"] == "active"
    listed = client.get("/api/v1/tokens").json()
    assert {t["name"] for t in listed["items"]} == {"client", "ERP sync"}
    assert all("token" not in t for t in listed["items"])
    assert Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {body['token']}").status_code == 200


def test_it_uses_the_default_lifetime(personas, settings):
    settings.API_TOKEN_DEFAULT_DAYS = 30
    issued = api_token_create(actor=personas.alice, name="x")
    days = (issued.token.expires_at - issued.token.created_at).days
    assert 29 <= days <= 30


def test_it_refuses_a_lifetime_over_the_maximum(personas):
    with pytest.raises(ValidationError) as exc:
        api_token_create(actor=personas.alice, name="x", expires_in_days=MAX_EXPIRY_DAYS + 1)
    assert "expires_in_days" in exc.value.message_dict


def test_it_lists_only_my_own_tokens(personas):
    api_token_create(actor=personas.alice, name="alice's")
    # bob manages alice: his data scope covers her records, but tokens are personal.
    bob_list = token_client(personas.bob).get("/api/v1/tokens").json()
    assert [t["name"] for t in bob_list["items"]] == ["client"]
    charlie_list = token_client(personas.charlie).get("/api/v1/tokens").json()
    assert [t["name"] for t in charlie_list["items"]] == ["client"]


def test_it_lets_the_owner_revoke_her_token(personas):
    client = token_client(personas.alice)
    target = api_token_create(actor=personas.alice, name="old").token
    response = client.delete(f"/api/v1/tokens/{target.pk}")
    assert response.status_code == 204
    target.refresh_from_db()
    assert target.revoked_at is not None
    assert AuditLog.objects.filter(object_id=str(target.pk), verb="api_token.revoked").count() == 1
    # Revoking again changes nothing and records nothing.
    assert client.delete(f"/api/v1/tokens/{target.pk}").status_code == 204
    assert AuditLog.objects.filter(object_id=str(target.pk), verb="api_token.revoked").count() == 1


@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_it_hides_alices_token_from_others(personas, who):
    target = api_token_create(actor=personas.alice, name="alice's").token
    response = token_client(getattr(personas, who)).delete(f"/api/v1/tokens/{target.pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    target.refresh_from_db()
    assert target.revoked_at is None


def test_it_refuses_revoking_someone_elses_token_in_the_service(personas):
    target = api_token_create(actor=personas.alice, name="alice's").token
    with pytest.raises(PermissionDenied):
        api_token_revoke(actor=personas.bob, token=target)


def test_it_audits_token_creation(personas):
    issued = api_token_create(actor=personas.alice, name="audited", expires_in_days=3)
    entry = AuditLog.objects.get(object_id=str(issued.token.pk), action="create")
    assert entry.actor == personas.alice
    assert entry.changes["name"] == [None, "audited"]


def test_it_lets_only_administrators_issue_tokens_for_machine_users(personas):
    personas.charlie.is_machine = True
    personas.charlie.save()
    with pytest.raises(PermissionDenied):
        api_token_create(actor=personas.bob, user=personas.charlie, name="erp")
    with pytest.raises(ValidationError):
        api_token_create(actor=personas.admin, user=personas.alice, name="not a machine")
    issued = api_token_create(actor=personas.admin, user=personas.charlie, name="erp")
    assert issued.token.user == personas.charlie


def test_it_acts_with_the_owners_scope(personas):
    # alice's token is alice: it cannot read the administrators' audit log.
    response = token_client(personas.alice).get("/api/v1/audit")
    assert response.status_code == 403
    assert token_client(personas.admin).get("/api/v1/audit").status_code == 200


def test_it_keeps_token_rows_hashed(personas):
    issued = api_token_create(actor=personas.alice, name="x")
    assert not ApiToken.objects.filter(key_hash=issued.plain).exists()
    assert ApiToken.objects.filter(prefix=issued.token.prefix).count() == 1
