"""The wb-crm models, grouped by domain; this module only re-exports them."""
from crm.models.accounts import AuditEvent, Invitation
from crm.models.audiences import ContactImport, Segment
from crm.models.automation import (
    AutomationRule,
    AutomationRun,
    AutomationSchedule,
    Flow,
    FlowSession,
)
from crm.models.campaigns import (
    Campaign,
    CampaignCustomer,
    CampaignLog,
    CampaignRecipient,
    Job,
    JobStatus,
)
from crm.models.catalog import Category, Cost, File, Product, SubCategory
from crm.models.contacts import (
    AttributeDefinition,
    ConversationNote,
    CustomerLabel,
    Label,
)
from crm.models.credentials import IntegrationCredential
from crm.models.customers import (
    AddressCollectionSession,
    Customer,
    CustomerAddress,
    ReferrerTracking,
)
from crm.models.integrations import (
    FlowLog,
    Lead,
    WhatsAppApiLog,
    ZohoMapping,
    ZohoPayloadLog,
)
from crm.models.lifecycle import OrganizationExport
from crm.models.messaging import (
    Message,
    NumberFlowConfig,
    QuickReply,
    Template,
    Verification,
    WhatsAppNumber,
)
from crm.models.orders import Order, OrderItem, Payment, PaymentEvent, PaymentTransaction
from crm.models.organizations import ApiToken, Organization, Role, User
from crm.models.outgoing import WebhookDelivery, WebhookSubscription
from crm.models.reports import (
    CampaignFunnel,
    ConversationResolution,
    DailyMessageStat,
    ResponseTime,
    ResponseTimeCount,
)
from crm.models.webhooks import DeliveryState, InboundDelivery

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AddressCollectionSession",
    "AttributeDefinition",
    "AutomationRule",
    "AutomationRun",
    "AutomationSchedule",
    "Campaign",
    "CampaignCustomer",
    "CampaignFunnel",
    "CampaignLog",
    "CampaignRecipient",
    "Category",
    "ContactImport",
    "ConversationNote",
    "ConversationResolution",
    "Cost",
    "Customer",
    "CustomerAddress",
    "CustomerLabel",
    "DailyMessageStat",
    "DeliveryState",
    "File",
    "IntegrationCredential",
    "Flow",
    "FlowLog",
    "FlowSession",
    "Invitation",
    "Job",
    "Label",
    "JobStatus",
    "Lead",
    "Message",
    "NumberFlowConfig",
    "Order",
    "OrderItem",
    "Organization",
    "OrganizationExport",
    "Payment",
    "PaymentEvent",
    "PaymentTransaction",
    "Product",
    "QuickReply",
    "ReferrerTracking",
    "ResponseTime",
    "ResponseTimeCount",
    "Role",
    "Segment",
    "SubCategory",
    "Template",
    "User",
    "Verification",
    "InboundDelivery",
    "WhatsAppApiLog",
    "WebhookDelivery",
    "WebhookSubscription",
    "WhatsAppNumber",
    "ZohoMapping",
    "ZohoPayloadLog",
]
