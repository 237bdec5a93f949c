"""`/api/v1/organization/export/`, `/organization/exports/<id>/` (and its download) and
`/customers/<id>/erase/`: thin views, for the organization's ORG_ADMIN only."""
from __future__ import annotations

import uuid
from typing import Any

from django.core.files.storage import default_storage
from django.http import FileResponse
from django.urls import path, reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.views import OrganizationScopedMixin
from crm.lifecycle import erasure, exports
from crm.lifecycle.errors import LifecycleError
from crm.models import Customer, OrganizationExport
from crm.roles import may_edit_own_organization
from tenancy.context import get_current_organization_id


class OrganizationAdminOnly(permissions.BasePermission):
    """The ORG_ADMIN of the organization the request runs as (not platform staff, not agents)."""

    message = "Only your organization's ORG_ADMIN exports its data or erases a customer."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return may_edit_own_organization(user) and (
            user.organization_id == get_current_organization_id())


class LifecycleView(OrganizationScopedMixin, APIView):
    """A refusal of the services becomes its HTTP answer."""

    permission_classes = (OrganizationAdminOnly,)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, LifecycleError):
            return Response({"detail": exc.message}, status=exc.status)
        return super().handle_exception(exc)


def describe(request: Request, export: OrganizationExport) -> dict[str, Any]:
    """The export's state, and its download link while it lasts."""
    answer: dict[str, Any] = {
        "id": str(export.pk), "state": export.state, "error": export.error,
        "size": export.size, "file_name": export.file_name.rsplit("/", 1)[-1],
        "created_at": export.created_at.isoformat() if export.created_at else None,
        "finished_at": export.finished_at.isoformat() if export.finished_at else None,
        "expires_at": export.expires_at.isoformat() if export.expires_at else None,
        "download_url": None,
    }
    if export.state == OrganizationExport.State.DONE and export.expires_at and (
            export.expires_at > timezone.now()):
        link = reverse("api-organization-export-download", args=[export.pk])
        answer["download_url"] = request.build_absolute_uri(
            f"{link}?token={exports.download_token(export)}")
    return answer


def find_export(pk: Any) -> OrganizationExport:
    """The organization's export, or 404 (another organization's id included)."""
    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        raise exceptions.NotFound("No export with this id.") from None
    export = OrganizationExport.objects.filter(pk=key).first()
    if export is None:
        raise exceptions.NotFound("No export with this id.")
    return export


class ExportRequestView(LifecycleView):
    """POST: queue an export of every row and media file of the organization (202)."""

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT,
                   summary="Export the whole organization as a zip (ORG_ADMIN)")
    def post(self, request: Request) -> Response:
        export = exports.request_export(request.user)
        return Response(describe(request, export), status=status.HTTP_202_ACCEPTED)


class ExportProgressView(LifecycleView):
    """GET an export's state and, once done, its download link (24 hours)."""

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="An organization export's state")
    def get(self, request: Request, pk: str) -> Response:
        return Response(describe(request, find_export(pk)))


class ExportDownloadView(LifecycleView):
    """GET the zip through its signed link, checked here: this export, this organization; 410
    once the link's 24 hours are over (the file is then deleted by beat)."""

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY},
                   parameters=[OpenApiParameter("token", str)],
                   summary="Download an organization export")
    def get(self, request: Request, pk: str) -> FileResponse:
        export = exports.checked_download(find_export(pk).pk, request.query_params.get("token",
                                                                                       ""))
        return FileResponse(default_storage.open(export.file_name, "rb"), as_attachment=True,
                            filename=f"export-{export.pk}.zip", content_type="application/zip")


class EraseCustomerView(LifecycleView):
    """POST: erase a customer's personal data (counts kept, never messaged again)."""

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT,
                   summary="Erase a customer's personal data (ORG_ADMIN)")
    def post(self, request: Request, customer_id: uuid.UUID) -> Response:
        customer = Customer.objects.filter(pk=customer_id).first()
        if customer is None:
            raise exceptions.NotFound("No customer with this id.")
        counts = erasure.erase_customer(customer, by=request.user)
        return Response({"id": str(customer.pk), "erased": counts})


def urls() -> list[Any]:
    """The routes, for crm/api/urls.py."""
    return [
        path("organization/export/", ExportRequestView.as_view(), name="api-organization-export"),
        path("organization/exports/<str:pk>/", ExportProgressView.as_view(),
             name="api-organization-export-progress"),
        path("organization/exports/<str:pk>/download/", ExportDownloadView.as_view(),
             name="api-organization-export-download"),
        path("customers/<uuid:customer_id>/erase/", EraseCustomerView.as_view(),
             name="api-customer-erase"),
    ]
