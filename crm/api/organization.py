"""/api/v1/organization/: the caller's own organization and its settings (ORG_ADMIN writes);
/api/v1/organization/logo/: PUT a logo (multipart, field `logo`), DELETE it."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import audit
from crm.api.serializers import ModelSerializer
from crm.api.views import OrganizationScopedMixin
from crm.automation.hours import InvalidHours, check_business_hours, check_time_zone
from crm.imports.errors import InvalidCountry
from crm.imports.phones import check_country
from crm.models import Organization
from crm.organizations import services
from crm.organizations.errors import SettingsError
from crm.roles import ORG_ADMIN_ORGANIZATION_FIELDS, is_platform_staff, may_edit_own_organization
from tenancy.context import get_current_organization_id


class OrganizationSettingsSerializer(ModelSerializer):
    """The organization: what identifies it read-only, its settings writable."""

    logo_url = serializers.CharField(
        read_only=True, allow_null=True,
        help_text="Where signed-in members fetch the logo; changed with PUT/DELETE "
                  "/api/v1/organization/logo/.")

    class Meta:
        model = Organization
        fields = ("id", "name", "code", "slug", "is_active", "created_at", "updated_at",
                  *ORG_ADMIN_ORGANIZATION_FIELDS[1:], "logo_url")
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
        _may_change(request)
        organization = self._organization()
        settings = OrganizationSettingsSerializer(organization, data=request.data, partial=True)
        settings.is_valid(raise_exception=True)
        changed = [name for name, value in settings.validated_data.items()
                   if getattr(organization, name) != value]
        with transaction.atomic():
            settings.save(updated_at=timezone.now())
            if changed:
                audit.record(audit.SETTINGS_CHANGED, actor=request.user,
                             fields=", ".join(changed))
        return Response(settings.data)


def _may_change(request: Request) -> None:
    if not (may_edit_own_organization(request.user) or is_platform_staff(request.user)):
        raise exceptions.PermissionDenied("Only an ORG_ADMIN changes the organization's "
                                          "settings.")


class OrganizationLogoView(OrganizationScopedMixin, APIView):
    """PUT the organization's logo (multipart, field `logo`: PNG, JPEG or WebP by its content,
    at most 1 MB and 4096x4096 pixels); DELETE it. ORG_ADMIN, or platform staff acting as the
    organization."""

    parser_classes = (parsers.MultiPartParser,)

    @extend_schema(
        request={"multipart/form-data": inline_serializer(
            "LogoUpload", {"logo": serializers.FileField()})},
        responses=OrganizationSettingsSerializer, summary="Upload your organization's logo")
    def put(self, request: Request) -> Response:
        """Store the logo under a name the server chooses; the old one is deleted."""
        _may_change(request)
        try:
            organization = services.set_logo(request.FILES.get("logo"), by=request.user)
        except SettingsError as error:
            raise exceptions.ValidationError({error.field or "logo": [error.message]}) from None
        return Response(OrganizationSettingsSerializer(organization).data)

    @extend_schema(request=None, responses={204: None},
                   summary="Remove your organization's logo")
    def delete(self, request: Request) -> Response:
        """The organization goes without a logo."""
        _may_change(request)
        services.remove_logo(by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
