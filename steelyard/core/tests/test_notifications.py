"""The inbox: notify(), unread badge, mark read, following a link, the API."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from steelyard.core.models import Notification
from steelyard.core.selectors.notifications import notification_list, unread_count
from steelyard.core.services.notifications import (
    InAppChannel,
    NotificationChannel,
    notification_channels,
    notification_mark_all_read,
    notification_mark_read,
    notify,
)


def test_it_notifies_each_active_recipient_once_and_never_the_actor(personas):
    p = personas
    p.charlie.is_active = False
    p.charlie.save()
    created = notify(
        recipients=[p.bob, p.bob, p.alice, p.charlie, p.dora],
        title="Quote needs approval",
        subject=p.team_a,
        url="/somewhere/",
        event="test.event",
        actor=p.alice,
    )
    assert sorted(n.recipient.username for n in created) == ["bob", "dora"]
    n = Notification.objects.get(recipient=p.bob)
    assert n.title == "Quote needs approval"
    assert n.url == "/somewhere/"
    assert n.event == "test.event"
    assert n.object_id == str(p.team_a.pk)
    assert n.actor == p.alice


def test_it_renders_title_in_each_recipients_language(personas):
    p = personas
    p.bob.language = "en"
    p.bob.save()
    p.dora.language = "zh-hans"
    p.dora.save()
    notify(recipients=[p.bob, p.dora], title=_("Inbox"), body=lambda: str(_("Inbox")))
    assert Notification.objects.get(recipient=p.bob).title == "Inbox"
    assert Notification.objects.get(recipient=p.bob).body == "Inbox"
    # zh-hans rendering happens (the catalogue may not be merged yet, so only check it is a string)
    assert isinstance(Notification.objects.get(recipient=p.dora).title, str)


def test_it_links_to_the_record_page_when_no_url_is_given(personas):
    (n,) = notify(recipients=[personas.bob], title="x", subject=personas.team_a)
    assert n.url == reverse("record_collab", args=["org.orgunit", personas.team_a.pk])


def test_it_loads_the_in_app_channel_by_default():
    channels = notification_channels()
    assert any(isinstance(c, InAppChannel) for c in channels)
    assert all(isinstance(c, NotificationChannel) for c in channels)


def test_it_counts_unread_and_marks_read(personas):
    p = personas
    a, b = notify(recipients=[p.bob], title="one") + notify(recipients=[p.bob], title="two")
    assert unread_count(p.bob) == 2
    notification_mark_read(actor=p.bob, notification=a)
    assert unread_count(p.bob) == 1
    assert notification_mark_all_read(actor=p.bob) == 1
    assert unread_count(p.bob) == 0


def test_it_refuses_to_mark_somebody_elses_notification(personas):
    from django.core.exceptions import PermissionDenied

    (n,) = notify(recipients=[personas.alice], title="mine")
    with pytest.raises(PermissionDenied):
        notification_mark_read(actor=personas.bob, notification=n)


def test_it_keeps_inboxes_personal_even_for_managers(personas):
    notify(recipients=[personas.alice], title="alice only")
    assert notification_list(user=personas.bob, filters={"state": "all"}).count() == 0
    assert notification_list(user=personas.admin, filters={"state": "all"}).count() == 0
    assert notification_list(user=personas.alice, filters={"state": "all"}).count() == 1


def test_it_counts_unread_in_one_query(personas, django_assert_num_queries):
    notify(recipients=[personas.bob], title="x")
    with django_assert_num_queries(1):
        assert unread_count(personas.bob) == 1


def test_it_shows_the_unread_badge(personas, client_for):
    notify(recipients=[personas.bob], title="x")
    notify(recipients=[personas.bob], title="y")
    html = client_for(personas.bob).get(reverse("inbox_badge")).content.decode()
    assert 'id="unread-badge"' in html
    assert 'data-unread="2"' in html
    html = client_for(personas.alice).get(reverse("inbox_badge")).content.decode()
    assert 'id="unread-badge"' in html
    assert "data-unread" not in html


def test_it_lists_unread_first_and_all_on_the_second_tab(personas, client_for):
    (old,) = notify(recipients=[personas.bob], title="Old news")
    notification_mark_read(actor=personas.bob, notification=old)
    notify(recipients=[personas.bob], title="Fresh news")
    c = client_for(personas.bob)
    html = c.get(reverse("inbox")).content.decode()
    assert "Fresh news" in html and "Old news" not in html
    html = c.get(reverse("inbox") + "?state=all").content.decode()
    assert "Fresh news" in html and "Old news" in html


def test_it_shows_an_empty_state(personas, client_for):
    response = client_for(personas.charlie).get(reverse("inbox"))
    assert response.status_code == 200
    assert b"empty-state" in response.content


def test_it_renders_the_inbox_in_few_queries(personas, client_for, django_assert_max_num_queries):
    for i in range(30):
        notify(recipients=[personas.bob], title=f"n{i}", actor=personas.alice, subject=personas.team_a)
    c = client_for(personas.bob)
    c.get(reverse("inbox"))  # warm caches (content types, sessions)
    with django_assert_max_num_queries(10):
        response = c.get(reverse("inbox") + "?state=all")
    assert response.status_code == 200
    assert response.content.decode().count("data-notification=") == 25


def test_it_marks_read_and_follows_a_local_link(personas, client_for):
    (n,) = notify(recipients=[personas.bob], title="x", url="/org/me/")
    response = client_for(personas.bob).get(reverse("inbox_open", args=[n.pk]))
    assert response.status_code == 302
    assert response["Location"] == "/org/me/"
    n.refresh_from_db()
    assert n.read_at is not None


@pytest.mark.parametrize(
    "url", ["https://evil.example.com/", "//evil.example.com/x", "/\\evil.example.com", "javascript:alert(1)"]
)
def test_it_only_redirects_to_local_urls(personas, client_for, url):
    (n,) = notify(recipients=[personas.bob], title="x", url=url)
    response = client_for(personas.bob).get(reverse("inbox_open", args=[n.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("inbox")


def test_it_refuses_to_open_somebody_elses_notification(personas, client_for):
    (n,) = notify(recipients=[personas.alice], title="x", url="/org/me/")
    assert client_for(personas.bob).get(reverse("inbox_open", args=[n.pk])).status_code == 404
    assert client_for(personas.charlie).get(reverse("inbox_open", args=[n.pk])).status_code == 404
    n.refresh_from_db()
    assert n.read_at is None


def test_it_marks_all_read_from_the_inbox(personas, client_for):
    notify(recipients=[personas.bob], title="a")
    notify(recipients=[personas.bob], title="b")
    notify(recipients=[personas.alice], title="c")
    response = client_for(personas.bob).post(reverse("inbox_mark_all_read"))
    assert response.status_code == 302
    assert unread_count(personas.bob) == 0
    assert unread_count(personas.alice) == 1


def test_it_marks_one_read_from_the_inbox(personas, client_for):
    (n,) = notify(recipients=[personas.bob], title="a")
    client_for(personas.bob).post(reverse("inbox_mark_read", args=[n.pk]))
    n.refresh_from_db()
    assert n.read_at is not None


def test_it_serves_the_inbox_over_the_api(personas, client_for):
    (n,) = notify(recipients=[personas.bob], title="api one")
    notify(recipients=[personas.alice], title="not bob's")
    c = client_for(personas.bob)
    data = c.get("/api/v1/notifications/").json()
    assert [i["title"] for i in data["items"]] == ["api one"]
    assert c.get("/api/v1/notifications/unread-count").json() == {"unread": 1}
    assert c.post(f"/api/v1/notifications/{n.pk}/read").json()["read_at"] is not None
    assert c.get("/api/v1/notifications/unread-count").json() == {"unread": 0}
    notify(recipients=[personas.bob], title="two")
    assert c.post("/api/v1/notifications/read-all").json() == {"marked": 1}
    other = Notification.objects.get(recipient=personas.alice)
    assert c.post(f"/api/v1/notifications/{other.pk}/read").status_code == 404
    assert client_for(personas.charlie).get("/api/v1/notifications/?state=all").json()["items"] == []


def test_it_searches_the_inbox(personas, client_for):
    notify(recipients=[personas.bob], title="Crane quote approved")
    notify(recipients=[personas.bob], title="Visit report due")
    html = client_for(personas.bob).get(reverse("inbox") + "?state=all&q=crane").content.decode()
    assert "Crane quote approved" in html and "Visit report due" not in html
