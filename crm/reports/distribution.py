"""Percentiles from counts of whole seconds, equal to PostgreSQL's `percentile_cont` over the
values the counts stand for (crm.0043: response_time_counts)."""
from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(counts: list[tuple[int, int]], fraction: float) -> float | None:
    """`percentile_cont(fraction)` of the values; `counts` is (value, how many), by value."""
    total = sum(many for _, many in counts)
    if not total:
        return None
    # As PostgreSQL (orderedsetaggs.c): interpolate between the two rows around the position.
    position = fraction * (total - 1)
    first, second = math.floor(position), math.ceil(position)
    low, high = float(_value_at(counts, first)), float(_value_at(counts, second))
    return low + (position - first) * (high - low)


def _value_at(counts: list[tuple[int, int]], row: int) -> int:
    """The value of the `row`-th (from 0) of the values in order."""
    seen = 0
    for value, many in counts:
        seen += many
        if row < seen:
            return value
    raise IndexError(row)


def merged(groups: Iterable[list[tuple[int, int]]]) -> list[tuple[int, int]]:
    """One distribution of several, by value."""
    total: dict[int, int] = {}
    for counts in groups:
        for value, many in counts:
            total[value] = total.get(value, 0) + many
    return sorted(total.items())
