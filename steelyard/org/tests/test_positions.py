"""Positions & qualifications: lists, admin edits, grants with default expiry, assignment rules."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from steelyard.core.models import AuditLog
from steelyard.org.models import Position, PositionAssignment, Qualification, UserQualification
from steelyard.org.services import position_save, qualification_save, user_qualification_grant


def _setup(personas):
    qual = qualification_save(
        actor=personas.admin, code="crane-l2", name="Crane engineer L2", validity_months=12
    )
    pos = position_save(
        actor=personas.admin,
        code="sol-crane",
        name="Crane solution engineer",
        category="solution",
        required_qualifications=[qual],
    )
    return qual, pos


def test_it_lists_positions_and_qualifications_to_everyone(personas, client_for):
    _setup(personas)
    for user in (personas.alice, personas.bob, personas.charlie, personas.dora, personas.admin):
        r = client_for(user).get("/org/positions/")
        assert r.status_code == 200
        assert [p.code for p in r.context["page"]] == ["sol-crane"]
    assert b"/org/positions/new/" not in client_for(personas.alice).get("/org/positions/").content


def test_it_refuses_position_edits_to_non_administrators(personas, client_for):
    _qual, pos = _setup(personas)
    for user in (personas.alice, personas.bob, personas.dora):
        c = client_for(user)
        assert c.get("/org/positions/new/").status_code == 403
        assert c.post(f"/org/positions/{pos.pk}/edit/", {"code": "x"}).status_code == 403
        assert c.get("/org/qualifications/new/").status_code == 403


def test_it_creates_a_position_with_required_qualifications(personas, client_for):
    qual, _pos = _setup(personas)
    r = client_for(personas.admin).post(
        "/org/positions/new/",
        {
            "code": "svc-tech",
            "name": "Service technician",
            "category": "service",
            "duties": "Installs and repairs.",
            "required_qualifications": [qual.pk],
            "is_active": "on",
        },
    )
    assert r.status_code == 302
    assert list(Position.objects.get(code="svc-tech").required_qualifications.all()) == [qual]


def test_it_creates_and_edits_a_qualification(personas, client_for):
    c = client_for(personas.admin)
    assert (
        c.post(
            "/org/qualifications/new/", {"code": "hv", "name": "High voltage", "validity_months": 24}
        ).status_code
        == 302
    )
    q = Qualification.objects.get(code="hv")
    c.post(f"/org/qualifications/{q.pk}/edit/", {"code": "hv", "name": "High voltage", "validity_months": 36})
    assert Qualification.objects.get(pk=q.pk).validity_months == 36
    assert AuditLog.objects.filter(object_id=str(q.pk), action="update").exists()


def test_it_refuses_a_position_without_the_qualification_then_allows_it_after_a_grant(personas, client_for):
    qual, pos = _setup(personas)
    c = client_for(personas.admin)
    url = f"/org/users/{personas.alice.pk}/positions/new/"
    r = c.post(url, {"position": pos.pk})
    assert r.status_code == 200
    assert "Crane engineer L2" in str(r.context["form"].non_field_errors())
    assert not PositionAssignment.objects.filter(user=personas.alice).exists()

    today = timezone.localdate()
    r = c.post(
        f"/org/users/{personas.alice.pk}/qualifications/new/",
        {"qualification": qual.pk, "obtained_on": today.isoformat()},
    )
    assert r.status_code == 302
    uq = UserQualification.objects.get(user=personas.alice)
    assert uq.expires_on is not None and uq.expires_on > today + dt.timedelta(days=360)  # from validity

    assert c.post(url, {"position": pos.pk}).status_code == 302
    assert PositionAssignment.objects.filter(user=personas.alice, position=pos).exists()
    detail = c.get(f"/org/users/{personas.alice.pk}/")
    assert [a.position for a in detail.context["positions"]] == [pos]


def test_it_revokes_a_qualification_and_removes_a_position(personas, client_for):
    qual, pos = _setup(personas)
    uq = user_qualification_grant(
        actor=personas.admin, user=personas.alice, qualification=qual, obtained_on=timezone.localdate()
    )
    c = client_for(personas.admin)
    c.post(f"/org/users/{personas.alice.pk}/positions/new/", {"position": pos.pk})
    a = PositionAssignment.objects.get(user=personas.alice)
    c.post(f"/org/users/{personas.alice.pk}/positions/{a.pk}/remove/")
    c.post(f"/org/users/{personas.alice.pk}/qualifications/{uq.pk}/revoke/")
    assert not PositionAssignment.objects.filter(pk=a.pk).exists()
    assert not UserQualification.objects.filter(pk=uq.pk).exists()
    assert AuditLog.objects.filter(action="delete", object_id=str(uq.pk)).exists()


def test_it_refuses_qualification_grants_to_non_administrators(personas, client_for):
    qual, _pos = _setup(personas)
    r = client_for(personas.bob).post(
        f"/org/users/{personas.alice.pk}/qualifications/new/",
        {"qualification": qual.pk, "obtained_on": timezone.localdate().isoformat()},
    )
    assert r.status_code == 403
    assert not UserQualification.objects.exists()


def test_it_shows_expiring_qualifications_in_scope_only(personas, client_for):
    qual, _pos = _setup(personas)
    today = timezone.localdate()
    user_qualification_grant(
        actor=personas.admin,
        user=personas.alice,
        qualification=qual,
        obtained_on=today - dt.timedelta(days=300),
        expires_on=today + dt.timedelta(days=10),
    )

    def expiring(user):
        return [uq.user.username for uq in client_for(user).get("/org/positions/").context["expiring"]]

    assert expiring(personas.alice) == ["alice"]
    assert expiring(personas.bob) == ["alice"]
    assert expiring(personas.dora) == ["alice"]
    assert expiring(personas.charlie) == []


def test_it_badges_expired_and_expiring_qualifications(personas, client_for):
    qual, _pos = _setup(personas)
    today = timezone.localdate()
    user_qualification_grant(
        actor=personas.admin,
        user=personas.alice,
        qualification=qual,
        obtained_on=today - dt.timedelta(days=400),
        expires_on=today - dt.timedelta(days=1),
    )
    r = client_for(personas.bob).get(f"/org/users/{personas.alice.pk}/")
    assert [uq.state for uq in r.context["qualifications"]] == ["expired"]
