"""The API's JSON: refused when nested too deeply or holding what PostgreSQL cannot store."""
from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from crm.storable import PROBLEM, unstorable


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, plus two refusals that would otherwise be 500s: a body nested past
    Python's recursion limit, and a NUL, lone surrogate or `1e400` anywhere (named by path)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply: flatten the body.") from None
        where = unstorable(data)
        if where is not None:
            raise ParseError(f"{where}: {PROBLEM}.")
        return data
