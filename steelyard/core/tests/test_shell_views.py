"""The shell's server side: home per role, language switch, manifest, service worker, error pages."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils.translation import gettext, override

pytestmark = pytest.mark.django_db


def zh(msgid: str) -> str:
    """The Simplified-Chinese UI text for ``msgid`` (the personas' default language)."""
    with override("zh-hans"):
        return gettext(msgid)


def _links(response) -> list[str]:
    return [str(link["label"]) for link in response.context["quick_links"]]


def test_it_sends_anonymous_visitors_to_the_login_page_in_chinese(client: Client):
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/?next=/"
    body = response.content.decode()
    assert '<html lang="zh-hans">' in body
    assert 'class="login-form"' in body
    assert 'data-lang="en"' in body  # the login page offers both languages


def test_it_greets_a_sales_rep_with_personal_links_only(personas, client_for, django_assert_max_num_queries):
    client = client_for(personas.alice)
    with django_assert_max_num_queries(12):
        response = client.get("/")
    assert response.status_code == 200
    links = _links(response)
    assert zh("Inbox") in links and zh("My profile") in links
    assert zh("My team") not in links and zh("Add a user") not in links and zh("Audit log") not in links
    assert str(response.context["intro"]) == zh("Here is what needs your attention today.")
    assert response.context["role_names"] == [zh("Sales rep")]


def test_it_gives_a_manager_team_oriented_home(personas, client_for):
    response = client_for(personas.bob).get("/")
    assert str(response.context["intro"]) == zh("Here is what your team needs from you today.")
    links = _links(response)
    assert zh("My team") in links and zh("Approvals") in links
    assert zh("Audit log") not in links and zh("Add a user") not in links


def test_it_gives_an_administrator_setup_links(personas, client_for):
    from steelyard.core.views.shell import QUICK_LINKS

    response = client_for(personas.admin).get("/")
    links = _links(response)
    with override("zh-hans"):
        admin_only = [
            str(q.label) for q in QUICK_LINKS if q.roles == frozenset({"administrator"}) and q.url()
        ]
    assert admin_only and set(admin_only) <= set(links)
    assert links.index(admin_only[0]) < links.index(zh("Inbox"))  # role links come first


def test_it_never_links_to_a_missing_page(personas, client_for):
    from steelyard.core.views.shell import QuickLink

    assert QuickLink("x", "x", ("no_such_route", "neither")).url() is None
    response = client_for(personas.charlie).get("/")
    assert all(link["url"].startswith("/") for link in response.context["quick_links"])


def test_it_shows_a_helpful_empty_state_when_no_widget_applies(personas, client_for, monkeypatch):
    from steelyard.core.registry import registry

    monkeypatch.setattr(registry, "home", {})
    body = client_for(personas.alice).get("/").content.decode()
    assert (
        zh(
            "Customers, opportunities and orders appear here as those modules are switched on. "
            "Until then, check your inbox or complete your profile."
        )
        in body
    )


def test_it_saves_the_language_on_the_user_and_in_a_cookie(personas, client_for):
    from steelyard.core.models.audit import AuditLog

    client = client_for(personas.alice)
    response = client.post("/accounts/language/", {"language": "en", "next": "/inbox/"})
    assert response.status_code == 302 and response["Location"] == "/inbox/"
    assert response.cookies["django_language"].value == "en"
    personas.alice.refresh_from_db()
    assert personas.alice.language == "en"
    assert AuditLog.objects.filter(actor=personas.alice).exists()
    assert '<html lang="en">' in client.get("/").content.decode()


def test_it_switches_language_before_sign_in_with_a_cookie_only(client: Client):
    response = client.post("/accounts/language/", {"language": "en", "next": "/accounts/login/"})
    assert response.cookies["django_language"].value == "en"
    assert '<html lang="en">' in client.get("/accounts/login/").content.decode()


def test_it_ignores_unknown_languages_and_foreign_redirects(personas, client_for):
    client = client_for(personas.bob)
    response = client.post("/accounts/language/", {"language": "xx", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    assert "django_language" not in response.cookies
    personas.bob.refresh_from_db()
    assert personas.bob.language == "zh-hans"


def test_it_serves_an_installable_manifest(client: Client):
    response = client.get("/manifest.webmanifest")
    assert response["Content-Type"] == "application/manifest+json"
    data = json.loads(response.content)
    assert data["display"] == "standalone" and data["start_url"] == "/"
    sizes = {(i["sizes"], i.get("purpose", "any")) for i in data["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes


def test_it_serves_the_service_worker_from_the_root(client: Client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Service-Worker-Allowed"] == "/"
    assert "javascript" in response["Content-Type"]
    assert b"addEventListener" in response.content
    assert client.get("/offline/").status_code == 200


def test_it_renders_styled_error_pages(personas, client_for):
    personas.alice.language = "en"
    personas.alice.save(update_fields=["language"])
    response = client_for(personas.alice).get("/no-such-page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert 'class="error-code">404<' in body and "Page not found" in body


def test_it_renders_the_lockout_page(client: Client):
    from django.template.loader import render_to_string
    from django.utils import translation
    from django.utils.translation import gettext

    # Rendered outside a request: pin the language rather than inherit one a previous test activated.
    with translation.override("zh-hans"):
        body = render_to_string("registration/locked_out.html")
        expected = gettext("Too many failed sign-in attempts")
    assert expected != "Too many failed sign-in attempts"
    assert expected in body


def test_it_answers_health_checks(client: Client):
    assert client.get("/healthz").json() == {"status": "ok"}
