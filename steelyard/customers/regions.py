"""China's 34 provincial-level divisions (省级行政区), the values of ``Customer.province`` and territory criteria.

Stored values are the short Chinese names ("广东", "上海"); the English label is translatable.
Other modules import ``PROVINCES`` / ``PROVINCE_CHOICES`` rather than keeping their own lists.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# (stored value, label): 23 provinces, 5 autonomous regions, 4 municipalities, 2 SARs.
PROVINCE_CHOICES: list[tuple[str, object]] = [
    ("北京", _("Beijing")),
    ("天津", _("Tianjin")),
    ("河北", _("Hebei")),
    ("山西", _("Shanxi")),
    ("内蒙古", _("Inner Mongolia")),
    ("辽宁", _("Liaoning")),
    ("吉林", _("Jilin")),
    ("黑龙江", _("Heilongjiang")),
    ("上海", _("Shanghai")),
    ("江苏", _("Jiangsu")),
    ("浙江", _("Zhejiang")),
    ("安徽", _("Anhui")),
    ("福建", _("Fujian")),
    ("江西", _("Jiangxi")),
    ("山东", _("Shandong")),
    ("河南", _("Henan")),
    ("湖北", _("Hubei")),
    ("湖南", _("Hunan")),
    ("广东", _("Guangdong")),
    ("广西", _("Guangxi")),
    ("海南", _("Hainan")),
    ("重庆", _("Chongqing")),
    ("四川", _("Sichuan")),
    ("贵州", _("Guizhou")),
    ("云南", _("Yunnan")),
    ("西藏", _("Tibet")),
    ("陕西", _("Shaanxi")),
    ("甘肃", _("Gansu")),
    ("青海", _("Qinghai")),
    ("宁夏", _("Ningxia")),
    ("新疆", _("Xinjiang")),
    ("台湾", _("Taiwan")),
    ("香港", _("Hong Kong")),
    ("澳门", _("Macao")),
]

PROVINCES: tuple[str, ...] = tuple(code for code, _label in PROVINCE_CHOICES)


def province_label(value: str) -> str:
    """The display label of a stored province value (the value itself when unknown)."""
    return str(dict(PROVINCE_CHOICES).get(value, value))


_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市")


def province_key(value: str) -> str:
    """The stored short form of a province name: "广东省" → "广东", "广西壮族自治区" → "广西"."""
    value = (value or "").strip()
    for suffix in _SUFFIXES:
        if value.endswith(suffix) and len(value) > len(suffix):
            return value[: -len(suffix)]
    return value
