"""Approvals: kinds, routing, deciding, commenting, cancelling — the services and selectors."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext, override

from steelyard.core import approval_kinds  # noqa: F401  (registers org.role_grant, menu and widget)
from steelyard.core.models import ApprovalRequest, ApprovalRoute, ApprovalStatus, AuditLog, Notification
from steelyard.core.selectors.approvals import approval_list, approvals_waiting_for
from steelyard.core.services import approvals as svc
from steelyard.org.models import Role, User

KIND = "test.discount"


class Calls:
    def __init__(self) -> None:
        self.approved: list[tuple[int, int]] = []
        self.rejected: list[tuple[int, int]] = []


@pytest.fixture
def calls():
    c = Calls()
    svc.approval_kind_register(
        KIND,
        label="Test discount",
        on_approved=lambda req, actor: c.approved.append((req.pk, actor.pk)),
        on_rejected=lambda req, actor: c.rejected.append((req.pk, actor.pk)),
        default_steps=[{"type": "manager", "level": 1}, {"type": "manager", "level": 2}],
    )
    yield c
    svc._kinds.pop(KIND, None)


def raise_(p, actor=None, subject=None, **kw):
    actor = actor or p.alice
    return svc.approval_request_create(
        actor=actor,
        subject=subject or actor,
        kind=kw.pop("kind", KIND),
        requested_change=kw.pop("requested_change", {"discount_pct": "12.5"}),
        reason=kw.pop("reason", "Competitor offer"),
        **kw,
    )


def approvers(req: ApprovalRequest) -> list[str]:
    return [s.approver.username for s in req.steps.select_related("approver").order_by("order")]


# --- routing ---------------------------------------------------------------------------------------------


def test_it_routes_by_the_manager_chain(personas, calls):
    req = raise_(personas)
    assert approvers(req) == ["bob", "dora"]
    assert req.steps.get(order=0).rule == {"type": "manager", "level": 1}


def test_it_falls_back_to_the_org_unit_managers_when_the_reporting_line_ends(personas, calls):
    p = personas
    p.alice.manager = None
    p.alice.save()
    # team_a is managed by bob, east (an ancestor) by dora.
    req = raise_(p)
    assert approvers(req) == ["bob", "dora"]


def test_it_routes_by_role_nearest_first(personas, calls):
    p = personas
    finance = Role.objects.get(code="finance")
    far = User.objects.create(username="fin_far", org_unit=p.team_c)
    near = User.objects.create(username="fin_near", org_unit=p.shanghai)
    for u in (far, near):
        u.roles.add(finance)
    ApprovalRoute.objects.create(kind=KIND, name="Finance", steps=[{"type": "role", "role": "finance"}])
    assert approvers(raise_(p)) == ["fin_near"]
    # With the near holder gone, somebody anywhere with the role decides.
    near.is_active = False
    near.save()
    assert approvers(raise_(p, actor=p.bob)) == ["fin_far"]


def test_it_prefers_role_holders_in_the_requesters_own_subtree(personas, calls):
    p = personas
    finance = Role.objects.get(code="finance")
    above = User.objects.create(username="fin_region", org_unit=p.east)
    inside = User.objects.create(username="fin_team", org_unit=p.team_a)
    for u in (above, inside):
        u.roles.add(finance)
    ApprovalRoute.objects.create(kind=KIND, name="Finance", steps=[{"type": "role", "role": "finance"}])
    assert approvers(raise_(p)) == ["fin_team"]


def test_it_skips_steps_that_resolve_to_the_requester_and_merges_repeats(personas, calls):
    p = personas
    ApprovalRoute.objects.create(
        kind=KIND,
        name="r",
        steps=[
            {"type": "user", "user": p.alice.pk},
            {"type": "manager", "level": 1},
            {"type": "user", "user": p.bob.pk},
            {"type": "manager", "level": 2},
        ],
    )
    assert approvers(raise_(p)) == ["bob", "dora"]


def test_it_falls_back_to_an_administrator_when_nothing_resolves(personas, calls):
    p = personas
    # charlie has no manager and his units have none.
    req = raise_(p, actor=p.charlie)
    assert approvers(req) == ["admin"]
    assert req.steps.get().rule["type"] == "fallback"


def test_it_uses_the_default_steps_when_the_route_is_inactive(personas, calls):
    p = personas
    ApprovalRoute.objects.create(
        kind=KIND, name="r", steps=[{"type": "user", "user": p.admin.pk}], is_active=False
    )
    assert approvers(raise_(p)) == ["bob", "dora"]


def test_it_validates_route_steps(personas, calls):
    with pytest.raises(ValidationError):
        svc.approval_route_save(actor=personas.admin, kind=KIND, name="x", steps=[])
    with pytest.raises(ValidationError):
        svc.approval_route_save(
            actor=personas.admin, kind=KIND, name="x", steps=[{"type": "role", "role": "nope"}]
        )
    with pytest.raises(ValidationError):
        svc.approval_route_save(
            actor=personas.admin, kind=KIND, name="x", steps=[{"type": "manager", "level": 0}]
        )
    route = svc.approval_route_save(
        actor=personas.admin, kind=KIND, name="x", steps=[{"type": "manager", "level": "2"}]
    )
    assert route.steps == [{"type": "manager", "level": 2}]
    assert AuditLog.objects.filter(verb="approval.route_created", object_id=str(route.pk)).exists()


# --- create -------------------------------------------------------------------------------------------------


def test_it_requires_a_reason_and_a_known_kind(personas, calls):
    with pytest.raises(ValidationError) as e:
        raise_(personas, reason="   ")
    assert "reason" in e.value.error_dict
    with pytest.raises(ValidationError):
        raise_(personas, kind="no.such.kind")


def test_it_blocks_a_second_pending_request_of_the_same_kind_on_the_same_subject(personas, calls):
    raise_(personas)
    with pytest.raises(ValidationError) as e:
        raise_(personas)
    assert svc.ERR_DUPLICATE_PENDING in e.value.messages


def test_it_refuses_a_request_on_a_record_the_requester_cannot_see(personas, calls):
    with pytest.raises(PermissionDenied):
        raise_(personas, actor=personas.alice, subject=personas.charlie)


def test_it_notifies_the_first_approver_and_audits_the_request(personas, calls):
    req = raise_(personas)
    n = Notification.objects.get(recipient=personas.bob, event="approval.requested")
    assert n.url == f"/approvals/{req.pk}/"
    assert not Notification.objects.filter(recipient=personas.dora).exists()
    assert AuditLog.objects.filter(verb="approval.requested", object_id=str(req.pk)).count() == 1


# --- decide -------------------------------------------------------------------------------------------------


def test_it_approves_step_by_step_and_runs_the_hook_once(personas, calls):
    p = personas
    req = raise_(p)
    req = svc.approval_decide(actor=p.bob, request=req, decision="approve", comment="")
    assert req.status == ApprovalStatus.PENDING and req.current_step == 1
    assert calls.approved == []
    assert Notification.objects.filter(recipient=p.dora, event="approval.requested").count() == 1
    req = svc.approval_decide(actor=p.dora, request=req, decision="approve", comment="ok")
    assert req.status == ApprovalStatus.APPROVED and req.decided_at is not None
    assert calls.approved == [(req.pk, p.dora.pk)]
    with pytest.raises(ValidationError):
        svc.approval_decide(actor=p.dora, request=req, decision="approve")
    assert calls.approved == [(req.pk, p.dora.pk)]
    assert Notification.objects.filter(recipient=p.alice, event="approval.approved").count() == 1
    verbs = list(
        AuditLog.objects.filter(object_id=str(req.pk), verb__startswith="approval.").values_list(
            "verb", flat=True
        )
    )
    assert sorted(verbs) == ["approval.approved", "approval.requested", "approval.step_approved"]


def test_it_requires_a_comment_to_reject_and_runs_on_rejected(personas, calls):
    p = personas
    req = raise_(p)
    with pytest.raises(ValidationError) as e:
        svc.approval_decide(actor=p.bob, request=req, decision="reject", comment=" ")
    assert "comment" in e.value.error_dict
    req = svc.approval_decide(actor=p.bob, request=req, decision="reject", comment="Too deep")
    assert req.status == ApprovalStatus.REJECTED
    assert calls.rejected == [(req.pk, p.bob.pk)] and calls.approved == []
    assert req.outcome_note == "Too deep"
    assert Notification.objects.filter(recipient=p.alice, event="approval.rejected").exists()
    assert AuditLog.objects.filter(verb="approval.rejected", object_id=str(req.pk)).exists()


def test_it_lets_only_the_current_approver_decide(personas, calls):
    p = personas
    req = raise_(p)
    for outsider in (p.alice, p.dora, p.charlie, p.admin):
        with pytest.raises(PermissionDenied):
            svc.approval_decide(actor=outsider, request=req, decision="approve")
    req.refresh_from_db()
    assert req.status == ApprovalStatus.PENDING and req.current_step == 0


def test_it_undoes_the_decision_when_the_hook_fails(personas, calls):
    p = personas

    def boom(req, actor):
        raise ValidationError("cannot apply")

    svc.approval_kind_register(
        KIND, label="t", on_approved=boom, default_steps=[{"type": "manager", "level": 1}]
    )
    req = raise_(p)
    with pytest.raises(ValidationError):
        svc.approval_decide(actor=p.bob, request=req, decision="approve")
    req.refresh_from_db()
    assert req.status == ApprovalStatus.PENDING
    assert req.steps.get().decision == ""


# --- comment / cancel -----------------------------------------------------------------------------------------


def test_it_lets_participants_comment_and_tells_the_others(personas, calls):
    p = personas
    req = raise_(p)
    svc.approval_comment(actor=p.dora, request=req, comment="Which competitor?")
    assert set(
        Notification.objects.filter(event="approval.commented").values_list("recipient__username", flat=True)
    ) == {"alice", "bob"}
    with pytest.raises(PermissionDenied):
        svc.approval_comment(actor=p.charlie, request=req, comment="hi")
    with pytest.raises(ValidationError):
        svc.approval_comment(actor=p.alice, request=req, comment="")
    assert req.events.filter(event="commented").count() == 1


def test_it_lets_only_the_requester_cancel_while_pending(personas, calls):
    p = personas
    req = raise_(p)
    with pytest.raises(PermissionDenied):
        svc.approval_cancel(actor=p.bob, request=req)
    req = svc.approval_cancel(actor=p.alice, request=req)
    assert req.status == ApprovalStatus.CANCELLED
    assert AuditLog.objects.filter(verb="approval.cancelled", object_id=str(req.pk)).exists()
    assert Notification.objects.filter(recipient=p.bob, event="approval.cancelled").exists()
    with pytest.raises(ValidationError):
        svc.approval_cancel(actor=p.alice, request=req)
    # Once cancelled, a new request of the same kind may be raised.
    raise_(p)


# --- selectors -----------------------------------------------------------------------------------------------


def test_it_scopes_the_list_from_all_three_sides(personas, calls):
    p = personas
    req = raise_(p)
    assert list(approval_list(user=p.alice, filters={})) == [req]
    assert list(approval_list(user=p.bob, filters={})) == [req]
    assert list(approval_list(user=p.charlie, filters={})) == []
    assert list(approval_list(user=p.alice, filters={"tab": "mine"})) == [req]
    assert list(approval_list(user=p.bob, filters={"tab": "mine"})) == []


def test_it_shows_approvers_outside_the_scope_what_they_must_decide(personas, calls):
    p = personas
    ApprovalRoute.objects.create(kind=KIND, name="r", steps=[{"type": "user", "user": p.charlie.pk}])
    req = raise_(p)
    assert list(approvals_waiting_for(p.charlie)) == [req]
    assert list(approval_list(user=p.charlie, filters={})) == [req]


def test_it_lists_what_is_waiting_for_the_current_approver_only(personas, calls):
    p = personas
    req = raise_(p)
    assert list(approvals_waiting_for(p.bob)) == [req]
    assert list(approvals_waiting_for(p.dora)) == []
    svc.approval_decide(actor=p.bob, request=req, decision="approve")
    assert list(approvals_waiting_for(p.bob)) == []
    assert list(approvals_waiting_for(p.dora)) == [req]
    row = approval_list(user=p.dora, filters={"tab": "waiting"}).get()
    assert row.current_approver_id == p.dora.pk and row.current_approver_name == "Dora"


def test_it_filters_by_status_kind_and_search(personas, calls):
    p = personas
    req = raise_(p, title="Crane discount for ACME")
    assert list(approval_list(user=p.alice, filters={"q": "acme"})) == [req]
    assert list(approval_list(user=p.alice, filters={"q": "zzz"})) == []
    assert list(approval_list(user=p.alice, filters={"status": "approved"})) == []
    assert list(approval_list(user=p.alice, filters={"kind": KIND, "status": "pending"})) == [req]
    assert list(approval_list(user=p.alice, filters={"kind": "org.role_grant"})) == []


# --- the built-in role grant -----------------------------------------------------------------------------------


def test_it_grants_a_role_when_an_administrator_approves(personas):
    p = personas
    req = svc.approval_request_create(
        actor=p.bob,
        subject=p.alice,
        kind=approval_kinds.ROLE_GRANT,
        requested_change={"add_roles": ["marketing"]},
        reason="Runs the spring campaign",
    )
    assert approvers(req) == ["admin"]
    svc.approval_decide(actor=p.admin, request=req, decision="approve")
    assert p.alice.get_role_codes() == {"sales_rep", "marketing"}
    assert AuditLog.objects.filter(verb="user.roles", object_id=str(p.alice.pk), actor=p.admin).exists()
    with override("zh-hans"):
        assert svc.approval_change_rows(req)[0][1] == gettext("Marketing")
    with override("en"):
        assert svc.approval_change_rows(req)[0][1] == "Marketing"


def test_it_refuses_role_grants_from_non_managers_and_for_held_roles(personas):
    p = personas
    with pytest.raises(PermissionDenied):
        svc.approval_request_create(
            actor=p.alice,
            subject=p.alice,
            kind=approval_kinds.ROLE_GRANT,
            requested_change={"add_roles": ["marketing"]},
            reason="x",
        )
    with pytest.raises(ValidationError):
        svc.approval_request_create(
            actor=p.bob,
            subject=p.alice,
            kind=approval_kinds.ROLE_GRANT,
            requested_change={"add_roles": ["sales_rep"]},
            reason="x",
        )
    with pytest.raises(ValidationError):
        svc.approval_request_create(
            actor=p.bob,
            subject=p.alice,
            kind=approval_kinds.ROLE_GRANT,
            requested_change={"add_roles": ["integration"]},
            reason="x",
        )
    with pytest.raises(PermissionDenied):  # charlie is not in bob's team
        svc.approval_request_create(
            actor=p.bob,
            subject=p.charlie,
            kind=approval_kinds.ROLE_GRANT,
            requested_change={"add_roles": ["marketing"]},
            reason="x",
        )
