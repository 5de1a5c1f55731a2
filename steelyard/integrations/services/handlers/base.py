"""The parts every inbound handler shares: the work item, the context, reference resolution,
linking by natural key, and bulk create/update.

A handler turns validated records of one entity into local rows. The engine
(``steelyard.integrations.services.inbound``) calls, for one chunk of records whose content
changed: ``resolve`` (references → local ids, one query per referenced entity),
``load_locals`` (the local rows to update: by ``ExternalRecord`` or by natural key),
``check`` (rules that need the database) and, unless it is a dry run, ``write`` (bulk writes).
Every step marks the items it rejects; the next step sees only the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.integrations.models import ExternalRecord, ExternalSystem, Outcome

ERR_UNKNOWN_REF = _("Unknown %(entity)s “%(value)s”: %(system)s has not sent a record with this id.")
ERR_UNKNOWN_REF_OR_CODE = _(
    "Unknown %(entity)s “%(value)s”: neither an id sent by %(system)s nor one of our codes."
)
ERR_UNKNOWN_REF_OR_NUMBER = _(
    "Unknown %(entity)s “%(value)s”: neither an id sent by %(system)s nor one of our numbers."
)
ERR_UNKNOWN_CREDIT_CODE = _("No customer has the unified social credit code “%(value)s”.")
ERR_CUSTOMER_REQUIRED = _("Name the customer by its id (customer) or its credit code (customer_credit_code).")
ERR_TAKEN = _("%(value)s is already used by another %(entity)s (sent as “%(other)s”).")
ERR_TAKEN_LOCAL = _("%(value)s is already used by another %(entity)s.")
ERR_TWICE_IN_BATCH = _("%(value)s is used by another record of this batch (“%(other)s”).")

#: What the messages call each entity (lower case, inside sentences).
ENTITY_NAMES: dict[str, Any] = {
    "customer": _("customer"),
    "product_line": _("product line"),
    "product": _("product"),
    "contract": _("contract"),
    "order": _("order"),
    "order_status": _("order status"),
    "shipment": _("shipment"),
    "invoice": _("invoice"),
    "payment": _("payment"),
    "production": _("work order"),
    "capacity": _("capacity"),
    "plant": _("plant"),
}


@dataclass
class Context:
    """What a batch is applied with."""

    system: ExternalSystem
    actor: Any
    dry_run: bool = False
    now: dt.datetime = field(default_factory=timezone.now)

    @property
    def source(self) -> str:
        return self.system.code[:40]

    @property
    def user(self) -> Any:
        """The actor as a row (None for the system itself), for history and ``created_by``."""
        return self.actor if getattr(self.actor, "pk", None) else None


@dataclass
class Item:
    """One valid record on its way through a handler."""

    position: int
    rec: Any  # the validated pydantic record
    external_id: str
    version: int
    content_hash: str
    stored: ExternalRecord | None = None
    local: Any = None  # the local row to update (found through ``stored`` or by natural key)
    linked: bool = False  # ``local`` was found by natural key: the record is new to the key map
    refs: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # what a handler prepares for ``write``
    reasons: list[dict[str, str]] = field(default_factory=list)
    outcome: str = ""
    object_id: int | None = None

    def reject(self, field_name: str, message: Any) -> None:
        self.reasons.append({"field": field_name, "message": str(message)})
        self.outcome = Outcome.REJECTED

    @property
    def ok(self) -> bool:
        return not self.reasons

    def reset(self) -> None:
        """Forget everything but the record itself (before retrying it on its own)."""
        self.stored = None
        self.local = None
        self.linked = False
        self.refs = {}
        self.data = {}
        self.reasons = []
        self.outcome = ""
        self.object_id = None


def live(items: Iterable[Item]) -> list[Item]:
    return [i for i in items if i.ok]


def start_of(day: dt.date) -> dt.datetime:
    """Midnight at the start of ``day`` in the site's time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())


def entity_name(entity: str) -> str:
    return str(ENTITY_NAMES.get(entity, entity))


# --- references -------------------------------------------------------------------------------


