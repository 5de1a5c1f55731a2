"""The pool engine with frozen time: the clock, exclusions, warnings, sweep, claim limits."""

from __future__ import annotations

import datetime as dt
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from steelyard.core.models import AuditLog, Notification
from steelyard.customers.models import Customer, OwnershipAction, OwnershipEvent, PoolRule
from steelyard.customers.services import pool as svc
from steelyard.customers.testing import make_customer, make_pool

TZ = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2027, 3, 3, 10, 0, tzinfo=TZ)


def at(days: float, base: dt.datetime = T0) -> dt.datetime:
    return base + dt.timedelta(days=days)


@pytest.fixture
def pool(personas):
    p = make_pool(
        personas.team_a,
        members=[personas.alice, personas.bob],
        admins=[personas.bob],
        warn_days=7,
        exclude_won_within_days=90,
        holding_cap=3,
        claims_per_day=2,
        cooldown_days=30,
    )
    for trigger, tier, days in [
        ("no_visit", "A", 90),
        ("no_visit", "B", 60),
        ("no_visit", "", 45),
        ("no_followup", "", 30),
        ("no_followup", "A", 60),
    ]:
        PoolRule.objects.create(pool=p, trigger=trigger, tier=tier, days=days)
    return p


def owned(personas, pool, **kw) -> Customer:
    kw.setdefault("owned_since", T0)
    c = make_customer(personas.alice, pool=pool, **kw)
    return svc.customer_clock_recompute(c, now=T0)


@time_machine.travel(T0, tick=False)
def test_it_counts_a_fresh_owner_a_full_period(personas, pool):
    c = owned(personas, pool, tier="A")
    # tier A: no visit 90, no follow-up 60 → follow-up wins
    assert c.recycle_at == dt.date(2027, 5, 2)
    assert c.recycle_trigger == "no_followup"
    c.refresh_from_db()
    assert c.recycle_at == dt.date(2027, 5, 2)


@time_machine.travel(T0, tick=False)
def test_it_gives_untiered_customers_the_strictest_days(personas, pool):
    c = owned(personas, pool, tier="")
    assert (c.recycle_at, c.recycle_trigger) == (dt.date(2027, 4, 2), "no_followup")  # 30 days
    PoolRule.objects.filter(pool=pool, trigger="no_followup").delete()
    c = svc.customer_clock_recompute(c, now=T0)
    assert (c.recycle_at, c.recycle_trigger) == (dt.date(2027, 4, 17), "no_visit")  # min(90, 60, 45)


@time_machine.travel(T0, tick=False)
def test_it_uses_the_tier_days_and_falls_back_to_the_untiered_rule(personas, pool):
    b = owned(personas, pool, tier="B")
    # tier B: no visit 60; no follow-up has no B rule → the untiered 30
    assert (b.recycle_at, b.recycle_trigger) == (dt.date(2027, 4, 2), "no_followup")
    PoolRule.objects.filter(pool=pool, trigger="no_followup").delete()
    b = svc.customer_clock_recompute(b, now=T0)
    assert (b.recycle_at, b.recycle_trigger) == (dt.date(2027, 5, 2), "no_visit")


@pytest.mark.parametrize(
    "trigger,event",
    [
        ("no_visit", "visit"),
        ("no_followup", "followup"),
        ("no_opportunity", "opportunity"),
        ("no_deal", "deal"),
    ],
)
def test_it_fires_every_trigger_from_its_own_event(personas, pool, trigger, event):
    PoolRule.objects.filter(pool=pool).delete()
    PoolRule.objects.create(pool=pool, trigger=trigger, tier="", days=10)
    pool.exclude_won_within_days = 0
    pool.save()
    with time_machine.travel(T0, tick=False):
        c = owned(personas, pool, owned_since=at(-100))
        assert (
            c.recycle_at == dt.date(2026, 12, 3) and c.recycle_trigger == trigger
        )  # counted from owned_since
        c = svc.customer_record_event(customer=c, event=event, at=at(-1))
    c.refresh_from_db()
    assert c.recycle_at == dt.date(2027, 3, 12)
    assert c.recycle_trigger == trigger
    assert c.recycle_since == at(-1)


