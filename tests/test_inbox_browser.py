"""The inbox in a real browser (Debian's chromium driven by Playwright), two organizations at once.

An agent of A signs in, sees A's conversations only, opens one, replies (the Graph API is the
in-process fake), sees the tick move when a status webhook arrives and a new inbound message
appear live; an agent of B, signed in at the same time, sees none of it. An agent labels, notes
and resolves a conversation from the contact panel.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from bench.fake_graph import FakeGraph
from crm.models import ConversationNote, Message, Organization, Role, User
from tenancy.context import tenant_context
from tests import whatsapp_payloads as wp
from tests.factories import (
    LabelFactory,
    QuickReplyFactory,
    TemplateFactory,
    WhatsAppNumberFactory,
)
from tests.inbox_support import conversation
from tests.test_admin_support import PASSWORD, make_staff

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PNID_A, DISPLAY_A = "106540352242922", "15550001111"
# ms: what the screen must show by then ("within a second" when idle); generous, because the
# suite runs on two busy cores, and a wait ends as soon as the screen shows it.
LIVE = 20_000

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="apt-get install chromium"),
]


@pytest.fixture
def browser() -> Iterator[Any]:
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # plain synchronous code all the same.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with playwright.sync_playwright() as driver:
            launched = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            yield launched
            launched.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def sign_in(browser: Any, base: str, user: User) -> Any:
    """A page of a fresh browser context, signed in through the admin's sign-in form."""
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.goto(f"{base}/admin/login/?next=/inbox/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"{base}/inbox/")
    page.wait_for_selector("body[data-live=on]")  # the event stream is connected
    return page


def deliver(base: str, change: dict[str, Any]) -> None:
    """POST a signed webhook delivery to the live server, as Meta would."""
    raw = wp.body(wp.delivery(wp.entry(change)))
    answer = httpx.post(f"{base}/webhooks/whatsapp/", content=raw, timeout=10, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": wp.signature(raw)})
    assert answer.status_code == 200, answer.text


def now_offset() -> int:
    """wp's timestamp offset for the present moment."""
    return int(time.time()) - wp.BASE_TIME


def test_two_organizations_work_their_inboxes_live(
    live_server: Any, browser: Any, settings: Any, fake_graph: FakeGraph,
    org_a: Organization, org_b: Organization,
) -> None:
    settings.WHATSAPP_APP_SECRET = wp.SECRET
    with tenant_context(org_a):
        WhatsAppNumberFactory(phone_number_id=PNID_A, display_number=DISPLAY_A)
        QuickReplyFactory(title="Clinic hours", content="We open at nine")
    wrote = timezone.now() - timedelta(minutes=5)
    asha = conversation(org_a, "Asha Rao", at=wrote, business_number=DISPLAY_A)
    conversation(org_b, "Bala Iyer", at=wrote)
    agent_a, agent_b = make_staff(org_a, Role.AGENT), make_staff(org_b, Role.AGENT)
    base = live_server.url

    page_a = sign_in(browser, base, agent_a)
    page_b = sign_in(browser, base, agent_b)
    assert "Asha Rao" in page_a.inner_text("#conversation-list")
    assert "Bala Iyer" not in page_a.inner_text("body")
    assert "Bala Iyer" in page_b.inner_text("#conversation-list")

    # A opens the conversation and replies.
    page_a.click("text=Asha Rao")
    page_a.wait_for_selector("#thread .bubble.in")
    page_a.wait_for_selector("body[data-live=on]")
    # Typing "/cl" offers the matching quick replies; picking one inserts its text.
    page_a.type("textarea[name=text]", "/cl")
    page_a.click("#quick-reply-suggestions >> text=/clinic-hours")
    assert page_a.input_value("textarea[name=text]") == "We open at nine"
    assert page_a.query_selector("#quick-reply-suggestions") is None
    page_a.fill("textarea[name=text]", "Your order is on its way")
    page_a.click("#composer button[type=submit]")
    page_a.wait_for_selector(".bubble.out[data-status=sent] >> text=Your order is on its way")
    assert fake_graph.sent()[0].body["to"] == asha.wa_id
    with tenant_context(org_a):
        wamid = Message.objects.get(customer=asha, sender_type="agent").message_id

    # Meta reports the reply delivered: the tick moves without a reload.
    deliver(base, wp.change(PNID_A, DISPLAY_A, statuses=[
        wp.status(wamid, "delivered", asha.wa_id, at=now_offset())]))
    page_a.wait_for_selector(".bubble.out[data-status=delivered]", timeout=LIVE)

    # The customer writes again: the message appears in the open thread and the list.
    deliver(base, wp.change(PNID_A, DISPLAY_A, messages=[
        wp.text(asha.wa_id, "Great, see you at six", at=now_offset() + 1)]))
    page_a.wait_for_selector("#thread >> text=Great, see you at six", timeout=LIVE)
    page_a.wait_for_selector("#conversation-list >> text=Great, see you at six", timeout=LIVE)

    # B, signed in all along, saw none of it: neither live nor after a reload.
    for _ in range(2):
        text_b = page_b.inner_text("body")
        for secret in ("Asha Rao", "Your order is on its way", "Great, see you at six"):
            assert secret not in text_b
        assert "Bala Iyer" in text_b
        page_b.reload()
    assert page_b.goto(f"{base}/inbox/{asha.pk}/").status == 404


def test_switching_templates_shows_and_sends_the_chosen_ones_fields(
    live_server: Any, browser: Any, fake_graph: FakeGraph, org_a: Organization
) -> None:
    """Two templates with as many fields each: after switching, the second one's text and
    fields are shown, and it goes out with what was typed into them."""
    body = {"language": "en_US", "status": "APPROVED"}
    with tenant_context(org_a):
        WhatsAppNumberFactory(display_number="+91 80000 00000")
        TemplateFactory(template_name="order_update", template_body={**body, "components": [
            {"type": "BODY", "text": "Hi {{1}}, order {{2}} is ready"}]})
        TemplateFactory(template_name="promo", template_body={**body, "components": [
            {"type": "BODY", "text": "{{1}}: {{2}} off today"}]})
    ravi = conversation(org_a, "Ravi Kumar", at=timezone.now() - timedelta(days=2))
    page = sign_in(browser, live_server.url, make_staff(org_a, Role.AGENT))
    page.click("text=Ravi Kumar")
    params = page.locator("#template-params")
    page.select_option("select[name=template]", "order_update:en_US")
    expect(params).to_contain_text("is ready", timeout=LIVE)
    page.select_option("select[name=template]", "promo:en_US")
    expect(params).to_contain_text("off today", timeout=LIVE)
    expect(params.locator("input[name=parameters]")).to_have_count(2)
    params.locator("input[name=parameters]").nth(0).fill("Ravi")
    params.locator("input[name=parameters]").nth(1).fill("20%")
    page.click("#composer button[type=submit]")
    expect(page.locator("#thread .bubble.out").last).to_have_attribute(
        "data-status", "sent", timeout=LIVE)
    [sent] = fake_graph.sent()
    assert sent.body["to"] == ravi.wa_id and sent.body["template"]["name"] == "promo"
    assert [p["text"] for p in sent.body["template"]["components"][0]["parameters"]] == [
        "Ravi", "20%"]


def test_reply_form_on_the_customer_page_is_full_width_at_1366(
    live_server: Any, browser: Any, org_a: Organization
) -> None:
    asha = conversation(org_a, "Asha Rao")
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", make_staff(org_a, Role.AGENT).username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/crm/customer/{asha.pk}/change/")
    form = page.locator("#whatsapp-reply fieldset").bounding_box()  # what the agent sees
    main = page.locator("#content-main").bounding_box()
    assert form is not None and main is not None
    assert form["width"] >= 0.9 * main["width"], (form, main)
    assert form["y"] >= main["y"] + main["height"] - 1  # below the customer's fields


@contextmanager
def thread_settled(page: Any, action: str) -> Iterator[None]:
    """Wait for the block's POST to `action`, and for the thread's live refresh its event causes,
    each answered and swapped in: a control changed before would be replaced, its change lost."""
    with (page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(action),
                               timeout=LIVE),
          page.expect_response(lambda r: r.request.method == "GET" and r.url.endswith("/thread/"),
                               timeout=LIVE)):
        yield
    busy = "#thread, #thread form"
    expect(page.locator(f":is({busy}):is(.htmx-request, .htmx-swapping, .htmx-settling)")
           ).to_have_count(0, timeout=LIVE)


