"""Pool pages and API from the three persona sides."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from steelyard.customers.models import PoolRule
from steelyard.customers.services import pool as svc
from steelyard.customers.testing import make_customer, make_pool


@pytest.fixture
def pool(personas):
    p = make_pool(personas.team_a, members=[personas.alice], admins=[personas.bob])
    PoolRule.objects.create(pool=p, trigger="no_visit", tier="", days=30)
    return p


def test_it_lists_and_claims_pool_customers_for_a_member(
    personas, pool, client_for, django_assert_max_num_queries
):
    customers = [make_customer(None, pool=pool, province="江苏") for _ in range(30)]
    c = client_for(personas.alice)
    with django_assert_max_num_queries(20):
        r = c.get(reverse("pool_list"))
    assert r.status_code == 200
    assert r.content.decode().count("data-pool-customer=") == 25  # one page
    r = c.post(reverse("pool_claim", args=[customers[0].pk]), HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and 'data-claim-result="claimed"' in r.content.decode()
    customers[0].refresh_from_db()
    assert customers[0].owner == personas.alice
    # the row answers with the reason when someone else was faster
    r = client_for(personas.bob).post(reverse("pool_claim", args=[customers[0].pk]), HTTP_HX_REQUEST="true")
    assert r.status_code == 404  # no longer in the pool


def test_it_hides_the_pool_from_outsiders(personas, pool, client_for):
    customer = make_customer(None, pool=pool, name="公海里的客户有限公司")
    c = client_for(personas.charlie)
    r = c.get(reverse("pool_list"))
    assert r.status_code == 200 and "公海里的客户有限公司" not in r.content.decode()
    assert c.post(reverse("pool_claim", args=[customer.pk])).status_code == 404
    customer.refresh_from_db()
    assert customer.owner_id is None


def test_it_filters_the_pool_list(personas, pool, client_for):
    make_customer(None, pool=pool, name="江苏钢铁有限公司", province="江苏")
    make_customer(None, pool=pool, name="浙江港口有限公司", province="浙江")
    r = client_for(personas.alice).get(reverse("pool_list"), {"province": "浙江"})
    body = r.content.decode()
    assert "浙江港口有限公司" in body and "江苏钢铁有限公司" not in body


def test_it_releases_from_the_customer_page_with_a_reason(personas, pool, client_for):
    customer = make_customer(personas.alice, pool=pool, owned_since=timezone.now())
    c = client_for(personas.alice)
    c.post(reverse("pool_customer_release", args=[customer.pk]), {"reason": ""})
    customer.refresh_from_db()
    assert customer.owner_id == personas.alice.pk
    assert (
        client_for(personas.charlie)
        .post(reverse("pool_customer_release", args=[customer.pk]), {"reason": "x"})
        .status_code
        == 404
    )
    c.post(reverse("pool_customer_release", args=[customer.pk]), {"reason": "moving on"})
    customer.refresh_from_db()
    assert customer.owner_id is None


def test_it_shows_the_clock_in_the_section_in_chinese(personas, pool, rf):
    from steelyard.customers.views.pool import section_context

    customer = make_customer(personas.alice, pool=pool, owned_since=timezone.now() - dt.timedelta(days=100))
    svc.customer_record_event(customer=customer, event="visit", at=timezone.now() - dt.timedelta(days=3))
    customer.refresh_from_db()
    request = rf.get("/")
    request.user = personas.alice
    with translation.override("en"):
        ctx = section_context(request, customer)
    assert "No visit since" in ctx["clock_text"] and "returns to the pool on" in ctx["clock_text"]
    assert ctx["can_release"] and not ctx["can_lock"]
    request.user = personas.bob
    assert section_context(request, customer)["can_lock"]


def test_it_lets_pool_admins_edit_settings_and_rules(personas, pool, client_for):
    url = reverse("pool_settings", args=[pool.pk])
    assert client_for(personas.alice).get(url).status_code == 404
    assert client_for(personas.charlie).get(url).status_code == 404
    c = client_for(personas.bob)
    assert c.get(url).status_code == 200
    data = {
        "name": pool.name,
        "holding_cap": 50,
        "claims_per_day": 5,
        "cooldown_days": 10,
        "warn_days": 3,
        "exclude_won_within_days": 60,
        "exclude_open_opportunity": "on",
        "is_active": "on",
        "members": [personas.alice.pk],
        "admins": [personas.bob.pk],
        "tier": [""],
        "days__no_visit__": "20",
        "days__no_followup__": "15",
        "new_tier": "A",
        "days__no_visit__new": "90",
    }
    r = c.post(url, data)
    assert r.status_code == 302, r.content.decode()[:2000]
    pool.refresh_from_db()
    assert pool.holding_cap == 50
    rules = {(r.trigger, r.tier): r.days for r in pool.rules.all()}
    assert rules == {("no_visit", ""): 20, ("no_followup", ""): 15, ("no_visit", "A"): 90}


def test_it_lets_administrators_run_the_sweep_now(personas, pool, client_for):
    assert client_for(personas.bob).post(reverse("pool_sweep_now")).status_code in (403, 404)
    r = client_for(personas.admin).post(reverse("pool_sweep_now"))
    assert r.status_code == 302 and "/jobs/" in r["Location"]


def test_it_answers_409_when_the_api_claim_loses(personas, pool, client_for):
    customer = make_customer(None, pool=pool)
    c = client_for(personas.alice)
    r = c.get("/api/v1/customers/pool")
    assert r.status_code == 200 and [row["id"] for row in r.json()["items"]] == [customer.pk]
    assert client_for(personas.charlie).get("/api/v1/customers/pool").json()["items"] == []
    r = client_for(personas.charlie).post(
        f"/api/v1/customers/pool/{customer.pk}/claim", {}, content_type="application/json"
    )
    assert r.status_code == 404, r.content
    # losing the race (the row was claimed between the read and the compare-and-set) answers 409
    from unittest import mock

    from django.core.exceptions import ValidationError

    lost = ValidationError(svc.ERR_ALREADY_CLAIMED, code="already_claimed")
    with mock.patch.object(svc, "customer_claim", side_effect=lost), translation.override("zh-hans"):
        r = c.post(f"/api/v1/customers/pool/{customer.pk}/claim", {}, content_type="application/json")
        expected = gettext("This customer has just been claimed by someone else.")
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_claimed"
    assert r.json()["error"]["message"] in (expected, "This customer has just been claimed by someone else.")
    r = c.post(
        f"/api/v1/customers/pool/{customer.pk}/claim", {"reason": "api"}, content_type="application/json"
    )
    assert r.status_code == 200 and r.json()["owner_id"] == personas.alice.pk
    pool.members.add(personas.bob)
    r = client_for(personas.bob).post(
        f"/api/v1/customers/pool/{customer.pk}/claim", {}, content_type="application/json"
    )
    assert r.status_code == 404  # no longer in the pool
    r = c.post(
        f"/api/v1/customers/pool/{customer.pk}/release", {"reason": "done"}, content_type="application/json"
    )
    assert r.status_code == 200 and r.json()["owner_id"] is None
