"""Customers: create with validation, keys and duplicate detection; update; the scoped list and 360 page."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from steelyard.core.models import AuditLog
from steelyard.customers.models import Customer, OwnershipAction, OwnershipEvent, SavedView, Tag
from steelyard.customers.selectors.customers import customer_duplicates, customer_list
from steelyard.customers.services.customers import customer_create, customer_update
from steelyard.customers.testing import make_customer, make_pool, valid_credit_code
from steelyard.customers.validators import validate_credit_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(personas):
    """alice's own customer, a customer in her team's pool, and charlie's customer."""
    p = personas
    pool = make_pool(p.team_a, members=[p.alice, p.bob], admins=[p.bob])
    return {
        "pool": pool,
        "own": make_customer(p.alice, name="爱丽丝自有客户有限公司"),
        "pooled": make_customer(None, name="公海里的客户有限公司", pool=pool),
        "other": make_customer(p.charlie, name="查理的客户有限公司"),
    }


def test_it_validates_credit_code_check_digit():
    validate_credit_code(valid_credit_code(1))
    good = valid_credit_code(2)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(ValidationError):
        validate_credit_code(bad)
    with pytest.raises(ValidationError):
        validate_credit_code("91310000")


def test_it_refuses_a_bad_credit_code_on_create(personas):
    code = valid_credit_code(3)
    bad = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(ValidationError) as e:
        customer_create(
            actor=personas.alice, owner=personas.alice, legal_name="坏代码有限公司", credit_code=bad
        )
    assert "credit_code" in e.value.message_dict


def test_it_fills_keys_records_creation_and_audits(personas):
    code = valid_credit_code(4).lower()
    c = customer_create(
        actor=personas.alice,
        owner=personas.alice,
        legal_name="上海振华重工（集团）股份有限公司",
        short_name="振华",
        credit_code=code,
    )
    assert c.credit_code == code.upper()
    assert c.name_key == "上海振华重工集团"
    assert c.pinyin.startswith("shanghaizhenhua")
    assert c.pinyin_initials.startswith("shzhzgjt")
    assert c.owner == personas.alice and c.org_unit == personas.team_a
    ev = OwnershipEvent.objects.get(customer=c)
    assert ev.action == OwnershipAction.CREATE and ev.to_owner == personas.alice
    assert AuditLog.objects.filter(object_id=str(c.pk), action="create").exists()


def test_it_detects_duplicates_by_normalised_name(personas):
    customer_create(actor=personas.alice, owner=personas.alice, legal_name="上海振华重工（集团）股份有限公司")
    with pytest.raises(ValidationError) as e:
        customer_create(
            actor=personas.charlie, owner=personas.charlie, legal_name="上海振华重工(集团)股份公司"
        )
    assert e.value.code == "duplicate"
    assert len(customer_duplicates(legal_name="上海振华重工 (集团) 有限公司")) == 1
    forced = customer_create(
        actor=personas.charlie,
        owner=personas.charlie,
        legal_name="上海振华重工(集团)股份公司",
        allow_duplicate=True,
    )
    assert forced.pk


def test_it_detects_duplicates_by_phone_and_credit_code(personas):
    code = valid_credit_code(5)
    customer_create(
        actor=personas.alice,
        owner=personas.alice,
        legal_name="甲公司",
        credit_code=code,
        contacts=[{"name": "王经理", "phone": "+86 138-0013-8000"}],
    )
    with pytest.raises(ValidationError):
        customer_create(
            actor=personas.alice,
            owner=personas.alice,
            legal_name="乙公司",
            contacts=[{"name": "王", "phone": "13800138000"}],
        )
    with pytest.raises(ValidationError):
        customer_create(actor=personas.alice, owner=personas.alice, legal_name="丙公司", credit_code=code)
    # Same credit code can never be forced: it is unique among live customers.
    with pytest.raises(ValidationError):
        customer_create(
            actor=personas.alice,
            owner=personas.alice,
            legal_name="丙公司",
            credit_code=code,
            allow_duplicate=True,
        )


def test_it_puts_an_unrouted_customer_in_the_pool(personas):
    pool = make_pool(personas.team_a, members=[personas.alice])
    c = customer_create(actor=personas.alice, legal_name="无主客户有限公司")
    c.refresh_from_db()
    assert c.owner is None and c.pool == pool
    assert customer_list(user=personas.alice).filter(pk=c.pk).exists()


def test_it_audits_updates_and_recomputes_keys(world, personas):
    c = world["own"]
    tag = Tag.objects.create(name="央企")
    customer_update(actor=personas.alice, customer=c, legal_name="新名字有限公司", tier="A", tags=[tag])
    c.refresh_from_db()
    assert c.name_key == "新名字" and c.tier == "A"
    assert list(c.tags.all()) == [tag]
    assert AuditLog.objects.filter(object_id=str(c.pk), action="update").exists()


