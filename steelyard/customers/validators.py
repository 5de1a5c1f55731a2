"""The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters with a check character."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

ERR_CREDIT_CODE_LENGTH = _("A unified social credit code has 18 characters.")
ERR_CREDIT_CODE_CHARS = _(
    "A unified social credit code uses digits and capital letters except I, O, Z, S and V."
)
ERR_CREDIT_CODE_CHECK = _("This unified social credit code fails its check digit; please check it for typos.")


def credit_code_check_char(first17: str) -> str:
    total = sum(CHARSET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def normalize_credit_code(value: str) -> str:
    return (value or "").strip().upper().replace(" ", "")


def validate_credit_code(value: str) -> None:
    code = normalize_credit_code(value)
    if len(code) != 18:
        raise ValidationError(ERR_CREDIT_CODE_LENGTH, code="length")
    if any(c not in CHARSET for c in code):
        raise ValidationError(ERR_CREDIT_CODE_CHARS, code="chars")
    if credit_code_check_char(code[:17]) != code[17]:
        raise ValidationError(ERR_CREDIT_CODE_CHECK, code="check")
