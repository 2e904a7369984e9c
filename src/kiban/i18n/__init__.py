"""Translations for kiban's user-facing text (English and Japanese) and locale number formats.

Every label, heading and sentence a report shows lives in one catalog per language
(``en.toml``, ``ja.toml`` in this package), under the same keys. Code asks for text by key:

    >>> tr = translator("ja")
    >>> tr.t("metric.pue")
    'PUE'

Numbers are formatted for the language by the helpers in :mod:`kiban.i18n.numbers`
(thousands separators, 円 with 万/億 for yen in Japanese, localized time units).
"""

from __future__ import annotations

from kiban.i18n.catalog import LANGS, Translator, catalog_keys, check_lang, translator
from kiban.i18n.numbers import (
    format_count,
    format_duration_s,
    format_energy_kwh,
    format_gpu_hours,
    format_jpy,
    format_mass_kg,
    format_number,
    format_percent,
    format_power_w,
    format_temp_c,
)

__all__ = [
    "LANGS",
    "Translator",
    "catalog_keys",
    "check_lang",
    "format_count",
    "format_duration_s",
    "format_energy_kwh",
    "format_gpu_hours",
    "format_jpy",
    "format_mass_kg",
    "format_number",
    "format_percent",
    "format_power_w",
    "format_temp_c",
    "translator",
]