def test_it_refuses_updates_from_outsiders(world, personas):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        customer_update(actor=personas.charlie, customer=world["own"], short_name="x")
    customer_update(actor=personas.bob, customer=world["own"], short_name="bob改的")


def test_it_scopes_the_list_for_each_persona(world, personas, client_for):
    def ids(user):
        return set(customer_list(user=user).values_list("pk", flat=True))

    assert ids(personas.alice) == {world["own"].pk, world["pooled"].pk}
    assert ids(personas.bob) == {world["own"].pk, world["pooled"].pk}
    assert ids(personas.charlie) == {world["other"].pk}
    assert world["other"].pk in ids(personas.admin)
    r = client_for(personas.charlie).get(reverse("customer_list"))
    assert r.status_code == 200
    assert f'data-customer="{world["own"].pk}"' not in r.content.decode()
    assert f'data-customer="{world["other"].pk}"' in r.content.decode()


def test_it_filters_mine_pool_and_due(world, personas):
    import datetime as dt

    from django.utils import timezone

    Customer.objects.filter(pk=world["own"].pk).update(recycle_at=timezone.localdate() + dt.timedelta(days=3))
    mine = customer_list(user=personas.alice, filters={"scope": "mine"})
    assert list(mine) == [world["own"]]
    assert list(customer_list(user=personas.alice, filters={"scope": "pool"})) == [world["pooled"]]
    assert list(customer_list(user=personas.alice, filters={"recycle_within": "7"})) == [world["own"]]
    assert list(customer_list(user=personas.alice, filters={"recycle_within": "1"})) == []
    assert list(customer_list(user=personas.bob, filters={"owner": str(personas.alice.pk)})) == [world["own"]]
    # A user the filterer cannot see is a form error, ignored, never a 500.
    assert customer_list(user=personas.alice, filters={"owner": str(personas.charlie.pk)}).count() == 2


def test_it_lists_without_n_plus_one(world, personas, client_for, django_assert_max_num_queries):
    tag = Tag.objects.create(name="重点")
    for i in range(30):
        c = make_customer(personas.alice, name=f"批量客户{i}有限公司")
        c.tags.add(tag)
    client = client_for(personas.alice)
    client.get(reverse("customer_list"))
    with django_assert_max_num_queries(14):
        r = client.get(reverse("customer_list"))
    assert r.status_code == 200
    with django_assert_max_num_queries(14):
        r = client.get(reverse("customer_list"), {"page": "2", "sort": "-updated"})
    assert r.status_code == 200


def test_it_shows_the_360_page_to_owner_and_manager_only(world, personas, client_for):
    url = reverse("customer_detail", args=[world["own"].pk])
    for user in (personas.alice, personas.bob, personas.dora, personas.admin):
        r = client_for(user).get(url)
        assert r.status_code == 200, user
        body = r.content.decode()
        assert 'data-section="profile"' in body and 'data-section="contacts"' in body
        assert 'data-section="ownership"' in body
    assert client_for(personas.charlie).get(url).status_code == 404
    assert 'id="audit"' in client_for(personas.admin).get(url).content.decode()
    assert 'id="audit"' not in client_for(personas.alice).get(url).content.decode()


def test_it_renders_the_360_page_in_bounded_queries(
    world, personas, client_for, django_assert_max_num_queries
):
    from steelyard.customers.services.customers import contact_create

    for i in range(10):
        contact_create(
            actor=personas.alice, customer=world["own"], name=f"联系人{i}", phone=f"1390000{i:04d}"
        )
    client = client_for(personas.alice)
    url = reverse("customer_detail", args=[world["own"].pk])
    client.get(url)
    with django_assert_max_num_queries(48):  # + the tiering "Tier" section (7 reads)
        assert client.get(url).status_code == 200


def test_it_shows_the_group_hierarchy(personas, client_for):
    group = make_customer(personas.alice, name="中国交建集团有限公司")
    sub = make_customer(personas.alice, name="中交一公局有限公司", parent=group)
    make_customer(personas.alice, name="中交一公局三公司", parent=sub)
    body = client_for(personas.alice).get(reverse("customer_detail", args=[sub.pk])).content.decode()
    assert "中国交建集团有限公司" in body and "中交一公局三公司" in body
    assert 'data-depth="2"' in body


