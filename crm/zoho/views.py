"""`/api/v1/leads/` (a created lead is pushed to Zoho) and `POST /api/v1/leads/<id>/push/`
(one push by hand, answered with Zoho's outcome): thin, crm.zoho.services writes."""
from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.serializers import serializer_for
from crm.api.views import OrganizationScopedMixin, TenantViewSet
from crm.models import Lead
from crm.visibility import visible_rows
from crm.zoho import services
from crm.zoho.errors import ZohoError


class LeadViewSet(TenantViewSet):
    """Leads; one created here is pushed to Zoho once it is stored (when Zoho is set up)."""

    def perform_create(self, serializer: serializers.Serializer) -> None:
        with transaction.atomic():
            super().perform_create(serializer)
            services.push_later(serializer.instance)


def _lead(request: Request, pk: str) -> Lead:
    """The organization's lead the caller may see, or 404 (another organization's id included)."""
    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        raise exceptions.NotFound("No lead with this id.") from None
    lead = visible_rows(request.user, Lead.objects.all()).filter(pk=key).first()
    if lead is None:
        raise exceptions.NotFound("No lead with this id.")
    return lead


class PushView(OrganizationScopedMixin, APIView):
    """POST pushes the lead to Zoho now: 200 with the lead (its Zoho id), 202 when Zoho is busy
    (queued with retries), 400/409 with what to do."""

    model = Lead  # RolePermission: whoever may write leads may push them

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, pk: str) -> Response:
        lead = _lead(request, pk)
        try:
            lead = services.push_lead(lead)
        except ZohoError as error:
            if error.retryable:
                services.queue(lead)
                return Response({"detail": f"{error} It was queued.", "queued": True},
                                status=status.HTTP_202_ACCEPTED)
            return Response({"detail": str(error)}, status=error.status)
        return Response(serializer_for(Lead)(lead, context={"request": request}).data)


def urls() -> list[Any]:
    """The routes, for crm/api/urls.py."""
    return [path("leads/<str:pk>/push/", PushView.as_view(), name="lead-push")]
