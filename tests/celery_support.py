"""Celery fixtures: eager mode, and real workers on the local RabbitMQ on a queue of their own."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from crm.shared_state import connection as redis_connection
from crm.shared_state import key
from crm.celery import app, intake_queue

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def eager() -> Iterator[None]:
    """Run tasks in the calling process (Celery's eager mode)."""
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False


@pytest.fixture
def redis_keys() -> Iterator[None]:
    """Drop this test's Redis keys afterwards."""
    yield
    client = redis_connection()
    for name in client.scan_iter(f"{settings.CAMPAIGN_REDIS_PREFIX}:*", count=1000):
        client.delete(name)


class Workers:
    """Real `celery -A crm worker` processes on queues of their own (CELERY_TASK_DEFAULT_QUEUE
    and its intake queue), on the test database."""

    def __init__(self, queue: str, env: dict[str, str]) -> None:
        self.queue = queue
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *, concurrency: int = 2, **env: str) -> subprocess.Popen[bytes]:
        """Start a worker; returns once it consumes from the queue."""
        name = f"w{len(self.processes)}-{self.queue}"
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "crm", "worker",
                "-P", "threads", "-c", str(concurrency), "-n", f"{name}@%h", "-l", "warning",
                "-I", "tests.celery_probe", "--without-heartbeat", "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT, env={**self.env, **env},
        )
        self.processes.append(process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            hostname = f"{name}@{os.uname().nodename}"
            if app.control.ping(destination=[hostname], timeout=0.5):
                return process
            assert process.poll() is None, "the Celery worker exited at start: see its stderr"
        raise AssertionError("the Celery worker did not answer a ping within 30 s")

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL: no shutdown, no acknowledgement of the task in hand."""
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    self.kill(process)


@pytest.fixture
def workers(transactional_db: None) -> Iterator[Workers]:
    """Start real workers with `workers.start()`; tasks sent by the test go to their queue."""
    queue = f"test-{uuid.uuid4().hex[:10]}"
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:"
        f"{database['PORT'] or 5432}/{database['NAME']}",
        "CAMPAIGN_REDIS_PREFIX": settings.CAMPAIGN_REDIS_PREFIX,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "CONN_MAX_AGE": "0",
        "WBCRM_TEST_WORKER": "1",  # tests.celery_probe records the pacer's slots
    }
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    handle = Workers(queue, env)
    try:
        yield handle
    finally:
        handle.stop_all()
        app.conf.task_default_queue = previous
        with app.connection_for_write() as conn:
            for name in (queue, intake_queue(queue)):
                conn.default_channel.queue_delete(name)


def wait_for(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"still waiting after {timeout} s for {check.__doc__ or check}")


def probe_reports(name: str) -> list[str]:
    """What the probe tasks reported under `name`, in order."""
    return [item.decode() for item in redis_connection().lrange(key("probe", name), 0, -1)]
