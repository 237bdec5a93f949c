"""Celery tasks that run as the organization that queued them.

The organization active when a task is queued travels in a message header; the task body runs
with exactly that organization active and resets it afterwards (success, failure, retry, eager).
A task queued with no organization runs with none, so its tenant queries raise: a task that must
cross organizations says so with `unscoped()` inside its body, with a comment saying why.
"""
from __future__ import annotations

from typing import Any

from celery import Task
from celery.signals import before_task_publish

from tenancy.context import get_current_organization_id, no_organization, tenant_context

ORGANIZATION_HEADER = "tenancy_organization_id"


def _current_header() -> dict[str, str]:
    """The header naming the active organization, or nothing when none is active."""
    organization_id = get_current_organization_id()
    return {ORGANIZATION_HEADER: str(organization_id)} if organization_id else {}


@before_task_publish.connect
def _stamp_organization(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Stamp messages sent without TenantTask.apply_async (send_task, beat) too."""
    if headers is not None and ORGANIZATION_HEADER not in headers:
        headers.update(_current_header())


class TenantTask(Task):
    """Base task: activates the queuing organization around the body, none when there was none."""

    abstract = True

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        # Set here as well as at publish time: eager tasks are never published.
        options["headers"] = {**_current_header(), **(options.get("headers") or {})}
        return super().apply_async(args, kwargs, **options)

    def queued_organization_id(self) -> str | None:
        """The organization id the running task was queued under (header), if any."""
        request = self.request
        # Worker requests carry custom headers as attributes; eager ones keep them in .headers.
        return getattr(request, ORGANIZATION_HEADER, None) or (request.headers or {}).get(
            ORGANIZATION_HEADER
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        organization_id = self.queued_organization_id()
        scope = tenant_context(organization_id) if organization_id else no_organization()
        with scope:
            return super().__call__(*args, **kwargs)
