"""In a browser, on a phone: finance uploads an order file, matches the columns, checks it, runs it,
and downloads the error report — with no CSP violation or console error on the way."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from steelyard.core.testing.personas import PASSWORD
from steelyard.core.tests.browser.conftest import (  # noqa: F401  (fixtures used by name)
    PHONE,
    _browser_settings,
    browser_type_launch_args,
    open_page,
    screenshot,
    sign_in,
)
from steelyard.integrations.models import FileImport
from steelyard.integrations.tests.imports_support import (
    CUSTOMER_HEADER,
    ORDER_HEADER,
    csv_bytes,
    customer_rows,
    give_role,
    order_rows,
    run,
    upload,
)
from steelyard.orders.models import SalesOrder
from steelyard.orders.testing import make_product, make_system

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_finance_imports_orders_on_a_phone(open_page: Any, personas: Any, screenshot: Any) -> None:  # noqa: F811
    alice = give_role(personas.alice)
    erp = make_system("erp")[0]
    run(alice, upload(alice, erp, "customer", csv_bytes(CUSTOMER_HEADER, customer_rows(2)), "c.csv"))
    make_product("P1")
    rows = order_rows({"B-1": [("P1", 1, "100"), ("P1", 2, "50")], "B-2": [("NOPE", 1, "1")]})
    header = ["订单编号", "版本", "客户", "下单日期", "币种", "行号", "产品", "数量", "单价"]

    page, watch = open_page(PHONE)
    page.goto("/accounts/login/?next=/integrations/imports/new/")
    sign_in(page, "alice", PASSWORD)
    expect(page).to_have_url(re.compile(r"/integrations/imports/new/$"))
    page.select_option("#id_system", str(erp.pk))
    page.select_option("#id_entity", "order")
    page.set_input_files(
        "#id_file", {"name": "订单.csv", "mimeType": "text/csv", "buffer": csv_bytes(header, rows)}
    )
    page.click("[data-upload-form] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/integrations/imports/\d+/mapping/$"))
    for field, column in zip(ORDER_HEADER, header, strict=True):
        page.select_option(f"#id_f_{field}", column)
    page.fill("#id_save_as", "ERP 订单导出")
    screenshot(page, "imports-mapping-phone")
    page.click("[data-mapping-form] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/integrations/imports/\d+/$"))
    expect(page.locator("[data-would='created']")).to_have_text("1")
    expect(page.locator("[data-would='rejected']")).to_have_text("1")
    expect(page.locator("[data-problems] [data-row='4']")).to_contain_text("NOPE")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-run]")
    expect(page.locator("[data-count='created']")).to_have_text("1")
    expect(page.locator("[data-count='rejected']")).to_have_text("1")
    screenshot(page, "imports-done-phone")
    with page.expect_download() as download:
        page.click("[data-error-report]")
    assert download.value.suggested_filename.endswith("-errors.csv")
    assert list(SalesOrder.objects.values_list("number", flat=True)) == ["B-1"]
    assert FileImport.objects.get(entity="order").template.name == "ERP 订单导出"
    assert watch.problems == []
