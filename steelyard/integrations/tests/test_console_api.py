"""/api/v1/integrations/systems/: administrators register systems, issue tokens and read batches."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from steelyard.core.models import ApiToken
from steelyard.core.services.tokens import api_token_create
from steelyard.integrations.models import ExternalSystem, InboundBatch, Via
from steelyard.integrations.services.systems import external_system_create, system_token_issue

pytestmark = pytest.mark.django_db

BASE = "/api/v1/integrations/systems"


def _client(user) -> Client:
    """An API client acting with a personal token of ``user``."""
    plain = api_token_create(actor=user, name="tests", expires_in_days=1).plain
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


@pytest.fixture
def erp(personas):
    return external_system_create(
        actor=personas.admin, code="erp", name="Kingdee ERP", kind="erp", description="", entities=["order"]
    )


def _post(client, url, data):
    return client.post(url, data=data, content_type="application/json")


def _patch(client, url, data):
    return client.patch(url, data=data, content_type="application/json")


@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "dora"])
def test_everyone_but_administrators_gets_403_on_every_route(personas, erp, who):
    token = system_token_issue(actor=personas.admin, system=erp, name="t", expires_in_days=5).token
    client = _client(getattr(personas, who))
    calls = [
        client.get(BASE),
        _post(client, BASE, {"code": "mes", "name": "MES"}),
        client.get(f"{BASE}/{erp.pk}"),
        _patch(client, f"{BASE}/{erp.pk}", {"is_active": False}),
        client.get(f"{BASE}/{erp.pk}/tokens"),
        _post(client, f"{BASE}/{erp.pk}/tokens", {"name": "mine"}),
        client.delete(f"{BASE}/{erp.pk}/tokens/{token.pk}"),
        client.get(f"{BASE}/{erp.pk}/batches"),
    ]
    for response in calls:
        assert response.status_code == 403, response.request["REQUEST_METHOD"]
        assert response.json()["error"]["code"] == "forbidden"
    erp.refresh_from_db()
    token.refresh_from_db()
    assert erp.is_active and token.revoked_at is None
    assert ExternalSystem.objects.count() == 1


def test_the_machine_user_itself_may_not_manage_systems(personas, erp):
    plain = system_token_issue(actor=personas.admin, system=erp, name="t", expires_in_days=5).plain
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert client.get(BASE).status_code == 403
    assert _post(client, f"{BASE}/{erp.pk}/tokens", {"name": "more"}).status_code == 403


def test_a_signed_in_session_works_too_for_admins(personas, client_for, erp):
    assert client_for(personas.admin).get(BASE).status_code == 200
    assert client_for(personas.bob).get(BASE).status_code == 403


def test_an_admin_registers_a_system_and_its_token_works(personas):
    client = _client(personas.admin)
    response = _post(
        client,
        BASE,
        {"code": "mes", "name": "Plant MES", "kind": "mes", "entities": ["production", "capacity"]},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["username"] == "sys-mes" and body["is_active"] is True
    assert body["entities"] == ["production", "capacity"]

    issued = _post(client, f"{BASE}/{body['id']}/tokens", {"name": "MES line 2", "expires_in_days": 60})
    assert issued.status_code == 201
    plain = issued.json()["token"]
    me = Client(HTTP_AUTHORIZATION=f"Bearer {plain}").get("/api/v1/me").json()
    assert me["username"] == "sys-mes" and me["is_machine"] is True

    tokens = client.get(f"{BASE}/{body['id']}/tokens").json()["items"]
    assert [t["name"] for t in tokens] == ["MES line 2"]
    assert "token" not in tokens[0]

    assert client.delete(f"{BASE}/{body['id']}/tokens/{tokens[0]['id']}").status_code == 204
    assert Client(HTTP_AUTHORIZATION=f"Bearer {plain}").get("/api/v1/me").status_code == 401


def test_the_list_and_detail(personas, erp):
    external_system_create(
        actor=personas.admin, code="aps", name="APS", kind="aps", description="", entities=[]
    )
    client = _client(personas.admin)
    page = client.get(BASE, {"limit": 1}).json()
    assert [s["code"] for s in page["items"]] == ["aps"] and page["next_cursor"]
    page2 = client.get(BASE, {"limit": 1, "cursor": page["next_cursor"]}).json()
    assert [s["code"] for s in page2["items"]] == ["erp"] and page2["next_cursor"] is None
    detail = client.get(f"{BASE}/{erp.pk}").json()
    assert detail["code"] == "erp" and detail["user_id"] == erp.user_id
    assert client.get(f"{BASE}/99999").status_code == 404


def test_patch_edits_and_deactivates(personas, erp):
    plain = system_token_issue(actor=personas.admin, system=erp, name="t", expires_in_days=5).plain
    client = _client(personas.admin)
    response = _patch(client, f"{BASE}/{erp.pk}", {"name": "Yonyou ERP", "entities": [], "is_active": False})
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Yonyou ERP" and body["entities"] == [] and body["is_active"] is False
    assert Client(HTTP_AUTHORIZATION=f"Bearer {plain}").get("/api/v1/me").status_code == 401
    refused = _post(client, f"{BASE}/{erp.pk}/tokens", {"name": "while off"})
    assert refused.status_code == 400
    assert _patch(client, f"{BASE}/{erp.pk}", {"is_active": True}).json()["is_active"] is True
    assert Client(HTTP_AUTHORIZATION=f"Bearer {plain}").get("/api/v1/me").status_code == 200


def test_bad_input_gets_field_details(personas, erp):
    client = _client(personas.admin)
    response = _post(client, BASE, {"code": "ERP", "name": "Dup"})
    assert response.status_code == 400
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["code"]
    response = _post(client, BASE, {"code": "new", "name": "New", "kind": "spaceship", "entities": ["warp"]})
    assert response.status_code == 400
    assert {f["field"] for f in response.json()["error"]["fields"]} == {"kind", "entities"}
    response = _post(client, BASE, {"name": "no code"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "body.payload.code"
    response = _post(client, f"{BASE}/{erp.pk}/tokens", {"name": "x", "expires_in_days": 0})
    assert response.status_code == 422
    assert not ApiToken.objects.filter(user=erp.user).exists()


def test_the_batches_of_a_system(personas, erp):
    other = external_system_create(
        actor=personas.admin, code="mes", name="MES", kind="mes", description="", entities=[]
    )
    old = InboundBatch.objects.create(system=erp, entity="order", rejected=2, total=5)
    InboundBatch.objects.filter(pk=old.pk).update(received_at=timezone.now() - dt.timedelta(days=2))
    new = InboundBatch.objects.create(system=erp, entity="payment", via=Via.FILE, total=3)
    InboundBatch.objects.create(system=other, entity="order")
    client = _client(personas.admin)
    url = f"{BASE}/{erp.pk}/batches"

    def ids(**params):
        response = client.get(url, params)
        assert response.status_code == 200, response.content
        return [b["id"] for b in response.json()["items"]]

    assert ids() == [new.pk, old.pk]
    assert ids(rejected="1") == [old.pk]
    assert ids(via="file") == [new.pk]
    assert ids(entity="order") == [old.pk]
    assert ids(date_from=timezone.localdate().isoformat()) == [new.pk]
    first = client.get(url, {"limit": 1}).json()
    assert client.get(url, {"limit": 1, "cursor": first["next_cursor"]}).json()["items"][0]["id"] == old.pk
    bad = client.get(url, {"via": "pigeon"})
    assert bad.status_code == 400 and bad.json()["error"]["fields"][0]["field"] == "via"
