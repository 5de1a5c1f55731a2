"""The tier screens, persona by persona: the customer page's Tier section, my customers by tier, override
requests, entered values, and the manager's tier review."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from steelyard.core.services.approvals import approval_decide
from steelyard.customers.testing import make_customer
from steelyard.orders.models import Invoice
from steelyard.orders.testing import make_product_line
from steelyard.tiering.models import (
    Assessment,
    EnteredValue,
    OverrideStatus,
    Tier,
    TierModel,
    TierOverride,
    TierReview,
)
from steelyard.tiering.services.overrides import override_request
from steelyard.tiering.tests.customer_tiers_world import assess, make_run, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(personas):
    return make_world(personas)


def _body(r) -> str:
    assert r.status_code == 200, r.status_code
    return r.content.decode()


def _override(personas, world, days=60, tier="key"):
    return override_request(
        actor=personas.alice,
        customer=world["own"],
        model=world["model"],
        tier=tier,
        reason="框架协议谈判中",
        expires_on=timezone.localdate() + dt.timedelta(days=days),
    )


# --- the customer page's Tier section ---------------------------------------------------------------


def test_the_customer_page_explains_the_tier(personas, world, client_for):
    url = reverse("customer_detail", args=[world["own"].pk])
    body = _body(client_for(personas.alice).get(url))

    assert 'data-section="tier"' in body
    assert "一般" in body and "48.0" in body  # tier in force and score
    assert "data-explanation" in body and "12/30" in body and "4/5" in body
    assert "data-pending-move" in body
    assert "data-history-row" in body
    assert reverse("tier_override_request", args=[world["own"].pk]) in body
    assert reverse("tier_entered_values", args=[world["own"].pk]) in body
    # The section sits high on the page: before contacts.
    assert body.index('id="tier"') < body.index('id="contacts"')


def test_the_manager_sees_the_section_and_the_outsider_gets_404(personas, world, client_for):
    url = reverse("customer_detail", args=[world["own"].pk])
    for user in (personas.bob, personas.admin):
        assert 'data-section="tier"' in _body(client_for(user).get(url))
    assert client_for(personas.charlie).get(url).status_code == 404


def test_a_pool_member_sees_the_tier_but_cannot_edit(personas, world, client_for):
    assess(world["pooled"], world["model"], score="20", tier="potential")
    body = _body(client_for(personas.alice).get(reverse("customer_detail", args=[world["pooled"].pk])))
    assert 'data-section="tier"' in body and "潜在" in body
    assert "data-request-override" not in body
    assert reverse("tier_entered_values", args=[world["pooled"].pk]) not in body


def test_an_override_in_force_and_a_pending_one_show_on_the_page(personas, world, client_for):
    override = _override(personas, world)
    url = reverse("customer_detail", args=[world["own"].pk])
    body = _body(client_for(personas.alice).get(url))
    assert "data-override-pending" in body and "data-request-override" not in body
    assert reverse("tier_override_cancel", args=[override.pk]) in body

    approval_decide(actor=personas.bob, request=override.approval, decision="approve")
    body = _body(client_for(personas.alice).get(url))
    assert "data-override-in-force" in body and 'data-tier="key"' in body
    assert "框架协议谈判中" in body


def test_a_customer_not_assessed_yet_says_so(personas, client_for):
    fresh = make_customer(personas.alice, name="新客户有限公司")
    body = _body(client_for(personas.alice).get(reverse("customer_detail", args=[fresh.pk])))
    assert "data-not-assessed" in body


def test_the_customer_page_with_the_tier_section_stays_cheap(
    personas, world, client_for, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.client import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from steelyard.tiering.views.customers import tier_section_context

    client = client_for(personas.alice)
    url = reverse("customer_detail", args=[world["own"].pk])
    client.get(url)
    with CaptureQueriesContext(connection) as before:
        client.get(url)

    # More history, a second (product-line) model, an override and entered values: no more queries.
    line = make_product_line("CRANE", name="起重机")
    crane = TierModel.objects.create(code="crane", name="起重机分级", product_line=line)
    Tier.objects.create(model=crane, code="a", name="A", rank=1, min_score=50)
    assess(world["own"], crane, score="60", tier="a")
    for i in range(8):
        run = make_run(world["model"], as_of=timezone.localdate() - dt.timedelta(days=30 * (i + 1)))
        Assessment.objects.create(
            run=run, customer=world["own"], score=Decimal("40") + i, computed_tier="regular", tier="regular"
        )
    _override(personas, world)
    EnteredValue.objects.create(customer=world["own"], code="potential", value=Decimal("5000000"))
    with django_assert_max_num_queries(len(before.captured_queries)):
        body = _body(client.get(url))
    assert body.count("data-history-row") == 6 + 1 and 'data-tier-model="crane"' in body

    request = RequestFactory().get(url)
    request.user = personas.alice
    with django_assert_max_num_queries(8):  # six reads, the permission check and the roles
        ctx = tier_section_context(request, world["own"])
    assert len(ctx["cards"]) == 2 and ctx["pending"] is not None


# --- my customers by tier ------------------------------------------------------------------------------


def test_my_customers_by_tier_per_persona(personas, world, client_for):
    url = reverse("tier_my_customers")
    alice = _body(client_for(personas.alice).get(url))
    assert "爱丽丝重工有限公司" in alice and "爱丽丝港机有限公司" in alice
    assert "查理动力有限公司" not in alice
    assert 'data-tier-count="regular"' in alice

    bob = _body(client_for(personas.bob).get(url))
    assert "爱丽丝重工有限公司" in bob and "查理动力有限公司" not in bob

    charlie = _body(client_for(personas.charlie).get(url))
    assert "查理动力有限公司" in charlie and "爱丽丝重工有限公司" not in charlie

    admin = _body(client_for(personas.admin).get(url))
    assert "查理动力有限公司" in admin and "爱丽丝重工有限公司" in admin


def test_counts_near_threshold_and_pending_moves(personas, world, client_for):
    r = client_for(personas.alice).get(reverse("tier_my_customers"))
    counts = {row["code"]: row["count"] for row in r.context["counts"]["rows"]}
    assert counts == {"strategic": 0, "key": 0, "regular": 2, "potential": 0}
    assert r.context["counts"]["untiered"] == 1  # the pool customer alice can see
    near = r.context["near"]
    assert [(n["ct"].customer_id, n["gap"]) for n in near] == [(world["own"].pk, Decimal("2.00"))]
    body = r.content.decode()
    assert "data-near-threshold" in body and "2.0" in body
    moves = r.context["pending_moves"]
    assert [(m["ct"].customer_id, m["runs_left"], m["up"]) for m in moves] == [(world["own"].pk, 1, True)]


def test_the_list_filters_searches_sorts_and_pages(personas, world, client_for):
    client = client_for(personas.alice)
    url = reverse("tier_my_customers")
    names = lambda r: [ct.customer.legal_name for ct in r.context["page"]]  # noqa: E731
    assert names(client.get(url, {"q": "港机"})) == ["爱丽丝港机有限公司"]
    assert names(client.get(url, {"tier": "strategic"})) == []
    assert names(client.get(url, {"state": "pending"})) == ["爱丽丝重工有限公司"]
    assert names(client.get(url, {"state": "near"})) == ["爱丽丝重工有限公司"]
    assert names(client.get(url, {"sort": "score"})) == ["爱丽丝港机有限公司", "爱丽丝重工有限公司"]
    assert names(client.get(url, {"sort": "-score"})) == ["爱丽丝重工有限公司", "爱丽丝港机有限公司"]
    assert names(client.get(url)) == ["爱丽丝重工有限公司", "爱丽丝港机有限公司"]  # by tier, best score first
    assert client.get(url, {"tier": "bogus", "sort": "nonsense", "page": "x"}).status_code == 200
    for i in range(30):
        assess(
            make_customer(personas.alice, name=f"批量客户{i:02d}"),
            world["model"],
            score="10",
            tier="potential",
        )
    r = client.get(url, {"page": 2})
    assert r.context["page"].number == 2 and len(r.context["page"]) == 7
    empty = _body(client.get(url, {"q": "不存在的客户"}))
    assert "empty-state" in empty


def test_the_list_page_does_not_grow_with_rows(personas, world, client_for, django_assert_max_num_queries):
    for i in range(25):
        assess(make_customer(personas.alice, name=f"批量客户{i:02d}"), world["model"], score="60", tier="key")
    client = client_for(personas.alice)
    client.get(reverse("tier_my_customers"))
    with django_assert_max_num_queries(20):
        assert client.get(reverse("tier_my_customers")).status_code == 200


# --- override requests ---------------------------------------------------------------------------------


def test_alice_requests_an_override_through_the_form(personas, world, client_for):
    url = reverse("tier_override_request", args=[world["own"].pk])
    client = client_for(personas.alice)
    assert "重点" in _body(client.get(url))

    r = client.post(url, {"model": "global", "tier": "key", "reason": "", "expires_on": "2000-01-01"})
    assert r.status_code == 200 and not TierOverride.objects.exists()
    assert r.context["form"].errors.keys() >= {"reason", "expires_on"}

    until = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    r = client.post(url, {"model": "global", "tier": "key", "reason": "战略合作", "expires_on": until})
    assert r.status_code == 302
    override = TierOverride.objects.get()
    assert (override.status, override.requested_by) == (OverrideStatus.PENDING, personas.alice)
    assert world["own"].__class__.objects.get(pk=world["own"].pk).tier == "regular"


def test_override_pages_per_persona(personas, world, client_for):
    url = reverse("tier_override_request", args=[world["own"].pk])
    assert client_for(personas.bob).get(url).status_code == 200
    assert client_for(personas.admin).get(url).status_code == 200
    assert client_for(personas.charlie).get(url).status_code == 404
    pool_url = reverse("tier_override_request", args=[world["pooled"].pk])
    assert client_for(personas.alice).get(pool_url).status_code == 404  # visible, but not hers to change


def test_withdrawing_an_override_from_the_page(personas, world, client_for):
    override = _override(personas, world)
    url = reverse("tier_override_cancel", args=[override.pk])
    assert client_for(personas.charlie).post(url).status_code == 404
    r = client_for(personas.bob).post(url)  # bob sees it but did not ask for it
    assert r.status_code == 302 and TierOverride.objects.get().status == OverrideStatus.PENDING
    assert client_for(personas.alice).get(url).status_code == 405
    assert client_for(personas.alice).post(url).status_code == 302
    assert TierOverride.objects.get().status == OverrideStatus.CANCELLED


# --- entered values -----------------------------------------------------------------------------------


def test_entered_values_per_persona(personas, world, client_for):
    url = reverse("tier_entered_values", args=[world["own"].pk])
    r = client_for(personas.alice).post(url, {"potential": "8000000", "strategic_fit": "3", "note": "新项目"})
    assert r.status_code == 302
    assert EnteredValue.objects.get(customer=world["own"], code="potential").value == Decimal("8000000")

    r = client_for(personas.bob).post(url, {"potential": "", "strategic_fit": "9"})
    assert r.status_code == 200 and "strategic_fit" in r.context["form"].errors
    assert client_for(personas.bob).get(url).status_code == 200
    assert client_for(personas.admin).get(url).status_code == 200
    assert client_for(personas.charlie).post(url, {"potential": "1"}).status_code == 404
    assert EnteredValue.objects.get(customer=world["own"], code="strategic_fit").value == Decimal("3")


# --- the manager's review -----------------------------------------------------------------------------


def _invoice(customer, amount, issued_on):
    return Invoice.objects.create(
        number=f"INV{customer.pk}{issued_on:%m%d}{amount}",
        customer=customer,
        issued_on=issued_on,
        due_on=issued_on + dt.timedelta(days=30),
        amount=Decimal(amount),
    )


def test_the_review_page_is_for_managers(personas, world, client_for):
    url = reverse("tier_reviews")
    assert client_for(personas.alice).get(url).status_code == 403
    assert client_for(personas.charlie).get(url).status_code == 403
    for user in (personas.bob, personas.dora, personas.admin):
        assert client_for(user).get(url).status_code == 200


def test_the_review_shows_the_data_in_scope_and_saves_an_immutable_snapshot(personas, world, client_for):
    today = timezone.localdate()
    _invoice(world["own"], "1000000", today)
    _invoice(world["other"], "9000000", today)
    make_run(world["model"])
    Assessment.objects.filter(customer=world["own2"]).update(previous_tier="potential")
    client = client_for(personas.bob)

    r = client.get(reverse("tier_reviews"))
    data = r.context["data"]
    regular = next(row for row in data["distribution"] if row["tier"] == "regular")
    assert regular["customers"] == 2 and Decimal(regular["revenue"]) == Decimal("1000000")
    assert sum(row["customers"] for row in data["distribution"]) == 2  # charlie's customer is not bob's
    assert data["migrations"][-1]["matrix"] == {"potential": {"regular": 1}}
    assert "data-review-distribution" in r.content.decode()

    r = client.post(reverse("tier_reviews"), {"model": "global", "period": data["period"], "conclusion": ""})
    assert r.status_code == 200 and "conclusion" in r.context["form"].errors

    r = client.post(
        reverse("tier_reviews"),
        {"model": "global", "period": data["period"], "conclusion": "一般客户占比过高"},
    )
    review = TierReview.objects.get()
    assert r.status_code == 302 and r.url == reverse("tier_review_detail", args=[review.pk])
    assert review.reviewer == personas.bob and review.snapshot["total_customers"] == data["total_customers"]
    assert review.snapshot["distribution"] == data["distribution"]

    # Later changes do not touch what was reviewed.
    _invoice(world["own2"], "5000000", today)
    detail = client.get(reverse("tier_review_detail", args=[review.pk]))
    assert detail.context["data"]["distribution"] == data["distribution"]
    assert "一般客户占比过高" in detail.content.decode()
    again = client.post(
        reverse("tier_reviews"), {"model": "global", "period": data["period"], "conclusion": "再来一次"}
    )
    assert again.status_code == 200 and TierReview.objects.count() == 1

    assert client_for(personas.alice).get(reverse("tier_review_detail", args=[review.pk])).status_code == 403
    assert client_for(personas.admin).get(reverse("tier_review_detail", args=[review.pk])).status_code == 200


def test_the_review_ignores_a_bad_period(personas, world, client_for):
    r = client_for(personas.bob).get(reverse("tier_reviews"), {"period": "2026-Q9", "model": "nope"})
    assert r.status_code == 200 and r.context["period"].count("-Q") == 1


def test_the_approver_sees_what_the_override_changes_and_decides_from_the_page(personas, world, client_for):
    override = _override(personas, world)
    url = reverse("approval_detail", args=[override.approval_id])
    body = _body(client_for(personas.bob).get(url))
    assert "一般" in body and "重点" in body and "客户分级（全局）" in body
    assert reverse("customer_detail", args=[world["own"].pk]) in body
    assert client_for(personas.charlie).get(url).status_code == 404
    r = client_for(personas.bob).post(
        reverse("approval_decide", args=[override.approval_id]), {"decision": "approve", "comment": "同意"}
    )
    assert r.status_code in (200, 302)
    assert TierOverride.objects.get(pk=override.pk).status == OverrideStatus.APPROVED
    assert world["own"].__class__.objects.get(pk=world["own"].pk).tier == "key"
