"""The pipeline API (/api/v1/sales/pipeline/): the same figures as the pages, scoped per caller; the
move route's gate; bad parameters answer 422, never a 500."""

from __future__ import annotations

import pytest

from steelyard.sales.models import Opportunity
from steelyard.sales.services.risks import risks_refresh
from steelyard.sales.testing import stage_of
from steelyard.sales.tests.test_pipeline_funnel import PERIOD, _fresh_cache, world  # noqa: F401  (fixtures)

BASE = "/api/v1/sales/pipeline"


def get(client, path, status=200, **params):
    r = client.get(f"{BASE}/{path}", params)
    assert r.status_code == status, r.content
    return r.json()


def ids(items) -> set[int]:
    return {x["id"] for x in items}


def test_board_per_persona(world, client_for):  # noqa: F811
    alice = get(client_for(world.p.alice), "board")
    assert alice["playbook"]["id"] == world.pb.pk
    cols = {c["stage"]["code"]: c for c in alice["columns"]}
    assert [c["stage"]["code"] for c in alice["columns"]] == [
        "qualify",
        "needs",
        "proposal",
        "negotiation",
        "won",
        "lost",
    ]
    assert (cols["needs"]["count"], cols["needs"]["amount"]) == (1, "200.00")
    assert ids(cols["qualify"]["cards"]) == {world.E.pk}
    assert cols["qualify"]["cards"][0]["movable"] is True
    bob = get(client_for(world.p.bob), "board", owner=world.p.alice.pk)
    assert sum(c["count"] for c in bob["columns"]) == 3
    charlie = get(client_for(world.p.charlie), "board")
    assert {card["id"] for c in charlie["columns"] for card in c["cards"]} == {world.H.pk}


def test_board_column_pages(world, client_for):  # noqa: F811
    stage = stage_of(world.pb, "qualify")
    body = get(client_for(world.p.alice), f"board/columns/{stage.pk}/cards", offset=0, limit=1)
    assert ids(body["cards"]) == {world.E.pk} and body["has_more"] is False
    get(client_for(world.p.alice), "board/columns/999999/cards", status=404)


def test_a_rep_may_not_filter_by_owner(world, client_for):  # noqa: F811
    body = get(client_for(world.p.alice), "board", status=422, owner=world.p.bob.pk)
    assert body["error"]["fields"][0]["field"] == "query.owner"
    get(client_for(world.p.alice), "funnel", status=422, org_unit=world.p.team_a.pk)


def test_bad_parameters_answer_422(world, client_for):  # noqa: F811
    c = client_for(world.p.bob)
    get(c, "board", status=422, close_month="2026-13")
    get(c, "board", status=422, cap=1000)
    get(c, "funnel", status=422, date_from="2026-06-01", date_to="2026-01-01")
    get(c, "funnel", status=422, basis="sideways")
    get(c, "outcomes", status=422, dimension="colour")
    get(c, "deals", status=422, metric="reached", stage="nope", **PERIOD)
    get(c, "risks", status=422, flag="nope")


