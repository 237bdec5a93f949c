"""`manage.py seed_demo`: two demo organizations with staff, chats, a campaign and orders.

Idempotent: every row is looked up by a natural value (a code, a username, a message id, a SKU)
before it is created, so a second run creates nothing and only resets demo passwords.
"""
from __future__ import annotations

import json
import struct
import zlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand
from django.db import models, transaction
from django.utils import timezone

from crm.models import (
    AttributeDefinition,
    AutomationRule,
    Campaign,
    CampaignLog,
    CampaignCustomer,
    CampaignRecipient,
    Category,
    ConversationNote,
    Cost,
    Customer,
    CustomerAddress,
    CustomerLabel,
    File,
    Flow,
    Job,
    JobStatus,
    Label,
    Lead,
    Message,
    NumberFlowConfig,
    Order,
    OrderItem,
    Organization,
    Payment,
    PaymentTransaction,
    Product,
    QuickReply,
    Role,
    SubCategory,
    Template,
    User,
    WhatsAppNumber,
)
from crm.payments import demo as razorpay_demo
from crm.zoho import demo as zoho_demo
from crm.whatsapp.media import storage_name
from crm.whatsapp.verification import mark_verified_by_hand
from tenancy.context import tenant_context, unscoped

M = TypeVar("M", bound=models.Model)

