"""What PostgreSQL refuses to store: NUL and lone surrogates in text, non-finite JSON numbers.

A NUL (`\\u0000`) is refused in `text` and `jsonb`, a lone surrogate (`\\ud800`) cannot be
encoded as UTF-8, and `Infinity` is no JSON number: each fails at the database, after every
check, as a 500. Where input enters (the API's JSON parser, the admin's and the API's JSON
fields, the webhook) it is refused first, naming where it was found.
"""
from __future__ import annotations

import math
from typing import Any

PROBLEM = ("holds a NUL character, a lone surrogate or a number out of range, which cannot be "
           "stored: remove it")


def _bad_text(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unstorable(value: Any, where: str = "") -> str | None:
    """The JSON path (`content.text.body`, `items[2]`) of the first part of `value` PostgreSQL
    refuses, "$" for `value` itself; None when all of it can be stored."""
    if isinstance(value, str):
        return (where or "$") if _bad_text(value) else None
    if isinstance(value, float):
        return None if math.isfinite(value) else (where or "$")
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and _bad_text(key):
                return where or "$"  # the key itself is the problem: name its parent
            found = unstorable(item, path)
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = unstorable(item, f"{where}[{index}]")
            if found:
                return found
    return None
