"""The Celery app: `celery -A crm worker` (and `celery -A crm beat`); settings prefixed CELERY_."""
from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

app = Celery("crm", task_cls="tenancy.celery:TenantTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["crm.campaigns", "crm.automation", "crm.contacts", "crm.imports",
                        "crm.lifecycle", "crm.outgoing", "crm.payments", "crm.webhooks",
                        "crm.zoho"],
                       related_name="tasks")
