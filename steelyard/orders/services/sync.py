"""Order-to-cash writes from external systems, in bulk (called by the inbound integration handlers).

The integration layer validates records, resolves references and decides what is new or changed;
this module writes order-to-cash rows a chunk at a time and keeps the order timeline right:

- :func:`order_statuses_record` is the bulk form of ``status.order_record_status`` with the same
  rules: a step (order, status, at) is recorded once; the current status is the furthest step of
  the happy path (``cancelled`` ends it); ``order.status_changed`` is published when the current
  status changes; a confirmed order counts as a deal on the customer's pool clock (latest wins).
- :func:`order_lines_sync` replaces an order's lines (create, update, delete by line number).
- :func:`shipments_sync` writes shipment lines and shipped serial numbers, then marks orders
  shipped when all their quantity has left and delivered when every shipment has arrived.
- :func:`work_orders_status` turns MES work orders into ``in_production`` (the first one to start)
  and ``produced`` (every line's work orders completed).
- :func:`plants_ensure` upserts plants by code.

Auditing is the caller's: one audit row per inbound batch, not one per record.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from django.db import connections, models, router
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from steelyard.core.events import publish
from steelyard.orders.models import (
    STATUS_RANK,
    OrderLine,
    OrderStatus,
    OrderStatusEvent,
    Plant,
    SalesOrder,
    ShipmentLine,
    ShippedUnit,
    WorkOrder,
    WorkOrderStatus,
)
from steelyard.orders.services.status import EVENT_STATUS_CHANGED, current_status, status_payload

EVENT_ORDER_CREATED = "order.created"
EVENT_CONTRACT_SIGNED = "contract.signed"
EVENT_SHIPMENT_SHIPPED = "shipment.shipped"
EVENT_INVOICE_ISSUED = "invoice.issued"
EVENT_PAYMENT_RECEIVED = "payment.received"

ZERO = Decimal("0")


def start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())


# --- fast inserts -----------------------------------------------------------------------------


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """INSERT ``rows`` (values in the order of ``fields``) with ``executemany``; returns the count.

    For rows whose ids are not needed afterwards (order lines, timeline events, key-map rows):
    several times faster than ``bulk_create`` on 100k rows. Values must already be of the field's
    Python type; datetimes are adapted for the database here (no ``auto_now``, no signals).
    """
    connection = connections[router.db_for_write(model)]
    ops = connection.ops
    meta_fields = [cast(models.Field, model._meta.get_field(name)) for name in fields]
    datetimes = [i for i, f in enumerate(meta_fields) if isinstance(f, models.DateTimeField)]
    table = ops.quote_name(model._meta.db_table)
    columns = ", ".join(ops.quote_name(f.column or f.name) for f in meta_fields)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(meta_fields))})"  # noqa: S608 - names from the model
    count = 0
    batch: list[Sequence[Any]] = []

    def flush() -> None:
        with connection.cursor() as cursor:
            cursor.executemany(sql, batch)

    for row in rows:
        if datetimes:
            row = list(row)
            for i in datetimes:
                row[i] = ops.adapt_datetimefield_value(row[i])
        batch.append(row)
        if len(batch) >= 5000:
            flush()
            count += len(batch)
            batch = []
    if batch:
        flush()
        count += len(batch)
    return count


def insert_new(
    model: type[models.Model],
    objs: Sequence[models.Model],
    *,
    key: str,
    history_user: Any = None,
    reason: str = "",
) -> None:
    """Insert new ``objs`` (and, for a model with history, their "created" history rows) in bulk.

    ``key`` is a unique field the new rows are found by afterwards to learn their ids (one query),
    which lets the rows go in with ``executemany``. ``auto_now``/``auto_now_add`` fields are stamped.
    """
    if not objs:
        return
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    for obj in objs:
        for f in fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                setattr(obj, f.attname, now)
    insert_rows(model, [f.name for f in fields], ([getattr(o, f.attname) for f in fields] for o in objs))
    by_key = {getattr(o, key): o for o in objs}
    found = model._default_manager.filter(**{f"{key}__in": list(by_key)}).values_list(key, "pk")
    for value, pk in found:
        obj = by_key[value]
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = router.db_for_write(model)
    history = getattr(model, "history", None)
    if history is None:
        return
    hist_model = history.model
    user_id = history_user.pk if getattr(history_user, "pk", None) else None
    extra = {
        "history_date": now,
        "history_change_reason": reason[:100] or None,
        "history_type": "+",
        "history_user": user_id,
    }
    hist_fields = [f for f in hist_model._meta.concrete_fields if f.name != "history_id"]
    insert_rows(
        hist_model,
        [f.name for f in hist_fields],
        ([extra[f.name] if f.name in extra else getattr(o, f.attname) for f in hist_fields] for o in objs),
    )


# --- the timeline -------------------------------------------------------------------------------


@dataclass
class StatusStep:
    """A step to put on an order's timeline."""

    order_id: int
    status: str
    at: dt.datetime
    note: str = ""
    once: bool = False  # skip it when the order already has a step with this status


