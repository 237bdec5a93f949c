"""Serializers built per model: organization read-only, secrets write-only, timestamps set here."""
from __future__ import annotations

import re
import uuid
from functools import cache
from typing import Any

from django.db import models
from django.utils import timezone
from rest_framework import serializers

from crm import audit
from crm.auth import reserved_username
from crm.automation.errors import InvalidRule
from crm.automation.flows import check_flow_key, check_steps
from crm.automation.rules import check_rule
from crm.campaigns.content import check_settings
from crm.campaigns.errors import InvalidContent
from crm.contacts.attributes import check_definition
from crm.contacts.errors import ContactsError
from crm.contacts.services import check_attributes, check_label, check_unique_label
from crm.models import (
    AttributeDefinition,
    AutomationRule,
    Campaign,
    Customer,
    Flow,
    JobStatus,
    Label,
    Lead,
    Message,
    NumberFlowConfig,
    Role,
    Template,
    User,
    WhatsAppApiLog,
    WhatsAppNumber,
)
from crm.roles import is_platform_staff
from crm.storable import PROBLEM, unstorable
from crm.webhooks.numbers import digits
from crm.whatsapp.media import clean_media_id, clean_mime_type
from crm.whatsapp.numbers import conversation_number
from tenancy.context import get_current_organization_id

SYSTEM_FIELDS = ("organization", "created_at", "updated_at", "created_by", "updated_by",
                 "verification_status", "verified_at", "verification_note")
# Secrets are accepted on write and never returned.
WRITE_ONLY = {WhatsAppNumber: ("access_token",), User: ("password",)}
# Secrets the server keeps for itself: neither read nor written over the API.
HIDDEN = {WhatsAppNumber: ("registration_pin",)}
SECRET_HEADER = re.compile(r"authorization|token|secret|api[-_]?key", re.IGNORECASE)


class StorableJSONField(serializers.JSONField):
    """A JSON column, also from a form (a JSON text): nothing PostgreSQL refuses to store."""

    def to_internal_value(self, data: Any) -> Any:
        try:
            value = super().to_internal_value(data)
        except RecursionError:  # a JSON text from a form, nested past the recursion limit
            self.fail("invalid")
        where = unstorable(value)
        if where is not None:
            raise serializers.ValidationError(f"{where}: {PROBLEM}.")
        return value


class ModelSerializer(serializers.ModelSerializer):
    """DRF's model serializer with JSON columns read by StorableJSONField."""

    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping,
                                models.JSONField: StorableJSONField}


class UserSerializer(ModelSerializer):
    """Staff accounts: the password is hashed, and SUPER_ADMIN is never granted here."""

    password = serializers.CharField(write_only=True, required=False, min_length=8,
                                     style={"input_type": "password"})

    class Meta:
        model = User
        exclude = ("legacy_role",)
        # Deactivation ends tokens too: POST /api/v1/team/<id>/deactivate/ (crm.accounts).
        read_only_fields = (*SYSTEM_FIELDS, "is_active")

    def validate_role(self, role: Role | None) -> Role | None:
        if role is not None and role.name == Role.SUPER_ADMIN and not is_platform_staff(
            self.context["request"].user
        ):
            raise serializers.ValidationError("Only platform staff grant SUPER_ADMIN.")
        return role

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and not attrs.get("password"):
            raise serializers.ValidationError({"password": "A new user needs a password."})
        if "username" in attrs:
            organization_id = (self.instance.organization_id if self.instance is not None
                               else get_current_organization_id())
            reserved = reserved_username(attrs["username"], organization_id,
                                         getattr(self.instance, "pk", None))
            if reserved:
                raise serializers.ValidationError({"username": reserved})
        return attrs

    def save(self, **kwargs: Any) -> User:
        password = self.validated_data.pop("password", None)
        old_role = self.instance.role_name if self.instance is not None else None
        user = super().save(**kwargs)
        if password:
            user.set_password(password)
            user.save(update_fields=["password"])
        if self.instance is not None and old_role != user.role_name:
            audit.record(audit.ROLE_CHANGED, actor=self.context["request"].user,
                         user=user.username, old=old_role, new=user.role_name)
        return user


