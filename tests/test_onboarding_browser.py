"""Self-serve onboarding in a real browser (Debian's chromium driven by Playwright), end to end.

A business signs up at /signup/, confirms its e-mail from the link it was sent, connects a number
through Meta's Embedded Signup (the Facebook JS SDK is faked in the browser, the Graph API by
bench/fake_graph.py on a socket of its own), invites an agent who accepts in another browser and
replies to the first customer who writes. Organizations A and B exist throughout and see nothing.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bench.fake_graph import FakeGraphServer
from crm.models import Message, Organization, Template, User, WhatsAppNumber
from crm.webhooks import deliveries, tasks
from tenancy.context import tenant_context, unscoped
from tests import test_inbox_browser as inbox_browser
from tests import whatsapp_payloads as wp

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
browser = inbox_browser.browser  # the same Playwright fixture as the inbox's browser tests
LIVE = inbox_browser.LIVE

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(inbox_browser.CHROMIUM),
                       reason="apt-get install chromium"),
]

APP_ID, CONFIG_ID = "100000000000077", "900000000000011"
WABA_ID, PNID = "102290129340398", "106540352242977"
CODE = "AQBembedded-signup-code"
CUSTOMER = "919812345670"
PASSWORD = "a long enough passphrase 7"
# Meta's popup (facebook.com) posts the account and number it set up to the page that opened it.
FINISHED = json.dumps({"type": "WA_EMBEDDED_SIGNUP", "event": "FINISH", "version": 3,
                       "data": {"waba_id": WABA_ID, "phone_number_id": PNID}})
# The Facebook JS SDK as the page uses it: FB.init, then FB.login opening Embedded Signup, whose
# facebook.com frame reports the chosen ids before the login answers with a one-time code.
FAKE_SDK = """
(function () {
  "use strict";
  const seen = window.fakeFacebook = {init: null, login: null};
  window.FB = {
    init: function (options) { seen.init = options; },
    login: function (callback, options) {
      seen.login = options;
      const frame = document.createElement("iframe");
      frame.src = "https://www.facebook.com/v21.0/dialog/embedded_signup?config_id="
        + encodeURIComponent(options.config_id);
      window.addEventListener("message", function finished(event) {
        if (event.origin !== "https://www.facebook.com") return;
        window.removeEventListener("message", finished);
        frame.remove();
        callback({status: "connected", authResponse: {code: %(code)s, userID: "1"}});
      });
      document.body.appendChild(frame);
    },
  };
  if (window.fbAsyncInit) window.fbAsyncInit();
}());
""" % {"code": json.dumps(CODE)}
POPUP = ("<!doctype html><script>window.parent.postMessage(%s, '*');</script>"
         % json.dumps(FINISHED))


@pytest.fixture
def embedded_signup(settings: Any, live_server: Any, fake_graph_server: FakeGraphServer,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Meta's app set up for Embedded Signup, links pointing at the live server, and webhook
    deliveries only kept (the test processes them, as a worker would); counts the wake-ups."""
    settings.SITE_URL = live_server.url
    settings.WHATSAPP_APP_ID, settings.WHATSAPP_APP_SECRET = APP_ID, wp.SECRET
    settings.WHATSAPP_EMBEDDED_SIGNUP_CONFIG_ID = CONFIG_ID
    settings.WHATSAPP_EMBEDDED_SIGNUP_BY_HAND = False
    settings.WEBHOOK_PROCESS_INLINE = False
    woken: list[int] = []
    monkeypatch.setattr(tasks, "_nudge", lambda: woken.append(1))
    yield woken