def order_statuses_record(
    *,
    steps: Sequence[StatusStep],
    source: str,
    actor: Any = None,
    recompute: Iterable[int] = (),
) -> list[tuple[int | None, bool]]:
    """Record ``steps`` on their orders' timelines; returns (event id, created) per step.

    The event id is the existing event's when the very same (order, status, at) — or, for a
    ``once`` step, the same status — is already on the timeline (nothing is written then). The
    orders in ``recompute`` (e.g. after an event was removed) have their status recomputed too.
    Queries: one to lock the orders, one for their events, one insert, one update (when some
    status moved), one per customer whose deal clock moves.
    """
    order_ids = {s.order_id for s in steps} | set(recompute)
    if not order_ids:
        return []
    orders = {o.pk: o for o in SalesOrder.objects.select_for_update().filter(pk__in=order_ids)}
    timeline: dict[int, list[tuple[str, dt.datetime]]] = defaultdict(list)
    existing: dict[tuple[int, str, dt.datetime], int] = {}
    by_status: dict[tuple[int, str], int] = {}
    for pk, order_id, status, at in OrderStatusEvent.objects.filter(order_id__in=order_ids).values_list(
        "pk", "order_id", "status", "at"
    ):
        timeline[order_id].append((status, at))
        existing[(order_id, status, at)] = pk
        by_status.setdefault((order_id, status), pk)
    actor_row = actor if getattr(actor, "pk", None) else None
    # Per step: the event's id, or the key of an event inserted below; and whether it is new.
    refs: list[tuple[Any, bool]] = []
    new_events: list[OrderStatusEvent] = []
    pending: set[tuple[int, str, dt.datetime]] = set()
    for step in steps:
        if step.order_id not in orders:
            refs.append((None, False))
            continue
        key = (step.order_id, step.status, step.at)
        if key in existing:
            refs.append((existing[key], False))
        elif step.once and (step.order_id, step.status) in by_status:
            refs.append((by_status[(step.order_id, step.status)], False))
        elif key in pending:
            refs.append((key, False))
        else:
            pending.add(key)
            by_status.setdefault((step.order_id, step.status), key)  # type: ignore[arg-type]
            new_events.append(
                OrderStatusEvent(
                    order_id=step.order_id,
                    status=step.status,
                    at=step.at,
                    source=source[:40],
                    actor=actor_row,
                    note=(step.note or "")[:300],
                )
            )
            timeline[step.order_id].append((step.status, step.at))
            refs.append((key, True))
    if new_events:
        OrderStatusEvent.objects.bulk_create(new_events)
    inserted = {(e.order_id, e.status, e.at): e.pk for e in new_events}
    results: list[tuple[int | None, bool]] = [
        (inserted[ref] if isinstance(ref, tuple) else ref, created) for ref, created in refs
    ]

    touched = {s.order_id for s, (_pk, created) in zip(steps, results, strict=True) if created} | set(
        recompute
    )
    moved: list[tuple[SalesOrder, str]] = []
    now = timezone.now()
    for order_id in touched:
        order = orders.get(order_id)
        if order is None:
            continue
        best = current_status(timeline.get(order_id, []))
        if best is None:
            continue
        if (order.status, order.status_at) != best:
            previous = order.status
            order.status, order.status_at = best
            order.updated_at = now
            moved.append((order, previous))
    if moved:
        from simple_history.utils import bulk_update_with_history

        bulk_update_with_history(
            [o for o, _p in moved],
            SalesOrder,
            ["status", "status_at", "updated_at"],
            default_user=actor_row,
            default_change_reason=f"inbound:{source}"[:100],
            manager=SalesOrder._default_manager,
        )
    deals: dict[int, dt.datetime] = {}
    for event in new_events:
        if event.status == OrderStatus.CONFIRMED:
            customer_id = orders[event.order_id].customer_id
            if customer_id not in deals or event.at > deals[customer_id]:
                deals[customer_id] = event.at
    customers_record_deals(deals)
    for order, previous in moved:
        if previous != order.status:
            publish(EVENT_STATUS_CHANGED, payload=status_payload(order, previous), subject=order, actor=actor)
    return results


