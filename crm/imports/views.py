"""`/api/v1/contacts/import/`, `/contacts/imports/<id>/` and `/exports/...`: thin views."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from django.db import models, transaction
from django.http import StreamingHttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.views import OrganizationScopedMixin
from crm.imports import exports, reading, services
from crm.imports.errors import ImportRefused
from crm.models import ContactImport, Customer, Lead, Message, Order
from crm.roles import can_read
from crm.visibility import visible_rows

PROGRESS_FIELDS = ("id", "file_name", "file_format", "status", "total_rows", "processed_rows",
                   "created_count", "updated_count", "unchanged_count", "rejected_count",
                   "rejected", "error", "created_at", "finished_at")


def describe(contact_import: ContactImport) -> dict[str, Any]:
    """The import's progress and outcome as the API and the page show them."""
    answer = {name: getattr(contact_import, name) for name in PROGRESS_FIELDS}
    answer["id"] = str(contact_import.pk)
    for name in ("created_at", "finished_at"):
        answer[name] = answer[name].isoformat() if answer[name] else None
    return answer


class ImportUpload(serializers.Serializer):
    """A CSV or XLSX file of contacts, and which column holds which field."""

    file = serializers.FileField()
    mapping = serializers.CharField(required=False, help_text=(
        'JSON: {"phone": "<column>", "name": "<column>", "labels": "<column>", "attributes": '
        '{"<key>": "<column>"}}; columns not named are guessed from the header.'))
    format = serializers.ChoiceField(choices=["csv", "xlsx"], required=False)

    def validate_mapping(self, value: str) -> Any:
        try:
            return json.loads(value)
        except ValueError:
            raise serializers.ValidationError('Give the mapping as JSON, such as {"phone": '
                                              '"Mobile"}.') from None


def refused(error: ImportRefused) -> Response:
    """400 naming the request field."""
    return Response({error.field: [str(error)]}, status=status.HTTP_400_BAD_REQUEST)


class ImportView(OrganizationScopedMixin, APIView):
    """POST a file: small files are imported at once (201), larger ones queued (202)."""

    model: ClassVar[type[models.Model]] = ContactImport  # ORG_ADMIN writes
    parser_classes = (MultiPartParser,)

    @extend_schema(request={"multipart/form-data": ImportUpload}, responses=OpenApiTypes.OBJECT,
                   summary="Import contacts from a CSV or XLSX file")
    def post(self, request: Request) -> Response:
        upload = ImportUpload(data=request.data)
        upload.is_valid(raise_exception=True)
        file = upload.validated_data["file"]
        try:
            reading.check_size(file.size)
            with transaction.atomic():
                contact_import = services.start_import(
                    file.name or "contacts", file.read(), upload.validated_data.get("mapping", {}),
                    upload.validated_data.get("format"))
        except ImportRefused as error:
            return refused(error)
        done = contact_import.status in (ContactImport.Status.DONE, ContactImport.Status.FAILED)
        return Response(describe(contact_import),
                        status=status.HTTP_201_CREATED if done else status.HTTP_202_ACCEPTED)


class ImportProgressView(OrganizationScopedMixin, APIView):
    """GET an import's progress, counts and rejected rows."""

    model: ClassVar[type[models.Model]] = ContactImport

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="A contact import's progress")
    def get(self, request: Request, pk: str) -> Response:
        return Response(describe(find_import(pk)))


EXPORTS: dict[str, tuple[type[models.Model], Callable[[Any], exports.Table]]] = {
    "customers": (Customer, exports.customers),
    "leads": (Lead, exports.leads),
    "orders": (Order, exports.orders),
}


class ExportMixin(OrganizationScopedMixin):
    """A streamed file; `?format=csv|xlsx` picks the file, not DRF's renderer."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return super().perform_content_negotiation(request, force=True)  # type: ignore[misc]

    def export(self, request: Request, table: exports.Table) -> StreamingHttpResponse:
        fmt = request.query_params.get("format", "csv")
        if fmt not in exports.FORMATS:
            raise exceptions.ValidationError({"format": ["Choose csv or xlsx."]})
        answer = StreamingHttpResponse(exports.stream(table, fmt),
                                       content_type=exports.FORMATS[fmt])
        answer["Content-Disposition"] = f'attachment; filename="{table.name}.{fmt}"'
        return answer


class ExportView(ExportMixin, APIView):
    """GET customers, leads or orders as CSV or XLSX (the rows the caller sees)."""

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.BINARY},
                   parameters=[OpenApiParameter("format", enum=list(exports.FORMATS))],
                   summary="Export customers, leads or orders")
    def get(self, request: Request, kind: str) -> StreamingHttpResponse:
        if kind not in EXPORTS:
            raise exceptions.NotFound(f"Nothing to export as {kind[:40]!r}: choose "
                                      f"{', '.join(EXPORTS)}.")
        model, table = EXPORTS[kind]
        if not can_read(request.user, model):
            raise exceptions.PermissionDenied("Your role may not do this.")
        return self.export(request, table(request.user))


class ConversationExportView(ExportMixin, APIView):
    """GET one conversation's messages as CSV or XLSX."""

    model: ClassVar[type[models.Model]] = Message

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.BINARY},
                   parameters=[OpenApiParameter("format", enum=list(exports.FORMATS))],
                   summary="Export a conversation")
    def get(self, request: Request, customer_id: uuid.UUID) -> StreamingHttpResponse:
        customer = visible_rows(request.user, Customer.objects.filter(pk=customer_id)).first()
        if customer is None:
            raise exceptions.NotFound("No conversation with this customer id.")
        return self.export(request, exports.conversation(request.user, customer))


def find_import(pk: Any) -> ContactImport:
    """The organization's import, or 404 (another organization's id included)."""
    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        raise exceptions.NotFound("No contact import with this id.") from None
    contact_import = ContactImport.objects.defer("data").filter(pk=key).first()
    if contact_import is None:
        raise exceptions.NotFound("No contact import with this id.")
    return contact_import


def urls() -> list[Any]:
    """The routes, for crm/api/urls.py."""
    return [
        path("contacts/import/", ImportView.as_view(), name="contacts-import"),
        path("contacts/imports/<str:pk>/", ImportProgressView.as_view(),
             name="contacts-import-progress"),
        path("exports/conversations/<uuid:customer_id>/", ConversationExportView.as_view(),
             name="export-conversation"),
        path("exports/<str:kind>/", ExportView.as_view(), name="export"),
    ]
