"""`/api/v1/segments/`: CRUD over saved filters, plus their live counts; thin over queries."""
from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.serializers import ModelSerializer
from crm.api.views import TenantViewSet
from crm.models import Segment
from crm.segments import queries
from crm.segments.errors import InvalidFilter
from crm.segments.filters import check_filters


def _checked(value: Any) -> dict[str, Any]:
    try:
        return check_filters(value)
    except InvalidFilter as error:
        raise serializers.ValidationError(str(error)) from None


class SegmentSerializer(ModelSerializer):
    """A segment: its name and filters (checked: a wrong one is a 400 naming it)."""

    class Meta:
        model = Segment
        fields = ("id", "organization", "name", "filters", "created_at", "updated_at")
        read_only_fields = ("id", "organization", "created_at", "updated_at")

    def validate_filters(self, value: Any) -> dict[str, Any]:
        return _checked(value)


class FiltersSerializer(serializers.Serializer):
    """Filters to count before saving them as a segment."""

    filters = serializers.JSONField()

    def validate_filters(self, value: Any) -> dict[str, Any]:
        return _checked(value)


class SegmentViewSet(TenantViewSet):
    """Segments of the organization; `count/` says how many customers each selects now."""

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return FiltersSerializer if self.action == "preview" else SegmentSerializer

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT,
                   summary="How many customers the segment selects now")
    @action(detail=True, methods=["get"])
    def count(self, request: Request, **kwargs: Any) -> Response:
        segment = self.get_object()
        try:
            filters = check_filters(segment.filters)
        except InvalidFilter as error:
            return Response({"filters": [str(error)]}, status=400)
        return Response(queries.count(filters, request.user))

    @extend_schema(request=FiltersSerializer, responses=OpenApiTypes.OBJECT,
                   summary="How many customers these filters select (before saving them)")
    @action(detail=False, methods=["post"], url_path="count")
    def preview(self, request: Request) -> Response:
        wanted = FiltersSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        return Response(queries.count(wanted.validated_data["filters"], request.user))
