"""Inbound handlers for order to cash: contracts, orders (with lines), order status events,
shipments (with lines and serial numbers), invoices, payments, MES work orders and APS capacity.

References are resolved a chunk at a time (one query per referenced entity); the writes are done
in bulk by ``steelyard.orders.services.sync``, which also keeps the order timeline right.
Domain events are published only for what actually changed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import Product, ProductLine
from steelyard.core.events import publish
from steelyard.integrations.models import Outcome
from steelyard.integrations.schemas import month_date
from steelyard.integrations.services.handlers.base import (
    Context,
    Handler,
    Item,
    bulk_save,
    entity_name,
    resolve_customers,
    resolve_ids,
    start_of,
    unknown_ref_message,
)
from steelyard.orders.models import (
    Capacity,
    Contract,
    ContractStatus,
    Invoice,
    InvoiceStatus,
    OrderLine,
    OrderStatusEvent,
    Payment,
    SalesOrder,
    Shipment,
    ShippedUnit,
    WorkOrder,
)
from steelyard.orders.services import sync
from steelyard.orders.services.status import current_status

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e14")  # 16 digits, 2 after the point

ERR_OTHER_CUSTOMER = _("%(entity)s “%(value)s” belongs to another customer.")
ERR_NO_LINE = _("Order “%(order)s” has no line %(line)s.")
ERR_LINE_SHIPPED = _("Line %(line)s has been shipped and cannot be removed.")
ERR_OVERSHIP = _("Only %(left)s of line %(line)s is left to ship (ordered %(ordered)s).")
ERR_SERIAL_TAKEN = _("Serial number “%(serial)s” was already shipped (shipment %(shipment)s).")
ERR_SERIAL_TWICE = _("Serial number “%(serial)s” is shipped twice in this batch.")
ERR_AMOUNT_TOO_LARGE = _("The order's total is too large.")
ERR_DUE_BEFORE_ISSUE = _("The due date cannot be before the issue date.")
ERR_DUPLICATE_CAPACITY = _("The same product line, plant and month is sent twice in this batch.")
ERR_CAPACITY_TAKEN = _("This product line, plant and month is already sent as “%(other)s”.")


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def _resolve_one(
    ctx: Context,
    items: list[Item],
    *,
    field: str,
    entity: str,
    model: Any,
    fallback: str | None,
    fields: tuple[str, ...] = (),
    ref_key: str | None = None,
    customer_field: str | None = None,
) -> None:
    """Resolve the optional reference ``field`` of each item into ``refs[ref_key]`` (a row dict).

    With ``customer_field`` the referenced record must belong to the item's customer.
    """
    ref_key = ref_key or field
    values = [getattr(i.rec, field) for i in items if i.ok]
    found = resolve_ids(ctx, entity, model, values, fallback=fallback, fields=fields)
    for item in items:
        value = getattr(item.rec, field)
        if not value or not item.ok:
            continue
        row = found.get(value)
        if row is None:
            item.reject(field, unknown_ref_message(ctx, entity, value, fallback=fallback))
            continue
        if (
            customer_field
            and item.refs.get("customer_id")
            and row[customer_field] != item.refs["customer_id"]
        ):
            item.reject(
                field, ERR_OTHER_CUSTOMER % {"entity": entity_name(entity).capitalize(), "value": value}
            )
            continue
        item.refs[ref_key] = row


def _event_time(rec: Any, ctx: Context) -> dt.datetime:
    return getattr(rec, "status_at", None) or rec.updated_at or ctx.now


# --- contracts ------------------------------------------------------------------------------------


class ContractHandler(Handler):
    entity = "contract"
    model = Contract
    history = True
    fields = {
        "number": "number",
        "title": "title",
        "status": "status",
        "signed_on": "signed_on",
        "starts_on": "starts_on",
        "ends_on": "ends_on",
        "amount": "amount",
        "currency": "currency",
    }

    def resolve(self, items: list[Item], ctx: Context) -> None:
        resolve_customers(ctx, items)

    def values(self, item: Item, ctx: Context) -> dict[str, Any]:
        values = super().values(item, ctx)
        values["number"] = item.rec.number or item.external_id
        values["customer_id"] = item.refs["customer_id"]
        return values

    def after_write(self, items: list[Item], ctx: Context) -> None:
        signed = (ContractStatus.SIGNED, ContractStatus.ACTIVE)
        for item in items:
            contract = item.local
            before = item.data.get("before", {}).get("status")
            if contract.status in signed and (
                item.outcome == Outcome.CREATED or before == ContractStatus.DRAFT
            ):
                publish(
                    sync.EVENT_CONTRACT_SIGNED,
                    payload={
                        "contract": contract.number,
                        "contract_id": contract.pk,
                        "customer_id": contract.customer_id,
                        "status": contract.status,
                        "signed_on": contract.signed_on.isoformat() if contract.signed_on else None,
                        "amount": str(contract.amount),
                        "currency": contract.currency,
                        "source": ctx.source,
                    },
                    subject=contract,
                    actor=ctx.actor,
                )


# --- orders -------------------------------------------------------------------------------------


class OrderHandler(Handler):
    entity = "order"
    model = SalesOrder
    history = True
    fields = {
        "ordered_on": "ordered_on",
        "requested_date": "requested_date",
        "promised_date": "promised_date",
        "currency": "currency",
        "notes": "notes",
    }

    def resolve(self, items: list[Item], ctx: Context) -> None:
        resolve_customers(ctx, items)
        _resolve_one(
            ctx,
            items,
            field="contract",
            entity="contract",
            model=Contract,
            fallback="number",
            fields=("customer_id",),
            customer_field="customer_id",
        )
        products = resolve_ids(
            ctx,
            "product",
            Product,
            [ln.product for i in items if i.ok for ln in i.rec.lines],
            fallback="code",
        )
        for item in items:
            if not item.ok:
                continue
            ids = {}
            for n, line in enumerate(item.rec.lines):
                row = products.get(line.product)
                if row is None:
                    item.reject(
                        f"lines.{n}.product",
                        unknown_ref_message(ctx, "product", line.product, fallback="code"),
                    )
                else:
                    ids[line.line_no] = row["pk"]
            item.refs["products"] = ids

    def check(self, items: list[Item], ctx: Context) -> None:
        for item in items:
            total = sum((line.quantity * line.unit_price for line in item.rec.lines), Decimal(0))
            if _money(total) >= MAX_AMOUNT:
                item.reject("lines", ERR_AMOUNT_TOO_LARGE)
        # Lines that disappear from an order must not have been shipped.
        olds = {i.local.pk: i for i in items if i.ok and i.local is not None}
        if not olds:
            return
        gone: dict[int, tuple[Item, int]] = {}
        for pk, order_id, line_no in OrderLine.objects.filter(order_id__in=olds).values_list(
            "pk", "order_id", "line_no"
        ):
            item = olds[order_id]
            if line_no not in {ln.line_no for ln in item.rec.lines}:
                gone[pk] = (item, line_no)
        for pk in sync.shipped_line_ids(gone):
            item, line_no = gone[pk]
            item.reject("lines", ERR_LINE_SHIPPED % {"line": line_no})

    def _lines(self, item: Item) -> list[dict[str, Any]]:
        products = item.refs["products"]
        lines = []
        for line in item.rec.lines:
            values = {
                "line_no": line.line_no,
                "product_id": products[line.line_no],
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "amount": _money(line.quantity * line.unit_price),
                "requested_date": line.requested_date,
                "promised_date": line.promised_date,
                "description": line.description or "",
            }
            if line.unit_cost is not None:  # omitted: a stored cost is kept
                values["unit_cost"] = line.unit_cost
            lines.append(values)
        return lines

    def write(self, items: list[Item], ctx: Context) -> None:
        plants = sync.plants_ensure({i.rec.plant: None for i in items if i.rec.plant})
        creates: list[SalesOrder] = []
        updates: list[tuple[SalesOrder, dict[str, Any]]] = []
        first_steps: dict[int, list[tuple[str, dt.datetime]]] = {}
        lines_of: dict[int, list[dict[str, Any]]] = {}
        for item in items:
            rec = item.rec
            lines = self._lines(item)
            item.data["lines"] = lines
            values = super().values(item, ctx)
            values.update(
                number=rec.number or item.external_id,
                customer_id=item.refs["customer_id"],
                amount=sum((ln["amount"] for ln in lines), Decimal("0.00")),
            )
            if rec.contract:
                values["contract_id"] = item.refs["contract"]["pk"]
            if rec.plant:
                values["plant_id"] = plants[rec.plant]
            if item.local is None:
                first = sync.new_order_status(rec.ordered_on, rec.status, rec.status_at)
                status, status_at = current_status(first)  # type: ignore[misc]
                item.local = SalesOrder(source=ctx.source, status=status, status_at=status_at, **values)
                item.data["steps"] = first
                creates.append(item.local)
                item.outcome = Outcome.CREATED
            else:
                updates.append((item.local, values))
                item.outcome = Outcome.UPDATED
        sync.insert_new(
            SalesOrder, creates, key="number", history_user=ctx.user, reason=f"inbound:{ctx.source}"
        )
        bulk_save(SalesOrder, [], updates, ctx=ctx, history=True)
        new_ids = {o.pk for o in creates}
        for item in items:
            item.object_id = item.local.pk
            lines_of[item.local.pk] = item.data["lines"]
            if item.local.pk in new_ids:
                first_steps[item.local.pk] = item.data["steps"]
        sync.order_lines_sync(lines_of, new_orders=new_ids)
        sync.order_events_create(creates, first_steps, source=ctx.source, actor=ctx.actor)
        steps = [
            sync.StatusStep(
                i.local.pk, i.rec.status, i.rec.status_at or i.rec.updated_at or ctx.now, once=True
            )
            for i in items
            if i.local.pk not in new_ids and i.rec.status
        ]
        if steps:
            sync.order_statuses_record(steps=steps, source=ctx.source, actor=ctx.actor)
        for order in creates:
            publish(
                sync.EVENT_ORDER_CREATED,
                payload=sync.order_created_payload(order),
                subject=order,
                actor=ctx.actor,
            )


# --- order status events ------------------------------------------------------------------------


class OrderStatusHandler(Handler):
    entity = "order_status"
    model = OrderStatusEvent
    key_field = None

    def external_id(self, rec: Any) -> str | None:
        return rec.external_id or f"{rec.order}:{rec.status}:{rec.at.isoformat()}"

    def default_version(self, rec: Any) -> int | None:
        from steelyard.integrations.services.inbound import datetime_version

        return datetime_version(rec.at)

    def resolve(self, items: list[Item], ctx: Context) -> None:
        _resolve_one(ctx, items, field="order", entity="order", model=SalesOrder, fallback="number")

    def load_locals(self, items: list[Item], ctx: Context) -> None:
        pks = {i.stored.object_id for i in items if i.stored}
        rows = {e.pk: e for e in OrderStatusEvent.objects.filter(pk__in=pks)} if pks else {}
        for item in items:
            if item.stored and item.stored.object_id in rows:
                item.local = rows[item.stored.object_id]

    def write(self, items: list[Item], ctx: Context) -> None:
        stale: list[int] = []
        recompute: set[int] = set()
        for item in items:
            old = item.local
            new_key = (item.refs["order"]["pk"], item.rec.status, item.rec.at)
            if old is not None and (old.order_id, old.status, old.at) != new_key:
                stale.append(old.pk)
                recompute.add(old.order_id)
        if stale:
            OrderStatusEvent.objects.filter(pk__in=stale).delete()
        steps = [
            sync.StatusStep(i.refs["order"]["pk"], i.rec.status, i.rec.at, note=i.rec.note or "")
            for i in items
        ]
        results = sync.order_statuses_record(
            steps=steps, source=ctx.source, actor=ctx.actor, recompute=recompute
        )
        notes: dict[int, str] = {}
        for item, (pk, created) in zip(items, results, strict=True):
            item.object_id = pk
            item.outcome = Outcome.CREATED if created and item.stored is None else Outcome.UPDATED
            if not created and item.rec.note is not None:
                notes[pk] = item.rec.note[:300]  # type: ignore[index]
        if notes:
            changed = [e for e in OrderStatusEvent.objects.filter(pk__in=notes) if e.note != notes[e.pk]]
            for event in changed:
                event.note = notes[event.pk]
            if changed:
                OrderStatusEvent.objects.bulk_update(changed, ["note"])

    def dry_write(self, items: list[Item], ctx: Context) -> None:
        for item in items:
            item.outcome = Outcome.CREATED if item.stored is None else Outcome.UPDATED
            item.object_id = item.local.pk if item.local is not None else None


# --- shipments ----------------------------------------------------------------------------------


def _resolve_order_lines(ctx: Context, items: list[Item], *, lines_of: Any) -> None:
    """``refs["lines"][line_no]`` = the order line row for each line number a record names."""
    order_ids = {i.refs["order"]["pk"] for i in items if i.ok}
    by_key: dict[tuple[int, int], dict[str, Any]] = {}
    for row in OrderLine.objects.filter(order_id__in=order_ids).values(
        "pk", "order_id", "line_no", "product_id", "quantity", "unit_price"
    ):
        by_key[(row["order_id"], row["line_no"])] = dict(row)
    for item in items:
        if not item.ok:
            continue
        order_id = item.refs["order"]["pk"]
        found = {}
        for field_name, line_no in lines_of(item):
            line_row = by_key.get((order_id, line_no))
            if line_row is None:
                item.reject(field_name, ERR_NO_LINE % {"order": item.rec.order, "line": line_no})
            else:
                found[line_no] = line_row
        item.refs["lines"] = found


class ShipmentHandler(Handler):
    entity = "shipment"
    model = Shipment
    fields = {
        "shipped_on": "shipped_on",
        "delivered_on": "delivered_on",
        "carrier": "carrier",
        "tracking": "tracking_no",
    }

    def resolve(self, items: list[Item], ctx: Context) -> None:
        _resolve_one(
            ctx,
            items,
            field="order",
            entity="order",
            model=SalesOrder,
            fallback="number",
            fields=("customer_id",),
        )
        _resolve_order_lines(
            ctx,
            items,
            lines_of=lambda i: [(f"lines.{n}.line_no", ln.line_no) for n, ln in enumerate(i.rec.lines)],
        )

    def check(self, items: list[Item], ctx: Context) -> None:
        order_ids = {i.refs["order"]["pk"] for i in items}
        shipped = sync.shipped_quantities(
            order_ids, exclude_shipments=[i.local.pk for i in items if i.local is not None]
        )
        running: dict[int, Decimal] = defaultdict(Decimal)
        serials = {s for i in items for ln in i.rec.lines for s in ln.serial_numbers}
        taken: dict[tuple[int, str], tuple[int, str]] = {}
        if serials:
            for product_id, serial, shipment_id, number in ShippedUnit.objects.filter(
                serial_number__in=serials
            ).values_list(
                "product_id", "serial_number", "shipment_line__shipment_id", "shipment_line__shipment__number"
            ):
                taken[(product_id, serial)] = (shipment_id, number)
        in_batch: set[tuple[int, str]] = set()
        for item in items:
            own = item.local.pk if item.local is not None else None
            for n, line in enumerate(item.rec.lines):
                row = item.refs["lines"][line.line_no]
                already = shipped.get(row["pk"], Decimal(0)) + running[row["pk"]]
                if already + line.quantity > row["quantity"]:
                    item.reject(
                        f"lines.{n}.quantity",
                        ERR_OVERSHIP
                        % {
                            "left": _num(max(row["quantity"] - already, Decimal(0))),
                            "line": line.line_no,
                            "ordered": _num(row["quantity"]),
                        },
                    )
                for serial in line.serial_numbers:
                    key = (row["product_id"], serial)
                    holder = taken.get(key)
                    if holder is not None and holder[0] != own:
                        item.reject(
                            f"lines.{n}.serial_numbers",
                            ERR_SERIAL_TAKEN % {"serial": serial, "shipment": holder[1]},
                        )
                    elif key in in_batch:
                        item.reject(f"lines.{n}.serial_numbers", ERR_SERIAL_TWICE % {"serial": serial})
            if item.ok:
                for line in item.rec.lines:
                    row = item.refs["lines"][line.line_no]
                    running[row["pk"]] += line.quantity
                    in_batch.update((row["product_id"], s) for s in line.serial_numbers)

    def values(self, item: Item, ctx: Context) -> dict[str, Any]:
        values = super().values(item, ctx)
        lines = item.refs["lines"]
        values.update(
            number=item.rec.number or item.external_id,
            order_id=item.refs["order"]["pk"],
            customer_id=item.refs["order"]["customer_id"],
            amount=sum(
                (_money(ln.quantity * lines[ln.line_no]["unit_price"]) for ln in item.rec.lines),
                Decimal("0.00"),
            ),
        )
        return values

    def after_write(self, items: list[Item], ctx: Context) -> None:
        lines_by_shipment = {
            item.local.pk: [
                {
                    "order_line_id": item.refs["lines"][ln.line_no]["pk"],
                    "product_id": item.refs["lines"][ln.line_no]["product_id"],
                    "quantity": ln.quantity,
                    "serial_numbers": list(ln.serial_numbers),
                }
                for ln in item.rec.lines
            ]
            for item in items
        }
        new = {i.local.pk for i in items if i.outcome == Outcome.CREATED}
        sync.shipment_lines_sync(lines_by_shipment, new_shipments=new)
        order_ids = {i.local.order_id for i in items} | {
            i.data["before"]["order_id"] for i in items if "before" in i.data
        }
        steps = sync.orders_shipping_steps(order_ids)
        if steps:
            sync.order_statuses_record(steps=steps, source=ctx.source, actor=ctx.actor)
        for item in items:
            if item.outcome != Outcome.CREATED:
                continue
            shipment = item.local
            publish(
                sync.EVENT_SHIPMENT_SHIPPED,
                payload={
                    "shipment": shipment.number,
                    "shipment_id": shipment.pk,
                    "order": item.refs["order"].get("number") or "",
                    "order_id": shipment.order_id,
                    "customer_id": shipment.customer_id,
                    "shipped_on": shipment.shipped_on.isoformat(),
                    "delivered_on": shipment.delivered_on.isoformat() if shipment.delivered_on else None,
                    "carrier": shipment.carrier,
                    "tracking_no": shipment.tracking_no,
                    "amount": str(shipment.amount),
                    "source": ctx.source,
                },
                subject=shipment,
                actor=ctx.actor,
            )


# --- invoices and payments ----------------------------------------------------------------------


class InvoiceHandler(Handler):
    entity = "invoice"
    model = Invoice
    fields = {
        "issued_on": "issued_on",
        "due_on": "due_on",
        "amount": "amount",
        "tax": "tax_amount",
        "currency": "currency",
        "status": "status",
    }

    def resolve(self, items: list[Item], ctx: Context) -> None:
        resolve_customers(ctx, items)
        for field_name, model in (("order", SalesOrder), ("contract", Contract)):
            _resolve_one(
                ctx,
                items,
                field=field_name,
                entity=field_name,
                model=model,
                fallback="number",
                fields=("customer_id",),
                customer_field="customer_id",
            )

    def check(self, items: list[Item], ctx: Context) -> None:
        for item in items:
            if item.rec.due_on < item.rec.issued_on:
                item.reject("due_on", ERR_DUE_BEFORE_ISSUE)

    def values(self, item: Item, ctx: Context) -> dict[str, Any]:
        values = super().values(item, ctx)
        values.update(number=item.rec.number or item.external_id, customer_id=item.refs["customer_id"])
        if item.rec.order:
            values["order_id"] = item.refs["order"]["pk"]
        if item.rec.contract:
            values["contract_id"] = item.refs["contract"]["pk"]
        return values

    def after_write(self, items: list[Item], ctx: Context) -> None:
        for item in items:
            invoice = item.local
            if item.outcome != Outcome.CREATED or invoice.status != InvoiceStatus.ISSUED:
                continue
            publish(
                sync.EVENT_INVOICE_ISSUED,
                payload={
                    "invoice": invoice.number,
                    "invoice_id": invoice.pk,
                    "customer_id": invoice.customer_id,
                    "order_id": invoice.order_id,
                    "contract_id": invoice.contract_id,
                    "issued_on": invoice.issued_on.isoformat(),
                    "due_on": invoice.due_on.isoformat(),
                    "amount": str(invoice.amount),
                    "tax_amount": str(invoice.tax_amount),
                    "currency": invoice.currency,
                    "source": ctx.source,
                },
                subject=invoice,
                actor=ctx.actor,
            )


class PaymentHandler(Handler):
    entity = "payment"
    model = Payment
    fields = {"received_on": "received_on", "amount": "amount", "method": "method", "currency": "currency"}

    def resolve(self, items: list[Item], ctx: Context) -> None:
        resolve_customers(ctx, items)
        _resolve_one(
            ctx,
            items,
            field="invoice",
            entity="invoice",
            model=Invoice,
            fallback="number",
            fields=("customer_id",),
            customer_field="customer_id",
        )

    def values(self, item: Item, ctx: Context) -> dict[str, Any]:
        values = super().values(item, ctx)
        values.update(number=item.rec.number or item.external_id, customer_id=item.refs["customer_id"])
        if item.rec.invoice:
            values["invoice_id"] = item.refs["invoice"]["pk"]
        return values

    def after_write(self, items: list[Item], ctx: Context) -> None:
        for item in items:
            if item.outcome != Outcome.CREATED:
                continue
            payment = item.local
            publish(
                sync.EVENT_PAYMENT_RECEIVED,
                payload={
                    "payment": payment.number,
                    "payment_id": payment.pk,
                    "customer_id": payment.customer_id,
                    "invoice_id": payment.invoice_id,
                    "received_on": payment.received_on.isoformat(),
                    "amount": str(payment.amount),
                    "currency": payment.currency,
                    "method": payment.method,
                    "source": ctx.source,
                },
                subject=payment,
                actor=ctx.actor,
            )


# --- production (MES) ---------------------------------------------------------------------------


class ProductionHandler(Handler):
    entity = "production"
    model = WorkOrder
    fields = {
        "status": "status",
        "quantity": "quantity",
        "quantity_done": "quantity_done",
        "planned_start": "planned_start",
        "planned_finish": "planned_finish",
        "actual_finish": "actual_finish",
    }

    def resolve(self, items: list[Item], ctx: Context) -> None:
        _resolve_one(ctx, items, field="order", entity="order", model=SalesOrder, fallback="number")
        _resolve_order_lines(ctx, items, lines_of=lambda i: [("line_no", i.rec.line_no)])

    def values(self, item: Item, ctx: Context) -> dict[str, Any]:
        values = super().values(item, ctx)
        line = item.refs["lines"][item.rec.line_no]
        values.update(number=item.rec.number or item.external_id, order_line_id=line["pk"])
        if item.rec.plant:
            values["plant_id"] = item.data["plant_id"]
        if item.local is None and "quantity" not in values:
            values["quantity"] = line["quantity"]
        return values

    def write(self, items: list[Item], ctx: Context) -> None:
        plants = sync.plants_ensure({i.rec.plant: None for i in items if i.rec.plant})
        for item in items:
            if item.rec.plant:
                item.data["plant_id"] = plants[item.rec.plant]
        super().write(items, ctx)

    def after_write(self, items: list[Item], ctx: Context) -> None:
        started: dict[int, dt.datetime] = {}
        fallback: dict[int, dt.datetime] = {}
        for item in items:
            order_id = item.refs["order"]["pk"]
            rec = item.rec
            when = _event_time(rec, ctx)
            fallback[order_id] = max(fallback.get(order_id, when), when)
            if rec.status in sync.STARTED:
                at = start_of(rec.actual_start) if rec.actual_start else when
                started[order_id] = min(started.get(order_id, at), at)
        steps = sync.work_orders_status(started, {i.refs["order"]["pk"] for i in items}, fallback)
        if steps:
            sync.order_statuses_record(steps=steps, source=ctx.source, actor=ctx.actor)


# --- capacity (APS) -----------------------------------------------------------------------------


class CapacityHandler(Handler):
    entity = "capacity"
    model = Capacity
    key_field = None
    fields = {"capacity_units": "capacity_units", "planned_units": "planned_units"}

    def external_id(self, rec: Any) -> str | None:
        return rec.external_id or f"{rec.product_line}:{rec.plant}:{rec.month}"

    def resolve(self, items: list[Item], ctx: Context) -> None:
        lines = resolve_ids(
            ctx, "product_line", ProductLine, [i.rec.product_line for i in items], fallback="code"
        )
        for item in items:
            row = lines.get(item.rec.product_line)
            if row is None:
                item.reject(
                    "product_line",
                    unknown_ref_message(ctx, "product_line", item.rec.product_line, fallback="code"),
                )
            else:
                item.refs["product_line_id"] = row["pk"]

    def load_locals(self, items: list[Item], ctx: Context) -> None:
        from steelyard.integrations.models import ExternalRecord

        plants = sync.plants_ensure({i.rec.plant: None for i in items}, create=False)
        pks = {i.stored.object_id for i in items if i.stored}
        keys = {
            (i.refs["product_line_id"], plants[i.rec.plant], month_date(i.rec.month))
            for i in items
            if i.rec.plant in plants
        }
        rows = {c.pk: c for c in Capacity.objects.filter(pk__in=pks)} if pks else {}
        if keys:
            for cap in Capacity.objects.filter(
                product_line_id__in={k[0] for k in keys},
                plant_id__in={k[1] for k in keys},
                month__in={k[2] for k in keys},
            ):
                rows[cap.pk] = cap
        by_key = {(c.product_line_id, c.plant_id, c.month): c for c in rows.values()}
        taken = (
            dict(
                ExternalRecord.objects.filter(
                    system=ctx.system, entity=self.entity, object_id__in=[c.pk for c in by_key.values()]
                ).values_list("object_id", "external_id")
            )
            if by_key
            else {}
        )
        seen: dict[tuple[int, str, dt.date], str] = {}
        for item in items:
            month = month_date(item.rec.month)
            batch_key = (item.refs["product_line_id"], item.rec.plant, month)
            if batch_key in seen and seen[batch_key] != item.external_id:
                item.reject("month", ERR_DUPLICATE_CAPACITY)
                continue
            seen[batch_key] = item.external_id
            key = (item.refs["product_line_id"], plants.get(item.rec.plant), month)
            if item.stored and item.stored.object_id in rows:
                item.local = rows[item.stored.object_id]
            holder = by_key.get(key)  # type: ignore[arg-type]
            if holder is None:
                continue
            if item.local is None:
                other = taken.get(holder.pk)
                if other is not None and other != item.external_id:
                    item.reject("month", ERR_CAPACITY_TAKEN % {"other": other})
                    continue
                item.local = holder
                item.linked = item.stored is None
            elif holder.pk != item.local.pk:
                item.reject("month", ERR_CAPACITY_TAKEN % {"other": taken.get(holder.pk, "")})

    def write(self, items: list[Item], ctx: Context) -> None:
        plants = sync.plants_ensure({i.rec.plant: i.rec.plant_name for i in items})
        for item in items:
            item.data["plant_id"] = plants[item.rec.plant]
        super().write(items, ctx)

    def values(self, item: Item, ctx: Context) -> dict[str, Any]:
        values = super().values(item, ctx)
        values.update(
            product_line_id=item.refs["product_line_id"],
            plant_id=item.data["plant_id"],
            month=month_date(item.rec.month),
        )
        return values
