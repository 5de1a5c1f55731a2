"""The rep's my-day page: today's visits, overdue follow-ups, customers about to be recycled, overdue visits."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from steelyard.customers.models import VisitFrequencyDefault
from steelyard.customers.selectors.activities import my_day
from steelyard.customers.services.activities import activity_plan
from steelyard.customers.testing import make_customer

pytestmark = pytest.mark.django_db


def test_it_collects_the_reps_day(personas):
    alice = personas.alice
    today = timezone.localdate()
    now = timezone.now()
    c = make_customer(alice, name="今日客户")
    todays = activity_plan(actor=alice, customer=c, kind="visit", subject="TODAY", planned_at=now)
    late = activity_plan(
        actor=alice, customer=c, kind="call", subject="LATE", planned_at=now - dt.timedelta(days=3)
    )
    activity_plan(
        actor=alice, customer=c, kind="visit", subject="NEXTWEEK", planned_at=now + dt.timedelta(days=7)
    )
    soon = make_customer(alice, name="快回公海", recycle_at=today + dt.timedelta(days=5))
    make_customer(alice, name="还早", recycle_at=today + dt.timedelta(days=40))
    make_customer(personas.charlie, name="别人", recycle_at=today + dt.timedelta(days=1))
    VisitFrequencyDefault.objects.create(tier="", days=30)
    overdue = make_customer(alice, name="久未拜访", last_visit_at=now - dt.timedelta(days=60))

    day = my_day(user=alice)
    assert [a.pk for a in day["todays_visits"]] == [todays.pk]
    assert [a.pk for a in day["overdue_followups"]] == [late.pk]
    assert [x.pk for x in day["recycling"]] == [soon.pk]
    assert day["recycling"][0].days_left == 5
    assert overdue.pk in [x.pk for x in day["overdue_visits"]]
    assert my_day(user=personas.charlie)["todays_visits"] == []


def test_it_renders_the_page_with_empty_states_and_actions(
    client_for, personas, django_assert_max_num_queries
):
    c = client_for(personas.alice)
    with django_assert_max_num_queries(25):
        r = c.get("/customers/activities/my-day/")
    assert r.status_code == 200
    body = r.content.decode()
    assert "myday-visits" in body and "data-checkin-url" not in body
    cust = make_customer(personas.alice, name="拜访客户")
    a = activity_plan(
        actor=personas.alice, customer=cust, kind="visit", subject="V", planned_at=timezone.now()
    )
    body = c.get("/customers/activities/my-day/").content.decode()
    assert f"/customers/activities/{a.pk}/checkin/" in body
    # Bob (manager) sees the team's overdue list grouped by rep; charlie sees an empty one.
    assert client_for(personas.bob).get("/customers/activities/overdue/").status_code == 200
    assert client_for(personas.charlie).get("/customers/activities/overdue/").status_code == 200
