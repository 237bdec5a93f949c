"""The Celery app: `celery -A crm worker` (and `celery -A crm beat`); settings prefixed CELERY_."""
from __future__ import annotations

import os

from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

app = Celery("crm", task_cls="tenancy.celery:TenantTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["crm.campaigns", "crm.automation", "crm.contacts", "crm.imports",
                        "crm.lifecycle", "crm.outgoing", "crm.payments", "crm.webhooks",
                        "crm.zoho"],
                       related_name="tasks")


# Storing customers' messages never waits behind automation runs or campaign sends: webhook
# processing has a queue of its own beside the default one, and every worker consumes both
# (settings.CELERY_TASK_QUEUES); the name follows the default queue, also when tests change it.
INTAKE_TASKS = frozenset({"crm.webhooks.tasks.process_deliveries"})


def intake_queue(default: str) -> str:
    """The webhook processing queue that goes with the default queue `default`."""
    return f"{default}.intake"


def _route(name: str, args: Any, kwargs: Any, options: Any, task: Any = None,
           **extra: Any) -> dict[str, str] | None:
    if name in INTAKE_TASKS:
        return {"queue": intake_queue(app.conf.task_default_queue)}
    return None


app.conf.task_routes = (_route,)
