"""Writing customers and contacts: create (with duplicate detection and routing), update, merge.

Every write is audited. Owner changes do not happen here: they go through the territories and
pool services (assign, reassign, claim, release). A merge moves everything that hangs off the
merged customer to the kept one, so its history survives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.events import publish
from steelyard.core.models import Attachment, Comment
from steelyard.core.request_context import request_memo
from steelyard.core.scopes import CHANGE
from steelyard.core.services.audit import audit_create, audit_delete, audit_record, audit_update, snapshot
from steelyard.customers.models import (
    Activity,
    Contact,
    Customer,
    OwnershipAction,
    OwnershipEvent,
    SavedView,
    Tag,
)
from steelyard.customers.normalize import name_key, phone_key, pinyin_of
from steelyard.customers.validators import normalize_credit_code, validate_credit_code
from steelyard.org.roles import MANAGERS

ERR_DUPLICATE = _("This customer may already exist: %(names)s. Check them, or create it anyway.")
ERR_NOT_ALLOWED = _("You may not change this customer.")
ERR_MERGE_SELF = _("A customer cannot be merged into itself.")
ERR_MERGE_MERGED = _("This customer has already been merged.")
ERR_MERGE_ROLE = _("Only administrators and managers may merge customers.")
ERR_MERGE_REASON = _("Say why these customers are the same.")
ERR_PARENT_LOOP = _("A customer cannot be its own group company.")
ERR_NAME_REQUIRED = _("Enter the customer's legal name.")
ERR_CONTACT_NAME = _("Enter the contact's name.")
ERR_VIEW_NAME = _("Give the view a name.")
ERR_VIEW_EXISTS = _("You already have a view with this name.")

AUDIT_VERB_MERGED = "customers.merged"
AUDIT_VERB_MERGED_INTO = "customers.merged_into"

#: Fields a form or the API may set directly; owner/pool/clock fields are owned by other services.
EDITABLE_FIELDS = (
    "legal_name",
    "short_name",
    "credit_code",
    "industry",
    "province",
    "city",
    "address",
    "size",
    "parent",
    "status",
    "source",
    "is_key_account",
    "tier",
    "first_order_date",
    "visit_every_days",
)
#: Fields a merge copies from the merged customer when the kept one leaves them empty.
_FILL_FIELDS = tuple(f for f in EDITABLE_FIELDS if f not in ("legal_name", "status", "is_key_account"))
_CLOCK_EVENTS = ("last_visit_at", "last_followup_at", "last_opportunity_at", "last_deal_at")


def can_change(user: Any, customer: Customer) -> bool:
    """Owner, a manager whose scope covers it, a pool admin for pool customers, administrators.

    Remembered on the instance per user and for the request, so one page asks the database once.
    """
    cache: dict[int, bool] = customer.__dict__.setdefault("_can_change_cache", {})
    key = getattr(user, "pk", None) or 0
    if key not in cache:
        cache[key] = request_memo(
            ("customers.can_change", key, customer.pk),
            lambda: Customer.objects.visible_to(user, CHANGE).filter(pk=customer.pk).exists(),
        )
    return cache[key]


def can_merge(user: Any) -> bool:
    return user_has_role(user, ADMINISTRATOR, *MANAGERS)


def _require_change(actor: Any, customer: Customer) -> None:
    if not can_change(actor, customer):
        raise PermissionDenied(str(ERR_NOT_ALLOWED))


def _set_keys(customer: Customer) -> None:
    customer.legal_name = (customer.legal_name or "").strip()
    customer.short_name = (customer.short_name or "").strip()
    customer.name_key = name_key(customer.legal_name)
    customer.pinyin, customer.pinyin_initials = pinyin_of(customer.legal_name)
    if customer.short_name:
        # The short name is what reps type: its initials are searched too.
        _full, short_initials = pinyin_of(customer.short_name)
        if short_initials and short_initials not in customer.pinyin_initials:
            customer.pinyin_initials = f"{customer.pinyin_initials} {short_initials}"[:80]


def _clean_credit_code(value: str) -> str:
    code = normalize_credit_code(value)
    if code:
        try:
            validate_credit_code(code)
        except ValidationError as e:
            raise ValidationError({"credit_code": e.messages})
    return code


def _check_parent(customer: Customer) -> None:
    parent = customer.parent
    seen = 0
    while parent is not None and seen < 20:
        if customer.pk and parent.pk == customer.pk:
            raise ValidationError({"parent": str(ERR_PARENT_LOOP)})
        parent = parent.parent
        seen += 1


def duplicate_error(duplicates: Iterable[Customer]) -> ValidationError:
    dups = list(duplicates)
    names = ", ".join(f"{c.legal_name} (#{c.pk})" for c in dups)
    return ValidationError(ERR_DUPLICATE, code="duplicate", params={"names": names})


EVENT_CUSTOMER_CREATED = "customer.created"


def customer_event_payload(customer: Customer) -> dict[str, Any]:
    """What the ``customer.created`` event tells subscribers (outbound webhooks, e.g. the ERP)."""
    owner = customer.owner if customer.owner_id else None
    return {
        "id": customer.pk,
        "name": customer.legal_name,
        "short_name": customer.short_name,
        "credit_code": customer.credit_code,
        "owner": {"id": owner.pk, "username": owner.username, "name": str(owner)} if owner else None,
    }


@transaction.atomic
def customer_create(
    *,
    actor: Any,
    owner: Any = None,
    assign: bool = True,
    allow_duplicate: bool = False,
    contacts: Iterable[dict[str, Any]] = (),
    tags: Iterable[Tag] = (),
    **fields: Any,
) -> Customer:
    """Create a customer (and its first contacts), route it to an owner and start its pool clock.

    Raises ``ValidationError`` listing possible duplicates (same credit code, normalised name or a
    contact's phone) unless ``allow_duplicate``. Without an ``owner`` and with ``assign`` the
    territory rules pick one; when none is found the customer waits in its pool.
    """
    from steelyard.customers.selectors.customers import customer_duplicates
    from steelyard.customers.services.pool import customer_clock_recompute, pool_for_unit

    unknown = set(fields) - set(EDITABLE_FIELDS) - {"org_unit", "territory"}
    if unknown:
        raise TypeError(f"customer_create got unknown fields: {sorted(unknown)}")
    contacts = [dict(c) for c in contacts]
    customer = Customer(**fields)
    _set_keys(customer)
    if not customer.legal_name:
        raise ValidationError({"legal_name": str(ERR_NAME_REQUIRED)})
    customer.credit_code = _clean_credit_code(customer.credit_code)
    _check_parent(customer)
    if not allow_duplicate:
        dups = customer_duplicates(
            legal_name=customer.legal_name,
            credit_code=customer.credit_code,
            phones=[c.get("phone", "") for c in contacts],
        )
        if dups:
            raise duplicate_error(dups)
    elif (
        customer.credit_code
        and Customer.objects.filter(credit_code=customer.credit_code, merged_into__isnull=True).exists()
    ):
        # The credit code is unique among live customers: a duplicate by code can never be forced.
        raise duplicate_error(
            Customer.objects.filter(credit_code=customer.credit_code, merged_into__isnull=True)
        )
    now = timezone.now()
    customer.created_by = actor if getattr(actor, "pk", None) else None
    if owner is not None:
        customer.owner = owner
        customer.org_unit_id = owner.org_unit_id
        customer.owned_since = now
    unit = owner.org_unit if owner is not None else (customer.org_unit or getattr(actor, "org_unit", None))
    if customer.org_unit_id is None and owner is None and unit is not None:
        customer.org_unit = unit
    customer.pool = pool_for_unit(unit)
    customer.save()
    if tags:
        customer.tags.set(tags)
    OwnershipEvent.objects.create(
        customer=customer,
        action=OwnershipAction.CREATE,
        to_owner=owner,
        actor=customer.created_by,
    )
    audit_create(actor=actor, obj=customer)
    for data in contacts:
        _contact_create(actor=actor, customer=customer, **data)
    if owner is None and assign:
        from steelyard.customers.services.territories import customer_assign_auto

        customer_assign_auto(actor=actor, customer=customer)
    customer_clock_recompute(customer)
    publish(EVENT_CUSTOMER_CREATED, payload=customer_event_payload(customer), subject=customer, actor=actor)
    return customer


@transaction.atomic
def customer_update(
    *, actor: Any, customer: Customer, tags: Iterable[Tag] | None = None, **fields: Any
) -> Customer:
    """Change a customer's profile fields (not its owner); the diff is audited."""
    _require_change(actor, customer)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"customer_update got unknown fields: {sorted(unknown)}")
    before = snapshot(customer)
    for name, value in fields.items():
        setattr(customer, name, value)
    _set_keys(customer)
    if not customer.legal_name:
        raise ValidationError({"legal_name": str(ERR_NAME_REQUIRED)})
    customer.credit_code = _clean_credit_code(customer.credit_code)
    if (
        customer.credit_code
        and Customer.objects.filter(credit_code=customer.credit_code, merged_into__isnull=True)
        .exclude(pk=customer.pk)
        .exists()
    ):
        raise duplicate_error(
            Customer.objects.filter(credit_code=customer.credit_code, merged_into__isnull=True).exclude(
                pk=customer.pk
            )
        )
    _check_parent(customer)
    customer.save()
    audit_update(actor=actor, obj=customer, before=before)
    if tags is not None:
        old = sorted(customer.tags.values_list("name", flat=True))
        customer.tags.set(tags)
        new = sorted(t.name for t in tags)
        if old != new:
            audit_record(actor=actor, action="update", obj=customer, changes={"tags": [old, new]})
    if "tier" in fields:
        from steelyard.customers.services.pool import customer_clock_recompute

        customer_clock_recompute(customer)
    return customer


