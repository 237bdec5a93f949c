"""`manage.py seed_demo` is idempotent, keeps organizations apart, and its users can sign in."""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import urllib.request
import uuid
from datetime import timedelta
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from bench.fake_graph import FakeGraph
from bench.fake_razorpay import FakeRazorpay, FakeRazorpayServer
from bench.fake_razorpay import main as fake_razorpay_main
from bench.fake_zoho import FakeZohoServer
from crm.management.commands.seed_demo import DEMO_PASSWORD
from crm.automation.flows import check_steps
from crm.automation.rules import check_rule
from crm.models import (
    AutomationRule,
    Customer,
    Flow,
    Message,
    NumberFlowConfig,
    Order,
    Organization,
    Template,
    User,
)
from crm.whatsapp.send import send_message, window_closes_at
from crm.zoho import demo as zoho_demo
from crm.zoho import services as zoho_services
from crm.zoho.errors import NotConfigured
from tenancy.context import tenant_context, unscoped
from tests.factories import LeadFactory
from tests.test_api import client_for

DEMO_USERS = ("superadmin", "oliva_admin", "oliva_agent", "glow_admin", "glow_agent")


def _row_counts() -> dict[str, int]:
    """Rows per crm model, across every organization."""
    with unscoped():  # the test compares whole tables, every organization included
        return {m._meta.label: m._default_manager.count()
                for m in apps.get_app_config("crm").get_models()}


@pytest.fixture
def seeded(db: None) -> str:
    """Run seed_demo once and return what it printed."""
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_second_run_creates_nothing(seeded: str) -> None:
    """Every table has the same number of rows after a second run, and rows of every kind."""
    first = _row_counts()
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert _row_counts() == first
    assert "0 rows created" in out.getvalue()
    empty = [label for label, count in first.items() if count == 0]
    # Only models the demo deliberately leaves out may be empty.
    assert set(empty) <= {
        "crm.AddressCollectionSession", "crm.ReferrerTracking", "crm.ZohoMapping", "crm.FlowLog",
        "crm.WhatsAppApiLog", "crm.ZohoPayloadLog", "crm.ApiToken", "crm.AutomationRun",
        "crm.AutomationSchedule",
        "crm.FlowSession", "crm.ContactImport", "crm.Segment",
        "crm.WebhookSubscription", "crm.WebhookDelivery", "crm.IntegrationCredential",
        "crm.PaymentEvent",
        "crm.CampaignFunnel", "crm.ResponseTime", "crm.ResponseTimeCount",  # roll-ups of what
        # the demo did not do
        "crm.Invitation", "crm.AuditEvent",
        "crm.InboundDelivery",  # written by Meta's deliveries only
        "crm.OrganizationExport",
        "crm.ConversationResolution",  # the demo resolves no conversation
    }


def test_organizations_see_only_their_own_data(seeded: str) -> None:
    """Each demo organization sees its customers, messages and orders, never the other's."""
    with unscoped():  # look the demo organizations up by code
        oliva = Organization.objects.get(code="oliva")
        glow = Organization.objects.get(code="glow")
    seen: dict[str, set[object]] = {}
    for org in (oliva, glow):
        with tenant_context(org):
            for model in (Customer, Message, Order):
                rows = list(model.objects.all())
                assert rows, f"{org.code} has no {model.__name__} rows"
                assert {row.organization_id for row in rows} == {org.pk}
                seen.setdefault(model.__name__, set()).update((org.pk, row.pk) for row in rows)
            assert Message.objects.filter(sender_type="customer").exists()
            assert Message.objects.filter(sender_type="agent").exists()
            assert Message.objects.values("type").distinct().count() >= 3
            assert Template.objects.filter(template_name="demo_welcome").exists()  # shared
            assert set(User.objects.values_list("username", flat=True)) == {
                f"{org.code}_admin", f"{org.code}_agent"
            }
    for pairs in seen.values():  # no row is counted in both organizations
        assert len({pk for _, pk in pairs}) == len(pairs)


@pytest.mark.parametrize("username", DEMO_USERS)
def test_demo_users_can_sign_in(seeded: str, username: str) -> None:
    """The printed credentials work with the project's authentication backend."""
    assert username in seeded and DEMO_PASSWORD in seeded
    user = authenticate(username=username, password=DEMO_PASSWORD)
    assert user is not None and user.username == username
    assert authenticate(username=username, password="wrong-password") is None
    if username == "superadmin":
        assert user.organization_id is None and user.is_super_admin
        assert user.legacy_role == User.LegacyRole.SUPER_ADMIN
    else:
        expected = "ORG_ADMIN" if username.endswith("_admin") else "AGENT"
        assert user.role_name == expected and user.organization.code == username.split("_")[0]
        assert user.legacy_role == ("ADMIN" if expected == "ORG_ADMIN" else "AGENT")


