"""The wb-crm models, grouped by domain; this module only re-exports them."""
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
from crm.models.messaging import (
    Message,
    NumberFlowConfig,
    QuickReply,
    Template,
    Verification,
    WhatsAppNumber,
)
from crm.models.orders import Order, OrderItem, Payment, PaymentTransaction
from crm.models.organizations import ApiToken, Organization, Role, User
from crm.models.webhooks import DeliveryState, InboundDelivery

__all__ = [
    "ApiToken",
    "AddressCollectionSession",
    "AutomationRule",
    "AutomationRun",
    "AutomationSchedule",
    "Campaign",
    "CampaignCustomer",
    "CampaignLog",
    "CampaignRecipient",
    "Category",
    "Cost",
    "Customer",
    "CustomerAddress",
    "DeliveryState",
    "File",
    "Flow",
    "FlowLog",
    "FlowSession",
    "Job",
    "JobStatus",
    "Lead",
    "Message",
    "NumberFlowConfig",
    "Order",
    "OrderItem",
    "Organization",
    "Payment",
    "PaymentTransaction",
    "Product",
    "QuickReply",
    "ReferrerTracking",
    "Role",
    "SubCategory",
    "Template",
    "User",
    "Verification",
    "InboundDelivery",
    "WhatsAppApiLog",
    "WhatsAppNumber",
    "ZohoMapping",
    "ZohoPayloadLog",
]
