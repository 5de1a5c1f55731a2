"""The console's services: a system with its machine user, its tokens, activation; all audited, admins only."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from steelyard.core.models import ApiToken, AuditLog
from steelyard.integrations.models import ExternalSystem
from steelyard.integrations.services.systems import (
    external_system_create,
    external_system_set_active,
    external_system_update,
    known_entities,
    system_token_issue,
    system_token_revoke,
)

pytestmark = pytest.mark.django_db


def _erp(admin, **extra):
    data = {
        "code": "erp",
        "name": "金蝶 ERP",
        "kind": "erp",
        "description": "",
        "entities": ["order", "customer"],
    }
    data.update(extra)
    return external_system_create(actor=admin, **data)


def _me(plain: str) -> tuple[int, dict]:
    response = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plain}")
    return response.status_code, response.json()


def test_it_creates_the_system_with_its_machine_user(personas):
    system = _erp(personas.admin)
    user = system.user
    assert user.username == "sys-erp"
    assert user.is_machine and user.is_active
    assert not user.has_usable_password()
    assert user.org_unit_id is None
    assert sorted(user.roles.values_list("code", flat=True)) == ["integration"]
    # Kept in the engine's order, whatever order they were ticked in.
    assert system.entities == [e for e in known_entities() if e in ("order", "customer")]
    assert AuditLog.objects.filter(object_id=str(system.pk), action="create", verb="").exists()
    assert AuditLog.objects.filter(object_id=str(user.pk), action="create").exists()


def test_a_token_issued_for_the_system_authenticates_as_its_machine_user(personas):
    system = _erp(personas.admin)
    issued = system_token_issue(actor=personas.admin, system=system, name="ERP prod", expires_in_days=30)
    assert issued.token.user_id == system.user_id
    status, body = _me(issued.plain)
    assert status == 200
    assert body["username"] == "sys-erp" and body["is_machine"] is True
    assert body["authenticated_by"] == "token"
    assert [r["code"] for r in body["roles"]] == ["integration"]
    assert AuditLog.objects.filter(object_id=str(system.pk), verb="integrations.system.token_issued").exists()
    # Only the hash is stored.
    assert not ApiToken.objects.filter(key_hash=issued.plain).exists()


def test_deactivating_refuses_its_tokens_and_activating_restores_them(personas):
    system = _erp(personas.admin)
    plain = system_token_issue(actor=personas.admin, system=system, name="ERP", expires_in_days=30).plain
    assert _me(plain)[0] == 200

    system = external_system_set_active(actor=personas.admin, system=system, active=False)
    system.user.refresh_from_db()
    assert system.is_active is False and system.user.is_active is False
    status, body = _me(plain)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    # Nor can it post anything: refused before any route runs.
    response = Client().post(
        "/api/v1/integrations/systems",
        data={"code": "x", "name": "x"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    assert response.status_code == 401
    assert AuditLog.objects.filter(object_id=str(system.pk), verb="integrations.system.deactivated").exists()
    with pytest.raises(ValidationError):
        system_token_issue(actor=personas.admin, system=system, name="another", expires_in_days=30)

    external_system_set_active(actor=personas.admin, system=system, active=True)
    assert _me(plain)[0] == 200


def test_a_revoked_token_is_refused(personas):
    system = _erp(personas.admin)
    issued = system_token_issue(actor=personas.admin, system=system, name="ERP", expires_in_days=30)
    system_token_revoke(actor=personas.admin, system=system, token=issued.token)
    assert _me(issued.plain)[0] == 401
    assert AuditLog.objects.filter(
        object_id=str(system.pk), verb="integrations.system.token_revoked"
    ).exists()


def test_it_refuses_another_systems_token(personas):
    erp = _erp(personas.admin)
    mes = _erp(personas.admin, code="mes", name="MES", kind="mes", entities=[])
    token = system_token_issue(actor=personas.admin, system=mes, name="MES", expires_in_days=30).token
    with pytest.raises(ValidationError):
        system_token_revoke(actor=personas.admin, system=erp, token=token)
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "dora"])
def test_only_administrators_may_manage_systems(personas, who):
    person = getattr(personas, who)
    with pytest.raises(PermissionDenied):
        _erp(person)
    system = _erp(personas.admin)
    with pytest.raises(PermissionDenied):
        external_system_update(actor=person, system=system, name="Mine now")
    with pytest.raises(PermissionDenied):
        external_system_set_active(actor=person, system=system, active=False)
    with pytest.raises(PermissionDenied):
        system_token_issue(actor=person, system=system, name="x", expires_in_days=1)
    assert ExternalSystem.objects.get().name == "金蝶 ERP"
    assert not ApiToken.objects.exists()


def test_it_validates_code_entities_and_duplicates(personas):
    with pytest.raises(ValidationError) as e:
        _erp(personas.admin, code="not a slug")
    assert "code" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        _erp(personas.admin, entities=["order", "spaceship"])
    assert "entities" in e.value.message_dict and "spaceship" in e.value.message_dict["entities"][0]
    with pytest.raises(ValidationError) as e:
        _erp(personas.admin, name="")
    assert "name" in e.value.message_dict
    _erp(personas.admin)
    with pytest.raises(ValidationError) as e:
        _erp(personas.admin, code="ERP")
    assert "code" in e.value.message_dict
    assert ExternalSystem.objects.count() == 1


def test_it_refuses_a_code_whose_machine_username_is_taken(personas):
    from steelyard.org.models import User

    User.objects.create(username="sys-mes")
    with pytest.raises(ValidationError) as e:
        _erp(personas.admin, code="mes")
    assert "code" in e.value.message_dict
    assert not ExternalSystem.objects.exists()


def test_update_changes_fields_keeps_the_code_and_audits(personas):
    system = _erp(personas.admin)
    external_system_update(
        actor=personas.admin, system=system, name="用友 ERP", entities=["payment"], description="财务部"
    )
    system.refresh_from_db()
    assert system.name == "用友 ERP" and system.entities == ["payment"] and system.description == "财务部"
    system.user.refresh_from_db()
    assert system.user.display_name == "用友 ERP"
    log = AuditLog.objects.filter(object_id=str(system.pk), action="update").latest("id")
    assert log.changes["name"] == ["金蝶 ERP", "用友 ERP"]
    with pytest.raises(ValidationError):
        external_system_update(actor=personas.admin, system=system, code="other")
    with pytest.raises(ValidationError):
        external_system_update(actor=personas.admin, system=system, is_active=False)
    system.refresh_from_db()
    assert system.code == "erp" and system.is_active


def test_a_system_registered_without_a_machine_user_gets_one_on_its_first_token(personas):
    system = ExternalSystem.objects.create(code="srm", name="SRM", kind="srm")
    plain = system_token_issue(actor=personas.admin, system=system, name="SRM", expires_in_days=5).plain
    system.refresh_from_db()
    assert system.user.username == "sys-srm" and system.user.is_machine
    assert _me(plain)[1]["username"] == "sys-srm"