def test_it_prints_demo_webhook_values_but_never_real_secrets(db: None, settings: Any) -> None:
    settings.WHATSAPP_VERIFY_TOKEN = settings.DEMO_WHATSAPP_VERIFY_TOKEN
    settings.WHATSAPP_APP_SECRET = "a-real-app-secret"
    settings.WHATSAPP_GRAPH_URL = "http://127.0.0.1:8081"
    out = StringIO()
    call_command("seed_demo", stdout=out)
    printed = out.getvalue()
    assert f"verify token {settings.DEMO_WHATSAPP_VERIFY_TOKEN!r}" in printed
    assert "app secret (set)" in printed and "a-real-app-secret" not in printed
    assert "Graph API at http://127.0.0.1:8081" in printed


def test_demo_numbers_can_send(seeded: str, fake_graph: FakeGraph) -> None:
    with unscoped():  # look the demo organization up by code
        oliva = Organization.objects.get(code="oliva")
    with tenant_context(oliva):
        customer = Customer.objects.order_by("wa_id").first()
        sent = send_message(customer, {"type": "template", "template": {
            "name": "demo_welcome", "language": {"code": "en"}}})
    assert sent.message_id and fake_graph.calls[0].authorization.startswith("Bearer demo-")


@pytest.mark.parametrize("code", ["oliva", "glow"])
def test_each_organization_has_one_conversation_open_for_free_text(
    seeded: str, fake_graph: FakeGraph, code: str
) -> None:
    """A newcomer can reply with text to the newest conversation; the others need templates."""
    with unscoped():  # look the demo organization up by code
        organization = Organization.objects.get(code=code)
    with tenant_context(organization):
        customers = list(Customer.objects.order_by("-last_message_at"))
        now = timezone.now()
        closing = [window_closes_at(customer) for customer in customers]
        assert closing[0] > now + timedelta(hours=20)
        assert all(closes < now for closes in closing[1:])
        sent = send_message(customers[0], {"type": "text", "text": {"body": "Hello!"}})
    assert sent.message_id and sent.delivery_status == "sent"


def test_the_demo_photo_is_served_without_meta(db: None, settings: Any, tmp_path: Any) -> None:
    """The inbox's photo message answers its picture (no Graph API knows the demo's media id:
    the tests' Graph URL has nothing listening), for each organization's agent."""
    from tests.test_admin_support import signed_in

    settings.MEDIA_ROOT = str(tmp_path)
    call_command("seed_demo", stdout=StringIO())
    for code in ("oliva", "glow"):
        with unscoped():  # the agent and its organization's photo message, looked up by name
            agent = User.objects.get(username=f"{code}_agent")
            photo = Message.objects.filter(organization__code=code, type="image").first()
        answer = signed_in(agent).get(f"/api/v1/messages/{photo.pk}/media/")
        assert answer.status_code == 200
        assert answer["Content-Type"] == "image/png"
        assert b"".join(answer.streaming_content).startswith(b"\x89PNG\r\n\x1a\n")


def test_each_demo_organization_answers_by_its_rules(seeded: str) -> None:
    """The demo organizations have business hours and valid rules: away, welcome, prices."""
    with unscoped():  # look the demo organizations up by code
        organizations = list(Organization.objects.filter(code__in=["oliva", "glow"]))
    assert len(organizations) == 2
    for org in organizations:
        assert org.business_hours["sun"] == [] and org.business_hours["mon"] == [["10:00",
                                                                                  "20:00"]]
        with tenant_context(org):
            rules = list(AutomationRule.objects.order_by("priority"))
            assert [rule.name for rule in rules] == ["Away message", "Welcome", "Prices"]
            for rule in rules:
                assert check_rule(rule.trigger, rule.conditions, rule.actions)[0] == rule.trigger
            assert org.name in rules[0].actions[0]["message"]["text"]["body"]
            flows = list(Flow.objects.all())
            if org.code == "oliva":  # wb-crm's appointment flow, started by the welcome
                assert [flow.name for flow in flows] == ["Appointment booking"]
                assert check_steps(flows[0].steps) == flows[0].steps
                assert [step["id"] for step in flows[0].steps][:6] == [
                    "treatment", "city", "clinic_hyd", "clinic_blr", "slot", "callback"]
                assert rules[1].actions == [{"type": "start_flow", "flow": "number"}]
                assert NumberFlowConfig.objects.get().flow_key == str(flows[0].pk)
            else:
                assert flows == []
                assert org.name in rules[1].actions[0]["message"]["text"]["body"]


