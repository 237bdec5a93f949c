"""factory_boy factories for every crm model.

Tenant factories run inside `tenant_context(org)`: a new tenant row takes the active organization
on save, so none of them sets `organization`, and every SubFactory parent lands in the same one.
Shared models (Organization, Role, Category, SubCategory, Product, Cost, File) have no
organization; create them under `unscoped()` by convention. A shared Template or ZohoMapping, or a
platform SUPER_ADMIN user, is one created inside `unscoped()` (its organization stays NULL).
"""
from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from crm.integrations import crypto
from crm.models import (
    AttributeDefinition,
    ConversationNote,
    ConversationResolution,
    CustomerLabel,
    Label,
    AddressCollectionSession,
    ApiToken,
    AuditEvent,
    AutomationRule,
    AutomationRun,
    AutomationSchedule,
    Campaign,
    CampaignCustomer,
    CampaignFunnel,
    CampaignLog,
    CampaignRecipient,
    Category,
    ContactImport,
    Cost,
    Customer,
    CustomerAddress,
    DailyMessageStat,
    File,
    Flow,
    FlowLog,
    FlowSession,
    IntegrationCredential,
    Invitation,
    Job,
    JobStatus,
    Lead,
    Message,
    NumberFlowConfig,
    Order,
    OrderItem,
    Organization,
    OrganizationExport,
    Payment,
    PaymentEvent,
    PaymentTransaction,
    Product,
    QuickReply,
    ReferrerTracking,
    ResponseTime,
    ResponseTimeCount,
    Role,
    Segment,
    SubCategory,
    Template,
    User,
    WebhookDelivery,
    WebhookSubscription,
    InboundDelivery,
    WhatsAppApiLog,
    WhatsAppNumber,
    ZohoMapping,
    ZohoPayloadLog,
)
from crm.outgoing.services import EVENTS
from crm.outgoing.signing import new_secret

DEFAULT_PASSWORD = "password"

_now = factory.LazyFunction(timezone.now)


def _wa_id(n: int) -> str:
    """A WhatsApp id (country code + 10-digit mobile number) unique per sequence number."""
    return f"91{9000000000 + n}"


# --- Shared models -------------------------------------------------------------------------


class OrganizationFactory(DjangoModelFactory):
    """An organization (tenant); shared table."""

    class Meta:
        model = Organization
        django_get_or_create = ("code",)

    name = factory.Faker("company")
    code = factory.Sequence(lambda n: f"org-{n}")
    slug = factory.LazyAttribute(lambda o: o.code)
    description = factory.Faker("catch_phrase")
    is_active = True
    created_at = _now
    updated_at = _now


class RoleFactory(DjangoModelFactory):
    """A system-wide role, fetched by name when it already exists; shared table."""

    class Meta:
        model = Role
        django_get_or_create = ("name",)

    name = Role.AGENT
    display_name = factory.LazyAttribute(lambda o: o.name.replace("_", " ").title())
    is_active = True
    created_at = _now


class CategoryFactory(DjangoModelFactory):
    """A product category of the active organization (shared when made inside unscoped())."""

    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")
    description = factory.Faker("sentence")
    created_at = _now


class SubCategoryFactory(DjangoModelFactory):
    """A product sub-category, of its category's organization."""

    class Meta:
        model = SubCategory

    category = factory.SubFactory(CategoryFactory)
    name = factory.Sequence(lambda n: f"Sub-category {n}")
    slug = factory.Sequence(lambda n: f"sub-category-{n}")
    created_at = _now


class ProductFactory(DjangoModelFactory):
    """A product of the active organization (shared when made inside unscoped())."""

    class Meta:
        model = Product

    name = factory.Faker("catch_phrase")
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    price = factory.Faker("pyfloat", min_value=100, max_value=5000, right_digits=2)
    description = factory.Faker("sentence")
    stock = factory.Faker("pyint", min_value=0, max_value=200)
    category = factory.SubFactory(CategoryFactory)
    sub_category = factory.SubFactory(
        SubCategoryFactory, category=factory.SelfAttribute("..category")
    )
    created_at = _now


class CostFactory(DjangoModelFactory):
    """The price of one campaign message type; shared table keyed by type."""

    class Meta:
        model = Cost
        django_get_or_create = ("type",)

    type = factory.Sequence(lambda n: f"type-{n}")
    price = 0.8