def _move_generic(model: Any, keep: Customer, merge: Customer) -> int:
    ct = ContentType.objects.get_for_model(Customer)
    return model.objects.filter(content_type=ct, object_id=str(merge.pk)).update(object_id=str(keep.pk))


@transaction.atomic
def customer_merge(*, actor: Any, keep: Customer, merge: Customer, reason: str) -> Customer:
    """Merge the duplicate ``merge`` into ``keep``, keeping all history.

    Contacts, activities, ownership events, comments, attachments and subsidiaries move to
    ``keep``; ``keep``'s empty fields are filled from ``merge``; ``merge`` is marked as merged
    (it leaves lists and search, and its page redirects to ``keep``).
    """
    if not can_merge(actor):
        raise PermissionDenied(str(ERR_MERGE_ROLE))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": str(ERR_MERGE_REASON)})
    if keep.pk == merge.pk:
        raise ValidationError(str(ERR_MERGE_SELF))
    # Lock both rows (in id order) so two merges cannot interleave.
    locked = {
        c.pk: c
        for c in Customer.objects.select_for_update().filter(pk__in=[keep.pk, merge.pk]).order_by("pk")
    }
    keep, merge = locked[keep.pk], locked[merge.pk]
    if keep.merged_into_id or merge.merged_into_id:
        raise ValidationError(str(ERR_MERGE_MERGED))
    _require_change(actor, keep)
    _require_change(actor, merge)
    before_keep, before_merge = snapshot(keep), snapshot(merge)

    moved = {
        "contacts": Contact.objects.filter(customer=merge).update(customer=keep),
        "activities": Activity.objects.filter(customer=merge).update(customer=keep),
        "ownership_events": OwnershipEvent.objects.filter(customer=merge).update(customer=keep),
        "comments": _move_generic(Comment, keep, merge),
        "attachments": _move_generic(Attachment, keep, merge),
        "subsidiaries": Customer.objects.filter(parent=merge).exclude(pk=keep.pk).update(parent=keep),
        "merged_before": Customer.objects.filter(merged_into=merge).update(merged_into=keep),
    }
    keep.tags.add(*merge.tags.all())

    # Retire the merged row first: the credit code is unique among unmerged customers only.
    merge.merged_into = keep
    merge.recycle_at = None
    if merge.parent_id == keep.pk:
        merge.parent = None
    merge.save()

    for name in _FILL_FIELDS:
        if name == "parent":
            if keep.parent_id is None and merge.parent_id and merge.parent_id != keep.pk:
                keep.parent_id = merge.parent_id
            continue
        if getattr(keep, name) in ("", None) and getattr(merge, name) not in ("", None):
            setattr(keep, name, getattr(merge, name))
    keep.is_key_account = keep.is_key_account or merge.is_key_account
    for name in _CLOCK_EVENTS:
        a, b = getattr(keep, name), getattr(merge, name)
        if b is not None and (a is None or b > a):
            setattr(keep, name, b)
    keep.has_open_opportunity = keep.has_open_opportunity or merge.has_open_opportunity
    _set_keys(keep)
    keep.save()

    actor_row = actor if getattr(actor, "pk", None) else None
    OwnershipEvent.objects.create(
        customer=keep,
        action=OwnershipAction.MERGE,
        from_owner_id=merge.owner_id,
        to_owner_id=keep.owner_id,
        actor=actor_row,
        reason=reason,
        rule=f"merged:{merge.pk}",
    )
    audit_update(actor=actor, obj=keep, before=before_keep, verb=AUDIT_VERB_MERGED)
    audit_record(
        actor=actor,
        action="update",
        obj=keep,
        verb=AUDIT_VERB_MERGED,
        extra={"merged": merge.pk, "moved": moved, "reason": reason},
    )
    audit_update(actor=actor, obj=merge, before=before_merge, verb=AUDIT_VERB_MERGED_INTO)
    from steelyard.customers.services.pool import customer_clock_recompute

    customer_clock_recompute(keep)
    return keep


