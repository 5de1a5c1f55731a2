"""The shipped wording of customer messages: one subject and body per event and language.

An administrator overrides any of them with a ``MessageTemplate`` row (optionally for one channel
only); without a row these are used. Templates use Django's template language over a fixed set
of placeholders (:data:`PLACEHOLDERS`) and are rendered as plain text (no HTML escaping), in the
endpoint's language so the status label comes out in that language.

Every default carries ``{{ link }}``: the signed status page is in every customer message.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

LANGUAGES = ("zh-hans", "en")
FALLBACK_LANGUAGE = "zh-hans"
TEST_EVENT = "test"  # the "send a test message" button

#: placeholder → what it holds (shown next to the template editor)
PLACEHOLDERS: dict[str, Any] = {
    "company": _("Our company's name"),
    "customer": _("The customer's name"),
    "contact": _("The contact's name (empty without a contact)"),
    "order_number": _("Order number"),
    "status": _("Status label, in the message's language"),
    "time": _("When it happened"),
    "link": _("The signed link to the order's status page"),
    "shipment_number": _("Shipment number (shipments only)"),
    "carrier": _("Carrier (shipments only)"),
    "tracking_no": _("Tracking number (shipments only)"),
    "event_label": _("The event's name"),
}

DEFAULTS: dict[str, dict[str, tuple[str, str]]] = {
    "order.status_changed": {
        "zh-hans": (
            "【{{ company }}】订单 {{ order_number }} 状态更新：{{ status }}",
            "{% if contact %}{{ contact }}{% else %}{{ customer }}{% endif %}，您好！\n"
            "您的订单 {{ order_number }} 于 {{ time }} 更新为“{{ status }}”。\n"
            "查看订单进度：{{ link }}\n"
            "{{ company }}",
        ),
        "en": (
            "[{{ company }}] Order {{ order_number }}: {{ status }}",
            "Dear {% if contact %}{{ contact }}{% else %}{{ customer }}{% endif %},\n"
            "your order {{ order_number }} moved to “{{ status }}” on {{ time }}.\n"
            "Follow your order: {{ link }}\n"
            "{{ company }}",
        ),
    },
    "shipment.shipped": {
        "zh-hans": (
            "【{{ company }}】订单 {{ order_number }} 已发货",
            "{% if contact %}{{ contact }}{% else %}{{ customer }}{% endif %}，您好！\n"
            "您的订单 {{ order_number }} 已于 {{ time }} 发货"
            "{% if shipment_number %}（发货单 {{ shipment_number }}）{% endif %}。\n"
            "{% if carrier %}承运商：{{ carrier }}\n{% endif %}"
            "{% if tracking_no %}运单号：{{ tracking_no }}\n{% endif %}"
            "查看订单进度：{{ link }}\n"
            "{{ company }}",
        ),
        "en": (
            "[{{ company }}] Order {{ order_number }} has shipped",
            "Dear {% if contact %}{{ contact }}{% else %}{{ customer }}{% endif %},\n"
            "your order {{ order_number }} shipped on {{ time }}"
            "{% if shipment_number %} (shipment {{ shipment_number }}){% endif %}.\n"
            "{% if carrier %}Carrier: {{ carrier }}\n{% endif %}"
            "{% if tracking_no %}Tracking number: {{ tracking_no }}\n{% endif %}"
            "Follow your order: {{ link }}\n"
            "{{ company }}",
        ),
    },
    TEST_EVENT: {
        "zh-hans": (
            "【{{ company }}】测试消息",
            "{% if contact %}{{ contact }}{% else %}{{ customer }}{% endif %}，您好！\n"
            "这是一条测试消息：今后您的订单状态更新将发送到这里。\n"
            "{% if link %}示例订单进度：{{ link }}\n{% endif %}"
            "{{ company }}",
        ),
        "en": (
            "[{{ company }}] Test message",
            "Dear {% if contact %}{{ contact }}{% else %}{{ customer }}{% endif %},\n"
            "this is a test: updates on your orders will be sent here.\n"
            "{% if link %}An example order: {{ link }}\n{% endif %}"
            "{{ company }}",
        ),
    },
}

#: for a customer-facing event declared later without its own wording
GENERIC: dict[str, tuple[str, str]] = {
    "zh-hans": (
        "【{{ company }}】订单 {{ order_number }}：{{ event_label }}",
        "{% if contact %}{{ contact }}{% else %}{{ customer }}{% endif %}，您好！\n"
        "您的订单 {{ order_number }}：{{ event_label }}（{{ time }}）。\n"
        "查看订单进度：{{ link }}\n"
        "{{ company }}",
    ),
    "en": (
        "[{{ company }}] Order {{ order_number }}: {{ event_label }}",
        "Dear {% if contact %}{{ contact }}{% else %}{{ customer }}{% endif %},\n"
        "your order {{ order_number }}: {{ event_label }} ({{ time }}).\n"
        "Follow your order: {{ link }}\n"
        "{{ company }}",
    ),
}


def default_template(event: str, language: str) -> tuple[str, str]:
    """The shipped (subject, body) for ``event`` in ``language`` (Chinese when that language has none)."""
    per_language = DEFAULTS.get(event, GENERIC)
    return per_language.get(language) or per_language[FALLBACK_LANGUAGE]