@time_machine.travel(T0, tick=False)
def test_it_counts_a_visit_as_a_follow_up(personas, pool):
    c = owned(personas, pool, tier="A", owned_since=at(-50))
    svc.customer_record_event(customer=c, event="visit", at=at(-5))
    c.refresh_from_db()
    # follow-up (60) now counts from the visit: 2027-02-26 + 60; no visit (90) from the visit too
    assert (c.recycle_at, c.recycle_trigger) == (dt.date(2027, 4, 27), "no_followup")


@time_machine.travel(T0, tick=False)
def test_it_keeps_the_latest_event_when_an_older_one_arrives_late(personas, pool):
    c = owned(personas, pool, tier="A", owned_since=at(-200))
    svc.customer_record_event(customer=c, event="visit", at=at(-2))
    c.refresh_from_db()
    date_after_new = c.recycle_at
    stale = Customer.objects.get(pk=c.pk)
    stale.last_visit_at = None  # an out-of-date copy must not matter either
    with mock.patch.object(svc, "customer_clock_recompute", wraps=svc.customer_clock_recompute) as spy:
        svc.customer_record_event(customer=stale, event="visit", at=at(-40))
    assert spy.call_count == 0  # nothing changed, nothing recomputed
    c.refresh_from_db()
    assert c.last_visit_at == at(-2)
    assert c.recycle_at == date_after_new


@time_machine.travel(T0, tick=False)
def test_it_records_an_event_with_two_queries_when_the_clock_does_not_move(
    personas, pool, django_assert_max_num_queries
):
    c = owned(personas, pool, tier="A", owned_since=at(-1))
    with django_assert_max_num_queries(6):
        svc.customer_record_event(customer=c, event="opportunity", at=at(-1))


@time_machine.travel(T0, tick=False)
def test_it_refuses_an_unknown_event(personas, pool):
    c = owned(personas, pool)
    with pytest.raises(ValidationError):
        svc.customer_record_event(customer=c, event="lunch", at=T0)


@time_machine.travel(T0, tick=False)
def test_it_excludes_a_customer_locked_by_a_manager(personas, pool):
    c = owned(personas, pool)
    with pytest.raises(PermissionDenied):
        svc.customer_lock(actor=personas.alice, customer=c, until=dt.date(2027, 6, 1), reason="mine")
    with pytest.raises(ValidationError):
        svc.customer_lock(actor=personas.bob, customer=c, until=dt.date(2027, 3, 1), reason="past")
    c = svc.customer_lock(actor=personas.bob, customer=c, until=dt.date(2027, 6, 1), reason="tender pending")
    assert c.recycle_at is None and c.recycle_trigger == ""
    assert AuditLog.objects.filter(verb="pool.locked", object_id=str(c.pk)).count() == 1
    # after the lock ends, the nightly re-arm puts the clock back
    with time_machine.travel(dt.datetime(2027, 6, 2, 1, 30, tzinfo=TZ), tick=False):
        assert svc.pool_rearm()["rearmed"] == 1
    c.refresh_from_db()
    assert c.recycle_at == dt.date(2027, 4, 2)


@time_machine.travel(T0, tick=False)
def test_it_excludes_a_customer_with_an_open_opportunity(personas, pool):
    c = owned(personas, pool)
    c = svc.customer_set_open_opportunity(customer=c, has_open=True)
    c.refresh_from_db()
    assert c.recycle_at is None
    pool.exclude_open_opportunity = False
    pool.save()
    svc.customer_clock_recompute(c)
    assert c.recycle_at == dt.date(2027, 4, 2)
    pool.exclude_open_opportunity = True
    pool.save()
    svc.customer_set_open_opportunity(customer=c, has_open=False)
    c.refresh_from_db()
    assert c.recycle_at == dt.date(2027, 4, 2)