class FileFactory(DjangoModelFactory):
    """A media file uploaded to Meta; shared table keyed by Meta's media id."""

    class Meta:
        model = File

    id = factory.Sequence(lambda n: f"{10**15 + n}")
    name = factory.Faker("file_name", category="image")
    mimetype = "image/jpeg"


class InboundDeliveryFactory(DjangoModelFactory):
    """A kept webhook delivery (platform table), already processed."""

    class Meta:
        model = InboundDelivery

    received_at = _now
    body = '{"object": "whatsapp_business_account", "entry": []}'
    state = "done"
    attempts = 1
    processed_at = _now
    report = factory.LazyFunction(lambda: {"stored": {"messages": 0}, "ignored": []})


# --- Organization staff --------------------------------------------------------------------


class UserFactory(DjangoModelFactory):
    """An agent of the active organization (or platform staff when made inside unscoped())."""

    class Meta:
        model = User

    class Params:
        org_admin = factory.Trait(
            role=factory.SubFactory(RoleFactory, name=Role.ORG_ADMIN),
            legacy_role=User.LegacyRole.ADMIN,
        )
        super_admin = factory.Trait(
            role=factory.SubFactory(RoleFactory, name=Role.SUPER_ADMIN),
            legacy_role=User.LegacyRole.SUPER_ADMIN,
        )

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(DEFAULT_PASSWORD)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    phone_number = factory.Sequence(lambda n: _wa_id(n)[2:])
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    role = factory.SubFactory(RoleFactory, name=Role.AGENT)
    legacy_role = User.LegacyRole.AGENT
    created_at = _now
    updated_at = _now


class ApiTokenFactory(DjangoModelFactory):
    """An API token of a user of the active organization."""

    class Meta:
        model = ApiToken

    user = factory.SubFactory(UserFactory)
    key_hash = factory.Sequence(lambda n: ApiToken.hash(f"token-{n}"))


# --- Customers -----------------------------------------------------------------------------


class CustomerFactory(DjangoModelFactory):
    """A WhatsApp contact of the active organization."""

    class Meta:
        model = Customer

    wa_id = factory.Sequence(_wa_id)
    name = factory.Faker("name")
    phone_1 = factory.LazyAttribute(lambda o: o.wa_id)
    email = factory.Faker("email")
    customer_status = Customer.Status.PENDING
    created_at = _now
    last_message_at = _now


class CustomerAddressFactory(DjangoModelFactory):
    """A delivery address of a customer."""

    class Meta:
        model = CustomerAddress

    customer = factory.SubFactory(CustomerFactory)
    full_name = factory.LazyAttribute(lambda o: o.customer.name or "Customer")
    house_street = factory.Faker("street_address")
    locality = factory.Faker("street_name")
    city = factory.Faker("city")
    state = factory.Faker("state")
    pincode = factory.Faker("numerify", text="5#####")
    phone = factory.LazyAttribute(lambda o: o.customer.wa_id)
    address_type = "home"
    is_default = True
    is_verified = False
    created_at = _now


class AddressCollectionSessionFactory(DjangoModelFactory):
    """A conversation collecting a customer's address."""

    class Meta:
        model = AddressCollectionSession

    customer = factory.SubFactory(CustomerFactory)
    status = "pending"
    collection_method = "whatsapp"
    session_data = factory.LazyFunction(dict)
    created_at = _now
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))


class ReferrerTrackingFactory(DjangoModelFactory):
    """Where a customer came from."""

    class Meta:
        model = ReferrerTracking

    customer = factory.SubFactory(CustomerFactory)
    wa_id = factory.SelfAttribute("customer.wa_id")
    center_name = factory.Faker("city")
    location = factory.Faker("city")
    treatment_type = "Hair Removal"
    is_appointment_booked = False
    created_at = _now


# --- Messaging -----------------------------------------------------------------------------


class WhatsAppNumberFactory(DjangoModelFactory):
    """A WhatsApp Business number of the active organization."""

    class Meta:
        model = WhatsAppNumber
        skip_postgeneration_save = True

    phone_number_id = factory.Sequence(lambda n: f"{10**14 + n}")
    display_number = factory.Sequence(lambda n: f"+91 80000 {n:05d}")
    access_token = factory.Faker("sha256")
    webhook_path = factory.LazyAttribute(lambda o: f"/webhook/{o.phone_number_id}")
    is_active = True
    created_at = _now

    @factory.post_generation
    def verified(obj: WhatsAppNumber, create: bool, extracted: bool | None,
                 **kwargs: object) -> None:
        """Verified unless `verified=False`: most tests need a number that receives."""
        if create and extracted is not False:
            obj.verification_status = "verified"
            obj.save(update_fields=["verification_status"])


