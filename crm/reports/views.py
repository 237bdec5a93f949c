"""`/api/v1/reports/...`, `/api/v1/usage/`, `/api/v1/campaigns/<id>/report/`: thin, over queries.

The organization's figures are for its ORG_ADMIN (and platform staff acting as it); an agent
reads only their own first-response figures (`reports/agents/`), and every other report answers
403 saying so.
"""
from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.views import OrganizationScopedMixin
from crm.models import Campaign, Role
from crm.reports import campaign_report, queries
from crm.reports.errors import BadReportQuery, ReportsNeedPostgreSQL
from crm.reports.period import month_from, period_from
from crm.roles import role_of

RANGE = [OpenApiParameter("from", str, description="First day, YYYY-MM-DD (organization's "
                          "time zone; default 30 days before `to`)"),
         OpenApiParameter("to", str, description="Last day, YYYY-MM-DD (default today)")]
MONTH = OpenApiParameter("month", str, description="YYYY-MM (default the current month)")
FORMAT = OpenApiParameter("format", str, enum=["json", "csv", "xlsx"])


def campaign_or_404(pk: str) -> Campaign:
    """The organization's campaign, or 404 (another organization's id included)."""
    try:
        campaign = Campaign.objects.filter(pk=uuid.UUID(str(pk))).first()
    except ValueError:
        campaign = None
    if campaign is None:
        raise exceptions.NotFound("No campaign with this id.")
    return campaign


def sees_everything(user: Any) -> bool:
    """ORG_ADMIN and platform staff read the organization's figures; agents their own."""
    return role_of(user) in (Role.ORG_ADMIN, Role.SUPER_ADMIN)


class ReportView(OrganizationScopedMixin, APIView):
    """GET one report; a malformed parameter is 400 naming it."""

    model = Campaign  # RolePermission: staff who read campaigns read reports (roles below)
    agents_allowed: ClassVar[bool] = False

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)
        if not self.agents_allowed and not sees_everything(request.user):
            raise exceptions.PermissionDenied(
                "The organization's reports are for its administrators; your own figures are "
                "at /api/v1/reports/agents/.")

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return Response(self.figures(request, *args, **kwargs))
        except BadReportQuery as error:
            raise exceptions.ValidationError({error.field: [error.problem]}) from None
        except ReportsNeedPostgreSQL as error:
            return Response({"detail": str(error)}, status=501)


@extend_schema_view(get=extend_schema(parameters=RANGE, responses=OpenApiTypes.OBJECT))
class OverviewView(ReportView):
    def figures(self, request: Request) -> dict[str, Any]:
        return queries.overview(period_from(request.query_params))


@extend_schema_view(get=extend_schema(parameters=RANGE, responses=OpenApiTypes.OBJECT))
class AgentsView(ReportView):
    agents_allowed = True

    def figures(self, request: Request) -> dict[str, Any]:
        only = None if sees_everything(request.user) else str(request.user.pk)
        return queries.agents(period_from(request.query_params), only)


@extend_schema_view(get=extend_schema(parameters=RANGE, responses=OpenApiTypes.OBJECT))
class CampaignsView(ReportView):
    def figures(self, request: Request) -> dict[str, Any]:
        return queries.campaigns(period_from(request.query_params))


@extend_schema_view(get=extend_schema(parameters=RANGE, responses=OpenApiTypes.OBJECT))
class ReferralsView(ReportView):
    def figures(self, request: Request) -> dict[str, Any]:
        return queries.referrals(period_from(request.query_params))


@extend_schema_view(get=extend_schema(parameters=[MONTH], responses=OpenApiTypes.OBJECT))
class UsageView(ReportView):
    def figures(self, request: Request) -> dict[str, Any]:
        return queries.usage(month_from(request.query_params.get("month")))


class _FileRenderer(BaseRenderer):
    """A campaign report as a file; anything else (an error) as JSON."""

    charset = None
    convert: ClassVar[Any]

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: dict[str, Any] | None = None) -> bytes:
        if isinstance(data, dict) and "per_number" in data:
            return type(self).convert(data)
        return json.dumps(data, default=str).encode()


class CSVRenderer(_FileRenderer):
    media_type = "text/csv"
    format = "csv"
    convert = staticmethod(campaign_report.as_csv)


class XLSXRenderer(_FileRenderer):
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    format = "xlsx"
    convert = staticmethod(campaign_report.as_xlsx)


class CampaignReportView(ReportView):
    """The campaign's report; `?format=csv|xlsx` downloads it (agents read it, like campaigns)."""

    agents_allowed = True
    renderer_classes = [JSONRenderer, CSVRenderer, XLSXRenderer]

    @extend_schema(parameters=[FORMAT], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        renderer = getattr(request, "accepted_renderer", None)
        if response.status_code == 200 and isinstance(renderer, _FileRenderer):
            name = f"campaign-{kwargs['pk']}-report.{renderer.format}"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def handle_exception(self, exc: Exception) -> Response:
        """A refusal is JSON, whichever file format was asked for."""
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)

    def figures(self, request: Request, pk: str) -> dict[str, Any]:
        return campaign_report.report(campaign_or_404(pk))


def urls() -> list[Any]:
    """The routes, for crm/api/urls.py."""
    return [
        path("reports/overview/", OverviewView.as_view(), name="report-overview"),
        path("reports/agents/", AgentsView.as_view(), name="report-agents"),
        path("reports/campaigns/", CampaignsView.as_view(), name="report-campaigns"),
        path("reports/referrals/", ReferralsView.as_view(), name="report-referrals"),
        path("usage/", UsageView.as_view(), name="usage"),
        path("campaigns/<str:pk>/report/", CampaignReportView.as_view(), name="campaign-report"),
    ]
