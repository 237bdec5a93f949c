"""Tasks that report what they see, for the tenant propagation tests (eager and real workers);
in real workers, what the pacer hands out and how each sending chunk ends, for the sending tests."""
from __future__ import annotations

import json
import os
from typing import Any

from celery import shared_task
from celery.signals import task_postrun

from crm.campaigns import ratelimit
from crm.shared_state import connection, key
from crm.models import Customer
from tenancy.context import get_current_organization_id, unscoped
from tenancy.exceptions import TenantNotSetError


def _report(name: str, seen: dict) -> None:
    connection().rpush(key("probe", name), json.dumps(seen))


@shared_task(bind=True, max_retries=2, default_retry_delay=0)
def report_organization(self, name: str, retries: int = 0) -> None:
    """Report the active organization and what a tenant query does; retry `retries` times."""
    try:
        seen: dict = {"count": Customer.objects.count()}
    except TenantNotSetError:
        seen = {"count": "TenantNotSetError"}
    seen["organization"] = str(get_current_organization_id() or "")
    seen["attempt"] = self.request.retries
    _report(name, seen)
    if self.request.retries < retries:
        raise self.retry()


@shared_task
def report_database_session(name: str) -> None:
    """Report the PostgreSQL session (backend pid) the task ran its query on."""
    from django.db import connection as database

    with database.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        _report(name, {"pid": cursor.fetchone()[0]})


@shared_task
def count_every_organization(name: str) -> None:
    """A declared cross-organization task."""
    with unscoped():  # reports across organizations, as a platform-wide job does
        _report(name, {"count": Customer.objects.count()})


@shared_task
def fail_in_organization() -> None:
    """Fails while an organization is active: the organization must still be reset after it."""
    raise RuntimeError(f"failing as {get_current_organization_id()}")


def slots_key(number_id: object) -> str:
    """The Redis list of the send times (ms, Redis's clock) the pacer granted for a number."""
    return key("probe", "slots", number_id)


def chunks_key(job_id: object) -> str:
    """The Redis list of how each sending chunk of a job ended (ChunkEnd values)."""
    return key("probe", "chunks", job_id)


_acquire = ratelimit.acquire


def _recording_acquire(number_id: object, *args: Any, **kwargs: Any) -> ratelimit.Slot:
    """The pacer's own acquire; a granted slot's time is recorded before the send."""
    slot = _acquire(number_id, *args, **kwargs)
    if slot.granted:
        connection().rpush(slots_key(number_id), repr(slot.at))
    return slot


def _chunk_ended(task: Any, args: tuple[Any, ...], retval: Any, **_: Any) -> None:
    if task.name == "crm.campaigns.tasks.send_chunk":
        connection().rpush(chunks_key(args[0]), str(retval))


# Only the real workers tests start (tests.celery_support sets the flag): the test process
# itself, which imports this module too, sends without recording.
if os.environ.get("WBCRM_TEST_WORKER"):
    ratelimit.acquire = _recording_acquire
    task_postrun.connect(_chunk_ended, weak=False)
