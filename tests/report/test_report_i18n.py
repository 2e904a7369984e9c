"""The translation catalogs and the locale number formats."""

from __future__ import annotations

import pytest

from kiban.errors import ConfigError, SchemaError
from kiban.i18n import (
    LANGS,
    catalog_keys,
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
    translator,
)
from kiban.i18n.catalog import placeholders
from kiban.report._scales import auto_linear_axis, nice_ticks

NBSP = "\u00a0"


def test_every_key_exists_in_every_language():
    reference = catalog_keys("en")
    for lang in LANGS:
        keys = catalog_keys(lang)
        assert keys == reference, (
            f"{lang}.toml differs from en.toml: missing {sorted(reference - keys)}, "
            f"extra {sorted(keys - reference)}"
        )


def test_placeholders_match_across_languages():
    en = translator("en")
    for lang in LANGS:
        tr = translator(lang)
        for key in catalog_keys("en"):
            assert placeholders(tr.t(key)) == placeholders(en.t(key)), f"{lang}: {key}"


def test_japanese_catalog_uses_the_engineering_terms():
    ja = " ".join(translator("ja").t(k) for k in catalog_keys("ja"))
    for term in ("稼働率", "消費電力", "冷却", "PUE", "サーマルスロットリング",
                 "ジョブスケジューリング", "電力コスト"):  # fmt: skip
        assert term in ja, term


def test_unknown_language_and_key_are_clear_errors():
    with pytest.raises(ConfigError, match=r"'fr' is not a supported language; use one of: en, ja"):
        translator("fr")
    with pytest.raises(SchemaError, match=r"no key 'nope\.nothing'"):
        translator("en").t("nope.nothing")
    with pytest.raises(SchemaError, match="needs field 'pct'"):
        translator("en").t("reading.waterfall", bucket="x")


@pytest.mark.parametrize(
    ("amount", "ja", "en"),
    [
        (999.0, "999円", "¥999"),
        (45_600.0, "4.56万円", "¥45,600"),
        (12_345_678.0, "1,235万円", "¥12.3M"),
        (123_456_789.0, "1.23億円", "¥123M"),
        (4_560_000_000.0, "45.6億円", "¥4.56B"),
        (None, "—", "—"),
    ],
)
def test_yen_uses_man_and_oku_in_japanese(amount, ja, en):
    assert format_jpy(amount, "ja") == ja
    assert format_jpy(amount, "en") == en


def test_numbers_group_thousands_in_both_languages():
    assert format_number(1234567.8, "ja") == "1,234,568"
    assert format_number(1234567.8, "en") == "1,234,568"
    assert format_count(82247.0, "ja") == "82,247"
    assert format_number(float("nan")) == "—"
    assert format_number(-0.0001) == "0.000"
    assert format_percent(0.3123, "ja") == "31.2%"
    assert format_percent(0.0001, "ja") == "<0.1%"
    assert format_percent(0.0, "en") == "0.0%"


def test_units_are_localized():
    assert format_duration_s(5400.0, "ja") == "1.50時間"
    assert format_duration_s(5400.0, "en") == f"1.50{NBSP}h"
    assert format_duration_s(90.0, "ja") == "1.50分"
    assert format_duration_s(3 * 86400.0, "ja") == "3.00日"
    assert format_duration_s(12.0, "ja") == "12.0秒"
    assert format_duration_s(36000.0, "en", decimals=0) == f"10{NBSP}h"
    assert format_gpu_hours(12345.6, "ja") == f"12,346{NBSP}GPU時間"
    assert format_energy_kwh(123_456.0, "ja") == f"123{NBSP}MWh"
    assert format_energy_kwh(4.2e6, "en") == f"4.20{NBSP}GWh"
    assert format_power_w(72_900.0) == f"72.9{NBSP}kW"
    assert format_mass_kg(4567.0) == f"4.57{NBSP}t"
    assert format_mass_kg(456.0) == f"456{NBSP}kg"
    assert format_temp_c(27.04) == f"27.0{NBSP}°C"


def test_tick_labels_keep_the_digits_the_step_needs():
    assert nice_ticks(0.6, 1.8) == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    _, ticks = auto_linear_axis(0.6, 1.8, "ja")
    assert [label for _, label in ticks] == ["0.50", "0.75", "1.00", "1.25", "1.50", "1.75", "2.00"]
    _, ticks = auto_linear_axis(0.0, 3072.0, "en")
    assert [label for _, label in ticks] == ["0", "1,000", "2,000", "3,000", "4,000"]