DEMO_PASSWORD = "demo-password-123"
ROLES = {Role.SUPER_ADMIN: "Super Admin", Role.ORG_ADMIN: "Organization Admin", Role.AGENT: "Agent"}
COSTS = {"text": 0.35, "image": 0.5, "template": 0.8, "interactive": 0.5, "document": 0.5}
# (category, sub-category, product name, SKU, price in INR)
CATALOG = (
    ("Skin Care", "Cleansers", "Gentle Foaming Cleanser", "DEMO-SKN-001", 649.0),
    ("Skin Care", "Serums", "Vitamin C Brightening Serum", "DEMO-SKN-002", 1299.0),
    ("Hair Care", "Shampoos", "Anti-Hair-Fall Shampoo", "DEMO-HAR-001", 549.0),
    ("Hair Care", "Scalp Treatments", "Redensyl Scalp Serum", "DEMO-HAR-002", 1499.0),
)
ORGANIZATIONS: tuple[dict[str, Any], ...] = (
    {
        "code": "oliva", "name": "Oliva Clinics", "city": "Hyderabad", "state": "Telangana",
        "phone_number_id": "109000000000001", "display_number": "+91 40 4000 1001",
        "waba_id": "209000000000001",
        "treatment": "laser hair reduction", "pincode": "500034", "location": (17.4126, 78.4482),
        "customers": (("Priya Sharma", "919810000001"), ("Rahul Verma", "919810000002"),
                      ("Ananya Iyer", "919810000003")),
    },
    {
        "code": "glow", "name": "Glow Skin Studio", "city": "Bengaluru", "state": "Karnataka",
        "phone_number_id": "109000000000002", "display_number": "+91 80 4000 2002",
        "waba_id": "209000000000002",
        "treatment": "hydrafacial", "pincode": "560038", "location": (12.9784, 77.6408),
        "customers": (("Meera Nair", "919820000001"), ("Arjun Reddy", "919820000002"),
                      ("Kavya Menon", "919820000003")),
    },
)
# The customer's photo: kept in each organization's media storage by seed_demo, as if fetched
# from Meta once, so the inbox shows it without a Graph API that knows it (the fake does not).
DEMO_PHOTO_ID = "900000000000001"
# (direction, message type, fields): one demo conversation, replayed for every customer.
CONVERSATION: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("in", "text", {"body": "Hi! I'd like to know more about {treatment}."}),
    ("out", "text", {"body": "Hello {first}, happy to help! Which area are you in?"}),
    ("in", "location", {}),  # the organization's city
    ("out", "interactive", {"body": "Pick a consultation slot: Morning / Evening"}),
    ("in", "image", {"media_id": DEMO_PHOTO_ID, "caption": "This is the area",
                     "mime_type": "image/png"}),
)
# Hours since each demo customer's conversation: the newest inside the 24-hour window (agents
# reply with free text), the others outside it (the composer offers templates).
CONVERSATION_AGES = (72, 48, 2)
# Every demo organization's hours (Mon-Sat, as its "Clinic hours" quick reply says) and rules:
# the away message first (it stops the others), then a welcome and a price reply.
BUSINESS_HOURS = {day: [["10:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat")
                  } | {"sun": []}
DEMO_RULES = (
    ("Away message", 5, True, {"type": "outside_hours", "every_hours": 12},
     "Hi {{name}}, thanks for writing to {org}! We are closed now (Monday to Saturday, 10am to "
     "8pm) and will answer first thing when we open."),
    ("Welcome", 10, False, {"type": "first_message", "after_days": 30},
     "Hi {{name}}, welcome to {org}! Tell us which treatment you are interested in, and an "
     "expert will reply shortly."),
    ("Prices", 20, False, {"type": "keyword", "keywords": ["price", "cost", "fees", "offer"],
                           "match": "contains"},
     "Our prices depend on the treatment and the number of sessions: share the treatment and "
     "your city, and we will send you today's offers."),
)


def _buttons(body: str, *choices: tuple[str, str]) -> dict[str, Any]:
    return {"type": "interactive", "interactive": {
        "type": "button", "body": {"text": body},
        "action": {"buttons": [{"type": "reply", "reply": {"id": choice, "title": title}}
                               for choice, title in choices]}}}


def _list(body: str, *choices: tuple[str, str]) -> dict[str, Any]:
    return {"type": "interactive", "interactive": {
        "type": "list", "body": {"text": body}, "action": {"button": "Choose", "sections": [
            {"rows": [{"id": choice, "title": title} for choice, title in choices]}]}}}


# wb-crm's appointment flow (treatment, city, clinic, slot, callback), as configuration; the first
# demo organization's welcome rule starts it.
APPOINTMENT_FLOW = [
    {"id": "treatment", "expect": "choice", "answer": "treatment", "next": "city",
     "retry": "Please choose a treatment from the list.",
     "message": _list("Hi {{name}}, welcome to {org}! Which treatment are you interested in?",
                      ("laser", "Laser hair removal"), ("skin", "Skin treatments"),
                      ("hair", "Hair treatments"), ("other", "Something else"))},
    {"id": "city", "expect": "choice", "answer": "city",
     "next": {"hyderabad": "clinic_hyd", "bengaluru": "clinic_blr", "other": "callback"},
     "retry": "Please tap your city, or Other.",
     "message": _buttons("Which city are you in?", ("hyderabad", "Hyderabad"),
                         ("bengaluru", "Bengaluru"), ("other", "Other"))},
    {"id": "clinic_hyd", "expect": "choice", "answer": "clinic", "next": "slot",
     "message": _list("Which clinic suits you?", ("banjara", "Banjara Hills"),
                      ("jubilee", "Jubilee Hills"))},
    {"id": "clinic_blr", "expect": "choice", "answer": "clinic", "next": "slot",
     "message": _list("Which clinic suits you?", ("indiranagar", "Indiranagar"),
                      ("koramangala", "Koramangala"))},
    {"id": "slot", "expect": "choice", "answer": "slot", "next": "callback",
     "message": _buttons("When would you like to visit?", ("morning", "Morning"),
                         ("afternoon", "Afternoon"), ("evening", "Evening"))},
    {"id": "callback", "expect": "choice", "answer": "callback",
     "next": {"yes": "booked", "no": "thanks"},
     "message": _buttons("Shall an expert call you to confirm?", ("yes", "Yes, call me"),
                         ("no", "No, thanks"))},
    {"id": "booked", "actions": [{"type": "create_lead"}, {"type": "assign", "to": "round_robin"}],
     "message": {"type": "text", "text": {
         "body": "Thanks {{name}}! An expert will call you shortly to confirm your visit."}}},
    {"id": "thanks", "actions": [{"type": "create_lead"}],
     "message": {"type": "text", "text": {
         "body": "No problem, {{name}}. Write to us anytime to book your visit."}}},
]
QUICK_REPLIES = (
    ("Greeting", "greetings", "Hello! Thanks for reaching out. How can we help you today?"),
    ("Clinic hours", "info", "We are open Monday to Saturday, 10am to 8pm."),
    ("Payment link", "orders", "Here is your secure payment link. It is valid for 24 hours."),
)

DEMO_LABELS = (("VIP", "#b45309"), ("New lead", "#2563eb"), ("Follow up", "#16a34a"))


class Command(BaseCommand):
    """Create (or complete) the demo organizations, staff and data."""

    help = f"Seed demo organizations and users (password: {DEMO_PASSWORD}); safe to run twice."

    def handle(self, *args: Any, **options: Any) -> None:
        """Seed everything in one transaction, then print how to sign in."""
        self.created = 0
        self.now = timezone.now()
        logins: list[tuple[str, str, str]] = []
        with transaction.atomic():
            # Roles, catalog, shared template, organizations and platform staff belong to no
            # organization: seeding them is platform work that must cross organizations.
            with unscoped():
                roles = {name: self._get(Role, name=name, defaults={"display_name": label})
                         for name, label in ROLES.items()}
                products = self._seed_shared()
                self._user("superadmin", roles[Role.SUPER_ADMIN], "SUPER_ADMIN", organization=None)
                logins.append(("superadmin", "platform (no organization)", Role.SUPER_ADMIN))
                orgs = [(self._get(Organization, code=spec["code"], defaults={
                    "name": spec["name"], "slug": spec["code"], "created_at": self.now,
                    "business_hours": BUSINESS_HOURS}), spec)
                    for spec in ORGANIZATIONS]
            for org, spec in orgs:
                with tenant_context(org):
                    self._seed_organization(org, spec, roles, products)
                for suffix, role in (("admin", Role.ORG_ADMIN), ("agent", Role.AGENT)):
                    logins.append((f"{org.code}_{suffix}", f"{org.name} ({org.code})", role))
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {self.created} rows created."))
        self.stdout.write(f"Sign in with password {DEMO_PASSWORD!r} as:")
        for username, where, role in logins:
            self.stdout.write(f"  {username:<14} {role:<12} {where}")
        self._print_whatsapp()
        self._print_razorpay(orgs[0][0])
        self._print_zoho(orgs[0][0])

    def _print_zoho(self, org: Organization) -> None:
        """Where the leads of the demo's first organization go (demo credentials)."""
        self.stdout.write(
            f"Zoho CRM at {settings.ZOHO_API_URL} for {org.name} (demo credentials): a lead "
            "created there (API, admin or a flow) is pushed and gets its Zoho id.")

    def _print_razorpay(self, org: Organization) -> None:
        """Where payment links go, and the one command that pays the newest one (demo keys)."""
        self.stdout.write(
            f"Razorpay at {settings.RAZORPAY_API_URL} for {org.name} (demo keys); its webhook "
            f"/webhooks/razorpay/{org.pk}/ (secret {razorpay_demo.WEBHOOK_SECRET!r}). Pay the "
            f"newest link: .venv/bin/python bench/fake_razorpay.py pay --organization {org.pk}")

    def _print_whatsapp(self) -> None:
        """Where the webhook and sending point, and the demo secrets (never real ones)."""
        demo = {settings.DEMO_WHATSAPP_VERIFY_TOKEN, settings.DEMO_WHATSAPP_APP_SECRET}

        def shown(value: str) -> str:
            return repr(value) if value in demo else ("(set)" if value else "(not set)")

        self.stdout.write(
            f"WhatsApp webhook /webhooks/whatsapp/: verify token "
            f"{shown(settings.WHATSAPP_VERIFY_TOKEN)}, app secret "
            f"{shown(settings.WHATSAPP_APP_SECRET)}"
        )
        numbers = ", ".join(f"{spec['phone_number_id']} ({spec['code']})"
                            for spec in ORGANIZATIONS)
        self.stdout.write(f"Sending to the Graph API at {settings.WHATSAPP_GRAPH_URL} from the "
                          f"demo numbers {numbers}")

    def _get(self, model: type[M], defaults: dict[str, Any] | None = None, **lookup: Any) -> M:
        """get_or_create on the model's default (scoped) manager, counting new rows."""
        obj, created = model._default_manager.get_or_create(defaults=defaults, **lookup)
        self.created += created
        return obj

    def _ago(self, **delta: float) -> datetime:
        """A time before this run."""
        return self.now - timedelta(**delta)

    def _seed_shared(self) -> list[Product]:
        """Costs, the shared catalog, a media file and one template shared by every organization."""
        for kind, price in COSTS.items():
            self._get(Cost, type=kind, defaults={"price": price})
        products = []
        for category_name, sub_name, name, sku, price in CATALOG:
            category = self._get(Category, name=category_name, organization=None, defaults={
                "slug": category_name.lower().replace(" ", "-"), "created_at": self.now})
            sub = self._get(SubCategory, category=category, name=sub_name, organization=None,
                            defaults={"slug": sub_name.lower().replace(" ", "-"),
                                      "created_at": self.now})
            products.append(self._get(Product, sku=sku, organization=None, defaults={
                "name": name, "price": price, "stock": 50, "category": category,
                "sub_category": sub, "created_at": self.now}))
        self._get(File, id=DEMO_PHOTO_ID, defaults={"name": "area.png", "mimetype": "image/png"})
        self._get(Template, template_name="demo_welcome", organization=None, defaults={
            "template_body": {"language": "en", "components": [
                {"type": "BODY", "text": "Hi {{1}}, welcome! Reply to book a consultation."}]},
            "template_vars": ["name"], "created_at": self.now})
        return products

    def _user(self, username: str, role: Role, legacy_role: str, **lookup: Any) -> User:
        """A user with the demo password (reset when it was changed)."""
        first, _, last = f"{username.replace('_', ' ').title()} Demo".partition(" ")
        user = self._get(User, username=username, **lookup, defaults={
            "first_name": first, "last_name": last, "email": f"{username}@demo.example.com",
            "phone_number": "", "role": role, "legacy_role": legacy_role, "created_at": self.now})
        if not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        return user

    def _seed_organization(
        self, org: Organization, spec: dict[str, Any], roles: dict[str, Role],
        products: list[Product],
    ) -> None:
        """Staff, a number, customers and everything they did, as the organization."""
        admin = self._user(f"{org.code}_admin", roles[Role.ORG_ADMIN], "ADMIN")
        agent = self._user(f"{org.code}_agent", roles[Role.AGENT], "AGENT")
        number = self._get(WhatsAppNumber, phone_number_id=spec["phone_number_id"], defaults={
            "display_number": spec["display_number"], "webhook_path": f"/webhook/{org.code}",
            "access_token": f"demo-access-token-{org.code}",
            "whatsapp_business_account_id": spec["waba_id"], "created_at": self.now})
        if not number.access_token or not number.whatsapp_business_account_id:
            # seeded before demo numbers could send, or knew their account (templates; crm.0020
            # cleared the old demo's ids that were not digits)
            number.access_token = number.access_token or f"demo-access-token-{org.code}"
            number.whatsapp_business_account_id = spec["waba_id"]
            number.save(update_fields=["access_token", "whatsapp_business_account_id"])
        if not number.is_verified:  # demo tokens mean nothing to Meta: vouched for by hand
            mark_verified_by_hand(number, "seed_demo")
        for title, category, content in QUICK_REPLIES:
            self._get(QuickReply, title=title, defaults={
                "content": content, "category": category, "created_by": admin,
                "created_at": self.now})
        flow = None
        if spec is ORGANIZATIONS[0]:
            self.created += razorpay_demo.configure()  # payment links go to the fake Razorpay
            self.created += zoho_demo.configure()  # and leads to the fake Zoho CRM
            # The name JSON-escaped, so any name keeps the steps valid JSON.
            steps = json.loads(json.dumps(APPOINTMENT_FLOW).replace(
                "{org}", json.dumps(org.name)[1:-1]))
            flow = self._get(Flow, name="Appointment booking", defaults={"steps": steps})
        # The number's flow config names the flow its new customers get (the welcome rule starts
        # "the number's flow"); the other organizations' numbers name none.
        self._get(NumberFlowConfig, phone_number=number.phone_number_id, defaults={
            "display_number": number.display_number,
            "flow_key": str(flow.pk) if flow is not None else f"{org.code}_default",
            "flow_name": f"{org.name} welcome flow", "created_at": self.now,
            "display_digits": "".join(c for c in number.display_number if c.isdigit())})
        for name, priority, stop, trigger, body in DEMO_RULES:
            actions = [{"type": "send", "message": {
                "type": "text", "text": {"body": body.replace("{org}", org.name)}}}]
            if flow is not None and name == "Welcome":
                actions = [{"type": "start_flow", "flow": "number"}]
            self._get(AutomationRule, name=name, defaults={
                "priority": priority, "stop_processing": stop, "trigger": trigger,
                "conditions": {"numbers": [], "hours": "any"}, "actions": actions})
        customers = [self._customer(org, spec, i, name, wa_id, agent)
                     for i, (name, wa_id) in enumerate(spec["customers"])]
        self._conversations(spec, customers, number, agent)
        if not default_storage.exists(storage_name(DEMO_PHOTO_ID)):
            default_storage.save(storage_name(DEMO_PHOTO_ID), ContentFile(demo_photo()))
        self._campaign(org, admin, customers)
        self._orders(org, customers[:2], products)
        self._contacts(customers, agent)
        for i, customer in enumerate(customers):
            first, _, last = customer.name.partition(" ")
            self._get(Lead, zoho_lead_id=f"demo-{org.code}-{i + 1}", defaults={
                "customer": customer, "wa_id": customer.wa_id, "phone": customer.wa_id,
                "first_name": first, "last_name": last, "city": spec["city"],
                "lead_source": "WhatsApp", "treatment_name": spec["treatment"].title(),
                "created_at": self.now})

    def _contacts(self, customers: list[Customer], agent: User) -> None:
        """Labels, a city attribute and a team note, so the inbox's contact panel shows them."""
        labels = [self._get(Label, name=name, defaults={"color": color})
                  for name, color in DEMO_LABELS]
        self._get(AttributeDefinition, key="preferred_time", defaults={
            "label": "Preferred time", "type": AttributeDefinition.Type.CHOICE,
            "choices": ["Morning", "Evening"]})
        for i, customer in enumerate(customers):
            self._get(CustomerLabel, customer=customer, label=labels[i % len(labels)])
            if not customer.attributes:
                Customer.objects.filter(pk=customer.pk).update(
                    attributes={"preferred_time": ("Morning", "Evening")[i % 2]})
        self._get(ConversationNote, customer=customers[0], defaults={
            "author": agent, "body": f"Prefers a call after six. @{agent.username} follows up.",
            "mentions": [str(agent.pk)]})

    def _customer(
        self, org: Organization, spec: dict[str, Any], i: int, name: str, wa_id: str, agent: User
    ) -> Customer:
        """A customer with a default home address."""
        customer = self._get(Customer, wa_id=wa_id, defaults={
            "name": name, "phone_1": wa_id, "user": agent, "created_at": self._ago(days=10 - i),
            "email": f"{name.split()[0].lower()}@example.com", "last_message_type": "image",
            "customer_status": (Customer.Status.OPEN, Customer.Status.PENDING,
                                Customer.Status.RESOLVED)[i % 3],
            "last_message_at": self._ago(hours=CONVERSATION_AGES[i]),
            "last_interaction_time": self._ago(hours=CONVERSATION_AGES[i]),
        })
        address = self._get(CustomerAddress, customer=customer, address_type="home", defaults={
            "full_name": name, "house_street": f"{12 + i}, Park Avenue", "locality": "Central",
            "city": spec["city"], "state": spec["state"], "pincode": spec["pincode"],
            "phone": wa_id[2:], "is_default": True, "is_verified": True, "created_at": self.now})
        if customer.default_address_id != address.pk:
            customer.default_address = address
            customer.save(update_fields=["default_address"])
        return customer

    def _conversations(
        self, spec: dict[str, Any], customers: list[Customer], number: WhatsAppNumber, agent: User
    ) -> None:
        """Inbound and outbound messages of several types with every customer."""
        business = "".join(c for c in number.display_number or "" if c.isdigit())
        for i, customer in enumerate(customers):
            for j, (direction, kind, fields) in enumerate(CONVERSATION):
                inbound = direction == "in"
                values = {k: v.format(treatment=spec["treatment"], first=customer.name.split()[0])
                          if isinstance(v, str) else v for k, v in fields.items()}
                if kind == "location":
                    values["latitude"], values["longitude"] = spec["location"]
                self._get(Message, message_id=f"wamid.demo.{customer.wa_id}.{j + 1}", defaults={
                    **values, "customer": customer, "type": kind,
                    "from_wa_id": customer.wa_id if inbound else business,
                    "to_wa_id": business if inbound else customer.wa_id,
                    "sender_type": "customer" if inbound else "agent",
                    "agent_id": None if inbound else str(agent.pk),
                    "delivery_status": None if inbound else "read",
                    "timestamp": self._ago(hours=CONVERSATION_AGES[i], minutes=30 - 5 * j)})
            # The inbox's columns, as the webhook store and sending keep them.
            latest = customer.messages.order_by("-timestamp").first()
            inbound_at = customer.messages.filter(sender_type="customer").order_by(
                "-timestamp").values_list("timestamp", flat=True).first()
            Customer.objects.filter(pk=customer.pk).update(
                last_message_at=latest.timestamp if latest else None,
                last_inbound_at=inbound_at, business_number=business)

    def _campaign(self, org: Organization, admin: User, customers: list[Customer]) -> None:
        """A text campaign run once: a job, recipients, per-customer statuses and logs."""
        campaign = self._get(Campaign, name=f"{org.name} monsoon offer", defaults={
            "description": "20% off all consultations this month.", "created_by": admin,
            "type": Campaign.Type.TEXT, "campaign_cost_type_id": "text", "status": "completed",
            "content": {"body": "Monsoon offer: 20% off all consultations!"},
            "created_at": self._ago(days=2)})
        job = self._get(Job, campaign=campaign, defaults={
            "last_attempted_by": admin, "created_at": self._ago(days=2),
            "last_triggered_time": self._ago(days=2)})
        if campaign.last_job_id != job.pk:
            campaign.last_job = job
            campaign.save(update_fields=["last_job"])
        for i, customer in enumerate(customers):
            ok = i < len(customers) - 1  # the last send fails, so the demo shows both outcomes
            self._get(CampaignRecipient, campaign=campaign, phone_number=customer.wa_id, defaults={
                "name": customer.name, "params": {"name": customer.name.split()[0]},
                "status": "sent" if ok else "failed", "created_at": self._ago(days=2)})
            self._get(CampaignCustomer, campaign=campaign, customer=customer)
            self._get(JobStatus, job=job, customer=customer, defaults={
                "status": JobStatus.Status.SUCCESS if ok else JobStatus.Status.FAILURE})
            self._get(CampaignLog, campaign=campaign, job=job, target_id=customer.pk, defaults={
                "target_type": "customer", "phone_number": customer.wa_id,
                "status": "sent" if ok else "failed", "http_status_code": 200 if ok else 400,
                "whatsapp_message_id": f"wamid.demo.campaign.{customer.wa_id}" if ok else None,
                "error_code": None if ok else "131026",
                "error_message": None if ok else "Message undeliverable",
                "created_at": self._ago(days=2), "processed_at": self._ago(days=2),
                "retry_count": 0})

    def _orders(
        self, org: Organization, customers: list[Customer], products: list[Product]
    ) -> None:
        """An order per customer, with two items, a payment link and a transaction."""
        for i, customer in enumerate(customers):
            lines = list(enumerate(products[i:i + 2], start=1))
            total = sum(quantity * product.price for quantity, product in lines)
            order = self._get(Order, customer=customer, catalog_id=f"demo-catalog-{org.code}",
                              defaults={"shipping_address": customer.default_address,
                                        "status": ("paid", "pending")[i % 2],
                                        "total_amount": Decimal(str(round(total, 2))),
                                        "currency": "INR",
                                        "timestamp": self._ago(days=1, hours=i)})
            for quantity, product in lines:
                self._get(OrderItem, order=order, product=product, defaults={
                    "product_retailer_id": product.sku, "quantity": quantity,
                    "item_price": product.price, "price": product.price,
                    "total_price": quantity * product.price, "currency": "INR",
                    "created_at": order.timestamp})
            paid = order.status == "paid"
            self._get(Payment, razorpay_id=f"plink_demo_{org.code}_{i + 1}", defaults={
                "order": order, "amount": total, "status": "paid" if paid else "created",
                "razorpay_short_url": f"https://rzp.io/i/demo{org.code}{i + 1}",
                "notification_sent": paid, "created_at": order.timestamp})
            self._get(PaymentTransaction, transaction_id=f"txn_demo_{org.code}_{i + 1}", defaults={
                "order": order, "payment_method": "upi", "payment_gateway": "razorpay",
                "amount": total, "status": "success" if paid else "pending",
                "created_at": order.timestamp})


def demo_photo() -> bytes:
    """A 240x160 PNG (a warm gradient), made here rather than kept as a binary file."""
    width, height = 240, 160
    rows = b"".join(
        b"\x00" + bytes(value for x in range(width)
                        for value in (230 - y // 4, 180 - x // 6, 150 + x // 8))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))
