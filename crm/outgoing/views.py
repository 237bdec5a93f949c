"""/api/v1/webhook-subscriptions/ and /api/v1/webhook-deliveries/ (ORG_ADMIN): thin views over
crm.outgoing.services; the secret is in the answer to the POST that creates a subscription only."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.serializers import ModelSerializer
from crm.api.views import ReadOnlyTenantViewSet, TenantViewSet
from crm.models import Role, WebhookDelivery, WebhookSubscription
from crm.outgoing import services
from crm.outgoing.errors import InvalidSubscription
from crm.roles import is_platform_staff, role_of


class OrgAdminOnly(permissions.BasePermission):
    """Subscriptions send the organization's data out: its ORG_ADMIN (or platform staff acting
    as it) manages them and reads their deliveries."""

    message = "Only an ORG_ADMIN manages webhook subscriptions."

    def has_permission(self, request: Any, view: Any) -> bool:
        return role_of(request.user) == Role.ORG_ADMIN or is_platform_staff(request.user)


class WebhookSubscriptionSerializer(ModelSerializer):
    """A subscription; the secret never (see WebhookSubscriptionViewSet.create)."""

    class Meta:
        model = WebhookSubscription
        fields = ("id", "url", "events", "description", "is_active", "consecutive_failures",
                  "disabled_reason", "created_at", "updated_at", "organization")
        read_only_fields = ("id", "consecutive_failures", "disabled_reason", "created_at",
                            "updated_at", "organization")

    def validate_url(self, value: str) -> str:
        return self._checked(lambda: services.check_subscription_url(value))

    def validate_events(self, value: Any) -> list[str]:
        return self._checked(lambda: services.check_events(value))

    @staticmethod
    def _checked(check: Any) -> Any:
        try:
            return check()
        except InvalidSubscription as error:
            raise serializers.ValidationError(error.message) from None


class WebhookSubscriptionViewSet(TenantViewSet):
    """Subscribe URLs to events. The answer to a POST carries `secret`, shown this once: keep it
    to verify the `X-WBCRM-Signature` of deliveries (README, Outgoing webhooks)."""

    permission_classes = (OrgAdminOnly,)

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return WebhookSubscriptionSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        checked = self.get_serializer(data=request.data)
        checked.is_valid(raise_exception=True)
        data = checked.validated_data
        with transaction.atomic():
            subscription, secret = services.create_subscription(
                data["url"], data["events"], description=data.get("description", ""),
                is_active=data.get("is_active", True), by=request.user)
        body = {**WebhookSubscriptionSerializer(subscription).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: serializers.Serializer) -> None:
        was_active = serializer.instance.is_active
        with transaction.atomic():
            services.reactivated(serializer.save(), was_active)

    def perform_destroy(self, instance: WebhookSubscription) -> None:
        services.delete_subscription(instance, by=self.request.user)


class WebhookDeliverySerializer(ModelSerializer):
    """One attempt and its outcome (read-only)."""

    class Meta:
        model = WebhookDelivery
        fields = ("id", "subscription", "event", "event_id", "payload", "attempt", "state",
                  "status_code", "answer", "error", "next_try_at", "created_at", "updated_at",
                  "organization")
        read_only_fields = fields


class WebhookDeliveryViewSet(ReadOnlyTenantViewSet):
    """Every delivery attempt, newest first, with the receiver's answer."""

    permission_classes = (OrgAdminOnly,)

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return WebhookDeliverySerializer
