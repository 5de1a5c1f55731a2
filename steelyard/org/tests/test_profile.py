"""My profile: own details, language, roles, qualifications and positions."""

from __future__ import annotations

from steelyard.core.models import AuditLog
from steelyard.org.models import User


def test_it_shows_each_persona_their_own_profile(personas, client_for):
    for user in (personas.alice, personas.bob, personas.charlie, personas.dora, personas.admin):
        r = client_for(user).get("/org/me/")
        assert r.status_code == 200
        assert r.context["person"] == user
        assert "/tokens/" in r.content.decode()


def test_it_saves_own_language_and_phone(personas, client_for):
    r = client_for(personas.alice).post(
        "/org/me/", {"display_name": "Alice", "email": "alice@example.com", "phone": "139", "language": "en"}
    )
    assert r.status_code == 302
    alice = User.objects.get(pk=personas.alice.pk)
    assert alice.language == "en" and alice.phone == "139"
    assert AuditLog.objects.filter(actor=alice, object_id=str(alice.pk), action="update").exists()


def test_it_redirects_anonymous_visitors_to_sign_in(db, client):
    r = client.get("/org/me/")
    assert r.status_code == 302 and "/login" in r["Location"]
