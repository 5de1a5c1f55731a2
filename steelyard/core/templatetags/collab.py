"""Template tags for comments and attachments on any record.

``{% include "core/collab/_record_collab.html" with record=obj %}`` is the public entry
point; it uses ``{% record_collab record %}`` from here.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.db import models
from django.utils.html import conditional_escape, linebreaks
from django.utils.safestring import SafeString, mark_safe

from steelyard.core.selectors.collaboration import record_label
from steelyard.core.services.collaboration import MENTION_RE

register = template.Library()


@register.inclusion_tag("core/collab/_panels.html", takes_context=True)
def record_collab(context: template.Context, record: models.Model) -> dict[str, Any]:
    """Both panels (comments and files) of ``record``, scoped to the signed-in user."""
    from steelyard.core.views.collaboration import attachments_context, comments_context

    request = context["request"]
    return {
        **comments_context(request, record),
        **attachments_context(request, record),
        "request": request,
    }


@register.filter
def record_ref(record: models.Model) -> str:
    """``app_label.model_name`` of a record, as used in ``/records/`` URLs."""
    return record_label(record)


@register.filter(needs_autoescape=True)
def mentions(text: str, autoescape: bool = True) -> SafeString:
    """Comment text as paragraphs, with ``@username`` mentions highlighted."""
    escaped = conditional_escape(text) if autoescape else text
    highlighted = MENTION_RE.sub(lambda m: f'<span class="mention fw-semibold">@{m.group(1)}</span>', escaped)
    return mark_safe(linebreaks(highlighted))  # noqa: S308 - input escaped above