@time_machine.travel(T0, tick=False)
def test_it_excludes_a_customer_with_a_recent_deal(personas, pool):
    c = owned(personas, pool, owned_since=at(-300))
    svc.customer_record_event(customer=c, event="deal", at=at(-89))
    c.refresh_from_db()
    assert c.recycle_at is None
    with time_machine.travel(at(2), tick=False):
        svc.pool_rearm()
    c.refresh_from_db()
    # the deal window ended; no follow-up since owned → due already
    assert c.recycle_at == dt.date(2026, 6, 6)


@time_machine.travel(T0, tick=False)
def test_it_gives_unowned_and_merged_customers_no_clock(personas, pool):
    c = make_customer(None, pool=pool, owned_since=T0)
    assert svc.customer_clock_recompute(c).recycle_at is None
    m = owned(personas, pool)
    m.merged_into = c
    assert svc.customer_clock_recompute(m).recycle_at is None


def test_it_finds_the_pool_of_the_nearest_unit(personas):
    assert svc.pool_for_unit(personas.team_a) is None
    east = make_pool(personas.east)
    assert svc.pool_for_unit(personas.team_a) == east
    team = make_pool(personas.team_a)
    assert svc.pool_for_unit(personas.team_a) == team
    team.is_active = False
    team.save()
    assert svc.pool_for_unit(personas.team_a) == east
    assert svc.pool_for_unit(personas.team_c) is None


# --- warnings --------------------------------------------------------------------------------


def test_it_warns_owner_and_manager_once_n_days_before(personas, pool):
    with time_machine.travel(T0, tick=False):
        c1 = owned(personas, pool)  # 2027-04-02
        c2 = owned(personas, pool)
    with time_machine.travel(dt.datetime(2027, 3, 25, 1, 0, tzinfo=TZ), tick=False):  # 8 days before
        assert svc.pool_warn()["warned"] == 0
    with time_machine.travel(dt.datetime(2027, 3, 26, 1, 0, tzinfo=TZ), tick=False):  # 7 days before
        assert svc.pool_warn() == {"warned": 2, "notifications": 2}
        assert Notification.objects.filter(recipient=personas.alice, event="pool.warning").count() == 1
        assert Notification.objects.filter(recipient=personas.bob, event="pool.warning").count() == 1
        assert svc.pool_warn()["warned"] == 0  # idempotent the same day
    with time_machine.travel(dt.datetime(2027, 3, 28, 1, 0, tzinfo=TZ), tick=False):
        assert svc.pool_warn()["warned"] == 0  # and the next days
        svc.customer_record_event(customer=c1, event="followup", at=timezone.now())
    c1.refresh_from_db()
    assert c1.recycle_at == dt.date(2027, 4, 17)  # untiered: no visit within the strictest 45 days
    with time_machine.travel(dt.datetime(2027, 4, 10, 1, 0, tzinfo=TZ), tick=False):
        assert svc.pool_warn()["warned"] == 1  # its new date is a new warning
    assert c2.pk


# --- the sweep -------------------------------------------------------------------------------


def _due_set(personas, pool):
    with time_machine.travel(at(-60), tick=False):
        due_visit = [owned(personas, pool, tier="B", owned_since=at(-60)) for _ in range(3)]
        PoolRule.objects.filter(pool=pool, trigger="no_followup").delete()
        due_untiered = [owned(personas, pool, tier="", owned_since=at(-60)) for _ in range(2)]
    with time_machine.travel(T0, tick=False):
        fresh = [owned(personas, pool, tier="B") for _ in range(2)]
    return due_visit, due_untiered, fresh


