"""Every menu entry and record section registered by a module has a Chinese label (zh-hans is the default)."""

from __future__ import annotations

from django.utils import translation

from steelyard.core.registry import registry


def _labels():
    for item in registry.menu.values():
        yield item.key, item.label
    for record_type, sections in registry.sections.items():
        for section in sections.values():
            yield f"{record_type}:{section.key}", section.label


def test_it_translates_every_registered_label():
    untranslated = []
    for key, label in _labels():
        with translation.override("en"):
            english = str(label)
        with translation.override("zh-hans"):
            chinese = str(label)
        if english == chinese:
            untranslated.append(f"{key}: {english}")
    assert untranslated == []
