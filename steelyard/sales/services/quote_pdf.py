"""A quote as a PDF, in the quote's language (``quote.language``: zh-hans or English).

Layout (A4): the company header, the customer and the quote's number, revision, date and validity; the
lines table (product code, description, quantity, unit, list price, discount, net price, amount); the
totals; payment and delivery terms and notes; a signature block for both sides; page numbers.

Chinese needs a real CJK font, embedded (subset) in the file: Debian's ``fonts-noto-cjk`` (Noto Sans CJK
SC, an OpenType collection). :func:`cjk_fonts` finds it at run time — the ``STEELYARD_PDF_CJK_FONT``
setting when set, else ``fc-match``, else the package's known paths — and :class:`CJKFontMissing` says
what to install when none is there. Rendering uses fpdf2.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from steelyard.sales.models import Quote, QuoteLine
from steelyard.sales.services.quotes import overall_discount

KNOWN_FONTS = (
    # (regular, bold) of Debian's fonts-noto-cjk, then other common places.
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    ),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc"),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
    ),
)
FAMILY = "Noto Sans CJK SC"
ERR_NO_FONT = gettext_lazy(
    "No Chinese (CJK) font was found to write the PDF with. Install Debian's fonts-noto-cjk package "
    "(apt-get install fonts-noto-cjk) or set STEELYARD_PDF_CJK_FONT to a Noto Sans CJK font file."
)
CURRENCY_SYMBOLS = {"CNY": "¥", "RMB": "¥", "USD": "$", "EUR": "€", "HKD": "HK$", "JPY": "¥", "GBP": "£"}


class CJKFontMissing(RuntimeError):
    """No CJK font is installed: the message says what to install."""


@dataclass(frozen=True)
class FontFace:
    path: str
    index: int = 0


@dataclass(frozen=True)
class CJKFonts:
    regular: FontFace
    bold: FontFace


def _collection_index(path: str, family: str = FAMILY) -> int:
    """The face of ``family`` in a font collection (.ttc), else 0."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 0
    from fontTools.ttLib import TTCollection

    collection = TTCollection(path, lazy=True)
    try:
        for i, font in enumerate(collection.fonts):
            if font["name"].getDebugName(1) == family:
                return i
    finally:
        collection.close()
    return 0


def _fc_match(style: str) -> FontFace | None:
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        # Fixed arguments, no user input: fontconfig says where the CJK face is installed.
        out = subprocess.run(  # noqa: S603
            [fc_match, "-f", "%{family}|%{file}|%{index}", f"{FAMILY}:style={style}"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    parts = out.split("|")
    if len(parts) != 3 or FAMILY not in parts[0] or not Path(parts[1]).is_file():
        return None  # fc-match falls back to any font: only a real CJK face will do
    try:
        index = int(parts[2])
    except ValueError:
        index = 0
    return FontFace(parts[1], index)


@functools.lru_cache(maxsize=1)
def cjk_fonts() -> CJKFonts:
    """The regular and bold CJK faces to write PDFs with; raises :class:`CJKFontMissing` when none exists."""
    configured = getattr(settings, "STEELYARD_PDF_CJK_FONT", "") or ""
    if configured:
        if not Path(configured).is_file():
            raise CJKFontMissing(str(ERR_NO_FONT))
        face = FontFace(configured, _collection_index(configured))
        return CJKFonts(face, face)
    regular = _fc_match("Regular")
    if regular is not None:
        return CJKFonts(regular, _fc_match("Bold") or regular)
    for reg, bold in KNOWN_FONTS:
        if Path(reg).is_file():
            face = FontFace(reg, _collection_index(reg))
            bold_face = FontFace(bold, _collection_index(bold)) if Path(bold).is_file() else face
            return CJKFonts(face, bold_face)
    raise CJKFontMissing(str(ERR_NO_FONT))


# --- rendering ---------------------------------------------------------------------------------------------


def _money(value: Any, currency: str) -> str:
    amount = Decimal(value or 0)
    symbol = CURRENCY_SYMBOLS.get((currency or "").upper(), f"{currency} ")
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount):,.2f}"


def _num(value: Any) -> str:
    return format(Decimal(value or 0).normalize(), "f")


