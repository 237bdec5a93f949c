"""Campaigns' send state in a file (CAMPAIGN_STATE_FILE, the bin/run demo without Redis): the
same answers as the Redis script: paced slots, the pair limit, stop flags and back-offs."""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from crm.campaigns import ratelimit


@pytest.fixture
def state_file(settings: Any, tmp_path: Path) -> Path:
    settings.CAMPAIGN_STATE_FILE = str(tmp_path / "state" / "campaigns.sqlite3")
    return Path(settings.CAMPAIGN_STATE_FILE)


def test_slots_are_paced_and_a_customer_is_pair_limited(state_file: Path) -> None:
    number, job = uuid.uuid4(), uuid.uuid4()
    slots = [ratelimit.acquire(number, 20, job, f"9190000000{i}") for i in range(3)]
    assert all(slot.granted for slot in slots)
    interval = django_settings.CAMPAIGN_RATE_WINDOW_MS / 20
    times = [slot.at for slot in slots]
    assert [round(b - a, 3) for a, b in zip(times, times[1:])] == [interval, interval]
    again = ratelimit.acquire(number, 20, job, "91900000000")
    assert again.pair_limited and not again.granted
    other_number = ratelimit.acquire(uuid.uuid4(), 20, job, "91900000000")
    assert other_number.granted  # the pair limit is per sending number
    assert state_file.exists()


def test_a_stopped_job_gets_no_slot_until_cleared(state_file: Path) -> None:
    number, job = uuid.uuid4(), uuid.uuid4()
    ratelimit.set_stopped(job, True)
    assert ratelimit.is_stopped(job)
    assert ratelimit.acquire(number, 20, job, "919100000001").stopped
    ratelimit.set_stopped(job, False)
    assert not ratelimit.is_stopped(job)
    assert ratelimit.acquire(number, 20, job, "919100000001").granted


def test_a_number_backing_off_gives_no_slot_before_the_deadline(state_file: Path) -> None:
    number, job = uuid.uuid4(), uuid.uuid4()
    ratelimit.back_off(number, 30)
    slot = ratelimit.acquire(number, 20, job, "919200000001", deadline=time.monotonic() + 1)
    assert not slot.granted and not slot.stopped
    assert ratelimit.acquire(uuid.uuid4(), 20, job, "919200000001").granted
