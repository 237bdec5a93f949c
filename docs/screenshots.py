"""Take the README's screenshots (docs/*.png) from the demo data, in Debian's chromium.

    .venv/bin/python docs/screenshots.py

Builds a scratch PostgreSQL database (reports and campaign audiences need PostgreSQL; the server
of SCREENSHOTS_POSTGRES, default postgres://postgres@127.0.0.1:5432, dropped afterwards) with
`seed_demo` and a week of traffic (docs/screenshot_traffic.py), serves it with `runserver` on a
free port, sending to the fake Graph API (bench/fake_graph.py) and running tasks eagerly.
Then, as a user would: the inbox as `oliva_agent` (list, a thread, the template composer, the
phone-width thread, the contact panel); a campaign built and sent from the builder as
`oliva_admin`, Meta's statuses and a few replies delivered through the signed webhook, its report
and the dashboard. Needs Redis on 127.0.0.1:6379, as the inbox and campaigns do.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import redis
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.fake_graph import FakeGraphServer  # noqa: E402 (the project's root first)

DOCS = ROOT / "docs"
SECRET = "screenshots-app-secret"
PASSWORD = "demo-password-123"
PNID, BUSINESS = "109000000000001", "914040001001"  # seed_demo's Oliva number
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDE = {"width": 1280, "height": 800}
WAIT_MS = 60_000
# The report pages draw every chart at once (no animation) when the page has loaded.
CHARTS_DRAWN = "window.Chart && Object.keys(Chart.instances).length > 0"


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def manage(env: dict[str, str], *args: str) -> str:
    """Run a management command; its output."""
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout


def shell(env: dict[str, str], code: str) -> list[str]:
    """Run Python in `manage.py shell`; the lines it printed."""
    return manage(env, "shell", "-v", "0", "-c", code).splitlines()


@contextmanager
def scratch_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped on the way out."""
    server = os.environ.get("SCREENSHOTS_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    name = f"wbcrm_screenshots_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(f"{server}/postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield f"{server}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def webhook(base: str, value: dict[str, Any]) -> None:
    """A signed delivery of one change to Oliva's number, as Meta sends it."""
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": BUSINESS, "phone_number_id": PNID}, **value}
    raw = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": value}]}]}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    answer = httpx.post(f"{base}/webhooks/whatsapp/", content=raw, timeout=60, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": signature})
    answer.raise_for_status()


def inbound(base: str, wa_id: str, name: str, text: str) -> None:
    """A text from a customer."""
    webhook(base, {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [{
        "from": wa_id, "id": f"wamid.shot.{time.time_ns()}", "timestamp": str(int(time.time())),
        "type": "text", "text": {"body": text}}]})


def statuses(base: str, items: list[tuple[str, str, str]]) -> None:
    """Meta's statuses (wamid, recipient, state) of messages we sent; failures say why."""
    now = int(time.time())
    webhook(base, {"statuses": [{
        "id": wamid, "recipient_id": recipient, "status": state, "timestamp": str(now + i),
        **({"errors": [{"code": 131026, "title": "Message undeliverable"}]}
           if state == "failed" else {})} for i, (wamid, recipient, state) in enumerate(items)]})


def store_demo_photo(env: dict[str, str], browser: Any) -> None:
    """Put a photo where the inbox keeps the demo's image media, as if fetched from Meta once
    (no Graph API here to fetch it from)."""
    found = shell(env, "from crm.models import Message; from tenancy.context import unscoped\n"
                       "with unscoped():\n"
                       "    for m in Message.objects.filter(type='image').exclude(media_id=None):\n"
                       "        print('MEDIA', m.organization_id, m.media_id)")
    page = browser.new_page(viewport={"width": 320, "height": 200})
    page.set_content('<body style="margin:0;background:linear-gradient(135deg,#7fb8d6,#f3d9b1)">'
                     '<div style="font:bold 28px sans-serif;color:#fff;padding:70px 40px">'
                     'Clinic area</div></body>')
    photo = page.screenshot(type="jpeg")
    page.close()
    for organization, media_id in (line.split()[1:] for line in found
                                   if line.startswith("MEDIA ")):
        path = Path(env["MEDIA_ROOT"]) / "whatsapp-media" / organization / media_id
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(photo)


def sign_in(browser: Any, base: str, username: str, after: str,
            viewport: dict[str, int] = WIDE) -> Any:
    """A page of a fresh browser context, signed in through the admin's sign-in form."""
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{base}/admin/login/?next={after}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}{after}")
    return page


def inbox_shots(browser: Any, base: str) -> None:
    """docs/inbox-*.png, as oliva_agent."""
    page = sign_in(browser, base, "oliva_agent", "/inbox/", {"width": 1366, "height": 768})
    page.wait_for_selector("#conversation-list .row")
    page.screenshot(path=DOCS / "inbox-list.png")
    page.click("text=Priya Sharma")
    page.wait_for_selector("#thread .bubble")
    page.wait_for_selector("#thread img[src]")
    page.wait_for_function("[...document.querySelectorAll('#thread img')]"
                           ".every(img => img.complete && img.naturalWidth > 0)")
    page.type("textarea[name=text]", "/")  # the quick replies on offer
    page.wait_for_selector("#quick-reply-suggestions")
    page.screenshot(path=DOCS / "inbox-thread.png")
    thread = page.url
    page.click("text=Rahul Verma")
    page.select_option("select[name=template]", label="demo_welcome (en_US)")
    page.wait_for_selector("input[name=parameters]")
    page.fill("input[name=parameters]", "Rahul")
    page.screenshot(path=DOCS / "inbox-template.png")
    page.goto(thread)
    phone = browser.new_context(viewport={"width": 390, "height": 844},
                                storage_state=page.context.storage_state()).new_page()
    phone.goto(page.url)
    phone.wait_for_selector("#thread .bubble")
    phone.screenshot(path=DOCS / "inbox-phone.png")


