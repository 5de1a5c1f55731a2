"""Twenty reps claim one customer at the same moment, five times over: exactly one wins each time.

Each thread uses its own database connection (Django's connections are per thread), so this needs a
database that several connections share: a file on SQLite (see the TEST name in settings), or the
PostgreSQL test database — hence ``transaction=True``.
"""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connections

from steelyard.core.models import AuditLog
from steelyard.customers.models import Customer, OwnershipAction, OwnershipEvent
from steelyard.customers.services import pool as svc
from steelyard.customers.testing import make_customer, make_pool
from steelyard.org.models import Role, User

THREADS = 20
ROUNDS = 5


def _claim_all(customer_id: int, reps: list[User]) -> tuple[list[int], list[str], list[BaseException]]:
    barrier = threading.Barrier(len(reps))
    winners: list[int] = []
    refused: list[str] = []
    crashed: list[BaseException] = []
    lock = threading.Lock()

    def run(rep: User) -> None:
        try:
            barrier.wait(timeout=30)
            svc.customer_claim(actor=rep, customer_id=customer_id, reason="race")
            with lock:
                winners.append(rep.pk)
        except ValidationError as e:
            with lock:
                refused.append(e.code or "")
                assert e.messages == [str(svc.ERR_ALREADY_CLAIMED)], e.messages
        except BaseException as e:  # noqa: BLE001 — an OperationalError here is the failure we look for
            with lock:
                crashed.append(e)
        finally:
            # This thread opened its own connection: close it, or the test database cannot be dropped.
            connections.close_all()

    threads = [threading.Thread(target=run, args=(rep,)) for rep in reps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return winners, refused, crashed


@pytest.mark.django_db(transaction=True)
def test_it_lets_exactly_one_of_twenty_simultaneous_claims_win(personas):
    rep_role = Role.objects.get(code="sales_rep")
    reps = []
    for i in range(THREADS):
        u = User.objects.create_user(username=f"racer{i}", org_unit=personas.team_a, manager=personas.bob)
        u.roles.set([rep_role])
        reps.append(u)
    pool = make_pool(
        personas.team_a,
        members=reps,
        admins=[personas.bob],
        holding_cap=100,
        claims_per_day=100,
        cooldown_days=0,
    )
    customer = make_customer(None, pool=pool)

    for round_no in range(ROUNDS):
        winners, refused, crashed = _claim_all(customer.pk, reps)
        assert not crashed, [repr(e) for e in crashed]
        assert not any(isinstance(e, OperationalError) for e in crashed)
        assert len(winners) == 1, f"round {round_no}: {len(winners)} winners"
        assert refused == ["already_claimed"] * (THREADS - 1)
        claims = OwnershipEvent.objects.filter(customer=customer, action=OwnershipAction.CLAIM)
        assert claims.count() == round_no + 1
        assert claims.first().to_owner_id == winners[0]
        assert (
            AuditLog.objects.filter(verb="pool.claimed", object_id=str(customer.pk)).count() == round_no + 1
        )
        customer.refresh_from_db()
        assert customer.owner_id == winners[0]
        svc.customer_release(actor=personas.bob, customer=customer, reason=f"round {round_no} done")
    assert Customer.objects.get(pk=customer.pk).owner_id is None