def test_move_through_the_gate(world, client_for):  # noqa: F811
    c = client_for(world.p.alice)
    proposal = stage_of(world.pb, "proposal")
    r = c.post(
        f"{BASE}/move", {"opportunity": world.B.pk, "to_stage": proposal.pk}, content_type="application/json"
    )
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "stage_gate"
    assert [f["message"] for f in err["fields"]] == ["关键决策人", "现场调研"]
    r = c.post(
        f"{BASE}/move",
        {"opportunity": world.B.pk, "to_stage": proposal.pk, "request_approval": True, "reason": "急单"},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["moved"] is False and r.json()["approval_id"]
    needs = stage_of(world.pb, "needs")
    r = c.post(
        f"{BASE}/move", {"opportunity": world.E.pk, "to_stage": needs.pk}, content_type="application/json"
    )
    assert r.status_code == 200, r.content
    assert r.json()["moved"] is True and r.json()["card"]["stage_id"] == needs.pk
    lost = stage_of(world.pb, "lost")
    r = c.post(
        f"{BASE}/move", {"opportunity": world.A.pk, "to_stage": lost.pk}, content_type="application/json"
    )
    assert r.status_code == 400
    assert r.json()["error"]["fields"][0]["field"] == "close_reason"


def test_move_is_scoped(world, client_for):  # noqa: F811
    needs = stage_of(world.pb, "needs")
    r = client_for(world.p.charlie).post(
        f"{BASE}/move", {"opportunity": world.E.pk, "to_stage": needs.pk}, content_type="application/json"
    )
    assert r.status_code == 404
    r = client_for(world.p.alice).post(
        f"{BASE}/move", {"opportunity": world.E.pk, "to_stage": "x"}, content_type="application/json"
    )
    assert r.status_code == 422
    assert Opportunity.objects.get(pk=world.E.pk).stage.code == "qualify"


def test_funnel_figures_per_persona(world, client_for):  # noqa: F811
    bob = client_for(world.p.bob)
    funnel = get(bob, "funnel", **PERIOD)
    assert funnel["total"] == {"count": 3, "amount": "350.00"}
    assert funnel["period"]["basis"] == "created"
    conv = get(bob, "conversion", **PERIOD)
    assert {s["code"]: s["reached"] for s in conv["stages"]}["needs"] == 4
    assert conv["overall_pct"] == "20.0"
    vel = get(bob, "velocity", **PERIOD)
    assert {s["code"]: s["avg_days"] for s in vel["stages"]}["qualify"] == "6.3"
    out = get(bob, "outcomes", dimension="owner", **PERIOD)
    assert out["total"]["win_rate_pct"] == "66.7" and out["total"]["cycle_days"] == "40.0"
    assert [r["key"] for r in out["rows"]] == [world.p.alice.pk]
    charlie = client_for(world.p.charlie)
    assert get(charlie, "funnel", **PERIOD)["total"]["count"] == 1
    assert get(charlie, "outcomes", **PERIOD)["total"]["won_count"] == 0


def test_deals_drill_down_matches_the_figures(world, client_for):  # noqa: F811
    c = client_for(world.p.bob)
    body = get(c, "deals", metric="reached", stage="needs", **PERIOD)
    assert ids(body["items"]) == {world.A.pk, world.B.pk, world.C.pk, world.D.pk}
    body = get(c, "deals", metric="won", **PERIOD)
    assert ids(body["items"]) == {world.C.pk, world.G.pk}
    first = get(c, "deals", metric="closed", limit=2, **PERIOD)
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = get(c, "deals", metric="closed", limit=2, cursor=first["next_cursor"], **PERIOD)
    assert ids(first["items"]) | ids(rest["items"]) == {world.C.pk, world.D.pk, world.G.pk}
    assert get(client_for(world.p.charlie), "deals", metric="won", **PERIOD)["items"] == []


def test_risks_per_persona(world, client_for):  # noqa: F811
    risks_refresh()
    bob = client_for(world.p.bob)
    assert ids(get(bob, "risks")["items"]) == {world.A.pk, world.B.pk, world.E.pk}
    assert ids(get(bob, "risks", flag="tasks_missing")["items"]) == {world.B.pk}
    summary = get(bob, "risks/summary")
    assert summary["rows"][0]["owner_id"] == world.p.alice.pk
    assert summary["rows"][0]["flags"]["single_threaded"] == 3
    assert ids(get(client_for(world.p.charlie), "risks")["items"]) == {world.H.pk}
    assert ids(get(client_for(world.p.alice), "risks")["items"]) == {world.A.pk, world.B.pk, world.E.pk}


@pytest.mark.parametrize("path", ["board", "funnel", "conversion", "velocity", "outcomes", "deals", "risks"])
def test_anonymous_callers_are_refused(client, db, path):
    assert client.get(f"{BASE}/{path}").status_code == 401
