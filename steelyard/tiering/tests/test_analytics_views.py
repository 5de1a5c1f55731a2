"""The tier analytics page and its drill-down list: scoped per persona, drill-down links, bounded queries."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from steelyard.core.registry import registry
from steelyard.customers.selectors import activities as activity_selectors
from steelyard.customers.testing import make_customer
from steelyard.org.models import Role
from steelyard.tiering.models import TierModel
from steelyard.tiering.tests.analytics_world import QUERY, build, fake_visit_frequency

pytestmark = pytest.mark.django_db
PAGE = "/tiers/analytics/"
DRILL = "/tiers/analytics/customers/"


@pytest.fixture
def world(personas, monkeypatch):
    monkeypatch.setattr(activity_selectors, "visit_frequency_for", fake_visit_frequency)
    return build(personas)


def island(response) -> dict:
    html = response.content.decode()
    m = re.search(r'<script id="tier-analytics-data" type="application/json">(.*?)</script>', html, re.S)
    assert m, "no data island"
    return json.loads(m.group(1))


def names(response) -> set[str]:
    assert response.status_code == 200
    return set(
        re.findall(r'<a class="fw-semibold" href="/customers/\d+/">([^<]+)</a>', response.content.decode())
    )


def get(client, url, **params):
    return client.get(url, {**QUERY, **params})


def test_alice_sees_only_her_customers_in_every_figure(world, personas, client_for):
    r = get(client_for(personas.alice), PAGE)
    assert r.status_code == 200
    data = island(r)
    assert data["locale"] == "ZH"
    dist = data["distribution"]
    assert dist["tiers"] == ["战略", "重点", "一般", "No tier"] or dist["tiers"][:3] == [
        "战略",
        "重点",
        "一般",
    ]
    assert [p["value"] for p in dist["revenue_pct"]] == [46.0, 30.0, 14.0, 10.0]
    assert sum(p["value"] for p in dist["revenue"]) == 10_000_000
    assert [p["value"] for p in data["growth"]["previous"]] == [2_000_000, 1_500_000, 0, 0]
    assert [p["value"] for p in data["retention"]["lost"]] == [0, 1, 0, 0]
    assert [p["value"] for p in data["visits"]["done"]] == [10, 5, 6, 2]
    flows = {(lk["source"], lk["target"]): lk["value"] for lk in data["migration"]["sankey"]["links"]}
    assert flows == {
        ("from:key", "to:strategic"): 1,
        ("from:key", "to:key"): 1,
        ("from:strategic", "to:key"): 1,
        ("from:", "to:regular"): 1,
    }
    html = r.content.decode()
    assert "50,000,000" not in html and "61,000,000" not in html  # charlie's money, the grand total
    assert "10,000,000" in html  # alice's revenue total in the table
    assert 'data-chart="sankey"' in html and 'data-table="distribution"' in html


def test_bob_sees_his_team_charlie_his_own_admin_everything(world, personas, client_for):
    bob = island(get(client_for(personas.bob), PAGE))
    assert sum(p["value"] for p in bob["distribution"]["revenue"]) == 11_000_000
    charlie = island(get(client_for(personas.charlie), PAGE))
    assert [p["value"] for p in charlie["distribution"]["revenue_pct"]][0] == 100.0
    assert sum(p["value"] for p in charlie["distribution"]["revenue"]) == 50_000_000
    assert [p["value"] for p in charlie["visits"]["done"]] == [3, 0, 0]
    admin = island(get(client_for(personas.admin), PAGE))
    assert sum(p["value"] for p in admin["distribution"]["revenue"]) == 61_000_000
    flows = {(lk["source"], lk["target"]): lk["value"] for lk in admin["migration"]["sankey"]["links"]}
    assert flows[("from:regular", "to:strategic")] == 2  # the run's stored matrix


def test_every_chart_number_links_to_its_customers(world, personas, client_for):
    client = client_for(personas.alice)
    data = island(get(client, PAGE))
    lost_key = data["retention"]["lost"][1]["url"]
    q = parse_qs(urlsplit(lost_key).query)
    assert q["tier"] == ["key"] and q["metric"] == ["lost"] and q["as_of"] == ["2026-06-30"]
    assert names(client.get(lost_key)) == {"甲三重点客户有限公司"}
    untiered = data["distribution"]["revenue_pct"][3]["url"]
    assert parse_qs(urlsplit(untiered).query)["tier"] == ["-"]
    assert names(client.get(untiered)) == {"甲六无级客户有限公司"}
    moved = next(lk["url"] for lk in data["migration"]["sankey"]["links"] if lk["source"] == "from:strategic")
    assert names(client.get(moved)) == {"甲三重点客户有限公司"}
    behind = data["visits"]["required"][0]["url"]
    assert names(client.get(behind)) == {"甲一战略客户有限公司"}


def test_table_cells_link_to_the_drilldown(world, personas, client_for):
    html = get(client_for(personas.alice), PAGE).content.decode()
    links = set(re.findall(r'href="(/tiers/analytics/customers/\?[^"]+)"', html))
    metrics = {parse_qs(urlsplit(u.replace("&amp;", "&")).query)["metric"][0] for u in links}
    assert {
        "customers",
        "revenue",
        "buyers_prev",
        "retained",
        "lost",
        "new",
        "visited",
        "behind",
        "planned",
    } <= metrics
    assert "migration" in metrics


def test_drilldown_is_scoped_for_each_persona(world, personas, client_for):
    params = {"tier": "strategic", "metric": "customers"}
    assert names(get(client_for(personas.alice), DRILL, **params)) == {"甲一战略客户有限公司"}
    assert names(get(client_for(personas.bob), DRILL, **params)) == {"甲一战略客户有限公司"}
    assert names(get(client_for(personas.charlie), DRILL, **params)) == {"丙一战略客户有限公司"}
    assert names(get(client_for(personas.admin), DRILL, **params)) == {
        "甲一战略客户有限公司",
        "丙一战略客户有限公司",
    }
    key = names(get(client_for(personas.bob), DRILL, tier="key"))
    assert key == {"甲二重点客户有限公司", "甲三重点客户有限公司", "乙一重点客户有限公司"}
    # charlie cannot reach alice's customers by any parameter
    for metric in ("customers", "revenue", "lost", "behind", "visited"):
        assert not names(get(client_for(personas.charlie), DRILL, metric=metric)) & {"甲一战略客户有限公司"}


def test_drilldown_shows_the_figures_of_each_customer(world, personas, client_for):
    r = get(client_for(personas.alice), DRILL, tier="strategic", metric="customers")
    assert not r.context["filter"].errors
    html = r.content.decode()
    assert "4,600,000" in html and "2,000,000" in html and "2,600,000" in html
    assert "10 / 12.2" in html


def test_bad_parameters_never_fail(world, personas, client_for):
    client = client_for(personas.alice)
    for params in (
        {"months": "7"},
        {"as_of": "not-a-date"},
        {"as_of": "0001-01-01"},
        {"model": "999999"},
        {"unit": "abc"},
        {"runs": "-3"},
        {"metric": "bogus", "tier": "x" * 40},
        {"metric": "migration", "run": "999999"},
        {"sort": "nonsense", "page": "zz"},
    ):
        assert client.get(PAGE, params).status_code == 200, params
        assert client.get(DRILL, params).status_code == 200, params
    r = client.get(DRILL, {"metric": "migration", "run": "999999"})
    assert "请选择该模型的一次评估" in r.content.decode() or "Choose an assessment run" in r.content.decode()


def test_the_filters_show_the_defaults_the_figures_use(world, personas, client_for):
    html = client_for(personas.alice).get(PAGE).content.decode()
    assert '<option value="12" selected>' in html
    assert f'<option value="{world["model"].pk}" selected>' in html
    assert 'name="as_of" value="' in html
    assert "清除" not in html and ">Clear<" not in html  # nothing chosen yet, nothing to clear


def test_reps_have_no_org_unit_filter_managers_do(world, personas, client_for):
    assert 'name="unit"' not in client_for(personas.alice).get(PAGE).content.decode()
    html = client_for(personas.bob).get(PAGE).content.decode()
    assert 'name="unit"' in html
    # bob's unit list is his scope: team_a, not Beijing
    assert personas.team_a.name in html and personas.team_c.name not in html


def test_a_manager_narrows_to_an_org_unit(world, personas, client_for):
    data = island(get(client_for(personas.admin), PAGE, unit=personas.beijing.pk))
    assert sum(p["value"] for p in data["distribution"]["revenue"]) == 50_000_000
    url = data["distribution"]["customers_pct"][0]["url"]
    assert parse_qs(urlsplit(url).query)["unit"] == [str(personas.beijing.pk)]
    assert names(client_for(personas.admin).get(url)) == {"丙一战略客户有限公司"}


def test_english_users_get_english_labels_and_echarts_locale(world, personas, client_for):
    personas.alice.language = "en"
    personas.alice.save()
    r = get(client_for(personas.alice), PAGE)
    data = island(r)
    assert data["locale"] == "EN"
    assert data["distribution"]["tiers"] == ["Strategic", "Key", "Regular", "No tier"]
    assert data["text"]["revenue"] == "Revenue"


def test_empty_state_without_any_model(personas, client_for):
    TierModel.objects.all().delete()
    r = client_for(personas.alice).get(PAGE)
    assert r.status_code == 200 and 'id="tier-analytics-data"' not in r.content.decode()
    assert client_for(personas.alice).get(DRILL).status_code == 200


def test_page_and_drilldown_queries_do_not_grow_with_customers(
    world, personas, client_for, django_assert_max_num_queries
):
    client = client_for(personas.bob)
    for i in range(40):
        make_customer(personas.alice, tier=("strategic", "key", "regular")[i % 3])
    with django_assert_max_num_queries(40):
        assert get(client, PAGE).status_code == 200
    with django_assert_max_num_queries(25):
        assert get(client, DRILL, metric="behind").status_code == 200


def test_the_menu_offers_it_to_managers_not_reps(personas):
    item = registry.menu["tiering.analytics"]
    assert item.visible_for(personas.bob) and item.visible_for(personas.admin)
    assert not item.visible_for(personas.alice)
    marketing = personas.charlie
    marketing.roles.add(Role.objects.get(code="marketing"))
    marketing._role_codes = None
    del marketing._role_codes
    assert item.visible_for(marketing)


def test_signed_out_visitors_are_sent_to_sign_in(client):
    assert client.get(PAGE).status_code == 302
    assert client.get(DRILL).status_code == 302
