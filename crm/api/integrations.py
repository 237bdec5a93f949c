"""/api/v1/integrations/<provider>/: the organization's credentials for a third party (ORG_ADMIN);
one route per registered provider (crm/api/urls.py).

GET shows the plain fields and each secret masked; PUT stores them (a secret left out keeps the
stored one); DELETE forgets them; `test/` makes one harmless call and records whether it worked.
"""
from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.views import OrganizationScopedMixin
from crm.integrations import credentials
from crm.integrations.errors import InvalidCredentials, NotConfigured
from crm.models import IntegrationCredential, Role
from crm.roles import is_platform_staff, role_of

INTEGRATION = inline_serializer("Integration", {
    "provider": serializers.CharField(),
    "config": serializers.DictField(help_text="the fields that are not secret"),
    "secrets": serializers.DictField(help_text='each secret as "********" when set'),
    "status": serializers.ChoiceField(choices=IntegrationCredential.Status.choices),
    "status_reason": serializers.CharField(),
    "updated_at": serializers.DateTimeField(),
})


class OrganizationAdminOnly(permissions.BasePermission):
    """An ORG_ADMIN of the organization, or platform staff acting as it."""

    message = "Only an ORG_ADMIN manages the organization's integrations."

    def has_permission(self, request: Any, view: Any) -> bool:
        return role_of(request.user) == Role.ORG_ADMIN or is_platform_staff(request.user)


def _row(provider: str) -> IntegrationCredential:
    row = IntegrationCredential.objects.filter(provider=provider).first()
    if row is None:
        raise exceptions.NotFound(str(NotConfigured(provider)))
    return row


class IntegrationView(OrganizationScopedMixin, APIView):
    """One provider's credentials of the organization."""

    permission_classes = (OrganizationAdminOnly,)

    @extend_schema(responses=INTEGRATION, summary="An integration's settings, secrets masked")
    def get(self, request: Request, provider: str) -> Response:
        """The stored fields; secrets are never returned."""
        return Response(credentials.masked(_row(provider)))

    @extend_schema(request=OpenApiTypes.OBJECT, responses=INTEGRATION,
                   summary="Store an integration's credentials (ORG_ADMIN)")
    def put(self, request: Request, provider: str) -> Response:
        """Razorpay: key_id, key_secret, webhook_secret (optional payment_link_template and
        payment_link_template_language); a secret left out keeps the stored one."""
        try:
            row = credentials.save(provider, request.data, by=request.user)
        except InvalidCredentials as error:
            raise exceptions.ValidationError(error.fields) from None
        return Response(credentials.masked(row))

    @extend_schema(responses={204: None}, summary="Forget an integration's credentials")
    def delete(self, request: Request, provider: str) -> Response:
        """Delete the stored credentials: calls to the provider stop until new ones are stored."""
        with transaction.atomic():
            if not credentials.delete(provider, by=request.user):
                raise exceptions.NotFound(str(NotConfigured(provider)))
        return Response(status=status.HTTP_204_NO_CONTENT)


class IntegrationTestView(OrganizationScopedMixin, APIView):
    """One harmless call with the stored credentials; the outcome is kept in `status`."""

    permission_classes = (OrganizationAdminOnly,)

    @extend_schema(request=None, responses=INTEGRATION, summary="Test an integration")
    def post(self, request: Request, provider: str) -> Response:
        """`status` ok, or broken with `status_reason` saying what to fix."""
        try:
            row = credentials.check(provider)
        except NotConfigured as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(credentials.masked(row))
