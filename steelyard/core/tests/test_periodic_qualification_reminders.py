"""``org.qualification_expiry_reminders``: the holder and their manager, at 30, 7 and 1 days, once a day."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from steelyard.core import periodic
from steelyard.core.models import Notification
from steelyard.org.models import Qualification, UserQualification
from steelyard.org.tasks import reminder_event

TODAY = dt.date(2026, 6, 10)
NOON_SHANGHAI = dt.datetime(2026, 6, 10, 4, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _huey_immediate():
    HUEY.immediate = True


@pytest.fixture
def quals(personas):
    q = Qualification.objects.create(code="crane-l2", name="Crane engineer L2")

    def grant(user, days_left):
        return UserQualification.objects.create(
            user=user,
            qualification=q,
            obtained_on=TODAY - dt.timedelta(days=300 + days_left),
            expires_on=TODAY + dt.timedelta(days=days_left),
        )

    return grant


def _run():
    periodic.discover()
    return periodic.periodic_run("org.qualification_expiry_reminders")


@time_machine.travel(NOON_SHANGHAI, tick=False)
def test_it_notifies_the_holder_and_their_manager(personas, quals):
    uq = quals(personas.alice, 7)
    job = _run()
    assert job.status == "SUCCESSFUL", job.error
    notes = Notification.objects.filter(event=reminder_event(TODAY), object_id=str(uq.pk))
    assert set(notes.values_list("recipient__username", flat=True)) == {"alice", "bob"}
    assert not Notification.objects.filter(recipient=personas.charlie).exists()
    alice_note = notes.get(recipient=personas.alice)
    assert "7" in alice_note.title and alice_note.url == "/org/me/"
    assert job.result == {"qualifications": 1, "notified": 2}


@time_machine.travel(NOON_SHANGHAI, tick=False)
@pytest.mark.parametrize(
    ("days", "notified"), [(30, True), (7, True), (1, True), (8, False), (0, False), (31, False)]
)
def test_it_reminds_only_at_30_7_and_1_days(personas, quals, days, notified):
    quals(personas.charlie, days)
    _run()
    assert Notification.objects.filter(recipient=personas.charlie).exists() is notified


@time_machine.travel(NOON_SHANGHAI, tick=False)
def test_it_notifies_once_per_day_however_often_it_runs(personas, quals):
    quals(personas.alice, 30)
    _run()
    second = _run()
    assert Notification.objects.filter(recipient=personas.alice).count() == 1
    assert Notification.objects.filter(recipient=personas.bob).count() == 1
    assert second.result == {"qualifications": 1, "notified": 0}


def test_it_reminds_again_on_the_next_milestone(personas, quals):
    quals(personas.alice, 8)
    with time_machine.travel(NOON_SHANGHAI, tick=False):
        _run()
        assert not Notification.objects.filter(recipient=personas.alice).exists()
    with time_machine.travel(NOON_SHANGHAI + dt.timedelta(days=1), tick=False):
        assert timezone.localdate() == TODAY + dt.timedelta(days=1)
        _run()
    assert Notification.objects.filter(recipient=personas.alice).count() == 1


@time_machine.travel(NOON_SHANGHAI, tick=False)
def test_it_skips_inactive_people(personas, quals):
    quals(personas.alice, 1)
    personas.alice.is_active = False
    personas.alice.save()
    _run()
    assert not Notification.objects.filter(recipient__in=[personas.alice, personas.bob]).exists()