# --- contacts ------------------------------------------------------------------------------

CONTACT_FIELDS = (
    "name",
    "title",
    "phone",
    "email",
    "wechat_id",
    "decision_role",
    "is_primary",
    "notes",
    "is_active",
)


def _contact_clean(contact: Contact) -> None:
    contact.name = (contact.name or "").strip()
    if not contact.name:
        raise ValidationError({"name": str(ERR_CONTACT_NAME)})
    contact.phone = (contact.phone or "").strip()
    contact.phone_key = phone_key(contact.phone)


def _contact_create(*, actor: Any, customer: Customer, **fields: Any) -> Contact:
    contact = Contact(customer=customer, **{k: v for k, v in fields.items() if k in CONTACT_FIELDS})
    _contact_clean(contact)
    contact.save()
    audit_create(actor=actor, obj=contact)
    return contact


@transaction.atomic
def contact_create(*, actor: Any, customer: Customer, **fields: Any) -> Contact:
    """Add a contact to a customer the actor may change."""
    _require_change(actor, customer)
    return _contact_create(actor=actor, customer=customer, **fields)


@transaction.atomic
def contact_update(*, actor: Any, contact: Contact, **fields: Any) -> Contact:
    _require_change(actor, contact.customer)
    before = snapshot(contact)
    for name, value in fields.items():
        if name in CONTACT_FIELDS:
            setattr(contact, name, value)
    _contact_clean(contact)
    contact.save()
    audit_update(actor=actor, obj=contact, before=before)
    return contact


