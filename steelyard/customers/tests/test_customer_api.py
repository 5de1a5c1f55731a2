"""The customers API: scoped lists and details, create with duplicate 400s, patch, contacts, merge."""

from __future__ import annotations

import json

import pytest

from steelyard.customers.models import Contact, Customer
from steelyard.customers.testing import make_customer, make_pool, valid_credit_code

pytestmark = pytest.mark.django_db
BASE = "/api/v1/customers"
LIST = f"{BASE}/"


def _post(client, url, payload):
    return client.post(url, data=json.dumps(payload), content_type="application/json")


def _patch(client, url, payload):
    return client.patch(url, data=json.dumps(payload), content_type="application/json")


@pytest.fixture
def world(personas):
    pool = make_pool(personas.team_a, members=[personas.alice])
    return {
        "own": make_customer(personas.alice, name="爱丽丝客户有限公司"),
        "pooled": make_customer(None, name="公海客户有限公司", pool=pool),
        "other": make_customer(personas.charlie, name="查理客户有限公司"),
    }


def _names(r):
    assert r.status_code == 200, r.content
    return {c["legal_name"] for c in r.json()["items"]}


def test_it_lists_only_what_each_persona_sees(world, personas, client_for):
    assert _names(client_for(personas.alice).get(LIST)) == {"爱丽丝客户有限公司", "公海客户有限公司"}
    assert _names(client_for(personas.bob).get(LIST)) == {"爱丽丝客户有限公司", "公海客户有限公司"}
    assert _names(client_for(personas.charlie).get(LIST)) == {"查理客户有限公司"}
    assert _names(client_for(personas.alice).get(LIST, {"scope": "pool"})) == {"公海客户有限公司"}
    assert _names(client_for(personas.alice).get(LIST, {"q": "alsi"})) == set()
    assert client_for(personas.alice).get(LIST, {"status": "bogus"}).status_code == 400


def test_it_pages_with_a_cursor(world, personas, client_for):
    body = client_for(personas.admin).get(LIST, {"limit": 2}).json()
    assert len(body["items"]) == 2 and body["next_cursor"]
    rest = client_for(personas.admin).get(LIST, {"limit": 2, "cursor": body["next_cursor"]}).json()
    assert len(rest["items"]) == 1


def test_it_answers_404_outside_the_scope(world, personas, client_for):
    own = world["own"].pk
    assert client_for(personas.alice).get(f"{BASE}/{own}").status_code == 200
    assert client_for(personas.bob).get(f"{BASE}/{own}").status_code == 200
    charlie = client_for(personas.charlie)
    assert charlie.get(f"{BASE}/{own}").status_code == 404
    assert _patch(charlie, f"{BASE}/{own}", {"short_name": "x"}).status_code == 404
    assert charlie.get(f"{BASE}/{own}/contacts").status_code == 404
    assert _post(charlie, f"{BASE}/{own}/contacts", {"name": "x"}).status_code == 404


def test_it_creates_and_reports_duplicates(personas, client_for):
    alice = client_for(personas.alice)
    code = valid_credit_code(31)
    r = _post(
        alice,
        LIST,
        {
            "legal_name": "三一重工股份有限公司",
            "credit_code": code,
            "owner_id": personas.alice.pk,
            "contacts": [{"name": "周工", "phone": "13700001111"}],
        },
    )
    assert r.status_code == 201, r.content
    created = r.json()
    assert created["owner_id"] == personas.alice.pk and created["credit_code"] == code
    assert Contact.objects.get().phone_key == "13700001111"
    r = _post(alice, LIST, {"legal_name": "三一重工有限公司", "owner_id": personas.alice.pk})
    assert r.status_code == 400
    assert "三一重工股份有限公司" in json.dumps(r.json(), ensure_ascii=False)
    r = _post(
        alice,
        LIST,
        {
            "legal_name": "别的公司",
            "contacts": [{"name": "周", "phone": "137 0000 1111"}],
            "owner_id": personas.alice.pk,
        },
    )
    assert r.status_code == 400
    r = _post(
        alice,
        LIST,
        {"legal_name": "三一重工有限公司", "owner_id": personas.alice.pk, "allow_duplicate": True},
    )
    assert r.status_code == 201
    bad = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert _post(alice, LIST, {"legal_name": "坏", "credit_code": bad}).status_code == 400
    # An owner the caller cannot see is refused.
    assert _post(alice, LIST, {"legal_name": "新公司", "owner_id": personas.charlie.pk}).status_code == 400


def test_it_patches_a_customer(world, personas, client_for):
    r = _patch(client_for(personas.bob), f"{BASE}/{world['own'].pk}", {"tier": "A", "is_key_account": True})
    assert r.status_code == 200, r.content
    assert r.json()["tier"] == "A" and r.json()["is_key_account"] is True
    assert Customer.objects.get(pk=world["own"].pk).tier == "A"


def test_it_manages_contacts(world, personas, client_for):
    alice = client_for(personas.alice)
    url = f"{BASE}/{world['own'].pk}/contacts"
    r = _post(alice, url, {"name": "刘总", "phone": "13600000000"})
    assert r.status_code == 201
    cid = r.json()["id"]
    assert [c["name"] for c in alice.get(url).json()] == ["刘总"]
    assert _patch(alice, f"{url}/{cid}", {"title": "采购总监"}).json()["title"] == "采购总监"
    assert _patch(client_for(personas.charlie), f"{url}/{cid}", {"title": "x"}).status_code == 404
    assert alice.delete(f"{url}/{cid}").status_code == 204
    assert not Contact.objects.exists()


def test_it_merges_for_managers_only(world, personas, client_for):
    dup = make_customer(personas.alice, name="爱丽丝客户股份公司")
    url = f"{BASE}/{world['own'].pk}/merge"
    assert _post(client_for(personas.alice), url, {"merge_id": dup.pk, "reason": "重复"}).status_code == 403
    assert _post(client_for(personas.charlie), url, {"merge_id": dup.pk, "reason": "重复"}).status_code in (
        403,
        404,
    )
    r = _post(client_for(personas.bob), url, {"merge_id": dup.pk, "reason": "重复"})
    assert r.status_code == 200, r.content
    dup.refresh_from_db()
    assert dup.merged_into_id == world["own"].pk
    assert client_for(personas.bob).get(f"{BASE}/{dup.pk}").status_code == 404
