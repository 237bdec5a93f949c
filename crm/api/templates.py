"""Templates: create and delete go to Meta as well; `sync/` pulls the organization's from Meta."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.serializers import serializer_for
from crm.api.views import TenantViewSet
from crm.models import Template
from crm.whatsapp.refusals import Refused
from crm.whatsapp.templates import create_template, delete_template, sync_templates

REFUSED = inline_serializer("TemplateRefused", {
    "detail": serializers.CharField(), "code": serializers.CharField(),
    "field": serializers.CharField(required=False),
    "meta": serializers.DictField(required=False, help_text="Meta's error: code, action, ..."),
})
SYNCED = inline_serializer("TemplatesSynced", {
    "accounts": serializers.ListField(child=serializers.CharField()),
    "created": serializers.IntegerField(), "updated": serializers.IntegerField(),
    "deleted": serializers.IntegerField(),
})


def refused(refusal: Refused) -> Response:
    """The API answer of a refusal: its status, detail and code (and Meta's error)."""
    return Response(refusal.as_json(), status=refusal.status)


class NewTemplate(serializers.Serializer):
    """A template to create on Meta (it goes to Meta's review), then stored."""

    name = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=20, default="en_US")
    category = serializers.ChoiceField(choices=["MARKETING", "UTILITY", "AUTHENTICATION"])
    components = serializers.ListField(child=serializers.DictField(), min_length=1)
    whatsapp_business_account_id = serializers.CharField(
        required=False, help_text="needed when your numbers belong to several accounts")


class TemplateViewSet(TenantViewSet):
    """Templates of the organization, and the shared ones (read-only)."""

    @extend_schema(request=NewTemplate, responses={
        201: serializer_for(Template), 400: REFUSED, 409: REFUSED, 502: REFUSED})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create the template on Meta, then store it (status PENDING until Meta reviews it)."""
        wanted = NewTemplate(data=request.data)
        wanted.is_valid(raise_exception=True)
        data = wanted.validated_data
        try:
            template = create_template(data["name"], data["language"], data["category"],
                                       data["components"],
                                       data.get("whatsapp_business_account_id"))
        except Refused as refusal:
            return refused(refusal)
        return Response(serializer_for(Template)(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, 403: REFUSED, 502: REFUSED})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete the template on Meta, then here."""
        template = self.get_object()
        try:
            delete_template(template)
        except Refused as refusal:
            return refused(refusal)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: SYNCED, 409: REFUSED, 502: REFUSED},
                   summary="Pull the organization's templates from Meta (every account, paged)")
    @action(detail=False, methods=["post"])
    def sync(self, request: Request, **kwargs: Any) -> Response:
        """Upsert every template of the organization's WhatsApp Business Accounts."""
        try:
            report = sync_templates()
        except Refused as refusal:
            return refused(refusal)
        return Response(report.as_json())
