"""`/api/v1/campaigns/<id>/run/`, `/stop/`, `/resume/` and `/progress/`: thin, services write."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.views import OrganizationScopedMixin
from crm.campaigns import services
from crm.campaigns.errors import CampaignActionError
from crm.campaigns.progress import progress
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


def urls() -> list[Any]:
    """The routes, for crm/api/urls.py."""
    return [
        path("campaigns/<str:pk>/run/", RunView.as_view(), name="campaign-run"),
        path("campaigns/<str:pk>/stop/", StopView.as_view(), name="campaign-stop"),
        path("campaigns/<str:pk>/resume/", ResumeView.as_view(), name="campaign-resume"),
        path("campaigns/<str:pk>/progress/", ProgressView.as_view(), name="campaign-progress"),
    ]