def test_it_sweeps_exactly_the_due_customers_with_their_rule(personas, pool):
    due_visit, due_untiered, fresh = _due_set(personas, pool)
    charlie_c = make_customer(personas.charlie, owned_since=at(-400))  # no pool: never swept
    with time_machine.travel(at(0.5), tick=False):
        result = svc.pool_sweep(chunk_size=2)
        assert result["moved"] == 5 and result["due"] == 5
        # tier B fell back to the untiered follow-up rule (30 days); the others had only no-visit rules left
        assert result["by_rule"] == {"no_followup": 3, "no_visit": 2}
        assert svc.pool_sweep()["moved"] == 0  # a second run moves nothing
    for c, rule in [(c, "no_followup") for c in due_visit] + [(c, "no_visit") for c in due_untiered]:
        c.refresh_from_db()
        assert c.owner_id is None and c.previous_owner_id == personas.alice.pk and c.recycle_at is None
        ev = OwnershipEvent.objects.get(customer=c)
        assert (ev.action, ev.rule, ev.from_owner_id) == (OwnershipAction.RECYCLE, rule, personas.alice.pk)
        log = AuditLog.objects.get(verb="pool.recycled", object_id=str(c.pk))
        assert log.extra["rule"] == rule
    for c in [*fresh, charlie_c]:
        c.refresh_from_db()
        assert c.owner_id is not None
    assert Notification.objects.filter(recipient=personas.alice, event="pool.recycled").count() == 1
    assert Notification.objects.filter(recipient=personas.bob, event="pool.recycled").count() == 1


def test_it_resumes_a_sweep_that_failed_mid_way(personas, pool):
    due_visit, due_untiered, _fresh = _due_set(personas, pool)
    real_chunk = svc._sweep_chunk
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("database went away")
        return real_chunk(*args, **kwargs)

    with time_machine.travel(at(0.5), tick=False):
        with mock.patch.object(svc, "_sweep_chunk", flaky), pytest.raises(RuntimeError):
            svc.pool_sweep(chunk_size=2)
        assert Customer.objects.filter(owner__isnull=True, pool=pool).count() == 2  # chunk 1 stayed done
        assert OwnershipEvent.objects.filter(action=OwnershipAction.RECYCLE).count() == 2
        assert svc.pool_sweep(chunk_size=2)["moved"] == 3
        assert svc.pool_sweep(chunk_size=2)["moved"] == 0
    assert OwnershipEvent.objects.filter(action=OwnershipAction.RECYCLE).count() == 5
    assert AuditLog.objects.filter(verb="pool.recycled").count() == 5


def test_it_does_not_sweep_a_customer_visited_since_its_date_was_read(personas, pool):
    due_visit, _u, _f = _due_set(personas, pool)
    target = due_visit[0]
    real_chunk = svc._sweep_chunk

    def visit_first(ids, **kw):
        svc.customer_record_event(customer=target, event="visit", at=timezone.now())
        return real_chunk(ids, **kw)

    with time_machine.travel(at(0.5), tick=False), mock.patch.object(svc, "_sweep_chunk", visit_first):
        assert svc.pool_sweep(chunk_size=100)["moved"] == 4
    target.refresh_from_db()
    assert target.owner_id == personas.alice.pk


def test_it_runs_the_nightly_job(personas, pool):
    from steelyard.core.periodic import periodic_run
    from steelyard.customers.tasks import POOL_SWEEP_JOB

    _due_set(personas, pool)
    with time_machine.travel(at(0.5), tick=False):
        job = periodic_run(POOL_SWEEP_JOB)
    assert job.result["moved"] == 5
    assert job.progress_done == 5 and job.progress_total == 5


# --- claim limits ----------------------------------------------------------------------------


def pooled(pool, **kw) -> Customer:
    return make_customer(None, pool=pool, **kw)


@time_machine.travel(T0, tick=False)
def test_it_claims_with_an_event_an_audit_row_and_a_fresh_clock(personas, pool):
    c = pooled(pool, last_visit_at=at(-300))
    c = svc.customer_claim(actor=personas.alice, customer_id=c.pk, reason="met them at the fair")
    c.refresh_from_db()
    assert c.owner == personas.alice and c.org_unit == personas.team_a and c.owned_since == T0
    assert c.recycle_at == dt.date(2027, 4, 2)  # a full period from the claim
    ev = OwnershipEvent.objects.get(customer=c)
    assert (ev.action, ev.reason) == (OwnershipAction.CLAIM, "met them at the fair")
    assert AuditLog.objects.filter(verb="pool.claimed", object_id=str(c.pk)).count() == 1
    with pytest.raises(ValidationError) as e:
        svc.customer_claim(actor=personas.bob, customer_id=c.pk)
    assert e.value.messages == [str(svc.ERR_ALREADY_CLAIMED)]


