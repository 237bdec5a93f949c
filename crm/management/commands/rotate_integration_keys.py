"""manage.py rotate_integration_keys: re-encrypt every organization's integration secrets and
outgoing webhook secrets with the first key of FIELD_ENCRYPTION_KEY, so an old key can then go."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from crm.integrations import crypto
from crm.integrations.errors import UnreadableSecrets
from crm.models import IntegrationCredential, Organization, WebhookSubscription
from tenancy.context import tenant_context


class Command(BaseCommand):
    help = ("Re-encrypt the integration and webhook secrets of every organization with the first "
            "key of FIELD_ENCRYPTION_KEY (after prepending a new key); then the old key may go.")

    def handle(self, *args: Any, **options: Any) -> None:
        rotated, unreadable = 0, []
        for org in Organization.objects.order_by("code"):
            with tenant_context(org):
                for row in IntegrationCredential.objects.exclude(secrets="").order_by("provider"):
                    try:
                        row.secrets = crypto.rotate(row.secrets)
                    except UnreadableSecrets:
                        unreadable.append(f"{org.code}/{row.provider}")
                        continue
                    row.save(update_fields=["secrets"])
                    rotated += 1
                for subscription in WebhookSubscription.objects.order_by("created_at", "id"):
                    try:
                        subscription.secret = crypto.rotate(subscription.secret)
                    except UnreadableSecrets:
                        unreadable.append(f"{org.code}/webhook {subscription.pk}")
                        continue
                    subscription.save(update_fields=["secret"])
                    rotated += 1
        self.stdout.write(f"{rotated} secret(s) re-encrypted with the first key.")
        if unreadable:
            raise CommandError(
                "No key of FIELD_ENCRYPTION_KEY opens the secrets of " + ", ".join(unreadable)
                + ": add back the key they were written with, or store them again.")
