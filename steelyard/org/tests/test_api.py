"""The org API: scoped lists and details, admin-only writes, the shared filter set."""

from __future__ import annotations

import json

from django.utils import timezone

from steelyard.core.models import AuditLog
from steelyard.org.models import User
from steelyard.org.services import qualification_save


def _usernames(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {u["username"] for u in response.json()["items"]}


def test_it_lists_only_the_people_each_persona_may_see(personas, client_for):
    assert _usernames(client_for(personas.admin).get("/api/v1/org/users")) == {
        "admin",
        "dora",
        "bob",
        "alice",
        "charlie",
    }
    assert _usernames(client_for(personas.bob).get("/api/v1/org/users")) == {"bob", "alice", "dora"}
    assert _usernames(client_for(personas.alice).get("/api/v1/org/users")) == {"alice", "bob"}
    assert _usernames(client_for(personas.charlie).get("/api/v1/org/users")) == {"charlie"}


def test_it_filters_users_with_the_page_filter_set(personas, client_for):
    c = client_for(personas.admin)
    assert _usernames(c.get(f"/api/v1/org/users?unit={personas.east.pk}")) == {"dora", "bob", "alice"}
    assert _usernames(c.get("/api/v1/org/users?role=sales_rep")) == {"alice", "charlie"}
    r = c.get("/api/v1/org/users?role=nope")
    assert r.status_code == 400


def test_it_refuses_a_unit_filter_outside_the_scope(personas, client_for):
    r = client_for(personas.charlie).get(f"/api/v1/org/users?unit={personas.team_a.pk}")
    assert r.status_code == 400


def test_it_answers_404_for_a_person_outside_the_scope(personas, client_for):
    assert client_for(personas.charlie).get(f"/api/v1/org/users/{personas.alice.pk}").status_code == 404
    r = client_for(personas.bob).get(f"/api/v1/org/users/{personas.alice.pk}")
    assert r.status_code == 200 and r.json()["roles"] == ["sales_rep"]


def test_it_pages_users_with_a_cursor(personas, client_for):
    r = client_for(personas.admin).get("/api/v1/org/users?limit=2")
    body = r.json()
    assert len(body["items"]) == 2 and body["next_cursor"]
    nxt = client_for(personas.admin).get(f"/api/v1/org/users?limit=2&cursor={body['next_cursor']}").json()
    assert {u["username"] for u in nxt["items"]}.isdisjoint({u["username"] for u in body["items"]})


def test_it_lists_units_in_tree_order_and_scoped(personas, client_for):
    items = client_for(personas.dora).get("/api/v1/org/units").json()["items"]
    assert [u["code"] for u in items] == ["grp", "east", "sh", "sh-crane"]
    assert client_for(personas.charlie).get(f"/api/v1/org/units/{personas.team_a.pk}").status_code == 404
    unit = client_for(personas.admin).get(f"/api/v1/org/units/{personas.team_a.pk}").json()
    assert unit["member_count"] == 2


def _post(client, url, payload):
    return client.post(url, data=json.dumps(payload), content_type="application/json")


def _patch(client, url, payload):
    return client.patch(url, data=json.dumps(payload), content_type="application/json")


def test_it_lets_an_administrator_create_a_person(personas, client_for):
    r = _post(
        client_for(personas.admin),
        "/api/v1/org/users",
        {
            "username": "erin",
            "org_unit_id": personas.team_a.pk,
            "manager_id": personas.bob.pk,
            "roles": ["sales_rep"],
        },
    )
    assert r.status_code == 201, r.content
    assert r.json()["roles"] == ["sales_rep"]
    assert User.objects.get(username="erin").manager == personas.bob


def test_it_refuses_creation_to_others_and_bad_roles(personas, client_for):
    payload = {"username": "erin", "org_unit_id": personas.team_a.pk}
    assert _post(client_for(personas.bob), "/api/v1/org/users", payload).status_code == 403
    r = _post(client_for(personas.admin), "/api/v1/org/users", {**payload, "roles": ["wizard"]})
    assert r.status_code == 400
    assert not User.objects.filter(username="erin").exists()


def test_it_patches_a_person_and_audits_the_change(personas, client_for):
    r = _patch(
        client_for(personas.admin), f"/api/v1/org/users/{personas.alice.pk}", {"title": "Key account rep"}
    )
    assert r.status_code == 200 and r.json()["title"] == "Key account rep"
    entry = AuditLog.objects.filter(object_id=str(personas.alice.pk), action="update").first()
    assert entry.changes["title"] == ["", "Key account rep"]


def test_it_refuses_a_manager_cycle_over_the_api(personas, client_for):
    r = _patch(
        client_for(personas.admin), f"/api/v1/org/users/{personas.bob.pk}", {"manager_id": personas.alice.pk}
    )
    assert r.status_code == 400
    assert User.objects.get(pk=personas.bob.pk).manager == personas.dora


def test_it_refuses_patches_to_non_administrators(personas, client_for):
    r = _patch(client_for(personas.bob), f"/api/v1/org/users/{personas.alice.pk}", {"title": "x"})
    assert r.status_code == 403


def test_it_grants_a_qualification_over_the_api(personas, client_for):
    qualification_save(actor=personas.admin, code="crane-l2", name="Crane L2", validity_months=6)
    today = timezone.localdate()
    r = _post(
        client_for(personas.admin),
        f"/api/v1/org/users/{personas.alice.pk}/qualifications",
        {"qualification": "crane-l2", "obtained_on": today.isoformat()},
    )
    assert r.status_code == 201, r.content
    assert r.json()["expires_on"] is not None
    assert (
        _post(
            client_for(personas.bob),
            f"/api/v1/org/users/{personas.alice.pk}/qualifications",
            {"qualification": "crane-l2", "obtained_on": today.isoformat()},
        ).status_code
        == 403
    )
    mine = client_for(personas.alice).get(f"/api/v1/org/users/{personas.alice.pk}/qualifications").json()
    assert [q["qualification"] for q in mine] == ["crane-l2"]


def test_it_lists_roles_positions_and_qualifications(personas, client_for):
    c = client_for(personas.alice)
    roles = c.get("/api/v1/org/roles").json()
    assert {r["code"] for r in roles} >= {"administrator", "sales_rep"}
    assert c.get("/api/v1/org/positions").json()["items"] == []
    assert c.get("/api/v1/org/qualifications").status_code == 200


def test_it_refuses_anonymous_callers(db, client):
    assert client.get("/api/v1/org/users").status_code == 401
