"""Merging duplicates keeps history: contacts, events, activities, comments move; the old URL redirects."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from steelyard.core.models import AuditLog, Comment
from steelyard.customers.models import Activity, Customer, OwnershipAction, OwnershipEvent
from steelyard.customers.selectors.customers import customer_list
from steelyard.customers.services.customers import contact_create, customer_create, customer_merge
from steelyard.customers.testing import valid_credit_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(personas):
    a = personas.alice
    keep = customer_create(actor=a, owner=a, legal_name="振华重工有限公司")
    code = valid_credit_code(11)
    merge = customer_create(
        actor=a,
        owner=a,
        legal_name="振华重工股份公司",
        allow_duplicate=True,
        credit_code=code,
        city="上海",
        short_name="ZPMC",
    )
    contact_create(actor=a, customer=merge, name="李工", phone="13912345678")
    Activity.objects.create(
        customer=merge,
        subject="拜访",
        owner=a,
        org_unit=a.org_unit,
        status="done",
        occurred_at=timezone.now(),
    )
    Comment.objects.create(
        content_type=ContentType.objects.get_for_model(Customer),
        object_id=str(merge.pk),
        author=a,
        body="老客户",
    )
    sub = customer_create(actor=a, owner=a, legal_name="振华子公司", parent=merge)
    return keep, merge, sub, code


def test_it_merges_and_keeps_history(pair, personas, client_for):
    keep, merge, sub, code = pair
    customer_merge(actor=personas.bob, keep=keep, merge=merge, reason="同一家公司")
    keep.refresh_from_db()
    merge.refresh_from_db()
    sub.refresh_from_db()
    assert merge.merged_into == keep
    assert keep.contacts.get().name == "李工"
    assert keep.activities.count() == 1
    assert Comment.objects.get().object_id == str(keep.pk)
    assert sub.parent == keep
    assert keep.credit_code == code and keep.city == "上海" and keep.short_name == "ZPMC"
    actions = list(OwnershipEvent.objects.filter(customer=keep).values_list("action", flat=True))
    assert actions.count(OwnershipAction.CREATE) == 2 and OwnershipAction.MERGE in actions
    assert AuditLog.objects.filter(object_id=str(keep.pk), verb="customers.merged").exists()
    assert AuditLog.objects.filter(object_id=str(merge.pk), verb="customers.merged_into").exists()
    # Gone from lists; its page leads to the kept customer.
    assert not customer_list(user=personas.alice).filter(pk=merge.pk).exists()
    assert not customer_list(user=personas.alice, filters={"q": "ZPMC"}).exclude(pk=keep.pk).exists()
    r = client_for(personas.alice).get(reverse("customer_detail", args=[merge.pk]))
    assert r.status_code == 302 and r["Location"] == reverse("customer_detail", args=[keep.pk])


def test_it_lets_only_admins_and_managers_merge(pair, personas):
    keep, merge, _sub, _code = pair
    with pytest.raises(PermissionDenied):
        customer_merge(actor=personas.alice, keep=keep, merge=merge, reason="x")
    with pytest.raises(PermissionDenied):
        customer_merge(actor=personas.charlie, keep=keep, merge=merge, reason="x")
    with pytest.raises(ValidationError):
        customer_merge(actor=personas.bob, keep=keep, merge=keep, reason="x")
    with pytest.raises(ValidationError):
        customer_merge(actor=personas.bob, keep=keep, merge=merge, reason=" ")


def test_it_merges_from_the_page(pair, personas, client_for):
    keep, merge, _sub, _code = pair
    url = reverse("customer_merge", args=[keep.pk])
    assert client_for(personas.alice).get(url).status_code == 404
    assert client_for(personas.charlie).get(url).status_code == 404
    bob = client_for(personas.bob)
    page = bob.get(url).content.decode()
    assert "data-confirm" in page and f"?merge={merge.pk}" in page
    r = bob.post(url, {"merge_no": merge.pk, "reason": "重复录入"})
    assert r.status_code == 302
    merge.refresh_from_db()
    assert merge.merged_into_id == keep.pk
