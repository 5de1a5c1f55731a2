"""The playbook API with every persona: reading versions, building a draft (stages, items, order),
activating it and moving open opportunities; 400 with the fields named when a rule is broken."""

from __future__ import annotations

import json

import pytest

from steelyard.core.testing.personas import _user
from steelyard.orders.testing import make_product_line
from steelyard.sales.models import Opportunity, Playbook, PlaybookStatus
from steelyard.sales.services import playbooks as svc
from steelyard.sales.testing import make_opportunity, make_playbook, stage_of

pytestmark = pytest.mark.django_db

BASE = "/api/v1/sales/playbooks"
EDITORS = ("admin", "dora")
READERS = ("alice", "bob", "charlie")


def _send(client, method, url, payload=None):
    return getattr(client, method)(url, data=json.dumps(payload or {}), content_type="application/json")


def _fields(r) -> dict[str, str]:
    return {f["field"]: f["message"] for f in r.json()["error"]["fields"]}


@pytest.fixture
def world(personas):
    Playbook.objects.all().delete()
    line = make_product_line("CRANE", name="起重机")
    v1 = make_playbook(line)
    default = make_playbook(None)
    opp = make_opportunity(personas.alice, line=line, playbook=v1, stage="needs")
    draft = svc.playbook_create(actor=personas.admin, product_line=line)
    tech = _user("tom", personas.shanghai, "technician")
    return {"line": line, "v1": v1, "default": default, "draft": draft, "opp": opp, "tech": tech}


def test_versions_are_listed_for_sales_and_drafts_for_their_editors(world, personas, client_for):
    for name in EDITORS + READERS:
        r = client_for(getattr(personas, name)).get(BASE)
        assert r.status_code == 200, name
        ids = {p["id"] for p in r.json()["items"]}
        assert {world["v1"].pk, world["default"].pk} <= ids
        assert (world["draft"].pk in ids) == (name in EDITORS), name
    r = client_for(world["tech"]).get(BASE)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = client_for(personas.admin).get(BASE, {"line": "default"})
    assert [p["id"] for p in r.json()["items"]] == [world["default"].pk]
    r = client_for(personas.admin).get(BASE, {"status": "bogus"})
    assert r.status_code == 400 and "status" in _fields(r)
    body = client_for(personas.admin).get(BASE, {"limit": 1}).json()
    assert len(body["items"]) == 1 and body["next_cursor"]


def test_a_version_comes_with_stages_items_and_open_counts(world, personas, client_for):
    url = f"{BASE}/{world['v1'].pk}"
    for name in EDITORS + READERS:
        assert client_for(getattr(personas, name)).get(url).status_code == 200, name
    body = client_for(personas.alice).get(url).json()
    assert [s["code"] for s in body["stages"]] == [
        "qualify",
        "needs",
        "proposal",
        "negotiation",
        "won",
        "lost",
    ]
    needs = body["stages"][1]
    assert (needs["probability"], needs["forecast_category"], needs["stall_days"]) == (
        "20.00",
        "pipeline",
        30,
    )
    assert [(i["label"], i["kind"], i["required"]) for i in needs["items"]] == [
        ("关键决策人", "field", True),
        ("现场调研", "task", True),
    ]
    assert body["open_opportunities"] == 1 and body["problems"] == {}
    assert client_for(personas.charlie).get(url).json()["open_opportunities"] == 0  # not his
    for name in READERS:
        assert client_for(getattr(personas, name)).get(f"{BASE}/{world['draft'].pk}").status_code == 404
    assert client_for(world["tech"]).get(url).status_code == 403
    assert client_for(personas.admin).get(f"{BASE}/999999").status_code == 404


