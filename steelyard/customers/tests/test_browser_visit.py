"""On a phone: a rep checks in at a customer with geolocation, logs the visit, and sees the recycle date move."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from steelyard.core.testing.personas import PASSWORD
from steelyard.core.tests.browser.conftest import (  # noqa: F401  (fixtures used by name)
    PHONE,
    _browser_settings,
    browser_type_launch_args,
    open_page,
    screenshot,
    sign_in,
)
from steelyard.customers.models import Activity, ActivityStatus, PoolRule
from steelyard.customers.services.activities import activity_plan
from steelyard.customers.services.pool import customer_clock_recompute
from steelyard.customers.testing import make_customer, make_pool

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHANGHAI = {"latitude": 31.2304, "longitude": 121.4737, "accuracy": 15}


def test_it_checks_in_logs_a_visit_and_moves_the_recycle_date_on_a_phone(open_page, personas, screenshot):  # noqa: F811
    alice = personas.alice
    pool = make_pool(personas.team_a, members=[alice])
    PoolRule.objects.create(pool=pool, trigger="no_visit", tier="", days=30)
    now = timezone.now()
    customer = make_customer(
        alice,
        name="浦江起重机械有限公司",
        pool=pool,
        owned_since=now - dt.timedelta(days=200),
        last_visit_at=now - dt.timedelta(days=25),
        last_followup_at=now - dt.timedelta(days=25),
    )
    customer = customer_clock_recompute(customer)
    before = customer.recycle_at
    assert before is not None and before <= timezone.localdate() + dt.timedelta(days=6)
    visit = activity_plan(actor=alice, customer=customer, kind="visit", subject="季度拜访", planned_at=now)

    page, watch = open_page({**PHONE, "geolocation": SHANGHAI, "permissions": ["geolocation"]})
    page.goto("/accounts/login/?next=/customers/activities/my-day/")
    sign_in(page, "alice", PASSWORD)
    expect(page).to_have_url(re.compile(r"/customers/activities/my-day/$"))
    card = page.locator(f".myday-visits [data-activity='{visit.pk}']")
    expect(card).to_contain_text("浦江起重机械")
    with page.expect_navigation(url=re.compile(rf"/customers/activities/{visit.pk}/$")):
        card.locator("[data-checkin-url]").click()
    expect(page.locator("[data-checkin-at]")).to_contain_text("31.230400")
    visit.refresh_from_db()
    assert visit.checkin_at is not None and float(visit.checkin_lat) == pytest.approx(31.2304)
    assert visit.checkin_accuracy_m == 15

    page.fill("#id_outcome", "客户确认下季度采购两台门机，需要报价。")
    page.fill("#id_next_step", "周五前发报价")
    screenshot(page, "phone-checkin")
    page.click("form.complete-form button[type=submit]")
    page.wait_for_load_state("load")
    visit.refresh_from_db()
    assert visit.status == ActivityStatus.DONE

    customer.refresh_from_db()
    assert customer.last_visit_at == visit.checkin_at
    assert customer.recycle_at > before
    page.goto(customer.get_absolute_url())
    clock = page.locator("[data-section='pool-clock'] [data-recycle-at]")
    expect(clock).to_have_attribute("data-recycle-at", customer.recycle_at.isoformat())
    screenshot(page, "phone-checkin-customer")
    assert Activity.objects.filter(customer=customer, status=ActivityStatus.DONE).count() == 1
    assert watch.problems == []
