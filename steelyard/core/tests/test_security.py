"""Sign-in, lockout, CSRF, CSP and secure headers."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from steelyard.core.testing.personas import PASSWORD


def test_it_signs_in_and_out(personas):
    c = Client()
    r = c.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert r.status_code == 302
    assert c.get(reverse("home")).status_code == 200
    assert c.get(reverse("logout")).status_code == 405  # sign-out is a POST, never a link a page can trigger
    r = c.post(reverse("logout"))
    assert r.status_code == 302
    assert c.get(reverse("home")).status_code == 302


def test_it_explains_a_wrong_password_in_chinese_by_default(personas):
    r = Client().post(reverse("login"), {"username": "alice", "password": "nope"})
    assert r.status_code == 200
    assert 'lang="zh-hans"' in r.content.decode()
    assert r.context["form"].errors


def test_it_locks_out_after_repeated_failures(personas, settings):
    settings.AXES_FAILURE_LIMIT = 3
    c = Client()
    for _ in range(3):
        c.post(reverse("login"), {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.0.0.9")
    r = c.post(reverse("login"), {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9")
    assert r.status_code == 429
    assert "15" in r.content.decode()


def test_it_refuses_a_post_without_csrf_token(personas):
    c = Client(enforce_csrf_checks=True)
    c.force_login(personas.alice)
    r = c.post(reverse("set_language"), {"language": "en"})
    assert r.status_code == 403


def test_it_sends_a_strict_content_security_policy(personas, client_for):
    r = client_for(personas.alice).get(reverse("home"))
    csp = r["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-eval" not in csp and "unsafe-inline" not in csp
    assert r["X-Frame-Options"] == "DENY"
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["Referrer-Policy"] == "same-origin"
    assert r["X-Request-ID"]


@pytest.mark.parametrize("path", ["/", "/org/me/", "/inbox/"])
def test_it_sends_anonymous_visitors_to_sign_in(db, path):
    r = Client().get(path)
    assert r.status_code == 302
    assert r["Location"].startswith(reverse("login"))


def test_it_answers_unknown_pages_with_a_translated_404(personas, client_for):
    r = client_for(personas.alice).get("/no-such-page/")
    assert r.status_code == 404
    assert "zh-hans" in r.content.decode()


def test_it_shows_the_login_page_in_chinese_even_to_an_english_browser(db):
    r = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").get(reverse("login"))
    assert 'lang="zh-hans"' in r.content.decode()


def test_it_remembers_a_visitor_choosing_english_before_signing_in(db):
    c = Client()
    c.post(reverse("set_language"), {"language": "en", "next": reverse("login")})
    assert 'lang="en"' in c.get(reverse("login")).content.decode()
