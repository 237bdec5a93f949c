"""crm.0002 sizes its backfill batches by time: each UPDATE aims at BATCH_SECONDS."""
from __future__ import annotations

import importlib

import pytest

backfill = importlib.import_module("crm.migrations.0002_organization_id")


@pytest.fixture(autouse=True)
def bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 0.2 s target between 10 and 10,000 rows, starting at 1,000."""
    monkeypatch.setattr(backfill, "BATCH_SIZE", 1000)
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
    """At 2,000 rows/s and no fixed cost, the batches shrink to the 400 rows that take 0.2 s."""
    sizer = backfill.BatchSizer()
    for _ in range(6):
        sizer.measured(sizer.size / 2000)
    assert sizer.size == 400


def test_a_fixed_cost_per_statement_does_not_shrink_the_batches() -> None:
    """0.19 s per statement before any row (a parent table hashed) plus 0.1 ms per row: the
    batches settle where the rows' own work takes 0.2 s (2,000 rows), not at the minimum."""
    sizer = backfill.BatchSizer()
    sizes = []
    for _ in range(12):
        sizer.measured(0.19 + sizer.size * 0.0001)
        sizes.append(sizer.size)
    assert sizes[-6:] == [2000] * 6


def test_a_time_that_does_not_grow_with_the_rows_grows_the_batches() -> None:
    assert backfill.next_batch_size(1000, 0.5, before=(2000, 0.5)) == 2000


def test_a_batch_cut_short_is_redone_half_the_size_never_below_the_minimum() -> None:
    """A statement cancelled by the timeout: the same range again, half the rows, down to
    BATCH_MIN (which runs unbounded); the sizing starts afresh."""
    sizer = backfill.BatchSizer()
    sizer.measured(0.2)
    sizes = []
    for _ in range(8):
        sizer.overran()
        sizes.append(sizer.size)
    assert sizes == [500, 250, 125, 62, 31, 15, 10, 10]
    assert sizer.before is None


def test_the_report_percentile_is_a_nearest_rank() -> None:
    """p99 of 100 statements is the 99th slowest; of 3, the slowest."""
    assert backfill.percentile([0.1] * 99 + [5.0], 0.99) == 0.1
    assert backfill.percentile([0.3, 0.1, 0.2], 0.99) == 0.3
    assert backfill.percentile([], 0.99) == 0.0
