"""WeCom group robot: the markdown message reaches a local receiver that answers like WeCom;
a non-zero errcode is a failed attempt, retried with backoff until it fails for good."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.utils import timezone

from steelyard.core.periodic import periodic_run
from steelyard.integrations.channels import ChannelError, WeComRobotChannel
from steelyard.integrations.models import DeliveryStatus, OutboundMessage
from steelyard.integrations.services.messages import MAX_ATTEMPTS, backoff
from steelyard.integrations.tasks_messages import RETRY_JOB
from steelyard.integrations.tests.messages_support import (
    arrange_order,
    http_receiver,
    make_endpoint,
    wecom_error,
    wecom_ok,
)
from steelyard.orders.models import OrderStatus
from steelyard.orders.services.status import order_record_status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://crm.example.com"


def test_it_posts_the_robot_markdown_message(personas, django_capture_on_commit_callbacks):
    customer, order = arrange_order(personas.alice, number="SO-WX-1")
    with http_receiver(wecom_ok) as robot:
        make_endpoint(customer, channel="wecom", address=robot.url)
        with django_capture_on_commit_callbacks(execute=True):
            order_record_status(
                order=order, status=OrderStatus.IN_PRODUCTION, at=timezone.now(), source="mes"
            )

    assert len(robot.requests) == 1
    request = robot.requests[0]
    assert request.path == "/cgi-bin/webhook/send?key=test-key"
    assert request.headers["Content-Type"].startswith("application/json")
    doc = request.json()
    assert set(doc) == {"msgtype", "markdown"}
    assert doc["msgtype"] == "markdown"
    assert set(doc["markdown"]) == {"content"}
    content = doc["markdown"]["content"]
    assert content.startswith("**【Steelyard Group】订单 SO-WX-1 状态更新：")
    assert "上海振华重工有限公司，您好！" in content
    link = OutboundMessage.objects.get().body.split("查看订单进度：")[1].split("\n")[0]
    assert link.startswith("https://crm.example.com/track/")
    assert f"[{link}]({link})" in content  # clickable in the robot's markdown
    assert len(content.encode("utf-8")) <= 4096
    assert OutboundMessage.objects.get().status == DeliveryStatus.DELIVERED


def test_it_records_a_non_zero_errcode_as_a_failure_and_retries_it(
    personas, django_capture_on_commit_callbacks
):
    customer, order = arrange_order(personas.alice)
    with http_receiver(wecom_error(93000, "invalid webhook url, hint: [1234]")) as robot:
        make_endpoint(customer, channel="wecom", address=robot.url)
        with django_capture_on_commit_callbacks(execute=True):
            order_record_status(order=order, status=OrderStatus.PRODUCED, at=timezone.now(), source="mes")

        message = OutboundMessage.objects.get()
        assert message.status == DeliveryStatus.RETRYING
        assert message.attempts == 1
        assert "93000" in message.last_error and "invalid webhook url" in message.last_error
        first_due = message.next_attempt_at
        assert first_due >= timezone.now() + backoff(1) - dt.timedelta(seconds=5)

        # Not yet due: the periodic job leaves it alone.
        periodic_run(RETRY_JOB)
        assert len(robot.requests) == 1

        # Due: retried, fails again, waits longer.
        with time_machine.travel(first_due + dt.timedelta(seconds=1), tick=False):
            periodic_run(RETRY_JOB)
        message.refresh_from_db()
        assert len(robot.requests) == 2
        assert message.attempts == 2 and message.status == DeliveryStatus.RETRYING
        assert message.next_attempt_at - (first_due + dt.timedelta(seconds=1)) == backoff(2)

        # The robot is fixed: the next retry delivers.
        robot.answer = wecom_ok
        with time_machine.travel(message.next_attempt_at + dt.timedelta(seconds=1), tick=False):
            periodic_run(RETRY_JOB)
        message.refresh_from_db()
        assert message.status == DeliveryStatus.DELIVERED
        assert message.attempts == 3 and message.last_error == "" and message.next_attempt_at is None
        assert len(robot.requests) == 3


def test_it_gives_up_after_the_last_attempt(personas, django_capture_on_commit_callbacks):
    customer, order = arrange_order(personas.alice)
    with http_receiver(wecom_error(45009, "api freq out of limit")) as robot:
        make_endpoint(customer, channel="wecom", address=robot.url)
        with django_capture_on_commit_callbacks(execute=True):
            order_record_status(order=order, status=OrderStatus.SHIPPED, at=timezone.now(), source="erp")
        message = OutboundMessage.objects.get()
        for _ in range(MAX_ATTEMPTS + 2):  # bounded: a bug must not loop forever
            if message.status != DeliveryStatus.RETRYING:
                break
            with time_machine.travel(message.next_attempt_at + dt.timedelta(seconds=1), tick=False):
                periodic_run(RETRY_JOB)
            message.refresh_from_db()

    assert message.status == DeliveryStatus.FAILED
    assert message.attempts == MAX_ATTEMPTS
    assert len(robot.requests) == MAX_ATTEMPTS
    assert message.next_attempt_at is None
    assert "45009" in message.last_error


def test_it_treats_an_http_error_and_an_unreadable_answer_as_failures():
    channel = WeComRobotChannel()
    with http_receiver(lambda r: (502, b"bad gateway")) as robot:
        with pytest.raises(ChannelError, match="502"):
            channel.send(robot.url, subject="s", body="b", link="")
        robot.answer = lambda r: (200, b"<html>not json</html>")
        with pytest.raises(ChannelError, match="not json"):
            channel.send(robot.url, subject="s", body="b", link="")


def test_it_cuts_the_markdown_to_the_robots_limit():
    content = WeComRobotChannel.markdown(subject="订单", body="很长的消息" * 2000, link="")
    assert len(content.encode("utf-8")) <= 4096
    assert json.dumps({"content": content})  # still valid text (no half characters)
