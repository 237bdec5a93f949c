"""WhatsApp numbers over the API: a new number, or a changed id or token, is checked with Meta;
Embedded Signup connects one in a single call."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.accounts import OrgAdminOnly
from crm.api.serializers import serializer_for
from crm.api.templates import REFUSED, refused
from crm.api.views import OrganizationScopedMixin, TenantViewSet
from crm.models import WhatsAppNumber
from crm.whatsapp.onboarding import connect_number
from crm.whatsapp.refusals import Refused
from crm.whatsapp.verification import verify_number

META_ID = r"\A[0-9]{1,100}\Z"


class WhatsAppNumberViewSet(TenantViewSet):
    """CRUD on the organization's numbers; verification fields are the server's to set."""

    def perform_create(self, serializer: serializers.Serializer) -> None:
        super().perform_create(serializer)
        verify_number(serializer.instance)  # after the commit: no transaction held over HTTP

    def perform_update(self, serializer: serializers.Serializer) -> None:
        super().perform_update(serializer)
        number: WhatsAppNumber = serializer.instance
        if not number.is_verified:
            verify_number(number)


class EmbeddedSignupResult(serializers.Serializer):
    """What Meta's Embedded Signup popup gave the page."""

    code = serializers.CharField(max_length=1000, help_text="FB.login's authResponse.code")
    waba_id = serializers.RegexField(META_ID, error_messages={
        "invalid": "Meta's WhatsApp Business Account id: digits only."})
    phone_number_id = serializers.RegexField(META_ID, error_messages={
        "invalid": "Meta's phone number id: digits only."})


class EmbeddedSignupView(OrganizationScopedMixin, APIView):
    """POST Embedded Signup's result (ORG_ADMIN): the number, connected and verified."""

    permission_classes = (OrgAdminOnly,)

    @extend_schema(request=EmbeddedSignupResult, responses={
        201: serializer_for(WhatsAppNumber), 400: REFUSED, 409: REFUSED, 502: REFUSED},
        summary="Connect a WhatsApp number through Embedded Signup")
    def post(self, request: Request) -> Response:
        """Exchange the code, subscribe the app, register the number, store it, sync templates."""
        result = EmbeddedSignupResult(data=request.data)
        result.is_valid(raise_exception=True)
        try:
            number = connect_number(**result.validated_data)
        except Refused as refusal:
            return refused(refusal)
        return Response(serializer_for(WhatsAppNumber)(number).data,
                        status=status.HTTP_201_CREATED)
