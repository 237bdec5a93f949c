"""Media types and ids as an attacker sends them: a declared type never makes the CRM's origin
render a document, a media id never becomes a path, a stored name never a raw header, and none
of it answers 500."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms import MultiWidget
from django.test import Client

from bench.fake_graph import Binary, FakeGraph
from crm.api.sending import _refused
from crm.models import Customer, Message, Organization, Role, WhatsAppNumber
from crm.whatsapp.errors import error_from_response
from crm.whatsapp.media_types import sniffed
from crm.whatsapp.refusals import MetaRefused
from tenancy.context import tenant_context
from tests import whatsapp_payloads as wp
from tests.factories import CustomerFactory, MessageFactory, WhatsAppNumberFactory
from tests.test_admin_support import admin_url, make_staff, signed_in
from tests.test_api import client_for, staff

HTML = b"<html><script>fetch('/api/v1/users/').then(r => r.text()).then(leak)</script></html>"
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg bytes" * 10
PNID, DISPLAY = "106540352242922", "918000000001"
SANDBOX = "sandbox; default-src 'none'"


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.WHATSAPP_APP_SECRET = wp.SECRET


@pytest.fixture
def number(org_a: Organization) -> WhatsAppNumber:
    with tenant_context(org_a):
        return WhatsAppNumberFactory(phone_number_id=PNID, display_number=f"+{DISPLAY}",
                                     access_token="TOKEN-A")


@pytest.fixture
def customer(org_a: Organization, number: WhatsAppNumber) -> Customer:
    with tenant_context(org_a):
        return CustomerFactory()


def media_url(message: Message) -> str:
    return f"/api/v1/messages/{message.pk}/media/"


def deliver(*messages: dict[str, Any]) -> Any:
    """A signed delivery of `messages` to organization A's number."""
    raw = wp.body(wp.delivery(wp.entry(wp.change(PNID, DISPLAY, messages=list(messages)))))
    return Client().post("/webhooks/whatsapp/", raw, content_type="application/json",
                         headers={"X-Hub-Signature-256": wp.signature(raw)})


def stored(org: Organization, media_id: str, content: bytes) -> None:
    """A media file already kept for `org` (as after a first download)."""
    default_storage.save(f"whatsapp-media/{org.pk}/{media_id}", ContentFile(content))


def assert_downloaded_in_a_sandbox(response: Any) -> None:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Security-Policy"] == SANDBOX
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_customers_declared_type_is_stored_safely_and_served_as_an_attachment(
    fake_graph: FakeGraph, org_a: Organization, number: WhatsAppNumber
) -> None:
    media_id = fake_graph.add_media(HTML, "video/mp4,text/html")
    image = {"id": media_id, "mime_type": "video/mp4,text/html", "sha256": "x"}
    assert deliver(wp.message("image", image, sender="919812345678")).status_code == 200
    with tenant_context(org_a):
        message = Message.objects.get(media_id=media_id)
    assert message.mime_type == "application/octet-stream"
    answer = client_for(staff(org_a, Role.AGENT)).get(media_url(message))
    assert_downloaded_in_a_sandbox(answer)
    assert b"".join(answer.streaming_content) == HTML


def test_a_type_meta_declares_is_kept_safely(
    fake_graph: FakeGraph, org_a: Organization, number: WhatsAppNumber
) -> None:
    media_id = fake_graph.add_media(HTML, "text/html\r\nSet-Cookie: sessionid=attacker")
    # The download's own Content-Type is not what the CRM reads; only the JSON's mime_type.
    fake_graph.route("GET", r"/_media/(?P<media>[^/]+)",
                     lambda fake, call, match: (200, Binary(HTML, "text/plain")))
    with tenant_context(org_a):
        message = MessageFactory(type="document", media_id=media_id, mime_type=None,
                                 to_wa_id=DISPLAY)
    answer = client_for(staff(org_a, Role.AGENT)).get(media_url(message))
    assert_downloaded_in_a_sandbox(answer)
    with tenant_context(org_a):
        message.refresh_from_db()
    assert message.mime_type == "application/octet-stream"