def customers_record_deals(deals: dict[int, dt.datetime]) -> None:
    """Move each customer's deal clock to ``deals[customer_id]`` when that is newer than what is stored.

    The bulk form of ``pool.customer_record_event(event="deal")``, with its rules: the latest event
    wins (an older one changes nothing), and the pool clock is recomputed from the fresh values
    and saved only where it changed. The rows are locked; one read and one update per call.
    """
    if not deals:
        return
    from steelyard.customers.models import Customer
    from steelyard.customers.services.pool import CLOCK_FIELDS, PolicyCache, customer_clock_recompute

    moved: list[Customer] = []
    policies: PolicyCache = {}
    now = timezone.now()
    rows = Customer.objects.select_for_update().filter(pk__in=deals).order_by("pk")
    for customer in rows:
        at = deals[customer.pk]
        if customer.last_deal_at is not None and customer.last_deal_at >= at:
            continue
        customer.last_deal_at = at
        customer_clock_recompute(customer, save=False, now=now, policies=policies)
        moved.append(customer)
    if moved:
        Customer.objects.bulk_update(moved, ["last_deal_at", *CLOCK_FIELDS])


def new_order_status(
    ordered_on: dt.date, status: str | None, status_at: dt.datetime | None
) -> list[tuple[str, dt.datetime]]:
    """The first steps of a new order: confirmed (when it was ordered) and the status it came with."""
    confirmed_at = start_of(ordered_on)
    if status == OrderStatus.CONFIRMED and status_at is not None:
        return [(OrderStatus.CONFIRMED, status_at)]
    steps = [(OrderStatus.CONFIRMED.value, confirmed_at)]
    if status and status != OrderStatus.CONFIRMED:
        steps.append((status, status_at or confirmed_at))
    return steps


def order_events_create(
    orders: Sequence[SalesOrder], steps: dict[int, list[tuple[str, dt.datetime]]], *, source: str, actor: Any
) -> None:
    """The first timeline events of new orders (their status was set from them), and the deal clock."""
    actor_id = actor.pk if getattr(actor, "pk", None) else None
    now = timezone.now()
    insert_rows(
        OrderStatusEvent,
        ("order", "status", "at", "source", "actor", "note", "created_at"),
        (
            (o.pk, status, at, source[:40], actor_id, "", now)
            for o in orders
            for status, at in steps.get(o.pk, [])
        ),
    )
    deals: dict[int, dt.datetime] = {}
    for order in orders:
        for status, at in steps.get(order.pk, []):
            if status == OrderStatus.CONFIRMED and (
                order.customer_id not in deals or at > deals[order.customer_id]
            ):
                deals[order.customer_id] = at
    customers_record_deals(deals)


