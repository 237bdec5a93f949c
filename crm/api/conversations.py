"""The inbox for API clients: the conversation list, marking one read, and the live stream."""
from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, renderers, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.contacts import LABEL_PARAMETERS
from crm.api.views import OrganizationScopedMixin
from crm.contacts.services import wake_snoozed
from crm.inbox import events, queries, services
from crm.inbox.views import event_stream
from crm.models import Customer, Message
from crm.whatsapp.refusals import Refused
from tenancy.context import get_current_organization_id


class _Person(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()


class _LastMessage(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField(allow_null=True)
    body = serializers.CharField(allow_null=True)
    timestamp = serializers.DateTimeField(allow_null=True)
    inbound = serializers.SerializerMethodField()
    delivery_status = serializers.CharField(allow_null=True)

    def get_inbound(self, message: Message) -> bool:
        return message.sender_type == queries.INBOUND


class ConversationSerializer(serializers.Serializer):
    """One row of the inbox: the customer, its last message and the conversation's state."""

    id = serializers.UUIDField(source="customer.id", help_text="the customer's id")
    name = serializers.CharField(source="customer.name", allow_null=True)
    wa_id = serializers.CharField(source="customer.wa_id")
    business_number = serializers.CharField(source="customer.business_number", allow_null=True)
    last_message_at = serializers.DateTimeField(source="customer.last_message_at")
    last_read_at = serializers.DateTimeField(source="customer.last_read_at", allow_null=True)
    window_open_until = serializers.SerializerMethodField()
    unread = serializers.IntegerField()
    waiting = serializers.BooleanField(help_text="the customer wrote last")
    assigned_to = _Person(source="customer.user", allow_null=True)
    last_message = _LastMessage(allow_null=True)
    status = serializers.CharField(source="customer.conversation_status",
                                   help_text="open, pending, resolved or snoozed")
    snoozed_until = serializers.DateTimeField(source="customer.snoozed_until", allow_null=True)
    labels = serializers.SerializerMethodField()

    def get_labels(self, row: queries.Conversation) -> list[str]:
        """The customer's labels' names."""
        return [label.name for label in row.labels]

    def get_window_open_until(self, row: queries.Conversation) -> Any:
        """When free-form replies stop being allowed (null: the customer never wrote)."""
        at = row.customer.last_inbound_at
        return (at + queries.WINDOW).isoformat() if at else None


class ConversationPage(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="URL of the next page")
    results = ConversationSerializer(many=True)


FLAGS = [
    OpenApiParameter(name, OpenApiTypes.BOOL, description=text)
    for name, text in (("mine", "assigned to me"), ("unassigned", "assigned to nobody"),
                       ("waiting", "the customer wrote last"))
]


class ConversationListView(OrganizationScopedMixin, APIView):
    """The organization's conversations, newest activity first (keyset pages)."""

    model: ClassVar[type] = Customer

    @extend_schema(
        parameters=[
            *FLAGS,
            OpenApiParameter("number", str, description="digits of a business number"),
            OpenApiParameter("q", str, description="search name, phone or WhatsApp id"),
            *LABEL_PARAMETERS,
            OpenApiParameter("status", str, enum=Customer.ConversationStatus.values,
                             description="the conversation's status"),
            OpenApiParameter("mentions", OpenApiTypes.BOOL,
                             description="a note of the team mentions me"),
            OpenApiParameter("cursor", str, description="the `next` page's cursor"),
            OpenApiParameter("page_size", int, description=f"1 to {queries.MAX_PAGE_SIZE}"),
        ],
        responses={200: ConversationPage},
        summary="List conversations (the inbox)",
    )
    def get(self, request: Request) -> Response:
        """One row per customer the caller may see, with unread count and last message."""
        try:
            size = int(request.query_params.get("page_size", queries.PAGE_SIZE))
        except ValueError:
            raise exceptions.ParseError(
                f"page_size: a whole number from 1 to {queries.MAX_PAGE_SIZE}") from None
        try:
            filters = queries.Filters.from_params(request.query_params)
            wake_snoozed()  # snoozes that ended open again before the list is read
            page = queries.conversations(request.user, filters,
                                         request.query_params.get("cursor") or None, size)
        except queries.BadRequest as error:  # names the parameter and how to fix it
            raise exceptions.ParseError(str(error)) from None
        following = None
        if page.next_cursor:
            query = request.query_params.copy()
            query["cursor"] = page.next_cursor
            following = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        rows = ConversationSerializer(page.conversations, many=True).data
        return Response({"next": following, "results": rows})


class ConversationReadView(OrganizationScopedMixin, APIView):
    """Mark one conversation read."""

    model: ClassVar[type] = Customer

    @extend_schema(
        request=None,
        responses={200: ConversationSerializer, 404: OpenApiResponse(description="not yours")},
        summary="Mark a conversation read (and tell WhatsApp: blue ticks)",
    )
    def post(self, request: Request, customer_id: uuid.UUID) -> Response:
        """Moves the team's read marker to now; `receipt` says whether WhatsApp was told."""
        customer = queries.conversation(request.user, customer_id)
        if customer is None:
            raise exceptions.NotFound("No conversation of your organization has this id.")
        receipt = "sent"
        try:
            services.mark_read(customer)
        except Refused as refusal:
            receipt = f"not sent: {refusal.detail}"
        return Response({"id": str(customer.pk), "last_read_at": customer.last_read_at,
                         "receipt": receipt})


class EventStreamRenderer(renderers.BaseRenderer):
    """Lets clients ask for text/event-stream; errors before the stream starts are JSON text."""

    media_type = "text/event-stream"
    format = "sse"

    def render(self, data: Any, accepted_media_type: Any = None,
               renderer_context: Any = None) -> bytes:
        return json.dumps(data).encode()


class ConversationEventsView(OrganizationScopedMixin, APIView):
    """Server-sent events of the caller's organization (see the README's Inbox section)."""

    model: ClassVar[type] = Customer
    renderer_classes: ClassVar[list[Any]] = [renderers.JSONRenderer, EventStreamRenderer]

    @extend_schema(
        responses={200: OpenApiResponse(OpenApiTypes.STR, description=(
            "text/event-stream: each event is one `data:` line of JSON, "
            '{"type": "message", "customers": [ids]} (new messages), '
            '{"type": "status", "message_id": wamid, "status": "delivered"} (delivery status) or '
            '{"type": "conversation", "customer": id} (read or assigned); `:` lines keep the '
            "connection alive. The stream ends after a few minutes: reconnect, then re-read "
            "the list (events are not replayed)."))},
        summary="Live inbox events of your organization",
    )
    def get(self, request: Request) -> HttpResponseBase:
        """The stream of the organization this request runs as, and of no other."""
        organization_id = get_current_organization_id()
        assert organization_id is not None, "OrganizationScopedMixin activated it"
        try:
            return event_stream(organization_id, request.user)
        except events.StreamRefused as refusal:
            return Response({"detail": str(refusal)}, status=refusal.status,
                            headers={"Retry-After": str(refusal.retry_after)})
