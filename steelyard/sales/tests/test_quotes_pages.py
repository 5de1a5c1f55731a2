"""Quote pages from three sides (owner, manager, outsider): the list with its filters, the export, the quote
page with its lines editor (live prices, the tier limit hint), the actions, the PDF, a new quote, the
opportunity and customer sections, search and menu; and the list's query count."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from steelyard.core.registry import registry
from steelyard.orders.tests._o2c import book
from steelyard.sales.models import Quote, QuoteStatus
from steelyard.sales.services import quotes as svc
from steelyard.sales.tests.quotes_world import CUSTOMER_NAME, OTHER_NAME, line_dicts, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(personas):
    w = make_world(personas, credit_limit="3000000")
    w.quote = svc.quote_create(actor=personas.alice, opportunity=w.opportunity)
    w.other_quote = svc.quote_create(actor=personas.charlie, opportunity=w.other_opportunity)
    return w


def _body(response, status=200) -> str:
    assert response.status_code == status, response.status_code
    return response.content.decode()


def _english(*users):
    for u in users:
        u.language = "en"
        u.save()


def _numbers(body: str) -> list[str]:
    return re.findall(
        r'data-quote="\d+">\s*<td class="min-w-0"><a class="fw-semibold" href="[^"]+">([^<]+)</a>', body
    )


# --- list, export, detail, pdf: three sides ------------------------------------------------------------------


def test_the_list_shows_each_persona_only_the_quotes_in_their_scope(world, personas, client_for):
    url = reverse("sales_quote_list")
    for user in (personas.alice, personas.bob, personas.dora, personas.admin):
        body = _body(client_for(user).get(url))
        assert CUSTOMER_NAME in body, user
        assert (OTHER_NAME in body) == (user == personas.admin), user
    body = _body(client_for(personas.charlie).get(url))
    assert OTHER_NAME in body and CUSTOMER_NAME not in body
    assert f'data-quote-card="{world.other_quote.pk}"' in body  # phone cards


def test_the_quote_page_and_pdf_answer_404_outside_the_scope(world, personas, client_for):
    for name in ("sales_quote_detail", "sales_quote_pdf"):
        url = reverse(name, args=[world.quote.pk])
        for user in (personas.alice, personas.bob, personas.dora, personas.admin):
            assert client_for(user).get(url).status_code == 200, (name, user)
        assert client_for(personas.charlie).get(url).status_code == 404, name
    response = client_for(personas.bob).get(reverse("sales_quote_pdf", args=[world.quote.pk]))
    assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF-")
    assert f"{world.quote.number}-R1.pdf" in response["Content-Disposition"]
    assert client_for(personas.alice).get(reverse("sales_quote_detail", args=[999999])).status_code == 404


def test_the_csv_export_is_scoped_filtered_and_audited(world, personas, client_for):
    from steelyard.core.models import AuditLog

    def rows(user, params=None):
        response = client_for(user).get(reverse("sales_quote_export"), params or {})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        return list(csv.reader(io.StringIO(text)))[1:]

    assert [r[0] for r in rows(personas.alice)] == [world.quote.number]
    assert [r[0] for r in rows(personas.bob)] == [world.quote.number]
    assert [r[0] for r in rows(personas.charlie)] == [world.other_quote.number]
    assert rows(personas.alice, {"status": "sent"}) == []
    row = rows(personas.alice)[0]
    assert row[3] == CUSTOMER_NAME and Decimal(row[9]) == Decimal("2500000.00")
    assert AuditLog.objects.filter(verb="sales.quote_export", actor=personas.charlie).exists()


def test_the_list_filters_searches_sorts_and_survives_bad_input(world, personas, client_for):
    p = personas
    svc.quote_lines_set(
        actor=p.alice, quote=world.quote, lines=line_dicts(world.quote, l0={"discount_pct": "20"})
    )
    second = svc.quote_create(
        actor=p.alice, opportunity=world.opportunity, lines=[{"product": world.hoist.pk, "quantity": "1"}]
    )
    svc.quote_submit(actor=p.alice, quote=second)  # approved at once
    c = client_for(p.alice)
    url = reverse("sales_quote_list")
    q1, q2 = world.quote.number, second.number
    assert _numbers(_body(c.get(url))) == [f"{q2}-R1", f"{q1}-R1"]  # newest first
    assert _numbers(_body(c.get(url, {"status": "approved"}))) == [f"{q2}-R1"]
    assert _numbers(_body(c.get(url, {"over_limit": "discount"}))) == [f"{q1}-R1"]
    assert _numbers(_body(c.get(url, {"sort": "total"}))) == [f"{q2}-R1", f"{q1}-R1"]
    assert _numbers(_body(c.get(url, {"sort": "-total"}))) == [f"{q1}-R1", f"{q2}-R1"]
    assert _numbers(_body(c.get(url, {"q": "港务"}))) == [f"{q2}-R1", f"{q1}-R1"]
    assert _numbers(_body(c.get(url, {"q": "电厂"}))) == []
    assert _numbers(_body(c.get(url, {"customer": world.customer.pk}))) == [f"{q2}-R1", f"{q1}-R1"]
    body = _body(c.get(url, {"date_from": "yesterday", "status": "nope", "sort": "bogus"}))
    assert "invalid-feedback" in body and q1 in body
    # Credit: book the customer's history so the first quote's exposure passes the limit.
    book(world.customer)
    svc.quote_lines_set(
        actor=p.alice, quote=world.quote, lines=line_dicts(world.quote, l0={"discount_pct": "20"})
    )
    assert _numbers(_body(c.get(url, {"over_limit": "credit"}))) == [f"{q1}-R1"]
    # Waiting for approval, and waiting for *my* approval (bob approves alice's discounts).
    svc.quote_submit(actor=p.alice, quote=Quote.objects.get(pk=world.quote.pk))
    assert _numbers(_body(c.get(url, {"pending": "1"}))) == [f"{q1}-R1"]
    assert _numbers(_body(client_for(p.bob).get(url, {"pending": "me"}))) == [f"{q1}-R1"]
    assert _numbers(_body(client_for(p.dora).get(url, {"pending": "me"}))) == []  # her step comes later
    assert "empty-state" in _body(c.get(url, {"pending": "me"}))


def test_the_list_pages_and_its_query_count_does_not_grow_with_rows(
    personas, client_for, django_assert_max_num_queries
):
    world = make_world(personas)
    for _i in range(30):
        svc.quote_create(actor=personas.alice, opportunity=world.opportunity, lines=[])
    c = client_for(personas.alice)
    with django_assert_max_num_queries(8):
        body = _body(c.get(reverse("sales_quote_list")))
    assert body.count("data-quote-card=") == 25 and 'rel="next"' in body
    body = _body(c.get(reverse("sales_quote_list"), {"page": "2"}))
    assert body.count("data-quote-card=") == 5
    last = Quote.objects.order_by("-pk").first()
    with django_assert_max_num_queries(18):
        _body(c.get(reverse("sales_quote_detail", args=[last.pk])))


# --- the quote page --------------------------------------------------------------------------------------------


def test_the_quote_page_shows_lines_totals_tier_limit_and_credit(world, personas, client_for):
    book(world.customer)
    svc.quote_lines_set(actor=personas.alice, quote=world.quote, lines=line_dicts(world.quote))
    _english(personas.alice)
    body = _body(client_for(personas.alice).get(reverse("sales_quote_detail", args=[world.quote.pk])))
    assert "门座式起重机 MQ2535" in body and 'name="line-0-discount_pct"' in body
    assert 'data-total="net">¥2,500,000.00' in body
    assert "up to 10% without approval" in body
    # exposure = 649,999.75 + 1,500,000 + 2,500,000 = 4,649,999.75 > 3,000,000
    assert "data-credit-over" in body and 'data-credit="exposure">¥4,649,999.75' in body
    assert 'data-credit="limit">¥3,000,000.00' in body
    # The manager may change it too; the page is read-only for the customer's owner only (not the case here).
    body = _body(client_for(personas.bob).get(reverse("sales_quote_detail", args=[world.quote.pk])))
    assert 'name="line-0-discount_pct"' in body


def test_the_lines_editor_previews_a_discount_above_the_limit_with_who_must_approve(
    world, personas, client_for
):
    _english(personas.alice)
    c = client_for(personas.alice)
    url = reverse("sales_quote_lines", args=[world.quote.pk])
    data = {
        "line_count": "2",
        "line-0-product": world.crane.pk,
        "line-0-product_was": world.crane.pk,
        "line-0-description": "门座式起重机 MQ2535",
        "line-0-quantity": "2",
        "line-0-unit": "台",
        "line-0-list_price": "1000000",
        "line-0-discount_pct": "15",
        "line-1-product": world.hoist.pk,
        "line-1-product_was": world.hoist.pk,
        "line-1-description": "电动葫芦 CD1",
        "line-1-quantity": "1",
        "line-1-unit": "台",
        "line-1-list_price": "500000",
        "line-1-discount_pct": "0",
    }
    body = _body(c.post(url, {**data, "action": "preview"}, HTTP_HX_REQUEST="true"))
    assert body.startswith('<div id="quote-pricing">') or 'id="quote-pricing"' in body[:200]
    assert "data-line-over" in body and "needs approval from Sales manager → Sales director" in body
    assert 'data-total="net">¥2,200,000.00' in body and "data-unsaved" in body
    assert 'hx-swap-oob="true"' in body  # the credit panel and the total follow
    assert Quote.objects.get(pk=world.quote.pk).net_total == Decimal("2500000.00")  # nothing saved
    # Adding a row keeps what was typed and adds an empty one.
    body = _body(c.post(url, {**data, "action": "add"}, HTTP_HX_REQUEST="true"))
    assert 'name="line-2-product"' in body and 'value="15"' in body
    # Saving stores the prices.
    body = _body(c.post(url, {**data, "action": "save"}, HTTP_HX_REQUEST="true"))
    assert "data-saved" in body
    quote = Quote.objects.get(pk=world.quote.pk)
    assert quote.net_total == Decimal("2200000.00") and quote.discount_pct == Decimal("15.00")
    # A bad row is shown on its line, nothing saved.
    body = _body(c.post(url, {**data, "line-1-quantity": "0", "action": "save"}, HTTP_HX_REQUEST="true"))
    assert 'data-line-errors="1"' in body and "Line 2: enter a quantity above 0." in body
    # Without htmx: a redirect after saving.
    response = c.post(url, {**data, "line-0-discount_pct": "5", "action": "save"})
    assert response.status_code == 302
    assert Quote.objects.get(pk=world.quote.pk).discount_pct == Decimal("5.00")


def test_choosing_another_product_takes_its_name_and_price(world, personas, client_for):
    c = client_for(personas.alice)
    body = _body(
        c.post(
            reverse("sales_quote_lines", args=[world.quote.pk]),
            {
                "line_count": "1",
                "line-0-product": world.hoist.pk,
                "line-0-product_was": world.crane.pk,
                "line-0-description": "门座式起重机 MQ2535",
                "line-0-quantity": "1",
                "line-0-list_price": "1000000.00",
                "line-0-discount_pct": "0",
                "action": "preview",
            },
            HTTP_HX_REQUEST="true",
        )
    )
    assert 'value="电动葫芦 CD1"' in body and 'value="500000.00"' in body


def test_outsiders_cannot_post_to_a_quote(world, personas, client_for):
    c = client_for(personas.charlie)
    for name in (
        "sales_quote_lines",
        "sales_quote_header",
        "sales_quote_submit",
        "sales_quote_send",
        "sales_quote_accept",
        "sales_quote_reject",
        "sales_quote_revise",
        "sales_quote_withdraw",
    ):
        assert c.post(reverse(name, args=[world.quote.pk]), {"line_count": "0"}).status_code == 404, name
    assert Quote.objects.get(pk=world.quote.pk).status == QuoteStatus.DRAFT


def test_submit_send_accept_from_the_page(world, personas, client_for):
    _english(personas.alice)
    c = client_for(personas.alice)
    quote = world.quote
    response = c.post(reverse("sales_quote_submit", args=[quote.pk]), follow=True)
    assert "The quote is approved" in response.content.decode()
    response = c.post(reverse("sales_quote_send", args=[quote.pk]), follow=True)
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.SENT
    body = _body(c.post(reverse("sales_quote_accept", args=[quote.pk]), {"signed_on": "2999-01-01"}), 400)
    assert "The signing date cannot be in the future." in body
    response = c.post(reverse("sales_quote_accept", args=[quote.pk]), {"signed_on": "", "reason": "price"})
    assert response.status_code == 400
    from django.utils import timezone

    response = c.post(
        reverse("sales_quote_accept", args=[quote.pk]),
        {"signed_on": timezone.localdate().isoformat(), "reason": "price"},
        follow=True,
    )
    body = response.content.decode()
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.ACCEPTED and "data-contract" in body and quote.contract.number in body


def test_a_refused_action_shows_why_on_the_page(world, personas, client_for):
    _english(personas.alice)
    body = _body(client_for(personas.alice).post(reverse("sales_quote_send", args=[world.quote.pk])), 400)
    assert "data-action-errors" in body and "Only an approved quote can be sent." in body


def test_the_terms_form_validates_and_saves(world, personas, client_for):
    c = client_for(personas.alice)
    url = reverse("sales_quote_header", args=[world.quote.pk])
    body = _body(c.post(url, {"valid_until": "2000-01-01", "language": "en"}), 400)
    assert "invalid-feedback" in body
    response = c.post(
        url,
        {"valid_until": "2999-01-01", "language": "en", "payment_terms_days": "45", "delivery_terms": "到港"},
    )
    assert response.status_code == 302
    quote = Quote.objects.get(pk=world.quote.pk)
    assert (quote.language, quote.payment_terms_days, quote.delivery_terms) == ("en", 45, "到港")


# --- new quote ---------------------------------------------------------------------------------------------


def test_a_new_quote_from_an_opportunity(world, personas, client_for):
    c = client_for(personas.alice)
    url = reverse("sales_quote_create")
    body = _body(c.get(url))  # choose the opportunity first
    assert f'data-candidate="{world.opportunity.pk}"' in body
    assert f'data-candidate="{world.other_opportunity.pk}"' not in body
    body = _body(c.get(url, {"opportunity": world.opportunity.pk}))
    assert body.count("data-copied-line") == 2
    response = c.post(
        url, {"opportunity": world.opportunity.pk, "valid_until": "2999-01-01", "language": "zh-hans"}
    )
    assert response.status_code == 302
    quote = Quote.objects.filter(opportunity=world.opportunity).order_by("-pk").first()
    assert response["Location"] == reverse("sales_quote_detail", args=[quote.pk])
    assert quote.lines.count() == 2
    # Her manager may quote on it too; the outsider cannot.
    assert client_for(personas.bob).get(url, {"opportunity": world.opportunity.pk}).status_code == 200
    assert client_for(personas.charlie).get(url, {"opportunity": world.opportunity.pk}).status_code == 404
    response = client_for(personas.charlie).post(
        url, {"opportunity": world.opportunity.pk, "valid_until": "2999-01-01", "language": "zh-hans"}
    )
    assert response.status_code == 404
    assert body.count("data-copied-line") == 2


# --- sections, search, menu -------------------------------------------------------------------------------


def test_the_opportunity_page_shows_its_quotes_and_the_credit_warning(world, personas, client_for):
    book(world.customer)
    svc.quote_lines_set(actor=personas.alice, quote=world.quote, lines=line_dicts(world.quote))
    url = reverse("sales_opportunity_detail", args=[world.opportunity.pk])
    for user in (personas.alice, personas.bob):
        body = _body(client_for(user).get(url))
        assert f'data-quote="{world.quote.pk}"' in body and "data-credit-over" in body
        assert "data-new-quote" in body
    assert client_for(personas.charlie).get(url).status_code == 404


def test_the_customer_page_shows_quotes_and_agreements_sections(world, personas, client_for):
    url = reverse("customer_detail", args=[world.customer.pk])
    body = _body(client_for(personas.alice).get(url))
    assert 'data-section="quotes"' in body and f'data-quote="{world.quote.pk}"' in body
    assert 'data-section="agreements"' in body and "data-new-agreement" in body
    body = _body(client_for(personas.charlie).get(reverse("customer_detail", args=[world.other_customer.pk])))
    assert f'data-quote="{world.quote.pk}"' not in body


def test_search_finds_quotes_in_scope_only(world, personas):
    provider = registry.search["sales.quotes"]
    assert [r.title for r in provider.search(personas.alice, world.quote.number, 10)] == [
        f"{world.quote.number}-R1"
    ]
    assert provider.search(personas.charlie, world.quote.number, 10) == []
    assert [r.title for r in provider.search(personas.bob, "港务", 10)] == [f"{world.quote.number}-R1"]


def test_the_menu_offers_quotes_and_agreements_in_the_sales_group(personas):
    keys = [m.key for m in registry.menu_for(personas.alice)]
    assert "sales.quotes" in keys and "sales.agreements" in keys
    assert registry.menu["sales.quotes"].order == 258 and registry.menu["sales.agreements"].order == 260


def test_the_approver_reads_the_discount_request_and_approves_it_on_the_approvals_page(
    world, personas, client_for
):
    svc.quote_lines_set(
        actor=personas.alice, quote=world.quote, lines=line_dicts(world.quote, l0={"discount_pct": "18"})
    )
    quote = svc.quote_submit(
        actor=personas.alice, quote=Quote.objects.get(pk=world.quote.pk), reason="大客户"
    )
    _english(personas.bob)
    url = reverse("approval_detail", args=[quote.approval_id])
    body = _body(client_for(personas.bob).get(url))
    assert f"{quote.number}-R1" in body and "18.00%" in body and "10.00%" in body
    assert "Sales manager → Sales director" in body
    assert client_for(personas.charlie).get(url).status_code == 404
    # The quote page links to the request.
    body = _body(client_for(personas.alice).get(reverse("sales_quote_detail", args=[quote.pk])))
    assert f'href="{url}" data-approval-link' in body and "data-pending" in body


def test_every_string_of_quotes_and_agreements_has_a_chinese_translation():
    """Each msgid of this area's templates and Python is in the catalogue or in its pending file."""
    import json
    from pathlib import Path

    from django.conf import settings
    from django.utils import translation

    base = Path(settings.BASE_DIR) / "steelyard"
    pending = json.loads((base / "locale" / "_pending" / "sales_quotes.json").read_text(encoding="utf-8"))
    root = base / "sales"
    python = [
        root / "services" / "quotes.py",
        root / "services" / "agreements.py",
        root / "services" / "quote_pdf.py",
        root / "selectors" / "quotes.py",
        root / "selectors" / "agreements.py",
        root / "forms_quotes.py",
        root / "views" / "quotes.py",
        root / "views" / "agreements.py",
        root / "registrations" / "quotes.py",
        root / "api" / "quotes.py",
    ]
    templates = [*root.glob("templates/sales/quotes/*.html"), *root.glob("templates/sales/agreements/*.html")]
    msgids: list[tuple[str, str]] = []
    for path in python:
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r'\b(?:_|gettext|gettext_lazy)\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+)', text):
            parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
            msgids.append((path.name, "".join(parts).replace('\\"', '"')))
    for path in templates:
        text = path.read_text(encoding="utf-8")
        msgids += [(path.name, s) for s in re.findall(r'\{% translate "((?:[^"\\]|\\.)*)"', text)]
        msgids += [(path.name, s) for s in re.findall(r"\{% translate '((?:[^'\\]|\\.)*)'", text)]
        msgids += [(path.name, s) for s in re.findall(r'_\("((?:[^"\\]|\\.)*)"\)', text)]
        for body in re.findall(
            r"\{% blocktranslate[^%]*%\}(.*?)\{% (?:endblocktranslate|plural)", text, flags=re.S
        ):
            msgids.append((path.name, re.sub(r"\{\{ *(\w+) *\}\}", r"%(\1)s", body.replace("%", "%%"))))
    assert len(msgids) > 250
    missing = []
    with translation.override("zh-hans"):
        for name, msgid in msgids:
            if translation.gettext(msgid) == msgid and msgid not in pending:
                missing.append(f"{name}: {msgid}")
    assert missing == [], missing
