"""The demo's integration landscape: the ERP (SAP-like), MES and APS with their machine users, the ERP's
key map of the demo customers, products and orders, a few inbound batches (some records rejected, with
the reasons people would see), one outbound webhook subscription with its delivery log, and customer
notification endpoints (WeCom group robots and email) for a few customers.

Nothing is sent anywhere: deliveries and attempts are written as history, with example.com and
qyapi.weixin.qq.com addresses that are never called by the seeder.

Seeding writes no audit rows (it is nobody's action). Idempotent: systems are looked up by code,
key-map rows by ``(system, entity, external_id)``, the subscription by its URL; batches,
deliveries and endpoints are only added when none exist yet.
The key map stores ``version=0`` (the initial load): any real ERP version is newer, so a later ERP
batch *updates* these records instead of creating duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from random import Random
from typing import Any

from django.db import transaction
from django.utils import timezone

from steelyard.core.demo import DemoContext, seeder

# code, name, kind, description, machine username, entities it may write
SYSTEMS: list[tuple[str, str, str, str, str, list[str]]] = [
    (
        "erp",
        "ERP（SAP S/4HANA）",
        "erp",
        "集团 ERP：客户与物料主数据、销售合同与订单、发货、开票与收款的记录系统。",
        "erp-bot",
        [
            "customer",
            "product_line",
            "product",
            "contract",
            "order",
            "order_status",
            "shipment",
            "invoice",
            "payment",
        ],
    ),
    (
        "mes",
        "MES 制造执行系统",
        "mes",
        "三个工厂的车间执行系统：工单下达、完工报告与下线检验。",
        "mes-bot",
        ["production", "order_status"],
    ),
    (
        "aps",
        "APS 高级计划排产",
        "aps",
        "按产品线和工厂发布 18 个月滚动产能与已排产量。",
        "aps-bot",
        ["capacity"],
    ),
]
WEBHOOK_URL = "https://erp.hengyuan.example.com/sap/opu/crm/steelyard-events"
WEBHOOK_EVENTS = ["contract.signed", "order.status_changed"]
ENDPOINT_EVENTS = ["order.status_changed", "shipment.shipped"]


def _hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def _systems(ctx: DemoContext) -> dict[str, Any]:
    """The three systems, each writing through the machine user the org demo planned for it."""
    from steelyard.integrations.models import ExternalSystem
    from steelyard.org.models import User

    existing = {s.code: s for s in ExternalSystem.objects.filter(code__in=[s[0] for s in SYSTEMS])}
    for code, name, kind, description, username, entities in SYSTEMS:
        if code in existing:
            continue
        user = User.objects.filter(username=username, is_machine=True, external_system__isnull=True).first()
        existing[code] = ExternalSystem.objects.create(
            code=code, name=name, kind=kind, description=description, user=user, entities=entities
        )
        ctx.count("integrations.system")
    return existing


def _demo_customers(seed: int) -> list[tuple[int, Any]]:
    """(position in the customers plan, customer) for every demo customer in the database."""
    from steelyard.customers.demo import plan_demo_customers
    from steelyard.customers.models import Customer

    specs = plan_demo_customers(seed)
    live = Customer.objects.filter(merged_into__isnull=True).select_related("owner")
    by_code = {c.credit_code: c for c in live.exclude(credit_code="")}
    by_name = {c.name_key: c for c in live.filter(credit_code="")}
    out = []
    for i, spec in enumerate(specs):
        c = by_code.get(spec.credit_code) if spec.credit_code else by_name.get(spec.key)
        if c is not None:
            out.append((i, c))
    return out


def _key_map(ctx: DemoContext, erp: Any, customers: list[tuple[int, Any]]) -> dict[str, dict[int, str]]:
    """ERP external ids of the demo customers (sold-to numbers), product lines, products and orders."""
    from steelyard.catalog.demo import catalog_plan
    from steelyard.catalog.models import Product, ProductLine
    from steelyard.integrations.models import ExternalRecord
    from steelyard.orders.models import SalesOrder

    wanted: list[tuple[str, str, int, dict[str, Any]]] = []
    for i, c in customers:
        if c.first_order_date is None:
            continue  # the ERP only knows customers who bought something
        wanted.append(
            ("customer", f"{1000000 + i:010d}", c.pk, {"name": c.legal_name, "code": c.credit_code})
        )
    lines = {pl.code: pl for pl in ProductLine.objects.all()}
    for n, code in enumerate(["CRANE", "ENGINE", "RAIL", "MARINE"], start=1):
        if code in lines:
            wanted.append(("product_line", f"{n * 10:02d}", lines[code].pk, {"code": code}))
    products = {p.code: p for p in Product.objects.all()}
    for n, spec in enumerate(catalog_plan()):
        p = products.get(spec["code"])
        if p is not None:
            wanted.append(("product", f"{10000000 + n}", p.pk, {"code": p.code, "price": p.list_price}))
    orders = SalesOrder.objects.filter(customer__in=[c for _i, c in customers], source="erp")
    for pk, number, amount, status in orders.values_list("pk", "number", "amount", "status"):
        wanted.append(("order", number, pk, {"amount": amount, "status": status}))
    have = set(ExternalRecord.objects.filter(system=erp).values_list("entity", "external_id"))
    rows = [
        ExternalRecord(
            system=erp,
            entity=entity,
            external_id=external_id,
            object_id=object_id,
            version=0,
            content_hash=_hash(values),
        )
        for entity, external_id, object_id, values in wanted
        if (entity, external_id) not in have
    ]
    ExternalRecord.objects.bulk_create(rows, batch_size=1000)
    ctx.count("integrations.external_record", len(rows))
    out: dict[str, dict[int, str]] = {}
    for entity, external_id, object_id, _v in wanted:
        out.setdefault(entity, {})[object_id] = external_id
    return out


def _batches(ctx: DemoContext, rng: Random, systems: dict[str, Any], keys: dict[str, dict[int, str]]) -> None:
    """Five recent batches: what arrived, what became of it, and why some records were turned away."""
    from steelyard.integrations.models import InboundBatch, InboundResult
    from steelyard.orders.models import Capacity, SalesOrder, WorkOrder

    if InboundBatch.objects.filter(system__in=systems.values()).exists():
        return
    now = timezone.now()
    customers = sorted(keys.get("customer", {}).items())
    orders = sorted(keys.get("order", {}).items())
    work_orders = list(
        WorkOrder.objects.filter(status__in=["in_production", "completed"]).order_by("-planned_start")[:30]
    )
    capacity = list(Capacity.objects.order_by("month", "pk").values_list("pk", flat=True)[:36])
    open_orders = list(
        SalesOrder.objects.filter(source="erp")
        .exclude(status__in=["accepted", "cancelled"])
        .values_list("pk", "number")[:20]
    )
    # (system, entity, via, hours ago, [(external id, outcome, local id, reasons)])
    plans: list[tuple[str, str, str, int, list[tuple[str, str, int | None, list[dict[str, str]]]]]] = []
    sample = rng.sample(customers, k=min(45, len(customers)))
    results = [(ext, "updated" if n > 3 else "unchanged", pk, []) for n, (pk, ext) in enumerate(sample)]
    results += [
        (
            "0001099871",
            "rejected",
            None,
            [{"field": "credit_code", "message": "统一社会信用代码校验位不正确：91320500MA1X2Y3Z4Q。"}],
        ),
        ("0001099872", "rejected", None, [{"field": "legal_name", "message": "请填写客户名称。"}]),
    ]
    plans.append(("erp", "customer", "api", 74, results))
    sample_orders = rng.sample(orders, k=min(18, len(orders)))
    results = [(ext, "updated", pk, []) for pk, ext in sample_orders]
    results += [
        (
            "SO2099000101",
            "rejected",
            None,
            [{"field": "customer_external_id", "message": "未知客户 0001099871：请先同步客户主数据。"}],
        ),
        (
            "SO2099000102",
            "rejected",
            None,
            [
                {"field": "lines.1.product_external_id", "message": "未知物料 10009999。"},
                {"field": "lines.2.quantity", "message": "数量必须大于 0。"},
            ],
        ),
    ]
    plans.append(("erp", "order", "file", 50, results))
    results = [(wo.number, "updated", wo.pk, []) for wo in work_orders]
    results += [
        ("WO99990101", "rejected", None, [{"field": "work_order", "message": "未知工单 WO99990101。"}]),
        (
            work_orders[0].number if work_orders else "WO00000101",
            "rejected",
            None,
            [{"field": "quantity_done", "message": "完工数量 5 大于工单数量 3。"}],
        ),
    ]
    plans.append(("mes", "production", "api", 20, results))
    results = [(f"CAP-{pk}", "updated" if n % 6 else "unchanged", pk, []) for n, pk in enumerate(capacity)]
    plans.append(("aps", "capacity", "api", 30, results))
    results = [(number, "updated", pk, []) for pk, number in open_orders]
    results += [
        ("SO2099000103", "rejected", None, [{"field": "status", "message": "“shipping” 不是订单状态。"}]),
        (
            open_orders[0][1] if open_orders else "SO2099000104",
            "rejected",
            None,
            [{"field": "version", "message": "较旧的版本：该订单已有更新的状态，未覆盖。"}],
        ),
    ]
    plans.append(("erp", "order_status", "api", 6, results))

    for code, entity, via, hours, rows in plans:
        system = systems[code]
        counts = {
            o: sum(1 for r in rows if r[1] == o) for o in ("created", "updated", "unchanged", "rejected")
        }
        received = now - dt.timedelta(hours=hours, minutes=rng.randrange(60))
        duration = rng.randint(180, 2400)
        batch = InboundBatch.objects.create(
            system=system,
            entity=entity,
            via=via,
            actor=system.user,
            total=len(rows),
            duration_ms=duration,
            finished_at=received + dt.timedelta(milliseconds=duration),
            **counts,
        )
        InboundBatch.objects.filter(pk=batch.pk).update(received_at=received)
        keep = rows if via == "api" else [r for r in rows if r[1] == "rejected"]
        positions = {id(r): n for n, r in enumerate(rows)}
        InboundResult.objects.bulk_create(
            [
                InboundResult(
                    batch=batch,
                    position=positions[id(r)],
                    external_id=r[0],
                    outcome=r[1],
                    object_id=r[2],
                    reasons=r[3],
                )
                for r in keep
            ]
        )
        ctx.count("integrations.inbound_batch")
        ctx.count("integrations.inbound_result", len(keep))


def _webhooks(ctx: DemoContext, rng: Random, erp: Any, rep: Any) -> None:
    """The ERP's subscription and two deliveries: a contract that arrived, a status change that failed."""
    from steelyard.integrations import models as m
    from steelyard.orders.models import Contract, SalesOrder
    from steelyard.orders.services.status import status_payload

    sub, created = m.WebhookSubscription.objects.get_or_create(
        system=erp,
        url=WEBHOOK_URL,
        defaults={
            "secret": "whsec_"
            + "".join(
                rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(43)
            ),
            "events": WEBHOOK_EVENTS,
            "description": "SAP 接收签约与订单状态，触发开票与发运计划。",
        },
    )
    ctx.count("integrations.webhook_subscription", int(created))
    if sub.deliveries.exists():
        return
    now = timezone.now()
    contract = Contract.objects.filter(status="active").order_by("-signed_on", "-pk").first()
    order = (
        SalesOrder.objects.filter(customer__owner=rep, status="in_production").order_by("-ordered_on").first()
        or SalesOrder.objects.exclude(status__in=["accepted", "cancelled"]).order_by("-ordered_on").first()
    )
    attempt_model = getattr(m, "WebhookAttempt", None)

    def envelope(event: str, data: dict[str, Any], at: dt.datetime, event_id: uuid.UUID) -> dict[str, Any]:
        return {"id": str(event_id), "type": event, "created_at": at.isoformat(), "data": data}

    if contract is not None:
        at = now - dt.timedelta(days=2, hours=rng.randint(1, 8))
        event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        data = {
            "contract": contract.number,
            "contract_id": contract.pk,
            "customer_id": contract.customer_id,
            "amount": str(contract.amount),
            "currency": contract.currency,
            "signed_on": contract.signed_on.isoformat() if contract.signed_on else None,
        }
        delivery = m.WebhookDelivery.objects.create(
            subscription=sub,
            event="contract.signed",
            event_id=event_id,
            payload=envelope("contract.signed", data, at, event_id),
            status=m.DeliveryStatus.DELIVERED,
            attempts=1,
            last_status_code=200,
            delivered_at=at + dt.timedelta(seconds=1),
        )
        m.WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=at)
        if attempt_model is not None:
            attempt_model.objects.create(
                delivery=delivery, number=1, at=at + dt.timedelta(seconds=1), status_code=200, duration_ms=186
            )
        ctx.count("integrations.webhook_delivery")
    if order is not None:
        at = now - dt.timedelta(days=1, hours=rng.randint(1, 6))
        event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        data = status_payload(order, "scheduled")
        errors = [
            (503, "HTTP 503: <html><body><h1>503 Service Unavailable</h1>SAP Web Dispatcher</body></html>"),
            (None, "Connection timed out after 10 s (erp.hengyuan.example.com:443)"),
            (502, "HTTP 502: Bad Gateway"),
            (503, "HTTP 503: <html><body><h1>503 Service Unavailable</h1>SAP Web Dispatcher</body></html>"),
            (None, "Connection timed out after 10 s (erp.hengyuan.example.com:443)"),
            (503, "HTTP 503: <html><body><h1>503 Service Unavailable</h1>SAP Web Dispatcher</body></html>"),
        ]
        offsets = [
            0,
            60,
            360,
            2160,
            9360,
            52560,
        ]  # seconds: the retry schedule (1 min, 5 min, 30 min, 2 h, 12 h)
        code, error = errors[-1]
        delivery = m.WebhookDelivery.objects.create(
            subscription=sub,
            event="order.status_changed",
            event_id=event_id,
            payload=envelope("order.status_changed", data, at, event_id),
            status=m.DeliveryStatus.FAILED,
            attempts=len(errors),
            last_status_code=code,
            last_error=error,
        )
        m.WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=at)
        if attempt_model is not None:
            attempt_model.objects.bulk_create(
                [
                    attempt_model(
                        delivery=delivery,
                        number=n,
                        at=at + dt.timedelta(seconds=offsets[n - 1]),
                        status_code=c,
                        error=e,
                        duration_ms=10000 if c is None else rng.randint(40, 900),
                    )
                    for n, (c, e) in enumerate(errors, start=1)
                ]
            )
        ctx.count("integrations.webhook_delivery")


