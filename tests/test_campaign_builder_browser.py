"""The campaign builder in a real browser (Debian's chromium driven by Playwright): an ORG_ADMIN
builds a campaign from a template with a segment, sends it (the Graph API is the in-process
fake, tasks run eagerly), watches its progress and opens its report."""
from __future__ import annotations

import os
from typing import Any

import pytest

from bench.fake_graph import FakeGraph
from crm.models import Organization, Role
from tests import test_inbox_browser as inbox_browser
from tests.test_admin_support import PASSWORD, make_staff
from tests.test_campaign_builder import _world

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
    page.click("text=Report")
    expect(page.locator("body")).to_contain_text("Diwali offer", timeout=inbox_browser.LIVE)
