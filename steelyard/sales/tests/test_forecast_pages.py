"""The forecast page and its tree rows per persona: scoped figures, roll-ups, the chart's data, drill-down
links, the adjusted column for managers, lazy rows, the menu entry and bounded queries."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from steelyard.core.registry import registry
from steelyard.org.models import User
from steelyard.sales.selectors import forecast as sel
from steelyard.sales.services.forecast import forecast_adjustment_create
from steelyard.sales.tests.test_forecast_world import build

pytestmark = pytest.mark.django_db
PAGE = "/sales/forecast/"
ROWS = "/sales/forecast/rows/"


@pytest.fixture
def world(personas):
    return build(personas)


def island(response) -> dict:
    m = re.search(
        r'<script id="forecast-chart-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert m, "no chart data"
    return json.loads(m.group(1))


def summary(response) -> dict[str, list[str]]:
    html = response.content.decode()
    table = html[html.index('data-table="summary"') :]
    table = table[: table.index("</table>")]
    rows = {}
    for key, body in re.findall(r'<tr data-measure="([^"]+)"[^>]*>(.*?)</tr>', table, re.S):
        rows[key] = re.findall(r">(-?¥[\d,]+)<", body)
    return rows


def tree_names(response) -> list[str]:
    html = response.content.decode()
    return [
        re.sub(r"<[^>]+>", "", name).strip()
        for name in re.findall(
            r'<tr class="fc-row[^"]*" data-node="[^"]+".*?<th scope="row"[^>]*>(.*?)</th>', html, re.S
        )
    ]


def test_alice_sees_her_own_forecast(personas, world, client_for):
    r = client_for(personas.alice).get(PAGE)
    assert r.status_code == 200
    s = summary(r)
    # months M0 … M5, then the total
    assert s["commit"][:3] == ["¥0", "¥1,000,000", "¥0"]
    assert s["won"][0] == "¥300,000"
    assert s["commit_rollup"][:2] == ["¥300,000", "¥1,000,000"]
    assert s["best_case_rollup"][1] == "¥1,500,000"
    assert s["pipeline_rollup"][6] == "¥2,000,000"  # 200k + 500k + 1,000k + 300k won
    assert s["weighted"][1] == "¥900,000"  # 700k + 200k
    assert s["omitted"][1] == "¥80,000" and s["lost"][0] == "¥50,000"
    html = r.content.decode()
    assert "¥9,999,000" not in html and "¥400,000" not in html
    assert "fc-adjusted" not in html and "data-adjust" not in html  # reps get no adjusted column
    assert tree_names(r)[:2] == ["Shanghai Crane Team", "Alice"]
    assert 'name="unit"' not in html  # no unit filter for own-records viewers


def test_bob_sees_his_team_with_the_adjusted_figures(personas, world, client_for):
    p = personas
    forecast_adjustment_create(
        actor=p.bob, subject_user=p.alice, month=world["m1"], category="commit", amount="600000"
    )
    r = client_for(p.bob).get(PAGE)
    s = summary(r)
    assert s["commit"][1] == "¥1,400,000"
    assert s["adjusted_commit"][1] == "¥1,000,000"  # 600k for alice + bob's own 400k
    assert s["adjusted_best_case"][1] == "¥1,900,000"  # no best case adjustment: the system figure
    assert tree_names(r) == ["Shanghai Crane Team", "Alice", "Bob", "合计"]
    html = r.content.decode()
    assert "¥9,999,000" not in html
    assert "fc-adjusted-set" in html and "data-adjust" in html
    assert "/sales/forecast/adjust/?subject=user%3A" + str(p.alice.pk) in html
    assert f"subject=user%3A{p.bob.pk}" not in html  # not his own row
    assert f"subject=unit%3A{p.team_a.pk}" in html


def test_charlie_and_dora_and_admin(personas, world, client_for):
    p = personas
    charlie = client_for(p.charlie).get(PAGE)
    assert summary(charlie)["commit"][1] == "¥9,999,000"
    assert "¥1,000,000" not in charlie.content.decode()
    dora = client_for(p.dora).get(PAGE)
    assert summary(dora)["commit"][1] == "¥1,400,000"
    assert tree_names(dora)[:3] == ["East China", "Shanghai Branch", "Shanghai Crane Team"]
    admin = client_for(p.admin).get(PAGE)
    assert summary(admin)["commit"][1] == "¥11,399,000"
    assert tree_names(admin)[0] == "Steelyard Group"


def test_the_chart_data_and_its_links(personas, world, client_for):
    data = island(client_for(personas.bob).get(PAGE))
    assert data["locale"] == "ZH" and len(data["months"]) == 6
    bars = {b["key"]: b for b in data["bars"]}
    assert [b["key"] for b in data["bars"]] == ["pipeline", "best_case", "commit", "won"]
    assert bars["commit"]["data"][1]["value"] == 1_400_000.0
    assert bars["won"]["data"][0]["value"] == 300_000.0
    assert data["line"]["data"][1]["value"] == 1_180_000.0  # 700k + 200k + 280k weighted
    url = urlsplit(bars["commit"]["data"][1]["url"])
    q = parse_qs(url.query)
    assert url.path == "/sales/"
    assert q["category"] == ["commit"]
    assert q["close_from"] == [world["m1"].isoformat()]
    won = parse_qs(urlsplit(bars["won"]["data"][0]["url"]).query)
    assert won["category"] == ["won"] and won["closed_from"] == [world["m0"].isoformat()]


def test_every_figure_drills_to_the_opportunities(personas, world, client_for):
    p = personas
    html = client_for(p.bob).get(PAGE).content.decode()
    links = [a.replace("&amp;", "&") for a in re.findall(r'href="(/sales/\?[^"]+)"', html)]
    assert links
    person = [parse_qs(urlsplit(u).query) for u in links if f"owner={p.alice.pk}&" in u]
    assert person and all(q["unit"] == [str(p.team_a.pk)] for q in person)
    rollup = [parse_qs(urlsplit(u).query) for u in links if "category=best_case&category=commit" in u]
    assert rollup  # a roll-up links to its open categories


def test_filters_months_line_unit_and_measure(personas, world, client_for):
    p = personas
    c = client_for(p.admin)
    r = c.get(PAGE, {"start": world["m1"].strftime("%Y-%m"), "months": 3, "measure": "weighted"})
    assert len(island(r)["months"]) == 3 and island(r)["months"][0] == world["m1"].strftime("%Y-%m")
    assert summary(r)["commit"][0] == "¥11,399,000"
    assert f"{sel.MEASURE_LABELS['weighted']}" in r.content.decode().split('id="tree-title"')[1][:200]
    r = c.get(PAGE, {"unit": p.team_c.pk})
    assert summary(r)["commit"][1] == "¥9,999,000"
    assert c.get(PAGE, {"product_line": world["line"].pk}).status_code == 200
    bad = c.get(PAGE, {"start": "2026-13", "months": 99, "measure": "nope", "unit": "x"})
    assert bad.status_code == 200 and "invalid-feedback" in bad.content.decode()


def test_product_line_hides_the_adjusted_figures(personas, world, client_for):
    r = client_for(personas.bob).get(PAGE, {"product_line": world["line"].pk})
    html = r.content.decode()
    assert "data-adjust-note" in html and "fc-adjusted" not in html and "adjusted_commit" not in summary(r)


def test_empty_forecast_says_what_to_do(personas, client_for):
    r = client_for(personas.alice).get(PAGE)
    assert r.status_code == 200
    assert "empty-state" in r.content.decode() and "forecast-chart-data" not in r.content.decode()


def test_rows_below_a_unit_load_on_demand(personas, world, client_for):
    p = personas
    c = client_for(p.admin)
    r = c.get(ROWS, {"node": f"u{p.team_a.pk}"})
    assert r.status_code == 200
    html = r.content.decode()
    assert html.count('data-node="p') == 2 and "Alice" in html and "Bob" in html
    assert f'data-parent="u{p.team_a.pk}"' in html
    # scoped: bob asking for charlie's team gets nothing
    assert 'data-node="' not in client_for(p.bob).get(ROWS, {"node": f"u{p.team_c.pk}"}).content.decode()
    assert client_for(p.bob).get(ROWS, {"node": "bogus"}).status_code == 404
    assert client_for(p.bob).get(ROWS, {"node": "u99999"}).status_code == 404


def test_lazy_rows_in_compare_and_accuracy_modes(personas, world, client_for):
    from steelyard.sales.services.forecast import forecast_snapshot_take

    snap = forecast_snapshot_take(weekly=False)
    c = client_for(personas.dora)
    r = c.get(ROWS, {"node": f"u{personas.team_a.pk}", "mode": "compare", "snapshot": snap.pk})
    assert r.status_code == 200 and "Alice" in r.content.decode()
    assert (
        c.get(ROWS, {"node": f"u{personas.team_a.pk}", "mode": "compare", "snapshot": 0}).status_code == 404
    )
    r = c.get(ROWS, {"node": f"u{personas.team_a.pk}", "mode": "accuracy"})
    assert r.status_code == 200


def test_menu_entry_for_everyone_in_sales(personas):
    item = registry.menu["sales.forecast"]
    assert (item.url_name, item.order, str(item.group)) == ("sales_forecast", 256, "销售")
    for user in (personas.alice, personas.bob, personas.dora, personas.charlie, personas.admin):
        assert item.visible_for(User.objects.get(pk=user.pk))


def test_english_page(personas, world, client_for):
    User.objects.filter(pk=personas.bob.pk).update(language="en")
    r = client_for(User.objects.get(pk=personas.bob.pk)).get(PAGE, HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 200
    assert "Commit forecast" in r.content.decode()


@pytest.mark.parametrize("who", ["alice", "bob", "dora", "admin"])
def test_the_forecast_page_runs_a_bounded_number_of_queries(
    personas, world, client_for, who, django_assert_max_num_queries
):
    c = client_for(getattr(personas, who))
    c.get(PAGE)  # warm the session and caches
    with django_assert_max_num_queries(15):
        assert c.get(PAGE).status_code == 200


def test_queries_do_not_grow_with_people(personas, world, client_for, django_assert_max_num_queries):
    from steelyard.sales.testing import make_opportunity

    for i in range(8):
        rep = User.objects.create(username=f"rep{i}", org_unit=personas.team_a, manager=personas.bob)
        make_opportunity(rep, line=world["line"], stage="negotiation", amount="1000", close=world["m1"])
    c = client_for(personas.dora)
    c.get(PAGE)
    with django_assert_max_num_queries(15):
        r = c.get(PAGE)
    assert len(tree_names(r)) >= 10


def test_a_drill_down_lists_exactly_the_opportunities_behind_the_figure(personas, world, client_for):
    """Followed through the opportunity list: alice's commit in M1, the team's won in M0."""
    p, opps = personas, world["opps"]
    c = client_for(p.bob)
    html = c.get(PAGE).content.decode()
    links = [a.replace("&amp;", "&") for a in re.findall(r'href="(/sales/\?[^"]+)"', html)]
    m1 = world["m1"].isoformat()

    def numbers(url):
        page = c.get(url).content.decode()
        return {o.number for o in opps.values() if o.number in page}

    commit = next(
        u for u in links if f"owner={p.alice.pk}&" in u and "category=commit&close" in u and m1 in u
    )
    assert numbers(commit) == {opps["a_commit"].number}
    won = next(
        u for u in links if "owner=" not in u and "category=won&closed_from=" + world["m0"].isoformat() in u
    )
    assert numbers(won) == {opps["a_won"].number}
    rollup = next(
        u for u in links if "owner=" not in u and "category=best_case&category=commit&close" in u and m1 in u
    )
    assert numbers(rollup) == {opps["a_commit"].number, opps["a_best"].number, opps["b_commit"].number}
