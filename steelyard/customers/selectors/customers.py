"""Reading customers and contacts, always through ``visible_to``; merged customers are left out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from steelyard.customers.models import Contact, Customer, OwnershipEvent, SavedView
from steelyard.customers.normalize import name_key, phone_key
from steelyard.customers.validators import normalize_credit_code

LIST_KEY = "customers"
ROLLUP_DEPTH = 4


def search_q(q: str) -> Q:
    """Legal or short name (contains), pinyin (contains), pinyin initials and credit code (prefix)."""
    q = (q or "").strip()
    if not q:
        return Q()
    cond = Q(legal_name__icontains=q) | Q(short_name__icontains=q)
    compact = q.replace(" ", "").lower()
    if compact.isascii() and compact.isalnum():
        cond |= (
            Q(pinyin__contains=compact)
            | Q(pinyin_initials__startswith=compact)
            | Q(pinyin_initials__contains=f" {compact}")
            | Q(credit_code__startswith=compact.upper())
        )
    return cond


def customer_base(*, user: Any, action: str = "view") -> QuerySet[Customer]:
    """Live (not merged) customers the user may see."""
    return Customer.objects.visible_to(user, action).filter(merged_into__isnull=True)


def customer_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Customer]:
    """The customers list: scoped, filtered and sorted by :class:`CustomerFilter`, rows ready to show."""
    from steelyard.customers.filters import CustomerFilter

    qs = customer_base(user=user).select_related("owner", "org_unit").prefetch_related("tags")
    return CustomerFilter(filters or {}, user=user).apply(qs)


def customer_get(*, user: Any, pk: Any, action: str = "view") -> Customer:
    """One customer the user may see (merged ones too, so their page can redirect); else 404."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such customer.")
    customer = (
        Customer.objects.visible_to(user, action)
        .select_related("owner", "org_unit", "parent", "pool", "territory", "created_by", "merged_into")
        .filter(pk=pk)
        .first()
    )
    if customer is None:
        raise Http404("No such customer.")
    return customer


def customer_duplicates(
    *, legal_name: str = "", credit_code: str = "", phones: Iterable[str] = (), exclude_pk: int | None = None
) -> list[Customer]:
    """Live customers that look like the same company: same credit code, normalised name or contact phone.

    Not scoped on purpose: a duplicate owned by someone else is exactly what must be found (callers
    show only names and links; the linked page still applies the viewer's scope).
    """
    cond = Q(pk__in=[])
    code = normalize_credit_code(credit_code)
    if code:
        cond |= Q(credit_code=code)
    key = name_key(legal_name)
    if key:
        cond |= Q(name_key=key)
    keys = sorted({k for k in (phone_key(p) for p in phones) if len(k) >= 7})
    if keys:
        cond |= Q(pk__in=Contact.objects.filter(phone_key__in=keys).values("customer_id"))
    qs = Customer.objects.filter(cond, merged_into__isnull=True).select_related("owner")
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return list(qs.order_by("pk")[:20])


def customer_group_rollup(
    customer: Customer, *, user: Any = None, depth: int = ROLLUP_DEPTH
) -> dict[str, Any]:
    """The group company at the top of ``customer``'s hierarchy and its subsidiaries as a tree.

    Returns ``{"root": Customer, "tree": [(customer, depth), ...]}`` in display order, down to
    ``depth`` levels (one query per level). With ``user`` only rows the user may see are listed.
    """
    root = customer
    seen = {customer.pk}
    for _i in range(depth):
        if root.parent_id is None or root.parent_id in seen:
            break
        parent = Customer.objects.filter(pk=root.parent_id).first()
        if parent is None:
            break
        seen.add(parent.pk)
        root = parent
    base = Customer.objects.filter(merged_into__isnull=True)
    visible = customer_base(user=user) if user is not None else base
    children: dict[int, list[Customer]] = {}
    level = [root.pk]
    for _i in range(depth):
        # Filter merged rows in Python: with "merged_into IS NULL" in SQL, SQLite prefers the
        # partial name index over parent_id's and scans the whole table.
        rows = [
            r
            for r in Customer.objects.filter(parent_id__in=level)
            .only("pk", "legal_name", "short_name", "parent_id", "merged_into_id")
            .order_by()
            if r.merged_into_id is None
        ]
        if not rows:
            break
        for row in rows:
            children.setdefault(row.parent_id, []).append(row)
        level = [r.pk for r in rows]
    all_ids = {c.pk for rows in children.values() for c in rows} | {root.pk}
    visible_ids = set(visible.filter(pk__in=all_ids).values_list("pk", flat=True))
    tree: list[tuple[Customer, int, bool]] = []

    def walk(node: Customer, d: int) -> None:
        tree.append((node, d, node.pk in visible_ids))
        for child in sorted(children.get(node.pk, []), key=lambda c: c.legal_name):
            walk(child, d + 1)

    walk(root, 0)
    return {"root": root, "tree": tree, "is_group": len(tree) > 1}


def contact_list(*, user: Any, customer: Customer) -> QuerySet[Contact]:
    return Contact.objects.filter(
        customer=customer, customer__in=customer_base(user=user).filter(pk=customer.pk)
    )


def contact_get(*, user: Any, customer: Customer, pk: Any, action: str = "view") -> Contact:
    from steelyard.customers.services.customers import can_change

    contact = Contact.objects.filter(customer=customer, pk=pk).select_related("customer").first()
    if contact is None or (action != "view" and not can_change(user, customer)):
        raise Http404("No such contact.")
    return contact


def ownership_history(*, user: Any, customer: Customer, limit: int = 50) -> list[OwnershipEvent]:
    """The ownership events of a customer the user may see (the caller already scoped ``customer``)."""
    if not customer_base(user=user).filter(pk=customer.pk).exists():
        return []
    return list(
        OwnershipEvent.objects.filter(customer=customer)
        .select_related("from_owner", "to_owner", "actor")
        .order_by("-at", "-id")[:limit]
    )


def saved_views(*, user: Any, list_key: str = LIST_KEY) -> QuerySet[SavedView]:
    """The user's own views of a list and everyone's shared ones."""
    return (
        SavedView.objects.filter(list_key=list_key)
        .filter(Q(owner=user) | Q(is_shared=True))
        .select_related("owner")
        .order_by("name", "pk")
    )