def fake_facebook(page: Any) -> None:
    """Answer the page's requests to Facebook (unreachable here) with the fake SDK and popup."""
    page.route("https://connect.facebook.net/**", lambda route: route.fulfill(
        status=200, content_type="application/javascript", body=FAKE_SDK))
    page.route("https://www.facebook.com/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body=POPUP))


def link_in(mailbox: list[Any], path: str) -> str:
    """The link to `path` in the last e-mail sent."""
    found = re.search(rf"https?://\S+{re.escape(path)}\S+/", mailbox[-1].body)
    assert found, mailbox[-1].body
    return found.group(0)


def new_page(browser: Any) -> Any:
    """A page of a fresh browser context (a person of their own); every wait bounded by LIVE."""
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.set_default_timeout(LIVE)
    return page


def step(page: Any, title: str) -> Any:
    """The onboarding checklist's item titled `title`."""
    return page.locator(".checklist li", has_text=title)


def ticked(page: Any, title: str, done: bool) -> None:
    """The checklist shows the step `title` done (or not yet)."""
    expect(step(page, title)).to_have_attribute("data-done", "yes" if done else "no",
                                                timeout=LIVE)


def test_a_business_signs_up_connects_a_number_and_its_invited_agent_replies(
    live_server: Any, browser: Any, fake_graph_server: FakeGraphServer, mailoutbox: list[Any],
    embedded_signup: list[int], org_a: Organization, org_b: Organization,
) -> None:
    base, fake = live_server.url, fake_graph_server.fake
    fake.add_template(WABA_ID, "order_ready")
    admin = new_page(browser)
    fake_facebook(admin)

    # 1. Sign up, then confirm the e-mail from the link sent.
    admin.goto(f"{base}/signup/")
    admin.fill("input[name=organization_name]", "Sunrise Bakery")
    admin.fill("input[name=name]", "Priya Nair")
    admin.fill("input[name=email]", "priya@sunrise.example")
    admin.fill("input[name=username]", "priya")
    admin.fill("input[name=password]", PASSWORD)
    admin.click("#signup button[type=submit]")
    admin.wait_for_url(f"{base}/onboarding/")
    ticked(admin, "Confirm your e-mail", False)
    assert mailoutbox[-1].to == ["priya@sunrise.example"]
    admin.goto(link_in(mailoutbox, "/signup/confirm/"))
    expect(admin.locator("h1")).to_have_text("E-mail confirmed", timeout=LIVE)
    admin.click("text=Continue")
    admin.wait_for_url(f"{base}/onboarding/")
    ticked(admin, "Confirm your e-mail", True)

    # 2. Connect a number through Embedded Signup.
    step(admin, "Connect a WhatsApp number").get_by_role("link", name="Go", exact=True).click()
    admin.wait_for_url(f"{base}/whatsapp/connect/")
    admin.click("#embedded-signup")
    result = admin.locator("#embedded-signup-result")
    expect(result).to_have_text(f"Connected: +1 555 {PNID[-7:]}, verified.", timeout=LIVE)
    used = admin.evaluate("window.fakeFacebook")
    assert used["init"]["appId"] == APP_ID
    assert used["login"]["config_id"] == CONFIG_ID and used["login"]["response_type"] == "code"
    admin.click("nav >> text=Getting started")
    admin.wait_for_url(f"{base}/onboarding/")
    ticked(admin, "Connect a WhatsApp number", True)
    with unscoped():  # the test reads the organization the sign-up created
        business = Organization.objects.get(name="Sunrise Bakery")
    with tenant_context(business):
        number = WhatsAppNumber.objects.get()
        assert (number.phone_number_id, number.whatsapp_business_account_id) == (PNID, WABA_ID)
        assert list(Template.objects.values_list("template_name", flat=True)) == ["order_ready"]
    token = number.access_token
    assert token and token.startswith("EAAFAKE")

    # 3. Invite an agent, who accepts in a browser of their own and lands in the inbox.
    step(admin, "Invite your team").get_by_role("link", name="Go", exact=True).click()
    admin.wait_for_url(f"{base}/team/")
    admin.fill("#invite input[name=email]", "ravi@sunrise.example")
    admin.select_option("#invite select[name=role]", "AGENT")
    admin.click("#invite button[type=submit]")
    invited = admin.locator("table tr", has_text="ravi@sunrise.example")
    expect(invited).to_contain_text("pending", timeout=LIVE)
    assert mailoutbox[-1].to == ["ravi@sunrise.example"]
    agent = new_page(browser)
    agent.goto(link_in(mailoutbox, "/invitations/"))
    expect(agent.locator("h1")).to_have_text("Join Sunrise Bakery", timeout=LIVE)
    agent.fill("#join input[name=name]", "Ravi Kumar")
    agent.fill("#join input[name=username]", "ravi")
    agent.fill("#join input[name=password]", PASSWORD)
    agent.click("#join button[type=submit]")
    agent.wait_for_url(f"{base}/inbox/")

    # 4. A customer writes to the new number; a worker stores the delivery.
    raw = wp.body(wp.delivery(wp.entry(wp.change(PNID, f"1555{PNID[-7:]}", messages=[
        wp.text(CUSTOMER, "Is my cake ready?", at=inbox_browser.now_offset())],
        names={CUSTOMER: "Meera Shah"}), waba_id=WABA_ID)))
    answer = httpx.post(f"{base}/webhooks/whatsapp/", content=raw, timeout=10, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": wp.signature(raw)})
    assert answer.status_code == 200, answer.text
    assert embedded_signup == [1]  # a worker was woken
    assert deliveries.process_pending() == 1

    # 5. The agent opens the inbox and the conversation, and replies from the new number.
    agent.goto(f"{base}/inbox/")
    agent.click("#conversation-list >> text=Meera Shah")
    expect(agent.locator("#thread .bubble.in")).to_contain_text("Is my cake ready?",
                                                                timeout=LIVE)
    agent.fill("textarea[name=text]", "Yes, it is ready for pickup")
    agent.click("#composer button[type=submit]")
    expect(agent.locator("#thread .bubble.out[data-status=sent]")).to_contain_text(
        "Yes, it is ready for pickup", timeout=LIVE)
    [sent] = fake.sent()
    assert sent.path.endswith(f"/{PNID}/messages") and sent.body["to"] == CUSTOMER
    assert sent.authorization == f"Bearer {token}"
    with tenant_context(business):
        assert Message.objects.get(sender_type="agent").body == "Yes, it is ready for pickup"
        assert User.objects.get(username="ravi").role_name == "AGENT"
    for other in (org_a, org_b):
        with tenant_context(other):
            assert not Message.objects.exists()

    # The admin's checklist has ticked every step off.
    admin.click("nav >> text=Getting started")
    admin.wait_for_url(f"{base}/onboarding/")
    expect(admin.locator(".checklist li[data-done=yes]")).to_have_count(4, timeout=LIVE)
