"""Catalogue services: who may write, validation (codes, prices, fits), audit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from steelyard.catalog.models import Product, ProductKind, ProductLine
from steelyard.catalog.services import (
    product_create,
    product_deactivate,
    product_line_create,
    product_line_deactivate,
    product_line_update,
    product_set_fits,
    product_update,
)
from steelyard.core.models import AuditLog

pytestmark = pytest.mark.django_db


def _fields(error: pytest.ExceptionInfo) -> set[str]:
    return set(error.value.message_dict)


def test_an_administrator_creates_a_line_and_a_product_and_it_is_audited(personas):
    line = product_line_create(actor=personas.admin, code="RAIL", name="轨道交通", settings={"sla_hours": 48})
    product = product_create(
        actor=personas.admin,
        code=" HXD3-K ",
        name="HXD3 电力机车",
        product_line=line,
        kind=ProductKind.MACHINE,
        list_price="21500000",
        currency="cny",
    )
    assert product.code == "HXD3-K" and product.currency == "CNY"
    assert product.list_price == Decimal("21500000.00")
    assert AuditLog.objects.filter(object_id=str(line.pk), action="create").exists()
    assert AuditLog.objects.filter(object_id=str(product.pk), action="create", actor=personas.admin).exists()


def test_a_planner_may_edit_but_a_rep_or_manager_may_not(personas, planner, catalog):
    product_update(actor=planner, product=catalog["qy50"], list_price=Decimal("1900000"))
    assert Product.objects.get(pk=catalog["qy50"].pk).list_price == Decimal("1900000.00")
    for user in (personas.alice, personas.bob, personas.charlie):
        with pytest.raises(PermissionDenied):
            product_update(actor=user, product=catalog["qy50"], list_price=Decimal("1"))
        with pytest.raises(PermissionDenied):
            product_line_create(actor=user, code="X1", name="X")
    assert Product.objects.get(pk=catalog["qy50"].pk).list_price == Decimal("1900000.00")


def test_codes_are_unique_regardless_of_case(personas, catalog):
    with pytest.raises(ValidationError) as e:
        product_line_create(actor=personas.admin, code="crane", name="重复")
    assert _fields(e) == {"code"}
    with pytest.raises(ValidationError) as e:
        product_create(actor=personas.admin, code="qy50k", name="重复", product_line=catalog["crane"])
    assert _fields(e) == {"code"}
    with pytest.raises(ValidationError) as e:
        product_update(actor=personas.admin, product=catalog["tc"], code="QY50K")
    assert _fields(e) == {"code"}
    with pytest.raises(ValidationError) as e:
        product_line_update(actor=personas.admin, line=catalog["engine"], code="Crane")
    assert _fields(e) == {"code"}


@pytest.mark.parametrize("price", ["-1", "-0.01", "abc", "1e40"])
def test_prices_are_never_negative_or_nonsense(personas, catalog, price):
    with pytest.raises(ValidationError) as e:
        product_create(
            actor=personas.admin, code="NEW-1", name="新品", product_line=catalog["crane"], list_price=price
        )
    assert _fields(e) == {"list_price"}
    assert not Product.objects.filter(code="NEW-1").exists()


def test_it_refuses_bad_codes_names_and_currencies(personas, catalog):
    crane = catalog["crane"]
    for fields, field in (
        ({"code": "", "name": "x"}, "code"),
        ({"code": "has space", "name": "x"}, "code"),
        ({"code": "OK-1", "name": "  "}, "name"),
        ({"code": "OK-1", "name": "x", "currency": "RMB1"}, "currency"),
        ({"code": "OK-1", "name": "x", "kind": "robot"}, "kind"),
    ):
        with pytest.raises(ValidationError) as e:
            product_create(actor=personas.admin, product_line=crane, **fields)
        assert _fields(e) == {field}, fields


def test_options_and_parts_fit_only_machines(personas, catalog):
    # An option cannot fit another option or a spare part.
    with pytest.raises(ValidationError) as e:
        product_set_fits(actor=personas.admin, product=catalog["jib"], machines=[catalog["pump"]])
    assert _fields(e) == {"fits"} and "SP-60210" in e.value.message_dict["fits"][0]
    # A machine fits nothing.
    with pytest.raises(ValidationError) as e:
        product_set_fits(actor=personas.admin, product=catalog["tc"], machines=[catalog["qy50"]])
    assert _fields(e) == {"fits"}
    with pytest.raises(ValidationError):
        product_create(
            actor=personas.admin,
            code="QY70",
            name="QY70",
            product_line=catalog["crane"],
            kind=ProductKind.MACHINE,
            fits=[catalog["qy50"]],
        )
    # A machine that options fit cannot stop being a machine.
    with pytest.raises(ValidationError) as e:
        product_update(actor=personas.admin, product=catalog["qy50"], kind=ProductKind.OPTION)
    assert _fields(e) == {"kind"}
    # A valid change is written and audited.
    product_set_fits(actor=personas.admin, product=catalog["jib"], machines=[catalog["qy50"], catalog["tc"]])
    assert set(catalog["jib"].fits.values_list("code", flat=True)) == {"QY50K", "TC7052"}
    log = AuditLog.objects.get(object_id=str(catalog["jib"].pk), verb="catalog.fits")
    assert log.changes == {"fits": [["QY50K"], ["QY50K", "TC7052"]]}


def test_deactivating_keeps_the_records_and_is_audited(personas, catalog):
    product_deactivate(actor=personas.admin, product=catalog["qy50"])
    product_line_deactivate(actor=personas.admin, line=catalog["engine"])
    assert not Product.objects.get(pk=catalog["qy50"].pk).is_active
    assert not ProductLine.objects.get(pk=catalog["engine"].pk).is_active
    assert AuditLog.objects.filter(verb="catalog.deactivated").count() == 2
    # A product cannot move into a retired line.
    with pytest.raises(ValidationError) as e:
        product_update(actor=personas.admin, product=catalog["tc"], product_line=catalog["engine"])
    assert _fields(e) == {"product_line"}


def test_line_settings_must_be_an_object(personas):
    with pytest.raises(ValidationError) as e:
        product_line_create(actor=personas.admin, code="MARINE", name="船舶", settings=["x"])
    assert _fields(e) == {"settings"}