def test_an_agent_labels_notes_and_resolves_a_conversation(
    live_server: Any, browser: Any, org_a: Organization
) -> None:
    """From the contact panel: a label, a private note mentioning a colleague, then resolved;
    the list shows it resolved live, the status and label filters then find it (and the open
    filter no longer does), and the colleague finds it under Mentions."""
    with tenant_context(org_a):
        LabelFactory(name="VIP", color="#b45309")
    asha = conversation(org_a, "Asha Rao", at=timezone.now() - timedelta(minutes=5))
    conversation(org_a, "Ravi Kumar", at=timezone.now() - timedelta(minutes=9))
    agent = make_staff(org_a, Role.AGENT)
    colleague = make_staff(org_a, Role.AGENT, username="meera")
    page = sign_in(browser, live_server.url, agent)
    page.click("text=Asha Rao")
    page.wait_for_url(f"{live_server.url}/inbox/{asha.pk}/")
    page.wait_for_selector("body[data-live=on]")  # the opened conversation's page is live too
    panel = page.locator("#thread .contact")
    expect(panel).to_contain_text("No notes.", timeout=LIVE)

    page.fill("#add-label input[name=add]", "VIP")
    with thread_settled(page, "/labels/"):
        page.click("#add-label button[type=submit]")
    expect(panel.locator(".labels .label")).to_have_count(1, timeout=LIVE)
    expect(panel.locator(".labels .label")).to_contain_text("VIP")
    page.fill("#add-note textarea[name=body]", "Wants a callback after six, @meera")
    with thread_settled(page, "/notes/"):
        page.click("#add-note button[type=submit]")
    expect(panel.locator(".note")).to_contain_text("Wants a callback after six", timeout=LIVE)
    page.select_option("#thread select[name=status]", "resolved")
    expect(page.locator("#conversation-list .row", has_text="Asha Rao")).to_contain_text(
        "resolved", timeout=LIVE)
    with tenant_context(org_a):
        asha.refresh_from_db()
        assert asha.conversation_status == "resolved"
        assert note_mentions(asha) == [str(colleague.pk)]

    rows = page.locator("#conversation-list .row")
    # The list before a filter's answer may have as many rows: wait for the answer's own too.
    page.select_option(".filters select[name=status]", "open")
    expect(rows).to_have_count(1, timeout=LIVE)
    expect(rows).to_contain_text("Ravi Kumar", timeout=LIVE)
    page.select_option(".filters select[name=status]", "resolved")
    expect(rows).to_have_count(1, timeout=LIVE)
    expect(rows).to_contain_text("Asha Rao", timeout=LIVE)
    page.select_option(".filters select[name=status]", "")
    expect(rows).to_have_count(2, timeout=LIVE)
    page.select_option(".filters select[name=label]", "VIP")
    expect(rows).to_have_count(1, timeout=LIVE)
    expect(page.locator("#conversation-list")).to_contain_text("Asha Rao")
    mentioned = sign_in(browser, live_server.url, colleague)
    mentioned.check(".filters input[name=mentions]")
    expect(mentioned.locator("#conversation-list .row")).to_have_count(1, timeout=LIVE)
    expect(mentioned.locator("#conversation-list")).to_contain_text("Asha Rao")


def note_mentions(customer: Any) -> list[str]:
    """The mentions of the customer's only note."""
    return ConversationNote.objects.get(customer=customer).mentions