class NumberFlowConfigFactory(DjangoModelFactory):
    """The conversation flow a WhatsApp number runs (one per number, by its phone_number_id)."""

    class Meta:
        model = NumberFlowConfig

    class Params:
        number = factory.SubFactory(WhatsAppNumberFactory)

    phone_number = factory.SelfAttribute("number.phone_number_id")
    display_number = factory.SelfAttribute("number.display_number")
    display_digits = factory.LazyAttribute(
        lambda o: "".join(ch for ch in o.display_number if ch.isdigit())
    )
    flow_key = factory.Sequence(lambda n: f"flow_{n}")
    flow_name = factory.LazyAttribute(lambda o: o.flow_key.replace("_", " ").title())
    priority = 0
    is_enabled = True
    created_at = _now


class MessageFactory(DjangoModelFactory):
    """An inbound text message from a customer."""

    class Meta:
        model = Message

    message_id = factory.Sequence(lambda n: f"wamid.test{n:08d}")
    customer = factory.SubFactory(CustomerFactory)
    from_wa_id = factory.SelfAttribute("customer.wa_id")
    to_wa_id = "918000000000"
    type = "text"
    body = factory.Faker("sentence")
    timestamp = _now
    sender_type = "customer"


class AutomationRuleFactory(DjangoModelFactory):
    """A welcome rule: a customer's first message gets a text reply."""

    class Meta:
        model = AutomationRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    priority = 10
    trigger = factory.LazyFunction(lambda: {"type": "first_message"})
    conditions = factory.LazyFunction(lambda: {"numbers": [], "hours": "any"})
    actions = factory.LazyFunction(
        lambda: [{"type": "send", "message": {"type": "text", "text": {"body": "Hi {{name}}"}}}])


class AutomationRunFactory(DjangoModelFactory):
    """A rule's firing for a customer's message; all three of the active organization."""

    class Meta:
        model = AutomationRun

    rule = factory.SubFactory(AutomationRuleFactory)
    message = factory.SubFactory(MessageFactory)
    customer = factory.SelfAttribute("message.customer")
    outcome = "done"


class AutomationScheduleFactory(DjangoModelFactory):
    """A pending follow-up armed by a customer's message, due a minute after it."""

    class Meta:
        model = AutomationSchedule

    rule = factory.SubFactory(
        AutomationRuleFactory,
        trigger=factory.LazyFunction(lambda: {"type": "no_agent_reply", "minutes": 1}))
    message = factory.SubFactory(MessageFactory)
    customer = factory.SelfAttribute("message.customer")
    due_at = factory.LazyAttribute(lambda o: o.message.timestamp + timedelta(minutes=1))


class ContactImportFactory(DjangoModelFactory):
    """A finished import of a two-row CSV file of the active organization."""

    class Meta:
        model = ContactImport

    file_name = factory.Sequence(lambda n: f"contacts-{n}.csv")
    file_format = "csv"
    status = ContactImport.Status.DONE
    total_rows = 2
    processed_rows = 2
    created_count = 2


class SegmentFactory(DjangoModelFactory):
    """A segment of the active organization's customers who did not opt out."""

    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    filters = factory.LazyFunction(lambda: {"opted_out": False})


class IntegrationCredentialFactory(DjangoModelFactory):
    """The active organization's Razorpay keys (one row per provider: an existing one is reused).

    The secrets are test values, encrypted as the app stores them.
    """

    class Meta:
        model = IntegrationCredential
        django_get_or_create = ("provider",)

    provider = "razorpay"
    config = factory.LazyFunction(lambda: {"key_id": "rzp_test_factory"})
    secrets = factory.LazyFunction(lambda: crypto.encrypt(json.dumps(
        {"key_secret": "factory-key-secret", "webhook_secret": "factory-webhook-secret"})))


class FlowFactory(DjangoModelFactory):
    """A one-question flow: the city as text, then a closing message."""

    class Meta:
        model = Flow

    name = factory.Sequence(lambda n: f"Flow {n}")
    steps = factory.LazyFunction(lambda: [
        {"id": "city", "message": {"type": "text", "text": {"body": "Your city?"}},
         "expect": "text", "answer": "city", "next": "done"},
        {"id": "done", "message": {"type": "text", "text": {"body": "Thanks from {{city}}"}}},
    ])