def test_only_editors_write(world, personas, client_for):
    d, v1 = world["draft"], world["v1"]
    stage = stage_of(d, "needs")
    item = stage.items.first()
    calls = [
        ("post", BASE, {}),
        ("post", f"{BASE}/{v1.pk}/copy", {}),
        ("patch", f"{BASE}/{d.pk}", {"name": "x"}),
        ("delete", f"{BASE}/{d.pk}", None),
        ("post", f"{BASE}/{d.pk}/stages", {"code": "x", "name": "x", "probability": 10}),
        ("patch", f"{BASE}/{d.pk}/stages/{stage.pk}", {"probability": 5}),
        ("delete", f"{BASE}/{d.pk}/stages/{stage.pk}", None),
        ("put", f"{BASE}/{d.pk}/stages/order", {"stage_ids": []}),
        ("post", f"{BASE}/{d.pk}/stages/{stage.pk}/items", {"label": "x"}),
        ("put", f"{BASE}/{d.pk}/stages/{stage.pk}/items/order", {"item_ids": []}),
        ("patch", f"{BASE}/{d.pk}/items/{item.pk}", {"required": False}),
        ("delete", f"{BASE}/{d.pk}/items/{item.pk}", None),
        ("post", f"{BASE}/{d.pk}/activate", {}),
        ("post", f"{BASE}/{v1.pk}/migrate", {"target_id": d.pk}),
    ]
    for user in (personas.alice, personas.bob, personas.charlie, world["tech"]):
        c = client_for(user)
        for method, url, payload in calls:
            r = _send(c, method, url, payload)
            assert r.status_code == 403, (user, method, url, r.content)
            assert r.json()["error"]["code"] == "forbidden"
    assert Playbook.objects.count() == 3 and d.stages.count() == 6 and stage.items.count() == 2


