"""Language-tagged strings, as DTDL's ``displayName``, ``description`` and ``comment`` use."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

__all__ = ["DEFAULT_LANGUAGE", "LangString"]

DEFAULT_LANGUAGE = "en"
"""The language a plain string is taken to be in (DTDL's own default)."""


class LangString(Mapping[str, str]):
    """An immutable, hashable map from language code to text.

    ``LangString("Pump")`` is ``{"en": "Pump"}``; ``LangString({"en": "Pump", "de": "Pumpe"})``
    keeps both. ``str()`` gives the English text, or the first one when there is none.
    """

    __slots__ = ("_items",)
    _items: tuple[tuple[str, str], ...]

    def __init__(self, value: str | Mapping[str, str] | None = None) -> None:
        if value is None:
            items: tuple[tuple[str, str], ...] = ()
        elif isinstance(value, str):
            items = ((DEFAULT_LANGUAGE, value),)
        else:
            items = tuple(sorted(value.items()))
        object.__setattr__(self, "_items", items)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("LangString is immutable")

    def __getitem__(self, language: str) -> str:
        for lang, text in self._items:
            if lang == language:
                return text
        raise KeyError(language)

    def __iter__(self) -> Iterator[str]:
        return (lang for lang, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LangString):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other)
        return NotImplemented

    def __bool__(self) -> bool:
        return bool(self._items)

    def __str__(self) -> str:
        if not self._items:
            return ""
        return self.get(DEFAULT_LANGUAGE, self._items[0][1])

    def __repr__(self) -> str:
        return f"LangString({dict(self._items)!r})"

    def to_json(self) -> str | dict[str, str]:
        """The DTDL form: a plain string when only the default language is present."""
        if len(self._items) == 1 and self._items[0][0] == DEFAULT_LANGUAGE:
            return self._items[0][1]
        return dict(self._items)


EMPTY = LangString()
