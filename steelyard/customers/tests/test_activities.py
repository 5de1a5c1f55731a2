"""Visits and activities: services move the pool clock, check-in validation, pages and API from three sides."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from steelyard.core.models import Attachment, AuditLog
from steelyard.customers.models import Activity, ActivityStatus
from steelyard.customers.services.activities import (
    activity_cancel,
    activity_checkin,
    activity_complete,
    activity_log,
    activity_plan,
    activity_update,
)
from steelyard.customers.testing import make_customer

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def customer(personas):
    return make_customer(personas.alice, name="江南重工有限公司")


def _ago(days: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def test_it_moves_last_visit_and_last_followup_when_a_visit_is_logged(personas, customer):
    at = _ago(1)
    activity_log(actor=personas.alice, customer=customer, kind="visit", subject="现场拜访", occurred_at=at)
    customer.refresh_from_db()
    assert customer.last_visit_at == at
    assert customer.last_followup_at == at


def test_it_moves_only_last_followup_for_a_call(personas, customer):
    at = _ago(1)
    activity_log(actor=personas.alice, customer=customer, kind="call", subject="电话", occurred_at=at)
    customer.refresh_from_db()
    assert customer.last_followup_at == at
    assert customer.last_visit_at is None


def test_it_never_moves_the_clock_back_for_an_older_activity(personas, customer):
    newer, older = _ago(2), _ago(30)
    activity_log(actor=personas.alice, customer=customer, kind="visit", subject="新", occurred_at=newer)
    activity_log(actor=personas.alice, customer=customer, kind="visit", subject="旧", occurred_at=older)
    customer.refresh_from_db()
    assert customer.last_visit_at == newer
    assert customer.last_followup_at == newer


def test_it_completes_a_planned_visit_at_its_checkin_time(personas, customer):
    visit = activity_plan(
        actor=personas.alice, customer=customer, kind="visit", subject="拜访", planned_at=timezone.now()
    )
    assert visit.status == ActivityStatus.PLANNED and visit.owner == personas.alice
    assert visit.org_unit == personas.alice.org_unit
    customer.refresh_from_db()
    assert customer.last_visit_at is None  # planning is not visiting
    visit = activity_checkin(
        actor=personas.alice, activity=visit, lat="31.2304", lng=121.4737, accuracy_m=12.4
    )
    assert visit.checkin_at is not None and visit.checkin_accuracy_m == 12
    assert str(visit.checkin_lat) == "31.230400"
    with pytest.raises(ValidationError):
        activity_complete(actor=personas.alice, activity=visit, outcome="  ")
    visit = activity_complete(actor=personas.alice, activity=visit, outcome="谈妥试用", next_step="寄样")
    assert visit.status == ActivityStatus.DONE and visit.occurred_at == visit.checkin_at
    customer.refresh_from_db()
    assert customer.last_visit_at == visit.checkin_at
    verbs = list(AuditLog.objects.filter(object_id=str(visit.pk)).values_list("verb", flat=True))
    assert {"checkin", "complete"} <= set(verbs)


@pytest.mark.parametrize(
    ("lat", "lng", "acc"),
    [(91, 0, 5), (-90.5, 0, 5), (0, 180.01, 5), (0, -181, 5), ("abc", 0, 5), (10, None, 5), (10, 10, -1)],
)
def test_it_refuses_a_checkin_with_bad_coordinates(personas, customer, lat, lng, acc):
    visit = activity_plan(
        actor=personas.alice, customer=customer, kind="visit", subject="v", planned_at=timezone.now()
    )
    with pytest.raises(ValidationError):
        activity_checkin(actor=personas.alice, activity=visit, lat=lat, lng=lng, accuracy_m=acc)
    visit.refresh_from_db()
    assert visit.checkin_at is None


def test_it_checks_in_without_a_location_and_refuses_non_visits_and_repeats(personas, customer):
    visit = activity_plan(
        actor=personas.alice, customer=customer, kind="visit", subject="v", planned_at=timezone.now()
    )
    visit = activity_checkin(actor=personas.alice, activity=visit)
    assert visit.checkin_at is not None and visit.checkin_lat is None
    with pytest.raises(ValidationError):
        activity_checkin(actor=personas.alice, activity=visit, lat=1, lng=1)
    call = activity_plan(
        actor=personas.alice, customer=customer, kind="call", subject="c", planned_at=timezone.now()
    )
    with pytest.raises(ValidationError):
        activity_checkin(actor=personas.alice, activity=call, lat=1, lng=1)
    # Boundaries are allowed.
    v2 = activity_plan(
        actor=personas.alice, customer=customer, kind="visit", subject="v2", planned_at=timezone.now()
    )
    v2 = activity_checkin(actor=personas.alice, activity=v2, lat=-90, lng=180, accuracy_m=0)
    assert v2.checkin_accuracy_m == 0


def test_it_refuses_outsiders_and_future_logs_and_cancels_with_a_reason(personas, customer):
    with pytest.raises(PermissionDenied):
        activity_log(actor=personas.charlie, customer=customer, kind="call", subject="x")
    with pytest.raises(ValidationError):
        activity_log(actor=personas.alice, customer=customer, kind="call", subject="x", occurred_at=_ago(-1))
    plan = activity_plan(
        actor=personas.alice, customer=customer, kind="meeting", subject="m", planned_at=_ago(-2)
    )
    with pytest.raises(PermissionDenied):
        activity_cancel(actor=personas.charlie, activity=plan, reason="no")
    with pytest.raises(ValidationError):
        activity_cancel(actor=personas.alice, activity=plan, reason="")
    plan = activity_cancel(actor=personas.bob, activity=plan, reason="客户改期")
    assert plan.status == ActivityStatus.CANCELLED
    with pytest.raises(ValidationError):
        activity_complete(actor=personas.alice, activity=plan, outcome="x")


def test_it_moves_the_clock_when_a_done_activitys_time_is_edited_later(personas, customer):
    a = activity_log(actor=personas.alice, customer=customer, kind="call", subject="c", occurred_at=_ago(10))
    newer = _ago(1)
    activity_update(actor=personas.alice, activity=a, occurred_at=newer, subject="c2")
    customer.refresh_from_db()
    assert customer.last_followup_at == newer


# --- pages and API from the three persona sides ----------------------------------------------------


@pytest.fixture
def alices(personas, customer):
    return activity_log(
        actor=personas.alice, customer=customer, kind="visit", subject="ALICE-VISIT", occurred_at=_ago(1)
    )


def test_it_shows_alices_activity_to_alice_and_bob_and_hides_it_from_charlie(client_for, personas, alices):
    for user in (personas.alice, personas.bob):
        c = client_for(user)
        assert "ALICE-VISIT" in c.get("/customers/activities/").content.decode()
        assert c.get(f"/customers/activities/{alices.pk}/").status_code == 200
        assert c.get(f"/api/v1/customers/activities/{alices.pk}").status_code == 200
        items = c.get("/api/v1/customers/activities").json()["items"]
        assert [i["id"] for i in items] == [alices.pk]
    c = client_for(personas.charlie)
    assert "ALICE-VISIT" not in c.get("/customers/activities/").content.decode()
    assert c.get(f"/customers/activities/{alices.pk}/").status_code == 404
    assert c.get(f"/customers/activities/{alices.pk}/edit/").status_code == 404
    assert c.post(f"/customers/activities/{alices.pk}/checkin/").status_code == 404
    assert c.get(f"/api/v1/customers/activities/{alices.pk}").status_code == 404
    assert c.get("/api/v1/customers/activities").json()["items"] == []
    r = c.post(
        f"/api/v1/customers/activities/{alices.pk}/cancel",
        json.dumps({"reason": "x"}),
        content_type="application/json",
    )
    assert r.status_code == 404


def test_it_shows_a_participant_the_activity_they_joined(client_for, personas, customer):
    a = activity_log(
        actor=personas.alice,
        customer=customer,
        kind="meeting",
        subject="JOINT",
        participants=[personas.charlie],
    )
    assert client_for(personas.charlie).get(f"/customers/activities/{a.pk}/").status_code == 200


def test_it_lists_with_filters_in_few_queries(client_for, personas, customer, django_assert_max_num_queries):
    for i in range(30):
        activity_log(
            actor=personas.alice, customer=customer, kind="call" if i % 2 else "visit", subject=f"S{i}"
        )
    c = client_for(personas.bob)
    with django_assert_max_num_queries(20):
        r = c.get("/customers/activities/?kind=call&sort=-when")
    body = r.content.decode()
    assert r.status_code == 200 and "S1<" in body and "S2<" not in body


def test_it_plans_logs_with_photos_completes_and_checks_in_through_the_pages(client_for, personas, customer):
    c = client_for(personas.alice)
    r = c.post(
        f"/customers/activities/plan/?customer={customer.pk}",
        {"customer": customer.pk, "kind": "visit", "subject": "PLANNED", "planned_at": "2030-01-01T10:00"},
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    plan = Activity.objects.get(subject="PLANNED")
    r = c.post(
        f"/customers/activities/{plan.pk}/checkin/",
        {"lat": "31.2", "lng": "121.4", "accuracy_m": "20"},
        HTTP_ACCEPT="application/json",
    )
    assert r.status_code == 200 and r.json()["ok"] is True
    r = c.post(f"/customers/activities/{plan.pk}/checkin/", {}, HTTP_ACCEPT="application/json")
    assert r.status_code == 400
    photo = SimpleUploadedFile("site.png", PNG, content_type="image/png")
    r = c.post(f"/customers/activities/{plan.pk}/complete/", {"outcome": "OK", "photos": [photo]})
    assert r.status_code == 302
    plan.refresh_from_db()
    assert plan.status == ActivityStatus.DONE
    assert Attachment.objects.filter(object_id=str(plan.pk)).count() == 1
    r = c.post(
        "/customers/activities/new/",
        {"customer": customer.pk, "kind": "call", "subject": "LOGGED", "outcome": "talked"},
    )
    assert r.status_code == 302
    assert c.get(f"/customers/activities/{plan.pk}/").status_code == 200


def test_it_plans_logs_checks_in_and_completes_through_the_api(client_for, personas, customer):
    c = client_for(personas.alice)
    post = lambda url, data: c.post(url, json.dumps(data), content_type="application/json")  # noqa: E731
    r = post(
        "/api/v1/customers/activities/plan",
        {"customer_id": customer.pk, "subject": "API", "planned_at": "2030-01-01T10:00:00+08:00"},
    )
    assert r.status_code == 201, r.content
    pk = r.json()["id"]
    assert post(f"/api/v1/customers/activities/{pk}/checkin", {"lat": 95, "lng": 0}).status_code == 400
    assert (
        post(
            f"/api/v1/customers/activities/{pk}/checkin", {"lat": 31, "lng": 121, "accuracy_m": 8}
        ).status_code
        == 200
    )
    r = post(f"/api/v1/customers/activities/{pk}/complete", {"outcome": "done"})
    assert r.status_code == 200 and r.json()["status"] == "done"
    r = post("/api/v1/customers/activities/log", {"customer_id": customer.pk, "kind": "call", "subject": "L"})
    assert r.status_code == 201
    assert (
        post(
            "/api/v1/customers/activities/log", {"customer_id": customer.pk + 999, "subject": "L"}
        ).status_code
        == 400
    )
    assert client_for(personas.charlie).get("/api/v1/customers/activities/overdue-visits").json() == []


def test_it_shows_the_timeline_section_scoped(rf, personas, customer, alices):
    from steelyard.customers.views.activities import section_context

    request = rf.get("/")
    request.user = personas.bob
    assert [a.pk for a in section_context(request, customer)["act_items"]] == [alices.pk]
    request.user = personas.charlie
    assert section_context(request, customer)["act_items"] == []
