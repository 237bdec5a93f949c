"""Real deliveries from public sources (tests/fixtures/deliveries, origins in MANIFEST.json),
each signed and posted like Meta: accepted, processed, and every message item in it stored."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test.utils import override_settings

from crm.models import Message, Organization
from tenancy.context import tenant_context
from tests import whatsapp_payloads as wp
from tests.factories import WhatsAppNumberFactory
from tests.test_webhook import post

CORPUS = Path(__file__).parent / "fixtures" / "deliveries"
MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text())
DELIVERIES = [
    pytest.param(name, delivery, id=f"{listed['file'][:-5]}:{name}")
    for listed in MANIFEST["files"]
    for name, delivery in json.loads((CORPUS / listed["file"]).read_text()).items()
]
MESSAGE_LISTS = ("messages", "message_echoes")


def values(delivery: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Each change's `value`."""
    for entry in delivery["entry"]:
        for change in entry["changes"]:
            yield change["value"]


@pytest.fixture(autouse=True)
def _webhook_settings() -> Iterator[None]:
    with override_settings(WHATSAPP_APP_SECRET=wp.SECRET, WHATSAPP_VERIFY_TOKEN=wp.VERIFY_TOKEN):
        yield


def test_every_file_has_its_public_origin() -> None:
    listed = {entry["file"] for entry in MANIFEST["files"]}
    assert listed == {path.name for path in CORPUS.glob("*.json")} - {"MANIFEST.json"}
    for entry in MANIFEST["files"]:
        origin = entry["origin"]
        assert origin.get("url", "").startswith("https://"), entry["file"]
        if "repository" in origin:
            assert len(origin["commit"]) == 40 and origin["path"], entry["file"]
    kinds = {m.get("type") for _, d in (p.values for p in DELIVERIES) for v in values(d)
             for name in MESSAGE_LISTS for m in v.get(name, [])}
    assert {"text", "image", "video", "audio", "sticker", "document", "location", "contacts",
            "interactive", "button", "order", "reaction", "unsupported", "system", "edit",
            "revoke"} <= kinds


@pytest.mark.parametrize("name, delivery", DELIVERIES)
def test_a_real_delivery_is_accepted_and_every_message_in_it_is_stored(
    org_a: Organization, org_b: Organization, name: str, delivery: dict[str, Any]
) -> None:
    with tenant_context(org_a):
        for number in sorted({v["metadata"]["phone_number_id"] for v in values(delivery)}):
            WhatsAppNumberFactory(phone_number_id=number, display_number="+1 555 0000")
    response = post(delivery)
    assert response.status_code == 200, response.content
    report = response.json()
    wamids = {m["id"] for v in values(delivery) for key in MESSAGE_LISTS for m in v.get(key, [])}
    with tenant_context(org_a):
        stored = set(Message.objects.filter(message_id__in=wamids).values_list(
            "message_id", flat=True))
    assert stored == wamids, report
    assert report["stored"]["messages"] == len(wamids)
    not_understood = [i for i in report["ignored"] if i["reason"] == "item not understood"]
    assert all(".messages[" not in i["at"] and ".message_echoes[" not in i["at"]
               for i in not_understood), not_understood
    with tenant_context(org_b):
        assert not Message.objects.exists()