@pytest.mark.usefixtures("python_scope")
@pytest.mark.parametrize(("declared", "content"), [
    ("video/mp4,text/html", HTML),
    ("text/html", HTML),
    ("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg' onload='leak()'/>"),
    ("text/plain", HTML),
    ("image/jpeg\r\nSet-Cookie: sessionid=attacker", JPEG),
    ("image/jpeg", HTML),  # an allowed type the bytes are not
    ("application/pdf", b"%PDF-1.4 a viewer runs its scripts"),
])
def test_stored_types_are_never_served_as_they_are(
    fake_graph: FakeGraph, org_a: Organization, number: WhatsAppNumber,
    declared: str, content: bytes,
) -> None:
    """Rows written before the checks (or by hand) hold anything: the allow-list decides."""
    with tenant_context(org_a):
        message = MessageFactory(type="image", media_id="1000000000000001", mime_type=declared)
    stored(org_a, message.media_id, content)
    assert_downloaded_in_a_sandbox(client_for(staff(org_a, Role.AGENT)).get(media_url(message)))
    assert fake_graph.calls == []


def test_an_allowed_type_its_bytes_agree_with_is_inline_in_a_sandbox(
    org_a: Organization, number: WhatsAppNumber
) -> None:
    with tenant_context(org_a):
        message = MessageFactory(type="image", media_id="1000000000000002",
                                 mime_type="Image/JPEG")
    stored(org_a, message.media_id, JPEG)
    answer = client_for(staff(org_a, Role.AGENT)).get(media_url(message))
    assert (answer["Content-Type"], answer["Content-Security-Policy"],
            answer["X-Content-Type-Options"]) == ("image/jpeg", SANDBOX, "nosniff")
    assert answer["Content-Disposition"].startswith("inline")


def test_a_customers_file_name_becomes_a_plain_download_name(
    org_a: Organization, number: WhatsAppNumber
) -> None:
    with tenant_context(org_a):
        message = MessageFactory(type="document", media_id="1000000000000003",
                                 mime_type="application/pdf",
                                 filename="..\\..\\evil\r\nSet-Cookie: a=b\u202egpj.html")
    stored(org_a, message.media_id, b"%PDF-1.4")
    answer = client_for(staff(org_a, Role.AGENT)).get(media_url(message))
    assert answer["Content-Disposition"] == (
        'attachment; filename="evilSet-Cookie: a=bgpj.html"')


@pytest.mark.parametrize("media_id", [".", ".."])
def test_a_media_id_that_is_a_path_is_a_400(
    fake_graph: FakeGraph, org_a: Organization, number: WhatsAppNumber, media_id: str
) -> None:
    stored(org_a, "1000000000000004", JPEG)  # so the folders a dot names exist
    with tenant_context(org_a):
        message = MessageFactory(type="image", media_id=media_id, mime_type="image/jpeg")
    answer = client_for(staff(org_a, Role.AGENT)).get(media_url(message))
    assert answer.status_code == 400
    assert answer.json()["field"] == "media_id"
    assert answer["Content-Security-Policy"] == SANDBOX
    assert fake_graph.calls == []


def test_a_webhook_media_id_that_is_a_path_is_not_kept(
    fake_graph: FakeGraph, org_a: Organization, number: WhatsAppNumber
) -> None:
    image = {"id": "..", "mime_type": "image/jpeg", "sha256": "x"}
    assert deliver(wp.message("image", image, sender="919812345678")).status_code == 200
    with tenant_context(org_a):
        assert list(Message.objects.values_list("type", "media_id")) == [("image", None)]


BAD_RECORDS = [
    ({"mime_type": "text/html"}, "mime_type"),
    ({"mime_type": "video/mp4,text/html"}, "mime_type"),
    ({"mime_type": "image/jpeg\r\nSet-Cookie: a=b"}, "mime_type"),
    ({"mime_type": "image/jpeg text/html"}, "mime_type"),
    ({"media_id": ".."}, "media_id"),
    ({"media_id": "."}, "media_id"),
    ({"media_id": "../../settings.py"}, "media_id"),
    ({"media_id": "a\\b"}, "media_id"),
]


