"""/api/v1/platform/organizations/: platform staff list organizations with their usage, and
suspend or reactivate one (crm.accounts.services.set_suspended)."""
from __future__ import annotations

from typing import Any, ClassVar

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.accounts import queries, services
from crm.models import Organization
from crm.roles import is_platform_staff


class PlatformStaffOnly(permissions.BasePermission):
    """SUPER_ADMIN with no organization."""

    message = "Only platform staff manage organizations."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_platform_staff(request.user)


class OrganizationsView(APIView):
    """GET every organization with its users, customers, numbers and messages."""

    permission_classes: ClassVar[list[Any]] = [PlatformStaffOnly]

    @extend_schema(responses=dict, summary="Organizations and their usage (platform staff)")
    def get(self, request: Request) -> Response:
        return Response(queries.organizations_with_usage())


class SuspensionView(APIView):
    """POST: suspend (or reactivate) one organization."""

    permission_classes: ClassVar[list[Any]] = [PlatformStaffOnly]
    suspend = True

    @extend_schema(request=None, responses=dict)
    def post(self, request: Request, pk: Any) -> Response:
        organization = Organization.objects.filter(pk=pk).first()
        if organization is None:
            raise Http404
        organization = services.set_suspended(organization, self.suspend, by=request.user)
        return Response({"id": str(organization.pk), "code": organization.code,
                         "is_active": organization.is_active})
