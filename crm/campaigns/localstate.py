"""Campaigns' shared send state in a file instead of Redis, for one machine with no Redis (the
`bin/run` demo, CAMPAIGN_STATE_FILE set).

The same keys and answers as ratelimit's Redis script, kept in an SQLite file of their own:
every process of the machine (the web process, the worker's threads, beat) opens it, and each
call is one IMMEDIATE transaction, so a slot is handed out once, as Redis's single thread does.
The clock is the machine's (time.time), which every process of one machine shares.
"""
from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from django.conf import settings

_local = threading.local()
T = TypeVar("T")


def _db() -> sqlite3.Connection:
    """This thread's connection to the state file (created on first use)."""
    path = settings.CAMPAIGN_STATE_FILE
    if getattr(_local, "path", None) != path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS state "
                   "(key TEXT PRIMARY KEY, value TEXT, expires_ms REAL)")
        db.execute("CREATE INDEX IF NOT EXISTS state_expiry ON state (expires_ms)")
        _local.db, _local.path = db, path
    return _local.db


def _now_ms() -> float:
    return time.time() * 1000


class _Transaction:
    """Reads and writes of one call, under the file's write lock."""

    def __init__(self, db: sqlite3.Connection, now: float) -> None:
        self.db, self.now = db, now

    def get(self, key: str) -> str | None:
        found = self.db.execute("SELECT value FROM state WHERE key = ? AND (expires_ms IS NULL "
                                "OR expires_ms > ?)", (key, self.now)).fetchone()
        return found[0] if found else None

    def ttl_ms(self, key: str) -> float:
        found = self.db.execute("SELECT expires_ms FROM state WHERE key = ? AND expires_ms > ?",
                                (key, self.now)).fetchone()
        return found[0] - self.now if found else 0.0

    def set(self, key: str, value: object, ms: float | None) -> None:
        self.db.execute("INSERT OR REPLACE INTO state VALUES (?, ?, ?)",
                        (key, str(value), None if ms is None else self.now + ms))


def _run(work: Callable[[_Transaction], T]) -> T:
    db = _db()
    db.execute("BEGIN IMMEDIATE")
    try:
        result = work(_Transaction(db, _now_ms()))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result


def acquire(keys: list[str], args: list[float]) -> list[object]:
    """ratelimit's script, key for key: [outcome, wait_ms(, slot time)]."""
    following_key, stop_key, backoff_key, pair_key = keys
    interval, horizon, pair_ms = (float(arg) for arg in args)

    def work(state: _Transaction) -> list[object]:
        # Expired keys go here, as Redis drops them: pair keys are one per customer.
        state.db.execute("DELETE FROM state WHERE expires_ms <= ?", (state.now,))
        if state.get(stop_key) is not None:
            return [-1, 0]
        backoff = state.ttl_ms(backoff_key)
        if backoff > 0:
            return [1, math.ceil(backoff)]
        if state.get(pair_key) is not None:
            return [-2, 0]
        start = max(float(state.get(following_key) or state.now), state.now)
        wait = start - state.now
        if wait > horizon:
            return [1, math.ceil(wait - horizon)]
        state.set(following_key, f"{start + interval:.3f}", math.ceil(wait + interval) + 1000)
        state.set(pair_key, 1, pair_ms)
        return [0, math.ceil(wait), f"{start:.3f}"]

    return _run(work)


def set_for(key: str, ms: float | None) -> None:
    """Set `key` for `ms` milliseconds (None: until deleted)."""
    _run(lambda state: state.set(key, 1, ms))


def delete(key: str) -> None:
    _run(lambda state: state.db.execute("DELETE FROM state WHERE key = ?", (key,)))


def exists(key: str) -> bool:
    return _run(lambda state: state.get(key) is not None)