def _pct(value: Any) -> str:
    return f"{_num(value)}%"


def _product_name(line: QuoteLine, english: bool) -> str:
    product = line.product
    if product is None:
        return line.description
    name = (product.name_en or product.name) if english else product.name
    if line.description and line.description != product.name:
        return f"{name}\n{line.description}"
    return name


def _company() -> str:
    return str(getattr(settings, "STEELYARD_COMPANY_NAME", "") or settings.STEELYARD_SITE_NAME)


def quote_pdf_filename(quote: Quote) -> str:
    return f"{quote.number}-R{quote.revision}.pdf"


def quote_pdf_render(quote: Quote, lines: list[QuoteLine] | None = None) -> bytes:
    """The quote as PDF bytes, in ``quote.language``. Raises :class:`CJKFontMissing` without a CJK font."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace as Style

    fonts = cjk_fonts()
    if lines is None:
        lines = list(quote.lines.select_related("product").order_by("order", "id"))
    language = quote.language if quote.language in ("zh-hans", "en") else "zh-hans"
    english = language == "en"
    with translation.override(language):
        company = _company()
        footer_text = _("Page %(page)s of %(pages)s")

        class QuotePDF(FPDF):
            def footer(self) -> None:  # noqa: D401 - fpdf2 hook
                self.set_y(-12)
                self.set_font("cjk", "", 8)
                self.set_text_color(120, 120, 120)
                label = footer_text % {"page": self.page_no(), "pages": "{nb}"}
                self.cell(0, 6, f"{company} · {quote.number}-R{quote.revision} · {label}", align="C")

        pdf = QuotePDF(orientation="P", unit="mm", format="A4")
        pdf.set_title(f"{_('Quotation')} {quote.number}-R{quote.revision}")
        pdf.set_author(company)
        pdf.set_creator("Steelyard")
        pdf.add_font("cjk", "", fonts.regular.path, collection_font_number=fonts.regular.index)
        pdf.add_font("cjk", "B", fonts.bold.path, collection_font_number=fonts.bold.index)
        pdf.set_auto_page_break(auto=True, margin=18)
        pdf.set_margins(15, 15, 15)
        pdf.add_page()
        width = pdf.w - pdf.l_margin - pdf.r_margin

        # Header: the company on the left, the document title on the right.
        pdf.set_font("cjk", "B", 16)
        pdf.cell(width * 0.6, 9, company)
        pdf.set_font("cjk", "B", 14)
        pdf.cell(width * 0.4, 9, _("Quotation"), align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(21, 41, 74)
        pdf.set_line_width(0.6)
        pdf.line(pdf.l_margin, pdf.get_y() + 1, pdf.l_margin + width, pdf.get_y() + 1)
        pdf.ln(4)

        # Customer and quote facts, two columns.
        created = timezone.localtime(quote.created_at).date() if quote.created_at else timezone.localdate()
        facts_left = [
            (_("Customer"), quote.customer.legal_name),
            (_("Opportunity"), quote.opportunity.name),
        ]
        facts_right = [
            (_("Quote no."), quote.number),
            (_("Revision"), str(quote.revision)),
            (_("Date"), created.isoformat()),
            (_("Valid until"), quote.valid_until.isoformat()),
            (_("Currency"), quote.currency),
        ]
        top = pdf.get_y()
        pdf.set_font("cjk", "", 10)
        for label, value in facts_left:
            pdf.set_font("cjk", "B", 10)
            pdf.cell(24, 6, label)
            pdf.set_font("cjk", "", 10)
            pdf.multi_cell(width * 0.58 - 24, 6, value, new_x="LMARGIN", new_y="NEXT")
        left_bottom = pdf.get_y()
        pdf.set_y(top)
        for label, value in facts_right:
            pdf.set_x(pdf.l_margin + width * 0.62)
            pdf.set_font("cjk", "B", 10)
            pdf.cell(26, 6, label)
            pdf.set_font("cjk", "", 10)
            pdf.cell(width * 0.38 - 26, 6, value, new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(max(left_bottom, pdf.get_y()) + 4)

        # Lines.
        headings = [
            _("No."),
            _("Product code"),
            _("Description"),
            _("Qty"),
            _("Unit"),
            _("List price"),
            _("Discount"),
            _("Net price"),
            _("Amount"),
        ]
        col_widths = (8, 25, 42, 11, 10, 24, 17, 24, 29)
        align = ("CENTER", "LEFT", "LEFT", "RIGHT", "CENTER", "RIGHT", "RIGHT", "RIGHT", "RIGHT")
        pdf.set_font("cjk", "", 8.5)
        pdf.set_draw_color(190, 190, 190)
        pdf.set_line_width(0.2)
        with pdf.table(
            col_widths=col_widths,
            width=width,
            text_align=align,
            line_height=5,
            padding=1,
            wrapmode="CHAR",
            headings_style=Style(emphasis="BOLD", fill_color=(232, 237, 245)),
            repeat_headings=1,
        ) as table:
            head = table.row()
            for h in headings:
                head.cell(h)
            for n, line in enumerate(lines, start=1):
                row = table.row()
                row.cell(str(n))
                row.cell(line.product.code if line.product_id and line.product else "")
                row.cell(_product_name(line, english))
                row.cell(_num(line.quantity))
                row.cell(line.unit or "")
                row.cell(_money(line.list_price, quote.currency))
                row.cell(_pct(line.discount_pct) if line.discount_pct else "—")
                row.cell(_money(line.net_price, quote.currency))
                row.cell(_money(line.amount, quote.currency))
        pdf.ln(3)

        # Totals, right-aligned.
        discount_amount = Decimal(quote.list_total) - Decimal(quote.net_total)
        totals = [
            (_("Total at list price"), _money(quote.list_total, quote.currency), False),
            (
                _("Discount (%(pct)s)") % {"pct": _pct(overall_discount(quote.list_total, quote.net_total))},
                _money(-discount_amount, quote.currency),
                False,
            ),
            (_("Total"), _money(quote.net_total, quote.currency), True),
        ]
        for label, value, strong in totals:
            pdf.set_x(pdf.l_margin + width - 100)
            pdf.set_font("cjk", "B" if strong else "", 11 if strong else 10)
            pdf.cell(60, 7, label, align="R")
            pdf.cell(40, 7, value, align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)

        # Terms and notes.
        terms = [
            (_("Payment terms"), _("%(days)s days after invoice") % {"days": quote.payment_terms_days}),
            (_("Delivery terms"), quote.delivery_terms or "—"),
        ]
        if quote.notes:
            terms.append((_("Notes"), quote.notes))
        for label, value in terms:
            pdf.set_font("cjk", "B", 10)
            pdf.cell(30, 6, label)
            pdf.set_font("cjk", "", 10)
            pdf.multi_cell(width - 30, 6, value, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        pdf.set_font("cjk", "", 8.5)
        pdf.set_text_color(90, 90, 90)
        pdf.multi_cell(
            width,
            5,
            _("This quotation is valid until %(date)s. Prices are in %(currency)s.")
            % {"date": quote.valid_until.isoformat(), "currency": quote.currency},
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_text_color(0, 0, 0)

        # Signature block: both sides.
        if pdf.get_y() > pdf.h - 60:
            pdf.add_page()
        pdf.ln(8)
        half = (width - 10) / 2
        top = pdf.get_y()
        for i, (who, name) in enumerate(
            ((_("For the supplier"), company), (_("For the customer"), quote.customer.legal_name))
        ):
            x = pdf.l_margin + i * (half + 10)
            pdf.set_xy(x, top)
            pdf.set_font("cjk", "B", 10)
            pdf.cell(half, 6, who, new_x="LEFT", new_y="NEXT")
            pdf.set_font("cjk", "", 9)
            pdf.multi_cell(half, 5, name, new_x="LEFT", new_y="NEXT")
            pdf.ln(10)
            y = pdf.get_y()
            pdf.line(x, y, x + half, y)
            pdf.set_font("cjk", "", 8.5)
            pdf.cell(half, 5, _("Signature and company seal"), new_x="LEFT", new_y="NEXT")
            pdf.ln(6)
            y = pdf.get_y()
            pdf.line(x, y, x + half * 0.6, y)
            pdf.cell(half, 5, _("Date"), new_x="LEFT", new_y="NEXT")
        return bytes(pdf.output())
