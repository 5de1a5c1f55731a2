"""Contacts: added, edited and deleted (with confirmation) by those who may change the customer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from steelyard.core.models import AuditLog
from steelyard.customers.models import Contact
from steelyard.customers.services.customers import contact_create
from steelyard.customers.testing import make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(personas):
    return make_customer(personas.alice, name="联系人测试有限公司")


def test_it_adds_edits_and_deletes_contacts(customer, personas, client_for):
    alice = client_for(personas.alice)
    r = alice.post(
        reverse("customer_contact_create", args=[customer.pk]),
        {"name": "张总", "phone": "+86 139-1234-5678", "decision_role": "decision_maker"},
    )
    assert r.status_code == 302
    c = Contact.objects.get()
    assert c.phone_key == "13912345678"
    body = alice.get(reverse("customer_detail", args=[customer.pk])).content.decode()
    assert "张总" in body and "data-confirm" in body
    r = client_for(personas.bob).post(
        reverse("customer_contact_edit", args=[customer.pk, c.pk]), {"name": "张总", "title": "总经理"}
    )
    assert r.status_code == 302
    c.refresh_from_db()
    assert c.title == "总经理"
    assert alice.post(reverse("customer_contact_delete", args=[customer.pk, c.pk])).status_code == 302
    assert not Contact.objects.exists()
    assert set(AuditLog.objects.filter(object_id=str(c.pk)).values_list("action", flat=True)) >= {
        "create",
        "update",
        "delete",
    }


def test_it_hides_contacts_from_outsiders(customer, personas, client_for):
    c = contact_create(actor=personas.alice, customer=customer, name="王工")
    charlie = client_for(personas.charlie)
    assert charlie.get(reverse("customer_contact_create", args=[customer.pk])).status_code == 404
    assert charlie.get(reverse("customer_contact_edit", args=[customer.pk, c.pk])).status_code == 404
    assert charlie.post(reverse("customer_contact_delete", args=[customer.pk, c.pk])).status_code == 404
    assert Contact.objects.filter(pk=c.pk).exists()


def test_it_refuses_a_contact_without_a_name(customer, personas, client_for):
    r = client_for(personas.alice).post(reverse("customer_contact_create", args=[customer.pk]), {"name": ""})
    assert r.status_code == 200 and not Contact.objects.exists()


def test_it_requires_post_to_delete(customer, personas, client_for):
    c = contact_create(actor=personas.alice, customer=customer, name="王工")
    r = client_for(personas.alice).get(reverse("customer_contact_delete", args=[customer.pk, c.pk]))
    assert r.status_code == 405
