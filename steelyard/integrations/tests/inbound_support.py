"""Helpers for the inbound integration tests: a full set of batches, row counts, write capture."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from steelyard.catalog.models import Product, ProductLine
from steelyard.core.events import Event, subscribe
from steelyard.customers.models import Contact, Customer, OwnershipEvent
from steelyard.integrations.models import ExternalRecord
from steelyard.integrations.services.inbound import batch_apply
from steelyard.orders.models import (
    Capacity,
    Contract,
    Invoice,
    OrderLine,
    OrderStatusEvent,
    Payment,
    Plant,
    SalesOrder,
    Shipment,
    ShipmentLine,
    ShippedUnit,
    WorkOrder,
)

BUSINESS_MODELS = (
    Customer,
    Contact,
    OwnershipEvent,
    ProductLine,
    Product,
    Plant,
    Contract,
    Contract.history.model,
    SalesOrder,
    SalesOrder.history.model,
    OrderLine,
    OrderStatusEvent,
    Shipment,
    ShipmentLine,
    ShippedUnit,
    Invoice,
    Payment,
    WorkOrder,
    Capacity,
    ExternalRecord,
)
#: Tables a batch may write even when nothing changed: its own report and its one audit row.
REPORT_TABLES = ("integrations_inboundbatch", "integrations_inboundresult", "core_auditlog")
_WRITE = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)\"?", re.IGNORECASE)


def row_counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in BUSINESS_MODELS}


def business_writes(ctx: CaptureQueriesContext) -> list[str]:
    """The INSERT/UPDATE/DELETE statements of ``ctx`` outside the batch report tables."""
    writes = []
    for query in ctx.captured_queries:
        match = _WRITE.match(query["sql"])
        if match and match.group(2).lower() not in REPORT_TABLES:
            writes.append(query["sql"][:200])
    return writes


@contextmanager
def capture_writes():
    with CaptureQueriesContext(connection) as ctx:
        yield ctx


def apply(system: Any, entity: str, records: list[dict[str, Any]], **kw: Any) -> Any:
    return batch_apply(system=system, entity=entity, records=records, actor=system.user, **kw)


class EventLog:
    """Collects the domain events published while it is installed."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def clear(self) -> None:
        self.events.clear()


def install_event_log() -> EventLog:
    log = EventLog()
    subscribe("tests.inbound.event_log", log)
    return log


def uninstall_event_log() -> None:
    subscribe("tests.inbound.event_log", lambda event: None)


def full_batches(credit_code: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """One batch of every entity, in an order where each refers only to what came before."""
    return [
        (
            "customer",
            [
                {
                    "external_id": "C1",
                    "version": 1,
                    "legal_name": "徐州港务集团有限公司",
                    "credit_code": credit_code,
                    "province": "江苏",
                },
                {
                    "external_id": "C2",
                    "version": 1,
                    "legal_name": "连云港新港建设有限公司",
                    "industry": "ports",
                },
            ],
        ),
        ("product_line", [{"external_id": "PL1", "version": 1, "code": "CRANE", "name": "起重机"}]),
        (
            "product",
            [
                {
                    "external_id": "P1",
                    "version": 1,
                    "code": "QY25K",
                    "name": "QY25K 汽车起重机",
                    "product_line": "PL1",
                },
                {
                    "external_id": "P2",
                    "version": 1,
                    "code": "QY50K",
                    "name": "QY50K 汽车起重机",
                    "product_line": "CRANE",
                    "list_price": "2500000",
                },
            ],
        ),
        (
            "contract",
            [
                {
                    "external_id": "K1",
                    "version": 1,
                    "number": "HT-001",
                    "customer": "C1",
                    "status": "signed",
                    "signed_on": "2025-02-01",
                    "amount": "5000000.00",
                }
            ],
        ),
        (
            "order",
            [
                {
                    "external_id": "O1",
                    "version": 1,
                    "number": "SO-001",
                    "customer": "C1",
                    "contract": "K1",
                    "ordered_on": "2025-03-01",
                    "plant": "XZ01",
                    "lines": [
                        {"line_no": 1, "product": "P1", "quantity": "2", "unit_price": "1200000.00"},
                        {"line_no": 2, "product": "QY50K", "quantity": "1", "unit_price": "2500000.00"},
                    ],
                },
                {
                    "external_id": "O2",
                    "version": 1,
                    "customer_credit_code": credit_code,
                    "ordered_on": "2025-03-05",
                    "lines": [{"line_no": 1, "product": "P1", "quantity": "1", "unit_price": "1150000.00"}],
                },
            ],
        ),
        (
            "order_status",
            [
                {"order": "O2", "status": "scheduled", "at": "2025-03-10T09:00:00+08:00", "note": "排产"},
            ],
        ),
        (
            "production",
            [
                {
                    "external_id": "WO1",
                    "version": 1,
                    "order": "O1",
                    "line_no": 1,
                    "plant": "XZ01",
                    "status": "in_production",
                    "actual_start": "2025-03-15",
                },
            ],
        ),
        (
            "shipment",
            [
                {
                    "external_id": "S1",
                    "version": 1,
                    "order": "O1",
                    "shipped_on": "2025-05-01",
                    "carrier": "德邦物流",
                    "tracking": "DB1",
                    "lines": [
                        {"line_no": 1, "quantity": "2", "serial_numbers": ["QY25K-0001", "QY25K-0002"]}
                    ],
                }
            ],
        ),
        (
            "invoice",
            [
                {
                    "external_id": "I1",
                    "version": 1,
                    "customer": "C1",
                    "order": "O1",
                    "issued_on": "2025-05-02",
                    "due_on": "2025-06-01",
                    "amount": "2400000.00",
                    "tax": "276106.19",
                }
            ],
        ),
        (
            "payment",
            [
                {
                    "external_id": "R1",
                    "version": 1,
                    "customer": "C1",
                    "invoice": "I1",
                    "received_on": "2025-05-20",
                    "amount": "1000000.00",
                    "method": "bank_transfer",
                }
            ],
        ),
        (
            "capacity",
            [
                {
                    "product_line": "CRANE",
                    "plant": "XZ01",
                    "month": "2025-06",
                    "capacity_units": 40,
                    "version": 1,
                },
                {
                    "product_line": "PL1",
                    "plant": "CS02",
                    "plant_name": "长沙二厂",
                    "month": "2025-06",
                    "capacity_units": 20,
                    "planned_units": 5,
                    "version": 1,
                },
            ],
        ),
    ]
