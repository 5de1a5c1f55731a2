"""Tier models over the API: reads for everyone signed in, writes / preview / run for administrators
(403 for alice, bob, charlie, dora); field errors in the one error format; runs with a scoped matrix and
keyset-paginated, scoped assessments."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from steelyard.core.models import Job
from steelyard.orders.testing import make_product_line
from steelyard.tiering.models import Factor, Tier, TierModel
from steelyard.tiering.services import models_admin as svc
from steelyard.tiering.tests.models_admin_support import default_model, ensure_defaults, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _shipped_defaults(db):
    ensure_defaults()


API = "/api/v1/tiers/models"

TIERS = [
    {"code": "a", "name": "甲", "rank": 1, "min_score": "60"},
    {"code": "b", "name": "乙", "rank": 2, "min_score": "0"},
]
FACTORS = [{"code": "revenue_12m", "weight": "100", "scoring": "bands", "bands": [[0, 0], [1000000, 1]]}]


def _send(client, method, url, payload=None):
    return getattr(client, method)(url, data=json.dumps(payload or {}), content_type="application/json")


def _fields(response) -> dict[str, str]:
    body = response.json()
    return {f["field"]: f["message"] for f in body["error"]["fields"]}


# --- access -------------------------------------------------------------------------------------------


def _writes(model):
    return [
        ("post", API, {"code": "x", "name": "x"}),
        ("patch", f"{API}/{model.pk}", {"name": "改名"}),
        ("delete", f"{API}/{model.pk}", None),
        ("put", f"{API}/{model.pk}/tiers", {"tiers": TIERS}),
        ("put", f"{API}/{model.pk}/factors", {"factors": FACTORS}),
        ("post", f"{API}/{model.pk}/activate", None),
        ("post", f"{API}/{model.pk}/deactivate", None),
        ("post", f"{API}/{model.pk}/copy", {"product_line_id": 1}),
        ("post", f"{API}/{model.pk}/preview", {"weights": {"revenue_12m": "40"}}),
        ("post", f"{API}/{model.pk}/run", None),
    ]


@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "dora"])
def test_writes_are_403_for_everyone_but_administrators(personas, client_for, who):
    client = client_for(getattr(personas, who))
    model = default_model()
    for method, url, payload in _writes(model):
        response = _send(client, method, url, payload)
        assert response.status_code == 403, (method, url, response.content)
        assert response.json()["error"]["code"] == "forbidden"
    model.refresh_from_db()
    assert model.is_active and model.name == "客户分级（全局）" and model.tiers.count() == 4
    assert not Job.objects.exists()


@pytest.mark.parametrize("who", ["admin", "alice", "bob", "charlie", "dora"])
def test_reads_are_open_to_everyone_signed_in(personas, client_for, who):
    world = make_run(personas)
    client = client_for(getattr(personas, who))
    listing = client.get(API)
    assert listing.status_code == 200
    assert [m["code"] for m in listing.json()["items"]] == ["global"]
    detail = client.get(f"{API}/{world.model.pk}").json()
    assert [t["code"] for t in detail["tiers"]] == ["strategic", "key", "regular", "potential"]
    assert len(detail["factors"]) == 10
    assert client.get(f"{API}/runs").status_code == 200
    assert client.get(f"{API}/runs/{world.run.pk}").status_code == 200
    assert client.get(f"{API}/runs/{world.run.pk}/assessments").status_code == 200


def test_anonymous_gets_401(client):
    assert client.get(API).status_code == 401


# --- CRUD ----------------------------------------------------------------------------------------------


def test_admin_creates_updates_sets_and_deletes(personas, client_for):
    client = client_for(personas.admin)
    line = make_product_line("CRANE", name="起重机")
    created = _send(
        client,
        "post",
        API,
        {
            "code": "cranes",
            "name": "起重机分级",
            "product_line_id": line.pk,
            "tiers": TIERS,
            "factors": FACTORS,
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["product_line_id"] == line.pk and not body["is_active"]
    assert [t["code"] for t in body["tiers"]] == ["a", "b"]
    pk = body["id"]

    patched = _send(client, "patch", f"{API}/{pk}", {"name": "起重机客户分级", "hysteresis_runs": 3})
    assert patched.status_code == 200 and patched.json()["hysteresis_runs"] == 3

    tiers = [{**TIERS[0], "min_score": "70"}, TIERS[1]]
    assert (
        _send(client, "put", f"{API}/{pk}/tiers", {"tiers": tiers}).json()["tiers"][0]["min_score"] == "70.00"
    )
    factors = [
        {**FACTORS[0], "weight": "80"},
        {"code": "strategic_fit", "weight": "20", "scoring": "linear", "lower": 0, "upper": 5},
    ]
    out = _send(client, "put", f"{API}/{pk}/factors", {"factors": factors}).json()
    assert {f["code"]: f["weight"] for f in out["factors"]} == {
        "revenue_12m": "80.00",
        "strategic_fit": "20.00",
    }

    assert _send(client, "post", f"{API}/{pk}/activate").json()["is_active"] is True
    assert _send(client, "post", f"{API}/{pk}/deactivate").json()["is_active"] is False
    assert _send(client, "delete", f"{API}/{pk}").status_code == 204
    assert not TierModel.objects.filter(pk=pk).exists()


def test_copy_for_a_product_line(personas, client_for):
    client = client_for(personas.admin)
    line = make_product_line("ENGINE", name="发动机")
    response = _send(client, "post", f"{API}/{default_model().pk}/copy", {"product_line_id": line.pk})
    assert response.status_code == 201
    assert response.json()["product_line_id"] == line.pk and len(response.json()["factors"]) == 10
    unknown = _send(client, "post", f"{API}/{default_model().pk}/copy", {"product_line_id": 999999})
    assert unknown.status_code == 400 and "product_line_id" in _fields(unknown)


# --- validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tiers", "field"),
    [
        ([{**TIERS[0], "min_score": "0"}, TIERS[1]], "tiers.1.min_score"),
        ([TIERS[0], {**TIERS[1], "min_score": "10"}], "tiers.1.min_score"),
        ([TIERS[0], {**TIERS[1], "rank": 3}], "tiers.1.rank"),
        ([TIERS[0], {**TIERS[1], "code": "a"}], "tiers.1.code"),
    ],
)
def test_bad_tiers_are_400_with_the_field(personas, client_for, tiers, field):
    response = _send(client_for(personas.admin), "put", f"{API}/{default_model().pk}/tiers", {"tiers": tiers})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in _fields(response)
    assert default_model().tiers.count() == 4


@pytest.mark.parametrize(
    ("factors", "field"),
    [
        ([{**FACTORS[0], "weight": "-1"}], "factors.0.weight"),
        ([{**FACTORS[0], "bands": [[5, 0], [1, 1]]}], "factors.0.bands.1"),
        ([{**FACTORS[0], "bands": [[0, 2]]}], "factors.0.bands.0"),
        ([{**FACTORS[0], "scoring": "linear", "lower": 10, "upper": 1}], "factors.0.upper"),
        ([{**FACTORS[0], "code": "nope"}], "factors.0.code"),
    ],
)
def test_bad_factors_are_400_with_the_field(personas, client_for, factors, field):
    response = _send(
        client_for(personas.admin), "put", f"{API}/{default_model().pk}/factors", {"factors": factors}
    )
    assert response.status_code == 400 and field in _fields(response)
    assert default_model().factors.count() == 10


def test_malformed_payloads_are_422(personas, client_for):
    client = client_for(personas.admin)
    response = _send(client, "put", f"{API}/{default_model().pk}/tiers", {"tiers": [{"code": "a"}]})
    assert response.status_code == 422 and response.json()["error"]["fields"]
    response = _send(
        client, "put", f"{API}/{default_model().pk}/factors", {"factors": [{"code": "x", "weight": "heavy"}]}
    )
    assert response.status_code == 422


def test_activation_conflict_is_400_naming_the_other_model(personas, client_for):
    client = client_for(personas.admin)
    created = _send(
        client, "post", API, {"code": "other", "name": "另一个", "tiers": TIERS, "factors": FACTORS}
    ).json()
    response = _send(client, "post", f"{API}/{created['id']}/activate")
    assert response.status_code == 400
    assert "客户分级（全局）" in _fields(response)["is_active"]
    response = _send(
        client,
        "post",
        API,
        {"code": "third", "name": "三", "tiers": TIERS, "factors": FACTORS, "is_active": True},
    )
    assert response.status_code == 400 and "is_active" in _fields(response)
    assert not TierModel.objects.filter(code="third").exists()


def test_duplicate_code_is_400(personas, client_for):
    response = _send(client_for(personas.admin), "post", API, {"code": "global", "name": "重复"})
    assert response.status_code == 400 and "code" in _fields(response)


# --- preview and run ----------------------------------------------------------------------------------


def test_preview_passes_the_overrides_and_answers_the_counts(personas, client_for, monkeypatch):
    from steelyard.tiering.services import assessment

    calls = []

    def fake(*, model, weights=None, thresholds=None, bands=None, as_of=None):
        calls.append((weights, thresholds, bands))
        return {"customers": 7, "changed": 3, "migration": {"key": {"strategic": 3}, "": {"regular": 4}}}

    monkeypatch.setattr(assessment, "assessment_preview", fake, raising=False)
    response = _send(
        client_for(personas.admin),
        "post",
        f"{API}/{default_model().pk}/preview",
        {"weights": {"revenue_12m": "40"}, "thresholds": {"key": "45"}},
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "customers": 7,
        "changed": 3,
        "migration": {"key": {"strategic": 3}, "": {"regular": 4}},
        "warnings": [],
    }
    weights, thresholds, bands = calls[0]
    assert (
        weights == {"revenue_12m": Decimal("40.00")}
        and thresholds == {"key": Decimal("45.00")}
        and bands is None
    )


def test_preview_errors_name_the_callers_fields(personas, client_for):
    client = client_for(personas.admin)
    url = f"{API}/{default_model().pk}/preview"
    unknown = _send(client, "post", url, {"weights": {"shoe_size": "10"}})
    assert unknown.status_code == 400 and "weights.shoe_size" in _fields(unknown)
    order = _send(client, "post", url, {"thresholds": {"key": "90"}})
    assert order.status_code == 400 and "thresholds.key" in _fields(order)
    bands = _send(client, "post", url, {"bands": {"revenue_12m": [[10, 0], [5, 1]]}})
    assert bands.status_code == 400 and any(f.startswith("bands.revenue_12m") for f in _fields(bands))


def test_run_enqueues_the_engine_and_returns_the_job(personas, client_for):
    response = _send(client_for(personas.admin), "post", f"{API}/{default_model().pk}/run")
    assert response.status_code == 202
    job = Job.objects.get()
    assert response.json() == {"job_id": str(job.pk), "url": f"/jobs/{job.pk}/"}
    assert job.args == [default_model().pk]


# --- runs ----------------------------------------------------------------------------------------------


def test_run_detail_matrix_is_scoped(personas, client_for):
    world = make_run(personas)
    admin = client_for(personas.admin).get(f"{API}/runs/{world.run.pk}").json()
    assert admin["migration"] == {
        "key": {"strategic": 2},
        "regular": {"regular": 1},
        "": {"key": 1},
        "potential": {"regular": 1},
    }
    assert admin["scoped"] is False and admin["customers"] == 5 and admin["model_code"] == "global"
    bob = client_for(personas.bob).get(f"{API}/runs/{world.run.pk}").json()
    assert bob["migration"] == {"key": {"strategic": 1}, "regular": {"regular": 1}, "": {"key": 1}}
    assert bob["scoped"] is True
    assert client_for(personas.bob).get(f"{API}/runs/999999").status_code == 404


def test_run_assessments_are_scoped_filtered_and_keyset_paginated(personas, client_for):
    world = make_run(personas)
    url = f"{API}/runs/{world.run.pk}/assessments"
    admin = client_for(personas.admin)
    first = admin.get(url, {"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = admin.get(url, {"limit": 2, "cursor": first["next_cursor"]}).json()
    last = admin.get(url, {"limit": 2, "cursor": rest["next_cursor"]}).json()
    ids = [a["customer_id"] for page in (first, rest, last) for a in page["items"]]
    assert sorted(ids) == sorted(c.pk for c in world.customers.values()) and last["next_cursor"] is None

    cell = admin.get(url, {"from_tier": "key", "to_tier": "strategic"}).json()["items"]
    assert {a["customer_name"] for a in cell} == {"分级客户a1有限公司", "分级客户c1有限公司"}
    new = admin.get(url, {"from_tier": "~"}).json()["items"]
    assert [a["customer_id"] for a in new] == [world.customers["b1"].pk]

    bob = client_for(personas.bob).get(url).json()["items"]
    assert {a["customer_id"] for a in bob} == {world.customers[k].pk for k in ("a1", "a2", "b1")}
    charlie = (
        client_for(personas.charlie).get(url, {"from_tier": "key", "to_tier": "strategic"}).json()["items"]
    )
    assert [a["customer_id"] for a in charlie] == [world.customers["c1"].pk]
    assert admin.get(url, {"cursor": "garbage"}).status_code == 400


def test_runs_list_filters_by_model(personas, client_for):
    world = make_run(personas)
    other = svc.tier_model_copy(
        actor=personas.admin, source=world.model, product_line=make_product_line("C1")
    )
    other_run = make_run(personas, other).run
    client = client_for(personas.admin)
    assert [r["id"] for r in client.get(f"{API}/runs", {"model": world.model.pk}).json()["items"]] == [
        world.run.pk
    ]
    assert [r["id"] for r in client.get(f"{API}/{other.pk}/runs").json()["items"]] == [other_run.pk]
    assert {r["id"] for r in client.get(f"{API}/runs").json()["items"]} == {world.run.pk, other_run.pk}
    assert client.get(f"{API}/runs", {"status": "bogus"}).status_code == 400


def test_tiers_and_factors_unchanged_after_forbidden_attempts(personas, client_for):
    before = (Tier.objects.count(), Factor.objects.count())
    client = client_for(personas.bob)
    _send(client, "put", f"{API}/{default_model().pk}/tiers", {"tiers": TIERS})
    _send(client, "put", f"{API}/{default_model().pk}/factors", {"factors": FACTORS})
    assert (Tier.objects.count(), Factor.objects.count()) == before
