"""/api/v1/organization/: the caller's own organization and its settings (ORG_ADMIN writes)."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.serializers import ModelSerializer
from crm.api.views import OrganizationScopedMixin
from crm.automation.hours import InvalidHours, check_business_hours, check_time_zone
from crm.imports.errors import InvalidCountry
from crm.imports.phones import check_country
from crm.models import Organization
from crm.roles import ORG_ADMIN_ORGANIZATION_FIELDS, is_platform_staff, may_edit_own_organization
from tenancy.context import get_current_organization_id


class OrganizationSettingsSerializer(ModelSerializer):
    """The organization: what identifies it read-only, its settings writable."""

    class Meta:
        model = Organization
        fields = ("id", "name", "code", "slug", "is_active", "created_at", "updated_at",
                  *ORG_ADMIN_ORGANIZATION_FIELDS[1:])
        read_only_fields = ("id", "code", "slug", "is_active", "created_at", "updated_at")
        extra_kwargs = {"agent_reply_grace_minutes": {"max_value": 7 * 24 * 60}}

    def validate_time_zone(self, value: Any) -> str:
        try:
            return check_time_zone(value)
        except InvalidHours as error:
            raise serializers.ValidationError(str(error)) from None

    def validate_default_country(self, value: Any) -> str:
        try:
            return check_country(value)
        except InvalidCountry as error:
            raise serializers.ValidationError(str(error)) from None

    def validate_business_hours(self, value: Any) -> dict[str, Any]:
        try:
            return check_business_hours(value)
        except InvalidHours as error:
            raise serializers.ValidationError(str(error)) from None


class OrganizationView(OrganizationScopedMixin, APIView):
    """GET the caller's organization; PATCH its settings (ORG_ADMIN, or platform staff acting
    as the organization chosen with the organization header)."""

    serializer_class = OrganizationSettingsSerializer

    def _organization(self) -> Organization:
        return Organization.objects.get(pk=get_current_organization_id())

    @extend_schema(responses=OrganizationSettingsSerializer, summary="Your organization")
    def get(self, request: Request) -> Response:
        """The organization and its settings."""
        return Response(OrganizationSettingsSerializer(self._organization()).data)

    @extend_schema(request=OrganizationSettingsSerializer,
                   responses=OrganizationSettingsSerializer,
                   summary="Change your organization's settings (ORG_ADMIN)")
    def patch(self, request: Request) -> Response:
        """Change name, description, agents_see_all, time_zone, business_hours or
        agent_reply_grace_minutes, default_country."""
        if not (may_edit_own_organization(request.user) or is_platform_staff(request.user)):
            raise exceptions.PermissionDenied("Only an ORG_ADMIN changes the organization's "
                                              "settings.")
        organization = self._organization()
        settings = OrganizationSettingsSerializer(organization, data=request.data, partial=True)
        settings.is_valid(raise_exception=True)
        with transaction.atomic():
            settings.save(updated_at=timezone.now())
        return Response(settings.data)
