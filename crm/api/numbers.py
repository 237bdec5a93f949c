"""WhatsApp numbers over the API: a new number, or a changed id or token, is checked with Meta."""
from __future__ import annotations

from rest_framework import serializers

from crm.api.views import TenantViewSet
from crm.models import WhatsAppNumber
from crm.whatsapp.verification import verify_number


class WhatsAppNumberViewSet(TenantViewSet):
    """CRUD on the organization's numbers; verification fields are the server's to set."""

    def perform_create(self, serializer: serializers.Serializer) -> None:
        super().perform_create(serializer)
        verify_number(serializer.instance)  # after the commit: no transaction held over HTTP

    def perform_update(self, serializer: serializers.Serializer) -> None:
        super().perform_update(serializer)
        number: WhatsAppNumber = serializer.instance
        if not number.is_verified:
            verify_number(number)