def _endpoints(ctx: DemoContext, rng: Random, customers: list[tuple[int, Any]], rep: Any) -> None:
    """WeCom robots and email addresses of a few customers who want to hear about their orders."""
    from steelyard.integrations.models import NotificationEndpoint
    from steelyard.orders.models import SalesOrder

    if NotificationEndpoint.objects.filter(customer__in=[c for _i, c in customers]).exists():
        return
    in_production = set(
        SalesOrder.objects.filter(status="in_production").values_list("customer_id", flat=True)
    )
    chosen = [c for _i, c in customers if c.owner_id == rep.pk and c.pk in in_production][:1]
    chosen += [c for _i, c in customers if c.is_key_account and c.first_order_date and c not in chosen][:3]
    chosen += [c for _i, c in customers if not c.credit_code and c.first_order_date][:1]  # overseas
    rows = []
    for n, customer in enumerate(chosen):
        contact = customer.contacts.filter(is_active=True).order_by("-is_primary", "pk").first()
        overseas = not customer.credit_code
        if not overseas:
            key = uuid.UUID(int=rng.getrandbits(128), version=4)
            rows.append(
                NotificationEndpoint(
                    customer=customer,
                    contact=None,
                    channel="wecom",
                    address=f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}",
                    language="zh-hans",
                    events=ENDPOINT_EVENTS,
                )
            )
        if n % 2 == 0 or overseas:
            email = (contact.email if contact and contact.email else "") or f"orders.{customer.pk}@example.cn"
            rows.append(
                NotificationEndpoint(
                    customer=customer,
                    contact=contact,
                    channel="email",
                    address=email,
                    language="en" if overseas else "zh-hans",
                    events=[] if overseas else ENDPOINT_EVENTS,
                )
            )
    NotificationEndpoint.objects.bulk_create(rows)
    ctx.count("integrations.notification_endpoint", len(rows))


@seeder("integrations", after=("org", "catalog", "customers", "orders"))
def seed_integrations(ctx: DemoContext) -> None:
    """ERP, MES and APS; the ERP key map; inbound batches; a webhook with its log; customer endpoints."""
    if "rep" not in ctx.logins:
        return
    rng = ctx.rng
    rep = ctx.login("rep")
    with transaction.atomic():
        systems = _systems(ctx)
        customers = _demo_customers(ctx.seed)
        keys = _key_map(ctx, systems["erp"], customers)
        _batches(ctx, rng, systems, keys)
        _webhooks(ctx, rng, systems["erp"], rep)
        _endpoints(ctx, rng, customers, rep)
