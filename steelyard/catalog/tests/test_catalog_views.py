"""Catalogue pages: everyone signed in reads; administrators and planners edit; others get 403."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from steelyard.catalog.models import Product, ProductKind, ProductLine
from steelyard.core.models import AuditLog

pytestmark = pytest.mark.django_db


def _codes(response) -> set[str]:
    assert response.status_code == 200
    return {p.code for p in response.context["page"].object_list}


def test_everyone_signed_in_reads_the_whole_catalogue(personas, client_for, catalog):
    # The catalogue is not customer data: the rep, the manager and the outsider see the same list.
    expected = {"QY50K", "TC7052", "QY50K-OPT-JIB", "SP-60210", "SV-CRANE-PM", "WP12"}
    for user in (personas.alice, personas.bob, personas.charlie, personas.admin):
        c = client_for(user)
        assert _codes(c.get(reverse("catalog_product_list"))) == expected, user
        assert c.get(reverse("catalog_product_detail", args=[catalog["qy50"].pk])).status_code == 200
        assert c.get(reverse("catalog_line_list")).status_code == 200
        assert c.get(reverse("catalog_line_detail", args=[catalog["crane"].pk])).status_code == 200


def test_anonymous_visitors_are_sent_to_sign_in(catalog):
    r = Client().get(reverse("catalog_product_list"))
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_it_filters_searches_and_sorts_products(personas, client_for, catalog):
    c = client_for(personas.alice)
    url = reverse("catalog_product_list")
    assert _codes(c.get(url, {"q": "qy50"})) == {"QY50K", "QY50K-OPT-JIB"}
    assert _codes(c.get(url, {"q": "塔式"})) == {"TC7052"}
    assert _codes(c.get(url, {"kind": "spare_part"})) == {"SP-60210"}
    assert _codes(c.get(url, {"line": catalog["engine"].pk})) == {"WP12"}
    assert _codes(c.get(url, {"active": "inactive"})) == {"QY25-OLD"}
    assert "QY25-OLD" in _codes(c.get(url, {"active": "all"}))
    by_price = [p.code for p in c.get(url, {"sort": "-price"}).context["page"].object_list]
    assert by_price[:2] == ["QY50K", "TC7052"]
    # Bad values are ignored field by field, never a 500.
    assert c.get(url, {"kind": "robot", "line": "x", "sort": "bogus", "page": "zz"}).status_code == 200


def test_it_paginates_the_product_list(personas, client_for, catalog):
    for i in range(30):
        Product.objects.create(code=f"BULK-{i:02d}", name="批量", product_line=catalog["crane"])
    r = client_for(personas.alice).get(reverse("catalog_product_list"), {"q": "BULK"})
    assert len(r.context["page"].object_list) == 25 and r.context["page"].has_next
    r2 = client_for(personas.alice).get(reverse("catalog_product_list"), {"q": "BULK", "page": 2})
    assert len(r2.context["page"].object_list) == 5


def test_the_list_stays_within_a_few_queries(personas, client_for, catalog, django_assert_max_num_queries):
    for i in range(40):
        Product.objects.create(code=f"Q-{i:02d}", name="批量", product_line=catalog["engine"])
    c = client_for(personas.alice)
    c.get(reverse("catalog_product_list"))
    with django_assert_max_num_queries(12):
        assert c.get(reverse("catalog_product_list")).status_code == 200
    with django_assert_max_num_queries(12):
        assert c.get(reverse("catalog_line_list")).status_code == 200


def test_a_machine_page_shows_its_price_options_parts_and_services(personas, client_for, catalog):
    r = client_for(personas.charlie).get(reverse("catalog_product_detail", args=[catalog["qy50"].pk]))
    html = r.content.decode()
    assert "1,850,000.00" in html
    assert [p.code for p in r.context["options"]] == ["QY50K-OPT-JIB"]
    assert [p.code for p in r.context["spare_parts"]] == ["SP-60210"]
    assert [p.code for p in r.context["services"]] == ["SV-CRANE-PM"]
    assert 'data-product="SP-60210"' in html
    # A rep gets no edit buttons.
    assert reverse("catalog_product_edit", args=[catalog["qy50"].pk]) not in html


def test_a_part_page_lists_the_machines_it_fits(personas, client_for, catalog):
    r = client_for(personas.alice).get(reverse("catalog_product_detail", args=[catalog["pump"].pk]))
    assert [p.code for p in r.context["machines"]] == ["QY50K", "TC7052"]


def test_the_line_list_counts_products_in_sql(personas, client_for, catalog):
    r = client_for(personas.alice).get(reverse("catalog_line_list"))
    rows = {line.code: line for line in r.context["page"].object_list}
    assert rows["CRANE"].product_count == 6 and rows["CRANE"].active_count == 5
    assert rows["CRANE"].machine_count == 2 and rows["ENGINE"].product_count == 1
    detail = client_for(personas.alice).get(reverse("catalog_line_detail", args=[catalog["crane"].pk]))
    counts = {kind: n for _label, n, kind in detail.context["kind_counts"]}
    assert counts == {"machine": 2, "option": 1, "spare_part": 1, "service": 1}


def test_unknown_records_are_404(personas, client_for, catalog):
    c = client_for(personas.alice)
    assert c.get(reverse("catalog_product_detail", args=[99999])).status_code == 404
    assert c.get(reverse("catalog_line_detail", args=[99999])).status_code == 404


EDIT_PAGES = [
    ("catalog_product_create", None),
    ("catalog_product_edit", "qy50"),
    ("catalog_line_create", None),
    ("catalog_line_edit", "crane"),
]


@pytest.mark.parametrize(("name", "key"), EDIT_PAGES)
def test_reps_managers_and_outsiders_get_403_on_edit_pages(personas, client_for, catalog, name, key):
    url = reverse(name, args=[catalog[key].pk] if key else [])
    for user in (personas.alice, personas.bob, personas.charlie):
        assert client_for(user).get(url).status_code == 403
        assert client_for(user).post(url, {"code": "HACK", "name": "x"}).status_code == 403
    assert client_for(personas.admin).get(url).status_code == 200


def test_reps_cannot_deactivate(personas, client_for, catalog):
    url = reverse("catalog_product_deactivate", args=[catalog["qy50"].pk])
    assert client_for(personas.alice).post(url).status_code == 403
    assert Product.objects.get(pk=catalog["qy50"].pk).is_active


def _product_form(catalog, **over):
    data = {
        "code": "QY80",
        "name": "QY80 汽车起重机",
        "name_en": "QY80 truck crane",
        "product_line": catalog["crane"].pk,
        "kind": ProductKind.MACHINE,
        "list_price": "2980000",
        "currency": "CNY",
        "unit": "台",
        "description": "",
    }
    data.update(over)
    return data


def test_an_admin_creates_and_edits_a_product(personas, client_for, catalog):
    c = client_for(personas.admin)
    r = c.post(reverse("catalog_product_create"), _product_form(catalog))
    product = Product.objects.get(code="QY80")
    assert r.status_code == 302 and r["Location"] == reverse("catalog_product_detail", args=[product.pk])
    r = c.post(
        reverse("catalog_product_create"),
        _product_form(catalog, code="QY80-OPT-WIN", kind="option", list_price="52000", fits=[product.pk]),
    )
    assert r.status_code == 302
    option = Product.objects.get(code="QY80-OPT-WIN")
    assert list(option.fits.all()) == [product]
    r = c.post(
        reverse("catalog_product_edit", args=[option.pk]),
        _product_form(
            catalog,
            code="QY80-OPT-WIN",
            kind="option",
            list_price="55000",
            fits=[product.pk, catalog["tc"].pk],
        ),
    )
    assert r.status_code == 302
    option.refresh_from_db()
    assert option.list_price == Decimal("55000.00") and option.fits.count() == 2
    assert AuditLog.objects.filter(object_id=str(option.pk), action="update").exists()


def test_a_planner_deactivates_and_reactivates_a_product(personas, planner, client_for, catalog):
    c = client_for(planner)
    assert c.get(reverse("catalog_product_deactivate", args=[catalog["tc"].pk])).status_code == 405
    c.post(reverse("catalog_product_deactivate", args=[catalog["tc"].pk]))
    assert not Product.objects.get(pk=catalog["tc"].pk).is_active
    c.post(reverse("catalog_product_activate", args=[catalog["tc"].pk]))
    assert Product.objects.get(pk=catalog["tc"].pk).is_active
    c.post(reverse("catalog_line_deactivate", args=[catalog["engine"].pk]))
    assert not ProductLine.objects.get(pk=catalog["engine"].pk).is_active


def test_the_form_explains_validation_errors(personas, client_for, catalog):
    personas.admin.language = "en"
    personas.admin.save()
    c = client_for(personas.admin)
    r = c.post(reverse("catalog_product_create"), _product_form(catalog, code="qy50k", list_price="-5"))
    assert r.status_code == 200
    assert "list_price" in r.context["form"].errors
    r = c.post(reverse("catalog_product_create"), _product_form(catalog, code="qy50k"))
    assert r.status_code == 200
    assert "Another product already has the code" in r.content.decode()
    r = c.post(
        reverse("catalog_product_create"),
        _product_form(catalog, code="BAD-FIT", kind="option", fits=[catalog["jib"].pk]),
    )
    # Only machines are offered, so a non-machine is an invalid choice.
    assert r.status_code == 200 and "fits" in r.context["form"].errors
    r = c.post(
        reverse("catalog_product_create"),
        _product_form(catalog, code="MACH-FIT", kind="machine", fits=[catalog["tc"].pk]),
    )
    assert r.status_code == 200 and "fits" in r.context["form"].errors
    assert not Product.objects.filter(code__in=["BAD-FIT", "MACH-FIT"]).exists()


def test_the_line_form_edits_settings_as_json(personas, client_for, catalog):
    c = client_for(personas.admin)
    url = reverse("catalog_line_edit", args=[catalog["crane"].pk])
    base = {"code": "CRANE", "name": "起重机", "name_en": "Cranes", "description": "", "sort_order": 10}
    r = c.post(url, {**base, "settings": "{not json"})
    assert r.status_code == 200 and "settings" in r.context["form"].errors
    r = c.post(url, {**base, "settings": '{"sla_hours": 24}'})
    assert r.status_code == 302
    assert ProductLine.objects.get(pk=catalog["crane"].pk).settings == {"sla_hours": 24}
    r = c.post(reverse("catalog_line_create"), {**base, "code": "crane", "settings": ""})
    assert r.status_code == 200 and "code" in r.context["form"].errors


def test_global_search_finds_products_for_anyone(personas, client_for, catalog):
    r = client_for(personas.charlie).get("/search/", {"q": "TC70"})
    assert r.status_code == 200
    assert reverse("catalog_product_detail", args=[catalog["tc"].pk]) in r.content.decode()


def test_the_menu_has_a_catalogue_group(personas, client_for, catalog):
    html = client_for(personas.alice).get(reverse("catalog_product_list")).content.decode()
    assert reverse("catalog_line_list") in html