def test_an_editor_builds_a_draft_and_activates_it(world, personas, client_for):
    c = client_for(personas.dora)
    r = _send(c, "post", BASE, {"product_line_id": world["line"].pk, "name": "起重机销售流程 2027"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["version"], body["status"], len(body["stages"])) == (3, "draft", 6)
    url = f"{BASE}/{body['id']}"
    # a bad stage: 400 naming each field
    r = _send(c, "post", f"{url}/stages", {"code": "needs", "name": "", "probability": 150})
    assert r.status_code == 400
    assert set(_fields(r)) == {"code", "name", "probability"}
    r = _send(c, "post", f"{url}/stages", {"code": "x", "name": "x", "probability": "abc"})
    assert r.status_code == 422  # not a number: a schema error
    r = _send(c, "post", f"{url}/stages", {"code": "x", "unknown": 1})
    assert r.status_code == 422
    r = _send(
        c,
        "post",
        f"{url}/stages",
        {
            "code": "quotation",
            "name": "商务报价",
            "name_en": "Quotation",
            "probability": 55,
            "stall_days": 21,
        },
    )
    assert r.status_code == 201
    codes = [s["code"] for s in r.json()["stages"]]
    assert codes == ["qualify", "needs", "proposal", "negotiation", "quotation", "won", "lost"]
    assert "stages.quotation.probability" in r.json()["problems"]  # 70 then 55
    ids = {s["code"]: s["id"] for s in r.json()["stages"]}
    order = [ids[c] for c in ("qualify", "needs", "proposal", "quotation", "negotiation", "won", "lost")]
    r = _send(c, "put", f"{url}/stages/order", {"stage_ids": order})
    assert r.status_code == 200 and r.json()["problems"] == {}
    r = _send(c, "put", f"{url}/stages/order", {"stage_ids": order[:-1]})
    assert r.status_code == 400 and "stage_ids" in _fields(r)
    # items
    q = ids["quotation"]
    r = _send(c, "post", f"{url}/stages/{q}/items", {"kind": "field", "field": "nope"})
    assert r.status_code == 400 and set(_fields(r)) == {"field"}
    r = _send(c, "post", f"{url}/stages/{q}/items", {"kind": "field", "field": "quote", "required": True})
    assert r.status_code == 201
    quotation = next(s for s in r.json()["stages"] if s["code"] == "quotation")
    assert [(i["kind"], i["field"], i["required"]) for i in quotation["items"]] == [("field", "quote", True)]
    item_id = quotation["items"][0]["id"]
    r = _send(c, "patch", f"{url}/items/{item_id}", {"label_en": "Formal quote"})
    assert r.status_code == 200
    r = _send(c, "post", f"{url}/stages/{ids['won']}/items", {"label": "合同"})
    assert r.status_code == 400 and "stage" in _fields(r)
    r = _send(c, "patch", f"{url}/stages/{ids['won']}", {"probability": 90})
    assert r.status_code == 400 and "probability" in _fields(r)
    r = _send(c, "patch", url, {"description": "加入商务报价阶段"})
    assert r.status_code == 200 and r.json()["description"] == "加入商务报价阶段"
    # activate: v1 retires, the opportunity stays on v1
    r = _send(c, "post", f"{url}/activate")
    assert r.status_code == 200 and r.json()["status"] == "active"
    world["v1"].refresh_from_db()
    assert world["v1"].status == PlaybookStatus.RETIRED
    assert Opportunity.objects.get(pk=world["opp"].pk).playbook_id == world["v1"].pk
    r = _send(c, "post", f"{url}/activate")
    assert r.status_code == 400
    r = _send(c, "patch", f"{url}/stages/{ids['needs']}", {"probability": 21})
    assert r.status_code == 400 and r.json()["error"]["message"] == str(svc.ERR_LOCKED)


def test_activation_is_refused_with_the_problems(world, personas, client_for):
    c = client_for(personas.admin)
    d = world["draft"]
    r = _send(c, "delete", f"{BASE}/{d.pk}/stages/{stage_of(d, 'won').pk}")
    assert r.status_code == 200 and r.json()["problems"] == {"stages": [str(svc.ERR_NO_WON)]}
    r = _send(c, "post", f"{BASE}/{d.pk}/activate")
    assert r.status_code == 400 and _fields(r) == {"stages": str(svc.ERR_NO_WON)}


def test_copy_and_discard(world, personas, client_for):
    c = client_for(personas.admin)
    r = _send(c, "post", f"{BASE}/{world['default'].pk}/copy", {"product_line_id": None})
    assert r.status_code == 201 and (r.json()["product_line_id"], r.json()["version"]) == (None, 2)
    r = _send(c, "post", f"{BASE}/{world['v1'].pk}/copy", {})
    assert r.status_code == 201 and (r.json()["product_line_id"], r.json()["version"]) == (
        world["line"].pk,
        3,
    )
    r = _send(c, "post", f"{BASE}/{world['v1'].pk}/copy", {"product_line_id": 999999})
    assert r.status_code == 400 and "product_line_id" in _fields(r)
    assert _send(c, "delete", f"{BASE}/{world['draft'].pk}").status_code == 204
    assert _send(c, "delete", f"{BASE}/{world['v1'].pk}").status_code == 400  # not a draft


def test_migrate_previews_then_moves(world, personas, client_for):
    c = client_for(personas.admin)
    d, v1 = world["draft"], world["v1"]
    svc.playbook_stage_update(actor=personas.admin, stage=stage_of(d, "needs"), values={"code": "analysis"})
    url = f"{BASE}/{v1.pk}/migrate"
    r = _send(c, "post", url, {"target_id": d.pk})
    assert r.status_code == 400 and "target_id" in _fields(r)  # the draft is not in force yet
    svc.playbook_activate(actor=personas.admin, playbook=d)
    needs = stage_of(v1, "needs")
    r = _send(c, "post", url, {"target_id": d.pk, "dry_run": True})
    assert r.status_code == 400 and f"stage_map.{needs.pk}" in _fields(r)
    mapping = {str(needs.pk): stage_of(d, "analysis").pk}
    r = _send(c, "post", url, {"target_id": d.pk, "stage_map": mapping, "dry_run": True})
    assert r.status_code == 200 and (r.json()["total"], r.json()["moved"]) == (1, 0)
    row = next(x for x in r.json()["rows"] if x["stage_code"] == "needs")
    assert (row["count"], row["target_stage_id"]) == (1, stage_of(d, "analysis").pk)
    assert Opportunity.objects.get(pk=world["opp"].pk).playbook_id == v1.pk
    r = _send(c, "post", url, {"target_id": d.pk, "stage_map": mapping})
    assert r.status_code == 200 and r.json()["moved"] == 1
    assert Opportunity.objects.get(pk=world["opp"].pk).stage == stage_of(d, "analysis")
    r = _send(c, "post", url, {"target_id": 999999})
    assert r.status_code == 400 and "target_id" in _fields(r)
