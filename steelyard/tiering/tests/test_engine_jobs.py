"""The assessment's jobs (weekly, on demand, pool clocks after a run), its event, and costs from the ERP."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from steelyard.core.models import Job, JobStatus
from steelyard.core.periodic import periodic_get, periodic_run
from steelyard.core.tasks import enqueue_job
from steelyard.customers.models import Customer, PoolRule
from steelyard.customers.services.pool import customer_clock_recompute
from steelyard.customers.testing import make_customer, make_pool, valid_credit_code
from steelyard.integrations.tests.inbound_support import apply
from steelyard.orders.models import OrderLine
from steelyard.orders.testing import make_product, make_system
from steelyard.tiering.models import AssessmentRun, RunStatus
from steelyard.tiering.services.assessment import assessment_run, factor_values
from steelyard.tiering.tasks import ASSESS_JOB, assess_model
from steelyard.tiering.tests.test_engine_run import AS_OF, buy, make_model

D = Decimal


@pytest.fixture
def events(monkeypatch):
    from steelyard.core import events as events_module
    from steelyard.integrations.tests.inbound_support import install_event_log

    monkeypatch.setattr(events_module, "_subscribers", list(events_module._subscribers))
    return install_event_log()


def test_the_weekly_job_assesses_every_active_model(db):
    model = make_model()
    inactive = make_model("t-old", line=None)
    inactive.is_active = False
    inactive.save()
    model.is_active = True
    model.save()
    make_customer()
    job_def = periodic_get(ASSESS_JOB)
    assert job_def.cron == "0 2 * * 1"
    job = periodic_run(ASSESS_JOB)
    assert job.status == JobStatus.SUCCESSFUL, job.error
    assert set(job.result) == {model.code}
    assert job.result[model.code]["customers"] == 1
    assert AssessmentRun.objects.filter(model=model, status=RunStatus.DONE).count() == 1
    assert not AssessmentRun.objects.filter(model=inactive).exists()


def test_an_assessment_started_by_hand_runs_as_a_job_of_its_starter(personas, events):
    model = make_model()
    c = make_customer(personas.alice)
    buy(c, "2000000")
    job = enqueue_job(assess_model, actor=personas.admin, label="assess", args=[model.pk])
    assert job.status == JobStatus.SUCCESSFUL, job.error
    run = AssessmentRun.objects.get(pk=job.result["run"])
    assert run.triggered_by == personas.admin and run.job_id == job.pk
    assert job.result["customers"] == Customer.objects.filter(merged_into__isnull=True).count()
    assert job.progress_done == job.progress_total == 4
    published = [e for e in events.events if e.type == "tiering.assessed"]
    assert len(published) == 1 and published[0].payload["run"] == run.pk
    assert published[0].payload["migration"] == run.migration


def test_after_a_run_the_pool_clocks_follow_the_new_tiers(personas, django_capture_on_commit_callbacks):
    model = make_model()
    pool = make_pool(personas.team_a, members=[personas.alice])
    PoolRule.objects.create(pool=pool, trigger="no_visit", tier="", days=30)
    PoolRule.objects.create(pool=pool, trigger="no_visit", tier="strategic", days=180)
    now = timezone.now()
    c = make_customer(
        personas.alice,
        pool=pool,
        owned_since=now - dt.timedelta(days=10),
        last_visit_at=now - dt.timedelta(days=5),
    )
    untouched = make_customer(personas.alice, pool=pool, owned_since=now - dt.timedelta(days=10))
    customer_clock_recompute(c)
    customer_clock_recompute(untouched)
    before = Customer.objects.get(pk=c.pk).recycle_at
    buy(c, "6000000")  # strategic
    with django_capture_on_commit_callbacks(execute=True):
        run = assessment_run(model=model, as_of=timezone.localdate())
    c.refresh_from_db()
    assert c.tier == "strategic"
    expected = customer_clock_recompute(copy.copy(c), save=False).recycle_at
    assert c.recycle_at == expected != before
    job = Job.objects.get(task_path__endswith="follow_tier_changes")
    assert job.status == JobStatus.SUCCESSFUL and job.args == [run.pk]
    assert job.result["checked"] >= 1 and job.result["changed"] >= 1


def test_no_pool_job_when_no_tier_changed(personas, django_capture_on_commit_callbacks):
    model = make_model()
    make_customer(personas.alice)
    assessment_run(model=model, as_of=AS_OF)
    with django_capture_on_commit_callbacks(execute=True):
        run = assessment_run(model=model, as_of=AS_OF)
    assert run.changed == 0
    assert not Job.objects.filter(task_path__endswith="follow_tier_changes").exists()


def test_order_lines_from_the_erp_carry_their_cost_into_the_margin(personas):
    system, _token = make_system("erp")
    code = valid_credit_code()
    customer = make_customer(personas.alice, name="徐州港务集团有限公司", credit_code=code)
    make_product("QY25K")
    make_product("QY50K")

    def send(version: int, lines: list[dict]) -> None:
        outcome = apply(
            system,
            "order",
            [
                {
                    "external_id": "O1",
                    "version": version,
                    "number": "SO-1",
                    "customer_credit_code": code,
                    "ordered_on": "2026-04-01",
                    "lines": lines,
                }
            ],
        )
        assert outcome.counts.get("rejected", 0) == 0, outcome

    send(
        1,
        [
            {"line_no": 1, "product": "QY25K", "quantity": "2", "unit_price": "1000", "unit_cost": "600"},
            {"line_no": 2, "product": "QY50K", "quantity": "1", "unit_price": "3000"},
        ],
    )
    costs = dict(OrderLine.objects.filter(order__number="SO-1").values_list("line_no", "unit_cost"))
    assert costs == {1: D("600.00"), 2: None}
    margin = factor_values(as_of=AS_OF, customer_ids=[customer.pk], codes=["gross_margin"])
    assert margin[customer.pk]["gross_margin"] == D("0.4000")  # (2000 − 1200) / 2000
    # A later version without costs keeps them; one with a cost sets it.
    send(
        2,
        [
            {"line_no": 1, "product": "QY25K", "quantity": "2", "unit_price": "1000"},
            {"line_no": 2, "product": "QY50K", "quantity": "1", "unit_price": "3000", "unit_cost": "2400"},
        ],
    )
    costs = dict(OrderLine.objects.filter(order__number="SO-1").values_list("line_no", "unit_cost"))
    assert costs == {1: D("600.00"), 2: D("2400.00")}


def test_a_negative_cost_is_refused_with_its_field(personas):
    system, _token = make_system("erp")
    code = valid_credit_code()
    make_customer(personas.alice, credit_code=code)
    make_product("QY25K")
    outcome = apply(
        system,
        "order",
        [
            {
                "external_id": "O2",
                "version": 1,
                "customer_credit_code": code,
                "ordered_on": "2026-04-01",
                "lines": [
                    {"line_no": 1, "product": "QY25K", "quantity": "1", "unit_price": "10", "unit_cost": "-1"}
                ],
            }
        ],
    )
    assert outcome.counts.get("rejected") == 1
    assert not OrderLine.objects.exists()
