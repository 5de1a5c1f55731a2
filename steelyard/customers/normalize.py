"""Normalised forms used for duplicate detection and search (name keys, phone keys, pinyin)."""

from __future__ import annotations

import re
import unicodedata

from pypinyin import Style, lazy_pinyin

# Legal-form words that do not distinguish one company from another.
_SUFFIXES = (
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "集团公司",
    "股份公司",
    "公司",
    "co., ltd.",
    "co.,ltd.",
    "co. ltd",
    "company limited",
    "limited",
    "ltd.",
    "ltd",
    "inc.",
    "inc",
    "corporation",
    "corp.",
    "corp",
    "group",
)
_PUNCT = re.compile(r"[\s\(\)（）\[\]【】·.,，、\-_/&'\"]+")


def name_key(name: str) -> str:
    """'上海振华重工（集团）股份有限公司' and '上海振华重工(集团)股份公司' share one key."""
    s = unicodedata.normalize("NFKC", name or "").strip().lower()
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if s.endswith(suffix) and len(s) > len(suffix):
                s = s[: -len(suffix)].rstrip()
                changed = True
    return _PUNCT.sub("", s)


def phone_key(phone: str) -> str:
    """Digits only, without a leading +86 / 0086 country code."""
    digits = re.sub(r"\D", "", phone or "")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 11:
            digits = digits[len(prefix) :]
            break
    return digits[-20:]


def pinyin_of(name: str) -> tuple[str, str]:
    """(full pinyin without spaces, initials) of a Chinese name, lower case: ('shanghaizhenhua', 'shzh')."""
    text = unicodedata.normalize("NFKC", name or "")
    full = "".join(lazy_pinyin(text, errors="ignore")).lower()
    initials = "".join(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="ignore")).lower()
    return full[:400], initials[:80]
