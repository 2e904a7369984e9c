"""Load the per-language message catalogs and look messages up by key."""

from __future__ import annotations

import functools
import string
import tomllib
from importlib import resources
from typing import Any

from kiban.errors import ConfigError, SchemaError

LANGS: tuple[str, ...] = ("en", "ja")
"""Languages with a complete catalog. English is the reference catalog."""


def check_lang(lang: str) -> str:
    """Return ``lang`` if kiban has a catalog for it.

    Raises:
        ConfigError: naming the value and the languages that exist.
    """
    if lang not in LANGS:
        msg = f"--lang = {lang!r} is not a supported language; use one of: {', '.join(LANGS)}"
        raise ConfigError(msg)
    return lang


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, str):
            flat[name] = value
        else:
            msg = f"i18n catalog: {name} = {value!r} must be a string or a table"
            raise SchemaError(msg)
    return flat


@functools.cache
def _load(lang: str) -> dict[str, str]:
    text = resources.files("kiban.i18n").joinpath(f"{lang}.toml").read_text(encoding="utf-8")
    return _flatten(tomllib.loads(text))


def catalog_keys(lang: str) -> frozenset[str]:
    """Every message key in one language's catalog (tests compare the languages)."""
    return frozenset(_load(check_lang(lang)))


def placeholders(message: str) -> frozenset[str]:
    """The ``{name}`` fields a message expects."""
    return frozenset(f for _, f, _, _ in string.Formatter().parse(message) if f)


class Translator:
    """Looks messages up in one language's catalog and fills their ``{placeholders}``.

    Args:
        lang: a language code from :data:`LANGS`.
    """

    def __init__(self, lang: str) -> None:
        self.lang = check_lang(lang)
        self._messages = _load(lang)

    def t(self, key: str, **fields: object) -> str:
        """Return the message for ``key`` with ``fields`` filled in.

        Raises:
            SchemaError: if the key is missing from the catalog, or a field is not given
                (both are programming errors that the catalog tests catch).
        """
        try:
            message = self._messages[key]
        except KeyError:
            msg = f"i18n catalog {self.lang}.toml has no key {key!r}"
            raise SchemaError(msg) from None
        if not fields:
            return message
        try:
            return message.format(**fields)
        except KeyError as err:
            msg = f"i18n catalog {self.lang}.toml: {key} needs field {err.args[0]!r}"
            raise SchemaError(msg) from None

    def has(self, key: str) -> bool:
        """Whether the catalog holds ``key``."""
        return key in self._messages


@functools.cache
def translator(lang: str) -> Translator:
    """Return the (cached) :class:`Translator` for ``lang``."""
    return Translator(lang)