def resolve_ids(
    ctx: Context,
    entity: str,
    model: type[models.Model],
    values: Iterable[str | None],
    *,
    fallback: str | None = None,
    fields: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """``{value: row}`` for the values that name a record of ``entity``.

    A value is first the sender's external id (through ``ExternalRecord``), then — with
    ``fallback`` — our own business key (product code, order number). Two queries whatever the
    number of values: the key map, then the rows (``pk`` and ``fields``).
    """
    wanted = {v for v in values if v}
    if not wanted:
        return {}
    ext = dict(
        ExternalRecord.objects.filter(system=ctx.system, entity=entity, external_id__in=wanted).values_list(
            "external_id", "object_id"
        )
    )
    q = Q(pk__in=set(ext.values()))
    if fallback:
        q |= Q(**{f"{fallback}__in": wanted})
    columns = list(dict.fromkeys(["pk", *fields, *([fallback] if fallback else [])]))
    rows = {r["pk"]: r for r in model._default_manager.filter(q).values(*columns)}
    by_key = {r[fallback]: r for r in rows.values()} if fallback else {}
    found: dict[str, dict[str, Any]] = {}
    for value in wanted:
        pk = ext.get(value)
        if pk is not None and pk in rows:
            found[value] = rows[pk]
        elif value in by_key:
            found[value] = by_key[value]
    return found


def unknown_ref_message(ctx: Context, entity: str, value: str, *, fallback: str | None = None) -> str:
    template = {"code": ERR_UNKNOWN_REF_OR_CODE, "number": ERR_UNKNOWN_REF_OR_NUMBER}.get(
        fallback or "", ERR_UNKNOWN_REF
    )
    return str(template % {"entity": entity_name(entity), "value": value, "system": ctx.system.name})


def resolve_customers(ctx: Context, items: Sequence[Item]) -> None:
    """Set ``item.refs["customer_id"]`` from ``customer`` (external id) or ``customer_credit_code``.

    A merged customer stands for the customer it was merged into.
    """
    from steelyard.customers.models import Customer

    ext_ids = {i.rec.customer for i in items if i.rec.customer}
    codes = {i.rec.customer_credit_code for i in items if not i.rec.customer and i.rec.customer_credit_code}
    ext = (
        dict(
            ExternalRecord.objects.filter(
                system=ctx.system, entity="customer", external_id__in=ext_ids
            ).values_list("external_id", "object_id")
        )
        if ext_ids
        else {}
    )
    q = Q(pk__in=set(ext.values()))
    if codes:
        q |= Q(credit_code__in=codes, merged_into__isnull=True)
    rows = (
        {r["pk"]: r for r in Customer.objects.filter(q).values("pk", "credit_code", "merged_into_id")}
        if ext or codes
        else {}
    )
    # Follow merges (a handful of hops at most).
    for _hop in range(5):
        missing = {r["merged_into_id"] for r in rows.values() if r["merged_into_id"]} - set(rows)
        if not missing:
            break
        rows.update(
            {
                r["pk"]: r
                for r in Customer.objects.filter(pk__in=missing).values("pk", "credit_code", "merged_into_id")
            }
        )

    def final(pk: int | None) -> int | None:
        for _hop in range(6):
            row = rows.get(pk) if pk is not None else None
            if row is None:
                return None
            if not row["merged_into_id"]:
                return row["pk"]
            pk = row["merged_into_id"]
        return None

    by_code = {
        r["credit_code"]: r["pk"] for r in rows.values() if r["credit_code"] and not r["merged_into_id"]
    }
    for item in items:
        rec = item.rec
        if rec.customer:
            pk = final(ext.get(rec.customer))
            if pk is None:
                item.reject("customer", unknown_ref_message(ctx, "customer", rec.customer))
                continue
        elif rec.customer_credit_code:
            pk = by_code.get(rec.customer_credit_code)
            if pk is None:
                item.reject(
                    "customer_credit_code", ERR_UNKNOWN_CREDIT_CODE % {"value": rec.customer_credit_code}
                )
                continue
        else:
            item.reject("customer", ERR_CUSTOMER_REQUIRED)
            continue
        item.refs["customer_id"] = pk


# --- linking local rows -------------------------------------------------------------------------


def load_by_key(
    ctx: Context,
    entity: str,
    model: type[models.Model],
    items: Sequence[Item],
    *,
    key_field: str | None,
    key_of: Any,
    queryset: Any = None,
    select_related: Sequence[str] = (),
    key_filter: dict[str, Any] | None = None,
    follow: Any = None,
) -> None:
    """Find the local row of each item: the one its ``ExternalRecord`` names, else the one whose
    ``key_field`` equals ``key_of(item)`` (linking a record we already had, e.g. a contract entered
    in the CRM before the ERP sent it).

    Rejects an item whose key is taken by another local row that another external id of this
    system already stands for, or by another record of the same batch. ``key_filter`` (attnames)
    narrows the rows a key may match (e.g. live customers only); ``follow`` maps the rows found
    through the key map to the rows they now stand for (e.g. a merged customer to the kept one).
    """
    qs = queryset if queryset is not None else model._default_manager.all()
    if select_related:
        qs = qs.select_related(*select_related)
    pks = {i.stored.object_id for i in items if i.stored}
    keys = {key_of(i) for i in items} - {None, ""} if key_field else set()
    q = Q(pk__in=pks)
    if keys:
        q |= Q(**{f"{key_field}__in": keys}, **(key_filter or {}))
    rows = {o.pk: o for o in qs.filter(q)} if (pks or keys) else {}
    by_key = (
        {
            getattr(o, key_field): o
            for o in rows.values()
            if all(getattr(o, k) == v for k, v in (key_filter or {}).items())
        }
        if key_field
        else {}
    )
    taken: dict[int, str] = {}
    if by_key:
        taken = dict(
            ExternalRecord.objects.filter(
                system=ctx.system, entity=entity, object_id__in=[o.pk for o in by_key.values()]
            ).values_list("object_id", "external_id")
        )
    current = follow(rows) if follow is not None else rows
    in_batch: dict[Any, str] = {}
    label = entity_name(entity)
    for item in items:
        key = key_of(item) if key_field else None
        if item.stored and item.stored.object_id in current:
            item.local = current[item.stored.object_id]
        elif key not in (None, "") and key in by_key:
            other = taken.get(by_key[key].pk)
            if other is not None and other != item.external_id:
                item.reject(key_field or "", ERR_TAKEN % {"value": key, "entity": label, "other": other})
                continue
            item.local = by_key[key]
            item.linked = item.stored is None
        if key not in (None, ""):
            holder = by_key.get(key)
            if item.local is not None and holder is not None and holder.pk != item.local.pk:
                other = taken.get(holder.pk)
                message = (
                    ERR_TAKEN % {"value": key, "entity": label, "other": other}
                    if other
                    else ERR_TAKEN_LOCAL % {"value": key, "entity": label}
                )
                item.reject(key_field or "", message)
                continue
            if key in in_batch and in_batch[key] != item.external_id:
                item.reject(key_field or "", ERR_TWICE_IN_BATCH % {"value": key, "other": in_batch[key]})
                continue
            in_batch[key] = item.external_id


# --- writing ------------------------------------------------------------------------------------


def assign(obj: models.Model, values: dict[str, Any]) -> list[str]:
    """Set ``values`` on ``obj``; the names of the fields whose value changed."""
    changed = []
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed.append(name)
    return changed


def bulk_save(
    model: type[models.Model],
    creates: Sequence[models.Model],
    updates: Sequence[tuple[models.Model, dict[str, Any]]],
    *,
    ctx: Context,
    history: bool = False,
) -> list[models.Model]:
    """Insert ``creates`` and apply ``updates`` (object, values) in bulk; returns the changed objects.

    Only fields whose value differs are written; ``updated_at`` is stamped on changed rows. Models
    with history get their historical rows in bulk too.
    """
    from simple_history.utils import bulk_create_with_history, bulk_update_with_history

    if creates:
        if history:
            bulk_create_with_history(
                list(creates), model, default_user=ctx.user, default_change_reason=f"inbound:{ctx.source}"
            )
        else:
            model._default_manager.bulk_create(list(creates))
    changed_objs: list[models.Model] = []
    fields: set[str] = set()
    has_updated_at = any(f.name == "updated_at" for f in model._meta.concrete_fields)
    for obj, values in updates:
        names = assign(obj, values)
        if names:
            fields.update(names)
            if has_updated_at:
                obj.updated_at = ctx.now  # type: ignore[attr-defined]
            changed_objs.append(obj)
    if changed_objs:
        if has_updated_at:
            fields.add("updated_at")
        if history:
            bulk_update_with_history(
                changed_objs,
                model,
                sorted(fields),
                default_user=ctx.user,
                default_change_reason=f"inbound:{ctx.source}",
                manager=model._default_manager,
            )
        else:
            model._default_manager.bulk_update(changed_objs, sorted(fields))
    return changed_objs


# --- the handler ------------------------------------------------------------------------------


class Handler:
    """How records of one entity become local rows. Subclasses set the class attributes and
    override the steps they need; the default ``write`` upserts ``model`` rows from ``values``."""

    entity: str = ""
    model: type[models.Model]
    #: The business key a record may be linked by when it is new to the key map (None: none).
    key_field: str | None = "number"
    #: Whether ``model`` keeps history (simple_history): bulk writes then write history rows too.
    history: bool = False
    #: Fields of the record copied onto the model when given: {record field: model field}.
    fields: dict[str, str] = {}

    # -- identity ---------------------------------------------------------------------------
    def external_id(self, rec: Any) -> str | None:
        return rec.external_id

    def default_version(self, rec: Any) -> int | None:
        """The version of a record that has neither ``version`` nor ``updated_at`` (None: required)."""
        return None

    def key_of(self, item: Item) -> Any:
        return getattr(item.rec, "number", None) or item.external_id

    # -- steps ------------------------------------------------------------------------------
    def resolve(self, items: list[Item], ctx: Context) -> None:
        """Resolve references into ``item.refs``; reject unknown ones."""

    def load_locals(self, items: list[Item], ctx: Context) -> None:
        load_by_key(ctx, self.entity, self.model, items, key_field=self.key_field, key_of=self.key_of)

    def check(self, items: list[Item], ctx: Context) -> None:
        """Rules that need the database (over-shipping, serial numbers taken …)."""

    def values(self, item: Item, ctx: Context) -> dict[str, Any]:
        """The model fields to set from the record (omitted optional fields are left out)."""
        dumped = item.rec.model_dump(include=set(self.fields), exclude_none=True)
        return {self.fields[name]: value for name, value in dumped.items()}

    def create_values(self, item: Item, ctx: Context) -> dict[str, Any]:
        """Extra fields for a new row (e.g. ``source``)."""
        return {"source": ctx.source} if any(f.name == "source" for f in self.model._meta.fields) else {}

    def write(self, items: list[Item], ctx: Context) -> None:
        creates: list[models.Model] = []
        updates: list[tuple[models.Model, dict[str, Any]]] = []
        for item in items:
            values = self.values(item, ctx)
            if item.local is None:
                item.local = self.model(**{**self.create_values(item, ctx), **values})
                creates.append(item.local)
                item.outcome = Outcome.CREATED
            else:
                item.data["before"] = {
                    f.attname: getattr(item.local, f.attname) for f in self.model._meta.concrete_fields
                }
                updates.append((item.local, values))
                item.outcome = Outcome.UPDATED
        bulk_save(self.model, creates, updates, ctx=ctx, history=self.history)
        for item in items:
            item.object_id = item.local.pk
        self.after_write(items, ctx)

    def after_write(self, items: list[Item], ctx: Context) -> None:
        """Publish domain events, move timelines (called after ``write``, only for changed records)."""

    def dry_write(self, items: list[Item], ctx: Context) -> None:
        """What ``write`` would report, without writing."""
        for item in items:
            item.outcome = Outcome.CREATED if item.local is None else Outcome.UPDATED
            item.object_id = item.local.pk if item.local is not None else None