class JobStatusSerializer(ModelSerializer):
    """A job's outcome for one customer; `id` is `<job>:<customer>`."""

    id = serializers.SerializerMethodField()

    class Meta:
        model = JobStatus
        fields = ("id", "job", "customer", "status", "whatsapp_number", "attempts", "reason",
                  "updated_at", "organization")
        # Campaign sending writes these (crm.campaigns.sending).
        read_only_fields = ("attempts", "reason", "updated_at", "organization")

    def get_id(self, obj: JobStatus) -> str:
        return f"{obj.job_id}:{obj.customer_id}"


class WhatsAppApiLogSerializer(ModelSerializer):
    """API call logs, with credentials in recorded headers masked."""

    class Meta:
        model = WhatsAppApiLog
        fields = "__all__"

    def to_representation(self, instance: WhatsAppApiLog) -> dict[str, Any]:
        data = super().to_representation(instance)
        for key in ("request_headers", "response_headers"):
            if isinstance(data.get(key), dict):
                data[key] = {
                    name: "***" if SECRET_HEADER.search(name) else value
                    for name, value in data[key].items()
                }
        return data


class MessageSerializer(ModelSerializer):
    """A message recorded without sending: the time and the wa ids default from the customer."""

    class Meta:
        model = Message
        fields = "__all__"
        read_only_fields = ("organization",)

    # Both name a stored file and how it is served: checked on every write, PATCH included.
    def validate_media_id(self, value: str | None) -> str | None:
        return clean_media_id(value)

    def validate_mime_type(self, value: str | None) -> str | None:
        return clean_mime_type(value)

    def validate_raw_message(self, raw: Any) -> Any:
        if raw is not None and not isinstance(raw, dict):
            raise serializers.ValidationError(
                "The message as WhatsApp sent or received it: a JSON object, or null.")
        return raw

    def create(self, validated_data: dict[str, Any]) -> Message:
        data = validated_data
        data["timestamp"] = data.get("timestamp") or timezone.now()
        customer = data.get("customer")
        if customer is not None:
            number = conversation_number(customer)
            business = (digits(number.display_number) or number.phone_number_id) if number else None
            inbound = data.get("sender_type") == "customer"
            data["from_wa_id"] = data.get("from_wa_id") or (customer.wa_id if inbound else business)
            data["to_wa_id"] = data.get("to_wa_id") or (business if inbound else customer.wa_id)
        return super().create(data)


class TemplateSerializer(ModelSerializer):
    """A template as stored; its name and ids within Meta's limits (they travel in Graph API
    URLs, which have a length limit of their own)."""

    class Meta:
        model = Template
        fields = "__all__"
        read_only_fields = ("organization", "created_at", "updated_at")
        extra_kwargs = {"template_name": {"max_length": 512}, "language": {"max_length": 20},
                        "facebook_template_id": {"max_length": 100},
                        "whatsapp_business_account_id": {"max_length": 100}}


class CampaignSerializer(ModelSerializer):
    """A campaign; its content's sending settings of the shape a run reads."""

    class Meta:
        model = Campaign
        fields = "__all__"
        read_only_fields = ("organization", "created_at", "updated_at", "created_by",
                            "updated_by")

    def validate_content(self, content: Any) -> Any:
        try:
            check_settings(content)
        except InvalidContent as error:
            raise serializers.ValidationError(str(error)) from None
        return content


class AutomationRuleSerializer(ModelSerializer):
    """An automation rule; its trigger, conditions and actions checked (400 names the path,
    such as `trigger.match`)."""

    class Meta:
        model = AutomationRule
        fields = "__all__"
        read_only_fields = ("organization", "created_at", "updated_at", "round_robin_after")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current = self.instance
        parts = {name: attrs[name] if name in attrs else getattr(current, name, None)
                 for name in ("trigger", "conditions", "actions")}
        try:
            trigger, conditions, actions = check_rule(
                parts["trigger"], parts["conditions"], parts["actions"])
        except InvalidRule as error:
            raise serializers.ValidationError({error.path: [error.problem]}) from None
        return {**attrs, "trigger": trigger, "conditions": conditions, "actions": actions}


class FlowSerializer(ModelSerializer):
    """A guided flow; its steps checked (400 names the path, such as `steps[2].next.blue`)."""

    class Meta:
        model = Flow
        fields = "__all__"
        read_only_fields = ("organization", "created_at", "updated_at")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        steps = attrs["steps"] if "steps" in attrs else getattr(self.instance, "steps", None)
        try:
            return {**attrs, "steps": check_steps(steps)}
        except InvalidRule as error:
            raise serializers.ValidationError({error.path: [error.problem]}) from None


