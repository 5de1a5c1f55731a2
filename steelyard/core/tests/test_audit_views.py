"""The audit log page: administrators only, filters, diffs, and no way to change an entry."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import Resolver404, resolve

from steelyard.core.models import AuditLog
from steelyard.core.selectors.audit import audit_for_object
from steelyard.core.services.audit import audit_record
from steelyard.org.models import User
from steelyard.org.services import user_update


def test_it_shows_the_audit_log_to_administrators_only(personas, client_for):
    assert client_for(personas.admin).get("/audit/").status_code == 200
    for user in (personas.alice, personas.bob, personas.charlie, personas.dora):
        assert client_for(user).get("/audit/").status_code == 403


def test_it_shows_a_user_edit_with_its_diff(personas, client_for):
    user_update(actor=personas.admin, user=personas.alice, display_name="Alice Wang")
    r = client_for(personas.admin).get(f"/audit/?object_id={personas.alice.pk}&action=update")
    entries = list(r.context["page"])
    assert len(entries) == 1 and entries[0].changes == {"display_name": ["Alice", "Alice Wang"]}
    html = r.content.decode()
    assert 'data-field="display_name"' in html and "Alice Wang" in html


def test_it_filters_by_actor_type_date_and_request(personas, client_for):
    user_update(actor=personas.admin, user=personas.alice, title="Rep")
    user_update(actor=personas.bob, user=personas.bob, phone="138")
    c = client_for(personas.admin)
    assert {e.actor_repr for e in c.get("/audit/?actor=bob").context["page"]} == {"Bob"}
    ct = ContentType.objects.get_for_model(User)
    assert len(list(c.get(f"/audit/?object_type={ct.pk}&action=update").context["page"])) == 2
    rid = AuditLog.objects.filter(actor=personas.bob).first().request_id
    r = c.get("/audit/", {"request_id": rid or "none"})
    assert r.status_code == 200
    assert list(c.get("/audit/?date_from=2000-01-01&date_to=2000-01-02").context["page"]) == []
    assert c.get("/audit/?date_from=not-a-date").context["filter"].errors["date_from"]


def test_it_searches_the_object_name(personas, client_for):
    user_update(actor=personas.admin, user=personas.charlie, title="Rep")
    r = client_for(personas.admin).get("/audit/?q=charl")
    assert {e.object_repr for e in r.context["page"]} == {"Charlie"}


def test_it_has_no_route_that_changes_an_entry(personas, client_for):
    entry = audit_record(actor=personas.admin, action="action", verb="test")
    c = client_for(personas.admin)
    assert c.post("/audit/", {"id": entry.pk}).status_code == 405
    assert c.delete("/audit/").status_code == 405
    assert c.put("/audit/").status_code == 405
    for path in (f"/audit/{entry.pk}/", f"/audit/{entry.pk}/delete/", f"/audit/{entry.pk}/edit/"):
        with pytest.raises(Resolver404):
            resolve(path)
    assert AuditLog.objects.filter(pk=entry.pk).exists()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditLog.objects.filter(pk=entry.pk).update(verb="x")


def test_it_keeps_the_admin_site_read_only(personas):
    model_admin = admin.site._registry[AuditLog]
    request = RequestFactory().get("/")
    request.user = personas.admin
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_it_lists_the_log_in_a_few_queries(personas, client_for, django_assert_max_num_queries):
    for i in range(60):
        audit_record(actor=personas.bob, action="action", verb=f"test.{i}", obj=personas.alice)
    c = client_for(personas.admin)
    c.get("/audit/")
    with django_assert_max_num_queries(10):
        r = c.get("/audit/")
    assert r.context["page"].count >= 60 and len(r.context["page"].object_list) == 50


def test_it_gives_any_record_its_trail(personas):
    user_update(actor=personas.admin, user=personas.alice, title="Rep")
    entries = audit_for_object(user=personas.admin, obj=personas.alice)
    assert [e.changes for e in entries] == [{"title": ["", "Rep"]}]
    html = render_to_string("core/audit/_record_trail.html", {"entries": entries})
    assert 'data-field="title"' in html
    # A sales rep's scope covers only what she did herself.
    assert audit_for_object(user=personas.alice, obj=personas.alice) == []
