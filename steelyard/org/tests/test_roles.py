"""Roles: administrators edit scope, description and permissions; built-in roles stay."""

from __future__ import annotations

from django.contrib.auth.models import Permission

from steelyard.core.models import AuditLog
from steelyard.org.models import Role
from steelyard.org.services import ERR_ROLE_SEEDED


def test_it_lists_roles_with_user_counts_for_administrators(personas, client_for):
    r = client_for(personas.admin).get("/org/roles/")
    assert r.status_code == 200
    counts = {role.code: role.user_count for role in r.context["roles"]}
    assert counts["sales_rep"] == 2 and counts["administrator"] == 1


def test_it_refuses_roles_to_everybody_else(personas, client_for):
    for user in (personas.alice, personas.bob, personas.charlie, personas.dora):
        c = client_for(user)
        assert c.get("/org/roles/").status_code == 403
        assert c.get(f"/org/roles/{Role.objects.get(code='sales_rep').pk}/edit/").status_code == 403


def test_it_edits_scope_description_and_permissions(personas, client_for):
    role = Role.objects.get(code="sales_rep")
    perm = Permission.objects.get(codename="view_orgunit")
    c = client_for(personas.admin)
    page = c.get(f"/org/roles/{role.pk}/edit/")
    assert any(g["key"] == "org.orgunit" for g in page.context["groups"])
    r = c.post(
        f"/org/roles/{role.pk}/edit/",
        {
            "name": role.name,
            "description": "Works own accounts.",
            "data_scope": "team",
            "permissions": [perm.pk],
        },
    )
    assert r.status_code == 302
    role.refresh_from_db()
    assert role.data_scope == "team" and list(role.permissions.all()) == [perm]
    assert AuditLog.objects.filter(verb="role.permissions", object_id=str(role.pk)).exists()


def test_it_never_deletes_a_built_in_role(personas, client_for):
    role = Role.objects.get(code="sales_rep")
    r = client_for(personas.admin).post(f"/org/roles/{role.pk}/delete/", follow=True)
    assert Role.objects.filter(pk=role.pk).exists()
    assert str(ERR_ROLE_SEEDED) in r.content.decode()


def test_it_creates_and_deletes_a_custom_role(personas, client_for):
    c = client_for(personas.admin)
    r = c.post("/org/roles/new/", {"code": "auditor", "name": "Auditor", "data_scope": "all"})
    assert r.status_code == 302
    role = Role.objects.get(code="auditor")
    c.post(f"/org/roles/{role.pk}/delete/")
    assert not Role.objects.filter(code="auditor").exists()
    assert AuditLog.objects.filter(action="delete", object_repr="Auditor").exists()
