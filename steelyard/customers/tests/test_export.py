"""Export of the current filtered list: scoped, audited, CSV and Excel."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from steelyard.core.models import AuditLog
from steelyard.customers.testing import make_customer, make_pool

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(personas):
    pool = make_pool(personas.team_a, members=[personas.alice])
    make_customer(personas.alice, name="爱丽丝客户甲")
    make_customer(personas.alice, name="爱丽丝客户乙", status="active")
    make_customer(None, name="公海客户丙", pool=pool)
    make_customer(personas.charlie, name="查理客户丁")


def _csv(client, **params):
    r = client.get(reverse("customer_export_csv"), params)
    assert r.status_code == 200
    return b"".join(r.streaming_content).decode("utf-8-sig")


def test_it_exports_only_what_each_persona_sees(world, personas, client_for):
    alice = _csv(client_for(personas.alice))
    assert "爱丽丝客户甲" in alice and "公海客户丙" in alice and "查理客户丁" not in alice
    charlie = _csv(client_for(personas.charlie))
    assert "查理客户丁" in charlie and "爱丽丝" not in charlie and "公海客户丙" not in charlie
    bob = _csv(client_for(personas.bob))
    assert "爱丽丝客户甲" in bob and "查理客户丁" not in bob


def test_it_exports_the_filtered_list_and_audits(world, personas, client_for):
    body = _csv(client_for(personas.alice), status="active")
    assert "爱丽丝客户乙" in body and "爱丽丝客户甲" not in body
    entry = AuditLog.objects.get(verb="customers.export")
    assert entry.actor == personas.alice and entry.extra["rows"] == 1 and entry.extra["format"] == "csv"


def test_it_exports_excel(world, personas, client_for):
    from openpyxl import load_workbook

    r = client_for(personas.alice).get(reverse("customer_export_xlsx"), {"scope": "mine"})
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    names = [row[1] for row in ws.iter_rows(min_row=2, values_only=True)]
    assert sorted(names) == ["爱丽丝客户乙", "爱丽丝客户甲"]
    assert AuditLog.objects.filter(verb="customers.export", extra__format="xlsx").exists()