class FlowSessionFactory(DjangoModelFactory):
    """An active session of a customer of the active organization at the flow's first step."""

    class Meta:
        model = FlowSession

    flow = factory.SubFactory(FlowFactory)
    customer = factory.SubFactory(CustomerFactory)
    rule = factory.SubFactory(AutomationRuleFactory)
    step = "city"
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=30))


class LabelFactory(DjangoModelFactory):
    """A label of the active organization."""

    class Meta:
        model = Label

    name = factory.Sequence(lambda n: f"Label {n}")


class CustomerLabelFactory(DjangoModelFactory):
    """A label put on a customer."""

    class Meta:
        model = CustomerLabel

    customer = factory.SubFactory(CustomerFactory)
    label = factory.SubFactory(LabelFactory)


class AttributeDefinitionFactory(DjangoModelFactory):
    """A text attribute of the active organization."""

    class Meta:
        model = AttributeDefinition

    key = factory.Sequence(lambda n: f"field_{n}")
    label = factory.Sequence(lambda n: f"Field {n}")


class ConversationNoteFactory(DjangoModelFactory):
    """A private note on a conversation."""

    class Meta:
        model = ConversationNote

    customer = factory.SubFactory(CustomerFactory)
    body = "Called back, wants a quote"


class WebhookSubscriptionFactory(DjangoModelFactory):
    """A subscription of the active organization to every event."""

    class Meta:
        model = WebhookSubscription

    # A public address as such: checking it needs no DNS.
    url = factory.Sequence(lambda n: f"https://93.184.216.34/hooks/{n}")
    events = factory.LazyFunction(lambda: list(EVENTS))
    secret = factory.LazyFunction(lambda: crypto.encrypt(new_secret()))  # stored encrypted


class WebhookDeliveryFactory(DjangoModelFactory):
    """A pending first attempt of a lead.created event."""

    class Meta:
        model = WebhookDelivery

    subscription = factory.SubFactory(WebhookSubscriptionFactory)
    event = "lead.created"
    event_id = factory.LazyFunction(uuid.uuid4)
    payload = factory.LazyAttribute(lambda o: {"id": str(o.event_id), "event": o.event,
                                               "data": {"lead": {"first_name": "Asha"}}})


