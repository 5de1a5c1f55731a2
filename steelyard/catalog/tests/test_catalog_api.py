"""The catalogue API: everyone signed in reads; admins (and planners) write; one error format."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from steelyard.catalog.models import Product, ProductLine

pytestmark = pytest.mark.django_db
BASE = "/api/v1/catalog"


def _post(client, url, payload):
    return client.post(url, data=json.dumps(payload), content_type="application/json")


def _patch(client, url, payload):
    return client.patch(url, data=json.dumps(payload), content_type="application/json")


def _codes(r) -> set[str]:
    assert r.status_code == 200, r.content
    return {p["code"] for p in r.json()["items"]}


def test_every_persona_reads_lines_and_products(personas, client_for, catalog):
    for user in (personas.alice, personas.bob, personas.charlie, personas.admin):
        c = client_for(user)
        assert _codes(c.get(f"{BASE}/lines")) == {"CRANE", "ENGINE"}
        assert len(_codes(c.get(f"{BASE}/products"))) == 6
        body = c.get(f"{BASE}/products/{catalog['pump'].pk}").json()
        assert body["fits"] == sorted([catalog["qy50"].pk, catalog["tc"].pk])
        assert body["list_price"] == "23800.00" and body["product_line_code"] == "CRANE"
    line = client_for(personas.charlie).get(f"{BASE}/lines/{catalog['crane'].pk}").json()
    assert line["product_count"] == 6


def test_anonymous_callers_get_401_in_the_error_format(catalog):
    r = Client().get(f"{BASE}/products")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_it_filters_and_pages_products_with_a_cursor(personas, client_for, catalog):
    c = client_for(personas.alice)
    assert _codes(c.get(f"{BASE}/products", {"kind": "option"})) == {"QY50K-OPT-JIB"}
    assert _codes(c.get(f"{BASE}/products", {"q": "qy50"})) == {"QY50K", "QY50K-OPT-JIB"}
    assert _codes(c.get(f"{BASE}/products", {"line": catalog["engine"].pk})) == {"WP12"}
    assert _codes(c.get(f"{BASE}/products", {"active": "inactive"})) == {"QY25-OLD"}
    first = c.get(f"{BASE}/products", {"limit": 4}).json()
    assert len(first["items"]) == 4 and first["next_cursor"]
    rest = c.get(f"{BASE}/products", {"limit": 4, "cursor": first["next_cursor"]}).json()
    codes = [p["code"] for p in first["items"] + rest["items"]]
    assert codes == sorted(codes) and len(set(codes)) == 6 and rest["next_cursor"] is None
    bad = c.get(f"{BASE}/products", {"kind": "robot"})
    assert bad.status_code == 400 and bad.json()["error"]["fields"][0]["field"] == "kind"
    assert c.get(f"{BASE}/products", {"cursor": "forged"}).status_code == 400


def test_unknown_ids_are_404(personas, client_for, catalog):
    r = client_for(personas.alice).get(f"{BASE}/products/99999")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_reps_managers_and_outsiders_get_403_on_writes(personas, client_for, catalog):
    for user in (personas.alice, personas.bob, personas.charlie):
        c = client_for(user)
        r = _post(c, f"{BASE}/lines", {"code": "X", "name": "X"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = _post(c, f"{BASE}/products", {"code": "X", "name": "X", "product_line_id": catalog["crane"].pk})
        assert r.status_code == 403
        assert _patch(c, f"{BASE}/products/{catalog['qy50'].pk}", {"list_price": "1"}).status_code == 403
        assert _patch(c, f"{BASE}/lines/{catalog['crane'].pk}", {"name": "Y"}).status_code == 403
    assert not ProductLine.objects.filter(code="X").exists()
    assert Product.objects.get(pk=catalog["qy50"].pk).list_price == 1850000


def test_an_admin_creates_and_patches(personas, client_for, catalog):
    c = client_for(personas.admin)
    r = _post(c, f"{BASE}/lines", {"code": "MARINE", "name": "船舶", "settings": {"sla_hours": 72}})
    assert r.status_code == 201, r.content
    line_id = r.json()["id"]
    r = _post(
        c,
        f"{BASE}/products",
        {
            "code": "6S50ME",
            "name": "6S50ME-C 船用低速柴油机",
            "product_line_id": line_id,
            "list_price": "38600000",
        },
    )
    assert r.status_code == 201, r.content
    machine = r.json()["id"]
    r = _post(
        c,
        f"{BASE}/products",
        {
            "code": "SP-6S50-INJ",
            "name": "燃油喷油器",
            "product_line_id": line_id,
            "kind": "spare_part",
            "list_price": "46800",
            "unit": "件",
            "fits": [machine],
        },
    )
    assert r.status_code == 201 and r.json()["fits"] == [machine]
    part = r.json()["id"]
    r = _patch(c, f"{BASE}/products/{part}", {"list_price": "49000", "fits": [machine, catalog["qy50"].pk]})
    assert r.status_code == 200 and r.json()["list_price"] == "49000.00" and len(r.json()["fits"]) == 2
    r = _patch(c, f"{BASE}/products/{part}", {"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    r = _patch(c, f"{BASE}/lines/{line_id}", {"name": "船舶动力", "is_active": False})
    assert r.status_code == 200 and r.json()["name"] == "船舶动力" and r.json()["is_active"] is False


def test_a_planner_may_write_too(personas, planner, client_for, catalog):
    r = _patch(client_for(planner), f"{BASE}/products/{catalog['tc'].pk}", {"list_price": "1300000"})
    assert r.status_code == 200 and r.json()["list_price"] == "1300000.00"


def test_validation_errors_name_the_fields(personas, client_for, catalog):
    c = client_for(personas.admin)
    # Schema errors (types, missing fields): 422.
    r = _post(c, f"{BASE}/products", {"code": "A1", "product_line_id": "x"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    fields = {f["field"] for f in r.json()["error"]["fields"]}
    assert fields == {"body.payload.name", "body.payload.product_line_id"}
    # Business rules from the service: 400 with the field named.
    cases = [
        ({"code": "qy50k", "name": "dup"}, "code"),
        ({"code": "NEG", "name": "neg", "list_price": "-1"}, "list_price"),
        ({"code": "BADFIT", "name": "x", "kind": "option", "fits": [catalog["pump"].pk]}, "fits"),
        ({"code": "MFIT", "name": "x", "kind": "machine", "fits": [catalog["tc"].pk]}, "fits"),
        ({"code": "NOFIT", "name": "x", "kind": "option", "fits": [99999]}, "fits"),
        ({"code": "NOLINE", "name": "x", "product_line_id": 99999}, "product_line_id"),
    ]
    for payload, field in cases:
        body = {"product_line_id": catalog["crane"].pk, **payload}
        r = _post(c, f"{BASE}/products", body)
        assert r.status_code == 400, (payload, r.content)
        assert [f["field"] for f in r.json()["error"]["fields"]] == [field], payload
    r = _post(c, f"{BASE}/lines", {"code": "Crane", "name": "dup"})
    assert r.status_code == 400 and r.json()["error"]["fields"][0]["field"] == "code"
    assert not Product.objects.filter(code__in=["NEG", "BADFIT", "MFIT", "NOFIT", "NOLINE"]).exists()
