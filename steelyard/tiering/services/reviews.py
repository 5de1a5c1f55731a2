"""Tier reviews: a manager's conclusion, saved with the performance data it was made on.

:func:`review_create` takes a snapshot of :func:`~steelyard.tiering.selectors.customers.review_data` (within
the reviewer's scope) at the moment of saving. A review is never changed afterwards: there is no update
service, and one review is kept per model and period.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from steelyard.core.access import user_has_role
from steelyard.core.models import AuditAction
from steelyard.core.services.audit import audit_record
from steelyard.tiering.models import TierModel, TierReview

#: who reviews tiers (administrators always may)
REVIEW_ROLES = ("sales_manager", "sales_director", "executive")
MAX_CONCLUSION = 5000

ERR_ROLE = _("Only managers, directors and executives review tiers.")
ERR_MODEL = _("Choose an active tier model.")
ERR_PERIOD = _("Choose a quarter such as 2026-Q3.")
ERR_CONCLUSION = _("Write what you conclude from the figures.")
ERR_CONCLUSION_LONG = _("Keep the conclusion under %(max)s characters.")
ERR_DUPLICATE = _("This model has already been reviewed for %(period)s.")

AUDIT_REVIEWED = "tiering.reviewed"


def can_review(user: Any) -> bool:
    return user_has_role(user, *REVIEW_ROLES)


@transaction.atomic
def review_create(*, actor: Any, model: TierModel | None, period: str, conclusion: str) -> TierReview:
    """Save a tier review of ``model`` for ``period`` ("2026-Q3") with the data reviewed; audited."""
    from steelyard.tiering.selectors.customers import menu_in_force, period_bounds, review_data

    if not can_review(actor):
        raise PermissionDenied(str(ERR_ROLE))
    errors: dict[str, Any] = {}
    if model is None or not model.is_active:
        errors["model"] = ERR_MODEL
    try:
        start, end = period_bounds(period)
    except (ValueError, TypeError):
        errors["period"] = ERR_PERIOD
    conclusion = (conclusion or "").strip()
    if not conclusion:
        errors["conclusion"] = ERR_CONCLUSION
    elif len(conclusion) > MAX_CONCLUSION:
        errors["conclusion"] = ValidationError(ERR_CONCLUSION_LONG, params={"max": MAX_CONCLUSION})
    if errors:
        raise ValidationError(errors)
    assert model is not None
    if TierReview.objects.filter(model=model, period=period).exists():
        raise ValidationError({"period": ValidationError(ERR_DUPLICATE, params={"period": period})})
    snapshot = review_data(user=actor, model=model, period=period)
    snapshot["reviewer_scope"] = str(actor)
    try:
        with transaction.atomic():
            review = TierReview.objects.create(
                model=model,
                period=period,
                reviewer=actor,
                snapshot=snapshot,
                conclusion=conclusion,
                menu=menu_in_force(start, end),
            )
    except IntegrityError:  # a simultaneous review of the same period
        raise ValidationError({"period": ValidationError(ERR_DUPLICATE, params={"period": period})})
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=review,
        verb=AUDIT_REVIEWED,
        changes={"period": [None, period], "conclusion": [None, conclusion]},
        extra={"model": model.code},
    )
    return review
