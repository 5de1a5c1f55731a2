"""``Opportunity.furthest_order`` (what the funnel's conversion reads) as the services keep it equals a
recount from the stage history (``services.funnel.funnel_backfill``) after every kind of stage write."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from steelyard.customers.testing import make_customer
from steelyard.orders.testing import make_product_line
from steelyard.sales.models import Opportunity, Playbook, PlaybookStatus
from steelyard.sales.services import opportunities as opps
from steelyard.sales.services import playbooks as books
from steelyard.sales.services.funnel import funnel_backfill
from steelyard.sales.testing import make_opportunity, make_playbook, stage_of

pytestmark = pytest.mark.django_db


def kept() -> dict[int, int | None]:
    return dict(Opportunity.objects.order_by("pk").values_list("pk", "furthest_order"))


def recounted() -> dict[int, int | None]:
    funnel_backfill()
    return kept()


def test_the_kept_furthest_stage_equals_a_recount_after_every_write(personas):
    Playbook.objects.all().delete()
    line = make_product_line("CRANE", name="起重机")
    v1 = make_playbook(line, items=False)
    alice = personas.alice
    close = timezone.localdate() + dt.timedelta(days=30)

    def new(name: str) -> Opportunity:
        return opps.opportunity_create(
            actor=alice,
            customer=make_customer(alice),
            product_line=line,
            name=name,
            expected_close_date=close,
            amount=Decimal("1000"),
        )

    def move(opp: Opportunity, code: str, **kw) -> None:
        opps.opportunity_stage_move(actor=alice, opportunity=opp, to_stage=code, **kw)

    forward, skipper, lost, migrated, stays = (new(n) for n in ("前进", "跳级", "输单", "迁移", "原地"))
    assert kept()[forward.pk] == stage_of(v1, "qualify").order  # created in the first stage
    move(forward, "needs")
    move(forward, "proposal")
    move(forward, "qualify")  # back: the furthest stage stays
    assert kept()[forward.pk] == stage_of(v1, "proposal").order
    move(skipper, "negotiation")  # a skipped stage counts as reached
    opps.opportunity_close(actor=alice, opportunity=skipper, outcome="won")
    assert kept()[skipper.pk] == stage_of(v1, "won").order
    move(lost, "needs")
    move(lost, "lost", close_reason="price")  # the lost stage never counts
    assert kept()[lost.pk] == stage_of(v1, "needs").order
    opps.opportunity_reopen(actor=alice, opportunity=Opportunity.objects.get(pk=lost.pk))
    move(Opportunity.objects.get(pk=lost.pk), "proposal")
    opps.opportunity_close(
        actor=alice, opportunity=Opportunity.objects.get(pk=lost.pk), outcome="lost", reason="price"
    )
    opps.opportunity_reopen(actor=alice, opportunity=Opportunity.objects.get(pk=skipper.pk))
    assert kept()[skipper.pk] == stage_of(v1, "won").order  # reopening keeps what was reached
    # A new version, the deal's stage mapped further on.
    v2 = make_playbook(line, version=2, status=PlaybookStatus.DRAFT, items=False)
    books.playbook_activate(actor=personas.admin, playbook=v2)
    books.playbook_migrate(
        actor=personas.admin,
        source=v1,
        target=v2,
        stage_map={stage_of(v1, "qualify").pk: stage_of(v2, "negotiation").pk},
    )
    assert Opportunity.objects.get(pk=migrated.pk).playbook_id == v2.pk
    assert kept()[migrated.pk] == stage_of(v2, "negotiation").order
    assert kept()[stays.pk] == kept()[migrated.pk]  # both were in qualify
    before = kept()
    assert None not in before.values()
    assert before == recounted()


def test_backfill_recounts_hand_written_history_and_leaves_a_lost_only_deal_empty(personas):
    Playbook.objects.all().delete()
    line = make_product_line("CRANE", name="起重机")
    pb = make_playbook(line, items=False)
    at_lost = make_opportunity(personas.alice, playbook=pb, stage="lost")
    at_needs = make_opportunity(personas.alice, playbook=pb, stage="needs")
    assert kept() == {at_lost.pk: None, at_needs.pk: stage_of(pb, "needs").order}
    Opportunity.objects.update(furthest_order=99)
    funnel_backfill([at_needs.pk])
    assert kept() == {at_lost.pk: 99, at_needs.pk: stage_of(pb, "needs").order}
    assert recounted() == {at_lost.pk: None, at_needs.pk: stage_of(pb, "needs").order}