def test_it_creates_from_the_form_and_offers_create_anyway(personas, client_for):
    client = client_for(personas.alice)
    r = client.post(
        reverse("customer_create"),
        {"legal_name": "徐工集团工程机械股份有限公司", "status": "prospect", "owner": personas.alice.pk},
    )
    assert r.status_code == 302
    c = Customer.objects.get(legal_name="徐工集团工程机械股份有限公司")
    assert c.owner == personas.alice
    r = client.post(
        reverse("customer_create"),
        {"legal_name": "徐工集团工程机械有限公司", "status": "prospect", "owner": personas.alice.pk},
    )
    assert r.status_code == 200
    body = r.content.decode()
    assert "data-duplicates" in body and reverse("customer_detail", args=[c.pk]) in body
    assert 'type="checkbox" name="allow_duplicate"' in body
    r = client.post(
        reverse("customer_create"),
        {
            "legal_name": "徐工集团工程机械有限公司",
            "status": "prospect",
            "owner": personas.alice.pk,
            "allow_duplicate": "on",
        },
    )
    assert r.status_code == 302
    assert Customer.objects.filter(name_key=c.name_key).count() == 2


def test_it_explains_a_bad_credit_code_on_the_form(personas, client_for):
    code = valid_credit_code(7)
    bad = code[:-1] + ("0" if code[-1] != "0" else "1")
    r = client_for(personas.alice).post(
        reverse("customer_create"), {"legal_name": "坏代码公司", "status": "prospect", "credit_code": bad}
    )
    assert r.status_code == 200 and not Customer.objects.filter(legal_name="坏代码公司").exists()
    assert "invalid-feedback" in r.content.decode()


def test_it_edits_only_within_change_scope(world, personas, client_for):
    url = reverse("customer_edit", args=[world["own"].pk])
    assert client_for(personas.charlie).get(url).status_code == 404
    r = client_for(personas.bob).post(
        url, {"legal_name": "爱丽丝自有客户有限公司", "short_name": "爱丽丝", "status": "active"}
    )
    assert r.status_code == 302
    world["own"].refresh_from_db()
    assert world["own"].short_name == "爱丽丝" and world["own"].status == "active"
    # A pool customer is changed by pool admins only, not by members.
    purl = reverse("customer_edit", args=[world["pooled"].pk])
    assert client_for(personas.alice).get(purl).status_code == 404


def test_it_saves_lists_and_deletes_views(world, personas, client_for):
    alice = client_for(personas.alice)
    r = alice.post(
        reverse("customer_view_create"), {"name": "我的", "query": "scope=mine&page=3", "is_shared": "on"}
    )
    assert r.status_code == 302
    view = SavedView.objects.get(owner=personas.alice, list_key="customers")
    assert view.query == "scope=mine" and view.is_shared
    assert 'data-view="我的"' in client_for(personas.charlie).get(reverse("customer_list")).content.decode()
    # Nobody but its owner deletes a view.
    assert client_for(personas.bob).post(reverse("customer_view_delete", args=[view.pk])).status_code == 404
    assert alice.post(reverse("customer_view_delete", args=[view.pk])).status_code == 302
    assert not SavedView.objects.exists()


def test_it_shows_an_empty_state(personas, client_for):
    personas.alice.language = "en"
    personas.alice.save()
    body = client_for(personas.alice).get(reverse("customer_list")).content.decode()
    assert "No customers yet — add one or claim from the pool." in body


def test_it_shows_pool_customers_to_pool_members_only(world, personas, client_for):
    url = reverse("customer_detail", args=[world["pooled"].pk])
    assert client_for(personas.alice).get(url).status_code == 200
    assert client_for(personas.bob).get(url).status_code == 200
    assert client_for(personas.charlie).get(url).status_code == 404


def test_it_finds_a_duplicate_by_the_first_contacts_phone_on_the_form(world, personas, client_for):
    from steelyard.customers.services.customers import contact_create

    contact_create(actor=personas.alice, customer=world["own"], name="赵工", phone="13500001234")
    client = client_for(personas.alice)
    form = {
        "legal_name": "全新名字有限公司",
        "status": "prospect",
        "owner": personas.alice.pk,
        "contact_name": "赵",
        "contact_phone": "135 0000 1234",
    }
    r = client.post(reverse("customer_create"), form)
    assert r.status_code == 200 and reverse("customer_detail", args=[world["own"].pk]) in r.content.decode()
    r = client.post(reverse("customer_create"), {**form, "allow_duplicate": "on"})
    assert r.status_code == 302
    created = Customer.objects.get(legal_name="全新名字有限公司")
    assert created.contacts.get().is_primary


def test_it_registers_menu_and_sections(personas):
    from steelyard.core.registry import registry

    item = registry.menu["customers.customers"]
    assert item.url_name == "customer_list" and item.icon == "building" and item.bottom_nav
    keys = [s.key for s in registry.sections_for("customers.customer", personas.alice)]
    assert keys.index("profile") < keys.index("contacts") < keys.index("ownership")


def test_it_renders_the_forms(world, personas, client_for):
    alice = client_for(personas.alice)
    assert alice.get(reverse("customer_create")).status_code == 200
    assert alice.get(reverse("customer_edit", args=[world["own"].pk])).status_code == 200
    assert alice.get(reverse("customer_contact_create", args=[world["own"].pk])).status_code == 200
