"""`/api/v1/campaigns/<id>/run/`, `/stop/`, `/resume/`, `/progress/` and `/audience/`: thin,
services write."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.views import OrganizationScopedMixin
from crm.api.parsers import JSONParser
from crm.campaigns import audience, services
from crm.campaigns.errors import AudienceRefused, CampaignActionError
from crm.campaigns.progress import progress
from crm.imports import reading
from crm.imports.errors import ImportRefused
from crm.imports.views import describe as describe_import
from crm.models import Campaign, Job


def _campaign(pk: str) -> Campaign:
    """The organization's campaign, or 404 (another organization's id included)."""
    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        raise exceptions.NotFound("No campaign with this id.") from None
    campaign = Campaign.objects.filter(pk=key).first()
    if campaign is None:
        raise exceptions.NotFound("No campaign with this id.")
    return campaign


class CampaignActionView(OrganizationScopedMixin, APIView):
    """POST runs one action of services on the campaign; refusals are 400/409 with the reason."""

    model = Campaign  # RolePermission: writing campaigns (ORG_ADMIN) may run, stop and resume
    service: ClassVar[Callable[..., Job]]
    success_status: ClassVar[int] = status.HTTP_200_OK

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, pk: str) -> Response:
        campaign = _campaign(pk)
        try:
            job = type(self).service(campaign, request.user)
        except CampaignActionError as error:
            return Response({"detail": str(error)}, status=error.status)
        return Response(services.describe(job), status=self.success_status)


class RunView(CampaignActionView):
    service = staticmethod(services.run_campaign)
    success_status = status.HTTP_202_ACCEPTED


class StopView(CampaignActionView):
    service = staticmethod(lambda campaign, user: services.stop_campaign(
        campaign, f"stopped by {user.get_username()}"))


class ResumeView(CampaignActionView):
    service = staticmethod(services.resume_campaign)
    success_status = status.HTTP_202_ACCEPTED


class ProgressView(OrganizationScopedMixin, APIView):
    """GET the latest run's counts per status, rate and expected end."""

    model = Campaign

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, pk: str) -> Response:
        job = _campaign(pk).jobs.order_by("-created_at").first()
        if job is None:
            return Response({"detail": "The campaign has never run: run it first."},
                            status=status.HTTP_404_NOT_FOUND)
        return Response(progress(job))


class AudienceView(OrganizationScopedMixin, APIView):
    """POST customers to add to the campaign's audience: JSON `customer_ids`, `segment` or
    `label`, or a multipart `file` of contacts (with optional `mapping` JSON and `format`)."""

    model = Campaign  # writing campaigns (ORG_ADMIN) may add to their audience
    parser_classes = (JSONParser, MultiPartParser)

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT,
                   summary="Add customers to the campaign's audience")
    def post(self, request: Request, pk: str) -> Response:
        campaign = _campaign(pk)
        choice = _audience_choice(request)
        try:
            answer = audience.add_audience(campaign, choice)
        except AudienceRefused as error:
            return Response({error.field: [str(error)]}, status=status.HTTP_400_BAD_REQUEST)
        if "import" in answer:
            answer["import"] = describe_import(answer["import"])
        return Response(answer)


def _audience_choice(request: Request) -> dict[str, Any]:
    """What the request names, the file read with its name and mapping."""
    data = request.data
    if not isinstance(data, dict):
        raise exceptions.ParseError("Send a JSON object or a multipart form.")
    choice = {key: data.get(key) for key in ("customer_ids", "segment", "label")}
    upload = request.FILES.get("file")
    if upload is not None:
        try:
            reading.check_size(upload.size)
        except ImportRefused as error:
            raise exceptions.ValidationError({error.field: [str(error)]}) from None
        try:
            mapping = json.loads(data.get("mapping") or "{}")
        except (TypeError, ValueError):
            raise exceptions.ValidationError({"mapping": ['Give the mapping as JSON, such as '
                                                          '{"phone": "Mobile"}.']}) from None
        choice.update(file=upload.name or "audience", data=upload.read(), mapping=mapping,
                      format=data.get("format"))
    return choice


def urls() -> list[Any]:
    """The routes, for crm/api/urls.py."""
    return [
        path("campaigns/<str:pk>/run/", RunView.as_view(), name="campaign-run"),
        path("campaigns/<str:pk>/stop/", StopView.as_view(), name="campaign-stop"),
        path("campaigns/<str:pk>/resume/", ResumeView.as_view(), name="campaign-resume"),
        path("campaigns/<str:pk>/progress/", ProgressView.as_view(), name="campaign-progress"),
        path("campaigns/<str:pk>/audience/", AudienceView.as_view(), name="campaign-audience"),
    ]
