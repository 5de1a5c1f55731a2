"""What the integration webhooks area adds to the shell and to the event bus."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _

from steelyard.core.events import subscribe
from steelyard.core.registry import MenuItem, registry
from steelyard.integrations import tasks_webhooks  # noqa: F401  (the send task and the retry job)
from steelyard.integrations.models import ExternalSystem, WebhookSubscription
from steelyard.integrations.services.webhooks import on_event, subscribed_ids, webhook_cache_clear

subscribe("integrations.webhooks", on_event, wants=lambda event_type: bool(subscribed_ids(event_type)))


def _forget_subscriptions(sender: Any, **kwargs: Any) -> None:
    # Any change to a subscription or a system (however it was written) drops this process's cache.
    webhook_cache_clear()


for _model in (WebhookSubscription, ExternalSystem):
    post_save.connect(
        _forget_subscriptions, sender=_model, dispatch_uid=f"webhooks-cache-save-{_model.__name__}"
    )
    post_delete.connect(
        _forget_subscriptions, sender=_model, dispatch_uid=f"webhooks-cache-delete-{_model.__name__}"
    )

registry.add_menu(
    MenuItem(
        "integrations.webhooks",
        _("Webhooks"),
        "webhook_list",
        icon="broadcast",
        roles=("administrator",),
        group=_("Integrations"),
        order=880,
    )
)
registry.add_menu(
    MenuItem(
        "integrations.webhook_deliveries",
        _("Webhook deliveries"),
        "webhook_delivery_list",
        icon="send-check",
        roles=("administrator",),
        group=_("Integrations"),
        order=881,
    )
)
