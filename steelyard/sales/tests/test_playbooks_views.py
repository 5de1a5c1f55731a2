"""Playbook screens with every persona: the versions list, a version's page, the draft editor (htmx and plain
forms), new versions, activation and moving open opportunities; reps read, directors and admins edit, people
outside sales see nothing."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from steelyard.core.testing.personas import _user
from steelyard.orders.testing import make_product_line
from steelyard.sales.models import Opportunity, Playbook, PlaybookItem, PlaybookStage, PlaybookStatus
from steelyard.sales.services import playbooks as svc
from steelyard.sales.testing import make_opportunity, make_playbook, stage_of

pytestmark = pytest.mark.django_db

EDITORS = ("admin", "dora")
READERS = ("alice", "bob", "charlie")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def world(personas):
    Playbook.objects.all().delete()
    line = make_product_line("CRANE", name="起重机", name_en="Cranes")
    v1 = make_playbook(line)
    default = make_playbook(None)
    opp = make_opportunity(personas.alice, line=line, playbook=v1, stage="needs")
    make_opportunity(personas.alice, line=line, playbook=v1, stage="won")
    draft = svc.playbook_create(actor=personas.admin, product_line=line)
    tech = _user("tom", personas.shanghai, "technician")
    return {"line": line, "v1": v1, "default": default, "opp": opp, "draft": draft, "tech": tech}


def _u(personas, name):
    return getattr(personas, name)


def _html(r) -> str:
    return r.content.decode()


# --- reading ---------------------------------------------------------------------------------------


def test_the_list_shows_versions_per_line_drafts_only_to_editors(world, personas, client_for):
    url = reverse("sales_playbook_list")
    for name in EDITORS + READERS:
        r = client_for(_u(personas, name)).get(url)
        assert r.status_code == 200, name
        html = _html(r)
        assert (
            f'data-playbook="{world["v1"].pk}"' in html and f'data-playbook="{world["default"].pk}"' in html
        )
        assert (f'data-playbook="{world["draft"].pk}"' in html) == (name in EDITORS), name
        assert ('href="/sales/playbooks/new/"' in html) == (name in EDITORS), name
    assert client_for(world["tech"]).get(url).status_code == 403
    r = client_for(personas.admin).get(url, {"status": "draft"})
    assert f'data-playbook="{world["v1"].pk}"' not in _html(
        r
    ) and f'data-playbook="{world["draft"].pk}"' in _html(r)
    r = client_for(personas.admin).get(url, {"line": "default"})
    assert f'data-playbook="{world["v1"].pk}"' not in _html(r)
    assert f'data-playbook="{world["default"].pk}"' in _html(r)
    assert (
        client_for(personas.admin).get(url, {"line": "x", "status": "bogus", "sort": "nope"}).status_code
        == 200
    )
    r = client_for(personas.admin).get(url, {"q": "zzz-nothing"})
    assert "data-playbook=" not in _html(r) and "empty-state" in _html(r)


def test_open_opportunities_are_counted_over_what_each_viewer_sees(world, personas, client_for):
    make_opportunity(personas.charlie, line=world["line"], playbook=world["v1"], stage="qualify")
    url = reverse("sales_playbook_list")
    expected = {"admin": 2, "dora": 1, "bob": 1, "alice": 1, "charlie": 1}
    for name, n in expected.items():
        html = _html(client_for(_u(personas, name)).get(url))
        row = re.search(rf'data-playbook="{world["v1"].pk}".*?data-open-count="(\d+)"', html, re.S)
        assert row and int(row.group(1)) == n, name
    # charlie's own deal is the only one he counts; alice's is not
    Opportunity.objects.filter(owner=personas.charlie).delete()
    html = _html(client_for(personas.charlie).get(url))
    row = re.search(rf'data-playbook="{world["v1"].pk}".*?data-open-count="(\d+)"', html, re.S)
    assert row and row.group(1) == "0"


def test_the_list_query_count_stays_flat(world, personas, client_for, django_assert_max_num_queries):
    for i in range(6):
        line = make_product_line(f"L{i}", name=f"产品线{i}")
        make_playbook(line)
        make_playbook(line, version=2, status=PlaybookStatus.RETIRED)
    c = client_for(personas.admin)
    c.get(reverse("sales_playbook_list"))
    with django_assert_max_num_queries(11):
        r = c.get(reverse("sales_playbook_list"))
    assert r.status_code == 200


def test_a_version_page_shows_stages_and_checklists_to_everyone_in_sales(world, personas, client_for):
    url = reverse("sales_playbook_detail", args=[world["v1"].pk])
    for name in EDITORS + READERS:
        r = client_for(_u(personas, name)).get(url)
        assert r.status_code == 200, name
        html = _html(r)
        assert 'data-stage="needs"' in html and "现场调研" in html and "关键决策人" in html
        assert "data-stage-edit" not in html  # a version in force is read-only for everyone
        assert ("data-new-version" in html) == (name in EDITORS), name
    assert 'data-probability="20"' in html and 'data-category="best_case"' in html
    assert client_for(world["tech"]).get(url).status_code == 403
    assert client_for(personas.admin).get(reverse("sales_playbook_detail", args=[999999])).status_code == 404


def test_a_draft_is_an_editor_for_editors_and_404_for_others(world, personas, client_for):
    url = reverse("sales_playbook_detail", args=[world["draft"].pk])
    for name in READERS:
        assert client_for(_u(personas, name)).get(url).status_code == 404, name
    for name in EDITORS:
        html = _html(client_for(_u(personas, name)).get(url))
        assert "data-stage-edit" in html and "data-item-add" in html and "data-ready" in html, name
        assert "data-discard" in html and "data-activate" in html


def test_the_version_page_query_count_stays_flat(world, personas, client_for, django_assert_max_num_queries):
    c = client_for(personas.alice)
    url = reverse("sales_playbook_detail", args=[world["v1"].pk])
    c.get(url)
    with django_assert_max_num_queries(12):
        assert c.get(url).status_code == 200
    c = client_for(personas.admin)
    url = reverse("sales_playbook_detail", args=[world["draft"].pk])
    c.get(url)
    with django_assert_max_num_queries(16):
        assert c.get(url).status_code == 200


def test_pages_speak_chinese_by_default_and_english_on_request(world, personas, client_for):
    url = reverse("sales_playbook_detail", args=[world["v1"].pk])
    html = _html(client_for(personas.alice).get(url))
    assert 'lang="zh-hans"' in html
    assert re.search(r"data-stage-name>需求分析<", html)
    draft_html = _html(
        client_for(personas.admin).get(reverse("sales_playbook_detail", args=[world["draft"].pk]))
    )
    assert "编辑基本信息" in draft_html and "审计记录" in draft_html  # UI text in Chinese
    personas.alice.language = "en"
    personas.alice.save()
    html = _html(client_for(personas.alice).get(url))
    assert 'lang="en"' in html
    assert re.search(r"data-stage-name>Needs analysis<", html) and "Site survey" in html
    assert "Exit criteria" in html or "data-exit" not in html


def test_the_menu_entry_is_for_administrators_and_directors(world, personas, client_for):
    home = reverse("sales_playbook_list")
    for name in EDITORS + READERS:
        html = _html(client_for(_u(personas, name)).get(home))
        assert (f'href="{home}"' in html.split("app-main")[0]) == (name in EDITORS), name


# --- editing a draft -----------------------------------------------------------------------------------


def _stage_post(prefix: str, **values) -> dict[str, str]:
    data = {
        "closing": "open",
        "code": "survey",
        "name": "现场勘察",
        "name_en": "Site visit",
        "probability": "15",
        "forecast_category": "pipeline",
        "stall_days": "20",
        "exit_criteria": "完成勘察报告",
    }
    data.update(values)
    return {f"{prefix}-{k}": v for k, v in data.items()}


def _item_post(prefix: str, **values) -> dict[str, str]:
    data = {"kind": "task", "label": "样机演示", "label_en": "Demo", "field": "", "required": "on"}
    data.update(values)
    return {f"{prefix}-{k}": v for k, v in data.items() if v is not None}


def test_an_editor_adds_a_stage_with_htmx(world, personas, client_for):
    draft = world["draft"]
    c = client_for(personas.dora)
    url = reverse("sales_playbook_stage_add", args=[draft.pk])
    r = c.get(url, **HTMX)
    assert r.status_code == 200 and "data-stage-form" in _html(r) and "<html" not in _html(r)
    r = c.post(url, _stage_post("new-stage"), **HTMX)
    assert r.status_code == 200 and r["HX-Retarget"] == "#playbook-editor"
    assert 'data-stage="survey"' in _html(r) and "data-flash" in _html(r)
    codes = list(draft.stages.order_by("order").values_list("code", flat=True))
    assert codes == ["qualify", "needs", "proposal", "negotiation", "survey", "won", "lost"]
    # the probability now goes down (70 → 15): the editor says so
    assert "data-problems" in _html(r)
    # bad input comes back as the form with its errors, in place
    r = c.post(url, _stage_post("new-stage", probability="120"), **HTMX)
    assert r.status_code == 200 and "HX-Retarget" not in r and "data-stage-form" in _html(r)
    assert _html(r).count("invalid-feedback") == 1
    r = c.post(url, _stage_post("new-stage", code="needs"), **HTMX)  # the service's rule, on its field
    assert "HX-Retarget" not in r
    assert re.search(r'data-form-field="code".*?invalid-feedback', _html(r), re.S)
    assert draft.stages.count() == 7


def test_an_editor_adds_and_changes_items_without_javascript(world, personas, client_for):
    draft = world["draft"]
    proposal = stage_of(draft, "proposal")
    c = client_for(personas.admin)
    url = reverse("sales_playbook_item_add", args=[draft.pk, proposal.pk])
    r = c.get(url)
    assert r.status_code == 200 and "<html" in _html(r) and "hx-post" not in _html(r)
    r = c.post(url, _item_post(f"new-item-{proposal.pk}"))
    assert r.status_code == 302 and r["Location"].endswith(f"#stage-{proposal.pk}")
    item = proposal.items.get(label="样机演示")
    assert item.required and item.kind == "task"
    r = c.post(url, _item_post(f"new-item-{proposal.pk}", kind="field", label="", field=""))
    assert r.status_code == 200 and "invalid-feedback" in _html(r)
    edit = reverse("sales_playbook_item_edit", args=[draft.pk, item.pk])
    r = c.post(edit, _item_post(f"item-{item.pk}", required=None, label="样机试用"), **HTMX)
    assert r.status_code == 200 and "样机试用" in _html(r)
    item.refresh_from_db()
    assert (item.label, item.required) == ("样机试用", False)
    r = c.post(reverse("sales_playbook_item_move", args=[draft.pk, item.pk]), {"direction": "up"}, **HTMX)
    assert r.status_code == 200
    assert list(proposal.items.order_by("order").values_list("label", flat=True))[1] == "样机试用"
    r = c.post(reverse("sales_playbook_item_delete", args=[draft.pk, item.pk]), **HTMX)
    assert r.status_code == 200 and not PlaybookItem.objects.filter(pk=item.pk).exists()


def test_an_editor_changes_moves_and_deletes_stages(world, personas, client_for):
    draft = world["draft"]
    c = client_for(personas.admin)
    needs = stage_of(draft, "needs")
    url = reverse("sales_playbook_stage_edit", args=[draft.pk, needs.pk])
    r = c.get(url, **HTMX)
    assert 'value="需求分析"' in _html(r)
    r = c.post(url, _stage_post(f"stage-{needs.pk}", code="needs", name="需求调研", probability="25"), **HTMX)
    assert r.status_code == 200
    needs.refresh_from_db()
    assert (needs.name, needs.probability, needs.stall_days) == ("需求调研", Decimal("25"), 20)
    r = c.post(reverse("sales_playbook_stage_move", args=[draft.pk, needs.pk]), {"direction": "up"}, **HTMX)
    assert list(draft.stages.order_by("order").values_list("code", flat=True))[:2] == ["needs", "qualify"]
    assert "data-problems" in _html(r)  # 25 then 10
    r = c.post(reverse("sales_playbook_stage_delete", args=[draft.pk, needs.pk]))
    assert r.status_code == 302 and not PlaybookStage.objects.filter(pk=needs.pk).exists()
    # the won stage: turning it open is refused with the reason
    won = stage_of(draft, "won")
    r = c.post(
        reverse("sales_playbook_stage_edit", args=[draft.pk, won.pk]),
        _stage_post(
            f"stage-{won.pk}", closing="won", code="won", name="赢单", probability="", forecast_category=""
        ),
        **HTMX,
    )
    assert r["HX-Retarget"] == "#playbook-editor"
    won.refresh_from_db()
    assert (won.probability, won.forecast_category, won.stall_days) == (Decimal("100"), "won", None)


def test_people_who_do_not_edit_cannot_change_anything(world, personas, client_for):
    draft, v1 = world["draft"], world["v1"]
    stage = stage_of(draft, "needs")
    item = stage.items.first()
    posts = [
        reverse("sales_playbook_create"),
        reverse("sales_playbook_edit", args=[draft.pk]),
        reverse("sales_playbook_delete", args=[draft.pk]),
        reverse("sales_playbook_copy", args=[v1.pk]),
        reverse("sales_playbook_activate", args=[draft.pk]),
        reverse("sales_playbook_migrate", args=[v1.pk]),
        reverse("sales_playbook_stage_add", args=[draft.pk]),
        reverse("sales_playbook_stage_edit", args=[draft.pk, stage.pk]),
        reverse("sales_playbook_stage_delete", args=[draft.pk, stage.pk]),
        reverse("sales_playbook_stage_move", args=[draft.pk, stage.pk]),
        reverse("sales_playbook_item_add", args=[draft.pk, stage.pk]),
        reverse("sales_playbook_item_edit", args=[draft.pk, item.pk]),
        reverse("sales_playbook_item_delete", args=[draft.pk, item.pk]),
        reverse("sales_playbook_item_move", args=[draft.pk, item.pk]),
    ]
    for user in (personas.alice, personas.bob, personas.charlie, world["tech"]):
        c = client_for(user)
        for url in posts:
            assert c.post(url, {"name": "x", "direction": "up"}).status_code == 403, (user, url)
    assert Playbook.objects.count() == 3 and draft.stages.count() == 6 and stage.items.count() == 2


def test_a_version_in_force_cannot_be_edited_through_the_screens(world, personas, client_for):
    v1 = world["v1"]
    needs = stage_of(v1, "needs")
    c = client_for(personas.admin)
    r = c.post(
        reverse("sales_playbook_stage_edit", args=[v1.pk, needs.pk]),
        _stage_post(f"stage-{needs.pk}", code="needs"),
        **HTMX,
    )
    assert r.status_code == 200 and "data-flash-error" in _html(r)
    r = c.post(reverse("sales_playbook_stage_delete", args=[v1.pk, needs.pk]))
    assert r.status_code == 302
    assert stage_of(v1, "needs").probability == Decimal("20")
    # a stage of another version is not found under this one
    other = stage_of(world["draft"], "needs")
    assert c.get(reverse("sales_playbook_stage_edit", args=[v1.pk, other.pk])).status_code == 302
    r = c.get(reverse("sales_playbook_stage_edit", args=[world["draft"].pk, needs.pk]))
    assert r.status_code == 404


# --- versions, activation, moving -----------------------------------------------------------------------


def test_an_editor_creates_renames_and_discards_a_draft(world, personas, client_for):
    c = client_for(personas.dora)
    engine = make_product_line("ENGINE", name="发动机")
    r = c.get(reverse("sales_playbook_create"), {"line": engine.pk})
    assert r.status_code == 200
    r = c.post(reverse("sales_playbook_create"), {"product_line": engine.pk, "name": ""})
    pb = Playbook.objects.get(product_line=engine)
    assert r.status_code == 302 and r["Location"] == reverse("sales_playbook_detail", args=[pb.pk])
    assert pb.stages.count() == 6 and pb.name == "发动机销售流程"  # copied from the default
    r = c.post(
        reverse("sales_playbook_edit", args=[pb.pk]),
        {"name": "发动机销售流程（试行）", "description": "试点"},
    )
    pb.refresh_from_db()
    assert r.status_code == 302 and pb.name == "发动机销售流程（试行）"
    r = c.post(reverse("sales_playbook_edit", args=[pb.pk]), {"name": ""})
    assert r.status_code == 200 and "invalid-feedback" in _html(r)
    r = c.post(reverse("sales_playbook_delete", args=[pb.pk]))
    assert r.status_code == 302 and not Playbook.objects.filter(pk=pb.pk).exists()
    r = c.post(reverse("sales_playbook_delete", args=[world["v1"].pk]))  # not a draft
    assert r.status_code == 302 and Playbook.objects.filter(pk=world["v1"].pk).exists()


def test_new_version_from_a_version_in_force(world, personas, client_for):
    r = client_for(personas.admin).post(reverse("sales_playbook_copy", args=[world["v1"].pk]))
    v3 = Playbook.objects.get(product_line=world["line"], version=3)
    assert r.status_code == 302 and r["Location"] == reverse("sales_playbook_detail", args=[v3.pk])
    assert v3.status == PlaybookStatus.DRAFT


def test_activation_confirms_then_retires_the_version_in_force(world, personas, client_for):
    draft, v1 = world["draft"], world["v1"]
    c = client_for(personas.dora)
    url = reverse("sales_playbook_activate", args=[draft.pk])
    r = c.get(url)
    html = _html(r)
    assert r.status_code == 200 and f'data-retires="{v1.pk}"' in html and "data-confirm" in html
    r = c.post(url)
    assert r.status_code == 302
    draft.refresh_from_db()
    v1.refresh_from_db()
    assert (draft.status, v1.status) == (PlaybookStatus.ACTIVE, PlaybookStatus.RETIRED)
    # the opportunity stays on v1, and v2's page offers to move it
    assert Opportunity.objects.get(pk=world["opp"].pk).playbook_id == v1.pk
    html = _html(c.get(reverse("sales_playbook_detail", args=[draft.pk])))
    assert f'data-older="{v1.pk}"' in html
    html = _html(c.get(reverse("sales_playbook_detail", args=[v1.pk])))
    assert f'data-move="{draft.pk}"' in html and "data-retired-note" in html
    assert c.get(url).status_code == 302  # no longer a draft


def test_a_draft_with_problems_is_not_activated(world, personas, client_for):
    draft = world["draft"]
    svc.playbook_stage_delete(actor=personas.admin, stage=stage_of(draft, "lost"))
    c = client_for(personas.admin)
    r = c.get(reverse("sales_playbook_activate", args=[draft.pk]))
    assert "data-problems" in _html(r) and "data-activate-confirm" not in _html(r)
    r = c.post(reverse("sales_playbook_activate", args=[draft.pk]))
    assert r.status_code == 400 and "data-error" in _html(r)
    draft.refresh_from_db()
    assert draft.status == PlaybookStatus.DRAFT


def test_moving_open_opportunities_with_a_stage_map(world, personas, client_for):
    draft, v1 = world["draft"], world["v1"]
    svc.playbook_stage_update(
        actor=personas.admin, stage=stage_of(draft, "needs"), values={"code": "analysis"}
    )
    svc.playbook_activate(actor=personas.admin, playbook=draft)
    c = client_for(personas.admin)
    url = reverse("sales_playbook_migrate", args=[v1.pk])
    r = c.get(url)
    html = _html(r)
    assert r.status_code == 200 and 'data-total="1"' in html and "data-unmapped" in html
    needs_v1, analysis = stage_of(v1, "needs"), stage_of(draft, "analysis")
    field = f"stage_{needs_v1.pk}"
    r = c.post(url, {"target": draft.pk})  # needs is not mapped: refused with the reason on the row
    assert r.status_code == 400 and "invalid-feedback" in _html(r)
    assert Opportunity.objects.get(pk=world["opp"].pk).playbook_id == v1.pk
    r = c.get(url, {"target": draft.pk, field: analysis.pk, "preview": "1"})
    assert 'data-total="1"' in _html(r) and "data-unmapped" not in _html(r)
    r = c.post(url, {"target": draft.pk, field: analysis.pk})
    assert r.status_code == 302 and r["Location"] == reverse("sales_playbook_detail", args=[draft.pk])
    opp = Opportunity.objects.get(pk=world["opp"].pk)
    assert (opp.playbook_id, opp.stage_id) == (draft.pk, analysis.pk)
    for name in READERS:
        assert client_for(_u(personas, name)).get(url).status_code == 403
