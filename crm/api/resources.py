"""One resource per table, named after it with dashes: filters, ordering, read-only or not."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models

from crm import models as crm
from crm.api.catalog import CatalogViewSet
from crm.api.contacts import LabelViewSet
from crm.api.media import MessageViewSet
from crm.api.numbers import WhatsAppNumberViewSet
from crm.api.sending import CustomerViewSet
from crm.api.templates import TemplateViewSet
from crm.outgoing.views import WebhookDeliveryViewSet, WebhookSubscriptionViewSet
from crm.api.views import (
    JobStatusViewSet,
    ReadOnlyTenantViewSet,
    TenantViewSet,
)
from crm.orders.views import OrderViewSet
from crm.segments.views import SegmentViewSet
from crm.zoho.views import LeadViewSet

RANGE = ["exact", "gte", "lte"]


@dataclass(frozen=True)
class Resource:
    """An API resource over one model."""

    model: type[models.Model]
    filters: dict[str, list[str]] = field(default_factory=dict)
    ordering: tuple[str, ...] = ("created_at",)
    base: type = TenantViewSet

    @property
    def prefix(self) -> str:
        """The URL segment: the table name with dashes."""
        return self.model._meta.db_table.replace("_", "-")

    def viewset(self) -> type:
        """A viewset class for this resource."""
        attrs: dict[str, Any] = {
            "model": self.model,
            "lookup_field": self.model._meta.pk.name,
            "filterset_fields": self.filters,
            "ordering_fields": list(self.ordering),
        }
        if isinstance(self.model._meta.pk, models.CharField):
            attrs["lookup_value_regex"] = "[^/]+"  # names such as template names may hold dots
        if self.base is JobStatusViewSet:
            attrs["lookup_field"] = "pk"
        return type(f"{self.model.__name__}ViewSet", (self.base,), attrs)


def _exact(*names: str) -> dict[str, list[str]]:
    return {name: ["exact"] for name in names}


RESOURCES = [
    Resource(crm.Customer, {**_exact("wa_id", "customer_status", "conversation_status", "user",
                                     "email"),
                            "created_at": RANGE, "last_message_at": RANGE},
             ("created_at", "last_message_at", "name"), base=CustomerViewSet),
    Resource(crm.Message, {**_exact("customer", "type", "sender_type", "from_wa_id", "message_id"),
                           "timestamp": RANGE}, ("timestamp", "id"), base=MessageViewSet),
    Resource(crm.User, _exact("username", "email", "role"), ("username", "created_at")),
    Resource(crm.WhatsAppNumber, _exact("phone_number_id", "is_active", "verification_status"),
             ("display_number", "created_at"), base=WhatsAppNumberViewSet),
    Resource(crm.NumberFlowConfig, _exact("phone_number", "flow_key", "is_enabled"),
             ("priority", "created_at")),
    Resource(crm.Campaign, {**_exact("type", "status", "created_by"), "created_at": RANGE},
             ("created_at", "name")),
    Resource(crm.Job, {**_exact("campaign"), "created_at": RANGE}),
    Resource(crm.JobStatus, _exact("job", "customer", "status"), ("status",),
             base=JobStatusViewSet),
    Resource(crm.CampaignRecipient, _exact("campaign", "status", "phone_number")),
    Resource(crm.CampaignLog, {**_exact("campaign", "job", "status", "target_type"),
                               "created_at": RANGE}, base=ReadOnlyTenantViewSet),
    Resource(crm.Order, {**_exact("customer", "status"), "timestamp": RANGE},
             ("timestamp", "status"), base=OrderViewSet),
    Resource(crm.OrderItem, _exact("order", "product", "product_retailer_id"),
             ("id", "created_at")),
    Resource(crm.Payment, {**_exact("order", "status", "razorpay_id"), "created_at": RANGE},
             ("created_at", "amount")),
    Resource(crm.PaymentTransaction, _exact("order", "status", "transaction_id"),
             ("created_at", "amount")),
    Resource(crm.PaymentEvent, {**_exact("order", "provider", "event", "event_id"),
                                "received_at": RANGE}, ("received_at",),
             base=ReadOnlyTenantViewSet),
    Resource(crm.ReferrerTracking, _exact("customer", "wa_id", "is_appointment_booked")),
    Resource(crm.CustomerAddress, _exact("customer", "city", "pincode", "is_default")),
    Resource(crm.AddressCollectionSession, _exact("customer", "order", "status")),
    Resource(crm.Template, _exact("facebook_template_id", "template_name", "language", "status",
                                  "category"), ("template_name", "created_at"),
             base=TemplateViewSet),
    Resource(crm.QuickReply, _exact("category", "created_by"), ("title", "created_at")),
    Resource(crm.Lead, {**_exact("customer", "wa_id", "zoho_lead_id", "lead_source", "city",
                                 "zoho_push_status"), "created_at": RANGE}, base=LeadViewSet),
    Resource(crm.ZohoMapping, _exact("treatment_name", "zoho_name"), ("treatment_name",)),
    Resource(crm.FlowLog, {**_exact("wa_id", "flow_type", "step", "status_code"),
                           "created_at": RANGE}, base=ReadOnlyTenantViewSet),
    Resource(crm.WhatsAppApiLog, {**_exact("campaign", "job", "phone_number",
                                           "response_status_code"), "created_at": RANGE},
             base=ReadOnlyTenantViewSet),
    Resource(crm.ZohoPayloadLog, {**_exact("wa_id", "status", "zoho_lead_id"),
                                  "created_at": RANGE}, base=ReadOnlyTenantViewSet),
    Resource(crm.AutomationRule, _exact("is_active", "stop_processing"),
             ("priority", "created_at", "name")),
    Resource(crm.AutomationRun, {**_exact("rule", "message", "customer", "outcome"),
                                 "created_at": RANGE}, base=ReadOnlyTenantViewSet),
    Resource(crm.AutomationSchedule, {**_exact("rule", "message", "customer", "state"),
                                      "due_at": RANGE}, ("due_at",), base=ReadOnlyTenantViewSet),


    Resource(crm.Flow, _exact("is_active"), ("name", "created_at")),
    Resource(crm.Segment, {}, ("name", "created_at"), base=SegmentViewSet),
    Resource(crm.FlowSession, {**_exact("flow", "customer", "rule", "state"),
                               "created_at": RANGE}, base=ReadOnlyTenantViewSet),
    Resource(crm.Label, _exact("name"), ("name", "created_at"), base=LabelViewSet),
    Resource(crm.CustomerLabel, {**_exact("customer", "label"), "created_at": RANGE},
             base=ReadOnlyTenantViewSet),
    Resource(crm.AttributeDefinition, _exact("key", "type"), ("key", "created_at")),
    Resource(crm.ConversationNote, {**_exact("customer", "author"), "created_at": RANGE},
             base=ReadOnlyTenantViewSet),
    Resource(crm.WebhookSubscription, _exact("is_active"), ("created_at", "url"),
             base=WebhookSubscriptionViewSet),
    Resource(crm.WebhookDelivery, {**_exact("subscription", "event", "event_id", "state"),
                                   "created_at": RANGE}, base=WebhookDeliveryViewSet),
    Resource(crm.Category, _exact("slug"), ("name",), base=CatalogViewSet),
    Resource(crm.SubCategory, _exact("category", "slug"), ("name",), base=CatalogViewSet),
    Resource(crm.Product, _exact("category", "sub_category", "sku"), ("name", "price"),
             base=CatalogViewSet),
]