@pytest.mark.parametrize(("values", "field"), BAD_RECORDS)
def test_an_agent_cannot_record_a_type_or_media_id_that_is_not_one(
    org_a: Organization, customer: Customer, values: dict[str, str], field: str
) -> None:
    agent = client_for(staff(org_a, Role.AGENT))
    record = {"customer": str(customer.pk), "type": "image", "sender_type": "agent",
              "media_id": "1000000000000005", "mime_type": "image/jpeg"}
    answer = agent.post("/api/v1/messages/", {**record, **values}, format="json")
    assert answer.status_code == 400 and field in answer.json()
    with tenant_context(org_a):
        recorded = MessageFactory(customer=customer, type="image", media_id="1000000000000006",
                                  mime_type="image/jpeg")
    changed = agent.patch(f"/api/v1/messages/{recorded.pk}/", values, format="json")
    assert changed.status_code == 400 and field in changed.json()
    with tenant_context(org_a):
        recorded.refresh_from_db()
    assert (recorded.media_id, recorded.mime_type) == ("1000000000000006", "image/jpeg")


def test_a_recorded_type_is_lower_cased(org_a: Organization, customer: Customer) -> None:
    answer = client_for(staff(org_a, Role.AGENT)).post("/api/v1/messages/", {
        "customer": str(customer.pk), "type": "audio", "sender_type": "customer",
        "media_id": "1000000000000007", "mime_type": "Audio/OGG; codecs=opus"}, format="json")
    assert answer.status_code == 201, answer.json()
    assert answer.json()["mime_type"] == "audio/ogg; codecs=opus"


@pytest.mark.parametrize(("values", "field"), BAD_RECORDS[1:5])
def test_the_admin_checks_a_messages_type_and_media_id(
    org_a: Organization, customer: Customer, values: dict[str, str], field: str
) -> None:
    with tenant_context(org_a):
        message = MessageFactory(customer=customer, type="image", media_id="1000000000000008",
                                 mime_type="image/jpeg")
    admin = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    page = admin.get(admin_url(Message, "change", message))
    shown = form_data(page.context["adminform"].form)
    answer = admin.post(admin_url(Message, "change", message), {**shown, **values})
    assert answer.status_code == 200 and field in answer.context["adminform"].form.errors
    assert admin.post(admin_url(Message, "change", message), shown).status_code == 302
    with tenant_context(org_a):
        message.refresh_from_db()
    assert (message.media_id, message.mime_type) == ("1000000000000008", "image/jpeg")


def form_data(form: Any) -> dict[str, Any]:
    """What a browser posts back from a change form it was shown, unchanged."""
    data: dict[str, Any] = {}
    for field in form:
        value = field.value()
        if isinstance(field.field.widget, MultiWidget):
            parts = field.field.widget.decompress(value)
            data.update({f"{field.html_name}_{i}": part for i, part in enumerate(parts)
                         if part is not None})
        elif value is not None:
            data[field.html_name] = value
    return data


def upload(client: Any, content: bytes, mime: str, **extra: str) -> Any:
    file = SimpleUploadedFile("note.txt", content, content_type=mime)
    return client.post("/api/v1/media/", {"file": file, **extra}, format="multipart")


@pytest.mark.parametrize("label", ["text/plain", "image/jpeg", "application/pdf"])
def test_an_html_file_is_not_uploaded_whatever_its_label(
    fake_graph: FakeGraph, org_a: Organization, number: WhatsAppNumber, label: str
) -> None:
    answer = upload(client_for(staff(org_a, Role.AGENT)), HTML, label)
    assert answer.status_code == 400
    assert (answer.json()["code"], answer.json()["field"]) == ("media_type_mismatch", "file")
    assert fake_graph.calls == []


@pytest.mark.parametrize("declared", ["video/mp4,text/html", "text/plain\r\nX-A: b", "text"])
def test_a_declared_upload_type_that_is_not_one_is_a_400_naming_it(
    fake_graph: FakeGraph, org_a: Organization, number: WhatsAppNumber, declared: str
) -> None:
    answer = upload(client_for(staff(org_a, Role.AGENT)), b"plain text", "text/plain",
                    mime_type=declared)
    assert answer.status_code == 400 and "mime_type" in answer.json()
    assert fake_graph.calls == []


