"""crm.0002 sizes its backfill batches by time: each UPDATE aims at BATCH_SECONDS."""
from __future__ import annotations

import importlib

import pytest

backfill = importlib.import_module("crm.migrations.0002_organization_id")


@pytest.fixture(autouse=True)
def bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 0.2 s target between 10 and 10,000 rows."""
    monkeypatch.setattr(backfill, "BATCH_SECONDS", 0.2)
    monkeypatch.setattr(backfill, "BATCH_MIN", 10)
    monkeypatch.setattr(backfill, "BATCH_MAX", 10_000)


@pytest.mark.parametrize(("size", "seconds", "expected"), [
    (1000, 0.2, 1000),    # on target: unchanged
    (1000, 0.25, 800),    # a little slow: proportionally smaller
    (1000, 0.16, 1250),   # a little fast: proportionally larger
    (5000, 2.97, 2500),   # the slow disk of the issue: halved at once, then again
    (1000, 0.001, 2000),  # far too fast: at most doubled per batch
    (1000, 0.0, 2000),    # too fast to measure: doubled
    (8000, 0.01, 10_000),  # never above BATCH_MAX
    (15, 10.0, 10),       # never below BATCH_MIN
])
def test_next_batch_size_follows_the_measured_rate(size: int, seconds: float,
                                                   expected: int) -> None:
    """The next size is the one the measured rate says takes 0.2 s, within half and double."""
    assert backfill.next_batch_size(size, seconds) == expected


def test_a_slow_table_converges_on_the_target() -> None:
    """At 2,000 rows/s (5,000 rows: 2.5 s), the batches shrink to the 400 that take 0.2 s."""
    size = 5000
    for _ in range(6):
        size = backfill.next_batch_size(size, size / 2000)
    assert size == 400