def order_created_payload(order: SalesOrder) -> dict[str, Any]:
    return {
        "order": order.number,
        "order_id": order.pk,
        "customer_id": order.customer_id,
        "contract_id": order.contract_id,
        "ordered_on": order.ordered_on.isoformat(),
        "amount": str(order.amount),
        "currency": order.currency,
        "status": order.status,
        "source": order.source,
    }


# --- order lines --------------------------------------------------------------------------------


LINE_COLUMNS = (
    "order",
    "line_no",
    "product",
    "description",
    "quantity",
    "unit_price",
    "amount",
    "unit_cost",
    "requested_date",
    "promised_date",
)
LINE_ATTRS = tuple(f"{c}_id" if c in ("order", "product") else c for c in LINE_COLUMNS)


def order_lines_sync(lines_by_order: dict[int, list[dict[str, Any]]], *, new_orders: set[int]) -> None:
    """Make each order's lines exactly ``lines_by_order[order_id]`` (dicts keyed like ``OrderLine``).

    Lines are matched by ``line_no``; unchanged lines are not written. The caller has checked that
    no line to delete has been shipped.
    """
    existing: dict[int, dict[int, OrderLine]] = defaultdict(dict)
    old_orders = [pk for pk in lines_by_order if pk not in new_orders]
    if old_orders:
        for line in OrderLine.objects.filter(order_id__in=old_orders):
            existing[line.order_id][line.line_no] = line
    creates: list[OrderLine] = []
    updates: list[OrderLine] = []
    fields: set[str] = set()
    deletes: list[int] = []
    for order_id, lines in lines_by_order.items():
        current = existing.get(order_id, {})
        wanted = {ln["line_no"] for ln in lines}
        deletes.extend(line.pk for no, line in current.items() if no not in wanted)
        for values in lines:
            stored = current.get(values["line_no"])
            if stored is None:
                creates.append(OrderLine(order_id=order_id, **values))
                continue
            changed = False
            for name, value in values.items():
                if getattr(stored, name) != value:
                    setattr(stored, name, value)
                    fields.add(name)
                    changed = True
            if changed:
                updates.append(stored)
    if deletes:
        OrderLine.objects.filter(pk__in=deletes).delete()
    if updates:
        OrderLine.objects.bulk_update(updates, sorted(fields))
    if creates:
        insert_rows(OrderLine, LINE_COLUMNS, ([getattr(line, f) for f in LINE_ATTRS] for line in creates))


def shipped_line_ids(line_ids: Iterable[int]) -> set[int]:
    ids = set(line_ids)
    if not ids:
        return set()
    return set(ShipmentLine.objects.filter(order_line_id__in=ids).values_list("order_line_id", flat=True))


# --- shipments ----------------------------------------------------------------------------------


