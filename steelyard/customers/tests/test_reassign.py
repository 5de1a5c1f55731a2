"""Manager reassignment of one customer, and the bulk move of a leaving rep's book."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from steelyard.core.models import AuditLog, Job, JobStatus, Notification
from steelyard.customers.models import Activity, ActivityStatus, Customer, OwnershipAction, OwnershipEvent
from steelyard.customers.services import territories as svc
from steelyard.customers.testing import make_customer
from steelyard.customers.tests.test_assignment_routing import rep

pytestmark = pytest.mark.django_db


def activity(customer, owner, status=ActivityStatus.PLANNED) -> Activity:
    return Activity.objects.create(
        customer=customer,
        owner=owner,
        org_unit=owner.org_unit,
        subject="visit",
        status=status,
        planned_at=timezone.now() + dt.timedelta(days=1),
    )


def test_it_lets_a_manager_reassign_to_a_team_member(personas):
    erin = rep("erin", personas.team_a, personas.bob)
    c = make_customer(personas.alice)
    svc.customer_reassign(actor=personas.bob, customer=c, to_owner=erin, reason="territory change")
    c.refresh_from_db()
    assert c.owner == erin and c.previous_owner == personas.alice
    ev = OwnershipEvent.objects.get(customer=c)
    assert (ev.action, ev.from_owner, ev.to_owner, ev.actor) == (
        OwnershipAction.REASSIGN,
        personas.alice,
        erin,
        personas.bob,
    )
    assert AuditLog.objects.filter(verb="customers.reassigned", object_id=str(c.pk)).count() == 1
    assert set(Notification.objects.values_list("recipient__username", flat=True)) == {"erin", "alice"}


def test_it_refuses_a_rep_reassigning_their_own_customer(personas):
    c = make_customer(personas.alice)
    with pytest.raises(PermissionDenied):
        svc.customer_reassign(actor=personas.alice, customer=c, to_owner=personas.bob, reason="x")


def test_it_refuses_an_outsider(personas):
    c = make_customer(personas.alice)
    with pytest.raises(PermissionDenied):
        svc.customer_reassign(actor=personas.charlie, customer=c, to_owner=personas.charlie, reason="x")


def test_it_refuses_a_target_the_manager_cannot_see_and_a_missing_reason(personas):
    c = make_customer(personas.alice)
    with pytest.raises(ValidationError):
        svc.customer_reassign(actor=personas.bob, customer=c, to_owner=personas.charlie, reason="x")
    erin = rep("erin", personas.team_a, personas.bob)
    with pytest.raises(ValidationError):
        svc.customer_reassign(actor=personas.bob, customer=c, to_owner=erin, reason="  ")


def test_it_moves_a_whole_book_with_planned_activities_events_and_one_audit(
    personas, django_assert_max_num_queries
):
    erin = rep("erin", personas.team_a, personas.bob)
    mine = [make_customer(personas.alice) for _ in range(7)]
    other = make_customer(personas.bob)
    planned = activity(mine[0], personas.alice)
    done = activity(mine[1], personas.alice, status=ActivityStatus.DONE)
    with django_assert_max_num_queries(40):
        result = svc.owner_bulk_reassign(
            actor=personas.bob, from_user=personas.alice, to_user=erin, reason="left"
        )
    assert result == {"customers": 7, "activities": 1, "hooks": {"sales.opportunities": 0}, "job_id": None}
    assert Customer.objects.filter(owner=erin).count() == 7
    assert Customer.objects.get(pk=other.pk).owner == personas.bob
    planned.refresh_from_db()
    done.refresh_from_db()
    assert planned.owner == erin and done.owner == personas.alice
    assert OwnershipEvent.objects.filter(action=OwnershipAction.REASSIGN, to_owner=erin).count() == 7
    audit = AuditLog.objects.get(verb="customers.bulk_reassigned")
    assert sorted(audit.extra["customer_ids"]) == sorted(c.pk for c in mine)
    assert audit.extra["customers"] == 7


def test_it_runs_registered_hooks(personas, monkeypatch):
    erin = rep("erin", personas.team_a, personas.bob)
    make_customer(personas.alice)
    calls = []
    monkeypatch.setattr(svc, "_reassign_hooks", {})
    svc.register_reassign_hook(lambda actor, f, t: calls.append((actor, f, t)) or 3, key="opportunities")
    result = svc.owner_bulk_reassign(
        actor=personas.admin, from_user=personas.alice, to_user=erin, reason="left"
    )
    assert result["hooks"] == {"opportunities": 3}
    assert calls == [(personas.admin, personas.alice, erin)]


def test_it_runs_as_a_job_beyond_the_threshold(personas, monkeypatch):
    monkeypatch.setattr(svc, "BULK_REASSIGN_JOB_THRESHOLD", 3)
    monkeypatch.setattr(svc, "BULK_REASSIGN_CHUNK", 2)
    erin = rep("erin", personas.team_a, personas.bob)
    for _ in range(5):
        make_customer(personas.alice)
    result = svc.owner_bulk_reassign(
        actor=personas.bob, from_user=personas.alice, to_user=erin, reason="left"
    )
    assert result["job_id"]
    job = Job.objects.get(pk=result["job_id"])
    assert job.status == JobStatus.SUCCESSFUL, job.error
    assert job.result["customers"] == 5 and job.progress_done == 5 and job.progress_total == 5
    assert Customer.objects.filter(owner=erin).count() == 5
    assert AuditLog.objects.filter(verb="customers.bulk_reassigned").count() == 1


def test_it_allows_bulk_moves_only_for_managers_over_both_people(personas):
    erin = rep("erin", personas.team_a, personas.bob)
    make_customer(personas.alice)
    with pytest.raises(PermissionDenied):
        svc.owner_bulk_reassign(actor=personas.alice, from_user=personas.alice, to_user=erin, reason="x")
    with pytest.raises(PermissionDenied):
        svc.owner_bulk_reassign(
            actor=personas.bob, from_user=personas.alice, to_user=personas.charlie, reason="x"
        )
    with pytest.raises(PermissionDenied):
        svc.owner_bulk_reassign(actor=personas.charlie, from_user=personas.alice, to_user=erin, reason="x")
    with pytest.raises(ValidationError):
        svc.owner_bulk_reassign(
            actor=personas.bob, from_user=personas.alice, to_user=personas.alice, reason="x"
        )
    assert (
        svc.owner_bulk_reassign(actor=personas.dora, from_user=personas.alice, to_user=erin, reason="x")[
            "customers"
        ]
        == 1
    )
