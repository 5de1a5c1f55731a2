"""Test helpers for the customers module: quick rows for fixtures (tests of services use the services)."""

from __future__ import annotations

import itertools
from typing import Any

from steelyard.customers.models import Customer, Pool
from steelyard.customers.normalize import name_key, pinyin_of
from steelyard.customers.validators import credit_code_check_char

_seq = itertools.count(1)


def valid_credit_code(n: int | None = None) -> str:
    """A valid, unique-per-call unified social credit code: '91310000' + 9 digits + check char."""
    body = f"91310000{(n if n is not None else next(_seq)):09d}"
    return body + credit_code_check_char(body)


def make_pool(unit: Any, *, members: list = (), admins: list = (), **kw: Any) -> Pool:
    pool = Pool.objects.create(name=kw.pop("name", f"{unit.name} pool"), org_unit=unit, **kw)
    pool.members.set(members)
    pool.admins.set(admins)
    return pool


def make_customer(
    owner: Any = None, *, name: str | None = None, pool: Pool | None = None, **kw: Any
) -> Customer:
    name = name or f"测试客户{next(_seq)}有限公司"
    full, initials = pinyin_of(name)
    unit = kw.pop("org_unit", owner.org_unit if owner is not None else (pool.org_unit if pool else None))
    return Customer.objects.create(
        legal_name=name,
        name_key=name_key(name),
        pinyin=full,
        pinyin_initials=initials,
        owner=owner,
        org_unit=unit,
        pool=pool,
        **kw,
    )
