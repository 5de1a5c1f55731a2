"""In a browser: an administrator subscribes the ERP, sends a test event to a live receiver, and replays it."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from steelyard.core.testing.personas import PASSWORD
from steelyard.core.tests.browser.conftest import (  # noqa: F401  (fixtures used by name)
    DESKTOP,
    PHONE,
    _browser_settings,
    browser_type_launch_args,
    open_page,
    screenshot,
    sign_in,
)
from steelyard.integrations.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from steelyard.integrations.services import webhooks as svc
from steelyard.integrations.tests.test_webhooks_delivery import Receiver
from steelyard.orders.testing import make_system

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_an_administrator_subscribes_tests_and_replays(open_page, personas, screenshot, receiver):  # noqa: F811
    svc.webhook_cache_clear()
    make_system("erp", name="金蝶 ERP", token=False)
    page, watch = open_page(DESKTOP)
    page.goto("/accounts/login/?next=/integrations/webhooks/")
    sign_in(page, "admin", PASSWORD)
    page.click("a[href='/integrations/webhooks/new/']")
    page.select_option("#id_system", label="金蝶 ERP")
    page.fill("#id_url", receiver.url)
    page.check("input[name=events][value='opportunity.won']")
    page.check("input[name=events][value='customer.created']")
    screenshot(page, "webhooks-form")
    page.click("[data-subscription-form] button[type=submit]")
    sub = WebhookSubscription.objects.get()
    assert sub.events == ["customer.created", "opportunity.won"]
    receiver.secret = sub.secret
    page.click("#secret summary")
    expect(page.locator("[data-secret]")).to_have_text(sub.secret)

    page.click("button:has-text('发送测试事件'), button:has-text('Send test event')")
    expect(page.locator("[data-status]").first).to_have_attribute("data-status", "delivered")
    assert receiver.verified == [True]
    assert json.loads(receiver.requests[0]["body"])["type"] == "webhook.test"

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[action$='/replay/'] button")
    expect(page.locator("[data-status]").first).to_have_attribute("data-status", "delivered")
    replay = WebhookDelivery.objects.get(replay_of__isnull=False)
    assert replay.status == DeliveryStatus.DELIVERED
    assert receiver.verified == [True, True]
    assert [json.loads(r["body"])["id"] for r in receiver.requests] == [str(replay.event_id)] * 2
    screenshot(page, "webhooks-delivery")
    assert watch.problems == []

    phone, phone_watch = open_page(PHONE)
    phone.goto("/accounts/login/?next=/integrations/webhooks/deliveries/")
    sign_in(phone, "admin", PASSWORD)
    expect(phone.locator(".list-group-item-action")).to_have_count(2)
    screenshot(phone, "webhooks-deliveries-phone")
    assert phone_watch.problems == []
