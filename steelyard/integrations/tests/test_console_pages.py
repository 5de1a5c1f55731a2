"""The console's pages: administrators only; home cards and tiles; systems; tokens shown once; batches."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from steelyard.core.models import ApiToken
from steelyard.integrations.models import (
    DeliveryStatus,
    ExternalSystem,
    InboundBatch,
    InboundResult,
    Via,
    WebhookDelivery,
    WebhookSubscription,
)
from steelyard.integrations.services.systems import external_system_create, system_token_issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_en(personas):
    personas.admin.language = "en"
    personas.admin.save()
    return personas.admin


@pytest.fixture
def erp(personas):
    return external_system_create(
        actor=personas.admin, code="erp", name="Kingdee ERP", kind="erp", description="", entities=["order"]
    )


def _batch(system, *, entity="order", via=Via.API, rejected=0, created=0, ago=dt.timedelta(0), **counts):
    batch = InboundBatch.objects.create(
        system=system,
        entity=entity,
        via=via,
        total=created + rejected + counts.get("updated", 0) + counts.get("unchanged", 0),
        created=created,
        rejected=rejected,
        **counts,
    )
    if ago:
        InboundBatch.objects.filter(pk=batch.pk).update(received_at=timezone.now() - ago)
        batch.refresh_from_db()
    return batch


def _urls(system, batch, token):
    return [
        reverse("integrations_console"),
        reverse("integrations_system_list"),
        reverse("integrations_system_create"),
        reverse("integrations_system_detail", args=[system.pk]),
        reverse("integrations_system_edit", args=[system.pk]),
        reverse("integrations_system_set_active", args=[system.pk]),
        reverse("integrations_batch_list"),
        reverse("integrations_batch_detail", args=[batch.pk]),
    ], [
        reverse("integrations_system_create"),
        reverse("integrations_system_edit", args=[system.pk]),
        reverse("integrations_system_set_active", args=[system.pk]),
        reverse("integrations_system_token_create", args=[system.pk]),
        reverse("integrations_system_token_revoke", args=[system.pk, token.pk]),
    ]


# --- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "dora"])
def test_everyone_but_administrators_gets_403_on_every_console_page(personas, client_for, erp, who):
    token = system_token_issue(actor=personas.admin, system=erp, name="t", expires_in_days=5).token
    batch = _batch(erp, rejected=1)
    gets, posts = _urls(erp, batch, token)
    client = client_for(getattr(personas, who))
    for url in gets:
        assert client.get(url).status_code == 403, url
    for url in posts:
        assert (
            client.post(url, {"name": "x", "code": "x", "active": "0", "expires_in_days": 5}).status_code
            == 403
        )
    erp.refresh_from_db()
    token.refresh_from_db()
    assert erp.is_active and erp.name == "Kingdee ERP" and token.revoked_at is None
    assert ExternalSystem.objects.count() == 1 and ApiToken.objects.count() == 1


def test_the_machine_user_is_refused_on_every_page(personas, erp):
    token = system_token_issue(actor=personas.admin, system=erp, name="t", expires_in_days=5).token
    batch = _batch(erp)
    gets, _posts = _urls(erp, batch, token)
    client = Client()
    client.force_login(erp.user)
    for url in gets:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url


def test_anonymous_is_sent_to_login(erp):
    response = Client().get(reverse("integrations_console"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_the_menu_shows_the_console_to_administrators_only(personas, client_for):
    url = reverse("integrations_console")
    assert f'href="{url}"' in client_for(personas.admin).get(reverse("home")).content.decode()
    assert f'href="{url}"' not in client_for(personas.bob).get(reverse("home")).content.decode()


# --- console home -------------------------------------------------------------------------------


def test_the_home_shows_the_empty_state(admin_en, client_for):
    html = client_for(admin_en).get(reverse("integrations_console")).content.decode()
    assert "No systems yet — register your ERP" in html
    assert reverse("integrations_system_create") in html


def test_the_home_card_shows_last_batch_rejections_and_token_warnings(personas, admin_en, client_for, erp):
    _batch(erp, rejected=4, created=1, ago=dt.timedelta(hours=30))  # outside the 24 h window
    _batch(erp, rejected=2, created=5, ago=dt.timedelta(hours=2))
    last = _batch(erp, rejected=1, created=7, updated=3, unchanged=2)
    mes = external_system_create(
        actor=personas.admin, code="mes", name="Plant MES", kind="mes", description="", entities=[]
    )
    system_token_issue(actor=personas.admin, system=mes, name="soon", expires_in_days=3)
    WebhookDelivery.objects.create(
        subscription=WebhookSubscription.objects.create(
            system=erp, url="https://erp.example.com/h", secret="s"
        ),
        event="order.created",
        payload={},
        status=DeliveryStatus.FAILED,
    )
    html = client_for(admin_en).get(reverse("integrations_console")).content.decode()
    erp_card = html.split('data-system="erp"')[1].split('data-system="mes"')[0]
    assert reverse("integrations_batch_detail", args=[last.pk]) in erp_card
    assert "+7" in erp_card and "~3" in erp_card and "=2" in erp_card and "✕1" in erp_card
    assert 'data-rejected-24h="3"' in erp_card
    assert 'data-token-warning="none"' in erp_card
    mes_card = html.split('data-system="mes"')[1]
    assert 'data-token-warning="soon"' in mes_card and "Nothing received yet" in mes_card
    webhooks = html.split('data-tile="webhooks"')[1].split('data-tile="messages"')[0]
    assert "Failed 1" in webhooks


def test_the_home_tiles_link_to_the_other_areas_when_they_exist(admin_en, client_for, erp):
    from steelyard.integrations.views.systems import IMPORTS_URLS, MESSAGES_URLS, WEBHOOKS_URLS, first_url

    html = client_for(admin_en).get(reverse("integrations_console")).content.decode()
    for key, names in (("imports", IMPORTS_URLS), ("webhooks", WEBHOOKS_URLS), ("messages", MESSAGES_URLS)):
        tile = html.split(f'data-tile="{key}"')[1].split("data-tile=")[0]
        url = first_url(names)
        if url:
            assert f'href="{url}"' in tile
        else:
            assert "This page is not available yet." in tile


def test_the_home_runs_a_fixed_number_of_queries(personas, client_for, erp, django_assert_max_num_queries):
    client = client_for(personas.admin)
    client.get(reverse("integrations_console"))  # warm caches (content types, sessions)
    for i in range(6):
        system = external_system_create(
            actor=personas.admin, code=f"s{i}", name=f"S{i}", kind="other", description="", entities=[]
        )
        system_token_issue(actor=personas.admin, system=system, name="t", expires_in_days=10)
        for _j in range(3):
            _batch(system, rejected=1, created=2)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("integrations_console"))
    assert response.status_code == 200
    assert response.content.decode().count("data-system=") == 7


# --- systems ------------------------------------------------------------------------------------


def test_an_admin_registers_a_system_with_the_form(admin_en, client_for):
    client = client_for(admin_en)
    form = client.get(reverse("integrations_system_create")).content.decode()
    assert 'name="entities" value="order"' in form
    response = client.post(
        reverse("integrations_system_create"),
        {"code": "erp", "name": "Kingdee ERP", "kind": "erp", "entities": ["order", "payment"]},
    )
    system = ExternalSystem.objects.get(code="erp")
    assert response.status_code == 302 and response["Location"] == reverse(
        "integrations_system_detail", args=[system.pk]
    )
    assert system.user.username == "sys-erp" and system.entities == ["order", "payment"]
    html = client.get(response["Location"]).content.decode()
    assert "sys-erp" in html and "No active token" in html
    token_form = html.split('id="issue-token"')[1]
    assert 'name="expires_in_days" value="365"' in token_form and 'value="Kingdee ERP token"' in token_form


def test_the_form_explains_bad_input(admin_en, client_for, erp):
    client = client_for(admin_en)
    response = client.post(
        reverse("integrations_system_create"), {"code": "ERP", "name": "", "kind": "nope", "entities": ["x"]}
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) >= {"name", "kind", "entities"}
    response = client.post(
        reverse("integrations_system_create"), {"code": "ERP", "name": "Again", "kind": "erp"}
    )
    assert response.status_code == 400
    assert "code" in response.context["form"].errors
    assert ExternalSystem.objects.count() == 1


def test_an_admin_edits_a_system_but_not_its_code(admin_en, client_for, erp):
    client = client_for(admin_en)
    response = client.post(
        reverse("integrations_system_edit", args=[erp.pk]),
        {"code": "hacked", "name": "Yonyou ERP", "kind": "erp", "description": "Finance", "entities": []},
    )
    assert response.status_code == 302
    erp.refresh_from_db()
    assert erp.code == "erp" and erp.name == "Yonyou ERP" and erp.entities == []


def test_the_system_list_lists_every_system(admin_en, client_for, erp):
    html = client_for(admin_en).get(reverse("integrations_system_list")).content.decode()
    assert 'data-system="erp"' in html and "sys-erp" in html


def test_a_token_is_shown_once_with_a_copy_button_then_revoked(admin_en, client_for, erp):
    client = client_for(admin_en)
    response = client.post(
        reverse("integrations_system_token_create", args=[erp.pk]),
        {"name": "ERP prod", "expires_in_days": 90},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    token = ApiToken.objects.get(user=erp.user)
    plain = response.context["new_token"]
    assert plain.startswith(f"sy_{token.prefix}_")
    assert f'value="{plain}"' in html and "data-copy-target" in html
    # The token works as the machine user...
    me = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plain}").json()
    assert me["username"] == "sys-erp"
    # ...and is never shown again.
    assert plain not in client.get(reverse("integrations_system_detail", args=[erp.pk])).content.decode()

    response = client.post(reverse("integrations_system_token_revoke", args=[erp.pk, token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plain}").status_code == 401


def test_a_bad_token_form_is_explained(admin_en, client_for, erp):
    response = client_for(admin_en).post(
        reverse("integrations_system_token_create", args=[erp.pk]), {"name": "", "expires_in_days": 9999}
    )
    assert response.status_code == 400
    assert set(response.context["token_form"].errors) == {"name", "expires_in_days"}
    assert not ApiToken.objects.exists()


def test_deactivation_asks_first_then_blocks_the_tokens(admin_en, client_for, erp):
    plain = system_token_issue(actor=admin_en, system=erp, name="t", expires_in_days=5).plain
    client = client_for(admin_en)
    url = reverse("integrations_system_set_active", args=[erp.pk])
    page = client.get(url)
    assert page.status_code == 200 and "Deactivate “Kingdee ERP”?" in page.content.decode()
    erp.refresh_from_db()
    assert erp.is_active  # asking changes nothing
    assert client.post(url, {"active": "0"}).status_code == 302
    erp.refresh_from_db()
    assert not erp.is_active
    assert Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plain}").status_code == 401
    detail = client.get(reverse("integrations_system_detail", args=[erp.pk])).content.decode()
    assert "data-inactive" in detail and "Activate the system to issue tokens." in detail
    assert client.post(url, {"active": "1"}).status_code == 302
    assert Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plain}").status_code == 200


def test_an_unknown_system_is_404(personas, client_for):
    assert (
        client_for(personas.admin).get(reverse("integrations_system_detail", args=[999])).status_code == 404
    )


# --- batches ------------------------------------------------------------------------------------


def test_the_batch_detail_shows_each_rejection_and_its_reasons(admin_en, client_for, erp):
    from steelyard.customers.testing import make_customer

    customer = make_customer(admin_en, name="本地客户有限公司")
    batch = _batch(erp, entity="customer", created=1, rejected=2)
    InboundResult.objects.create(
        batch=batch, position=1, external_id="C-1", outcome="created", object_id=customer.pk
    )
    InboundResult.objects.create(
        batch=batch,
        position=2,
        external_id="C-2",
        outcome="rejected",
        reasons=[
            {"field": "credit_code", "message": "The check digit is wrong."},
            {"field": "owner", "message": "Unknown owner “zhang3”."},
        ],
    )
    InboundResult.objects.create(
        batch=batch,
        position=3,
        external_id="C-3",
        outcome="rejected",
        reasons=[{"field": "", "message": "Bad row."}],
    )
    client = client_for(admin_en)
    html = client.get(reverse("integrations_batch_detail", args=[batch.pk])).content.decode()
    assert 'data-count="rejected">2<' in html
    assert "<code>credit_code</code>: The check digit is wrong." in html
    assert "<code>owner</code>: Unknown owner “zhang3”." in html
    assert reverse("customer_detail", args=[customer.pk]) in html

    rejected = client.get(reverse("integrations_batch_detail", args=[batch.pk]), {"outcome": "rejected"})
    body = rejected.content.decode()
    assert body.count('data-outcome="rejected"') == 2 and 'data-outcome="created"' not in body
    assert (
        client.get(reverse("integrations_batch_detail", args=[batch.pk]), {"outcome": "junk"}).status_code
        == 200
    )


def test_the_batch_detail_paginates_results(admin_en, client_for, erp):
    batch = _batch(erp, rejected=120)
    InboundResult.objects.bulk_create(
        InboundResult(
            batch=batch, position=i, outcome="rejected", reasons=[{"field": "x", "message": f"m{i}"}]
        )
        for i in range(1, 121)
    )
    client = client_for(admin_en)
    first = client.get(reverse("integrations_batch_detail", args=[batch.pk]), {"outcome": "rejected"})
    assert first.content.decode().count('data-outcome="rejected"') == 50
    third = client.get(
        reverse("integrations_batch_detail", args=[batch.pk]), {"outcome": "rejected", "page": 3}
    )
    html = third.content.decode()
    assert html.count('data-outcome="rejected"') == 20 and 'data-result="120"' in html


def test_the_batch_list_filters_and_sorts(personas, admin_en, client_for, erp):
    mes = external_system_create(
        actor=personas.admin, code="mes", name="MES", kind="mes", description="", entities=[]
    )
    a = _batch(erp, entity="order", rejected=3, created=1, ago=dt.timedelta(days=3))
    b = _batch(erp, entity="payment", via=Via.FILE, created=9)
    c = _batch(mes, entity="production", created=2, rejected=1)
    client = client_for(admin_en)
    url = reverse("integrations_batch_list")

    def ids(**params):
        return [x.pk for x in client.get(url, params).context["page"].object_list]

    assert ids() == [c.pk, b.pk, a.pk]
    assert ids(system=erp.pk) == [b.pk, a.pk]
    assert ids(entity="order") == [a.pk]
    assert ids(via="file") == [b.pk]
    assert ids(rejected="1") == [c.pk, a.pk]
    assert ids(rejected="0") == [b.pk]
    today = timezone.localdate()
    assert ids(date_from=today.isoformat()) == [c.pk, b.pk]
    assert ids(date_to=(today - dt.timedelta(days=1)).isoformat()) == [a.pk]
    assert ids(sort="-rejected") == [a.pk, c.pk, b.pk]
    assert ids(sort="total") == [c.pk, a.pk, b.pk]
    # Bad values are ignored field by field, never a 500.
    response = client.get(url, {"system": "abc", "date_from": "yesterday", "sort": "drop table"})
    assert response.status_code == 200 and len(response.context["page"].object_list) == 3
    assert response.context["filter"].errors


def test_the_batch_list_empty_state(admin_en, client_for):
    html = client_for(admin_en).get(reverse("integrations_batch_list")).content.decode()
    assert "No batches received yet." in html


def test_the_batch_list_runs_a_fixed_number_of_queries(
    personas, client_for, erp, django_assert_max_num_queries
):
    client = client_for(personas.admin)
    client.get(reverse("integrations_batch_list"))
    for i in range(4):
        system = external_system_create(
            actor=personas.admin, code=f"s{i}", name=f"S{i}", kind="other", description="", entities=[]
        )
        for _j in range(8):
            _batch(system, rejected=1)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("integrations_batch_list"))
    assert len(response.context["page"].object_list) == 25


def test_the_batch_detail_runs_a_fixed_number_of_queries(
    admin_en, client_for, erp, django_assert_max_num_queries
):
    batch = _batch(erp, rejected=40)
    InboundResult.objects.bulk_create(
        InboundResult(batch=batch, position=i, outcome="rejected", reasons=[{"field": "x", "message": "m"}])
        for i in range(1, 41)
    )
    client = client_for(admin_en)
    client.get(reverse("integrations_batch_detail", args=[batch.pk]))
    with django_assert_max_num_queries(9):
        response = client.get(reverse("integrations_batch_detail", args=[batch.pk]))
    assert response.content.decode().count('data-outcome="rejected"') == 40
