"""Contacts for API clients: labels (ORG_ADMIN writes), a customer's labels and attributes (agents
apply them), private notes and the status of a conversation, and the customers list's label
filter. A customer the caller may not see answers 404, like another organization's."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from django.db import models
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.views import Conflict, OrganizationScopedMixin, TenantViewSet
from crm.contacts import queries, services
from crm.contacts.errors import ContactsError, DuplicateLabel
from crm.inbox.queries import conversation
from crm.models import ConversationNote, Customer

LABEL_PARAMETERS = [
    OpenApiParameter("label", str, many=True, description="a label's name (repeat for more)"),
    OpenApiParameter("match", str, enum=queries.MATCHES,
                     description="with several labels: any of them (default) or all"),
]


@contextmanager
def _as_conflict() -> Iterator[None]:
    """A label name taken answers 409, saying to choose another."""
    try:
        yield
    except DuplicateLabel as error:
        raise Conflict(str(error)) from None


class LabelViewSet(TenantViewSet):
    """The organization's labels: agents read them, the ORG_ADMIN writes them."""

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with _as_conflict():
            return super().create(request, *args, **kwargs)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with _as_conflict():
            return super().update(request, *args, **kwargs)


class LabelFilter:
    """The customers list's ?label=<name>&match=any|all (crm.contacts.queries.has_labels)."""

    def filter_queryset(self, request: Request, rows: models.QuerySet, view: Any
                        ) -> models.QuerySet:
        try:
            names, match = queries.label_filter(request.query_params)
        except ContactsError as error:
            raise exceptions.ParseError(str(error)) from None
        return queries.has_labels(rows, names, match) if names else rows

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [{"name": "label", "required": False, "in": "query",
                 "description": "a label's name (repeat for more)", "schema": {"type": "string"}},
                {"name": "match", "required": False, "in": "query",
                 "description": "with several labels: any (default) or all",
                 "schema": {"type": "string", "enum": list(queries.MATCHES)}}]


def _bad(error: ContactsError) -> Response:
    """400 naming the field, saying what to do."""
    return Response({"detail": str(error), "field": error.field},
                    status=status.HTTP_400_BAD_REQUEST)


class _CustomerView(OrganizationScopedMixin, APIView):
    """One customer the caller may see (else 404); writes need the role to change customers."""

    model: ClassVar[type] = Customer

    def customer(self, request: Request, customer_id: uuid.UUID) -> Customer:
        found = conversation(request.user, customer_id)
        if found is None:
            raise exceptions.NotFound("No customer of your organization has this id.")
        return found


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise exceptions.ParseError("Send a JSON object.")
    return request.data


LABELS = inline_serializer("CustomerLabelNames", {"labels": inline_serializer(
    "LabelOfCustomer", {"id": serializers.UUIDField(), "name": serializers.CharField(),
                        "color": serializers.CharField()}, many=True)})


def _labels(customer: Customer) -> Response:
    return Response({"labels": [{"id": str(label.pk), "name": label.name, "color": label.color}
                                for label in queries.labels_of(customer)]})


class CustomerLabelsView(_CustomerView):
    """A customer's labels: read them, add and remove them by name."""

    @extend_schema(responses={200: LABELS}, summary="A customer's labels")
    def get(self, request: Request, customer_id: uuid.UUID) -> Response:
        """The customer's labels, by name."""
        return _labels(self.customer(request, customer_id))

    @extend_schema(
        request=inline_serializer("ChangeLabels", {
            "add": serializers.ListField(child=serializers.CharField(), required=False),
            "remove": serializers.ListField(child=serializers.CharField(), required=False)}),
        responses={200: LABELS},
        summary="Add or remove a customer's labels (agents: the organization's existing ones)",
    )
    def post(self, request: Request, customer_id: uuid.UUID) -> Response:
        """`add` and `remove`: lists of label names (any case)."""
        customer = self.customer(request, customer_id)
        body = _body(request)
        try:
            if "add" in body:
                services.add_labels(customer, body["add"], by=request.user)
            if "remove" in body:
                services.remove_labels(customer, body["remove"], by=request.user)
        except ContactsError as error:
            return _bad(error)
        return _labels(customer)


