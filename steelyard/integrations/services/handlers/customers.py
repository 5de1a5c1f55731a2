"""Inbound handler for customers: created and changed through the customers service layer.

A new customer goes through ``customer_create`` (normalised name key and pinyin, credit-code
validation, territory routing, the pool clock, ``customer.created``); a changed one through
``customer_update`` (audited diff). A record whose credit code matches a live customer we already
have (entered in the CRM, say) is LINKED to it: the key map points at that customer and only the
fields it leaves empty are filled in. ``owner`` (a username) is used only when creating; owner
changes belong to the territories and pool services.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from steelyard.core.api.errors import django_validation_fields
from steelyard.customers.models import Customer, CustomerSource
from steelyard.integrations.models import Outcome
from steelyard.integrations.services.handlers.base import Context, Handler, Item, load_by_key
from steelyard.org.models import User

ERR_UNKNOWN_OWNER = _("Unknown owner “%(value)s”: no active person has this username.")
ERR_NOT_ALLOWED = _("This system may not change this customer.")

#: Record fields copied onto the customer.
PROFILE_FIELDS = (
    "legal_name",
    "short_name",
    "credit_code",
    "industry",
    "province",
    "city",
    "address",
    "size",
    "status",
    "is_key_account",
)
#: Filled in on a linked customer only where it is empty (booleans and status are the CRM's).
FILL_FIELDS = ("short_name", "credit_code", "industry", "province", "city", "address", "size")


class CustomerHandler(Handler):
    entity = "customer"
    model = Customer
    key_field = "credit_code"

    def key_of(self, item: Item) -> Any:
        return item.rec.credit_code or None

    def resolve(self, items: list[Item], ctx: Context) -> None:
        names = {i.rec.owner for i in items if i.rec.owner}
        if not names:
            return
        users = {
            u.username: u
            for u in User.objects.filter(username__in=names, is_active=True, is_machine=False).select_related(
                "org_unit"
            )
        }
        for item in items:
            if item.rec.owner:
                user = users.get(item.rec.owner)
                if user is None:
                    item.reject("owner", ERR_UNKNOWN_OWNER % {"value": item.rec.owner})
                else:
                    item.refs["owner"] = user

    def load_locals(self, items: list[Item], ctx: Context) -> None:
        load_by_key(
            ctx,
            self.entity,
            Customer,
            items,
            key_field="credit_code",
            key_of=self.key_of,
            key_filter={"merged_into_id": None},
            follow=_follow_merges,
        )

    def write(self, items: list[Item], ctx: Context) -> None:
        from steelyard.customers.services.customers import customer_create, customer_update

        for item in items:
            given = item.rec.model_dump(include=set(PROFILE_FIELDS), exclude_none=True)
            try:
                with transaction.atomic():
                    if item.local is None:
                        owner = item.refs.get("owner")
                        item.local = customer_create(
                            actor=ctx.actor,
                            owner=owner,
                            assign=owner is None,
                            allow_duplicate=True,
                            source=CustomerSource.ERP,
                            **given,
                        )
                        item.outcome = Outcome.CREATED
                    else:
                        customer = item.local
                        if item.linked:
                            changes = {
                                k: v
                                for k, v in given.items()
                                if k in FILL_FIELDS and getattr(customer, k) in ("", None)
                            }
                        else:
                            changes = {k: v for k, v in given.items() if getattr(customer, k) != v}
                        if changes:
                            customer_update(actor=ctx.actor, customer=customer, **changes)
                        item.outcome = Outcome.UPDATED
            except ValidationError as exc:
                message, fields = django_validation_fields(exc)
                item.local = None
                if fields:
                    for f in fields:
                        item.reject(f["field"], f["message"])
                else:
                    item.reject("", message)
                continue
            except PermissionDenied:
                item.reject("", ERR_NOT_ALLOWED)
                continue
            item.object_id = item.local.pk


def _follow_merges(rows: dict[int, Customer]) -> dict[int, Customer]:
    """Each customer, or the customer it was (transitively) merged into."""
    known = dict(rows)
    for _hop in range(5):
        missing = {c.merged_into_id for c in known.values() if c.merged_into_id} - set(known)
        if not missing:
            break
        known.update({c.pk: c for c in Customer.objects.filter(pk__in=missing)})
    result = {}
    for pk, customer in rows.items():
        for _hop in range(6):
            if not customer.merged_into_id or customer.merged_into_id not in known:
                break
            customer = known[customer.merged_into_id]
        result[pk] = customer
    return result
