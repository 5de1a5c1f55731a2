"""Background and periodic jobs of the tier assessment.

- ``tiering.assess`` (periodic, Mondays 02:00): assess every customer under every active tier model.
  Also ``manage.py run_periodic tiering.assess``.
- :func:`assess_model` (on demand): one model, started from the model editor or the API with
  ``enqueue_job(assess_model, actor=…, args=[model.pk])``; the job's starter is recorded as the run's
  ``triggered_by`` and its page shows the progress.
- :func:`follow_tier_changes`: enqueued by a run after it commits; recomputes the pool clocks of the
  customers whose tier changed (``services.assessment.tier_changes_follow``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext_lazy as _

from steelyard.core.periodic import periodic
from steelyard.core.tasks import current_job_id, task
from steelyard.tiering.models import TierModel
from steelyard.tiering.services.assessment import assessment_run, tier_changes_follow

ASSESS_JOB = "tiering.assess"


def _summary(run: Any) -> dict[str, Any]:
    return {
        "run": run.pk,
        "model": run.model.code,
        "as_of": run.as_of.isoformat(),
        "customers": run.customers,
        "changed": run.changed,
        "duration_ms": run.duration_ms,
    }


def _job_starter() -> Any:
    from steelyard.core.models import Job

    job_id = current_job_id()
    if job_id is None:
        return None
    job = Job.objects.select_related("created_by").filter(pk=job_id).first()
    return job.created_by if job is not None else None


@periodic(
    ASSESS_JOB,
    cron="0 2 * * 1",
    description=_("Customer tiers: assess every customer under every active tier model."),
)
def assess_all_job() -> dict[str, Any]:
    """Every active model in turn; a model that fails is reported and the others still run."""
    results: dict[str, Any] = {}
    failed = []
    for model in TierModel.objects.filter(is_active=True).order_by("product_line_id", "code"):
        try:
            results[model.code] = _summary(assessment_run(model=model))
        except Exception as exc:  # the run row records the error; carry on with the next model
            results[model.code] = {"error": f"{type(exc).__name__}: {exc}"}
            failed.append(model.code)
    if failed:
        raise RuntimeError(f"tier assessment failed for {', '.join(failed)}: {results}")
    return results


@task
def assess_model(model_id: int, as_of: str | None = None) -> dict[str, Any]:
    """Assess every customer under one model (``as_of`` an ISO date, default today)."""
    model = TierModel.objects.get(pk=model_id)
    day = dt.date.fromisoformat(as_of) if as_of else None
    return _summary(assessment_run(model=model, actor=_job_starter(), as_of=day))


@task
def follow_tier_changes(run_id: int) -> dict[str, int]:
    """Recompute the pool clocks of customers whose tier changed in run ``run_id``."""
    return tier_changes_follow(run=run_id)
