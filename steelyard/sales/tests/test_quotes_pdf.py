"""The quote as a PDF: Chinese rendered with an embedded CJK font (checked by extracting the text with pypdf),
English labels in an English quote, and the font lookup's clear error."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from steelyard.sales.services import quote_pdf
from steelyard.sales.services import quotes as svc
from steelyard.sales.tests.quotes_world import CRANE_NAME, CUSTOMER_NAME, HOIST_NAME, line_dicts, make_world

pytestmark = pytest.mark.django_db


def _text(pdf: bytes) -> str:
    """All the PDF's text, white space removed.

    The Noto CJK faces are CID-keyed CFF fonts, embedded with a code → CID CMap; pypdf reads each two-byte
    code as a NUL plus the character (viewers and poppler's pdftotext read them right), so NULs go too.
    """
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"[\s\x00]+", "", "".join(page.extract_text() for page in reader.pages))


def _fonts(pdf: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(pdf))
    names = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            descriptor = descendant["/FontDescriptor"].get_object()
            assert "/FontFile3" in descriptor or "/FontFile2" in descriptor  # embedded, not referenced
            names.append(str(font["/BaseFont"]))
    return names


@pytest.fixture
def quote(personas):
    world = make_world(personas)
    q = svc.quote_create(
        actor=personas.alice,
        opportunity=world.opportunity,
        delivery_terms="到港交货，预付款后90天",
        notes="含安装调试",
    )
    return svc.quote_lines_set(actor=personas.alice, quote=q, lines=line_dicts(q, l0={"discount_pct": "8"}))


def test_a_chinese_quote_carries_the_customer_and_products_in_chinese(quote):
    pdf = quote_pdf.quote_pdf_render(quote)
    assert pdf.startswith(b"%PDF-")
    text = _text(pdf)
    assert CUSTOMER_NAME in text
    assert re.sub(r"\s", "", CRANE_NAME) in text and re.sub(r"\s", "", HOIST_NAME) in text
    assert "到港交货，预付款后90天" in text and "含安装调试" in text
    assert quote.number in text and "MQ2535" in text
    assert "¥920,000.00" in text and "¥2,340,000.00" in text  # net price, total: 2 × 920,000 + 500,000
    assert all("NotoSansCJK" in name for name in _fonts(pdf))


def test_an_english_quote_has_english_labels_and_english_product_names(quote):
    quote.language = "en"
    quote.save()
    text = _text(quote_pdf.quote_pdf_render(quote))
    for label in ("Quotation", "Customer", "Validuntil", "Productcode", "Listprice", "Discount", "Netprice"):
        assert label in text, label
    for label in (
        "Totalatlistprice",
        "Paymentterms",
        "Deliveryterms",
        "Forthecustomer",
        "Signatureandcompanyseal",
    ):
        assert label in text, label
    assert "PortalcraneMQ2535" in text and "ElectrichoistCD1" in text
    assert CUSTOMER_NAME in text  # the customer's own name stays Chinese
    assert "30daysafterinvoice" in text


def test_a_missing_cjk_font_is_a_clear_error(quote, settings, monkeypatch):
    quote_pdf.cjk_fonts.cache_clear()
    settings.STEELYARD_PDF_CJK_FONT = "/nonexistent/NotoSansCJK-Regular.ttc"
    try:
        with pytest.raises(quote_pdf.CJKFontMissing) as e:
            quote_pdf.quote_pdf_render(quote)
        assert "fonts-noto-cjk" in str(e.value)
    finally:
        quote_pdf.cjk_fonts.cache_clear()


def test_the_font_is_found_by_fontconfig_or_at_debians_path(settings):
    quote_pdf.cjk_fonts.cache_clear()
    fonts = quote_pdf.cjk_fonts()
    assert "NotoSansCJK" in fonts.regular.path and "Bold" in fonts.bold.path
    assert fonts.regular.index == quote_pdf._collection_index(fonts.regular.path)  # the SC face of the .ttc
