"""Creating and deactivating pools: service, pages and API, from the persona sides."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from steelyard.core.models import AuditLog
from steelyard.customers.models import Pool
from steelyard.customers.services import pool as svc
from steelyard.customers.testing import make_customer, make_pool

DEFAULTS = {("no_visit", ""): 45, ("no_followup", ""): 30}


def _rules(pool: Pool) -> dict[tuple[str, str], int]:
    return {(r.trigger, r.tier): r.days for r in pool.rules.all()}


def _audit(pool: Pool, verb: str) -> AuditLog | None:
    return AuditLog.objects.filter(object_id=str(pool.pk), verb=verb).first()


def test_it_creates_a_pool_with_default_rules_and_an_audit_row(personas):
    pool = svc.pool_create(
        actor=personas.admin,
        name="华东公海",
        org_unit=personas.team_a,
        members=[personas.alice],
        admins=[personas.bob],
        holding_cap=80,
    )
    assert pool.is_active and pool.holding_cap == 80
    assert _rules(pool) == DEFAULTS
    assert list(pool.members.all()) == [personas.alice]
    assert list(pool.admins.all()) == [personas.bob]  # an administrator is not added
    row = _audit(pool, "pool.created")
    assert row is not None and row.actor == personas.admin and row.extra["members"] == [personas.alice.pk]


def test_it_lets_a_director_create_a_pool_only_over_her_units(personas):
    pool = svc.pool_create(actor=personas.dora, name="上海公海", org_unit=personas.team_a)
    assert personas.dora in pool.admins.all()  # she can edit its rules next
    with pytest.raises(PermissionDenied):
        svc.pool_create(actor=personas.dora, name="北京公海", org_unit=personas.beijing)
    for user in (personas.alice, personas.bob, personas.charlie):
        with pytest.raises(PermissionDenied):
            svc.pool_create(actor=user, name="x", org_unit=user.org_unit)
    with pytest.raises(ValidationError):
        svc.pool_create(actor=personas.admin, name="  ", org_unit=personas.team_a)


def test_it_refuses_to_deactivate_a_pool_holding_customers_then_allows_it_when_empty(personas):
    pool = make_pool(personas.team_a, members=[personas.alice], admins=[personas.bob])
    waiting = make_customer(None, pool=pool)
    private = make_customer(personas.alice, pool=pool, owned_since=timezone.now())
    with pytest.raises(PermissionDenied):
        svc.pool_deactivate(actor=personas.alice, pool=pool)
    with pytest.raises(PermissionDenied):
        svc.pool_deactivate(actor=personas.charlie, pool=pool)
    with pytest.raises(ValidationError) as exc:
        svc.pool_deactivate(actor=personas.bob, pool=pool)
    assert exc.value.code == "pool_not_empty"
    pool.refresh_from_db()
    assert pool.is_active and _audit(pool, "pool.deactivated") is None
    svc.customer_claim(actor=personas.alice, customer_id=waiting.pk)
    parent = make_pool(personas.shanghai, name="分公司公海")
    svc.pool_deactivate(actor=personas.bob, pool=pool)
    pool.refresh_from_db()
    assert not pool.is_active
    assert _audit(pool, "pool.deactivated").changes == {"is_active": [True, False]}
    private.refresh_from_db()
    assert private.pool_id == parent.pk  # re-homed to the nearest active pool of its unit
    with pytest.raises(ValidationError):
        svc.pool_deactivate(actor=personas.bob, pool=pool)


def test_it_refuses_deactivation_through_the_settings_form_too(personas):
    pool = make_pool(personas.team_a, admins=[personas.bob])
    make_customer(None, pool=pool)
    with pytest.raises(ValidationError):
        svc.pool_update(actor=personas.bob, pool=pool, is_active=False)


def test_it_offers_the_new_pool_page_to_administrators_and_directors(personas, client_for):
    assert "data-new-pool" in client_for(personas.admin).get(reverse("pool_list")).content.decode()
    assert "data-new-pool" not in client_for(personas.alice).get(reverse("pool_list")).content.decode()
    url = reverse("pool_create")
    for user in (personas.alice, personas.bob, personas.charlie):
        assert client_for(user).get(url).status_code in (403, 404)
        assert client_for(user).post(url, {"name": "x", "org_unit": user.org_unit_id}).status_code in (
            403,
            404,
        )
    assert not Pool.objects.exists()
    r = client_for(personas.dora).get(url)
    body = r.content.decode()
    assert r.status_code == 200
    # the unit select lists only units she can see
    assert f'value="{personas.team_a.pk}"' in body and f'value="{personas.beijing.pk}"' not in body
    r = client_for(personas.dora).post(url, {"name": "x", "org_unit": personas.beijing.pk})
    assert r.status_code == 200 and not Pool.objects.exists()


def test_it_creates_a_pool_from_the_page_and_deactivates_it_from_settings(personas, client_for):
    c = client_for(personas.admin)
    data = {
        "name": "华东公海",
        "org_unit": personas.team_a.pk,
        "holding_cap": 100,
        "claims_per_day": 5,
        "cooldown_days": 30,
        "warn_days": 7,
        "exclude_won_within_days": 90,
        "exclude_open_opportunity": "on",
        "members": [personas.alice.pk],
    }
    r = c.post(reverse("pool_create"), data)
    pool = Pool.objects.get()
    assert r.status_code == 302 and r["Location"] == reverse("pool_settings", args=[pool.pk])
    assert _rules(pool) == DEFAULTS and pool.claims_per_day == 5
    settings = c.get(r["Location"]).content.decode()
    assert "data-pool-deactivate" in settings and "data-confirm=" in settings
    customer = make_customer(None, pool=pool)
    deactivate = reverse("pool_deactivate", args=[pool.pk])
    assert client_for(personas.alice).post(deactivate).status_code == 404
    assert client_for(personas.charlie).post(deactivate).status_code == 404
    r = c.post(deactivate)
    assert r.status_code == 302 and r["Location"] == reverse("pool_settings", args=[pool.pk])
    pool.refresh_from_db()
    assert pool.is_active
    customer.delete()
    assert c.post(deactivate).status_code == 302
    pool.refresh_from_db()
    assert not pool.is_active


def test_it_creates_a_pool_through_the_api(personas, client_for):
    url = "/api/v1/customers/pool/pools"
    body = {"name": "API 公海", "org_unit_id": personas.team_a.pk, "member_ids": [personas.alice.pk]}
    r = client_for(personas.alice).post(url, body, content_type="application/json")
    assert r.status_code in (403, 404)
    r = client_for(personas.charlie).post(url, body, content_type="application/json")
    assert r.status_code in (403, 404)
    r = client_for(personas.dora).post(
        url, {**body, "org_unit_id": personas.beijing.pk}, content_type="application/json"
    )
    assert r.status_code == 404
    assert not Pool.objects.exists()
    r = client_for(personas.admin).post(url, {**body, "warn_days": 3}, content_type="application/json")
    assert r.status_code == 201, r.content
    out = r.json()
    assert out["warn_days"] == 3 and out["member_ids"] == [personas.alice.pk] and out["is_active"]
    assert {(x["trigger"], x["tier"]): x["days"] for x in out["rules"]} == DEFAULTS
    assert _audit(Pool.objects.get(pk=out["id"]), "pool.created") is not None
    r = client_for(personas.admin).post(
        url, {**body, "member_ids": [999999]}, content_type="application/json"
    )
    assert r.status_code == 400
