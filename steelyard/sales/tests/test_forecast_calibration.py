"""Recalibrated stage probabilities against a hand-computed example; the page and API per persona.

Product line CRANE, playbook v1 (retired) and v2 (active; proposal configured at 50 %). Closed
opportunities and the stages they reached (stage visits, matched by code across both versions):

    o1 won  (v1)  qualify → needs → proposal → negotiation → won
    o2 won  (v2)  qualify → proposal → negotiation → won            (skipped needs)
    o3 lost (v1)  qualify → needs → lost
    o4 lost (v2)  qualify → needs → proposal → lost
    o5 lost (v2)  qualify → lost                                     (charlie's)
    not counted: o6 open (qualify → needs), o7 won on another line, o8 lost three years ago.

    stage        reached  won  recalibrated  configured (v2)
    qualify         5      2     40.0 %         10 %
    needs           3      1     33.3 %         20 %
    proposal        3      2     66.7 %         50 %
    negotiation     2      2    100.0 %         70 %

alice sees o1–o4 only: qualify 4 reached, 2 won → 50.0 %.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from steelyard.orders.testing import make_product_line
from steelyard.sales.models import PlaybookStatus, StageVisit
from steelyard.sales.selectors import forecast as sel
from steelyard.sales.testing import make_opportunity, make_playbook, stage_of

pytestmark = pytest.mark.django_db


def path(opp, playbook, codes):
    t0 = timezone.now() - dt.timedelta(days=100)
    for i, code in enumerate(codes):
        StageVisit.objects.create(
            opportunity=opp, stage=stage_of(playbook, code), entered_at=t0 + dt.timedelta(days=i)
        )


@pytest.fixture
def history(personas):
    p = personas
    line = make_product_line("CRANE", name="起重机")
    v1 = make_playbook(line, version=1, status=PlaybookStatus.RETIRED, items=False)
    v2 = make_playbook(line, version=2, items=False)
    v2.stages.filter(code="proposal").update(probability=Decimal("50"))
    recent = timezone.localdate() - dt.timedelta(days=30)

    def closed(owner, pb, codes, stage, **kw):
        opp = make_opportunity(
            owner, line=kw.pop("line", line), playbook=pb, stage=stage, close=kw.pop("close", recent), **kw
        )
        path(opp, pb, codes)
        return opp

    closed(p.alice, v1, ["qualify", "needs", "proposal", "negotiation"], "won")
    closed(p.alice, v2, ["qualify", "proposal", "negotiation"], "won")
    closed(p.alice, v1, ["qualify", "needs"], "lost")
    closed(p.alice, v2, ["qualify", "needs", "proposal"], "lost")
    closed(p.charlie, v2, ["qualify"], "lost")
    opp = make_opportunity(p.alice, line=line, playbook=v2, stage="needs")
    path(opp, v2, ["qualify"])
    engine = make_product_line("ENGINE", name="发动机")
    closed(
        p.alice, make_playbook(engine), ["qualify", "needs", "proposal", "negotiation"], "won", line=engine
    )
    closed(p.alice, v1, ["qualify", "needs", "proposal"], "lost", close=recent - dt.timedelta(days=3 * 365))
    return {"line": line, "engine": engine, "v2": v2}


def by_code(result):
    return {s.code: (s.reached, s.won, s.recalibrated, s.configured) for s in result.stages}


def test_recalibrated_probabilities_match_the_hand_computed_example(personas, history):
    result = sel.forecast_calibration(personas.admin, product_line=history["line"])
    assert by_code(result) == {
        "qualify": (5, 2, Decimal("40.0"), Decimal("10.00")),
        "needs": (3, 1, Decimal("33.3"), Decimal("20.00")),
        "proposal": (3, 2, Decimal("66.7"), Decimal("50.00")),
        "negotiation": (2, 2, Decimal("100.0"), Decimal("70.00")),
    }
    assert [s.code for s in result.stages] == ["qualify", "needs", "proposal", "negotiation"]
    assert (result.closed, result.won, result.win_rate) == (5, 2, Decimal("40.0"))
    assert result.playbook == history["v2"]
    proposal = next(s for s in result.stages if s.code == "proposal")
    assert proposal.lost == 1 and proposal.difference == Decimal("16.7")


def test_the_sample_period_and_the_viewer(personas, history):
    everything = sel.forecast_calibration(personas.admin, product_line=history["line"], closed_months=0)
    assert by_code(everything)["qualify"][:2] == (6, 2)  # o8, closed three years ago, counts too
    alice = sel.forecast_calibration(personas.alice, product_line=history["line"])
    assert by_code(alice)["qualify"][:3] == (4, 2, Decimal("50.0"))
    charlie = sel.forecast_calibration(personas.charlie, product_line=history["line"])
    assert by_code(charlie)["qualify"][:3] == (1, 0, Decimal("0.0"))
    assert by_code(charlie)["needs"][:3] == (0, 0, None)
    team_c = sel.forecast_calibration(personas.admin, product_line=history["line"], unit=personas.team_c)
    assert by_code(team_c)["qualify"][:2] == (1, 0)


def test_a_stage_only_in_an_earlier_version_is_listed_after(personas, history):
    v1 = history["line"].playbooks.get(version=1)
    old = v1.stages.get(code="needs")
    old.code = "survey"
    old.save()
    result = sel.forecast_calibration(personas.admin, product_line=history["line"])
    codes = by_code(result)
    assert codes["needs"][:2] == (1, 0)  # o4 reached v2's needs
    assert codes["survey"] == (2, 1, Decimal("50.0"), None)
    assert result.stages[-1].code == "survey"


def test_calibration_page_per_persona(personas, history, client_for):
    p = personas
    url = "/sales/forecast/calibration/"
    admin = client_for(p.admin).get(url, {"product_line": history["line"].pk})
    assert admin.status_code == 200
    html = admin.content.decode()
    assert "40.0%" in html and "66.7%" in html and 'data-chart="calibration"' in html
    assert f"product_line={history['line'].pk}" in html  # the samples drill to the opportunity list
    alice = client_for(p.alice).get(url, {"product_line": history["line"].pk}).content.decode()
    assert "50.0%" in alice
    for user in (p.bob, p.charlie, p.dora):
        assert client_for(user).get(url).status_code == 200
    empty = client_for(p.bob).get(
        url, {"product_line": history["engine"].pk, "unit": p.team_a.pk, "closed": 12}
    )
    assert empty.status_code == 200


def test_calibration_api_per_persona(personas, history, client_for):
    p = personas
    url = "/api/v1/sales/forecast/calibration"
    body = client_for(p.admin).get(url, {"product_line": history["line"].pk}).json()
    stages = {s["code"]: s for s in body["stages"]}
    assert stages["qualify"] == {
        "code": "qualify",
        "name": "线索确认",
        "order": 1,
        "configured": "10.00",
        "recalibrated": "40.0",
        "reached": 5,
        "won": 2,
        "lost": 3,
    }
    assert body["win_rate"] == "40.0" and body["playbook_id"] == history["v2"].pk
    alice = client_for(p.alice).get(url, {"product_line": history["line"].pk}).json()
    assert {s["code"]: s["reached"] for s in alice["stages"]}["qualify"] == 4
    charlie = client_for(p.charlie).get(url, {"product_line": history["line"].pk}).json()
    assert charlie["closed"] == 1
    assert client_for(p.bob).get(url, {"product_line": 99999}).status_code == 422
    assert client_for(p.bob).get(url, {"closed": 7}).status_code == 422
