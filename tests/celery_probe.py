"""Tasks that report what they see, for the tenant propagation tests (eager and real workers)."""
from __future__ import annotations

import json

from celery import shared_task

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
def count_every_organization(name: str) -> None:
    """A declared cross-organization task."""
    with unscoped():  # reports across organizations, as a platform-wide job does
        _report(name, {"count": Customer.objects.count()})


@shared_task
def fail_in_organization() -> None:
    """Fails while an organization is active: the organization must still be reset after it."""
    raise RuntimeError(f"failing as {get_current_organization_id()}")
