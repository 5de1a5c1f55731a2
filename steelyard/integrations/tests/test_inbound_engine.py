"""The inbound engine: idempotency, versions, references, customers, rows, chunks, isolation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from steelyard.catalog.models import Product
from steelyard.core.models import AuditLog
from steelyard.customers.models import Customer, CustomerSource, OwnershipEvent
from steelyard.customers.normalize import name_key
from steelyard.customers.testing import make_customer, valid_credit_code
from steelyard.integrations.models import ExternalRecord, InboundBatch, InboundResult
from steelyard.integrations.services import inbound
from steelyard.integrations.services.handlers.orders import OrderHandler
from steelyard.integrations.services.inbound import (
    ENTITIES,
    batch_apply,
    datetime_version,
    field_catalogue,
    record_schema,
    rows_to_records,
)
from steelyard.integrations.tests.inbound_support import (
    apply,
    business_writes,
    capture_writes,
    full_batches,
    install_event_log,
    row_counts,
)
from steelyard.orders.models import (
    Capacity,
    Invoice,
    OrderLine,
    OrderStatusEvent,
    Payment,
    Plant,
    SalesOrder,
    Shipment,
    ShippedUnit,
    WorkOrder,
)
from steelyard.orders.testing import make_product, make_product_line, make_system


@pytest.fixture
def events(monkeypatch):
    from steelyard.core import events as events_module

    monkeypatch.setattr(events_module, "_subscribers", list(events_module._subscribers))
    return install_event_log()


@pytest.fixture
def erp(personas):
    system, _token = make_system("erp")
    return system


def _order(ext="O1", *, version=1, customer="C1", lines=None, **kw):
    return {
        "external_id": ext,
        "version": version,
        "customer": customer,
        "ordered_on": "2025-03-01",
        "lines": lines or [{"line_no": 1, "product": "QY25K", "quantity": "2", "unit_price": "100.00"}],
        **kw,
    }


def _customers(erp, personas):
    code = valid_credit_code()
    make_customer(personas.alice, name="徐州港务集团有限公司", credit_code=code)
    apply(
        erp,
        "customer",
        [{"external_id": "C1", "version": 1, "legal_name": "徐州港务集团有限公司", "credit_code": code}],
    )
    return code


# --- the contract ---------------------------------------------------------------------------------


def test_entities_schemas_and_catalogue():
    assert ENTITIES == (
        "customer",
        "product_line",
        "product",
        "contract",
        "order",
        "order_status",
        "shipment",
        "invoice",
        "payment",
        "production",
        "capacity",
    )
    for entity in ENTITIES:
        schema = record_schema(entity)
        assert "external_id" in schema.model_fields and "version" in schema.model_fields
        catalogue = field_catalogue(entity)
        names = [f.name for f in catalogue]
        assert len(names) == len(set(names)), entity
        assert all(f.label and f.kind for f in catalogue)
    order_fields = {f.name: f for f in field_catalogue("order")}
    assert order_fields["line_no"].required and order_fields["product"].kind == "ref"
    assert order_fields["line_requested_date"].kind == "date"
    status = order_fields["status"]
    assert status.kind == "choice" and str(dict(status.choices)["shipped"]) == "已发货"
    assert {f.name for f in field_catalogue("shipment")} >= {"line_no", "quantity", "serial_numbers"}


# --- replay changes nothing -------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_entity_lands_and_replaying_it_writes_nothing(erp, events):
    code = valid_credit_code()
    batches = full_batches(code)
    for entity, records in batches:
        outcome = apply(erp, entity, records)
        assert outcome.counts["rejected"] == 0, (entity, outcome.results)
        assert outcome.counts["created"] == len(records), (entity, outcome.results)
    assert SalesOrder.objects.count() == 2 and OrderLine.objects.count() == 3
    assert Shipment.objects.get().amount == Decimal("2400000.00")
    assert ShippedUnit.objects.count() == 2
    assert Invoice.objects.count() == 1 and Payment.objects.count() == 1
    assert WorkOrder.objects.get().plant.code == "XZ01"
    assert Capacity.objects.count() == 2 and Plant.objects.get(code="CS02").name == "长沙二厂"
    published = events.types()
    for event in (
        "order.created",
        "contract.signed",
        "shipment.shipped",
        "invoice.issued",
        "payment.received",
    ):
        assert event in published

    before = row_counts()
    events.clear()
    for entity, records in batches:
        with capture_writes() as ctx:
            outcome = apply(erp, entity, records)
        assert [r.outcome for r in outcome.results] == ["unchanged"] * len(records), entity
        assert business_writes(ctx) == [], entity
    assert row_counts() == before
    assert events.types() == []


@pytest.mark.django_db
def test_one_audit_row_and_one_result_per_record_per_batch(erp):
    code = valid_credit_code()
    before = AuditLog.objects.filter(verb=inbound.AUDIT_VERB).count()
    outcome = apply(erp, "customer", full_batches(code)[0][1])
    audits = AuditLog.objects.filter(verb=inbound.AUDIT_VERB)
    assert audits.count() == before + 1
    row = audits.latest("pk")
    assert row.extra["created"] == 2 and row.extra["entity"] == "customer" and row.extra["system"] == "erp"
    batch = outcome.batch
    assert (batch.total, batch.created, batch.rejected) == (2, 2, 0) and batch.finished_at is not None
    assert list(batch.results.values_list("position", "outcome")) == [(0, "created"), (1, "created")]


@pytest.mark.django_db
def test_keep_rejected_stores_only_rejections(erp):
    outcome = apply(
        erp,
        "product_line",
        [{"external_id": "A", "version": 1, "code": "A", "name": "A"}, {"external_id": "B", "version": 1}],
        keep="rejected",
        via="file",
    )
    assert outcome.counts == {"total": 2, "created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    assert list(InboundResult.objects.filter(batch=outcome.batch).values_list("position", flat=True)) == [1]
    assert len(outcome.results) == 2


# --- versions -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_older_version_never_overwrites_a_newer_one(erp, personas):
    _customers(erp, personas)
    make_product("QY25K")
    apply(erp, "order", [_order(version=2, notes="v2")])
    outcome = apply(erp, "order", [_order(version=1, notes="v1")])
    result = outcome.results[0]
    assert result.outcome == "unchanged"
    assert result.reasons == [{"field": "version", "message": str(inbound.ERR_OLDER)}]
    assert SalesOrder.objects.get().notes == "v2"
    assert ExternalRecord.objects.get(entity="order").version == 2


@pytest.mark.django_db
def test_updated_at_orders_versions_like_version(erp, personas):
    _customers(erp, personas)
    make_product("QY25K")
    newer = _order(notes="newer")
    newer.pop("version")
    newer["updated_at"] = "2025-03-02T10:00:00+08:00"
    older = {**newer, "notes": "older", "updated_at": "2025-03-02T09:59:59.999999+08:00"}
    assert apply(erp, "order", [newer]).results[0].outcome == "created"
    assert apply(erp, "order", [older]).results[0].outcome == "unchanged"
    assert SalesOrder.objects.get().notes == "newer"
    stored = ExternalRecord.objects.get(entity="order").version
    assert stored == datetime_version(dt.datetime(2025, 3, 2, 2, 0, tzinfo=dt.UTC))
    later = {**newer, "notes": "later", "updated_at": "2025-03-02T11:00:00"}  # naive: Asia/Shanghai
    assert apply(erp, "order", [later]).results[0].outcome == "updated"
    assert SalesOrder.objects.get().notes == "later"


@pytest.mark.django_db
def test_a_record_without_version_is_rejected(erp):
    outcome = apply(erp, "product_line", [{"external_id": "A", "code": "A", "name": "A"}])
    assert outcome.results[0].outcome == "rejected"
    assert outcome.results[0].reasons[0]["field"] == "version"


@pytest.mark.django_db
def test_newer_version_with_the_same_content_writes_no_business_row(erp, personas):
    _customers(erp, personas)
    make_product("QY25K")
    apply(erp, "order", [_order(version=1)])
    before = row_counts()
    with capture_writes() as ctx:
        outcome = apply(erp, "order", [_order(version=5)])
    assert outcome.results[0].outcome == "unchanged"
    assert row_counts() == before
    writes = business_writes(ctx)
    assert len(writes) == 1 and "integrations_externalrecord" in writes[0]  # only the version moves
    assert ExternalRecord.objects.get(entity="order").version == 5
    # ... so version 3 is now older than what was applied
    assert apply(erp, "order", [_order(version=3, notes="x")]).results[0].outcome == "unchanged"


@pytest.mark.django_db
def test_a_newer_order_replaces_header_and_lines(erp, personas):
    _customers(erp, personas)
    make_product("QY25K")
    make_product("QY50K")
    apply(
        erp,
        "order",
        [
            _order(
                lines=[
                    {"line_no": 1, "product": "QY25K", "quantity": "2", "unit_price": "100"},
                    {"line_no": 2, "product": "QY25K", "quantity": "1", "unit_price": "50"},
                ]
            )
        ],
    )
    order = SalesOrder.objects.get()
    assert order.amount == Decimal("250.00")
    line1 = order.lines.get(line_no=1)
    outcome = apply(
        erp,
        "order",
        [
            _order(
                version=2,
                promised_date="2025-07-01",
                lines=[
                    {"line_no": 1, "product": "QY25K", "quantity": "3", "unit_price": "100"},
                    {
                        "line_no": 3,
                        "product": "QY50K",
                        "quantity": "1",
                        "unit_price": "1000",
                        "description": "选装",
                    },
                ],
            )
        ],
    )
    assert outcome.results[0].outcome == "updated"
    order.refresh_from_db()
    assert order.amount == Decimal("1300.00") and order.promised_date == dt.date(2025, 7, 1)
    lines = {ln.line_no: ln for ln in order.lines.all()}
    assert set(lines) == {1, 3}
    assert lines[1].pk == line1.pk and lines[1].quantity == 3 and lines[1].amount == Decimal("300.00")
    assert lines[3].product.code == "QY50K" and lines[3].description == "选装"
    assert order.history.count() == 2


@pytest.mark.django_db
def test_repeats_of_one_external_id_in_a_batch_apply_in_order(erp):
    outcome = batch_apply(
        system=erp,
        entity="product_line",
        actor=erp.user,
        records=[
            {"external_id": "A", "version": 1, "code": "A", "name": "one"},
            {"external_id": "B", "version": 1, "code": "B", "name": "b"},
            {"external_id": "A", "version": 3, "code": "A", "name": "three"},
            {"external_id": "A", "version": 2, "code": "A", "name": "two"},
            {"external_id": "C", "version": 1, "code": "C", "name": "c"},
        ],
        chunk_size=2,
    )
    assert [r.outcome for r in outcome.results] == ["created", "created", "updated", "unchanged", "created"]
    from steelyard.catalog.models import ProductLine

    assert ProductLine.objects.get(code="A").name == "three"


# --- references -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_unknown_customer_or_product_rejects_only_that_record(erp, personas):
    _customers(erp, personas)
    make_product("QY25K")
    outcome = apply(
        erp,
        "order",
        [
            _order("O1"),
            _order("O2", customer="NOPE"),
            _order("O3", lines=[{"line_no": 1, "product": "GHOST", "quantity": "1", "unit_price": "1"}]),
            _order("O4", customer=None, customer_credit_code=valid_credit_code()),
            _order("O5"),
        ],
    )
    assert [r.outcome for r in outcome.results] == ["created", "rejected", "rejected", "rejected", "created"]
    assert (
        outcome.results[1].reasons[0]["field"] == "customer"
        and "NOPE" in outcome.results[1].reasons[0]["message"]
    )
    assert outcome.results[2].reasons[0]["field"] == "lines.0.product"
    assert "GHOST" in outcome.results[2].reasons[0]["message"]
    assert outcome.results[3].reasons[0]["field"] == "customer_credit_code"
    assert set(SalesOrder.objects.values_list("number", flat=True)) == {"O1", "O5"}
    assert not ExternalRecord.objects.filter(entity="order", external_id__in=["O2", "O3", "O4"]).exists()


@pytest.mark.django_db
def test_products_and_lines_accept_our_code_and_codes_link(erp):
    line = make_product_line("ENGINE", name="发动机")
    existing = make_product("WP10", line=line)
    outcome = apply(
        erp,
        "product",
        [
            {
                "external_id": "E1",
                "version": 1,
                "code": "WP10",
                "name": "WP10 柴油机",
                "product_line": "ENGINE",
            },
            {"external_id": "E2", "version": 1, "code": "WP12", "name": "WP12", "product_line": "ENGINE"},
            {"external_id": "E3", "version": 1, "code": "WP13", "name": "WP13", "product_line": "NOPE"},
        ],
    )
    assert [r.outcome for r in outcome.results] == ["updated", "created", "rejected"]
    assert outcome.results[0].object_id == existing.pk
    assert Product.objects.get(pk=existing.pk).name == "WP10 柴油机"
    assert outcome.results[2].reasons[0]["field"] == "product_line"


@pytest.mark.django_db
def test_a_business_key_taken_by_another_external_id_is_rejected(erp):
    apply(erp, "product_line", [{"external_id": "A", "version": 1, "code": "X", "name": "x"}])
    outcome = apply(erp, "product_line", [{"external_id": "B", "version": 1, "code": "X", "name": "y"}])
    assert outcome.results[0].outcome == "rejected" and outcome.results[0].reasons[0]["field"] == "code"
    outcome = apply(
        erp,
        "product_line",
        [
            {"external_id": "C", "version": 1, "code": "Z", "name": "z"},
            {"external_id": "D", "version": 1, "code": "Z", "name": "z"},
        ],
    )
    assert [r.outcome for r in outcome.results] == ["created", "rejected"]


# --- customers --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_erp_customers_go_through_the_customer_service(erp, personas, events):
    outcome = apply(
        erp,
        "customer",
        [
            {
                "external_id": "C9",
                "version": 1,
                "legal_name": " 上海振华重工（集团）股份有限公司 ",
                "short_name": "振华",
                "credit_code": " 91310000132228728t ".replace("t", "T"),
                "owner": "alice",
            },
            {
                "external_id": "C10",
                "version": 1,
                "legal_name": "坏码公司",
                "credit_code": "91310000132228728X",
            },
            {"external_id": "C11", "version": 1, "legal_name": "某公司", "owner": "nobody"},
        ],
    )
    assert [r.outcome for r in outcome.results] == ["created", "rejected", "rejected"]
    assert outcome.results[1].reasons[0]["field"] == "credit_code"
    assert outcome.results[2].reasons[0]["field"] == "owner"
    customer = Customer.objects.get(pk=outcome.results[0].object_id)
    assert customer.legal_name == "上海振华重工（集团）股份有限公司"
    assert customer.name_key == name_key("上海振华重工(集团)股份公司")
    assert customer.pinyin.startswith("shanghai") and customer.credit_code == "91310000132228728T"
    assert customer.source == CustomerSource.ERP and customer.owner == personas.alice
    assert OwnershipEvent.objects.filter(customer=customer).exists()
    assert "customer.created" in events.types()


@pytest.mark.django_db
def test_an_erp_customer_with_a_crm_credit_code_is_linked_not_duplicated(erp, personas):
    code = valid_credit_code()
    crm = make_customer(personas.alice, name="徐州港务集团有限公司", credit_code=code, province="江苏")
    outcome = apply(
        erp,
        "customer",
        [
            {
                "external_id": "C1",
                "version": 1,
                "legal_name": "徐州港务集团有限公司（ERP）",
                "credit_code": code,
                "province": "上海",
                "city": "徐州",
            }
        ],
    )
    assert outcome.results[0].outcome == "updated" and outcome.results[0].object_id == crm.pk
    assert Customer.objects.count() == 1
    crm.refresh_from_db()
    assert crm.legal_name == "徐州港务集团有限公司" and crm.province == "江苏"  # the CRM's values stay
    assert crm.city == "徐州"  # empty ones are filled in
    assert crm.owner == personas.alice
    # Later versions from the ERP do update it.
    apply(
        erp,
        "customer",
        [
            {
                "external_id": "C1",
                "version": 2,
                "legal_name": "徐州港务集团有限公司",
                "credit_code": code,
                "city": "新沂",
            }
        ],
    )
    crm.refresh_from_db()
    assert crm.city == "新沂"


@pytest.mark.django_db
def test_a_merged_customer_stands_for_the_kept_one(erp, personas):
    from steelyard.customers.services.customers import customer_merge

    apply(erp, "customer", [{"external_id": "C1", "version": 1, "legal_name": "甲公司"}])
    merged = Customer.objects.get()
    kept = make_customer(personas.alice, name="甲公司（新）")
    customer_merge(actor=personas.admin, keep=kept, merge=merged, reason="同一家")
    make_product("QY25K")
    outcome = apply(erp, "order", [_order()])
    assert outcome.results[0].outcome == "created"
    assert SalesOrder.objects.get().customer == kept


# --- dry run, isolation -----------------------------------------------------------------------


@pytest.mark.django_db
def test_dry_run_checks_everything_and_writes_nothing(erp, personas):
    _customers(erp, personas)
    make_product("QY25K")
    before = row_counts()
    batches = InboundBatch.objects.count()
    with capture_writes() as ctx:
        outcome = apply(erp, "order", [_order("O1"), _order("O2", customer="NOPE")], dry_run=True)
    assert outcome.batch is None
    assert [r.outcome for r in outcome.results] == ["created", "rejected"]
    assert row_counts() == before and InboundBatch.objects.count() == batches
    assert [
        q
        for q in ctx.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ] == []


@pytest.mark.django_db
def test_a_database_error_costs_only_its_own_record(erp, personas, monkeypatch):
    _customers(erp, personas)
    make_product("QY25K")
    original = OrderHandler.write

    def flaky(self, items, ctx):
        if any(i.external_id == "BAD" for i in items):
            raise IntegrityError("simulated failure")
        return original(self, items, ctx)

    monkeypatch.setattr(OrderHandler, "write", flaky)
    with transaction.atomic():
        outcome = apply(erp, "order", [_order("O1"), _order("BAD"), _order("O3")])
    assert [r.outcome for r in outcome.results] == ["created", "rejected", "created"]
    assert "simulated failure" in outcome.results[1].reasons[0]["message"]
    assert set(SalesOrder.objects.values_list("number", flat=True)) == {"O1", "O3"}
    assert ExternalRecord.objects.filter(entity="order").count() == 2
    assert OrderStatusEvent.objects.count() == 2


@pytest.mark.django_db
def test_inactive_systems_and_forbidden_entities_are_refused(erp):
    erp.entities = ["order"]
    erp.save()
    with pytest.raises(PermissionDenied):
        apply(erp, "customer", [])
    erp.entities = []
    erp.is_active = False
    erp.save()
    with pytest.raises(PermissionDenied):
        apply(erp, "order", [])


@pytest.mark.django_db
def test_schema_errors_name_the_field(erp):
    outcome = apply(
        erp,
        "order",
        [
            {
                "external_id": "O1",
                "version": 1,
                "customer": "C1",
                "ordered_on": "soon",
                "lines": [{"line_no": 1, "product": "P", "quantity": "0", "unit_price": "1"}],
                "colour": "red",
            },
            "not an object",
        ],
    )
    fields = {r["field"] for r in outcome.results[0].reasons}
    assert fields == {"ordered_on", "lines.0.quantity", "colour"}
    assert outcome.results[1].outcome == "rejected" and outcome.results[1].reasons[0]["field"] == ""


# --- file rows --------------------------------------------------------------------------------


def test_rows_to_records_groups_order_lines_and_reads_words():
    rows = [
        (
            2,
            {
                "external_id": "A",
                "customer": "C1",
                "ordered_on": "2025/3/1",
                "line_no": "1",
                "product": "X",
                "quantity": "2",
                "unit_price": "10",
            },
        ),
        (
            3,
            {
                "external_id": "A",
                "customer": "C1",
                "line_no": "2.0",
                "product": "Y",
                "quantity": "1",
                "unit_price": "5",
                "line_description": "",
            },
        ),
        (
            4,
            {
                "external_id": "B",
                "customer": "C2",
                "ordered_on": "2025-03-02",
                "line_no": "1",
                "product": "X",
                "quantity": "1",
                "unit_price": "1",
            },
        ),
        (
            5,
            {
                "external_id": "B",
                "customer": "C3",
                "line_no": "2",
                "product": "X",
                "quantity": "1",
                "unit_price": "1",
            },
        ),
        (
            6,
            {
                "external_id": "A",
                "customer": "C1",
                "line_no": "3",
                "product": "X",
                "quantity": "1",
                "unit_price": "1",
            },
        ),
    ]
    out = list(rows_to_records("order", rows))
    assert out[0] == (
        [2, 3],
        {
            "external_id": "A",
            "customer": "C1",
            "ordered_on": "2025-03-01",
            "lines": [
                {"line_no": "1", "product": "X", "quantity": "2", "unit_price": "10"},
                {"line_no": "2", "product": "Y", "quantity": "1", "unit_price": "5"},
            ],
        },
        [],
    )
    rows_b, record_b, reasons_b = out[1]
    assert (
        rows_b == [4, 5]
        and record_b is None
        and reasons_b[0]["field"] == "customer"
        and reasons_b[0]["row"] == 5
    )
    rows_a, record_a, reasons_a = out[2]
    assert rows_a == [6] and record_a is None and reasons_a[0]["field"] == "external_id"

    customers = list(
        rows_to_records(
            "customer",
            [
                (
                    2,
                    {
                        "external_id": "C",
                        "legal_name": "甲",
                        "industry": "Ports & logistics",
                        "is_key_account": "是",
                    },
                )
            ],
        )
    )
    assert customers == [
        ([2], {"external_id": "C", "legal_name": "甲", "industry": "ports", "is_key_account": True}, [])
    ]
    shipments = list(
        rows_to_records(
            "shipment",
            [
                (
                    2,
                    {
                        "external_id": "S",
                        "order": "O",
                        "shipped_on": "2025-01-01",
                        "line_no": "1",
                        "quantity": "2",
                        "serial_numbers": "A1, A2；A3",
                    },
                )
            ],
        )
    )
    assert shipments[0][1]["lines"] == [
        {"line_no": "1", "quantity": "2", "serial_numbers": ["A1", "A2", "A3"]}
    ]


@pytest.mark.django_db
def test_file_records_apply_like_api_records(erp, personas):
    _customers(erp, personas)
    make_product("QY25K")
    rows = [
        (
            2,
            {
                "external_id": "F1",
                "version": "1",
                "customer": "C1",
                "ordered_on": "2025-03-01",
                "line_no": "1",
                "product": "QY25K",
                "quantity": "1",
                "unit_price": "10",
            },
        ),
        (3, {"external_id": "F1", "line_no": "2", "product": "QY25K", "quantity": "2", "unit_price": "10"}),
    ]
    records = [record for _rows, record, _reasons in rows_to_records("order", rows)]
    progress = []
    outcome = apply(
        erp,
        "order",
        records,
        via="file",
        keep="rejected",
        progress=lambda done, total: progress.append((done, total)),
        total=1,
    )
    assert outcome.counts["created"] == 1 and progress == [(1, 1)]
    assert SalesOrder.objects.get(number="F1").amount == Decimal("30.00")