@transaction.atomic
def contact_delete(*, actor: Any, contact: Contact) -> None:
    _require_change(actor, contact.customer)
    audit_delete(actor=actor, obj=contact)
    contact.delete()


# --- saved views ---------------------------------------------------------------------------


@transaction.atomic
def saved_view_create(
    *, actor: Any, list_key: str, name: str, query: str, is_shared: bool = False
) -> SavedView:
    """Keep the current filters of a list under a name (shared views are listed for everyone)."""
    name = (name or "").strip()[:60]
    if not name:
        raise ValidationError({"name": str(ERR_VIEW_NAME)})
    if SavedView.objects.filter(owner=actor, list_key=list_key, name=name).exists():
        raise ValidationError({"name": str(ERR_VIEW_EXISTS)})
    # Never keep a page number: a view is a set of filters.
    from django.http import QueryDict

    params = QueryDict(query or "", mutable=True)
    params.pop("page", None)
    view = SavedView.objects.create(
        owner=actor, list_key=list_key, name=name, query=params.urlencode()[:1000], is_shared=is_shared
    )
    audit_create(actor=actor, obj=view)
    return view


@transaction.atomic
def saved_view_delete(*, actor: Any, view: SavedView) -> None:
    if view.owner_id != actor.pk:
        raise PermissionDenied(str(ERR_NOT_ALLOWED))
    audit_delete(actor=actor, obj=view)
    view.delete()
