"""Strategy menu screens with every persona: versions, the grid, the draft editor, activation, the rep's
"what each tier entitles" page and the customer page's "Tier entitlements" section."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from steelyard.customers.testing import make_customer
from steelyard.orders.testing import make_product_line
from steelyard.tiering.models import MenuStatus, StrategyMenu, StrategyRule
from steelyard.tiering.tests.strategy_testing import clear_menus, make_menu
from steelyard.tiering.views.strategy import entitlements_section

pytestmark = pytest.mark.django_db

EDITORS = ("admin", "dora")
OTHERS = ("alice", "bob", "charlie")
EVERYONE = EDITORS + OTHERS


@pytest.fixture
def world(personas):
    clear_menus()
    line = make_product_line("CRANE", name="起重机", name_en="Cranes")
    today = timezone.localdate()
    v1 = make_menu(
        1,
        {
            "key": {
                "max_discount_pct": 10,
                "approval_chain": ["sales_manager", "sales_director"],
                "pool_recycle_days": 120,
                "visit_every_days": 30,
                "credit_limit": 8000000,
                "payment_terms_days": 60,
                "entitlements": ["季度经营回顾"],
            },
            ("key", line): {"max_discount_pct": 12, "delivery_priority": 1},
            "": {"max_discount_pct": 3},
        },
        effective_from=today - dt.timedelta(days=30),
    )
    draft = make_menu(2, {"key": {"max_discount_pct": 11}}, status=MenuStatus.DRAFT, effective_from=today)
    return {"v1": v1, "draft": draft, "line": line, "today": today}


def _user(personas, name):
    return getattr(personas, name)


def test_the_versions_list_shows_drafts_only_to_their_editors(world, personas, client_for):
    url = reverse("tier_strategy_list")
    for name in EVERYONE:
        r = client_for(_user(personas, name)).get(url)
        assert r.status_code == 200, name
        html = r.content.decode()
        assert f'data-menu="{world["v1"].pk}"' in html
        assert (f'data-menu="{world["draft"].pk}"' in html) == (name in EDITORS), name
    r = client_for(personas.admin).get(url, {"status": "draft"})
    assert f'data-menu="{world["v1"].pk}"' not in r.content.decode()
    assert client_for(personas.admin).get(url, {"status": "bogus", "sort": "nope"}).status_code == 200


def test_the_version_grid_has_tiers_fields_and_product_line_rows(world, personas, client_for):
    url = reverse("tier_strategy_detail", args=[world["v1"].pk])
    for name in EVERYONE:
        r = client_for(_user(personas, name)).get(url)
        assert r.status_code == 200, name
    html = r.content.decode()
    assert "data-strategy-grid" in html and 'data-line="CRANE"' in html
    assert 'data-tier="key"' in html and 'data-field-row="pool_recycle_days"' in html
    assert ">12%<" in html and ">10%<" in html
    assert "季度经营回顾" in html
    # A version in force is read-only: no edit links, even for its editors.
    assert reverse("tier_strategy_rule_create", args=[world["v1"].pk]) not in html


def test_a_draft_is_404_to_those_who_do_not_edit_it(world, personas, client_for):
    url = reverse("tier_strategy_detail", args=[world["draft"].pk])
    for name in OTHERS:
        assert client_for(_user(personas, name)).get(url).status_code == 404, name
    for name in EDITORS:
        r = client_for(_user(personas, name)).get(url)
        assert r.status_code == 200
        assert reverse("tier_strategy_rule_create", args=[world["draft"].pk]) in r.content.decode()
    assert client_for(personas.admin).get(reverse("tier_strategy_detail", args=[999999])).status_code == 404


def test_only_editors_reach_the_editing_screens(world, personas, client_for):
    d = world["draft"]
    rule = d.rules.get()
    gets = [
        reverse("tier_strategy_create"),
        reverse("tier_strategy_edit", args=[d.pk]),
        reverse("tier_strategy_activate", args=[d.pk]),
        reverse("tier_strategy_rule_create", args=[d.pk]),
        reverse("tier_strategy_rule_edit", args=[d.pk, rule.pk]),
    ]
    posts = [
        reverse("tier_strategy_delete", args=[d.pk]),
        reverse("tier_strategy_rule_delete", args=[d.pk, rule.pk]),
    ]
    for name in OTHERS:
        c = client_for(_user(personas, name))
        for url in gets + posts:
            assert c.get(url).status_code in (403, 405), (name, url)
        for url in posts:
            assert c.post(url).status_code == 403, (name, url)
    for name in EDITORS:
        c = client_for(_user(personas, name))
        for url in gets:
            assert c.get(url).status_code == 200, (name, url)
    assert StrategyRule.objects.filter(pk=rule.pk).exists()


def test_a_director_creates_a_version_edits_a_rule_and_activates_it(world, personas, client_for):
    c = client_for(personas.dora)
    r = c.post(reverse("tier_strategy_create"), {"name": "2027 调整", "notes": "提高重点客户折扣"})
    menu = StrategyMenu.objects.get(version=3)
    assert r.status_code == 302 and r["Location"] == reverse("tier_strategy_detail", args=[menu.pk])
    assert menu.status == MenuStatus.DRAFT and menu.rules.count() == 3  # copied from v1
    rule = menu.rules.get(tier="key", product_line=None)
    form = {
        "max_discount_pct": "15",
        "approval_chain": "sales_manager, sales_director, executive",
        "payment_terms_days": "90",
        "credit_limit": "10000000",
        "delivery_priority": "1",
        "visit_every_days": "14",
        "visitor_seniority": "director",
        "escalate_after_days": "",
        "response_hours": "4",
        "resolution_hours": "24",
        "pool_recycle_days": "180",
        "entitlements": "专属客户经理\n高层互访",
    }
    r = c.post(reverse("tier_strategy_rule_edit", args=[menu.pk, rule.pk]), form)
    assert r.status_code == 302
    rule.refresh_from_db()
    assert rule.max_discount_pct == Decimal("15.00")
    assert rule.approval_chain == ["sales_manager", "sales_director", "executive"]
    assert rule.entitlements == ["专属客户经理", "高层互访"]
    # Bad input is explained on the form, nothing is written.
    bad = {
        **form,
        "max_discount_pct": "150",
        "approval_chain": "sales_manager, wizard",
        "pool_recycle_days": "0",
    }
    r = c.post(reverse("tier_strategy_rule_edit", args=[menu.pk, rule.pk]), bad)
    assert r.status_code == 200
    assert r.content.decode().count("invalid-feedback") >= 2
    r = c.post(
        reverse("tier_strategy_rule_edit", args=[menu.pk, rule.pk]), {**form, "approval_chain": "wizard"}
    )
    assert r.status_code == 200 and "wizard" in r.content.decode()
    rule.refresh_from_db()
    assert rule.max_discount_pct == Decimal("15.00")
    # A new rule for another tier and a product line.
    r = c.post(
        reverse("tier_strategy_rule_create", args=[menu.pk]),
        {**form, "tier": "__other__", "other_tier": "regular", "product_line": world["line"].pk},
    )
    assert r.status_code == 302
    assert menu.rules.filter(tier="regular", product_line=world["line"]).exists()
    r = c.post(reverse("tier_strategy_rule_create", args=[menu.pk]), {**form, "tier": "__none__"})
    assert r.status_code == 302  # the untiered rule exists already: it is updated
    assert menu.rules.get(tier="", product_line=None).max_discount_pct == Decimal("15.00")
    # The activation page shows what changes, then activates.
    r = c.get(reverse("tier_strategy_activate", args=[menu.pk]))
    html = r.content.decode()
    assert "data-changes" in html and "data-pool-note" in html and "15%" in html
    r = c.post(
        reverse("tier_strategy_activate", args=[menu.pk]), {"effective_from": world["today"].isoformat()}
    )
    assert r.status_code == 302
    menu.refresh_from_db()
    world["v1"].refresh_from_db()
    assert menu.status == MenuStatus.ACTIVE and world["v1"].status == MenuStatus.RETIRED
    # The version's history is on its page for its editors (not for reps).
    detail = reverse("tier_strategy_detail", args=[menu.pk])
    assert "data-audit" in c.get(detail).content.decode()
    assert "data-audit" not in client_for(personas.alice).get(detail).content.decode()
    # History cannot be edited any more.
    r = c.post(reverse("tier_strategy_rule_edit", args=[menu.pk, rule.pk]), form)
    assert r.status_code == 302 and r["Location"] == reverse("tier_strategy_detail", args=[menu.pk])


def test_activation_refuses_a_past_date_on_the_form(world, personas, client_for):
    d = world["draft"]
    r = client_for(personas.admin).post(
        reverse("tier_strategy_activate", args=[d.pk]),
        {"effective_from": (world["today"] - dt.timedelta(days=1)).isoformat()},
    )
    assert r.status_code == 200 and "invalid-feedback" in r.content.decode()
    d.refresh_from_db()
    assert d.status == MenuStatus.DRAFT


def test_a_draft_is_discarded_and_a_rule_deleted_by_editors(world, personas, client_for):
    d = world["draft"]
    c = client_for(personas.dora)
    assert c.post(reverse("tier_strategy_rule_delete", args=[d.pk, d.rules.get().pk])).status_code == 302
    assert d.rules.count() == 0
    assert c.post(reverse("tier_strategy_delete", args=[d.pk])).status_code == 302
    assert not StrategyMenu.objects.filter(pk=d.pk).exists()
    # Activated versions cannot be discarded.
    assert c.post(reverse("tier_strategy_delete", args=[world["v1"].pk])).status_code == 302
    assert StrategyMenu.objects.filter(pk=world["v1"].pk).exists()


def test_every_signed_in_user_reads_what_each_tier_entitles(world, personas, client_for):
    url = reverse("tier_entitlements")
    for name in EVERYONE:
        r = client_for(_user(personas, name)).get(url)
        assert r.status_code == 200, name
        html = r.content.decode()
        assert 'data-tier-card="key"' in html and 'data-tier-card=""' in html
        assert "季度经营回顾" in html and "起重机" in html
    clear_menus()
    r = client_for(personas.alice).get(url)
    assert r.status_code == 200 and "empty-state" in r.content.decode()


def test_a_scheduled_version_is_announced_on_the_entitlements_page(world, personas, client_for):
    make_menu(5, {"": {"max_discount_pct": 2}}, effective_from=world["today"] + dt.timedelta(days=10))
    html = client_for(personas.alice).get(reverse("tier_entitlements")).content.decode()
    assert "data-upcoming" in html and "v5" in html


def _entitlement(html: str, key: str) -> str:
    m = re.search(rf'data-entitlement="{key}">(.*?)</dd>', html, re.S)
    assert m, key
    return re.sub(r"<[^>]+>", " ", m.group(1)).strip()


def test_the_customer_page_lists_the_tiers_entitlements(world, personas, client_for):
    own = make_customer(personas.alice, tier="key", credit_limit=Decimal("1500000"))
    url = reverse("customer_detail", args=[own.pk])
    for name in ("alice", "bob", "admin", "dora"):
        r = client_for(_user(personas, name)).get(url)
        assert r.status_code == 200, name
        html = r.content.decode()
        assert 'data-section="tier_entitlements"' in html
    assert client_for(personas.charlie).get(url).status_code == 404
    assert _entitlement(html, "max_discount_pct") == "10%"
    assert "¥1,500,000.00" in _entitlement(html, "credit_limit")  # its own limit wins
    assert _entitlement(html, "pool_recycle_days").startswith("120")
    assert _entitlement(html, "visit_every_days").startswith("30")
    assert "季度经营回顾" in _entitlement(html, "entitlements")
    assert "data-line-entitlements" in html and "起重机" in html  # the line with its own terms


def test_the_section_costs_a_few_queries(world, personas, django_assert_max_num_queries):
    own = make_customer(personas.alice, tier="key")
    request = RequestFactory().get("/")
    request.user = personas.alice
    with django_assert_max_num_queries(3):
        ctx = entitlements_section(request, own)
    assert ctx["strategy"].max_discount_pct == Decimal("10.00")
