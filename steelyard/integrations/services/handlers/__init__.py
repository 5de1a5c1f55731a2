"""The inbound handlers, one per entity (see ``base.Handler``)."""

from __future__ import annotations

from steelyard.integrations.services.handlers.base import Handler
from steelyard.integrations.services.handlers.catalog import ProductHandler, ProductLineHandler
from steelyard.integrations.services.handlers.customers import CustomerHandler
from steelyard.integrations.services.handlers.orders import (
    CapacityHandler,
    ContractHandler,
    InvoiceHandler,
    OrderHandler,
    OrderStatusHandler,
    PaymentHandler,
    ProductionHandler,
    ShipmentHandler,
)

HANDLERS: dict[str, Handler] = {
    h.entity: h
    for h in (
        CustomerHandler(),
        ProductLineHandler(),
        ProductHandler(),
        ContractHandler(),
        OrderHandler(),
        OrderStatusHandler(),
        ShipmentHandler(),
        InvoiceHandler(),
        PaymentHandler(),
        ProductionHandler(),
        CapacityHandler(),
    )
}
