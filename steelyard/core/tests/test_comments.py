"""Comments with @mentions on any record, from the owner / manager / outsider sides."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, override

from steelyard.core.models import AuditLog, Comment, Notification
from steelyard.core.services.collaboration import comment_delete, comment_post
from steelyard.org.models import User


def zh(msgid: str) -> str:
    """The UI text as the personas (zh-hans by default) read it."""
    with override("zh-hans"):
        return gettext(msgid)


def _url(name: str, record, *extra) -> str:
    return reverse(name, args=[f"{record._meta.app_label}.{record._meta.model_name}", record.pk, *extra])


def test_it_has_personas_with_the_expected_scopes(personas):
    p = personas
    assert not User.objects.visible_to(p.charlie).filter(pk=p.alice.pk).exists()
    assert User.objects.visible_to(p.bob).filter(pk=p.alice.pk).exists()


def test_it_notifies_the_mentioned_and_not_the_author(personas):
    p = personas
    comment = comment_post(actor=p.alice, subject=p.alice, body="@bob please check the drawing. cc @alice")
    assert set(comment.mentions.values_list("username", flat=True)) == {"bob", "alice"}
    bob_inbox = Notification.objects.filter(recipient=p.bob, event="comment.mention")
    assert bob_inbox.count() == 1
    n = bob_inbox.get()
    assert n.actor == p.alice
    assert "please check the drawing" in n.body
    assert n.url
    assert not Notification.objects.filter(recipient=p.alice).exists()
    assert AuditLog.objects.filter(object_id=str(comment.pk), action="create").exists()


def test_it_reads_a_mention_at_the_end_of_a_sentence(personas):
    comment = comment_post(actor=personas.alice, subject=personas.alice, body="Thanks @bob.")
    assert list(comment.mentions.all()) == [personas.bob]


def test_it_refuses_to_mention_somebody_who_cannot_see_the_record(personas):
    p = personas
    with pytest.raises(ValidationError) as exc:
        comment_post(actor=p.alice, subject=p.alice, body="@charlie have a look")
    assert "@charlie" in " ".join(exc.value.messages)
    assert not Comment.objects.exists()
    assert not Notification.objects.exists()


def test_it_refuses_to_mention_an_unknown_or_inactive_user(personas):
    p = personas
    with pytest.raises(ValidationError) as exc:
        comment_post(actor=p.alice, subject=p.alice, body="@nobody hello")
    assert "@nobody" in " ".join(exc.value.messages)
    p.bob.is_active = False
    p.bob.save()
    with pytest.raises(ValidationError):
        comment_post(actor=p.alice, subject=p.alice, body="@bob hello")


def test_it_refuses_a_comment_on_a_record_out_of_scope(personas):
    with pytest.raises(PermissionDenied):
        comment_post(actor=personas.charlie, subject=personas.alice, body="hi")


def test_it_posts_through_htmx_and_rerenders_the_thread(personas, client_for):
    p = personas
    response = client_for(p.bob).post(
        _url("record_comments", p.team_a), {"body": "Ping @alice"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Ping" in html and 'class="mention' in html
    assert Notification.objects.filter(recipient=p.alice, event="comment.mention").count() == 1


def test_it_shows_the_refusal_in_the_form(personas, client_for):
    p = personas
    response = client_for(p.alice).post(
        _url("record_comments", p.team_a), {"body": "@charlie look"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "is-invalid" in html and "@charlie" in html
    assert not Comment.objects.exists()


def test_it_redirects_back_without_htmx(personas, client_for):
    p = personas
    response = client_for(p.alice).post(
        _url("record_comments", p.team_a), {"body": "plain post", "next": "/org/me/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/org/me/"
    response = client_for(p.alice).post(
        _url("record_comments", p.team_a), {"body": "plain post", "next": "https://evil.example.com/"}
    )
    assert response["Location"] == _url("record_collab", p.team_a)


def test_it_scopes_the_thread_to_the_record(personas, client_for):
    p = personas
    comment_post(actor=p.alice, subject=p.team_a, body="team secret")
    assert b"team secret" in client_for(p.alice).get(_url("record_comments", p.team_a)).content
    assert b"team secret" in client_for(p.bob).get(_url("record_comments", p.team_a)).content
    assert client_for(p.charlie).get(_url("record_comments", p.team_a)).status_code == 404
    assert client_for(p.charlie).post(_url("record_comments", p.team_a), {"body": "x"}).status_code == 404
    assert client_for(p.charlie).get(_url("record_collab", p.team_a)).status_code == 404


def test_it_renders_the_record_page_with_both_panels(personas, client_for, django_assert_max_num_queries):
    p = personas
    for i in range(10):
        comment_post(actor=p.alice, subject=p.team_a, body=f"comment {i} @bob")
    c = client_for(p.bob)
    c.get(_url("record_collab", p.team_a))
    with django_assert_max_num_queries(14):
        response = c.get(_url("record_collab", p.team_a))
    html = response.content.decode()
    assert "comment 9" in html
    assert zh("@username to notify someone") in html  # the textarea hint
    assert 'enctype="multipart/form-data"' in html


def test_it_refuses_models_without_a_scoped_manager(personas, client_for):
    c = client_for(personas.admin)
    assert c.get(reverse("record_comments", args=["org.role", 1])).status_code == 404
    assert c.get(reverse("record_comments", args=["nope.nothing", 1])).status_code == 404
    assert c.get(reverse("record_comments", args=["org.orgunit", "abc"])).status_code == 404


def test_it_lets_the_author_delete_within_15_minutes(personas, client_for):
    p = personas
    comment = comment_post(actor=p.alice, subject=p.team_a, body="oops")
    c = client_for(p.alice)
    assert zh("Delete").encode() in c.get(_url("record_comment_delete", p.team_a, comment.pk)).content
    assert c.post(_url("record_comment_delete", p.team_a, comment.pk)).status_code == 302
    assert not Comment.objects.exists()
    assert AuditLog.objects.filter(object_id=str(comment.pk), action="delete").exists()


def test_it_refuses_a_late_delete_or_by_someone_else(personas, client_for):
    p = personas
    comment = comment_post(actor=p.alice, subject=p.team_a, body="keep")
    with pytest.raises(PermissionDenied):
        comment_delete(actor=p.bob, comment=comment)
    assert client_for(p.bob).post(_url("record_comment_delete", p.team_a, comment.pk)).status_code == 403
    assert client_for(p.charlie).post(_url("record_comment_delete", p.team_a, comment.pk)).status_code == 404
    Comment.objects.filter(pk=comment.pk).update(created_at=timezone.now() - dt.timedelta(minutes=16))
    comment.refresh_from_db()
    with pytest.raises(PermissionDenied):
        comment_delete(actor=p.alice, comment=comment)
    comment_delete(actor=p.admin, comment=comment)
    assert not Comment.objects.exists()


def test_it_serves_comments_over_the_api(personas, client_for):
    p = personas
    base = f"/api/v1/records/org.orgunit/{p.team_a.pk}/comments"
    response = client_for(p.alice).post(base, {"body": "api @bob"}, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["mentions"] == ["bob"]
    assert [c["body"] for c in client_for(p.bob).get(base).json()] == ["api @bob"]
    assert client_for(p.charlie).get(base).status_code == 404
    refused = client_for(p.alice).post(base, {"body": "@charlie"}, content_type="application/json")
    assert refused.status_code == 400
    assert "@charlie" in str(refused.json()["error"])
