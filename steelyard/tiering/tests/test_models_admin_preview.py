"""The editor's preview against the real engine: with a weight change, the number of customers the preview
says change tier is the number a real run then changes — through the page, the API and the service."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from steelyard.customers.testing import make_customer
from steelyard.orders.testing import make_order, make_product
from steelyard.tiering.models import AssessmentRun, CustomerTier
from steelyard.tiering.services import assessment
from steelyard.tiering.services import models_admin as svc
from steelyard.tiering.tests.models_admin_support import (
    default_model,
    editor_post_data,
    ensure_defaults,
    factor_index,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not hasattr(assessment, "assessment_preview") or not hasattr(assessment, "assessment_run"),
        reason="the assessment engine (services.assessment.assessment_preview) is not there yet",
    ),
]


@pytest.fixture
def world(personas):
    """Customers with last month's orders: three big (60M), four small (2M); all assessed once."""
    ensure_defaults()
    model = default_model()
    product = make_product(price="1000000")
    day = timezone.localdate() - dt.timedelta(days=30)
    big, small = [], []
    for i in range(3):
        c = make_customer(personas.alice if i < 2 else personas.charlie, name=f"大客户{i}有限公司")
        make_order(c, lines=[(product, 1, "60000000")], ordered_on=day)
        big.append(c)
    for i in range(4):
        c = make_customer(personas.bob if i < 2 else personas.charlie, name=f"小客户{i}有限公司")
        make_order(c, lines=[(product, 1, "2000000")], ordered_on=day)
        small.append(c)
    first = assessment.assessment_run(model=model, actor=personas.admin)
    assert first.customers >= 7
    return {"model": model, "big": big, "small": small, "first": first}


def _tiers(model, customers):
    rows = CustomerTier.objects.filter(model=model, customer__in=customers)
    return {row.customer_id: row.tier for row in rows}


def test_the_preview_count_is_what_the_run_then_changes(personas, client_for, world):
    model = world["model"]
    before = _tiers(model, world["big"] + world["small"])
    client = client_for(personas.admin)
    i = factor_index(model, "revenue_12m")
    data = editor_post_data(model, **{f"factors-{i}-weight": "60"})

    # 1. The editor's preview (htmx), nothing saved.
    page = client.post(reverse("tier_model_preview", args=[model.pk]), data, HTTP_HX_REQUEST="true")
    preview = page.context["preview"]
    assert preview["changed"] == len(world["big"])  # the big customers cross into a better tier
    assert f'data-preview-changed="{preview["changed"]}"' in page.content.decode()
    assert _tiers(model, world["big"] + world["small"]) == before
    assert AssessmentRun.objects.filter(model=model).count() == 1

    # 2. The API's preview says the same.
    api = client.post(
        f"/api/v1/tiers/models/{model.pk}/preview",
        data={"weights": {"revenue_12m": "60"}},
        content_type="application/json",
    ).json()
    assert api["changed"] == preview["changed"] and api["migration"] == preview["matrix"].as_dict

    # 3. Save, run for real: the same customers move, the same count.
    saved = client.post(reverse("tier_model_edit", args=[model.pk]), data)
    assert saved.status_code == 302
    run = assessment.assessment_run(model=model, actor=personas.admin)
    assert run.changed == preview["changed"]
    assert run.migration == preview["matrix"].as_dict
    after = _tiers(model, world["big"] + world["small"])
    moved = {pk for pk in after if after[pk] != before[pk]}
    assert moved == {c.pk for c in world["big"]}


def test_a_threshold_change_preview_matches_the_run(personas, world):
    model = world["model"]
    tiers = svc.tiers_of(model)
    factors = svc.factors_of(model)
    # Lower the regular threshold under the small customers' score: they move up.
    scores = CustomerTier.objects.filter(model=model, customer__in=world["small"]).values_list(
        "score", flat=True
    )
    low = min(scores)
    for t in tiers:
        if t["code"] == "regular":
            t["min_score"] = max(Decimal("1"), low - Decimal("5"))
    result = svc.tier_model_preview(actor=personas.admin, model=model, tiers=tiers, factors=factors)
    svc.tier_model_set_tiers(actor=personas.admin, model=model, tiers=tiers)
    run = assessment.assessment_run(model=model, actor=personas.admin)
    assert result["changed"] == run.changed >= len(world["small"])
    assert result["migration"] == run.migration


def test_a_structural_change_preview_matches_the_run(personas, world):
    model = world["model"]
    tiers = svc.tiers_of(model)
    factors = [f for f in svc.factors_of(model) if f["code"] != "purchase_frequency"]
    factors = [{**f, "weight": Decimal("70")} if f["code"] == "revenue_12m" else f for f in factors]
    result = svc.tier_model_preview(actor=personas.admin, model=model, tiers=tiers, factors=factors)
    assert model.factors.filter(code="purchase_frequency").exists()  # the preview rolled back
    svc.tier_model_set_factors(actor=personas.admin, model=model, factors=factors)
    run = assessment.assessment_run(model=model, actor=personas.admin)
    assert result["changed"] == run.changed and result["changed"] > 0
    assert result["migration"] == run.migration