@time_machine.travel(T0, tick=False)
def test_it_refuses_claims_by_non_members(personas, pool):
    c = pooled(pool)
    with pytest.raises(PermissionDenied):
        svc.customer_claim(actor=personas.charlie, customer_id=c.pk)


@time_machine.travel(T0, tick=False)
def test_it_enforces_the_holding_cap(personas, pool):
    for _ in range(3):
        make_customer(personas.alice, pool=pool)
    c = pooled(pool)
    with pytest.raises(ValidationError) as e:
        svc.customer_claim(actor=personas.alice, customer_id=c.pk)
    assert e.value.code == "holding_cap"


def test_it_enforces_claims_per_day(personas, pool):
    pool.holding_cap = 100
    pool.save()
    cs = [pooled(pool) for _ in range(3)]
    with time_machine.travel(T0, tick=False):
        svc.customer_claim(actor=personas.alice, customer_id=cs[0].pk)
        svc.customer_claim(actor=personas.alice, customer_id=cs[1].pk)
        with pytest.raises(ValidationError) as e:
            svc.customer_claim(actor=personas.alice, customer_id=cs[2].pk)
        assert e.value.code == "claims_per_day"
    with time_machine.travel(at(1), tick=False):
        svc.customer_claim(actor=personas.alice, customer_id=cs[2].pk)


def test_it_enforces_the_cooldown_for_the_previous_owner(personas, pool):
    with time_machine.travel(T0, tick=False):
        c = owned(personas, pool)
        svc.customer_release(actor=personas.alice, customer=c, reason="not a fit")
    with time_machine.travel(at(29), tick=False):
        with pytest.raises(ValidationError) as e:
            svc.customer_claim(actor=personas.alice, customer_id=c.pk)
        assert e.value.code == "cooldown"
        svc.customer_claim(actor=personas.bob, customer_id=c.pk)  # someone else may
        svc.customer_release(actor=personas.bob, customer=Customer.objects.get(pk=c.pk), reason="back")
    with time_machine.travel(at(31), tick=False):
        svc.customer_claim(actor=personas.alice, customer_id=c.pk)


@time_machine.travel(T0, tick=False)
def test_it_releases_only_with_a_reason_by_owner_or_manager(personas, pool):
    c = owned(personas, pool)
    with pytest.raises(ValidationError):
        svc.customer_release(actor=personas.alice, customer=c, reason="  ")
    with pytest.raises(PermissionDenied):
        svc.customer_release(actor=personas.charlie, customer=c, reason="grab")
    svc.customer_release(actor=personas.bob, customer=c, reason="rebalancing")
    c.refresh_from_db()
    assert c.owner_id is None and c.previous_owner_id == personas.alice.pk
    assert OwnershipEvent.objects.filter(customer=c, action=OwnershipAction.RELEASE).count() == 1
    assert AuditLog.objects.filter(verb="pool.released", object_id=str(c.pk)).count() == 1


@time_machine.travel(T0, tick=False)
def test_it_recomputes_clocks_when_rules_change(personas, pool):
    c = owned(personas, pool, tier="A")
    assert c.recycle_at == dt.date(2027, 5, 2)
    with pytest.raises(PermissionDenied):
        svc.pool_rules_set(actor=personas.alice, pool=pool, rules={("no_followup", "A"): 10})
    svc.pool_rules_set(actor=personas.bob, pool=pool, rules={("no_followup", "A"): 10})
    c.refresh_from_db()
    assert c.recycle_at == dt.date(2027, 3, 13)
    assert AuditLog.objects.filter(verb="pool.rules_changed").count() == 1