class NumberFlowConfigSerializer(ModelSerializer):
    """Which flow a number starts (`start_flow` with `"flow": "number"`): a flow's id."""

    class Meta:
        model = NumberFlowConfig
        fields = "__all__"
        read_only_fields = ("organization",)

    def validate_flow_key(self, key: str) -> str:
        try:
            return check_flow_key(key)
        except InvalidRule as error:
            raise serializers.ValidationError(error.problem) from None


class CustomerSerializer(ModelSerializer):
    """A customer; `attributes` checked by the organization's definitions (400 names the key);
    the conversation status changes through /api/v1/conversations/<id>/status/."""

    class Meta:
        model = Customer
        fields = "__all__"
        read_only_fields = ("organization", "created_at", "conversation_status", "snoozed_until")

    def validate_attributes(self, values: Any) -> dict[str, Any]:
        try:
            cleaned = check_attributes(values)
        except ContactsError as error:
            raise serializers.ValidationError({error.field: [error.problem]}) from None
        return {key: value for key, value in cleaned.items() if value is not None}


class LabelSerializer(ModelSerializer):
    """A label; its name unique in the organization ignoring case (409 when taken)."""

    class Meta:
        model = Label
        fields = "__all__"
        read_only_fields = ("organization", "created_at")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        name = attrs.get("name", getattr(self.instance, "name", None))
        color = attrs.get("color", getattr(self.instance, "color", None))
        try:
            name, color = check_label(name, color)
        except ContactsError as error:
            raise serializers.ValidationError({error.field: [error.problem]}) from None
        check_unique_label(name, exclude=getattr(self.instance, "pk", None))  # DuplicateLabel
        return {**attrs, "name": name, "color": color}


class AttributeDefinitionSerializer(ModelSerializer):
    """A custom attribute's definition: key, label, type and (for choice) its choices."""

    class Meta:
        model = AttributeDefinition
        fields = "__all__"
        read_only_fields = ("organization", "created_at")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        parts = {name: attrs[name] if name in attrs else getattr(self.instance, name, None)
                 for name in ("key", "type", "choices")}
        try:
            key, choices = check_definition(parts["key"], parts["type"] or "text",
                                            parts["choices"])
        except ContactsError as error:
            raise serializers.ValidationError({error.field: [error.problem]}) from None
        return {**attrs, "key": key, "choices": choices}


class LeadSerializer(ModelSerializer):
    """A lead; zoho_lead_id may be left out (a local stand-in until the push stores Zoho's id),
    and where its push to Zoho stands is read-only."""

    zoho_lead_id = serializers.CharField(default=lambda: f"local-{uuid.uuid4()}")

    class Meta:
        model = Lead
        fields = "__all__"
        read_only_fields = ("organization", "created_at", "updated_at")


SPECIAL = {User: UserSerializer, Lead: LeadSerializer, Flow: FlowSerializer,
           Customer: CustomerSerializer, Label: LabelSerializer,
           AttributeDefinition: AttributeDefinitionSerializer,
           NumberFlowConfig: NumberFlowConfigSerializer, Campaign: CampaignSerializer,
           Template: TemplateSerializer,
           AutomationRule: AutomationRuleSerializer, JobStatus: JobStatusSerializer,
           WhatsAppApiLog: WhatsAppApiLogSerializer,
           Message: MessageSerializer}


@cache
def serializer_for(model: type[models.Model]) -> type[ModelSerializer]:
    """The serializer class of `model` (built once per model, holding no querysets)."""
    if model in SPECIAL:
        return SPECIAL[model]
    names = {f.name for f in model._meta.get_fields()}
    meta = type("Meta", (), {
        "model": model,
        **({"exclude": HIDDEN[model]} if model in HIDDEN else {"fields": "__all__"}),
        "read_only_fields": tuple(name for name in SYSTEM_FIELDS if name in names),
        "extra_kwargs": {name: {"write_only": True} for name in WRITE_ONLY.get(model, ())},
    })
    return type(f"{model.__name__}Serializer", (ModelSerializer,), {"Meta": meta})
