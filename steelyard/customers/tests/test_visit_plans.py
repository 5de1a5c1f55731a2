"""Visit plans: the required frequency and the overdue-visit list, computed in SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from steelyard.customers.models import VisitFrequencyDefault
from steelyard.customers.selectors.activities import (
    visit_frequency_for,
    visits_overdue,
    visits_overdue_by_rep,
)
from steelyard.customers.testing import make_customer

pytestmark = pytest.mark.django_db

TZ = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2025, 6, 10, 9, 0, tzinfo=TZ)


def _at(days_ago: int, hour: int = 15) -> dt.datetime:
    return dt.datetime.combine(NOW.date() - dt.timedelta(days=days_ago), dt.time(hour), tzinfo=TZ)


def test_it_takes_the_customers_own_frequency_then_the_tiers_then_the_untiered_default(personas):
    c = make_customer(personas.alice, tier="A")
    assert visit_frequency_for(c) is None
    VisitFrequencyDefault.objects.create(tier="", days=60)
    assert visit_frequency_for(c) == 60
    VisitFrequencyDefault.objects.create(tier="A", days=14)
    assert visit_frequency_for(c) == 14
    c.visit_every_days = 7
    assert visit_frequency_for(c) == 7
    untiered = make_customer(personas.alice)
    assert visit_frequency_for(untiered) == 60


@time_machine.travel(NOW, tick=False)
def test_it_lists_overdue_visits_with_days_overdue(personas):
    VisitFrequencyDefault.objects.create(tier="", days=30)
    VisitFrequencyDefault.objects.create(tier="A", days=10)
    alice = personas.alice
    late_a = make_customer(alice, name="A级客户", tier="A", last_visit_at=_at(13))  # due 3 days ago
    make_customer(alice, name="刚拜访", tier="A", last_visit_at=_at(10))  # due today: not overdue
    own = make_customer(
        alice, name="自定频率", visit_every_days=5, last_visit_at=_at(7, hour=23)
    )  # due 2 days ago
    never = make_customer(alice, name="从未拜访", owned_since=_at(40))  # due 10 days ago
    make_customer(
        alice, name="无计划", visit_every_days=None, tier="B", last_visit_at=_at(20)
    )  # untiered default 30
    make_customer(personas.charlie, name="别人的", last_visit_at=_at(100))

    rows = list(visits_overdue(user=alice))
    assert [c.pk for c in rows] == [never.pk, late_a.pk, own.pk]
    assert [c.days_overdue.days for c in rows] == [10, 3, 2]
    assert [c.visit_frequency for c in rows] == [30, 10, 5]


@time_machine.travel(NOW, tick=False)
def test_it_shows_the_team_to_the_manager_and_nothing_to_the_outsider(personas):
    VisitFrequencyDefault.objects.create(tier="", days=30)
    make_customer(personas.alice, last_visit_at=_at(40))
    make_customer(personas.alice, last_visit_at=_at(50))
    make_customer(personas.bob, last_visit_at=_at(45))
    assert visits_overdue(user=personas.bob).count() == 1
    assert visits_overdue(user=personas.bob, team=True).count() == 3
    by_rep = visits_overdue_by_rep(user=personas.bob)
    assert [(r["owner"].username, r["count"]) for r in by_rep] == [("alice", 2), ("bob", 1)]
    assert visits_overdue(user=personas.charlie, team=True).count() == 0
    assert timezone.localdate() == NOW.date()