ATTRIBUTES = inline_serializer("CustomerAttributes", {"attributes": serializers.DictField()})


class CustomerAttributesView(_CustomerView):
    """A customer's custom attributes, checked by the organization's definitions."""

    @extend_schema(responses={200: ATTRIBUTES}, summary="A customer's attributes")
    def get(self, request: Request, customer_id: uuid.UUID) -> Response:
        """Every attribute the customer has, {key: value}."""
        return Response({"attributes": self.customer(request, customer_id).attributes or {}})

    @extend_schema(
        request=inline_serializer("SetAttributes", {
            "attributes": serializers.DictField(help_text="{key: value}; null removes one")}),
        responses={200: ATTRIBUTES}, summary="Set some of a customer's attributes")
    def patch(self, request: Request, customer_id: uuid.UUID) -> Response:
        """Set the given attributes, keep the others; 400 names a key its definition refuses."""
        customer = self.customer(request, customer_id)
        try:
            merged = services.set_attributes(customer, _body(request).get("attributes"),
                                             by=request.user)
        except ContactsError as error:
            return _bad(error)
        return Response({"attributes": merged})


class NoteSerializer(serializers.ModelSerializer):
    """A private note of the team on a conversation."""

    class Meta:
        model = ConversationNote
        fields = ("id", "customer", "author", "body", "mentions", "created_at")
        read_only_fields = fields


class ConversationNotesView(_CustomerView):
    """The team's private notes on a conversation (never sent to the customer)."""

    @extend_schema(responses={200: NoteSerializer(many=True)}, summary="A conversation's notes")
    def get(self, request: Request, customer_id: uuid.UUID) -> Response:
        """The notes, oldest first."""
        notes = queries.notes_of(self.customer(request, customer_id))
        return Response(NoteSerializer(notes, many=True).data)

    @extend_schema(
        request=inline_serializer("AddNote", {
            "body": serializers.CharField(),
            "mentions": serializers.ListField(child=serializers.UUIDField(), required=False,
                                              help_text="agents' user ids; @username too")}),
        responses={201: NoteSerializer}, summary="Add a private note (with @mentions)")
    def post(self, request: Request, customer_id: uuid.UUID) -> Response:
        """Add a note; the agents it mentions find it with ?mentions=1 in the inbox."""
        customer = self.customer(request, customer_id)
        body = _body(request)
        try:
            note = services.add_note(customer, body.get("body"), by=request.user,
                                     mentions=body.get("mentions") or [])
        except ContactsError as error:
            return _bad(error)
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)


STATUSES = ", ".join(Customer.ConversationStatus.values)
STATUS = inline_serializer("ConversationStatus", {
    "id": serializers.UUIDField(),
    "status": serializers.CharField(help_text=STATUSES),
    "snoozed_until": serializers.DateTimeField(allow_null=True)})


class ConversationStatusView(_CustomerView):
    """Set a conversation's status: open, pending, resolved, or snoozed until a time."""

    @extend_schema(
        request=inline_serializer("SetStatus", {
            "status": serializers.CharField(help_text=STATUSES),
            "snoozed_until": serializers.DateTimeField(required=False, allow_null=True)}),
        responses={200: STATUS}, summary="Set a conversation's status (snooze until a time)")
    def post(self, request: Request, customer_id: uuid.UUID) -> Response:
        """A snoozed conversation opens again at `snoozed_until`, any one when the customer
        writes."""
        customer = self.customer(request, customer_id)
        body = _body(request)
        until = body.get("snoozed_until")
        try:
            if until is not None:
                until = serializers.DateTimeField().run_validation(until)
        except serializers.ValidationError:
            return _bad(ContactsError("snoozed_until", "give a time such as "
                                      "2026-12-31T09:00:00+05:30."))
        try:
            services.set_status(customer, body.get("status"), until=until, by=request.user)
        except ContactsError as error:
            return _bad(error)
        return Response(_status(customer))


def _status(customer: Customer) -> dict[str, Any]:
    until: datetime | None = customer.snoozed_until
    return {"id": str(customer.pk), "status": customer.conversation_status,
            "snoozed_until": until.isoformat() if until else None}
