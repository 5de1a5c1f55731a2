"""Approvals screens and API, seen by alice (requester), bob (her manager and approver) and charlie (outsider)."""

from __future__ import annotations

import json

import pytest

from steelyard.core import approval_kinds  # noqa: F401  (registers org.role_grant, menu and widget)
from steelyard.core.models import ApprovalRequest, ApprovalRoute, ApprovalStatus, Notification
from steelyard.core.registry import registry
from steelyard.core.services import approvals as svc

KIND = "test.view_discount"


@pytest.fixture
def kind():
    applied: list[int] = []
    svc.approval_kind_register(
        KIND,
        label="Test discount",
        on_approved=lambda req, actor: applied.append(req.pk),
        default_steps=[{"type": "manager", "level": 1}],
        change_labels={"discount_pct": "Discount %"},
    )
    yield applied
    svc._kinds.pop(KIND, None)


@pytest.fixture
def req(personas, kind) -> ApprovalRequest:
    return svc.approval_request_create(
        actor=personas.alice,
        subject=personas.alice,
        kind=KIND,
        requested_change={"discount_pct": "12.5", "items": ["crane", "hoist"]},
        reason="Competitor offer",
        title="Discount for ACME",
    )


# --- list -----------------------------------------------------------------------------------------------------


def test_it_lists_the_request_for_the_requester_and_the_approver_but_not_the_outsider(
    personas, client_for, req
):
    p = personas
    for user, tab, expected in [
        (p.alice, "mine", True),
        (p.alice, "all", True),
        (p.alice, "waiting", False),
        (p.bob, "waiting", True),
        (p.bob, "all", True),
        (p.charlie, "all", False),
        (p.charlie, "waiting", False),
    ]:
        r = client_for(user).get(f"/approvals/?tab={tab}")
        assert r.status_code == 200
        assert (b"Discount for ACME" in r.content) is expected, (user, tab)


def test_it_shows_an_empty_state_that_says_what_to_do(personas, client_for, kind):
    r = client_for(personas.charlie).get("/approvals/")
    assert r.status_code == 200
    assert "empty-state" in r.content.decode()


def test_it_offers_the_role_request_to_managers_only(personas, client_for, kind):
    assert b"/approvals/request-role/" in client_for(personas.bob).get("/approvals/").content
    assert b"/approvals/request-role/" not in client_for(personas.alice).get("/approvals/").content
    assert client_for(personas.alice).get("/approvals/request-role/").status_code == 403


def test_it_lists_within_a_fixed_number_of_queries(personas, client_for, kind, django_assert_max_num_queries):
    p = personas
    for i in range(12):
        subject = ApprovalRoute.objects.create(kind=f"k{i}", name=f"subject {i}")
        svc.approval_request_create(
            actor=p.alice, subject=subject, kind=KIND, requested_change={"n": i}, reason="r"
        )
    client = client_for(p.bob)
    client.get("/approvals/?tab=all")  # warm caches (content types, sessions)
    with django_assert_max_num_queries(10):
        r = client.get("/approvals/?tab=all&sort=title")
    assert r.status_code == 200
    assert r.content.decode().count("data-request=") == 12


def test_it_paginates_and_filters(personas, client_for, kind):
    p = personas
    for i in range(27):
        subject = ApprovalRoute.objects.create(kind=f"k{i}", name=f"subject {i}")
        svc.approval_request_create(
            actor=p.alice, subject=subject, kind=KIND, requested_change={}, reason="r", title=f"Req {i:02d}"
        )
    client = client_for(p.alice)
    page1 = client.get("/approvals/?tab=mine").content.decode()
    assert page1.count("data-request=") == 25
    page2 = client.get("/approvals/?tab=mine&page=2").content.decode()
    assert page2.count("data-request=") == 2
    found = client.get("/approvals/?tab=mine&q=Req+07").content.decode()
    assert found.count("data-request=") == 1
    assert client.get("/approvals/?tab=mine&status=approved").content.decode().count("data-request=") == 0


# --- detail ---------------------------------------------------------------------------------------------------


