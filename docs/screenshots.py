"""Take the README's inbox screenshots (docs/inbox-*.png) from the demo data, in Debian's chromium.

    .venv/bin/python docs/screenshots.py

Builds a scratch SQLite database with `seed_demo`, serves it with `runserver` on 127.0.0.1:8765,
delivers one signed inbound message through the webhook (so one conversation is inside the
24-hour window, unread and waiting), signs in as `oliva_agent` and captures the list, a thread,
the template composer (a conversation whose window closed) and the phone-width thread.
Needs Redis on 127.0.0.1:6379 for the live stream, as the inbox does.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
SECRET = "screenshots-app-secret"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def inbound(text: str) -> None:
    """A signed delivery of a text from the demo customer Priya to Oliva's number."""
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "914040001001",
                         "phone_number_id": "109000000000001"},
            "contacts": [{"profile": {"name": "Priya Sharma"}, "wa_id": "919810000001"}],
            "messages": [{"from": "919810000001", "id": f"wamid.shot.{time.time_ns()}",
                          "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": text}}]}}]}]}
    raw = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    answer = httpx.post(f"{BASE}/webhooks/whatsapp/", content=raw, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": signature})
    answer.raise_for_status()


def store_demo_photo(env: dict[str, str], browser: Any) -> None:
    """Put a photo where the inbox keeps the demo's image media, as if fetched from Meta once
    (no Graph API here to fetch it from)."""
    found = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c",
         "from crm.models import Message; from tenancy.context import unscoped\n"
         "with unscoped():\n"
         "    for m in Message.objects.filter(type='image').exclude(media_id=None):\n"
         "        print('MEDIA', m.organization_id, m.media_id)"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout.splitlines()
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


def main() -> None:
    scratch = Path(tempfile.mkdtemp())
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{scratch / 'screenshots.sqlite3'}",
           "DEBUG": "true", "WHATSAPP_APP_SECRET": SECRET, "WHATSAPP_NUMBER_CACHE_SECONDS": "0",
           "MEDIA_ROOT": str(scratch / "media")}
    manage(env, "migrate", "-v0")
    manage(env, "seed_demo")
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload",
                               str(PORT)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            try:
                httpx.get(f"{BASE}/admin/login/")
                break
            except httpx.TransportError:
                time.sleep(0.2)
        inbound("Could I come in tomorrow at 6 pm?")
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            store_demo_photo(env, browser)
            page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
            page.goto(f"{BASE}/admin/login/?next=/inbox/")
            page.fill("input[name=username]", "oliva_agent")
            page.fill("input[name=password]", "demo-password-123")
            page.click("input[type=submit]")
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
            page.click("text=Rahul Verma")
            page.select_option("select[name=template]", index=1)
            page.wait_for_selector("input[name=parameters]")
            page.fill("input[name=parameters]", "Rahul")
            page.screenshot(path=DOCS / "inbox-template.png")
            phone = browser.new_context(viewport={"width": 390, "height": 844},
                                        storage_state=page.context.storage_state()).new_page()
            phone.goto(page.url)
            phone.wait_for_selector("#thread .bubble")
            phone.screenshot(path=DOCS / "inbox-phone.png")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print("wrote", ", ".join(sorted(p.name for p in DOCS.glob("inbox-*.png"))))


if __name__ == "__main__":
    main()