class InvitationFactory(DjangoModelFactory):
    """A pending invitation of the active organization, for an agent."""

    class Meta:
        model = Invitation

    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    role = factory.SubFactory(RoleFactory)
    nonce = factory.Sequence(lambda n: f"{n:032x}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class AuditEventFactory(DjangoModelFactory):
    """An audit event of the active organization."""

    class Meta:
        model = AuditEvent

    action = "user.signed_in"
    actor_name = "someone"
    details = factory.LazyFunction(lambda: {"via": "session"})


class OrganizationExportFactory(DjangoModelFactory):
    """A finished export of the active organization (no file behind it)."""

    class Meta:
        model = OrganizationExport

    state = OrganizationExport.State.DONE
    file_name = factory.Sequence(lambda n: f"organization-exports/test/{n}.zip")
    size = 22


class TemplateFactory(DjangoModelFactory):
    """A WhatsApp template of the active organization (shared when made inside unscoped())."""

    class Meta:
        model = Template

    template_name = factory.Sequence(lambda n: f"template_{n}")
    template_body = factory.LazyFunction(
        lambda: {"language": "en", "components": [{"type": "BODY", "text": "Hello {{1}}"}]}
    )
    template_vars = factory.LazyFunction(lambda: ["name"])
    created_at = _now


class QuickReplyFactory(DjangoModelFactory):
    """A canned answer written by an agent."""

    class Meta:
        model = QuickReply

    title = factory.Sequence(lambda n: f"Quick reply {n}")
    content = factory.Faker("sentence")
    category = "general"
    created_by = factory.SubFactory(UserFactory)
    created_at = _now


# --- Campaigns -----------------------------------------------------------------------------


class CampaignFactory(DjangoModelFactory):
    """A text broadcast created by an agent."""

    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    description = factory.Faker("sentence")
    created_by = factory.SubFactory(UserFactory)
    content = factory.LazyFunction(lambda: {"body": "Our new offers are here!"})
    type = Campaign.Type.TEXT
    status = "draft"
    created_at = _now


class JobFactory(DjangoModelFactory):
    """One run of a campaign."""

    class Meta:
        model = Job

    campaign = factory.SubFactory(CampaignFactory)
    last_attempted_by = factory.SelfAttribute("campaign.created_by")
    created_at = _now
    last_triggered_time = _now


class JobStatusFactory(DjangoModelFactory):
    """The outcome of a job for one customer; job and customer share the active organization."""

    class Meta:
        model = JobStatus

    job = factory.SubFactory(JobFactory)
    customer = factory.SubFactory(CustomerFactory)
    status = JobStatus.Status.PENDING


class DailyMessageStatFactory(DjangoModelFactory):
    """A roll-up row of messages of one day (the triggers write the real ones)."""

    class Meta:
        model = DailyMessageStat

    day = factory.LazyFunction(lambda: timezone.now().date())
    number = factory.Sequence(lambda n: f"9180000{n:05d}")
    direction = DailyMessageStat.Direction.OUT
    messages = 1


class CampaignFunnelFactory(DjangoModelFactory):
    """A run's funnel from one number (the triggers write the real ones)."""

    class Meta:
        model = CampaignFunnel

    job = factory.SubFactory(JobFactory)
    number = factory.Sequence(lambda n: f"9181000{n:05d}")
    sent = 1


class ResponseTimeFactory(DjangoModelFactory):
    """A customer's wait for a first reply (the triggers write the real ones)."""

    class Meta:
        model = ResponseTime

    customer = factory.SubFactory(CustomerFactory)
    waiting_since = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    responded_at = _now
    seconds = 300


class ResponseTimeCountFactory(DjangoModelFactory):
    """First replies of one day and agent that took `seconds` (the trigger writes the real ones)."""

    class Meta:
        model = ResponseTimeCount

    day = factory.LazyFunction(lambda: timezone.now().date())
    agent_id = factory.Sequence(lambda n: f"agent-{n}")
    seconds = 300
    replies = 1


class ConversationResolutionFactory(DjangoModelFactory):
    """A conversation resolved (crm.contacts.services.set_status records the real ones)."""

    class Meta:
        model = ConversationResolution

    customer = factory.SubFactory(CustomerFactory)
    opened_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    resolved_at = _now
    seconds = 3600


class CampaignCustomerFactory(DjangoModelFactory):
    """A customer in a campaign's audience; both of the active organization."""

    class Meta:
        model = CampaignCustomer

    campaign = factory.SubFactory(CampaignFactory)
    customer = factory.SubFactory(CustomerFactory)


class CampaignRecipientFactory(DjangoModelFactory):
    """A phone number a campaign sends to."""

    class Meta:
        model = CampaignRecipient

    campaign = factory.SubFactory(CampaignFactory)
    phone_number = factory.Sequence(_wa_id)
    name = factory.Faker("name")
    params = factory.LazyAttribute(lambda o: {"name": o.name})
    status = "pending"
    created_at = _now


class CampaignLogFactory(DjangoModelFactory):
    """A delivery log line of a campaign's job."""

    class Meta:
        model = CampaignLog

    campaign = factory.SubFactory(CampaignFactory)
    job = factory.SubFactory(JobFactory, campaign=factory.SelfAttribute("..campaign"))
    target_type = "recipient"
    target_id = factory.LazyFunction(uuid.uuid4)
    phone_number = factory.Sequence(_wa_id)
    status = "sent"
    whatsapp_message_id = factory.Sequence(lambda n: f"wamid.log{n:08d}")
    http_status_code = 200
    created_at = _now
    processed_at = _now
    retry_count = 0


# --- Orders --------------------------------------------------------------------------------


class OrderFactory(DjangoModelFactory):
    """A customer's order shipped to one of their addresses."""

    class Meta:
        model = Order

    customer = factory.SubFactory(CustomerFactory)
    catalog_id = factory.Sequence(lambda n: f"catalog-{n}")
    timestamp = _now
    shipping_address = factory.SubFactory(
        CustomerAddressFactory, customer=factory.SelfAttribute("..customer")
    )
    status = "pending"


class OrderItemFactory(DjangoModelFactory):
    """One line of an order, for a shared catalog product."""

    class Meta:
        model = OrderItem

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(ProductFactory)
    product_retailer_id = factory.SelfAttribute("product.sku")
    quantity = 1
    item_price = factory.SelfAttribute("product.price")
    price = factory.SelfAttribute("product.price")
    total_price = factory.LazyAttribute(lambda o: o.item_price * o.quantity)
    currency = "INR"
    created_at = _now


class PaymentFactory(DjangoModelFactory):
    """A Razorpay payment link for an order."""

    class Meta:
        model = Payment

    order = factory.SubFactory(OrderFactory)
    amount = factory.Faker("pyfloat", min_value=100, max_value=5000, right_digits=2)
    currency = "INR"
    razorpay_id = factory.Sequence(lambda n: f"plink_{n:010d}")
    razorpay_short_url = factory.LazyAttribute(lambda o: f"https://rzp.io/i/{o.razorpay_id}")
    status = "created"
    created_at = _now


class PaymentEventFactory(DjangoModelFactory):
    """A Razorpay webhook event applied to an order."""

    class Meta:
        model = PaymentEvent

    provider = "razorpay"
    event_id = factory.Sequence(lambda n: f"evt_{n:010d}")
    event = "payment_link.paid"
    order = factory.SubFactory(OrderFactory)
    outcome = "paid"
    payload = factory.LazyFunction(lambda: {"event": "payment_link.paid", "payload": {}})


class PaymentTransactionFactory(DjangoModelFactory):
    """A gateway transaction for an order."""

    class Meta:
        model = PaymentTransaction

    transaction_id = factory.Sequence(lambda n: f"txn_{n:010d}")
    order = factory.SubFactory(OrderFactory)
    payment_method = "upi"
    payment_gateway = "razorpay"
    amount = factory.Faker("pyfloat", min_value=100, max_value=5000, right_digits=2)
    currency = "INR"
    status = "pending"
    gateway_transaction_id = factory.Sequence(lambda n: f"pay_{n:010d}")
    created_at = _now


# --- Integrations --------------------------------------------------------------------------


class LeadFactory(DjangoModelFactory):
    """A lead pushed to Zoho for a customer."""

    class Meta:
        model = Lead

    zoho_lead_id = factory.Sequence(lambda n: f"{5 * 10**17 + n}")
    customer = factory.SubFactory(CustomerFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Faker("email")
    phone = factory.SelfAttribute("customer.wa_id")
    wa_id = factory.SelfAttribute("customer.wa_id")
    city = factory.Faker("city")
    lead_source = "WhatsApp"
    created_at = _now


class ZohoMappingFactory(DjangoModelFactory):
    """A treatment-to-Zoho mapping of the active organization (shared inside unscoped())."""

    class Meta:
        model = ZohoMapping

    treatment_name = factory.Sequence(lambda n: f"Treatment {n}")
    zoho_name = factory.Sequence(lambda n: f"Concern {n}")
    created_at = _now


class FlowLogFactory(DjangoModelFactory):
    """A conversation-flow step."""

    class Meta:
        model = FlowLog

    wa_id = factory.Sequence(_wa_id)
    name = factory.Faker("name")
    flow_type = "treatment"
    step = "concern_selected"
    status_code = 200
    created_at = _now


class WhatsAppApiLogFactory(DjangoModelFactory):
    """A WhatsApp Cloud API call made for a campaign's job."""

    class Meta:
        model = WhatsAppApiLog

    campaign = factory.SubFactory(CampaignFactory)
    job = factory.SubFactory(JobFactory, campaign=factory.SelfAttribute("..campaign"))
    phone_number = factory.Sequence(_wa_id)
    request_url = "https://graph.facebook.com/v19.0/messages"
    request_payload = factory.LazyAttribute(lambda o: {"to": o.phone_number, "type": "text"})
    response_status_code = 200
    response_body = factory.LazyFunction(lambda: {"messages": [{"id": "wamid.ok"}]})
    duration_ms = 120
    request_time = _now
    response_time = _now
    created_at = _now


class ZohoPayloadLogFactory(DjangoModelFactory):
    """A payload sent to Zoho and its answer."""

    class Meta:
        model = ZohoPayloadLog

    wa_id = factory.Sequence(_wa_id)
    zoho_lead_id = factory.Sequence(lambda n: f"{6 * 10**17 + n}")
    payload = factory.LazyAttribute(lambda o: {"Mobile": o.wa_id})
    response = factory.LazyFunction(lambda: {"data": [{"code": "SUCCESS"}]})
    status = "success"
    created_at = _now


# Every factory above, for tests that must cover each model.
ALL_FACTORIES: tuple[type[DjangoModelFactory], ...] = tuple(
    value
    for value in list(globals().values())
    if isinstance(value, type)
    and issubclass(value, DjangoModelFactory)
    and value is not DjangoModelFactory
)


def model_of(factory_class: type[DjangoModelFactory]) -> Any:
    """Return the model class a factory builds."""
    return factory_class._meta.model
