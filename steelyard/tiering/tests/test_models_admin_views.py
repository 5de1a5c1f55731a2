"""Tier-model screens: administrators only for the list, editor and actions (alice, bob, charlie, dora →
403); the editor saves tiers, factors and bands, explains bad input on the right row (never a 500) and
previews unsaved settings; runs, the migration matrix and its drill-down are scoped to the viewer."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from steelyard.core.models import AuditLog, Job
from steelyard.orders.testing import make_product_line
from steelyard.tiering.models import Factor, Tier, TierModel
from steelyard.tiering.services import models_admin as svc
from steelyard.tiering.tests.models_admin_support import (
    default_model,
    editor_post_data,
    ensure_defaults,
    factor_index,
    make_run,
    tier_index,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _shipped_defaults(db):
    ensure_defaults()


HTMX = {"HTTP_HX_REQUEST": "true"}


def _en(user):
    user.language = "en"
    user.save(update_fields=["language"])
    return user


@pytest.fixture
def admin_client(personas, client_for):
    return client_for(_en(personas.admin))


# --- access -------------------------------------------------------------------------------------------


def _admin_pages(model):
    return [
        reverse("tier_model_list"),
        reverse("tier_model_create"),
        reverse("tier_model_edit", args=[model.pk]),
        reverse("tier_model_copy", args=[model.pk]),
    ]


def _admin_posts(model):
    return [
        reverse("tier_model_edit", args=[model.pk]),
        reverse("tier_model_create"),
        reverse("tier_model_preview", args=[model.pk]),
        reverse("tier_model_preview_new"),
        reverse("tier_model_activate", args=[model.pk]),
        reverse("tier_model_deactivate", args=[model.pk]),
        reverse("tier_model_delete", args=[model.pk]),
        reverse("tier_model_copy", args=[model.pk]),
        reverse("tier_model_run", args=[model.pk]),
    ]


def test_admin_sees_every_editor_page(admin_client):
    for url in _admin_pages(default_model()):
        assert admin_client.get(url).status_code == 200, url


@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "dora"])
def test_others_get_403_on_editor_pages_and_actions(personas, client_for, who):
    client = client_for(getattr(personas, who))
    model = default_model()
    for url in _admin_pages(model):
        assert client.get(url).status_code == 403, url
    for url in _admin_posts(model):
        assert client.post(url, editor_post_data(model)).status_code == 403, url
    model.refresh_from_db()
    assert model.is_active and model.name == "客户分级（全局）"
    assert not Job.objects.exists()


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(reverse("tier_model_list"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_menu_shows_tier_models_to_administrators_only(personas, client_for):
    url = reverse("tier_model_list")
    assert url in client_for(personas.admin).get(reverse("home")).content.decode()
    assert url not in client_for(personas.bob).get(reverse("home")).content.decode()


# --- the list ---------------------------------------------------------------------------------------


def test_list_shows_models_with_distribution_and_last_run(
    personas, admin_client, django_assert_max_num_queries
):
    world = make_run(personas)
    make_product_line("CRANE", name="起重机")
    with django_assert_max_num_queries(25):
        response = admin_client.get(reverse("tier_model_list"))
    html = response.content.decode()
    assert "客户分级（全局）" in html
    assert reverse("tier_run_detail", args=[world.run.pk]) in html
    # Two strategic (a1, c1), one key, two regular; potential 0.
    assert 'data-tier="strategic">Strategic <span class="fw-semibold">2</span>' in html
    assert 'data-tier="regular">Regular <span class="fw-semibold">2</span>' in html
    assert 'data-tier="potential">Potential <span class="fw-semibold">0</span>' in html
    # The line without its own model is offered a copy of the global model.
    assert "起重机" in html and reverse("tier_model_copy", args=[world.model.pk]) in html


def test_empty_list_says_what_to_do(personas, admin_client):
    TierModel.objects.all().delete()
    html = admin_client.get(reverse("tier_model_list")).content.decode()
    assert "No tier model yet" in html and reverse("tier_model_create") in html


# --- the editor: save ---------------------------------------------------------------------------------


def test_editor_renders_the_default_model(admin_client):
    model = default_model()
    html = admin_client.get(reverse("tier_model_edit", args=[model.pk])).content.decode()
    assert 'name="tiers-TOTAL_FORMS" value="4"' in html
    assert 'name="factors-TOTAL_FORMS" value="10"' in html
    assert 'value="50000000"' in html  # a revenue band bound
    assert "tiering/model_editor.js" in html
    assert "<script>" not in html and 'style="' not in html and " onclick" not in html


def test_editor_saves_weights_thresholds_and_bands(personas, admin_client):
    model = default_model()
    i = factor_index(model, "revenue_12m")
    t = tier_index(model, "key")
    data = editor_post_data(
        model,
        **{
            f"factors-{i}-weight": "35",
            f"factors-{i}-bands-bound": ["0", "2000000", "20000000"],
            f"factors-{i}-bands-share": ["0", "0.5", "1"],
            f"tiers-{t}-min_score": "55",
            "hysteresis_margin": "3",
        },
    )
    response = admin_client.post(reverse("tier_model_edit", args=[model.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    revenue = Factor.objects.get(model=model, code="revenue_12m")
    assert revenue.weight == Decimal("35") and revenue.bands == [[0, 0], [2000000, 0.5], [20000000, 1]]
    assert Tier.objects.get(model=model, code="key").min_score == Decimal("55")
    model.refresh_from_db()
    assert model.hysteresis_margin == Decimal("3")
    assert AuditLog.objects.filter(object_id=str(model.pk), verb=svc.VERB_FACTORS).exists()
    assert AuditLog.objects.filter(object_id=str(model.pk), verb=svc.VERB_TIERS).exists()


def test_editor_adds_and_removes_rows(admin_client):
    model = default_model()
    data = editor_post_data(model)
    n = int(data["tiers-TOTAL_FORMS"])
    data.update(
        {
            "tiers-TOTAL_FORMS": str(n + 1),
            f"tiers-{n}-code": "vip",
            f"tiers-{n}-name": "至尊",
            f"tiers-{n}-rank": "1",
            f"tiers-{n}-min_score": "90",
        }
    )
    for i in range(n):  # everyone moves down one rank
        data[f"tiers-{i}-rank"] = str(int(data[f"tiers-{i}-rank"]) + 1)
    f = factor_index(model, "strategic_fit")
    data[f"factors-{f}-DELETE"] = "on"
    response = admin_client.post(reverse("tier_model_edit", args=[model.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert list(model.tiers.order_by("rank").values_list("code", flat=True)) == [
        "vip",
        "strategic",
        "key",
        "regular",
        "potential",
    ]
    assert not Factor.objects.filter(model=model, code="strategic_fit").exists()


def test_a_blank_added_row_is_ignored(admin_client):
    model = default_model()
    data = editor_post_data(model)
    n = int(data["factors-TOTAL_FORMS"])
    data.update(
        {
            "factors-TOTAL_FORMS": str(n + 1),
            f"factors-{n}-scoring": "bands",
            f"factors-{n}-higher_is_better": "on",
        }
    )
    response = admin_client.post(reverse("tier_model_edit", args=[model.pk]), data)
    assert response.status_code == 302
    assert Factor.objects.filter(model=model).count() == n


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda m: {f"tiers-{tier_index(m, 'key')}-min_score": "80"},
            "lower minimum score than the tier above",
        ),
        (lambda m: {f"tiers-{tier_index(m, 'potential')}-min_score": "5"}, "The last tier must start at 0"),
        (lambda m: {f"tiers-{tier_index(m, 'key')}-rank": "1"}, "Another tier already has rank 1"),
        (lambda m: {f"tiers-{tier_index(m, 'key')}-min_score": "lots"}, "Enter a number."),
        (lambda m: {f"factors-{factor_index(m, 'revenue_12m')}-weight": "-5"}, "greater than or equal to 0"),
        (
            lambda m: {
                f"factors-{factor_index(m, 'revenue_12m')}-bands-bound": ["0", "5", "3"],
                f"factors-{factor_index(m, 'revenue_12m')}-bands-share": ["0", "0.5", "1"],
            },
            "Band 3: Band lower bounds must go up strictly",
        ),
        (
            lambda m: {
                f"factors-{factor_index(m, 'revenue_12m')}-bands-bound": ["0", "5"],
                f"factors-{factor_index(m, 'revenue_12m')}-bands-share": ["0", "1.5"],
            },
            "Band 2: A band&#x27;s share of the weight is between 0 and 1",
        ),
        (
            lambda m: {
                f"factors-{factor_index(m, 'recency_days')}-lower": "720",
                f"factors-{factor_index(m, 'recency_days')}-upper": "90",
            },
            "“From” must be lower than “to”",
        ),
        (lambda m: {"hysteresis_runs": "0"}, "greater than or equal to 1"),
        (lambda m: {"code": "has space"}, "slug"),
    ],
)
def test_bad_settings_are_explained_on_the_form_and_nothing_is_saved(admin_client, change, message):
    model = default_model()
    before = (
        list(model.tiers.values_list("code", "rank", "min_score")),
        list(model.factors.values_list("code", "weight", "bands")),
    )
    response = admin_client.post(
        reverse("tier_model_edit", args=[model.pk]), editor_post_data(model, **change(model))
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html, html[html.find("invalid-feedback") - 500 : html.find("invalid-feedback") + 500]
    assert "invalid-feedback" in html
    after = (
        list(model.tiers.values_list("code", "rank", "min_score")),
        list(model.factors.values_list("code", "weight", "bands")),
    )
    assert after == before


def test_garbage_formset_data_is_not_a_500(admin_client):
    model = default_model()
    data = editor_post_data(model)
    data["tiers-TOTAL_FORMS"] = "many"
    response = admin_client.post(reverse("tier_model_edit", args=[model.pk]), data)
    assert response.status_code == 200


def test_create_a_model_from_the_editor(personas, admin_client):
    line = make_product_line("CRANE", name="起重机")
    data = editor_post_data(default_model(), code="cranes", name="起重机分级", product_line=str(line.pk))
    response = admin_client.post(reverse("tier_model_create"), data)
    assert response.status_code == 302
    model = TierModel.objects.get(code="cranes")
    assert model.product_line == line and not model.is_active
    assert model.tiers.count() == 4 and model.factors.count() == 10
    assert response["Location"] == reverse("tier_model_edit", args=[model.pk])


def test_create_with_a_taken_code_is_a_field_error(admin_client):
    data = editor_post_data(default_model(), code="global", name="重复")
    response = admin_client.post(reverse("tier_model_create"), data)
    assert response.status_code == 200
    assert "Another tier model already uses this code." in response.content.decode()
    assert TierModel.objects.filter(code="global").count() == 1


# --- actions ---------------------------------------------------------------------------------------------


def test_activate_conflict_is_a_message_not_a_500(personas, admin_client):
    other = svc.tier_model_copy(
        actor=personas.admin, source=default_model(), product_line=make_product_line("C1")
    )
    TierModel.objects.filter(pk=other.pk).update(product_line=None)
    response = admin_client.post(reverse("tier_model_activate", args=[other.pk]), follow=True)
    assert response.status_code == 200
    assert "is already the active global model" in response.content.decode()
    other.refresh_from_db()
    assert not other.is_active


def test_deactivate_then_delete(personas, admin_client):
    model = svc.tier_model_copy(
        actor=personas.admin, source=default_model(), product_line=make_product_line("C1")
    )
    svc.tier_model_activate(actor=personas.admin, model=model)
    admin_client.post(reverse("tier_model_deactivate", args=[model.pk]))
    model.refresh_from_db()
    assert not model.is_active
    response = admin_client.post(reverse("tier_model_delete", args=[model.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("tier_model_list")
    assert not TierModel.objects.filter(pk=model.pk).exists()


def test_copy_for_a_product_line(personas, admin_client):
    line = make_product_line("CRANE", name="起重机")
    source = default_model()
    response = admin_client.post(reverse("tier_model_copy", args=[source.pk]), {"product_line": line.pk})
    copy = TierModel.objects.get(product_line=line)
    assert response["Location"] == reverse("tier_model_edit", args=[copy.pk])
    assert copy.factors.count() == source.factors.count()
    bad = admin_client.post(reverse("tier_model_copy", args=[source.pk]), {"product_line": "999999"})
    assert bad.status_code == 200 and "invalid-feedback" in bad.content.decode()


def test_run_now_enqueues_the_engine_and_shows_the_job(personas, admin_client):
    model = default_model()
    response = admin_client.post(reverse("tier_model_run", args=[model.pk]))
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("job_detail", args=[job.pk])
    assert job.task_path.endswith("assess_model") and job.args == [model.pk]
    assert job.created_by == personas.admin
    # The job page is the core one, with its progress bar.
    page = admin_client.get(response["Location"]).content.decode()
    assert 'class="progress' in page


def test_run_now_on_an_inactive_model_explains(personas, admin_client):
    model = svc.tier_model_copy(
        actor=personas.admin, source=default_model(), product_line=make_product_line("C1")
    )
    response = admin_client.post(reverse("tier_model_run", args=[model.pk]), follow=True)
    assert "Only an active model can be run" in response.content.decode()
    assert not Job.objects.exists()


# --- preview ----------------------------------------------------------------------------------------------


def _fake_preview(monkeypatch, result):
    from steelyard.tiering.services import assessment

    calls = []

    def fake(*, model, weights=None, thresholds=None, bands=None, as_of=None):
        calls.append({"model": model, "weights": weights, "thresholds": thresholds, "bands": bands})
        return result

    monkeypatch.setattr(assessment, "assessment_preview", fake, raising=False)
    return calls


def test_preview_sends_only_the_unsaved_changes_and_shows_the_matrix(admin_client, monkeypatch):
    calls = _fake_preview(
        monkeypatch,
        {"customers": 5, "changed": 2, "migration": {"key": {"strategic": 2}, "regular": {"regular": 3}}},
    )
    model = default_model()
    i = factor_index(model, "revenue_12m")
    data = editor_post_data(model, **{f"factors-{i}-weight": "45"})
    response = admin_client.post(reverse("tier_model_preview", args=[model.pk]), data, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "With these settings, 2 customers change tier (of 5 assessed)." in html
    assert 'data-from="key"' in html and "<html" not in html  # the partial only
    assert calls[0]["weights"] == {"revenue_12m": Decimal("45.00")}
    assert calls[0]["thresholds"] is None and calls[0]["bands"] is None
    # Nothing saved.
    assert Factor.objects.get(model=model, code="revenue_12m").weight == Decimal("30")


def test_preview_of_a_structural_change_is_rolled_back(admin_client, monkeypatch):
    seen = {}

    def fake(*, model, weights=None, thresholds=None, bands=None, as_of=None):
        seen["tiers"] = list(Tier.objects.filter(model=model).values_list("code", flat=True))
        seen["overrides"] = (weights, thresholds, bands)
        return {"customers": 1, "changed": 1, "migration": {"": {"top": 1}}}

    from steelyard.tiering.services import assessment

    monkeypatch.setattr(assessment, "assessment_preview", fake, raising=False)
    model = default_model()
    data = editor_post_data(model)
    data[f"tiers-{tier_index(model, 'potential')}-DELETE"] = "on"
    data[f"tiers-{tier_index(model, 'regular')}-min_score"] = "0"
    response = admin_client.post(reverse("tier_model_preview", args=[model.pk]), data, **HTMX)
    assert "1 customer changes tier" in response.content.decode()
    assert seen["tiers"] == ["strategic", "key", "regular"] and seen["overrides"] == (None, None, None)
    assert model.tiers.count() == 4  # rolled back


def test_preview_with_bad_settings_lists_the_errors(admin_client, monkeypatch):
    calls = _fake_preview(monkeypatch, {"customers": 0, "changed": 0, "migration": {}})
    model = default_model()
    data = editor_post_data(model, **{f"tiers-{tier_index(model, 'key')}-min_score": "99"})
    response = admin_client.post(reverse("tier_model_preview", args=[model.pk]), data, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Correct the errors in the form first." in html and "Tier 2 · Minimum score" in html
    assert calls == []


def test_preview_without_script_renders_the_whole_editor(admin_client, monkeypatch):
    _fake_preview(monkeypatch, {"customers": 3, "changed": 1, "migration": {"key": {"regular": 1}}})
    model = default_model()
    data = editor_post_data(model, action="preview")
    response = admin_client.post(reverse("tier_model_edit", args=[model.pk]), data)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "With these settings, 1 customer changes tier" in html


def test_preview_of_a_new_model(admin_client, monkeypatch):
    seen = {}

    def fake(*, model, weights=None, thresholds=None, bands=None, as_of=None):
        seen["model"] = (model.code, model.is_active, model.tiers.count())
        return {"customers": 4, "changed": 4, "migration": {"": {"key": 4}}}

    from steelyard.tiering.services import assessment

    monkeypatch.setattr(assessment, "assessment_preview", fake, raising=False)
    data = editor_post_data(default_model(), code="fresh", name="新模型")
    response = admin_client.post(reverse("tier_model_preview_new"), data, **HTMX)
    assert "4 customers change tier" in response.content.decode()
    assert seen["model"][1:] == (False, 4)
    assert not TierModel.objects.filter(code__in=["fresh", seen["model"][0]]).exclude(code="global").exists()


# --- runs, matrix, drill-down --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "alice", "bob", "charlie", "dora"])
def test_runs_pages_open_to_everyone_signed_in(personas, client_for, who):
    world = make_run(personas)
    client = client_for(getattr(personas, who))
    for url in (
        reverse("tier_run_list"),
        reverse("tier_run_detail", args=[world.run.pk]),
        reverse("tier_run_customers", args=[world.run.pk]),
    ):
        assert client.get(url).status_code == 200, url


def test_run_detail_matrix_links_each_cell(personas, admin_client, django_assert_max_num_queries):
    world = make_run(personas)
    with django_assert_max_num_queries(15):
        response = admin_client.get(reverse("tier_run_detail", args=[world.run.pk]))
    html = response.content.decode()
    cell = reverse("tier_run_customers", args=[world.run.pk]) + "?from=key&amp;to=strategic"
    assert f'<a href="{cell}">2</a>' in html
    new_cell = reverse("tier_run_customers", args=[world.run.pk]) + "?from=~&amp;to=key"
    assert f'<a href="{new_cell}">1</a>' in html
    assert "4 of 5 customers changed tier." in html


def _names(response):
    return {a.customer.legal_name for a in response.context["page"]}


def test_drill_down_lists_the_cell(personas, admin_client):
    world = make_run(personas)
    url = reverse("tier_run_customers", args=[world.run.pk])
    response = admin_client.get(url, {"from": "key", "to": "strategic"})
    assert _names(response) == {"分级客户a1有限公司", "分级客户c1有限公司"}
    assert "Key → Strategic" in response.content.decode()
    assert _names(admin_client.get(url, {"from": "~", "to": "key"})) == {"分级客户b1有限公司"}
    assert _names(admin_client.get(url, {"changed": "on"})) == {
        "分级客户a1有限公司",
        "分级客户b1有限公司",
        "分级客户c1有限公司",
        "分级客户c2有限公司",
    }


def test_drill_down_is_scoped(personas, client_for):
    world = make_run(personas)
    url = reverse("tier_run_customers", args=[world.run.pk])
    cell = {"from": "key", "to": "strategic"}
    assert _names(client_for(personas.bob).get(url, cell)) == {"分级客户a1有限公司"}
    assert _names(client_for(personas.charlie).get(url, cell)) == {"分级客户c1有限公司"}
    assert _names(client_for(personas.alice).get(url)) == {"分级客户a1有限公司", "分级客户a2有限公司"}
    assert _names(client_for(personas.bob).get(url)) == {
        "分级客户a1有限公司",
        "分级客户a2有限公司",
        "分级客户b1有限公司",
    }
    assert _names(client_for(personas.dora).get(url)) == _names(client_for(personas.bob).get(url))


def test_run_matrix_counts_only_what_the_viewer_sees(personas, client_for):
    world = make_run(personas)
    response = client_for(_en(personas.bob)).get(reverse("tier_run_detail", args=[world.run.pk]))
    matrix = response.context["matrix"]
    assert matrix.total == 3 and matrix.scoped
    assert matrix.as_dict == {"key": {"strategic": 1}, "regular": {"regular": 1}, "": {"key": 1}}
    assert "Counted over the customers you can see." in response.content.decode()


def test_drill_down_paginates(personas, admin_client, django_assert_max_num_queries):
    world = make_run(personas)
    from steelyard.customers.testing import make_customer
    from steelyard.tiering.models import Assessment

    for i in range(30):
        c = make_customer(personas.alice)
        Assessment.objects.create(
            run=world.run, customer=c, score=Decimal(i), computed_tier="key", tier="key", previous_tier="key"
        )
    url = reverse("tier_run_customers", args=[world.run.pk])
    with django_assert_max_num_queries(15):
        first = admin_client.get(url, {"from": "key", "to": "key"})
    assert len(first.context["page"].object_list) == 25 and first.context["page"].has_next
    second = admin_client.get(url, {"from": "key", "to": "key", "page": "2"})
    assert len(second.context["page"].object_list) == 5


def test_run_list_filters_by_model(personas, admin_client):
    world = make_run(personas)
    other = svc.tier_model_copy(
        actor=personas.admin, source=world.model, product_line=make_product_line("C1")
    )
    make_run(personas, other)
    response = admin_client.get(reverse("tier_run_list"), {"model": world.model.pk})
    assert [r.pk for r in response.context["page"]] == [world.run.pk]
    assert admin_client.get(reverse("tier_run_list"), {"model": "nope"}).status_code == 200


def test_unknown_run_is_404(admin_client):
    assert admin_client.get(reverse("tier_run_detail", args=[999999])).status_code == 404
    assert admin_client.get(reverse("tier_model_edit", args=[999999])).status_code == 404