def shipment_lines_sync(
    lines_by_shipment: dict[int, list[dict[str, Any]]], *, new_shipments: set[int]
) -> None:
    """Make each shipment's lines and serial numbers exactly what was sent.

    ``lines_by_shipment[shipment_id]`` is a list of ``{order_line_id, product_id, quantity,
    serial_numbers}``. Removed lines go with their units; serial numbers are added and removed
    per line; nothing unchanged is written.
    """
    old = [pk for pk in lines_by_shipment if pk not in new_shipments]
    current: dict[int, dict[int, ShipmentLine]] = defaultdict(dict)
    units: dict[int, dict[str, int]] = defaultdict(dict)
    if old:
        for line in ShipmentLine.objects.filter(shipment_id__in=old):
            current[line.shipment_id][line.order_line_id] = line
        line_ids = [ln.pk for by in current.values() for ln in by.values()]
        for pk, line_id, serial in ShippedUnit.objects.filter(shipment_line_id__in=line_ids).values_list(
            "pk", "shipment_line_id", "serial_number"
        ):
            units[line_id][serial] = pk
    delete_lines: list[int] = []
    delete_units: list[int] = []
    update_lines: list[ShipmentLine] = []
    create_lines: list[tuple[ShipmentLine, dict[str, Any]]] = []
    create_units: list[ShippedUnit] = []
    for shipment_id, lines in lines_by_shipment.items():
        have = current.get(shipment_id, {})
        wanted = {ln["order_line_id"] for ln in lines}
        delete_lines.extend(line.pk for ol, line in have.items() if ol not in wanted)
        for values in lines:
            found = have.get(values["order_line_id"])
            if found is None:
                create_lines.append(
                    (
                        ShipmentLine(
                            shipment_id=shipment_id,
                            order_line_id=values["order_line_id"],
                            quantity=values["quantity"],
                        ),
                        values,
                    )
                )
                continue
            if found.quantity != values["quantity"]:
                found.quantity = values["quantity"]
                update_lines.append(found)
            stored = units.get(found.pk, {})
            serials = set(values["serial_numbers"])
            delete_units.extend(pk for serial, pk in stored.items() if serial not in serials)
            create_units.extend(
                ShippedUnit(shipment_line_id=found.pk, product_id=values["product_id"], serial_number=serial)
                for serial in values["serial_numbers"]
                if serial not in stored
            )
    if delete_units:
        ShippedUnit.objects.filter(pk__in=delete_units).delete()
    if delete_lines:
        ShipmentLine.objects.filter(pk__in=delete_lines).delete()
    if update_lines:
        ShipmentLine.objects.bulk_update(update_lines, ["quantity"])
    if create_lines:
        ShipmentLine.objects.bulk_create([line for line, _v in create_lines])
        for line, values in create_lines:
            create_units.extend(
                ShippedUnit(shipment_line_id=line.pk, product_id=values["product_id"], serial_number=serial)
                for serial in values["serial_numbers"]
            )
    if create_units:
        ShippedUnit.objects.bulk_create(create_units)


def orders_shipping_steps(order_ids: Iterable[int]) -> list[StatusStep]:
    """``shipped`` for orders whose every line has fully left, ``delivered`` when every shipment arrived."""
    ids = set(order_ids)
    if not ids:
        return []
    ordered: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for pk, order_id, quantity in OrderLine.objects.filter(order_id__in=ids).values_list(
        "pk", "order_id", "quantity"
    ):
        ordered[order_id][pk] = quantity
    shipped = dict(
        ShipmentLine.objects.filter(order_line__order_id__in=ids)
        .values("order_line_id")
        .annotate(total=Sum("quantity"))
        .values_list("order_line_id", "total")
    )
    from steelyard.orders.models import Shipment

    per_order = {
        row["order_id"]: row
        for row in Shipment.objects.filter(order_id__in=ids)
        .values("order_id")
        .annotate(
            last_shipped=Max("shipped_on"),
            last_delivered=Max("delivered_on"),
            undelivered=Count("pk", filter=Q(delivered_on__isnull=True)),
        )
    }
    steps: list[StatusStep] = []
    for order_id in sorted(ids):
        lines = ordered.get(order_id)
        row = per_order.get(order_id)
        if not lines or row is None:
            continue
        if any(shipped.get(pk, ZERO) < qty for pk, qty in lines.items()):
            continue
        steps.append(StatusStep(order_id, OrderStatus.SHIPPED, start_of(row["last_shipped"]), once=True))
        if row["undelivered"] == 0 and row["last_delivered"] is not None:
            steps.append(
                StatusStep(order_id, OrderStatus.DELIVERED, start_of(row["last_delivered"]), once=True)
            )
    return steps


