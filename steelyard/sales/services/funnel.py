"""What the funnel page reads, kept on the opportunity: ``Opportunity.furthest_order``.

``furthest_order`` is the highest ``PlaybookStage.order`` among the stages the deal's stage history
(``StageVisit``) holds a stay in, the lost stage left out (empty when there is none). The funnel's
conversion ("reached a stage" = a stay in it or in a later one) then groups the opportunities alone
instead of joining 600k stage visits (``selectors.pipeline._reached_histogram``).

It is maintained where stage history is written: ``services.opportunities`` (create, stage move, close,
reopen: ``_enter`` raises it when the new stage is higher and not the lost one), ``services.playbooks``
(``playbook_migrate``: :func:`funnel_backfill` over the moved deals), ``testing.make_opportunity``, and
after bulk inserts (``demo``, ``bench.forecast``, tests that add ``StageVisit`` rows by hand):
:func:`funnel_backfill`, one set-based UPDATE recomputing it from the stage history. Migration
``0003_funnel_precompute`` runs the same SQL once over every existing deal.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

#: One UPDATE: every deal's highest non-lost stage order from its stage history (``%s`` = False).
BACKFILL_SQL = (
    'UPDATE sales_opportunity SET furthest_order = (SELECT MAX(s."order") FROM sales_stagevisit v'
    " INNER JOIN sales_playbookstage s ON s.id = v.stage_id"
    " WHERE v.opportunity_id = sales_opportunity.id AND s.is_lost = %s)"
)

#: Ids per statement when ``funnel_backfill`` is given ids (well under SQLite's parameter limit).
CHUNK = 5000


def funnel_backfill(ids: Iterable[int] | None = None) -> None:
    """Recompute ``Opportunity.furthest_order`` from ``StageVisit`` (every deal, or the ``ids``)."""
    with connection.cursor() as cursor:
        if ids is None:
            cursor.execute(BACKFILL_SQL, [False])
            return
        pks = sorted({int(pk) for pk in ids})
        for start in range(0, len(pks), CHUNK):
            chunk = pks[start : start + CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(f"{BACKFILL_SQL} WHERE sales_opportunity.id IN ({marks})", [False, *chunk])