def test_bin_run_starts_the_fakes_and_the_demo_settings_point_at_them() -> None:
    """bin/run starts fake Graph, Razorpay and Zoho, each on its port; WBCRM_DEMO (with DEBUG)
    points the app at them unless the real settings are given, and never without DEBUG."""
    script = (Path(__file__).resolve().parent.parent / "bin" / "run").read_text()
    for fake, port in (("fake_razorpay", "FAKE_RAZORPAY_PORT:-8082"),
                       ("fake_zoho", "FAKE_ZOHO_PORT:-8084")):
        assert f"bench/{fake}.py --port" in script and port in script
    demo = {"WBCRM_DEMO": "true", "WBCRM_DEMO_ZOHO_URL": "http://127.0.0.1:1",
            "WBCRM_DEMO_RAZORPAY_URL": "http://127.0.0.1:2/v1"}
    assert _settings({"DEBUG": "true", **demo}) == [
        "http://127.0.0.1:1", "http://127.0.0.1:1", "http://127.0.0.1:2/v1"]
    assert _settings({"DEBUG": "true", **demo, "ZOHO_API_URL": "https://z.example"})[1] == (
        "https://z.example")
    assert _settings({"DEBUG": "false", "SECRET_KEY": "x" * 50, **demo}) == [
        "https://accounts.{domain}", "https://www.zohoapis.{domain}", "https://api.razorpay.com/v1"]


def _settings(env: dict[str, str]) -> list[str]:
    """ZOHO_ACCOUNTS_URL, ZOHO_API_URL and RAZORPAY_API_URL as crm.settings reads `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(
        ("DJANGO_", "PYTEST_", "ZOHO_", "RAZORPAY_", "WBCRM_"))}
    clean.update(DJANGO_SETTINGS_MODULE="crm.settings",
                 FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(), **env)
    result = subprocess.run(
        [sys.executable, "-c", "from crm import settings as s; "
         "print(s.ZOHO_ACCOUNTS_URL, s.ZOHO_API_URL, s.RAZORPAY_API_URL)"],
        env=clean, cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True,
        timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_a_lead_of_the_demo_organization_gets_a_zoho_id(
    seeded: str, settings: Any, redis_keys: None
) -> None:
    """seed_demo gave the first demo organization credentials the fake Zoho takes."""
    assert "Zoho CRM at" in seeded and zoho_demo.CLIENT_SECRET not in seeded
    with unscoped():  # look the demo organizations up by code
        oliva = Organization.objects.get(code="oliva")
        glow = Organization.objects.get(code="glow")
    with FakeZohoServer() as server:  # bin/run's fake, on a free port
        settings.ZOHO_ACCOUNTS_URL = settings.ZOHO_API_URL = server.url
        with tenant_context(oliva):
            lead = zoho_services.push_lead(LeadFactory(zoho_lead_id=f"local-{uuid.uuid4()}"))
        assert lead.zoho_push_status == "pushed" and lead.zoho_lead_id in server.fake.leads
        with tenant_context(glow), pytest.raises(NotConfigured):
            zoho_services.push_lead(LeadFactory(zoho_lead_id=f"local-{uuid.uuid4()}"))


def test_the_demo_payment_link_turns_paid_with_the_printed_command(
    seeded: str, fake_graph: FakeGraph, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a newcomer in bin/run: send a payment link, run the command seed_demo prints (the fake
    pays the link and POSTs the signed event to the app), and the order is paid."""
    command = re.search(r"bench/fake_razorpay\.py pay --organization (\S+)", seeded)
    assert command is not None
    fake = FakeRazorpay()
    fake.add_account("rzp_test_demo", "demo-key-secret")  # bin/run's fake: the default keys
    with unscoped():
        oliva = Organization.objects.get(code="oliva")
        admin = User.objects.get(username="oliva_admin")
    assert command.group(1) == str(oliva.pk)
    with tenant_context(oliva):
        customer = Customer.objects.order_by("-last_message_at").first()  # window open
        order = Order.objects.create(customer=customer, status="pending", total_amount=649,
                                     currency="INR", timestamp=timezone.now())
    with FakeRazorpayServer(fake=fake) as server:
        settings.RAZORPAY_API_URL = server.url
        answer = client_for(admin).post(f"/api/v1/orders/{order.pk}/payment-link/")
        assert answer.status_code == 201, answer.content
        real_urlopen = urllib.request.urlopen

        def to_the_app(request: Any, timeout: float) -> Any:
            """The app's URL answered by Django's test client; the fake's over its socket."""
            if not request.full_url.startswith("http://127.0.0.1:8000/"):
                return real_urlopen(request, timeout=timeout)
            response = Client().generic(
                "POST", request.full_url.removeprefix("http://127.0.0.1:8000"), request.data,
                content_type="application/json",
                headers={k: v for k, v in request.header_items() if k != "Content-type"})
            return contextlib.nullcontext(SimpleNamespace(
                status=response.status_code, read=lambda: response.content))

        port = str(server.url.split(":")[2].split("/")[0])
        monkeypatch.setattr(urllib.request, "urlopen", to_the_app)
        monkeypatch.setattr(sys, "argv", ["fake_razorpay.py", "pay", "--organization",
                                          command.group(1), "--port", port])
        fake_razorpay_main()
    with tenant_context(oliva):
        assert Order.objects.get(pk=order.pk).status == "paid"
    assert any("received your payment" in str(call.body) for call in fake_graph.sent())