def shipped_quantities(
    order_ids: Iterable[int], *, exclude_shipments: Iterable[int] = ()
) -> dict[int, Decimal]:
    """Quantity shipped per order line of ``order_ids``, leaving out ``exclude_shipments``."""
    ids = set(order_ids)
    if not ids:
        return {}
    qs = ShipmentLine.objects.filter(order_line__order_id__in=ids)
    excluded = set(exclude_shipments)
    if excluded:
        qs = qs.exclude(shipment_id__in=excluded)
    return dict(
        qs.values("order_line_id").annotate(total=Sum("quantity")).values_list("order_line_id", "total")
    )


# --- production (MES) ---------------------------------------------------------------------------

STARTED = (WorkOrderStatus.IN_PRODUCTION, WorkOrderStatus.COMPLETED)


def work_orders_status(
    started: dict[int, dt.datetime], order_ids: Iterable[int], fallback: dict[int, dt.datetime]
) -> list[StatusStep]:
    """Timeline steps from work orders.

    ``started[order_id]`` is when the first started work order of this batch began (the order is
    ``in_production`` from then, unless it already was); an order whose every line has work orders,
    all completed (cancelled ones aside), is ``produced`` when the last finished (or at
    ``fallback[order_id]`` when finish dates are missing).
    """
    steps = [
        StatusStep(order_id, OrderStatus.IN_PRODUCTION, at, once=True) for order_id, at in started.items()
    ]
    ids = set(order_ids)
    if not ids:
        return steps
    lines: dict[int, set[int]] = defaultdict(set)
    for pk, order_id in OrderLine.objects.filter(order_id__in=ids).values_list("pk", "order_id"):
        lines[order_id].add(pk)
    done: dict[int, dict[int, bool]] = defaultdict(dict)
    finish: dict[int, list[dt.date | None]] = defaultdict(list)
    for order_id, line_id, status, actual_finish in (
        WorkOrder.objects.filter(order_line__order_id__in=ids)
        .exclude(status=WorkOrderStatus.CANCELLED)
        .values_list("order_line__order_id", "order_line_id", "status", "actual_finish")
    ):
        completed = status == WorkOrderStatus.COMPLETED
        done[order_id][line_id] = done[order_id].get(line_id, True) and completed
        finish[order_id].append(actual_finish)
    for order_id in sorted(ids):
        have = done.get(order_id, {})
        if not lines.get(order_id) or set(have) != lines[order_id] or not all(have.values()):
            continue
        dates = [d for d in finish[order_id] if d is not None]
        if dates and len(dates) == len(finish[order_id]):
            at = start_of(max(dates))
        else:
            at = fallback.get(order_id) or timezone.now()
        if order_id not in started:
            steps.append(StatusStep(order_id, OrderStatus.IN_PRODUCTION, at, once=True))
        steps.append(StatusStep(order_id, OrderStatus.PRODUCED, at, once=True))
    return steps


# --- plants -------------------------------------------------------------------------------------


def plants_ensure(names: dict[str, str | None], *, create: bool = True) -> dict[str, int]:
    """``{code: id}`` of the plants named (by code); missing ones are created (name = given or code),
    and a given name different from the stored one is updated."""
    codes = {c for c in names if c}
    if not codes:
        return {}
    rows = {p.code: p for p in Plant.objects.filter(code__in=codes)}
    if create:
        missing = [Plant(code=c, name=(names.get(c) or c)[:100]) for c in sorted(codes - set(rows))]
        if missing:
            Plant.objects.bulk_create(missing)
            rows.update({p.code: p for p in missing})
        renamed = [p for c, p in rows.items() if names.get(c) and p.name != names[c]]
        for plant in renamed:
            plant.name = names[plant.code][:100]  # type: ignore[index]
        if renamed:
            Plant.objects.bulk_update(renamed, ["name"])
    return {c: p.pk for c, p in rows.items()}


def status_rank(status: str) -> int:
    return STATUS_RANK.get(status, -1)
