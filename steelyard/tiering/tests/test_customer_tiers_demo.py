"""The tiering demo: entered values, a first assessment, one override in force, one waiting, one review."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from steelyard.customers.models import Customer
from steelyard.tiering.models import (
    AssessmentRun,
    CustomerTier,
    EnteredValue,
    OverrideStatus,
    TierOverride,
    TierReview,
)
from steelyard.tiering.services.overrides import effective_tier

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_hasher(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", "--scale", "S", stdout=out)
    return out.getvalue()


def test_the_demo_tiers_its_customers_once() -> None:
    _seed()

    assert EnteredValue.objects.filter(code="potential").count() >= 50
    assert AssessmentRun.objects.filter(model__code="global", status="done").count() == 1
    live = Customer.objects.filter(merged_into__isnull=True).count()
    assert CustomerTier.objects.filter(model__code="global").count() == live
    approved = TierOverride.objects.get(status=OverrideStatus.APPROVED)
    pending = TierOverride.objects.get(status=OverrideStatus.PENDING)
    assert approved.requested_by.username == pending.requested_by.username == "rep"
    assert approved.approval.status == "approved" and pending.approval.status == "pending"
    ct = CustomerTier.objects.get(customer=approved.customer, model=approved.model)
    assert effective_tier(ct) == approved.tier == Customer.objects.get(pk=approved.customer_id).tier
    review = TierReview.objects.get()
    assert review.reviewer.username == "manager" and review.snapshot["distribution"]

    counts = (EnteredValue.objects.count(), AssessmentRun.objects.count(), TierOverride.objects.count())
    _seed()
    assert (
        EnteredValue.objects.count(),
        AssessmentRun.objects.count(),
        TierOverride.objects.count(),
    ) == counts
    assert TierReview.objects.count() == 1