def contact_panel_shot(browser: Any, base: str) -> None:
    """docs/contact-panel.png: Priya's conversation once the campaign reached her, tall enough
    for the whole panel (labels, attributes, notes, orders, leads, campaigns received)."""
    page = sign_in(browser, base, "oliva_agent", "/inbox/", {"width": 1280, "height": 1000})
    page.click("text=Priya Sharma")
    page.wait_for_selector("#thread .contact .history")
    page.screenshot(path=DOCS / "contact-panel.png")


def campaign_shots(browser: Any, base: str, env: dict[str, str]) -> None:
    """docs/campaign-builder.png, then the campaign sent, answered and its report, and
    docs/dashboard.png, as oliva_admin."""
    page = sign_in(browser, base, "oliva_admin", "/campaigns/")
    page.fill("input[name=name]", "Monsoon laser offer")
    page.select_option("select[name=template]", label="monsoon_offer (en)")
    page.wait_for_selector("#template-preview select[name=param_body_3]")
    page.select_option("select[name=param_body_1]", "text")
    page.fill("input[name=text_param_body_1]", "Laser hair removal")
    page.select_option("select[name=param_body_2]", "text")
    page.fill("input[name=text_param_body_2]", "30% off")
    page.select_option("select[name=param_body_3]", "attribute.preferred_time")
    page.select_option("select[name=segment]", label="VIP and follow-up")
    page.screenshot(path=DOCS / "campaign-builder.png")
    page.click("text=Create and review")
    page.wait_for_selector(".to-send")
    page.click("form >> text=Send")
    page.wait_for_selector("#progress[data-state=completed]")
    sent = [line.split(maxsplit=3)[1:] for line in shell(env, (
        "from crm.models import Message; from tenancy.context import unscoped\n"
        "with unscoped():\n"
        "    for m in Message.objects.filter(campaign_job__isnull=False).order_by('to_wa_id')"
        ".select_related('customer'):\n"
        "        print('SENT', m.message_id, m.to_wa_id, m.customer.name)"))
        if line.startswith("SENT ")]
    # Most delivered, two in three of those read, the last undeliverable; three answer.
    statuses(base, [(wamid, to, "failed" if i == len(sent) - 1 else "delivered")
                    for i, (wamid, to, _) in enumerate(sent)])
    statuses(base, [(wamid, to, "read") for i, (wamid, to, _) in enumerate(sent) if i % 3])
    for _, to, name in sent[1:10:3]:
        inbound(base, to, name, "Yes please, book me for Saturday")
    page.click("a:text-is('Report')")
    page.wait_for_function(CHARTS_DRAWN)
    page.screenshot(path=DOCS / "campaign-report.png", full_page=True)
    week = date.today() - timedelta(days=8)  # the demo's traffic, days wide enough to read
    page.goto(f"{base}/reports/?from={week.isoformat()}&to={date.today().isoformat()}")
    page.wait_for_function(CHARTS_DRAWN)
    page.screenshot(path=DOCS / "dashboard.png")


def wait_until_up(url: str) -> None:
    for _ in range(150):
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"the server at {url} did not start")


def main() -> None:
    scratch = Path(tempfile.mkdtemp())
    prefix = f"wbcrm-screenshots:{uuid.uuid4().hex[:8]}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with scratch_database() as database, FakeGraphServer() as graph:
        env = {**os.environ, "DATABASE_URL": database, "DEBUG": "true", "WBCRM_DEMO": "true",
               "WBCRM_DEMO_GRAPH_URL": graph.url, "WHATSAPP_APP_SECRET": SECRET,
               "WHATSAPP_NUMBER_CACHE_SECONDS": "0", "MEDIA_ROOT": str(scratch / "media"),
               "CELERY_TASK_ALWAYS_EAGER": "true",
               # one user in several windows, and pages left are noticed at the next heartbeat
               "INBOX_STREAMS_PER_USER": "20",
               "CAMPAIGN_REDIS_PREFIX": prefix}
        manage(env, "migrate", "-v0")
        manage(env, "seed_demo")
        shell(env, "import runpy; runpy.run_path('docs/screenshot_traffic.py', "
                   "run_name='__main__')")
        server = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload",
                                   f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until_up(f"{base}/admin/login/")
            inbound(base, "919810000001", "Priya Sharma", "Could I come in tomorrow at 6 pm?")
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                store_demo_photo(env, browser)
                inbox_shots(browser, base)
                campaign_shots(browser, base, env)
                contact_panel_shot(browser, base)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
            client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
            for key in client.scan_iter(f"{prefix}:*"):
                client.delete(key)
    print("wrote", ", ".join(sorted(p.name for p in DOCS.glob("*.png"))))


if __name__ == "__main__":
    main()