def test_an_upload_without_a_usable_label_takes_the_type_of_its_bytes(
    fake_graph: FakeGraph, org_a: Organization, number: WhatsAppNumber
) -> None:
    answer = upload(client_for(staff(org_a, Role.AGENT)), JPEG, "application/octet-stream")
    assert answer.status_code == 201, answer.json()
    assert (answer.json()["type"], answer.json()["mime_type"]) == ("image", "image/jpeg")


def test_the_inbox_does_not_send_an_html_file_labelled_text(
    fake_graph: FakeGraph, org_a: Organization, customer: Customer
) -> None:
    agent = signed_in(make_staff(org_a, Role.AGENT))
    file = SimpleUploadedFile("note.txt", HTML, content_type="text/plain")
    answer = agent.post(f"/inbox/{customer.pk}/reply/", {"file": file, "text": ""})
    assert answer.status_code == 400 and b"not text/plain" in answer.content
    assert fake_graph.calls == []


def test_a_sent_media_id_that_is_a_path_is_a_400(
    fake_graph: FakeGraph, org_a: Organization, customer: Customer
) -> None:
    agent = client_for(staff(org_a, Role.AGENT))
    answer = agent.post(f"/api/v1/customers/{customer.pk}/send/",
                        {"type": "image", "image": {"id": ".."}}, format="json")
    assert answer.status_code == 400
    assert [e["field"] for e in answer.json()["errors"]] == ["image.id"]
    assert fake_graph.sent() == []


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_media_is_404(
    fake_graph: FakeGraph, org_a: Organization, org_b: Organization, number: WhatsAppNumber
) -> None:
    with tenant_context(org_a):
        message = MessageFactory(type="image", media_id="1000000000000009",
                                 mime_type="image/jpeg")
    stored(org_a, message.media_id, JPEG)
    assert client_for(staff(org_b, Role.ORG_ADMIN)).get(media_url(message)).status_code == 404
    assert fake_graph.calls == []


@pytest.mark.parametrize(("wait", "header"), [
    (math.inf, None), (math.nan, None), (-5.0, None), (2.5, "3"),
])
def test_metas_retry_after_becomes_a_header_only_as_seconds(
    wait: float, header: str | None
) -> None:
    error = error_from_response(429, {"error": {"code": 130429}}, retry_after=wait)
    answer = _refused(MetaRefused(error))
    assert answer.status_code == 429
    assert answer.get("Retry-After") == header


@pytest.mark.parametrize(("head", "likeliest"), [
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, "image/png"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"\x00\x00\x00\x18ftypisom", "video/mp4"),
    (b"\x00\x00\x00\x18ftyp3gp4", "video/3gpp"),
    (b"\x00\x00\x00\x18ftypM4A ", "audio/mp4"),
    (b"OggS\x00\x02", "audio/ogg"),
    (b"#!AMR\n", "audio/amr"),
    (b"ID3\x04\x00", "audio/mpeg"),
    (b"\xff\xfb\x90\x00", "audio/mpeg"),
    (b"\xff\xf1\x50\x80", "audio/aac"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/msword"),
    (b"PK\x03\x04\x14\x00", "application/vnd.openxmlformats-officedocument."
                            "wordprocessingml.document"),
    ("Clinic hours: 9\u201318 at the caf\u00e9".encode()[:-1], "text/plain"),  # a cut letter
    (b"  \n<!DOCTYPE html><p>hi", None),
    (b"<?xml version='1.0'?><svg/>", None),
    (b"GIF89a\x01\x00\x01\x00\x80\x00\x00", None),
    (b"MZ\x90\x00\x03\x00", None),
])
def test_the_bytes_say_which_whatsapp_type_a_file_is(head: bytes, likeliest: str | None) -> None:
    assert next(iter(sniffed(head)), None) == likeliest
