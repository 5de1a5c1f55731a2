"""The customer-tier API (/api/v1/tiers/): tiers with explanation, assessments, overrides, entered values
and reviews, scoped per persona (outside the scope 404, reviews 403 for reps)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from steelyard.core.services.approvals import approval_decide
from steelyard.customers.models import Customer
from steelyard.tiering.models import EnteredValue, OverrideStatus, TierOverride, TierReview
from steelyard.tiering.tests.customer_tiers_world import assess, make_run, make_world

pytestmark = pytest.mark.django_db
BASE = "/api/v1/tiers"


@pytest.fixture
def world(personas):
    return make_world(personas)


def _send(client, method, url, payload):
    return getattr(client, method)(url, data=json.dumps(payload), content_type="application/json")


def _until(days=60) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


def test_tiers_with_explanation_per_persona(personas, world, client_for):
    url = f"{BASE}/customers/{world['own'].pk}/tiers"
    for user in (personas.alice, personas.bob, personas.admin):
        r = client_for(user).get(url)
        assert r.status_code == 200, r.content
        (tier,) = r.json()
        assert tier["model"] == "global" and tier["tier"] == "regular" and tier["tier_name"] == "一般"
        assert Decimal(tier["score"]) == Decimal("48")
        assert tier["pending_tier"] == "key" and tier["runs_to_move"] == 1
        assert Decimal(tier["points_to_next_tier"]) == Decimal("2")
        assert tier["explanation"].startswith("一般") and len(tier["factors"]) == 3
        assert tier["override"] is None
    assert client_for(personas.charlie).get(url).status_code == 404
    assert client_for(personas.alice).get(f"{BASE}/customers/999999/tiers").status_code == 404


def test_assessments_page_with_a_cursor(personas, world, client_for):
    for days in (30, 60):
        run = make_run(world["model"], as_of=timezone.localdate() - dt.timedelta(days=days))
        assess(world["own"], world["model"], score="40", tier="regular", run=run)
    url = f"{BASE}/customers/{world['own'].pk}/assessments"
    first = client_for(personas.alice).get(url, {"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    assert first["items"][0]["model"] == "global" and first["items"][0]["factors"][0]["code"] == "revenue_12m"
    rest = client_for(personas.bob).get(url, {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert client_for(personas.admin).get(url).status_code == 200
    assert client_for(personas.charlie).get(url).status_code == 404


def test_an_override_requested_over_the_api_goes_to_approval(personas, world, client_for):
    url = f"{BASE}/customers/{world['own'].pk}/overrides"
    r = _send(
        client_for(personas.alice), "post", url, {"tier": "key", "reason": "框架协议", "expires_on": _until()}
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "pending" and body["model"] == "global" and body["approval_id"]
    assert Customer.objects.get(pk=world["own"].pk).tier == "regular"

    override = TierOverride.objects.get(pk=body["id"])
    approval_decide(actor=personas.bob, request=override.approval, decision="approve")
    tiers = client_for(personas.alice).get(f"{BASE}/customers/{world['own'].pk}/tiers").json()
    assert tiers[0]["tier"] == "key" and tiers[0]["assessed_tier"] == "regular"
    assert tiers[0]["override"]["until"] == _until()


def test_override_requests_are_validated_and_scoped(personas, world, client_for):
    url = f"{BASE}/customers/{world['own'].pk}/overrides"
    alice = client_for(personas.alice)
    r = _send(alice, "post", url, {"tier": "key", "reason": "", "expires_on": _until(500)})
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"
    fields = {f["field"] for f in r.json()["error"]["fields"]}
    assert {"reason", "expires_on"} <= {f.split(".")[-1] for f in fields}
    r = _send(alice, "post", url, {"model": "nope", "tier": "key", "reason": "x", "expires_on": _until()})
    assert r.status_code == 400
    r = _send(alice, "post", url, {"tier": "key", "reason": "x"})  # expiry is required
    assert r.status_code == 422
    assert (
        _send(
            client_for(personas.charlie), "post", url, {"tier": "key", "reason": "x", "expires_on": _until()}
        ).status_code
        == 404
    )
    pooled = f"{BASE}/customers/{world['pooled'].pk}/overrides"
    assert (
        _send(alice, "post", pooled, {"tier": "key", "reason": "x", "expires_on": _until()}).status_code
        == 404
    )
    r = _send(
        client_for(personas.bob),
        "post",
        url,
        {"tier": "strategic", "reason": "经理申请", "expires_on": _until()},
    )
    assert r.status_code == 201
    assert TierOverride.objects.count() == 1


def test_the_override_list_is_scoped_and_filtered(personas, world, client_for):
    _send(
        client_for(personas.alice),
        "post",
        f"{BASE}/customers/{world['own'].pk}/overrides",
        {"tier": "key", "reason": "x", "expires_on": _until()},
    )
    _send(
        client_for(personas.charlie),
        "post",
        f"{BASE}/customers/{world['other'].pk}/overrides",
        {"tier": "key", "reason": "y", "expires_on": _until()},
    )

    def ids(user, **params):
        r = client_for(user).get(f"{BASE}/overrides", params)
        assert r.status_code == 200, r.content
        return {o["customer_id"] for o in r.json()["items"]}

    assert ids(personas.alice) == {world["own"].pk}
    assert ids(personas.bob) == {world["own"].pk}
    assert ids(personas.charlie) == {world["other"].pk}
    assert ids(personas.admin) == {world["own"].pk, world["other"].pk}
    assert ids(personas.admin, status="approved") == set()
    assert ids(personas.admin, customer=world["other"].pk) == {world["other"].pk}
    assert client_for(personas.admin).get(f"{BASE}/overrides", {"status": "bogus"}).status_code == 400
    assert TierOverride.objects.filter(status=OverrideStatus.PENDING).count() == 2


def test_entered_values_put_and_get(personas, world, client_for):
    url = f"{BASE}/customers/{world['own'].pk}/entered-values"
    r = _send(client_for(personas.alice), "put", url, {"potential": "15000000", "strategic_fit": "4.5"})
    assert r.status_code == 200, r.content
    assert Decimal(r.json()["potential"]) == Decimal("15000000") and Decimal(
        r.json()["strategic_fit"]
    ) == Decimal("4.5")
    r = _send(client_for(personas.bob), "put", url, {"potential": None, "strategic_fit": 7})
    assert r.status_code == 400 and r.json()["error"]["fields"]
    r = _send(client_for(personas.bob), "put", url, {"potential": None, "strategic_fit": "2"})
    assert r.json()["potential"] is None and Decimal(r.json()["strategic_fit"]) == 2
    assert client_for(personas.admin).get(url).status_code == 200
    assert _send(client_for(personas.charlie), "put", url, {"potential": "1"}).status_code == 404
    assert client_for(personas.charlie).get(url).status_code == 404
    assert EnteredValue.objects.filter(customer=world["own"]).count() == 1


def test_reviews_are_for_managers(personas, world, client_for):
    period = f"{timezone.localdate().year}-Q{(timezone.localdate().month - 1) // 3 + 1}"
    payload = {"period": period, "conclusion": "一般客户偏多"}
    for user in (personas.alice, personas.charlie):
        assert client_for(user).get(f"{BASE}/reviews").status_code == 403
        assert _send(client_for(user), "post", f"{BASE}/reviews", payload).status_code == 403

    r = _send(client_for(personas.bob), "post", f"{BASE}/reviews", payload)
    assert r.status_code == 201, r.content
    body = r.json()
    assert (
        body["model"] == "global" and body["snapshot"]["total_customers"] == 3
    )  # 2 assessed + 1 in the pool
    assert _send(client_for(personas.admin), "post", f"{BASE}/reviews", payload).status_code == 400
    bad = _send(
        client_for(personas.admin), "post", f"{BASE}/reviews", {"period": "2026-Q7", "conclusion": "x"}
    )
    assert bad.status_code == 400
    listed = client_for(personas.admin).get(f"{BASE}/reviews", {"model": "global"}).json()
    assert [r["id"] for r in listed["items"]] == [body["id"]]
    assert TierReview.objects.count() == 1
