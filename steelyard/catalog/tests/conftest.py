from __future__ import annotations

import pytest

from steelyard.catalog.models import ProductKind
from steelyard.orders.testing import make_product, make_product_line
from steelyard.org.models import Role, User


@pytest.fixture
def planner(personas) -> User:
    user = User.objects.create(username="pat", display_name="Pat", org_unit=personas.group)
    user.roles.set([Role.objects.get(code="production_planner")])
    return user


@pytest.fixture
def catalog(db):
    """Two lines; a crane with an option, a spare part and a service; an engine; a retired product."""
    crane = make_product_line("CRANE", name="起重机", name_en="Cranes", sort_order=10)
    engine = make_product_line("ENGINE", name="发动机", name_en="Engines", sort_order=20)
    qy50 = make_product("QY50K", line=crane, name="QY50K 汽车起重机", price="1850000")
    tc = make_product("TC7052", line=crane, name="TC7052 塔式起重机", price="1260000")
    jib = make_product("QY50K-OPT-JIB", line=crane, name="副臂 9.5m", kind=ProductKind.OPTION, price="86000")
    jib.fits.set([qy50])
    pump = make_product(
        "SP-60210", line=crane, name="液压主泵", kind=ProductKind.SPARE_PART, price="23800", unit="件"
    )
    pump.fits.set([qy50, tc])
    svc = make_product(
        "SV-CRANE-PM", line=crane, name="年度保养套餐", kind=ProductKind.SERVICE, price="18000"
    )
    svc.fits.set([qy50])
    wp = make_product("WP12", line=engine, name="WP12 柴油发动机", price="98000")
    old = make_product("QY25-OLD", line=crane, name="QY25 老款", price="900000", is_active=False)
    return {
        "crane": crane,
        "engine": engine,
        "qy50": qy50,
        "tc": tc,
        "jib": jib,
        "pump": pump,
        "svc": svc,
        "wp": wp,
        "old": old,
    }
