"""Zoho CRM as an integration (crm.integrations.registry): its fields and its test call, and the
leads waiting for working credentials queued again when an organization stores new ones.

Imported by CrmConfig.ready(), which registers the provider and connects the signal.
"""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save

from crm.integrations import registry
from crm.integrations.credentials import Credentials
from crm.integrations.errors import IntegrationError
from crm.models import IntegrationCredential
from crm.zoho import services
from crm.zoho.client import ZohoClient
from crm.zoho.errors import ZohoError
from tenancy.context import tenant_context


def test(credentials: Credentials) -> None:
    """One harmless call: buy an access token with the refresh token (IntegrationError if not)."""
    try:
        ZohoClient(credentials).refresh()
    except ZohoError as error:
        raise IntegrationError(str(error)) from None


def _credentials_saved(sender: Any, instance: IntegrationCredential, **_: Any) -> None:
    """New Zoho credentials (not known to be broken): the waiting leads are queued once they
    are stored."""
    if instance.provider != services.PROVIDER or (
            instance.status == IntegrationCredential.Status.BROKEN):
        return
    organization_id = instance.organization_id

    def queue() -> None:
        with tenant_context(organization_id):
            services.push_waiting()

    transaction.on_commit(queue, robust=True)


registry.register(services.PROVIDER, fields=("client_id", "domain"),
                  secret_fields=("client_secret", "refresh_token"), test=test)
post_save.connect(_credentials_saved, sender=IntegrationCredential,
                  dispatch_uid="crm.zoho.credentials_saved")