def test_it_shows_the_detail_to_requester_and_approver_and_404s_the_outsider(personas, client_for, req):
    p = personas
    r = client_for(p.alice).get(f"/approvals/{req.pk}/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "Discount %" in html and "12.5" in html and "crane, hoist" in html
    assert f"/approvals/{req.pk}/cancel/" in html and "data-confirm" in html
    assert f"/approvals/{req.pk}/decide/" not in html
    r = client_for(p.bob).get(f"/approvals/{req.pk}/")
    assert r.status_code == 200
    assert f"/approvals/{req.pk}/decide/" in r.content.decode()
    assert client_for(p.charlie).get(f"/approvals/{req.pk}/").status_code == 404


def test_it_approves_through_the_page_with_htmx(personas, client_for, req, kind):
    client = client_for(personas.bob)
    r = client.post(
        f"/approvals/{req.pk}/decide/", {"decision": "approve", "comment": "fine"}, HTTP_HX_REQUEST="true"
    )
    assert r.status_code == 200
    assert 'id="approval-panel"' in r.content.decode()
    assert "<html" not in r.content.decode()
    req.refresh_from_db()
    assert req.status == ApprovalStatus.APPROVED
    assert kind == [req.pk]


def test_it_explains_that_a_rejection_needs_a_comment(personas, client_for, req):
    r = client_for(personas.bob).post(f"/approvals/{req.pk}/decide/", {"decision": "reject", "comment": ""})
    assert r.status_code == 422
    assert str(svc.ERR_REJECT_NEEDS_COMMENT) in r.content.decode()
    req.refresh_from_db()
    assert req.status == ApprovalStatus.PENDING


def test_it_refuses_decisions_from_non_approvers(personas, client_for, req):
    p = personas
    assert (
        client_for(p.alice).post(f"/approvals/{req.pk}/decide/", {"decision": "approve"}).status_code == 403
    )
    assert (
        client_for(p.charlie).post(f"/approvals/{req.pk}/decide/", {"decision": "approve"}).status_code == 404
    )
    req.refresh_from_db()
    assert req.status == ApprovalStatus.PENDING


def test_it_comments_and_cancels_through_the_page(personas, client_for, req):
    p = personas
    r = client_for(p.bob).post(f"/approvals/{req.pk}/comment/", {"comment": "Which competitor?"})
    assert r.status_code == 302
    assert Notification.objects.filter(recipient=p.alice, event="approval.commented").exists()
    assert client_for(p.charlie).post(f"/approvals/{req.pk}/cancel/").status_code == 404
    assert client_for(p.bob).post(f"/approvals/{req.pk}/cancel/").status_code == 403
    assert client_for(p.alice).post(f"/approvals/{req.pk}/cancel/").status_code == 302
    req.refresh_from_db()
    assert req.status == ApprovalStatus.CANCELLED


# --- role request form ----------------------------------------------------------------------------------------


def test_it_lets_a_manager_request_a_role_for_a_report(personas, client_for):
    p = personas
    from steelyard.org.models import Role

    client = client_for(p.bob)
    page = client.get("/approvals/request-role/").content.decode()
    assert "Alice" in page and "Charlie" not in page
    marketing = Role.objects.get(code="marketing")
    r = client.post(
        "/approvals/request-role/", {"member": p.alice.pk, "roles": [marketing.pk], "reason": "Campaign"}
    )
    assert r.status_code == 302
    req = ApprovalRequest.objects.get(kind=approval_kinds.ROLE_GRANT)
    assert req.requested_change == {"add_roles": ["marketing"]}
    r = client_for(p.admin).post(f"/approvals/{req.pk}/decide/", {"decision": "approve"})
    assert r.status_code == 302
    assert "marketing" in p.alice.get_role_codes()


def test_it_explains_a_role_the_member_already_holds(personas, client_for):
    from steelyard.org.models import Role

    sales_rep = Role.objects.get(code="sales_rep")
    r = client_for(personas.bob).post(
        "/approvals/request-role/", {"member": personas.alice.pk, "roles": [sales_rep.pk], "reason": "x"}
    )
    assert r.status_code == 200
    assert str(approval_kinds.ERR_ROLES_HELD) in r.content.decode()


# --- routes (administrators) ----------------------------------------------------------------------------------


def test_it_lets_only_administrators_edit_routes(personas, client_for, kind):
    p = personas
    assert client_for(p.bob).get("/approvals/routes/").status_code in (403, 404)
    client = client_for(p.admin)
    assert client.get("/approvals/routes/").status_code == 200
    assert client.get(f"/approvals/routes/{KIND}/").status_code == 200
    data = {
        "name": "Finance then admin",
        "is_active": "on",
        "steps-TOTAL_FORMS": "3",
        "steps-INITIAL_FORMS": "1",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-type": "manager",
        "steps-0-level": "1",
        "steps-0-DELETE": "on",
        "steps-1-type": "role",
        "steps-1-role": "finance",
        "steps-2-type": "user",
        "steps-2-user": str(p.admin.pk),
    }
    r = client.post(f"/approvals/routes/{KIND}/", data)
    assert r.status_code == 302, r.content.decode()
    route = ApprovalRoute.objects.get(kind=KIND)
    assert route.steps == [{"type": "role", "role": "finance"}, {"type": "user", "user": p.admin.pk}]


def test_it_explains_an_incomplete_route_row(personas, client_for, kind):
    data = {
        "name": "x",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-type": "role",
    }
    r = client_for(personas.admin).post(f"/approvals/routes/{KIND}/", data)
    assert r.status_code == 200
    assert not ApprovalRoute.objects.filter(kind=KIND).exists()


# --- menu and home widget -------------------------------------------------------------------------------------


def test_it_registers_a_menu_item_and_a_home_widget(personas, client_for, req):
    assert registry.menu["approvals"].bottom_nav is True
    home = client_for(personas.bob).get("/").content.decode()
    assert "Discount for ACME" in home
    home = client_for(personas.charlie).get("/").content.decode()
    assert 'data-widget="approvals-waiting"' in home and "Discount for ACME" not in home


# --- API ------------------------------------------------------------------------------------------------------


def test_it_scopes_the_api_list_and_detail(personas, client_for, req):
    p = personas
    for user, visible in ((p.alice, True), (p.bob, True), (p.charlie, False)):
        client = client_for(user)
        r = client.get("/api/v1/approvals/")
        assert r.status_code == 200
        ids = [i["id"] for i in r.json()["items"]]
        assert (req.pk in ids) is visible
        assert client.get(f"/api/v1/approvals/{req.pk}").status_code == (200 if visible else 404)
    body = client_for(p.bob).get(f"/api/v1/approvals/{req.pk}").json()
    assert body["current_approver_id"] == p.bob.pk
    assert [s["approver"]["name"] for s in body["steps"]] == ["Bob"]
    waiting = client_for(p.bob).get("/api/v1/approvals/?tab=waiting").json()["items"]
    assert [i["id"] for i in waiting] == [req.pk]


def test_it_creates_decides_and_comments_through_the_api(personas, client_for, kind):
    p = personas
    alice, bob = client_for(p.alice), client_for(p.bob)
    payload = {
        "kind": KIND,
        "subject_type": "org.user",
        "subject_id": str(p.alice.pk),
        "requested_change": {"discount_pct": "8"},
        "reason": "Volume order",
    }
    r = alice.post("/api/v1/approvals/", json.dumps(payload), content_type="application/json")
    assert r.status_code == 201, r.content
    pk = r.json()["id"]
    r = client_for(p.charlie).post(
        f"/api/v1/approvals/{pk}/decide", json.dumps({"decision": "approve"}), content_type="application/json"
    )
    assert r.status_code == 404
    r = alice.post(
        f"/api/v1/approvals/{pk}/decide", json.dumps({"decision": "approve"}), content_type="application/json"
    )
    assert r.status_code == 403
    r = bob.post(
        f"/api/v1/approvals/{pk}/comment", json.dumps({"comment": "ok?"}), content_type="application/json"
    )
    assert r.status_code == 200
    r = bob.post(
        f"/api/v1/approvals/{pk}/decide",
        json.dumps({"decision": "approve", "comment": "ok"}),
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert kind == [pk]
    assert [e["event"] for e in r.json()["events"]] == ["requested", "commented", "approved"]


def test_it_refuses_api_requests_on_subjects_out_of_scope(personas, client_for, kind):
    payload = {
        "kind": KIND,
        "subject_type": "org.user",
        "subject_id": str(personas.charlie.pk),
        "reason": "x",
    }
    r = client_for(personas.alice).post(
        "/api/v1/approvals/", json.dumps(payload), content_type="application/json"
    )
    assert r.status_code == 404
    assert not ApprovalRequest.objects.exists()


def test_it_cancels_through_the_api(personas, client_for, req):
    assert client_for(personas.bob).post(f"/api/v1/approvals/{req.pk}/cancel").status_code == 403
    r = client_for(personas.alice).post(f"/api/v1/approvals/{req.pk}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
