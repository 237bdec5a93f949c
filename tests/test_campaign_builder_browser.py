"""The campaign builder in a real browser (Debian's chromium driven by Playwright): an ORG_ADMIN
builds a campaign from a template with a segment, sends it (the Graph API is the in-process
fake, tasks run eagerly), watches its progress and opens its report; and, from the start, imports
a CSV on the contacts page, saves a segment of it, sends to it and reads the report's figures
once Meta's statuses and a reply arrived through the webhook."""
from __future__ import annotations

import os
import re
from typing import Any

import pytest

from django.utils import timezone

from bench.fake_graph import FakeGraph
from crm.models import Customer, Message, Organization, Role, Segment
from tenancy.context import tenant_context
from tests import test_inbox_browser as inbox_browser
from tests import whatsapp_payloads as wp
from tests.factories import (
    AttributeDefinitionFactory,
    CostFactory,
    CustomerFactory,
    CustomerLabelFactory,
    LabelFactory,
    TemplateFactory,
    WhatsAppNumberFactory,
)
from tests.test_admin_support import PASSWORD, make_staff
from tests.test_campaign_builder import COMPONENTS, _world

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
browser = inbox_browser.browser  # the same Playwright fixture as the inbox's browser tests

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager", "redis_keys"),
    pytest.mark.skipif(not os.path.exists(inbox_browser.CHROMIUM),
                       reason="apt-get install chromium"),
]


def test_an_org_admin_builds_sends_and_reads_a_campaign(
    live_server: Any, browser: Any, fake_graph: FakeGraph, org_a: Organization
) -> None:
    world = _world(org_a)
    base = live_server.url
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.goto(f"{base}/admin/login/?next=/campaigns/")
    page.fill("input[name=username]", make_staff(org_a, Role.ORG_ADMIN).username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"{base}/campaigns/")
    page.fill("input[name=name]", "Diwali offer")
    page.select_option("select[name=template]", label="offer (en)")
    preview = page.locator("#template-preview")
    expect(preview).to_contain_text("Reply STOP to opt out", timeout=inbox_browser.LIVE)
    page.select_option("select[name=param_body_2]", "attribute.city")
    page.select_option("select[name=param_body_3]", "text")
    page.fill("input[name=text_param_body_3]", "20% off")
    page.select_option("select[name=segment]", label="VIPs")
    page.click("text=Create and review")
    expect(page.locator(".to-send")).to_have_text("2", timeout=inbox_browser.LIVE)
    expect(page.locator(".skipped")).to_have_text("1")
    page.click("form >> text=Send")
    progress = page.locator("#progress")
    expect(progress).to_have_attribute("data-state", "completed", timeout=inbox_browser.LIVE)
    expect(progress.locator(".sent")).to_have_text("2")
    sent = sorted(call.body["to"] for call in fake_graph.sent() if call.status == 200)
    assert sent == sorted(customer.wa_id for customer in world["people"][:2])
    page.click("a:text-is('Report')")  # the campaign's report, not the nav's Reports
    expect(page.locator("h1")).to_have_text("Diwali offer", timeout=inbox_browser.LIVE)


CSV = (b"Mobile,Name,Tags,City\n"
       b"9876543210,Asha Rao,vip,Pune\n"
       b"9876543211,Ravi Kumar,vip;new,Mumbai\n"
       b"9876543212,Meera Iyer,vip,Pune\n"
       b"9876543213,Kiran Das,,Delhi\n"
       b"12,Bad Row,vip,Pune\n")


def _card(page: Any, caption: str) -> Any:
    """The figure of the report's card captioned exactly `caption`."""
    return page.locator(".card", has=page.locator(
        "span", has_text=re.compile(f"^{re.escape(caption)}$"))).locator("b")


