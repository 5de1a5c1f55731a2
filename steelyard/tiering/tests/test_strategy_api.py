"""The strategy menu API with every persona: menus, rules, activation, and ``strategy_for`` per customer."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from steelyard.core.models import AuditLog
from steelyard.customers.testing import make_customer
from steelyard.orders.testing import make_product_line
from steelyard.tiering.models import MenuStatus, StrategyMenu
from steelyard.tiering.services import strategy as svc
from steelyard.tiering.tests.strategy_testing import clear_menus, make_menu

pytestmark = pytest.mark.django_db

BASE = "/api/v1/tiers/strategy"
EDITORS = ("admin", "dora")
OTHERS = ("alice", "bob", "charlie")


def _send(client, method, url, payload=None):
    return getattr(client, method)(url, data=json.dumps(payload or {}), content_type="application/json")


@pytest.fixture
def world(personas):
    clear_menus()
    line = make_product_line("CRANE", name="起重机")
    today = timezone.localdate()
    v1 = make_menu(
        1,
        {
            "key": {
                "max_discount_pct": 10,
                "credit_limit": 8000000,
                "payment_terms_days": 60,
                "response_hours": 8,
            },
            ("key", line): {"max_discount_pct": 12, "delivery_priority": 1},
            "": {"max_discount_pct": 3},
        },
        effective_from=today - dt.timedelta(days=10),
    )
    draft = make_menu(2, {"key": {"max_discount_pct": 11}}, status=MenuStatus.DRAFT, effective_from=today)
    return {"v1": v1, "draft": draft, "line": line, "today": today}


def test_menus_are_listed_for_everyone_and_drafts_for_their_editors(world, personas, client_for):
    for name in EDITORS + OTHERS:
        r = client_for(getattr(personas, name)).get(f"{BASE}/menus")
        assert r.status_code == 200, name
        versions = [m["version"] for m in r.json()["items"]]
        assert versions == ([2, 1] if name in EDITORS else [1]), name
    body = client_for(personas.admin).get(f"{BASE}/menus", {"limit": 1}).json()
    assert [m["version"] for m in body["items"]] == [2] and body["next_cursor"]
    rest = client_for(personas.admin).get(f"{BASE}/menus", {"limit": 1, "cursor": body["next_cursor"]}).json()
    assert [m["version"] for m in rest["items"]] == [1] and rest["items"][0]["state"] == "in_force"
    r = client_for(personas.admin).get(f"{BASE}/menus", {"status": "bogus"})
    assert r.status_code == 400 and r.json()["error"]["fields"][0]["field"] == "status"


def test_a_menu_comes_with_its_rules(world, personas, client_for):
    for name in EDITORS + OTHERS:
        r = client_for(getattr(personas, name)).get(f"{BASE}/menus/{world['v1'].pk}")
        assert r.status_code == 200, name
    rules = {(x["tier"], x["product_line_id"]): x for x in r.json()["rules"]}
    assert rules[("key", world["line"].pk)]["max_discount_pct"] == "12.00"
    assert rules[("key", None)]["credit_limit"] == "8000000.00"
    for name in OTHERS:
        assert client_for(getattr(personas, name)).get(f"{BASE}/menus/{world['draft'].pk}").status_code == 404
    assert client_for(personas.dora).get(f"{BASE}/menus/{world['draft'].pk}").status_code == 200


def test_only_editors_write(world, personas, client_for):
    d = world["draft"].pk
    calls = [
        ("post", f"{BASE}/menus", {}),
        ("patch", f"{BASE}/menus/{d}", {"name": "x"}),
        ("patch", f"{BASE}/menus/{d}/rules", {"rules": [{"tier": "key", "max_discount_pct": "40"}]}),
        ("post", f"{BASE}/menus/{d}/activate", {}),
        ("delete", f"{BASE}/menus/{d}", None),
    ]
    for name in OTHERS:
        c = client_for(getattr(personas, name))
        for method, url, payload in calls:
            r = _send(c, method, url, payload)
            assert r.status_code == 403, (name, method, url)
            assert r.json()["error"]["code"] == "forbidden"
    assert world["draft"].rules.get().max_discount_pct == 11
    assert StrategyMenu.objects.count() == 2


def test_an_editor_drafts_patches_and_activates_a_version(world, personas, client_for):
    c = client_for(personas.dora)
    r = _send(c, "post", f"{BASE}/menus", {"name": "API 版本", "copy_from_id": world["v1"].pk})
    assert r.status_code == 201, r.content
    menu = r.json()
    assert (menu["version"], menu["status"], len(menu["rules"])) == (3, "draft", 3)
    url = f"{BASE}/menus/{menu['id']}"
    r = _send(c, "patch", url, {"notes": "提高战略客户授信"})
    assert r.status_code == 200 and r.json()["notes"] == "提高战略客户授信"
    r = _send(
        c,
        "patch",
        f"{url}/rules",
        {
            "rules": [
                {
                    "tier": "strategic",
                    "max_discount_pct": "15",
                    "approval_chain": ["sales_director", "executive"],
                },
                {"tier": "key", "product_line_id": world["line"].pk, "delete": True},
                {"tier": "key", "credit_limit": None},
            ]
        },
    )
    assert r.status_code == 200, r.content
    rules = {(x["tier"], x["product_line_id"]): x for x in r.json()["rules"]}
    assert rules[("strategic", None)]["approval_chain"] == ["sales_director", "executive"]
    assert ("key", world["line"].pk) not in rules
    assert (
        rules[("key", None)]["credit_limit"] is None and rules[("key", None)]["max_discount_pct"] == "10.00"
    )
    r = _send(c, "post", f"{url}/activate", {"effective_from": world["today"].isoformat()})
    assert r.status_code == 200 and r.json()["state"] == "in_force"
    world["v1"].refresh_from_db()
    assert world["v1"].status == MenuStatus.RETIRED
    assert AuditLog.objects.filter(object_id=str(menu["id"]), verb=svc.AUDIT_ACTIVATED).exists()
    # History is locked.
    r = _send(c, "patch", f"{url}/rules", {"rules": [{"tier": "key", "max_discount_pct": "1"}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"


def test_bad_input_gets_field_errors_not_a_500(world, personas, client_for):
    c = client_for(personas.admin)
    url = f"{BASE}/menus/{world['draft'].pk}"
    r = _send(
        c,
        "patch",
        f"{url}/rules",
        {"rules": [{"tier": "key", "max_discount_pct": "120", "approval_chain": ["nobody"]}]},
    )
    assert r.status_code == 400
    fields = {f["field"] for f in r.json()["error"]["fields"]}
    assert fields == {"rules.0.max_discount_pct", "rules.0.approval_chain"}
    r = _send(c, "patch", f"{url}/rules", {"rules": [{"tier": "key", "pool_recycle_days": "soon"}]})
    assert r.status_code == 422
    r = _send(c, "patch", f"{url}/rules", {"rules": [{"tier": "key", "colour": "red"}]})
    assert r.status_code == 422
    r = _send(c, "post", f"{url}/activate", {"effective_from": "2001-01-01"})
    assert r.status_code == 400 and r.json()["error"]["fields"][0]["field"] == "effective_from"
    r = _send(c, "post", f"{BASE}/menus", {"copy_from_id": 999999})
    assert r.status_code == 400 and r.json()["error"]["fields"][0]["field"] == "copy_from_id"
    assert _send(c, "delete", f"{BASE}/menus/{world['v1'].pk}").status_code == 400  # history stays
    assert _send(c, "delete", url).status_code == 204


def test_strategy_for_a_customer_is_scoped(world, personas, client_for):
    own = make_customer(personas.alice, tier="key", payment_terms_days=45)
    url = f"{BASE}/for/{own.pk}"
    for name in ("alice", "bob", "dora", "admin"):
        r = client_for(getattr(personas, name)).get(url)
        assert r.status_code == 200, name
    body = r.json()
    assert (body["tier"], body["menu_version"], body["source"], body["max_discount_pct"]) == (
        "key",
        1,
        "tier",
        "10.00",
    )
    assert body["response_hours"] == 8 and body["customer_id"] == own.pk
    assert body["credit_terms"] == {"credit_limit": "8000000.00", "payment_terms_days": 45, "source": "mixed"}
    r = client_for(personas.alice).get(url, {"product_line_id": world["line"].pk})
    assert (r.json()["source"], r.json()["max_discount_pct"], r.json()["delivery_priority"]) == (
        "tier_line",
        "12.00",
        1,
    )
    r = client_for(personas.alice).get(url, {"on": (world["today"] - dt.timedelta(days=30)).isoformat()})
    assert r.json()["menu_version"] is None and r.json()["source"] == "default"
    assert client_for(personas.charlie).get(url).status_code == 404
    assert client_for(personas.alice).get(f"{BASE}/for/999999").status_code == 404
    r = client_for(personas.alice).get(url, {"product_line_id": 999999})
    assert r.status_code == 400 and r.json()["error"]["fields"][0]["field"] == "product_line_id"
    assert client_for(personas.alice).get(url, {"on": "someday"}).status_code == 422
