"""The Celery app: `celery -A crm worker` (and `celery -A crm beat`); settings prefixed CELERY_."""
from __future__ import annotations

import os

from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

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


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender: Any = None, **extra: Any) -> None:
    """Around each task, close the database connections that are broken or older than
    CONN_MAX_AGE, as Django does around each request (never inside an eager task's caller).

    Celery's Django fix-up closes every connection before and after each task unless
    CELERY_DB_REUSE_MAX is set (settings sets it to "never by count"): every short task then
    paid a new PostgreSQL session (a fork, authentication and a cold catalog cache), most of its
    cost.
    """
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    close_old_connections()
