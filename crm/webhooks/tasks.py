"""Celery entry points of the webhook: workers store accepted deliveries (see deliveries)."""
from __future__ import annotations

import logging
import os
import threading
import time

from celery import shared_task
from django.conf import settings

from crm.webhooks import deliveries

logger = logging.getLogger("crm.webhooks")


@shared_task(name="crm.webhooks.tasks.process_deliveries")
def process_deliveries() -> int:
    """Store waiting deliveries until none is left (also beat's sweep); how many finished."""
    return deliveries.process_pending()


class _Nudger:
    """Wakes a worker after deliveries were accepted, from a thread of its own.

    The request never waits on RabbitMQ (a broker that is down or slow delays nothing: beat's
    sweep takes the deliveries), and a burst of requests sends one task per
    WEBHOOK_NUDGE_SECONDS per process, each of which drains everything waiting.
    """

    def __init__(self) -> None:
        self.wanted = threading.Event()
        self.pid = 0
        self.lock = threading.Lock()

    def __call__(self) -> None:
        if self.pid != os.getpid():  # first call in this process (gunicorn forks after import)
            with self.lock:
                if self.pid != os.getpid():
                    self.wanted = threading.Event()
                    threading.Thread(target=self._run, daemon=True, name="webhook-nudge").start()
                    self.pid = os.getpid()
        self.wanted.set()

    def _run(self) -> None:
        while True:
            self.wanted.wait()
            self.wanted.clear()
            try:
                process_deliveries.apply_async(retry=False)
            except Exception as error:  # noqa: BLE001  (beat's sweep takes the deliveries)
                logger.warning("WhatsApp webhook: no worker woken (%s); beat will sweep", error)
            time.sleep(settings.WEBHOOK_NUDGE_SECONDS)


_nudge = _Nudger()


def after_accept() -> None:
    """Have the accepted deliveries processed: now in this process (tests, a demo without a
    broker), else by a worker."""
    if settings.WEBHOOK_PROCESS_INLINE or process_deliveries.app.conf.task_always_eager:
        deliveries.process_pending()
    else:
        _nudge()
