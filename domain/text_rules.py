"""What text and numbers a request may carry, wherever they come from (JSON bodies, form fields).

Stored text must be valid Unicode without NUL: a lone UTF-16 surrogate (``"\\ud800"`` in JSON) can
be stored but never encoded again, and PostgreSQL refuses NUL in text. JSON numbers must be
finite (``NaN``, ``Infinity`` and ``1e999`` are not numbers a job can use) and JSON must nest at
most ``MAX_JSON_DEPTH`` levels. Integer form fields are ASCII decimals within bounds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from domain.errors import InvalidRequest, Location, dotted

MAX_JSON_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")
_ASCII_DECIMAL = re.compile(r"[0-9]{1,18}")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    if "\x00" in value:
        return "contains a NUL character"
    found = _SURROGATE.search(value)
    if found:
        return f"contains a lone UTF-16 surrogate (U+{ord(found.group()):04X}), which is not valid Unicode"
    return None


def check_text(value: str, location: Location) -> str:
    """``value`` if it is storable text; ``InvalidRequest`` naming ``location`` otherwise."""
    problem = text_problem(value)
    if problem is not None:
        raise _refuse(location, f"{problem}; send valid UTF-8 text")
    return value


def check_json_value(value: Any) -> None:
    """Refuse a parsed JSON document with bad text (keys too), non-finite numbers or deep nesting."""
    for location, item, depth in _walk(value):
        if depth > MAX_JSON_DEPTH:
            raise _refuse(location, f"the JSON nests more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(item, str):
            check_text(item, location)
        elif isinstance(item, float) and not math.isfinite(item):
            raise _refuse(location, f"{item} is not a finite number")


def parse_ascii_int(raw: str, location: Location, *, low: int, high: int) -> int:
    """An integer written as ASCII decimal digits within ``[low, high]``; ``InvalidRequest`` otherwise."""
    text = raw.strip()
    if not text:
        raise _refuse(location, "field required")
    if not _ASCII_DECIMAL.fullmatch(text) or not low <= int(text) <= high:
        raise _refuse(location, f"must be a whole number from {low} to {high} written in digits 0-9, got {text!r}")
    return int(text)


def _walk(value: Any) -> Iterator[tuple[Location, Any, int]]:
    """Every (location, item, depth) of a JSON document, keys as items of their own; no recursion."""
    stack: list[tuple[Location, Any, int]] = [((), value, 0)]
    while stack:
        location, item, depth = stack.pop()
        yield location, item, depth
        if isinstance(item, dict):
            for key, child in item.items():
                key_text = str(key)
                yield (*location, printable(key_text)), key_text, depth + 1
                stack.append(((*location, printable(key_text)), child, depth + 1))
        elif isinstance(item, list):
            stack.extend(((*location, index), child, depth + 1) for index, child in enumerate(item))


def printable(key: str) -> str:
    """A key as it can be named in an error (its bad characters replaced)."""
    return _SURROGATE.sub("\ufffd", key).replace("\x00", "\ufffd")


def _refuse(location: Location, message: str) -> InvalidRequest:
    field = dotted(location)
    return InvalidRequest(f"{field}: {message}" if field else message, location=location)
