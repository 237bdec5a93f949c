"""Customers' conversation actions: send a WhatsApp message, mark the conversation read."""
from __future__ import annotations

import math
from typing import Any

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from pydantic import Field, ValidationError
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from crm.api.contacts import LabelFilter
from crm.api.parsers import JSONParser
from crm.api.serializers import serializer_for
from crm.api.views import TenantViewSet
from crm.automation import services as automation
from crm.inbox import services
from crm.models import Customer, Message, User
from crm.whatsapp.reading import mark_read
from crm.whatsapp.refusals import MetaRefused, Refused
from crm.whatsapp.schemas import MessageContent, Wamid
from crm.whatsapp.send import send_message

REFUSED = inline_serializer("SendRefused", {
    "detail": serializers.CharField(), "code": serializers.CharField(),
    "field": serializers.CharField(required=False),
    "window_closed_at": serializers.DateTimeField(required=False),
    "meta": serializers.DictField(required=False, help_text="Meta's error: code, action, ..."),
    "message": serializers.DictField(required=False, help_text="The failed message, stored"),
})


class SendRequest(MessageContent):
    """A message to send: `type`, the object of that type, and where it comes from."""

    reply_to: Wamid | None = Field(default=None, description="wamid of a message it answers")
    from_number: str | None = Field(
        default=None, max_length=100,
        description="id or phone_number_id of the sending number (default: the conversation's)",
    )


def _invalid(error: ValidationError) -> Response:
    """400 naming each bad field, without echoing the input (it may be a customer's text)."""
    problems = [
        {"field": ".".join(str(part) for part in e["loc"]) or "(body)", "problem": e["msg"]}
        for e in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    return Response({"detail": "The message is not valid: "
                     + "; ".join(f"{p['field']}: {p['problem']}" for p in problems),
                     "errors": problems}, status=status.HTTP_400_BAD_REQUEST)


def _refused(refusal: Refused) -> Response:
    body = refusal.as_json()
    if isinstance(refusal, MetaRefused) and refusal.message is not None:
        body["message"] = serializer_for(Message)(refusal.message).data
    headers = {}
    wait = refusal.error.retry_after if isinstance(refusal, MetaRefused) else None
    if wait is not None and math.isfinite(wait) and wait > 0:  # Meta's header, any float
        headers["Retry-After"] = str(math.ceil(wait))
    return Response(body, status=refusal.status, headers=headers)


class PauseRequest(serializers.Serializer):
    """Pause automation for a human: for some minutes, until a time, or resume (both null)."""

    minutes = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                       max_value=365 * 24 * 60)
    paused_until = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("minutes") is not None and attrs.get("paused_until") is not None:
            raise serializers.ValidationError({"minutes": ["Give minutes or paused_until, not "
                                                           "both."]})
        return attrs


class CustomerViewSet(TenantViewSet):
    """Customers, plus `send/` and `read/` on one customer's conversation.

    `user` (the assignee) changes only through the inbox's assignment service, by its rules.
    The list also filters by label (?label=<name>&match=any|all).
    """

    filter_backends = [*api_settings.DEFAULT_FILTER_BACKENDS, LabelFilter]

    def perform_create(self, serializer: serializers.Serializer) -> None:
        assignee = serializer.validated_data.pop("user", None)
        with transaction.atomic():
            super().perform_create(serializer)
            if assignee is not None:
                self._assign(serializer.instance, assignee)

    def perform_update(self, serializer: serializers.Serializer) -> None:
        customer: Customer = serializer.instance
        assignee = serializer.validated_data.pop("user", customer.user)
        with transaction.atomic():
            if getattr(assignee, "pk", None) != customer.user_id:
                self._assign(customer, assignee)
            super().perform_update(serializer)

    def _assign(self, customer: Customer, assignee: User | None) -> None:
        try:
            services.assign(customer, assignee, by=self.request.user)
        except services.InvalidAssignee as refusal:
            raise exceptions.ValidationError({"user": [str(refusal)]}) from None
        except services.NotAllowed as refusal:
            raise exceptions.PermissionDenied(str(refusal)) from None

    @extend_schema(
        request=SendRequest,
        responses={201: serializer_for(Message), 400: REFUSED, 404: REFUSED,
                   409: OpenApiResponse(REFUSED, description="outside the 24-hour window, "
                                        "opted out, or no usable number"),
                   422: REFUSED, 429: REFUSED, 502: REFUSED},
        summary="Send a WhatsApp message to this customer",
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def send(self, request: Request, **kwargs: Any) -> Response:
        """Send a message (text, template, media, interactive, ...) and store it with its wamid."""
        customer: Customer = self.get_object()
        if not isinstance(request.data, dict):
            return Response({"detail": "Send a JSON object: {\"type\": \"text\", \"text\": "
                             "{\"body\": \"...\"}}."}, status=status.HTTP_400_BAD_REQUEST)
        try:
            wanted = SendRequest.model_validate(request.data)
        except ValidationError as error:
            return _invalid(error)
        content = MessageContent.model_validate(
            wanted.model_dump(exclude={"reply_to", "from_number"}, exclude_none=True)
        )
        try:
            message = send_message(customer, content, from_number=wanted.from_number,
                                   reply_to=wanted.reply_to, user=request.user)
        except Refused as refusal:
            return _refused(refusal)
        return Response(serializer_for(Message)(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=PauseRequest,
        responses={200: inline_serializer("AutomationPause", {
            "automation_paused_until": serializers.DateTimeField(allow_null=True)})},
        summary="Pause automation in this conversation (talk to a human), or resume it",
    )
    @action(detail=True, methods=["post"], url_path="pause-automation")
    def pause_automation(self, request: Request, **kwargs: Any) -> Response:
        """{"minutes": 60} or {"paused_until": "..."} pauses; {} or nulls resume."""
        customer: Customer = self.get_object()
        wanted = PauseRequest(data=request.data)
        wanted.is_valid(raise_exception=True)
        minutes = wanted.validated_data.get("minutes")
        until = (timezone.now() + timedelta(minutes=minutes) if minutes
                 else wanted.validated_data.get("paused_until"))
        automation.pause(customer, until)
        return Response({"automation_paused_until": until})

    @extend_schema(
        request=None,
        responses={200: inline_serializer("MarkedRead", {
            "marked_read": serializers.IntegerField(),
            "message_id": serializers.CharField(allow_null=True)}),
            404: REFUSED, 409: REFUSED, 502: REFUSED},
        summary="Mark this customer's inbound messages read (also on WhatsApp)",
    )
    @action(detail=True, methods=["post"])
    def read(self, request: Request, **kwargs: Any) -> Response:
        """Mark every unread inbound message of this customer read, on WhatsApp too."""
        customer: Customer = self.get_object()
        try:
            result = mark_read(customer)
        except Refused as refusal:
            return _refused(refusal)
        return Response({"marked_read": result.marked_read, "message_id": result.message_id})
