"""The shared list machinery: capped counts, pagination links that keep filters, sort whitelist."""

from __future__ import annotations

from django import forms
from django.test import RequestFactory

from steelyard.core.filters import ListFilter, paginate
from steelyard.core.models import AuditLog
from steelyard.core.services.audit import audit_record


class _VerbFilter(ListFilter):
    verb = forms.CharField(required=False)
    sort_fields = {"verb": ("verb",)}
    default_sort = "verb"

    def filter_queryset(self, queryset, data):
        if data.get("verb"):
            queryset = queryset.filter(verb__startswith=data["verb"])
        return queryset


def _rows(n: int) -> None:
    for i in range(n):
        audit_record(actor=None, action="action", verb=f"v.{i:03d}")


def test_it_counts_exactly_below_the_cap(db):
    _rows(12)
    page = paginate(
        RequestFactory().get("/?verb=v&page=2"), AuditLog.objects.all(), per_page=5, count_cap=100
    )
    assert (page.count, page.capped, page.num_pages, page.count_display) == (12, False, 3, "12")
    assert page.url_for_next == "?verb=v&page=3" and page.has_previous


def test_it_caps_the_count_beyond_the_cap(db, django_assert_num_queries):
    _rows(12)
    with django_assert_num_queries(2):
        page = paginate(RequestFactory().get("/"), AuditLog.objects.all(), per_page=5, count_cap=10)
    assert page.capped and page.num_pages is None and page.count_display == "10+"
    assert page.has_next


def test_it_clamps_a_page_past_the_end(db):
    _rows(3)
    page = paginate(RequestFactory().get("/?page=99"), AuditLog.objects.all(), per_page=5)
    assert page.number == 1 and len(page) == 3


def test_it_sorts_by_whitelisted_keys_only(db):
    _rows(3)
    qs = AuditLog.objects.all()
    assert [e.verb for e in _VerbFilter({"sort": "-verb"}).apply(qs)] == ["v.002", "v.001", "v.000"]
    assert [e.verb for e in _VerbFilter({"sort": "actor__password"}).apply(qs)] == ["v.000", "v.001", "v.002"]
    assert _VerbFilter({"verb": "v.00", "sort": "verb"}).is_filtered


def test_it_renders_selects_quickly_with_the_same_html():
    from django import forms

    from steelyard.core.filters import ListFilter

    class F(ListFilter):
        kind = forms.ChoiceField(choices=[("", "All"), ("a", "A & B"), ("b", "<b>")], required=False)

    html = str(F({"kind": "a"})["kind"])
    assert '<option value="a" selected>A &amp; B</option>' in html
    assert '<option value="b">&lt;b&gt;</option>' in html
    assert "data-autosubmit" in html and 'name="kind"' in html