def test_an_org_admin_imports_a_csv_segments_it_sends_and_reads_the_figures(
    live_server: Any, browser: Any, settings: Any, fake_graph: FakeGraph,
    org_a: Organization, org_b: Organization,
) -> None:
    """Only what a user cannot make in the product is made here: Meta's approved template, the
    number, the city attribute, the price, and a customer who already opted out (Meera, whose
    row the file then updates). B has a vip customer of the same number: never in A's figures."""
    settings.WHATSAPP_APP_SECRET = wp.SECRET
    with tenant_context(org_a):
        TemplateFactory(template_name="offer", language="en", status="APPROVED",
                        category="MARKETING", template_body={"components": COMPONENTS})
        AttributeDefinitionFactory(key="city", label="City")
        WhatsAppNumberFactory(phone_number_id=inbox_browser.PNID_A,
                              display_number=inbox_browser.DISPLAY_A)
        CustomerFactory(wa_id="919876543212", phone_1="919876543212", name="M",
                        marketing_opt_out_at=timezone.now())
    with tenant_context(org_b):
        theirs = CustomerFactory(wa_id="919876543210", name="Asha in B")
        CustomerLabelFactory(customer=theirs, label=LabelFactory(name="vip"))
    CostFactory(type="template", price=0.8)
    base = live_server.url
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.goto(f"{base}/admin/login/?next=/contacts/")
    page.fill("input[name=username]", make_staff(org_a, Role.ORG_ADMIN).username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"{base}/contacts/")

    # The file: four good rows (one an existing customer), one refused with its row number.
    page.set_input_files("#import-form input[name=file]", files=[
        {"name": "customers.csv", "mimeType": "text/csv", "buffer": CSV}])
    page.fill("#import-form input[name=attributes]", '{"city": "City"}')
    page.click("#import-form button[type=submit]")
    result = page.locator("#import-result .import")
    expect(result).to_have_attribute("data-status", "done", timeout=inbox_browser.LIVE)
    expect(result.locator(".counts")).to_contain_text("3 new, 1 updated")
    expect(result.locator(".rejected")).to_contain_text("Row 6:")

    # A segment of the vip label, saved in the admin.
    page.goto(f"{base}/admin/crm/segment/add/")
    page.fill("input[name=name]", "VIPs")
    page.fill("textarea[name=filters]", '{"labels": ["vip"]}')
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("VIPs", timeout=inbox_browser.LIVE)

    # The campaign: template, parameters, the segment; 2 to send, Meera skipped.
    page.goto(f"{base}/campaigns/")
    page.fill("input[name=name]", "Monsoon VIPs")
    page.select_option("select[name=template]", label="offer (en)")
    expect(page.locator("#template-preview")).to_contain_text(
        "Reply STOP to opt out", timeout=inbox_browser.LIVE)
    page.select_option("select[name=param_body_2]", "attribute.city")
    page.select_option("select[name=param_body_3]", "text")
    page.fill("input[name=text_param_body_3]", "20% off")
    page.select_option("select[name=segment]", label="VIPs")
    page.click("text=Create and review")
    expect(page.locator(".to-send")).to_have_text("2", timeout=inbox_browser.LIVE)
    expect(page.locator(".skipped")).to_have_text("1")
    page.click("form >> text=Send")
    progress = page.locator("#progress")
    expect(progress).to_have_attribute("data-state", "completed", timeout=inbox_browser.LIVE)
    sent = sorted(call.body["to"] for call in fake_graph.sent() if call.status == 200)
    assert sent == ["919876543210", "919876543211"]
    texts = [p["text"] for call in fake_graph.sent()
             for p in call.body["template"]["components"][1]["parameters"]]
    assert sorted(texts) == sorted(["Asha Rao", "Pune", "20% off", "Ravi Kumar", "Mumbai",
                                    "20% off"])

    # Meta reports both delivered, Asha's read; Asha answers.
    with tenant_context(org_a):
        wamids = dict(Message.objects.filter(campaign_job__isnull=False)
                      .values_list("to_wa_id", "message_id"))
        assert Segment.objects.get().name == "VIPs"
        assert Customer.objects.get(wa_id="919876543212").name == "Meera Iyer"
    at = inbox_browser.now_offset()
    inbox_browser.deliver(base, wp.change(inbox_browser.PNID_A, inbox_browser.DISPLAY_A, statuses=[
        wp.status(wamids["919876543210"], "delivered", "919876543210", at=at),
        wp.status(wamids["919876543211"], "delivered", "919876543211", at=at),
        wp.status(wamids["919876543210"], "read", "919876543210", at=at + 1)]))
    inbox_browser.deliver(base, wp.change(inbox_browser.PNID_A, inbox_browser.DISPLAY_A,
                                          messages=[wp.text("919876543210", "Book me in",
                                                            at=at + 2)]))

    page.click("a:text-is('Report')")
    expect(page.locator("h1")).to_have_text("Monsoon VIPs", timeout=inbox_browser.LIVE)
    figures = {"recipients": "3", "sent": "2", "delivered": "2", "read": "1",
               "replied within 24 h": "1", "failed": "0", "skipped (opted out)": "1",
               "opted out since": "0"}
    for caption, value in figures.items():
        expect(_card(page, caption)).to_have_text(value)
    per_number = page.locator("table", has_text="Per sending number").locator("tbody tr")
    expect(per_number).to_have_count(1)
    expect(page.locator("#campaign-chart")).to_be_visible()
