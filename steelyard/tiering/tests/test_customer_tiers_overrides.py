"""Tier overrides go through approval: requested → nothing changes; approved → in force until expiry (and
Customer.tier for the global model); rejected or withdrawn → nothing; the daily job restores the assessed tier."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from steelyard.core.models import ApprovalRequest, AuditLog
from steelyard.core.periodic import periodic_run
from steelyard.core.services.approvals import approval_decide
from steelyard.customers.models import Customer
from steelyard.orders.testing import make_product_line
from steelyard.tiering.models import CustomerTier, EnteredValue, OverrideStatus, Tier, TierModel, TierOverride
from steelyard.tiering.services.overrides import (
    KIND,
    effective_tier,
    entered_values_set,
    override_cancel,
    override_request,
    overrides_expire,
)
from steelyard.tiering.tasks_overrides import EXPIRY_JOB
from steelyard.tiering.tests.customer_tiers_world import assess, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(personas):
    return make_world(personas)


def _today() -> dt.date:
    return timezone.localdate()


def _request(personas, world, **kw):
    args = {
        "actor": personas.alice,
        "customer": world["own"],
        "model": world["model"],
        "tier": "key",
        "reason": "集团战略客户，框架协议谈判中",
        "expires_on": _today() + dt.timedelta(days=90),
    }
    args.update(kw)
    return override_request(**args)


def _ct(world, key="own") -> CustomerTier:
    return CustomerTier.objects.get(customer=world[key], model=world["model"])


def test_a_request_changes_nothing_until_approved(personas, world):
    override = _request(personas, world)

    assert override.status == OverrideStatus.PENDING
    approval = override.approval
    assert approval.kind == KIND and approval.status == "pending"
    assert approval.steps.get().approver == personas.bob  # alice's manager decides
    assert approval.requested_change["tier"] == "key" and approval.requested_change["from_tier"] == "regular"
    ct = _ct(world)
    assert (ct.tier, ct.override_tier, ct.override_until) == ("regular", "", None)
    assert Customer.objects.get(pk=world["own"].pk).tier == "regular"
    assert AuditLog.objects.filter(verb="tiering.override_requested", object_id=str(override.pk)).exists()


def test_approval_puts_the_override_in_force_and_sets_the_customer_tier(personas, world):
    override = _request(personas, world)

    approval_decide(actor=personas.bob, request=override.approval, decision="approve", comment="同意")

    override.refresh_from_db()
    assert override.status == OverrideStatus.APPROVED and override.decided_at is not None
    ct = _ct(world)
    assert ct.override_tier == "key" and ct.override_until == override.expires_on
    assert ct.override_reason.startswith("集团战略客户")
    assert ct.tier == "regular"  # the assessed tier is kept for when the override ends
    assert effective_tier(ct) == "key"
    assert Customer.objects.get(pk=world["own"].pk).tier == "key"
    assert AuditLog.objects.filter(verb="tiering.override_approved", object_id=str(world["own"].pk)).exists()


def test_a_product_line_override_leaves_the_customer_tier_alone(personas, world):
    line = make_product_line("CRANE", name="起重机")
    model = TierModel.objects.create(code="crane", name="起重机分级", product_line=line)
    Tier.objects.create(model=model, code="a", name="A", rank=1, min_score=50)
    Tier.objects.create(model=model, code="b", name="B", rank=2, min_score=0)
    assess(world["own"], model, score="20", tier="b")

    override = _request(personas, world, model=model, tier="a")
    approval_decide(actor=personas.bob, request=override.approval, decision="approve")

    ct = CustomerTier.objects.get(customer=world["own"], model=model)
    assert effective_tier(ct) == "a"
    assert Customer.objects.get(pk=world["own"].pk).tier == "regular"


def test_an_override_of_a_customer_never_assessed_creates_its_tier(personas, world):
    fresh = world["own2"]
    CustomerTier.objects.filter(customer=fresh).delete()
    override = _request(personas, world, customer=fresh, tier="strategic")
    approval_decide(actor=personas.bob, request=override.approval, decision="approve")

    ct = CustomerTier.objects.get(customer=fresh, model=world["model"])
    assert (ct.tier, effective_tier(ct)) == ("", "strategic")
    assert Customer.objects.get(pk=fresh.pk).tier == "strategic"


def test_rejection_changes_nothing(personas, world):
    override = _request(personas, world)

    approval_decide(actor=personas.bob, request=override.approval, decision="reject", comment="数据不支持")

    override.refresh_from_db()
    assert override.status == OverrideStatus.REJECTED
    ct = _ct(world)
    assert (ct.override_tier, ct.override_until) == ("", None)
    assert Customer.objects.get(pk=world["own"].pk).tier == "regular"


def test_the_requester_can_withdraw_and_nothing_changes(personas, world):
    override = _request(personas, world)
    with pytest.raises(PermissionDenied):
        override_cancel(actor=personas.bob, override=override)

    override_cancel(actor=personas.alice, override=override)

    override.refresh_from_db()
    assert override.status == OverrideStatus.CANCELLED
    assert ApprovalRequest.objects.get(pk=override.approval_id).status == "cancelled"
    assert _ct(world).override_tier == ""
    with pytest.raises(ValidationError):
        override_cancel(actor=personas.alice, override=override)


def test_withdrawing_the_approval_request_cancels_the_override(personas, world):
    from steelyard.core.services.approvals import approval_cancel

    override = _request(personas, world)
    approval_cancel(actor=personas.alice, request=override.approval)

    override.refresh_from_db()
    assert override.status == OverrideStatus.CANCELLED


def test_the_expiry_job_ends_overrides_and_restores_the_assessed_tier(personas, world):
    override = _request(personas, world, expires_on=_today() + dt.timedelta(days=1))
    approval_decide(actor=personas.bob, request=override.approval, decision="approve")
    assert Customer.objects.get(pk=world["own"].pk).tier == "key"

    # Still in force on its last day.
    assert overrides_expire(today=_today() + dt.timedelta(days=1))["expired"] == 0
    assert Customer.objects.get(pk=world["own"].pk).tier == "key"

    counts = overrides_expire(today=_today() + dt.timedelta(days=2))

    assert counts == {"expired": 1, "restored": 1, "customers": 1, "closed": 0}
    override.refresh_from_db()
    assert override.status == OverrideStatus.EXPIRED
    ct = _ct(world)
    assert (ct.override_tier, ct.override_until, ct.override_reason) == ("", None, "")
    assert Customer.objects.get(pk=world["own"].pk).tier == "regular"
    assert AuditLog.objects.filter(verb="tiering.override_expired", object_id=str(world["own"].pk)).exists()
    assert overrides_expire(today=_today() + dt.timedelta(days=2))["expired"] == 0  # nothing left to do


def test_the_expiry_job_is_a_registered_daily_periodic_job(personas, world):
    override = _request(personas, world, expires_on=_today() + dt.timedelta(days=1))
    approval_decide(actor=personas.bob, request=override.approval, decision="approve")
    CustomerTier.objects.filter(pk=_ct(world).pk).update(override_until=_today() - dt.timedelta(days=1))
    TierOverride.objects.filter(pk=override.pk).update(expires_on=_today() - dt.timedelta(days=1))

    job = periodic_run(EXPIRY_JOB)

    assert job.status == "SUCCESSFUL", job.error
    assert Customer.objects.get(pk=world["own"].pk).tier == "regular"
    assert TierOverride.objects.get(pk=override.pk).status == OverrideStatus.EXPIRED


def test_a_new_approved_override_replaces_the_one_in_force(personas, world):
    first = _request(personas, world)
    approval_decide(actor=personas.bob, request=first.approval, decision="approve")
    second = _request(personas, world, tier="strategic")
    approval_decide(actor=personas.bob, request=second.approval, decision="approve")

    assert TierOverride.objects.get(pk=first.pk).status == OverrideStatus.CANCELLED
    assert effective_tier(_ct(world)) == "strategic"
    assert Customer.objects.get(pk=world["own"].pk).tier == "strategic"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"tier": "bogus"}, "tier"),
        ({"tier": "regular"}, "tier"),  # already there
        ({"expires_on": None}, "expires_on"),
        ({"expires_on": dt.date(2000, 1, 1)}, "expires_on"),
        ({"expires_on": timezone.localdate() + dt.timedelta(days=400)}, "expires_on"),
        ({"model": None}, "model"),
    ],
)
def test_a_bad_request_is_refused_per_field(personas, world, change, field):
    with pytest.raises(ValidationError) as e:
        _request(personas, world, **change)
    assert field in e.value.message_dict
    assert not TierOverride.objects.exists()


def test_one_year_is_the_longest_override(personas, world):
    from dateutil.relativedelta import relativedelta

    override = _request(personas, world, expires_on=_today() + relativedelta(years=1))
    assert override.pk


def test_only_one_request_at_a_time_and_only_by_who_may_change(personas, world):
    _request(personas, world)
    with pytest.raises(ValidationError):
        _request(personas, world, tier="strategic")
    with pytest.raises(PermissionDenied):
        _request(personas, world, actor=personas.charlie, customer=world["own2"])
    assert TierOverride.objects.count() == 1


def test_entered_values_are_set_cleared_and_audited(personas, world):
    own = world["own"]
    entered_values_set(
        actor=personas.alice, customer=own, values={"potential": "12000000", "strategic_fit": 4}
    )
    values = {v.code: v.value for v in EnteredValue.objects.filter(customer=own)}
    assert values == {"potential": Decimal("12000000.00"), "strategic_fit": Decimal("4.00")}

    entered_values_set(actor=personas.bob, customer=own, values={"strategic_fit": None})
    assert set(EnteredValue.objects.filter(customer=own).values_list("code", flat=True)) == {"potential"}
    verbs = AuditLog.objects.filter(verb="tiering.entered_value").values_list("action", flat=True)
    assert sorted(verbs) == ["create", "create", "delete"]

    with pytest.raises(ValidationError) as e:
        entered_values_set(actor=personas.alice, customer=own, values={"potential": -1, "strategic_fit": 6})
    assert set(e.value.message_dict) == {"potential", "strategic_fit"}
    with pytest.raises(PermissionDenied):
        entered_values_set(actor=personas.charlie, customer=own, values={"potential": 1})


def test_the_expiry_job_closes_overrides_whose_approval_was_decided_without_them(personas, world):
    from steelyard.core.models import ApprovalRequest

    decided = _request(personas, world)
    ApprovalRequest.objects.filter(pk=decided.approval_id).update(status="approved")
    withdrawn = _request(personas, world, customer=world["own2"], tier="key")
    ApprovalRequest.objects.filter(pk=withdrawn.approval_id).update(status="cancelled")

    counts = overrides_expire()

    assert counts["closed"] == 2
    assert TierOverride.objects.get(pk=decided.pk).status == OverrideStatus.APPROVED
    assert effective_tier(_ct(world)) == "key"
    assert TierOverride.objects.get(pk=withdrawn.pk).status == OverrideStatus.CANCELLED
