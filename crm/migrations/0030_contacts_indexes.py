"""Contacts: the customers' indexes for the inbox's status filter and for snoozed conversations
waking up, built like crm.0007's: concurrently on PostgreSQL, resumable after a kill."""
from __future__ import annotations

import importlib

from django.db import migrations, models

# 0007's resumable concurrent index build (a migration module, not live app code).
EnsureIndex = importlib.import_module("crm.migrations.0007_tenant_list_indexes").EnsureIndex


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('crm', '0029_contacts'),
    ]

    operations = [
        EnsureIndex(
            model_name="customer",
            index=models.Index(fields=["organization", "conversation_status", "-last_message_at",
                                       "-id"], name="customers_org_status_act_idx"),
        ),
        EnsureIndex(
            model_name="customer",
            index=models.Index(fields=["organization", "snoozed_until"],
                               condition=models.Q(conversation_status="snoozed"),
                               name="customers_snoozed_idx"),
        ),
    ]
