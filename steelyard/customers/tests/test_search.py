"""Search by name, short name, pinyin, pinyin initials and credit code; scoped; global search providers."""

from __future__ import annotations

import pytest

from steelyard.core.registry import registry
from steelyard.customers.selectors.customers import customer_list
from steelyard.customers.services.customers import contact_create
from steelyard.customers.testing import make_customer, make_pool, valid_credit_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def zh(personas):
    return make_customer(
        personas.alice, name="上海振华重工有限公司", short_name="振华", credit_code=valid_credit_code(21)
    )


def _names(user, q):
    return [c.legal_name for c in customer_list(user=user, filters={"q": q})]


def test_it_finds_by_pinyin_initials_pinyin_name_and_code(zh, personas):
    make_customer(personas.alice, name="北京重型机械有限公司")
    for q in (
        "shzh",
        "SHZH",
        "shanghaizhen",
        "振华",
        "上海振华",
        zh.credit_code[:10],
        zh.credit_code[:10].lower(),
    ):
        assert _names(personas.alice, q) == ["上海振华重工有限公司"], q
    assert _names(personas.alice, "zzz") == []


def test_it_scopes_search_for_each_persona(zh, personas):
    assert _names(personas.bob, "shzh") == ["上海振华重工有限公司"]
    assert _names(personas.charlie, "shzh") == []
    assert _names(personas.charlie, zh.credit_code) == []


def test_it_registers_scoped_global_search(zh, personas):
    contact_create(actor=personas.alice, customer=zh, name="李振华", phone="13811112222")
    pool = make_pool(personas.team_a, members=[personas.alice])
    make_customer(None, name="上海振兴公海客户", pool=pool)
    customers = registry.search["customers"].search
    contacts = registry.search["contacts"].search
    assert {r.title for r in customers(personas.alice, "shz", 10)} == {
        "上海振华重工有限公司",
        "上海振兴公海客户",
    }
    assert customers(personas.charlie, "shzh", 10) == []
    assert [r.title for r in contacts(personas.alice, "1381111", 10)] == ["李振华"]
    assert [r.title for r in contacts(personas.bob, "李振华", 10)] == ["李振华"]
    assert contacts(personas.charlie, "李振华", 10) == []
    assert contacts(personas.charlie, "13811112222", 10) == []
